"""Writing grades: Gradescope results JSON, a table or a line for the terminal, a CSV for a batch."""
import csv
import json
import os
import tempfile
import textwrap
from typing import List, Optional

from .assignment import Assignment
from .grader import CheckResult, Report, TaskResult
from .tasks import MAX_SCORE, TASKS

PRINTED_SHOWN = 1000  # characters of the student's printed output shown in feedback


def task_feedback(result: TaskResult, checks: Optional[List[CheckResult]] = None, printed: bool = True) -> str:
    """Every check of a task (or the given ones), ok or FAIL, with the reasons of each failure."""
    lines = list(result.notes)
    for r in result.checks if checks is None else checks:
        hidden = "" if r.check.public else " (hidden check)"
        lines.append(f"{'ok  ' if r.passed else 'FAIL'} {r.check.name}: {r.check.title}{hidden}")
        if not r.passed:
            lines += ["       " + line for line in r.message.splitlines()]
    if printed and result.output.strip():
        shown = result.output[:PRINTED_SHOWN] + ("..." if len(result.output) > PRINTED_SHOWN else "")
        lines.append("your code printed (not used for grading):")
        lines.append(textwrap.indent(shown.rstrip(), "    | "))
    return "\n".join(lines)


def entries(report: Report, assignment: Optional[Assignment] = None) -> List[dict]:
    """One entry per task with its score and feedback, as Gradescope's tests; a task whose
    hidden checks the assignment reports apart gives two: its public checks, then its hidden
    ones (each part worth the weighted share of the task's points its checks carry)."""
    out = []
    for r in report.tasks:
        name, visibility = f"{r.task.id} {r.task.title}", assignment.task_visibility(r.task.id) if assignment \
            else "visible"
        hidden_visibility = assignment.hidden_visibility(r.task.id) if assignment else None
        hidden = [c for c in r.checks if not c.check.public]
        if hidden_visibility is None or not hidden:
            out.append(_entry(name, r.task.id, r.score, r.task.points, r.passed, task_feedback(r), visibility))
            continue
        public = [c for c in r.checks if c.check.public]
        total = sum(c.check.weight for c in r.checks)
        hidden_max = round(r.task.points * sum(c.check.weight for c in hidden) / total, 2)
        hidden_score = round(r.task.points * sum(c.check.weight for c in hidden if c.passed) / total, 2)
        out.append(_entry(name, r.task.id, round(r.score - hidden_score, 2), round(r.task.points - hidden_max, 2),
                          all(c.passed for c in public), task_feedback(r, public), visibility))
        out.append(_entry(name + ": hidden checks", r.task.id + ".h", hidden_score, hidden_max,
                          all(c.passed for c in hidden), task_feedback(r, hidden, printed=False), hidden_visibility))
    return out


def _entry(name, number, score, max_score, passed, output, visibility) -> dict:
    return {"name": name, "number": number, "score": score, "max_score": max_score,
            "status": "passed" if passed else "failed", "output": output, "visibility": visibility}


def gradescope(report: Report, assignment: Optional[Assignment] = None) -> dict:
    """The results.json Gradescope reads: one test per task (or two, see entries()), with partial credit.
    While any entry is not visible, the overview gives no total (it would tell the hidden points)."""
    tests = entries(report, assignment)
    everything = all(t["visibility"] == "visible" for t in tests)
    total = f"{report.score:g} / {report.max_score:g} points" if everything else \
        "some results are shown later (after the due date or once grades are published)"
    return {"score": report.score, "max_score": report.max_score,
            "output": "\n".join([total] + report.notes), "visibility": "visible", "tests": tests}


def prairielearn(report: Report, assignment: Optional[Assignment] = None) -> dict:
    """The results.json a PrairieLearn external grader writes: `score` from 0 to 1 and one
    test per entry (see entries()) with points, max_points, message and output. PrairieLearn
    has no visibility per test: an entry that is not "visible" keeps its points but shows
    no feedback (the course's access rules decide when students see the question)."""
    tests = []
    for e in entries(report, assignment):
        shown = e["visibility"] == "visible"
        tests.append({"name": e["name"], "points": e["score"], "max_points": e["max_score"],
                      "message": ("passed" if e["status"] == "passed" else "failed") if shown else
                      "feedback shown later", "output": e["output"] if shown else ""})
    everything = all(e["visibility"] == "visible" for e in entries(report, assignment))
    total = f"{report.score:g} / {report.max_score:g} points" if everything else "some results are shown later"
    return {"gradable": True, "score": round(report.score / report.max_score, 6) if report.max_score else 0.0,
            "message": total, "output": "\n".join(report.notes), "tests": tests}


def not_graded(message: str, max_score: float = MAX_SCORE) -> dict:
    """Results for a submission that could not be graded at all (still valid Gradescope JSON)."""
    return {"score": 0.0, "max_score": max_score, "output": message, "visibility": "visible", "tests": []}


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


def write_csv(reports: List[Report], path, tasks=TASKS) -> None:
    """One row per submission: its folder, total, maximum, then one column per task."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", "score", "max_score"] + [t.id for t in tasks])
        for report in reports:
            by_id = {r.task.id: r.score for r in report.tasks}
            writer.writerow([report.submission, report.score, report.max_score]
                            + [by_id.get(t.id, "") for t in tasks])
