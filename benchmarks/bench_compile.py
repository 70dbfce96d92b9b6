"""What compiling a training step costs and what it buys, on the locked model.

Run from the repository root:

    .venv/bin/python benchmarks/bench_compile.py               # MiniGPTConfig(64, 4, 2, 256, 64, 32), 32 tokens
    .venv/bin/python benchmarks/bench_compile.py --repeats 7   # more timed steps per path
    .venv/bin/python benchmarks/bench_compile.py --json        # also one line of JSON at the end
    .venv/bin/python benchmarks/bench_compile.py --small       # a tiny model: a smoke test of a few seconds
    pypy3 benchmarks/bench_compile.py --no-tracemalloc         # on PyPy (no tracemalloc there)

The model is the 103,680-parameter `MiniGPT(MiniGPTConfig(64, 4, 2, 256, 64, 32))`
(weights from `random.seed(0)`), and one sequence of 32 random token ids with its
next-token targets, as in benchmarks/bench_pypy.py. Printed:

  compile    `minigpt.compile.compile_step(model, 32)`: its wall time (and the
             `compile_seconds` it reports), the nodes of the graph it traced, the lines
             of the program it wrote;
  graph      forward, cross_entropy_loss and backward on the graph, with the cycle
             collector paused as `minigpt.train.Trainer.train_step` does;
  compiled   the same with the compiled program (the loss, and the gradients added to
             each `.grad`).

Neither step includes the optimizer (the same Adam update follows either). Each is
the median (and the minimum) of `--repeats` steps after `--warmup` untimed ones (1;
15 on PyPy, whose JIT compiles during them), the two paths taking turns so that a
change in the machine's load hits them alike. Before the timing the script checks
that both paths give the same loss and gradients (the largest difference is printed;
it is rounding, about 1e-16).

Memory: the resident high-water mark (`ru_maxrss`, which only grows) and the current
resident size (`VmRSS`, Linux) with the model built, after compiling, and after the
steps; and the peak of Python allocations while compiling, and what the compiled step
keeps allocated afterwards, from `tracemalloc` during a second, untimed compile
(tracemalloc slows allocation several times over, so it is never on while timing;
`--no-tracemalloc` skips it). Target: compiling needs < 1 GB. Memory the allocator
has freed is not always given back to the system, so the resident size after
compiling can stay far above what the program keeps.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from typing import Dict, List, Optional, Tuple

try:
    import tracemalloc  # CPython only
except ImportError:  # pragma: no cover - PyPy
    tracemalloc = None
try:
    import resource  # Unix only
except ImportError:  # pragma: no cover - Windows
    resource = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from minigpt.compile import compile_step  # noqa: E402
from minigpt.engine import topological_order  # noqa: E402
from minigpt.fused import gc_paused  # noqa: E402
from minigpt.gpt import MiniGPT, MiniGPTConfig, cross_entropy_loss  # noqa: E402

# (d_model, n_heads, n_layers, d_ff, vocab_size, context_len), tokens per step
LOCKED = ((64, 4, 2, 256, 64, 32), 32)
SMALL = ((8, 2, 1, 16, 8, 4), 4)      # --small: compiles in a fraction of a second
MEMORY_TARGET_MB = 1024.0            # compiling the locked model must stay under 1 GB

perf = time.perf_counter


def rss_high_water_mb() -> Optional[float]:
    """The process's resident high-water mark so far, in MB (None where unknown)."""
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # macOS: bytes, Linux: KB


def rss_now_mb() -> Optional[float]:
    """The current resident size in MB, from /proc (None off Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def memory(stage: str, into: Dict[str, Dict[str, Optional[float]]]) -> None:
    gc.collect()  # so that `now` counts what is kept, not garbage waiting for the collector
    into[stage] = {"high_water_mb": rss_high_water_mb(), "now_mb": rss_now_mb()}


def make_model(sizes) -> MiniGPT:
    random.seed(0)
    return MiniGPT(MiniGPTConfig(*sizes))


def make_sequence(vocab: int, n: int):
    """n random token ids and their next-token targets."""
    rng = random.Random(1)
    ids = [rng.randrange(vocab) for _ in range(n + 1)]
    return ids[:n], ids[1:]


def graph_step(model: MiniGPT, ids, targets) -> float:
    """Forward, loss and backward on the graph, as the trainer runs them: the collector
    paused (the graph has no cycles; reference counting frees it at `del`)."""
    model.zero_grad()
    with gc_paused():
        loss = cross_entropy_loss(model(ids), targets)
        loss.backward()
        value = loss.data
        del loss
    return value


def compiled_step(step, model: MiniGPT, ids, targets) -> float:
    """The same with the compiled program, which adds the gradients to each `.grad`."""
    model.zero_grad()
    return step(ids, targets)


def time_both(runs, repeats: int, warmup: int = 1) -> Dict[str, List[float]]:
    """Seconds of each of `runs` (name -> function), `warmup` untimed then `repeats`
    timed calls each, the paths taking turns."""
    for _ in range(warmup):
        for run in runs.values():
            run()
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = perf()
            run()
            times[name].append(perf() - t0)
    return times


def compile_allocations(model: MiniGPT, seq_len: int) -> Tuple[Optional[int], Optional[int]]:
    """(peak bytes Python allocates while compiling, bytes the compiled step keeps
    allocated afterwards), from tracemalloc; (None, None) where there is none. The
    collector stays on, as in a real compile."""
    if tracemalloc is None:
        return None, None
    gc.collect()
    tracemalloc.start()
    try:
        step = compile_step(model, seq_len)
        peak = tracemalloc.get_traced_memory()[1]
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0]   # what is still allocated: the program
    finally:
        tracemalloc.stop()
    del step
    gc.collect()
    return peak, kept


def run_benchmark(small: bool, repeats: int, use_tracemalloc: bool = True, warmup: int = 1) -> Dict[str, object]:
    sizes, seq_len = SMALL if small else LOCKED
    mem: Dict[str, Dict[str, Optional[float]]] = {}
    memory("start", mem)
    model = make_model(sizes)
    ids, targets = make_sequence(model.config.vocab_size, seq_len)
    memory("model built", mem)

    t0 = perf()
    step = compile_step(model, seq_len)
    compile_wall = perf() - t0
    memory("after compiling", mem)

    # both paths compute the same loss and gradients (checked before timing them)
    graph_loss = graph_step(model, ids, targets)
    graph_grads = [p.grad for p in model.parameters()]
    with gc_paused():
        loss = cross_entropy_loss(model(ids), targets)
        graph_nodes = len(topological_order(loss))
        del loss
    compiled_loss = compiled_step(step, model, ids, targets)
    grad_diff = max(abs(p.grad - g) for p, g in zip(model.parameters(), graph_grads))
    del graph_grads

    times = time_both({"graph": lambda: graph_step(model, ids, targets),
                       "compiled": lambda: compiled_step(step, model, ids, targets)}, repeats, warmup)
    memory("after the steps", mem)

    results: Dict[str, object] = {
        "config": {"model": "MiniGPTConfig({}, {}, {}, {}, {}, {})".format(*sizes), "tokens": seq_len,
                   "parameters": model.num_parameters(), "repeats": repeats, "warmup": warmup, "small": small,
                   "python": f"{platform.python_implementation()} {platform.python_version()}",
                   "load_average": _load_average()},
        "compile": {"wall_seconds": compile_wall, "compile_seconds": step.compile_seconds,
                    "nodes": step.n_nodes, "source_lines": step.source.count("\n") + 1},
        "graph_nodes": graph_nodes,
        "check": {"graph_loss": graph_loss, "compiled_loss": compiled_loss, "max_grad_diff": grad_diff},
        "steps": {name: {"median_ms": 1e3 * statistics.median(t), "min_ms": 1e3 * min(t), "runs": len(t)}
                  for name, t in times.items()},
        "memory": mem,
    }
    del step
    gc.collect()
    peak, kept = compile_allocations(model, seq_len) if use_tracemalloc else (None, None)
    results["compile"]["tracemalloc_peak_mb"] = None if peak is None else peak / (1024 * 1024)
    results["compile"]["tracemalloc_kept_mb"] = None if kept is None else kept / (1024 * 1024)
    if peak is not None:
        memory("after the tracemalloc compile", mem)

    s = results["steps"]
    speedup = s["graph"]["median_ms"] / s["compiled"]["median_ms"]
    saved_ms = s["graph"]["median_ms"] - s["compiled"]["median_ms"]
    results["speedup"] = speedup
    # steps after which compiling has paid for itself (None if the compiled step is not faster)
    results["break_even_steps"] = 1e3 * compile_wall / saved_ms if saved_ms > 0 else None
    highest = max((m["high_water_mb"] for m in mem.values() if m["high_water_mb"] is not None), default=None)
    peak_mb = results["compile"]["tracemalloc_peak_mb"]
    results["targets"] = [
        {"target": "compiling needs < 1 GB (tracemalloc peak)", "value_mb": peak_mb,
         "met": None if peak_mb is None else peak_mb < MEMORY_TARGET_MB},
        {"target": "the whole run stays < 1 GB resident (ru_maxrss)", "value_mb": highest,
         "met": None if highest is None else highest < MEMORY_TARGET_MB},
    ]
    return results


def _load_average() -> Optional[List[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _mb(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:,.0f}"


def format_report(r: Dict[str, object]) -> str:
    c, comp, s, chk = r["config"], r["compile"], r["steps"], r["check"]
    out = [f"compile benchmark: {c['model']}, {c['parameters']:,} parameters, {c['tokens']} tokens, {c['python']}"]
    load = c["load_average"]
    if load:
        out.append(f"machine: {os.cpu_count()} CPUs, load average at the start {load[0]:.2f} / {load[1]:.2f} / "
                   f"{load[2]:.2f} (1 / 5 / 15 min); medians of {c['repeats']} steps after {c['warmup']} warm-up, "
                   "the two paths taking turns")
    out.append("")
    out.append(f"compile: {comp['wall_seconds']:.2f} s wall (compile_seconds {comp['compile_seconds']:.2f} s), "
               f"{comp['nodes']:,} nodes traced (the graph step has {r['graph_nodes']:,}), "
               f"{comp['source_lines']:,} lines of program")
    out.append(f"check: loss {chk['graph_loss']!r} (graph), {chk['compiled_loss']!r} (compiled); "
               f"largest gradient difference {chk['max_grad_diff']:.1e}")
    out.append("")
    out.append(f"{'step (forward + loss + backward)':<36}{'median ms':>11}{'min ms':>10}")
    for name, what in (("graph", "graph, collector paused"), ("compiled", "compiled program")):
        out.append(f"  {what:<34}{s[name]['median_ms']:>11,.1f}{s[name]['min_ms']:>10,.1f}")
    out.append(f"  {'graph / compiled':<34}{r['speedup']:>10.2f}x")
    be = r["break_even_steps"]
    out.append("  compiling never pays for itself: the compiled step is not faster" if be is None
               else f"  compiling pays for itself after {be:,.0f} steps")
    out.append("")
    out.append(f"memory (MB){'high water':>25}{'resident now':>14}")
    for stage, m in r["memory"].items():
        out.append(f"  {stage:<32}{_mb(m['high_water_mb']):>12}{_mb(m['now_mb']):>14}")
    if comp["tracemalloc_peak_mb"] is None:
        out.append("  tracemalloc: not run")
    else:
        out.append(f"  tracemalloc: peak while compiling {comp['tracemalloc_peak_mb']:,.0f} MB, "
                   f"kept by the compiled step {comp['tracemalloc_kept_mb']:,.1f} MB")
    out.append("")
    out.append("targets")
    for t in r["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        out.append(f"  {t['target']:<50}{_mb(t['value_mb']):>8} MB   {verdict}")
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed steps per path (default 5)")
    p.add_argument("--small", action="store_true",
                   help="MiniGPTConfig(8, 2, 1, 16, 8, 4) on 4 tokens instead of the locked model (smoke test)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed steps per path first (default 1; 15 on PyPy, whose JIT needs them)")
    p.add_argument("--no-tracemalloc", action="store_true",
                   help="skip the second compile under tracemalloc (minutes on the locked model)")
    p.add_argument("--json", action="store_true", help="also print the results as one line of JSON at the end")
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = 15 if platform.python_implementation() == "PyPy" else 1
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be at least 1 and --warmup at least 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run_benchmark(args.small, args.repeats, use_tracemalloc=not args.no_tracemalloc, warmup=args.warmup)
    print(format_report(results))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
