"""How long `minigpt grade` takes on a correct but naive micrograd-style submission.

    python benchmarks/bench_grade.py             # 3 runs of each submission
    python benchmarks/bench_grade.py --runs 1 --jobs 1

Grades two correct submissions written the plain micrograd way (closures, Python
`sum`, no fused helpers): tests/exercises_data/naive (a student's, written apart
from the reference) and the reference solutions themselves. Prints the wall time
of each full grade (all tasks, hidden checks included, student code in worker
processes). The target is under 2 minutes on a 2-core machine.
"""
import argparse
import os
import sys
import time
from pathlib import Path

from minigpt.exercises.grader import grade
from minigpt.exercises.reference import SOLUTIONS_DIR

NAIVE = Path(__file__).resolve().parent.parent / "tests" / "exercises_data" / "naive"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="grades of each submission (default 3)")
    parser.add_argument("--jobs", type=int, default=None, help="tasks graded at once (default: the CPUs)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f}, "
          f"jobs {args.jobs or os.cpu_count()}")
    for name, folder in (("naive student", NAIVE), ("reference", SOLUTIONS_DIR)):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = grade(folder, jobs=args.jobs)
            times.append(time.perf_counter() - start)
            if report.score != report.max_score:
                print(f"{name}: {report.score:g} / {report.max_score:g}: a correct submission should score full marks")
                return 1
        print(f"{name:14} {report.score:g}/{report.max_score:g}  wall seconds: "
              + "  ".join(f"{t:.1f}" for t in times) + f"  (best {min(times):.1f}, worst {max(times):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
