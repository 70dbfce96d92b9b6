"""Later parts on their own merits: what of the reference stands in for failed tasks,
and which of the two runs of a task counts.

When a task uses tasks that failed (say the student's LayerNorm is wrong, and this
is the TransformerBlock), it runs with the reference standing in for the failed
parts: engine.py as a whole file (an engine task failed), the methods of nn.Module
the student writes (task 2.1 failed), or just the failed classes or functions
(LayerNorm, Linear, cross_entropy_loss, ...) built on the student's own engine
(probes.Modules.substitute). Full marks that way are the task's score, and its
feedback says which task to fix first; otherwise it also runs as submitted and
keeps the better of the two.

The grader (grader.py, student code in workers) and the workspace's pytest checks
(public.py, in-process) both decide this way, so a check gives the same verdict
under pytest, under `minigpt exercises check` and on the grader.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from .tasks import ENGINE_TASKS, TASKS_BY_ID, Task


@dataclass
class StandIns:
    """What of the reference stands in for the failed tasks a task uses."""
    files: Sequence[str]       # whole modules: "engine"
    components: Sequence[str]  # contract names: "Module" (its methods), "LayerNorm", "Linear", ...
    fixes: Sequence[str]       # the failed tasks, in order

    def __bool__(self):
        return bool(self.files or self.components)

    def describe(self) -> str:
        return _and([f"the reference {f}.py" for f in self.files] + [f"the reference {_named(c)}" for c in self.components])

    def failed_tasks(self) -> str:
        if len(self.fixes) == 1:
            return f"task {self.fixes[0]} fails"
        return f"tasks {_and(self.fixes)} fail"


def _named(component: str) -> str:
    """How a component reads in feedback: "Value.+*" -> "Value's + and *"."""
    return {"Value.+*": "Value's + and *", "Value.**": "Value's **"}.get(component, component)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def stand_ins(task: Task, failed) -> StandIns:
    """The stand-ins for `task` when the tasks in `failed` (ids) failed.

    A task outside engine.py gets the reference engine.py as a whole when an engine
    task failed; an engine task itself (1.3 built on + * and **, 1.7 backward run over
    + and *) gets the reference's methods of those operations on the student's own
    Value, so that its own code still runs."""
    fixes = [u for u in task.uses if u in failed]
    whole_engine = task.module != "engine" and any(u in ENGINE_TASKS for u in fixes)
    files = ["engine"] if whole_engine else []
    components = [TASKS_BY_ID[u].component for u in fixes
                  if TASKS_BY_ID[u].component and not (whole_engine and u in ENGINE_TASKS)]
    return StandIns(files, components, fixes)


def on_its_own_merits(task: Task, helpers: StandIns, run: Callable[[Optional[StandIns]], object]):
    """The task's result, on its own merits. `run(stand_ins)` runs and judges the task's
    checks (with those stand-ins, or as submitted for None) and returns a result with
    .passed, .fraction, .score and .notes (a list). When tasks it uses failed, it runs
    first with the reference standing in for them; only if that falls short of full
    marks does it also run as it is, and the better of the two counts."""
    if not helpers:
        return run(None)
    helped = run(helpers)
    fixes = helpers.failed_tasks()
    if helped.passed:
        helped.notes.insert(0, f"passes with {helpers.describe()} in place of yours; {fixes}: fix that first")
        return helped
    own = run(None)
    if helped.fraction > own.fraction:
        helped.notes.insert(0, f"scores {helped.score:g}/{task.points:g} with {helpers.describe()} in place "
                               f"of yours ({own.score:g} with your own); {fixes}: fix that first")
        return helped
    # no better: the problem is in the task's own code. Of two runs that score the same, the
    # helped one's messages are about this task's code, not the failed ones' (in a fresh
    # workspace: "not implemented: Task 3.8", not "Task 3.6").
    kept = helped if helped.fraction == own.fraction else own
    kept.notes.append(f"with {helpers.describe()} in place of yours it does no better, so the problem is in "
                      f"this task's own code ({fixes} as well)")
    return kept
