"""Writing grades: Gradescope results JSON, a table or a line for the terminal, a CSV for a batch."""
import csv
import json
import os
import tempfile
import textwrap
from typing import List

from .grader import Report, TaskResult
from .tasks import MAX_SCORE, TASKS

PRINTED_SHOWN = 1000  # characters of the student's printed output shown in feedback


def task_feedback(result: TaskResult) -> str:
    """Every check of a task, ok or FAIL, with the reasons of each failure."""
    lines = list(result.notes)
    for r in result.checks:
        hidden = "" if r.check.public else " (hidden check)"
        lines.append(f"{'ok  ' if r.passed else 'FAIL'} {r.check.name}: {r.check.title}{hidden}")
        if not r.passed:
            lines += ["       " + line for line in r.message.splitlines()]
    if result.output.strip():
        shown = result.output[:PRINTED_SHOWN] + ("..." if len(result.output) > PRINTED_SHOWN else "")
        lines.append("your code printed (not used for grading):")
        lines.append(textwrap.indent(shown.rstrip(), "    | "))
    return "\n".join(lines)


def gradescope(report: Report) -> dict:
    """The results.json Gradescope reads: one test per task, with partial credit."""
    return {
        "score": report.score,
        "max_score": report.max_score,
        "output": "\n".join([f"{report.score:g} / {report.max_score:g} points"] + report.notes),
        "visibility": "visible",
        "tests": [{"name": f"{r.task.id} {r.task.title}", "number": r.task.id, "score": r.score,
                   "max_score": r.task.points, "status": "passed" if r.passed else "failed",
                   "output": task_feedback(r), "visibility": "visible"} for r in report.tasks],
    }


def not_graded(message: str) -> dict:
    """Results for a submission that could not be graded at all (still valid Gradescope JSON)."""
    return {"score": 0.0, "max_score": MAX_SCORE, "output": message, "visibility": "visible", "tests": []}


STOPS_SAID = {"Timeout": "timed out", "TimeBudget": "stopped by the time budget", "MemoryLimit": "out of memory",
              "WorkerDied": "crashed"}


def one_line(report: Report) -> str:
    """The submission's total in one line, with the checks that hit a limit or crashed."""
    failed = sum(not r.passed for r in report.tasks)
    stops = ", ".join(f"{n} {STOPS_SAID[kind]}" for kind, n in sorted(report.stops.items()))
    return (f"{report.submission}: {report.score:g} / {report.max_score:g} points, "
            f"{failed} of {len(report.tasks)} tasks lost points ({report.seconds:.1f} s)"
            + (f"; checks {stops}" if stops else ""))


def table(report: Report, details: bool = True) -> str:
    """The grades as a table, then the feedback of every task that lost points."""
    width = max(len(r.task.title) for r in report.tasks) if report.tasks else 10
    lines = [f"{report.submission}: {report.score:g} / {report.max_score:g} points ({report.seconds:.1f} s)"]
    lines += [f"  note: {n}" for n in report.notes]
    lines.append(f"  {'task':5} {'':{width}}  {'score':>11}  checks")
    for r in report.tasks:
        passed = sum(c.passed for c in r.checks)
        mark = "" if r.passed else "  <-"
        lines.append(f"  {r.task.id:5} {r.task.title:{width}}  {r.score:>5g} / {r.task.points:<3g}  "
                     f"{passed}/{len(r.checks)}{mark}")
    if details:
        for r in report.tasks:
            if not r.passed or r.notes:
                lines.append(f"\n{r.task.id} {r.task.title}: {r.score:g} / {r.task.points:g}")
                lines.append(textwrap.indent(task_feedback(r), "  "))
    return "\n".join(lines)


def write_json(path, data: dict) -> None:
    """Write JSON atomically (a reader never sees half a file); NaN is refused, as JSON has none."""
    text = json.dumps(data, indent=2, allow_nan=False)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def write_csv(reports: List[Report], path) -> None:
    """One row per submission: its folder, total, maximum, then one column per task."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "score", "max_score"] + [t.id for t in TASKS])
        for report in reports:
            by_id = {r.task.id: r.score for r in report.tasks}
            writer.writerow([report.submission, report.score, report.max_score]
                            + [by_id.get(t.id, "") for t in TASKS])
