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
first; otherwise it also runs as submitted and keeps the better of the two. (Running
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

from . import feedback, reference, sandbox
from .tasks import ENGINE_TASKS, TASKS, TASKS_BY_ID, Check, Task, check_id

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
        return sum(t.task.points for t in self.tasks)


class SubmissionError(ValueError):
    """The submission folder cannot be graded at all (it does not exist)."""


def read_submission(folder) -> tuple:
    """({'engine': bytes, ...} for the files present, notes about the submission)."""
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
            notes.append(f"{name}.py is missing: the tasks that need it get no points")
        elif path.stat().st_size > MAX_FILE_BYTES:
            notes.append(f"{name}.py is larger than {MAX_FILE_BYTES:,} bytes and was not graded")
        else:
            files[name] = path.read_bytes()
            if re.search(rb"^\s*(from|import)\s+minigpt\b", files[name], re.M):
                notes.append(f"{name}.py imports minigpt: the grader runs your three files on their own, "
                             f"without minigpt, so that import fails")
    return files, notes


def grade(folder, task_ids: Optional[Sequence[str]] = None, public_only: bool = False,
          limits: sandbox.Limits = sandbox.Limits(), jobs: Optional[int] = None) -> Report:
    """Grade the submission in `folder` on the given tasks (all by default), at most
    `jobs` tasks at once (default: the number of CPUs)."""
    return grade_batch([folder], task_ids, public_only, limits, jobs)[0]


def grade_batch(folders: Sequence, task_ids: Optional[Sequence[str]] = None, public_only: bool = False,
                limits: sandbox.Limits = sandbox.Limits(), jobs: Optional[int] = None,
                on_task: Optional[Callable[[], None]] = None,
                on_report: Optional[Callable[[Report], None]] = None) -> List[Report]:
    """Grade every submission in `folders` with one pool of at most `jobs` worker processes
    (default: the number of CPUs); the Reports come back in the order of `folders`.

    A task starts once the tasks it uses are graded, so that it knows which of them
    failed. `on_task()` is called after each task graded, `on_report(report)` as each
    submission is done (in this thread, in the order they finish)."""
    tasks = [TASKS_BY_ID[t] for t in task_ids] if task_ids else list(TASKS)
    selected = {t.id for t in tasks}
    rank = _ranks(tasks)
    subs = [_Submission(i, folder, sorted(tasks, key=lambda t: -rank[t.id]), public_only, limits)
            for i, folder in enumerate(folders)]  # reads every folder first: a bad one fails at once
    reports: List[Optional[Report]] = [None] * len(subs)
    unfinished = list(subs)
    running: Dict[Future, tuple] = {}
    jobs = jobs or os.cpu_count() or 2
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while unfinished:
            while len(running) < jobs:  # we pick what runs next, not the executor's queue
                picked = _next_task(unfinished, selected)
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
                if on_task:
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

    def __init__(self, index: int, folder, tasks: List[Task], public_only: bool, limits: sandbox.Limits):
        self.index, self.folder = index, folder
        files, self.notes = read_submission(folder)
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


@dataclass
class _StandIns:
    """What of the reference stands in for the failed tasks a task uses."""
    files: Sequence[str]       # whole modules: "engine"
    components: Sequence[str]  # contract names: "Module" (its methods), "LayerNorm", "Linear", ...
    fixes: Sequence[str]       # the failed tasks, in order

    def __bool__(self):
        return bool(self.files or self.components)

    def describe(self) -> str:
        return _and([f"the reference {f}.py" for f in self.files] + [f"the reference {c}" for c in self.components])

    def failed_tasks(self) -> str:
        if len(self.fixes) == 1:
            return f"task {self.fixes[0]} fails"
        return f"tasks {_and(self.fixes)} fail"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _stand_ins(task: Task, failed) -> _StandIns:
    fixes = [u for u in task.uses if u in failed]
    files = ["engine"] if any(u in ENGINE_TASKS for u in fixes) else []
    components = [TASKS_BY_ID[u].component for u in fixes if TASKS_BY_ID[u].component]
    return _StandIns(files, components, fixes)


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
        if not stand_ins:
            return self.task(task)
        helped = self.task(task, stand_ins)
        fixes = stand_ins.failed_tasks()
        if helped.passed:
            helped.notes.insert(0, f"passes with {stand_ins.describe()} in place of yours; {fixes}: fix that first")
            return helped
        own = self.task(task)
        if helped.fraction > own.fraction:
            helped.notes.insert(0, f"scores {helped.score:g}/{task.points:g} with {stand_ins.describe()} in place "
                                   f"of yours ({own.score:g} with your own); {fixes}: fix that first")
            return helped
        own.notes.append(f"with {stand_ins.describe()} in place of yours it does no better, so the problem is in "
                         f"this task's own code ({fixes} as well)")
        return own

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
