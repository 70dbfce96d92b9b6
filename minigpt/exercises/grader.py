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

A class at once: `grade_batch(folders)` grades many submissions with one pool of
`jobs` workers (never more processes than that), the tasks of the first
submissions first and, among those ready, the ones that start the longest chain of
work first, so that the cores stay busy and submissions finish one after the
other. Each submission has its own time budget for hung checks (sandbox.TimeBudget).
"""
import os
import re
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from . import feedback, isolation, reference, sandbox
from .assignment import Assignment
from .standins import StandIns, on_its_own_merits, stand_ins
from .tasks import TASKS, TASKS_BY_ID, Check, Task, check_id

MODULE_FILES = ("engine", "nn", "gpt")
MAX_FILE_BYTES = 1_000_000


# The ways a worker can be stopped in a check (the answer's error type), as the class report counts them.
LIMIT_STOPS = ("Timeout", "TimeBudget", "MemoryLimit", "WorkerDied")


@dataclass
class CheckResult:
    check: Check
    passed: bool
    message: str
    stopped: str = ""  # one of LIMIT_STOPS when the worker was stopped (or died) in this check


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
    budget_spent: float = 0.0  # seconds its checks ran past their grace (sandbox.TimeBudget)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tasks), 2)

    @property
    def stops(self) -> Dict[str, int]:
        """How many checks ended at a limit or in a crash, by kind: {'Timeout': 2, ...}."""
        counts: Dict[str, int] = {}
        for r in (c for t in self.tasks for c in t.checks if c.stopped):
            counts[r.stopped] = counts.get(r.stopped, 0) + 1
        return counts

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
    `assignment` (with its points; `task_ids` then picks among them), at most `jobs`
    tasks at once (default: the number of CPUs). `submission` is what read_for_grading
    gave, when it was read before."""
    return grade_batch([folder], task_ids, public_only, limits, jobs, assignment,
                       None if submission is None else [submission])[0]


def grade_batch(folders: Sequence, task_ids: Optional[Sequence[str]] = None, public_only: bool = False,
                limits: sandbox.Limits = sandbox.Limits(), jobs: Optional[int] = None,
                assignment: Optional[Assignment] = None, submissions: Optional[Sequence[tuple]] = None,
                on_task: Optional[Callable[[], None]] = None,
                on_report: Optional[Callable[[Report], None]] = None) -> List[Report]:
    """Grade every submission in `folders` with one pool of at most `jobs` worker processes
    (default: the number of CPUs); the Reports come back in the order of `folders`.

    Every submission is read (or given, as read_for_grading's `submissions`) before any
    student code runs, so no submission can change another's. A task starts once the
    tasks it uses are graded, so that it knows which of them failed. `on_task()` is
    called after each task graded that the report shows, `on_report(report)` as each submission is done (in
    this thread, in the order they finish)."""
    chosen = list(assignment.tasks) if assignment else list(TASKS)
    tasks = [t for t in chosen if t.id in task_ids] if task_ids else chosen
    # The tasks these use but that are not graded here (left out of the assignment, or not
    # asked for) are graded too, unreported, so that the reference stands in where they
    # fail: week 2 is not marked down for week 1, nor `check 3.5` for a wrong LayerNorm.
    helpers = [t for t in TASKS if t.id not in {c.id for c in tasks} and any(t.id in u.uses for u in tasks)]
    graded = tasks + helpers
    selected = {t.id for t in graded}
    rank = _ranks(graded)
    if submissions is None:  # a bad folder fails here, before any work
        submissions = [read_for_grading(folder, task_ids, assignment) for folder in folders]
    subs = [_Submission(i, folder, submission, sorted(graded, key=lambda t: -rank[t.id]), public_only, limits)
            for i, (folder, submission) in enumerate(zip(folders, submissions))]
    reports: List[Optional[Report]] = [None] * len(subs)
    unfinished = list(subs)
    # Outside the sandbox, workers of the same user could reach each other's processes:
    # one submission at a time there (its tasks still run in parallel).
    alone = isolation.choose(limits.isolation).mode != "sandbox"
    running: Dict[Future, tuple] = {}
    jobs = jobs or os.cpu_count() or 2
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while unfinished:
            while len(running) < jobs:  # we pick what runs next, not the executor's queue
                picked = _next_task(unfinished[:1] if alone else unfinished, selected)
                if picked is None:
                    break
                sub, task = picked
                sub.waiting.remove(task)
                sub.start = sub.start or time.monotonic()
                failed = {tid for tid, r in sub.results.items() if not r.passed}
                running[pool.submit(sub.run.graded, task, _stand_ins(task, failed))] = (sub, task)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                sub, task = running.pop(future)
                sub.results[task.id] = future.result()
                if on_task and task in tasks:  # (not for the unreported ones)
                    on_task()
                if not sub.waiting and not any(s is sub for s, _ in running.values()):
                    unfinished.remove(sub)
                    reports[sub.index] = sub.report(tasks)
                    if on_report:
                        on_report(reports[sub.index])
    return reports


def _ranks(tasks: Sequence[Task]) -> Dict[str, float]:
    """A rough guess of the work that waits on each task: its own time (the sum of its
    checks' time limits) plus the most of any task that uses it, to start long chains first."""
    rank: Dict[str, float] = {}
    selected = {t.id for t in tasks}
    for task in reversed([t for t in TASKS if t.id in selected]):  # the table lists a task after those it uses
        users = [rank[t.id] for t in tasks if task.id in t.uses]
        rank[task.id] = sum(c.timeout for c in task.checks) + max(users, default=0.0)
    return rank


def _next_task(unfinished: Sequence["_Submission"], selected) -> Optional[tuple]:
    """(submission, task) to start next: the first submission with a task ready, and of its
    ready tasks the one with the highest rank; None when nothing is ready."""
    for sub in unfinished:
        for task in sub.waiting:  # sorted by rank
            if all(u in sub.results or u not in selected for u in task.uses):
                return sub, task
    return None


class _Submission:
    """One submission of a batch: its files, and its tasks waiting and graded."""

    def __init__(self, index: int, folder, submission: tuple, tasks: List[Task], public_only: bool,
                 limits: sandbox.Limits):
        self.index, self.folder = index, folder
        files, self.notes = submission  # (files, notes), from read_for_grading
        self.run = _Runner(files, public_only, limits)
        self.waiting = list(tasks)
        self.results: Dict[str, TaskResult] = {}
        self.start: Optional[float] = None

    def report(self, tasks: Sequence[Task]) -> Report:
        notes = list(self.notes)
        if self.run.uncapped:
            notes.append("the workers could not cap their memory on this system (no resource.RLIMIT_AS)")
        return Report(str(self.folder), [self.results[t.id] for t in tasks], notes,
                      time.monotonic() - (self.start or time.monotonic()), round(self.run.budget.spent, 2))


# The stand-in rules live in standins.py, shared with the workspace's pytest checks.
_StandIns = StandIns
_stand_ins = stand_ins


class _Runner:
    """Runs one task's checks in workers and judges them (thread-safe)."""

    def __init__(self, files: Dict[str, bytes], public_only: bool, limits: sandbox.Limits):
        self.files, self.public_only, self.limits = files, public_only, limits
        self.budget = sandbox.TimeBudget(limits)  # shared by all the submission's tasks
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
                                 substitute=stand_ins.components if stand_ins else (), reference_sources=sources,
                                 budget=self.budget)
        results = []
        for c in checks:
            answer = run.answers[check_id(task, c)]
            verdict = feedback.judge(task, c, answer, lambda mistake, c=c: reference.result(task, c, mistake))
            stopped = answer.get("error", {}).get("type", "") if "error" in answer else ""
            results.append(CheckResult(c, verdict.passed, verdict.message,
                                       stopped if stopped in LIMIT_STOPS else ""))
        self.uncapped = self.uncapped or not run.memory_capped
        return TaskResult(task, results, [], run.output)
