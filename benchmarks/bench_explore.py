"""How big the explore page is and how fast it opens, for the demo model and a bigger one.

    python benchmarks/bench_explore.py --checkpoint out/demo-checkpoint.json
    python benchmarks/bench_explore.py            # trains the demo model first (minigpt demo, ~2 min)

Prints, for the demo model on the canonical prompt `<bos> I work , you work , he`
and for an untrained MiniGPTConfig(64, 4, 4, 256, V, 32) on a prompt longer than its
context (37 tokens, cropped to 32): the
time Python takes to make the page, its size, what it left out, and (when Chromium
and chromedriver are installed) the time headless Chromium takes to open it from disk
until its script has laid out every section (the median of 5 loads; `loadEventEnd`
of the navigation timing, which comes after the inline script has run). It also
prints the largest difference between the page's sampling distribution and
Python's over a few temperatures.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from minigpt.checkpoint import load_checkpoint  # noqa: E402
from minigpt.corpus import CANONICAL_PREFIX  # noqa: E402
from minigpt.explore import explore, metrics_beside, next_token_probs  # noqa: E402
from minigpt.gpt import MiniGPT, MiniGPTConfig  # noqa: E402


def open_times(path: Path, loads: int = 5):
    """Milliseconds from navigation to the end of the load event, per load, and the
    largest |page - Python| of the sampling distribution; None without a browser."""
    try:
        from test_viz_browser import CHROMIUM, DRIVER, Browser
    except ImportError:
        return None
    if not (CHROMIUM and DRIVER):
        return None
    b = Browser()
    try:
        times = []
        for _ in range(loads):
            b.open(path)
            ms = b.do("POST", "/execute/sync", {"script": "return document.body.dataset.ready === '1' ? "
                      "performance.getEntriesByType('navigation')[0].loadEventEnd : null;", "args": []})
            times.append(ms)
        worst = 0.0
        logits = None
        for temperature in (0.0, 0.5, 1.0, 1.5):
            shown, logits = b.do("POST", "/execute/sync", {"script": """
                const t = document.getElementById('ex-temp');
                t.value = arguments[0]; t.dispatchEvent(new Event('input'));
                return [JSON.parse(document.getElementById('ex-probs').dataset.probs),
                        JSON.parse(document.getElementById('ex-data').textContent).sampling.logits];""",
                                                    "args": [temperature]})
            expected = next_token_probs(logits, temperature)
            worst = max(worst, max(abs(a - b) for a, b in zip(shown, expected)))
        return times, worst
    finally:
        b.close()


def report(name: str, make) -> None:
    t0 = time.perf_counter()
    page = make()
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "explore.html"
        page.save(str(path))
        size = path.stat().st_size
        measured = open_times(path)
    print(f"{name}")
    print(f"  tokens: {len(page.data['tokens'])}; made in Python in {seconds:.2f} s")
    print(f"  page size: {size:,} bytes ({size / 1024:.0f} KB)")
    print(f"  left out: {'; '.join(page.data['omitted']) or 'nothing'}")
    if measured is None:
        print("  open time: not measured (needs chromium and chromedriver)")
    else:
        times, worst = measured
        print(f"  open time in headless Chromium: median {statistics.median(times):.0f} ms "
              f"(loads: {', '.join(f'{t:.0f}' for t in times)} ms)")
        print(f"  sampling distribution, largest |page - Python| over 4 temperatures: {worst:.3g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="the demo's checkpoint (default: train one with minigpt demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint
        if checkpoint is None:
            print("training the demo model (minigpt demo) ...", flush=True)
            subprocess.run([sys.executable, "-m", "minigpt", "demo", "--out", folder, "--no-progress",
                            "--samples", "0"], check=True, stdout=subprocess.DEVNULL)
            checkpoint = os.path.join(folder, "demo-checkpoint.json")
        ck = load_checkpoint(checkpoint)
        report(f"demo model ({ck.model.num_parameters():,} parameters, step {ck.step}) on {CANONICAL_PREFIX!r}",
               lambda: explore(ck.model, ck.tokenizer, CANONICAL_PREFIX, metrics=metrics_beside(checkpoint),
                               step=ck.step))
        random.seed(0)
        big = MiniGPT(MiniGPTConfig(64, 4, 4, 256, ck.tokenizer.vocab_size, 32))
        prompt = " ".join((CANONICAL_PREFIX.split()[1:] + ["works", "."]) * 4)
        report(f"untrained MiniGPTConfig(64, 4, 4, 256, {ck.tokenizer.vocab_size}, 32) "
               f"({big.num_parameters():,} parameters) on a 37-token prompt",
               lambda: explore(big, ck.tokenizer, prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
