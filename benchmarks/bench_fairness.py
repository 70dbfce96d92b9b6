"""Points a single bug costs outside its own task, for solutions in four parameters() styles.

    python benchmarks/bench_fairness.py                    # every style, every bug
    python benchmarks/bench_fairness.py --styles walker --bugs layernorm_variance

Grades (in full, hidden checks included) single-bug variants of four independent
student solutions (tests/exercises_data: naive, walker, registry, explicit), each
with a different Module.parameters(): walking vars() of its own Module instances,
walking __dict__ and asking sub-modules, a PyTorch-style __setattr__ registry, and
explicit per-class lists and generators. The bugs: LayerNorm's variance divided by
D - 1, LayerNorm's mean taken from .data, GELU without the 0.5, attention scores
divided by d instead of sqrt(d), Embedding returning fresh Values. Prints, per
variant, the points lost on the buggy task and outside it; the target is at most
0.5 point outside, for every style.
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from exercises_data.submissions import STYLES, VARIANTS, lost_elsewhere, write_variant  # noqa: E402
from minigpt.exercises.grader import grade  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", nargs="*", default=list(STYLES), choices=STYLES)
    parser.add_argument("--bugs", nargs="*", default=None, help="bug names (default: all five)")
    args = parser.parse_args()
    worst = 0.0
    print(f"{'style':10} {'bug':26} {'own task':>12} {'lost outside':>13}  tasks that lost outside")
    for style in args.styles:
        for variant in VARIANTS[style]:
            if args.bugs and variant.bug not in args.bugs:
                continue
            with tempfile.TemporaryDirectory() as folder:
                report = grade(write_variant(folder, style, variant))
            own = next(r for r in report.tasks if r.task.id == variant.task)
            outside = lost_elsewhere(report, variant.task)
            where = ", ".join(f"{r.task.id} -{r.task.points - r.score:g}" for r in report.tasks
                              if r.task.id != variant.task and r.score < r.task.points)
            print(f"{style:10} {variant.bug:26} {variant.task} {own.score:>4g}/{own.task.points:<3g} "
                  f"{outside:>13g}  {where}", flush=True)
            worst = max(worst, outside)
    print(f"largest loss outside the buggy task: {worst:g} point(s) (target: at most 0.5)")
    return 0 if worst <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
