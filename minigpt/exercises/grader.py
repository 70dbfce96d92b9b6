"""Grading a submission: run every task's checks in workers, judge, score.

    report = grade("path/to/submission")          # a Report
    report.score, report.max_score, report.tasks  # per task: checks, score, notes

Tasks run in parallel worker processes (sandbox.py); the grader judges each answer
against the reference (feedback.py). A task's score is its points times the
weighted share of its checks that pass.

Later parts on their own merits: a task starts once the tasks it `uses` are graded.
If one of those failed (say the student's LayerNorm is wrong, and this is the
TransformerBlock), the task runs with the reference standing in for the failed
parts: engine.py as a whole file (an engine task failed), the methods of nn.Module
the student writes (task 2.1 failed), or just the failed classes or functions
(LayerNorm, Linear, cross_entropy_loss, ...) built on the student's own engine.
Full marks that way are the task's score, and its feedback says which task to fix
first; otherwise it also runs as submitted and keeps the better of the two (the
rules are in standins.py, shared with the workspace's pytest checks). (Running
the stand-in version first also spares a slow run: a broken engine can make every
later check loop until its time limit.)
"""
import os
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import feedback, reference, sandbox
from .assignment import Assignment
from .standins import StandIns, on_its_own_merits, stand_ins
from .tasks import TASKS, TASKS_BY_ID, Check, Task, check_id

MODULE_FILES = ("engine", "nn", "gpt")
MAX_FILE_BYTES = 1_000_000


@dataclass
class CheckResult:
    check: Check
    passed: bool
    message: str


@dataclass
class TaskResult:
    task: Task
    checks: List[CheckResult]
    notes: List[str] = field(default_factory=list)
    output: str = ""  # what the student's code printed while this task ran

    @property
    def fraction(self) -> float:
        total = sum(r.check.weight for r in self.checks)
        return sum(r.check.weight for r in self.checks if r.passed) / total if total else 0.0

    @property
    def score(self) -> float:
        return round(self.task.points * self.fraction, 2)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.checks)


@dataclass
class Report:
    submission: str
    tasks: List[TaskResult]
    notes: List[str]
    seconds: float

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tasks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(t.task.points for t in self.tasks), 2)


class SubmissionError(ValueError):
    """The submission folder cannot be graded at all (it does not exist)."""


def read_submission(folder, needed: Sequence[str] = MODULE_FILES) -> tuple:
    """({'engine': bytes, ...} for the files present, notes about the submission; a missing
    file is noted only when it is `needed`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder} is not a folder")
    notes = []
    if not any((folder / f"{m}.py").is_file() for m in MODULE_FILES):
        inner = [d for d in folder.iterdir() if d.is_dir() and any((d / f"{m}.py").is_file() for m in MODULE_FILES)]
        if len(inner) == 1:  # an upload that kept its folder
            notes.append(f"graded the files in {inner[0].name}/ (the submission has no engine.py, nn.py or gpt.py "
                         f"at its top level)")
            folder = inner[0]
    files = {}
    for name in MODULE_FILES:
        path = folder / f"{name}.py"
        if not path.is_file():
            if name in needed:
                notes.append(f"{name}.py is missing: the tasks that need it get no points")
        elif path.stat().st_size > MAX_FILE_BYTES:
            notes.append(f"{name}.py is larger than {MAX_FILE_BYTES:,} bytes and was not graded")
        else:
            files[name] = path.read_bytes()
            if re.search(rb"^\s*(from|import)\s+minigpt\b", files[name], re.M):
                notes.append(f"{name}.py imports minigpt: the grader runs your three files on their own, "
                             f"without minigpt, so that import fails")
    return files, notes


def read_for_grading(folder, task_ids: Optional[Sequence[str]] = None,
                     assignment: Optional[Assignment] = None) -> tuple:
    """read_submission(folder), noting only the missing files that the graded tasks need."""
    chosen = list(assignment.tasks) if assignment else list(TASKS)
    tasks = [t for t in chosen if t.id in task_ids] if task_ids else chosen
    return read_submission(folder, [m for m in MODULE_FILES if any(m in t.modules for t in tasks)])


def grade(folder, task_ids: Optional[Sequence[str]] = None, public_only: bool = False,
          limits: sandbox.Limits = sandbox.Limits(), jobs: Optional[int] = None,
          assignment: Optional[Assignment] = None, submission: Optional[tuple] = None) -> Report:
    """Grade the submission in `folder` on the given tasks (all by default), or on those of
    `assignment` (with its points; `task_ids` then picks among them).

    A task starts once the tasks it uses are graded, so that it knows which of them
    failed; among the tasks ready, the longest start first. `submission` is what
    read_for_grading gave, when it was read before (a batch reads every submission
    before any student code runs, so no submission can change another's)."""
    start = time.monotonic()
    chosen = list(assignment.tasks) if assignment else list(TASKS)
    tasks = [t for t in chosen if t.id in task_ids] if task_ids else chosen
    files, notes = submission or read_for_grading(folder, task_ids, assignment)
    notes = list(notes)
    # The tasks these use but that are not graded here (left out of the assignment, or not
    # asked for) are graded too, unreported, so that the reference stands in where they
    # fail: week 2 is not marked down for week 1, nor `check 3.5` for a wrong LayerNorm.
    helpers = [t for t in TASKS if t.id not in {c.id for c in tasks} and any(t.id in u.uses for u in tasks)]
    selected = {t.id for t in tasks + helpers}
    waiting = sorted(tasks + helpers, key=lambda t: -sum(c.timeout for c in t.checks))  # a rough guess of its time
    run = _Runner(files, public_only, limits)
    results: Dict[str, TaskResult] = {}
    running: Dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        while waiting or running:
            for task in [t for t in waiting if all(u in results or u not in selected for u in t.uses)]:
                waiting.remove(task)
                failed = {tid for tid, r in results.items() if not r.passed}
                running[pool.submit(run.graded, task, _stand_ins(task, failed))] = task.id
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results[running.pop(future)] = future.result()
    if run.uncapped:
        notes.append("the workers could not cap their memory on this system (no resource.RLIMIT_AS)")
    return Report(str(folder), [results[t.id] for t in tasks], notes, time.monotonic() - start)


# The stand-in rules live in standins.py, shared with the workspace's pytest checks.
_StandIns = StandIns
_stand_ins = stand_ins


class _Runner:
    """Runs one task's checks in workers and judges them (thread-safe)."""

    def __init__(self, files: Dict[str, bytes], public_only: bool, limits: sandbox.Limits):
        self.files, self.public_only, self.limits = files, public_only, limits
        self.uncapped = False

    def graded(self, task: Task, stand_ins: _StandIns) -> TaskResult:
        """The task's result, on its own merits. When tasks it uses failed, it runs first
        with the reference standing in for them; only if that falls short of full marks
        does it also run as it is, and the better of the two counts."""
        return on_its_own_merits(task, stand_ins, lambda helpers: self.task(task, helpers))

    def task(self, task: Task, stand_ins: Optional[_StandIns] = None) -> TaskResult:
        """One run of the task's checks (with the given stand-ins), judged."""
        checks = [c for c in task.checks if c.public or not self.public_only]
        files = dict(self.files)
        sources = reference.solution_sources()
        if stand_ins:
            files.update({name: sources[name].encode() for name in stand_ins.files})
        run = sandbox.run_checks(files, task.modules, [(check_id(task, c), c) for c in checks], self.limits,
                                 substitute=stand_ins.components if stand_ins else (), reference_sources=sources)
        results = []
        for c in checks:
            verdict = feedback.judge(task, c, run.answers[check_id(task, c)],
                                     lambda mistake, c=c: reference.result(task, c, mistake))
            results.append(CheckResult(c, verdict.passed, verdict.message))
        self.uncapped = self.uncapped or not run.memory_capped
        return TaskResult(task, results, [], run.output)
