"""How long `minigpt grade` takes for a class: amortised seconds per submission.

    python benchmarks/bench_grade.py                  # a class of 20, graded 3 times
    python benchmarks/bench_grade.py --runs 1 --jobs 1 --size 10
    python benchmarks/bench_grade.py --one            # one correct submission on its own

A class of `--size` submissions (default 20) is written to a temporary folder, mixed
as a class is: a quarter correct (the reference solutions, and tests/exercises_data/
naive, a micrograd-style solution written apart from them: closures, Python `sum`),
three fifths with one typical bug each (the mutants of tests/exercises_data/
submissions.py, a different one each), the rest untouched stubs. The whole class is
graded as `minigpt grade DIR ... --csv` grades it: one pool of `--jobs` workers
(default: the CPUs) across all tasks of all submissions, every check, hidden ones
included, student code in worker processes. It prints the wall time of the batch
divided by the class size, the load average before and after, and the CPU time per
submission divided by the CPUs (what the wall time would be on an idle machine: the
machine may be shared); it checks that every correct submission scored full marks and every
stub zero. The target is at most 4 s per submission on 2 cores.

`--isolation auto|sandbox|fallback` chooses how the workers are isolated (the line
printed first names the one in use).
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from minigpt.exercises import isolation
from minigpt.exercises.grader import grade_batch
from minigpt.exercises.sandbox import Limits

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from exercises_data.submissions import MUTANTS, write_submission  # noqa: E402 (the tests' submissions)


def write_class(folder: Path, size: int) -> tuple:
    """Write `size` submissions into `folder`; (folders, expected totals: 100 or 0 or None)."""
    correct = max(1, size // 4)
    stubs = max(1, size // 5) if size >= 3 else 0
    buggy = size - correct - stubs
    folders, expected = [], []
    for i in range(correct):
        base = "naive" if i % 2 == 0 else "solutions"
        folders.append(write_submission(folder / f"correct-{i:02d}-{base}", base))
        expected.append(100.0)
    for i in range(buggy):
        m = MUTANTS[(i * 7) % len(MUTANTS)]  # spread over engine, nn and gpt
        folders.append(write_submission(folder / f"buggy-{i:02d}-{m.name}", "solutions", [(m.file, m.old, m.new)]))
        expected.append(None)
    for i in range(stubs):
        folders.append(write_submission(folder / f"stub-{i:02d}", "stubs"))
        expected.append(0.0)
    return folders, expected


def _cpu_seconds() -> float:
    """CPU time of this process and its finished workers (user + system)."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20, help="submissions in the class (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="times the class is graded (default 3)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes at once (default: the CPUs)")
    parser.add_argument("--one", action="store_true", help="grade one correct (naive) submission on its own")
    parser.add_argument("--isolation", choices=isolation.MODES, default="auto",
                        help="how workers are isolated (default auto: the sandbox where it runs)")
    args = parser.parse_args()
    limits = Limits(isolation=args.isolation)
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        if args.one:
            folders, expected = [write_submission(Path(tmp) / "naive", "naive")], [100.0]
        else:
            folders, expected = write_class(Path(tmp), args.size)
        mode = isolation.choose(limits.isolation).mode
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, jobs {args.jobs or os.cpu_count()}, "
              f"{len(folders)} submissions ({sum(e == 100 for e in expected)} correct, "
              f"{sum(e is None for e in expected)} with a bug, {sum(e == 0 for e in expected)} stubs), "
              f"isolation {mode}")
        per_submission = []
        for run in range(args.runs):
            load_before = os.getloadavg()[0]
            cpu_before = _cpu_seconds()
            start = time.perf_counter()
            reports = grade_batch(folders, limits=limits, jobs=args.jobs)
            wall = time.perf_counter() - start
            cpu = _cpu_seconds() - cpu_before
            wrong = [(r.submission, r.score) for r, e in zip(reports, expected) if e is not None and r.score != e]
            if wrong:
                print(f"wrong totals: {wrong}")
                return 1
            per_submission.append(wall / len(folders))
            # (in the sandbox the workers are reaped inside their own PID namespace, so their
            # CPU time never reaches this process's RUSAGE_CHILDREN)
            cpu_text = ("CPU of the workers not visible from outside the sandbox" if mode == "sandbox" else
                        f"CPU {cpu:.1f} s, {cpu / len(folders) / os.cpu_count():.2f} s per submission if the CPUs "
                        f"were ours")
            print(f"run {run + 1}: {wall:.1f} s for {len(folders)}, {wall / len(folders):.2f} s per submission "
                  f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after); {cpu_text}", flush=True)
        print(f"amortised s/submission: best {min(per_submission):.2f}, median {statistics.median(per_submission):.2f}"
              f", worst {max(per_submission):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
