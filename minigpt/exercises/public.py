"""The workspace's public tests: one check on the student's own modules, in-process.

The generated tests/test_*.py of a workspace call `check("3.2:forward")`. It
imports the workspace's engine, nn and gpt the ordinary way (pytest.ini puts the
workspace on sys.path), runs the same probes and the same judge as the grader, and
fails with the grader's feedback. An exception from the student's code is chained
to the failure, so pytest shows its traceback too.

A task is judged on its own merits here as on the grader (standins.py), on its
public checks, as `minigpt exercises check` judges it: when a task it uses fails
its public checks (say 3.2 LayerNorm), the task's checks run first on a fresh copy
of the student's modules with the reference standing in for the failed parts. If
they all pass that way, each of them PASSES under pytest, with a warning saying
which task to fix first (pytest lists it under "warnings summary"): the grader
gives the task its points in that case, so a green test never promises more than
the grader gives, and a red one never hides points it would give. Otherwise the
better of the two runs counts, as on the grader, and a failure says what the
stand-in run showed. Each task is graded once per pytest session.
"""
import importlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from . import feedback, probes, reference
from .standins import StandIns, on_its_own_merits, stand_ins
from .tasks import TASKS_BY_ID, Task, find_check


class FixEarlierTaskFirst(UserWarning):
    """A task passes only with the reference standing in for an earlier task that fails."""


def student_modules() -> probes.Modules:
    """The workspace's engine, nn and gpt (gpt may be missing when nn.py holds its names)."""
    loaded = {}
    for name in probes.MODULE_NAMES:
        try:
            loaded[name] = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name or name == "engine":
                raise
            loaded[name] = None
    return probes.Modules(**loaded)


def _from_student_code(exc):
    """The exception with its traceback starting at the first frame in the student's files
    (the probe's own frames above it would only distract)."""
    tb = exc.__traceback__
    while tb is not None and os.path.basename(tb.tb_frame.f_code.co_filename) not in ("engine.py", "nn.py", "gpt.py"):
        tb = tb.tb_next
    return exc.with_traceback(tb) if tb is not None else exc


@dataclass
class _Run:
    """One in-process run of a task's public checks: name -> (passed, message, exception)."""
    task: Task
    checks: Dict[str, Tuple[bool, str, Optional[BaseException]]]
    helped: bool  # run with the reference standing in for failed tasks it uses
    notes: List[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        weights = {c.name: c.weight for c in self.task.checks}
        total = sum(weights[n] for n in self.checks)
        return sum(weights[n] for n, (ok, _, _) in self.checks.items() if ok) / total if total else 0.0

    @property
    def score(self) -> float:
        return round(self.task.points * self.fraction, 2)

    @property
    def passed(self) -> bool:
        return all(ok for ok, _, _ in self.checks.values())


_graded: Dict[tuple, _Run] = {}  # (task id, the student's modules) -> its result, once per session


def _fresh_copy(m: probes.Modules, helpers: StandIns) -> probes.Modules:
    """The student's modules loaded anew from their files (the reference engine.py in place of
    theirs when it stands in), with the reference's stand-in components substituted."""
    sources = reference.solution_sources()
    loaded, deps = {}, {}
    for name in probes.MODULE_NAMES:
        module = getattr(m, name)
        if name in helpers.files:
            loaded[name] = probes.load_source(name, sources[name], dict(deps), f"<reference {name}.py>")
        elif module is None:
            loaded[name] = None
            continue
        else:
            path = module.__file__
            with open(path, encoding="utf-8") as f:
                loaded[name] = probes.load_source(name, f.read(), dict(deps), path)
        deps[name] = loaded[name]
    fresh = probes.Modules(**loaded)
    if helpers.components:
        fresh.substitute(helpers.components, sources)
    return fresh


def _run(task: Task, m: probes.Modules, helpers: Optional[StandIns]) -> _Run:
    checks = [c for c in task.checks if c.public]
    results = {}
    try:
        modules = _fresh_copy(m, helpers) if helpers else m
    except Exception as exc:  # noqa: BLE001 - the student's module failed to load again
        answer = {"error": probes.describe(exc), "exception": exc}
        modules = None
    for c in checks:
        if modules is not None:
            answer = probes.run_check({"probe": c.probe, "args": c.args}, modules, keep_exception=True)
        verdict = feedback.judge(task, c, answer, lambda mistake, c=c: reference.result(task, c, mistake))
        results[c.name] = (verdict.passed, verdict.message, answer.get("exception"))
    return _Run(task, results, helpers is not None)


def graded(task: Task, m: probes.Modules) -> _Run:
    """The task's public checks on the student's modules, on its own merits (cached)."""
    key = (task.id, id(m.engine), id(m.nn), id(m.gpt))
    if key not in _graded:
        failed = {u for u in task.uses if not graded(TASKS_BY_ID[u], m).passed}
        _graded[key] = on_its_own_merits(task, stand_ins(task, failed), lambda helpers: _run(task, m, helpers))
    return _graded[key]


def check(full_id: str) -> None:
    """Run the public check `full_id` ("task:check") and raise AssertionError with the feedback;
    warn FixEarlierTaskFirst when it passes only with the reference standing in."""
    __tracebackhide__ = True  # pytest: show the feedback, not this function
    task, c = find_check(full_id)
    result = graded(task, student_modules())
    passed, message, cause = result.checks[c.name]
    if passed:
        if result.helped:
            warnings.warn(FixEarlierTaskFirst(f"task {task.id} ({task.title}) " + "; ".join(result.notes)),
                          stacklevel=2)
        return
    text = "\n".join(result.notes + [message])
    raise AssertionError(f"task {task.id} ({task.title}), {c.title}:\n{text}") \
        from (_from_student_code(cause) if cause is not None else None)
