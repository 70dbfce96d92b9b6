"""What the isolation of a worker costs: one worker's start and end in each mode.

    python benchmarks/bench_isolation.py            # 20 workers per mode
    python benchmarks/bench_isolation.py --workers 50

For each mode that runs here (sandbox: bubblewrap; fallback; see
minigpt/exercises/isolation.py) prints the one-time detection and the wall time of
a worker that imports the reference engine.py, runs no check and is ended: start,
spec, import, ready, end (with its sandbox or its left-over processes). A grade
starts one worker per task (more after a timeout or stand-ins), about 20 to 40.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minigpt.exercises import isolation
from minigpt.exercises.reference import SOLUTIONS_DIR


def one_worker(iso: isolation.Isolation) -> float:
    """Seconds from starting a worker to the end of its processes."""
    with tempfile.TemporaryDirectory(prefix="minigpt-bench-") as box:
        Path(box, "engine.py").write_bytes((SOLUTIONS_DIR / "engine.py").read_bytes())
        iso.prepare_box(box)
        start = time.perf_counter()
        read_fd, write_fd = os.pipe()
        try:
            proc = iso.start(box, write_fd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        finally:
            os.close(write_fd)
        proc.stdin.write(json.dumps({"modules": ["engine"], "memory_mb": 1024, "substitute": [],
                                     "reference": None, "checks": []}).encode())
        proc.stdin.close()
        with os.fdopen(read_fd, "rb") as events:
            said = events.read()
        iso.end(proc)
        elapsed = time.perf_counter() - start
        if b'"ready"' not in said:
            raise RuntimeError(f"the worker did not get ready: {said!r}")
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20, help="workers per mode (default 20)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{sys.implementation.name} {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f}")
    modes = {}
    for mode in ("sandbox", "fallback"):
        start = time.perf_counter()
        try:
            modes[mode] = isolation.choose(mode)
        except isolation.IsolationError as err:
            print(f"{mode:9} not available: {err}")
            continue
        print(f"{mode:9} detection {(time.perf_counter() - start) * 1000:.0f} ms, once per process")
    times = {mode: [] for mode in modes}
    for _ in range(args.workers):  # the modes take turns, so a change of load hits both alike
        for mode, iso in modes.items():
            times[mode].append(one_worker(iso))
    for mode, seconds in times.items():
        print(f"{mode:9} a worker: median {statistics.median(seconds) * 1000:4.0f} ms, best "
              f"{min(seconds) * 1000:4.0f} ms, worst {max(seconds) * 1000:4.0f} ms ({args.workers} workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
