"""CPython and PyPy side by side: the same workloads on both interpreters, and the ratios.

    python benchmarks/bench_pypy.py                    # all four workloads (about 5 minutes)
    python benchmarks/bench_pypy.py --only names_compiled
    python benchmarks/bench_pypy.py --quick            # fewer steps, for a smoke test
    python benchmarks/bench_pypy.py --pypy /usr/bin/pypy3 --cpython .venv/bin/python

Each workload runs in a fresh process of each interpreter (this file with `--worker`),
with the repository root on `sys.path`, so PyPy needs no virtual environment:

  names     benchmarks/train_names.py: MiniGPT(27, 16, 4, 1, 16) trained for 1,000 steps
            on the shipped names on the graph (`compile=False`); wall time, and the mean
            training loss of the last 100 steps (the same on both interpreters: the
            arithmetic is the same)
  names_compiled
            the same run with compiled steps (`train_names.run(compile=True)`, see
            minigpt/compile.py): wall time, compiling included (its share is printed),
            and the same loss; target: PyPy at least 5x faster than CPython here
  step      one training step (forward, loss, backward, Adam) of the 103,680-parameter
            MiniGPT(MiniGPTConfig(64, 4, 2, 256, 64, 32)) on 32 tokens: the median of
            `--steps` steps after `--warmup` untimed ones (PyPy's JIT compiles during those;
            a training run has thousands of steps, so the settled time is the one that counts)
  generate  milliseconds per sampled token of `generate` with that model, 16 tokens after
            a 16-token prompt, after one untimed warm-up call

The ratio is CPython time / PyPy time: how many times faster PyPy runs the workload.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ("names", "names_compiled", "step", "generate")
COMPILED_TARGET = 5.0  # names_compiled: CPython time / PyPy time at least this


# ---- the workloads (run inside a worker process) ----------------------------------------
def work_names(args) -> dict:
    sys.path.insert(0, HERE)
    from train_names import run
    from minigpt.corpus import NAMES_FILE
    start = time.perf_counter()
    _, result = run(NAMES_FILE, steps=args.names_steps, seed=0, progress=False, compile=False)
    return {"seconds": time.perf_counter() - start, "last100_loss": result.mean_loss(100)}


def work_names_compiled(args) -> dict:
    sys.path.insert(0, HERE)
    from train_names import compile_path, compile_seconds, run
    from minigpt.corpus import NAMES_FILE
    start = time.perf_counter()
    trainer, result = run(NAMES_FILE, steps=args.names_steps, seed=0, progress=False, compile=True)
    return {"seconds": time.perf_counter() - start, "last100_loss": result.mean_loss(100),
            "compile_seconds": compile_seconds(trainer, result), "path": compile_path(trainer)}


def _locked_model():
    from minigpt.gpt import MiniGPT, MiniGPTConfig
    random.seed(0)
    return MiniGPT(MiniGPTConfig(64, 4, 2, 256, 64, 32))


def work_step(args) -> dict:
    from minigpt.fused import gc_paused
    from minigpt.gpt import cross_entropy_loss
    from minigpt.optim import Adam
    model = _locked_model()
    opt = Adam(model.parameters(), lr=1e-3)
    rng = random.Random(1)
    ids = [rng.randrange(64) for _ in range(33)]
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        with gc_paused():
            loss = cross_entropy_loss(model(ids[:32]), ids[1:])
            opt.zero_grad()
            loss.backward()
            del loss
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "min_seconds": min(times),
            "parameters": model.num_parameters()}


def work_generate(args) -> dict:
    from minigpt.gpt import generate
    model = _locked_model()
    prompt = [random.Random(2).randrange(64) for _ in range(16)]
    generate(model, prompt, 4, rng=random.Random(0))  # warm-up
    start = time.perf_counter()
    generate(model, prompt, 16, rng=random.Random(0))
    return {"seconds": (time.perf_counter() - start) / 16}


# ---- the driver -------------------------------------------------------------------------
def run_worker(python: str, workload: str, args) -> dict:
    command = [python, os.path.abspath(__file__), "--worker", workload, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--names-steps", str(args.names_steps)]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"bench_pypy: {workload} failed under {python}:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def interpreter_name(python: str) -> str:
    code = "import platform, sys; print(platform.python_implementation(), platform.python_version())"
    return subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpython", default=sys.executable if platform.python_implementation() == "CPython"
                   else shutil.which("python3"), help="the CPython to run (default: this one)")
    p.add_argument("--pypy", default=shutil.which("pypy3"), help="the PyPy to run (default: pypy3 on PATH)")
    p.add_argument("--only", choices=WORKLOADS, action="append", help="run only these workloads")
    p.add_argument("--steps", type=int, default=5, help="timed steps of the step workload (default 5)")
    p.add_argument("--warmup", type=int, default=15,
                   help="untimed steps before them (default 15: PyPy's JIT needs about that many to settle)")
    p.add_argument("--names-steps", type=int, default=1000, help="steps of the names run (default 1000)")
    p.add_argument("--quick", action="store_true", help="2 timed steps after 2 warm-up steps, 100 names steps")
    p.add_argument("--json", action="store_true", help="also print the results as one line of JSON")
    p.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.steps, args.warmup, args.names_steps = 2, 2, 100
    if args.worker:
        print(json.dumps(globals()[f"work_{args.worker}"](args)))
        return 0
    if not args.pypy:
        print("bench_pypy: no pypy3 found; install it (apt-get install pypy3) or pass --pypy PATH", file=sys.stderr)
        return 2
    pythons = {"cpython": args.cpython, "pypy": args.pypy}
    print(" vs ".join(f"{interpreter_name(p)} ({p})" for p in pythons.values()))
    results = {}
    for workload in args.only or WORKLOADS:
        results[workload] = {kind: run_worker(python, workload, args) for kind, python in pythons.items()}
    print(f"\n{'workload':<22}{'CPython':>10}{'PyPy':>10}{'ratio':>9}  notes")
    for workload, r in results.items():
        scale, unit = (1000.0, "ms/token") if workload == "generate" else (1.0, "s")
        c, y = r["cpython"]["seconds"], r["pypy"]["seconds"]
        note = ""
        if workload in ("names", "names_compiled"):
            note = (f"{args.names_steps} steps; last-100 loss {r['cpython']['last100_loss']:.4f} (CPython), "
                    f"{r['pypy']['last100_loss']:.4f} (PyPy)")
        if workload == "names_compiled":
            share = [r[k]["compile_seconds"] for k in ("cpython", "pypy")]
            if None not in share:
                note += f"; compiling {share[0]:.1f} s (CPython), {share[1]:.1f} s (PyPy)"
        elif workload == "step":
            note = f"{r['cpython']['parameters']:,} parameters; median of {args.steps} after {args.warmup} warm-up"
        print(f"{workload + ' (' + unit + ')':<22}{c * scale:>10.2f}{y * scale:>10.2f}{c / y:>8.2f}x  {note}")
    if "names_compiled" in results:
        r = results["names_compiled"]
        ratio = r["cpython"]["seconds"] / r["pypy"]["seconds"]
        print(f"\nnames_compiled runs {r['cpython']['path']}")
        if "names" in results:
            g = results["names"]
            print("names run, graph time / compiled time (above 1: the compiled run is faster): " + ", ".join(
                f"{label} {g[kind]['seconds'] / r[kind]['seconds']:.2f}x"
                for kind, label in (("cpython", "CPython"), ("pypy", "PyPy"))))
        print(f"target: names_compiled on PyPy >= {COMPILED_TARGET:.0f}x faster than on CPython: "
              f"{ratio:.2f}x, {'met' if ratio >= COMPILED_TARGET else 'MISSED'}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
