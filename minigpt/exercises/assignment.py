"""An assignment: which tasks a course hands out, their points, what the grader shows.

A TOML file, read by `exercises new`, `exercises check`, `grade`, `exercises
autograder` and `exercises prairielearn` (`--assignment FILE`):

    title = "Week 1: an autograd engine"
    tasks = ["engine"]             # task ids ("1.6") or whole files ("engine", "nn", "gpt")
    hints = "concept"              # what the stubs say: none, concept (default) or full
    visibility = "visible"         # Gradescope visibility of every task
    hidden_checks = "after_due_date"  # a task's hidden checks as an entry of their own, shown then
    timeout_scale = 2.0            # multiplies every check's time limit
    memory_mb = 1024               # memory cap of each worker process
    total = 100                    # scale the points to this total

    [task."1.6"]                   # one task's own settings (quote the id)
    points = 10
    visibility = "after_published"
    hidden_checks = "hidden"

Every key is optional; without a file the assignment is every task with its
points from tasks.py (DEFAULT). Mistakes are one-line AssignmentErrors naming
the file and the key. `load()` also reads the JSON that `to_json()` writes: the
grading bundles carry that, so grading needs no TOML parser.
"""
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Optional, Tuple

from .tasks import TASKS, TASKS_BY_ID, Task

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's words
HINT_LEVELS = ("none", "concept", "full")
FILES = ("engine", "nn", "gpt")
TOP_KEYS = ("title", "tasks", "hints", "visibility", "hidden_checks", "timeout_scale", "memory_mb", "total", "task")
TASK_KEYS = ("points", "visibility", "hidden_checks")


class AssignmentError(ValueError):
    """The assignment file is malformed: the message names the file and the key."""


@dataclass(frozen=True)
class Assignment:
    title: str
    tasks: Tuple[Task, ...]                 # in task order, each with this assignment's points
    visibility: Tuple[Tuple[str, str], ...]  # (task id, Gradescope visibility of its entry)
    hidden_checks: Tuple[Tuple[str, str], ...]  # (task id, visibility): its hidden checks as an entry of their own
    hints: str = "concept"
    timeout_scale: float = 1.0
    memory_mb: int = 1024

    @property
    def task_ids(self) -> Tuple[str, ...]:
        return tuple(t.id for t in self.tasks)

    @property
    def total(self) -> float:
        return round(sum(t.points for t in self.tasks), 2)

    @property
    def files(self) -> Tuple[str, ...]:
        """The student's files the tasks need (engine.py for everything, nn.py for nn and gpt tasks...)."""
        return tuple(m for m in FILES if any(m in t.modules for t in self.tasks))

    def task_visibility(self, task_id: str) -> str:
        return dict(self.visibility).get(task_id, "visible")

    def hidden_visibility(self, task_id: str) -> Optional[str]:
        """The visibility of the task's hidden checks, or None: they are part of the task's entry."""
        return dict(self.hidden_checks).get(task_id)

    def to_json(self) -> str:
        """The assignment as JSON that load() reads back (points fixed, no scaling left)."""
        data = {"title": self.title, "tasks": list(self.task_ids), "hints": self.hints,
                "timeout_scale": self.timeout_scale, "memory_mb": self.memory_mb,
                "task": {t.id: {"points": t.points, "visibility": self.task_visibility(t.id)} for t in self.tasks}}
        for task_id, vis in self.hidden_checks:
            data["task"][task_id]["hidden_checks"] = vis
        return json.dumps(data, indent=2) + "\n"


DEFAULT = Assignment("Mini-GPT from scratch", tuple(TASKS), (), ())


HAS_TOMLLIB = sys.version_info >= (3, 11)  # before 3.11, the same parser is the tomli package


def _toml_loads(text: str):
    if HAS_TOMLLIB:
        import tomllib
        return tomllib.loads(text)
    try:
        import tomli
    except ImportError:
        raise AssignmentError("reading an assignment's TOML on Python < 3.11 needs tomli: pip install tomli") \
            from None
    return tomli.loads(text)


def load(path) -> Assignment:
    """The assignment in a .toml file (or the .json of to_json())."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise AssignmentError(f"cannot read the assignment {path}: {err.strerror or err}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise AssignmentError(f"{path}: not valid JSON: {err}") from None
    else:
        try:
            data = _toml_loads(text)
        except AssignmentError:
            raise
        except Exception as err:  # tomllib.TOMLDecodeError, tomli's: one line with where it is
            raise AssignmentError(f"{path}: not valid TOML: {err}") from None
    if not isinstance(data, dict):
        raise AssignmentError(f"{path}: expected a table of settings")
    return from_dict(data, str(path))


def from_dict(data: dict, source: str = "the assignment") -> Assignment:
    """Validate parsed settings (see the module docstring); `source` names the file in errors."""
    def fail(key: str, problem: str):
        raise AssignmentError(f"{source}: {key}: {problem}")

    _unknown_keys(data, TOP_KEYS, "", fail)
    title = data.get("title", DEFAULT.title)
    if not isinstance(title, str) or not title.strip() or "\n" in title:
        fail("title", "expected one line of text")
    ids = _task_list(data.get("tasks", ["engine", "nn", "gpt"]), fail)
    hints = _choice(data.get("hints", "concept"), HINT_LEVELS, "hints", fail)
    visibility = _choice(data.get("visibility", "visible"), VISIBILITIES, "visibility", fail)
    hidden = data.get("hidden_checks")
    if hidden is not None:
        hidden = _choice(hidden, VISIBILITIES, "hidden_checks", fail)
    scale = _number(data.get("timeout_scale", 1.0), "timeout_scale", fail, 0, 1000)
    memory = data.get("memory_mb", 1024)
    if isinstance(memory, bool) or not isinstance(memory, int) or not 64 <= memory <= 1_000_000:
        fail("memory_mb", f"expected a whole number of megabytes, 64 or more, got {memory!r}")

    per_task = data.get("task", {})
    if not isinstance(per_task, dict):
        fail("task", 'expected tables such as [task."1.6"]')
    points, vis, hidden_vis = {}, {}, {}
    for key, settings in per_task.items():
        where = f'task."{key}"'
        if key not in TASKS_BY_ID:
            nested = f' (quote the id: [task."{key}.{next(iter(settings))}"])' if isinstance(settings, dict) \
                and len(settings) == 1 and isinstance(next(iter(settings.values())), dict) else ""
            fail(where, f"unknown task{nested}; the tasks are {', '.join(TASKS_BY_ID)}")
        if key not in ids:
            fail(where, f"task {key} is not in this assignment's tasks")
        if not isinstance(settings, dict):
            fail(where, "expected a table (points, visibility, hidden_checks)")
        _unknown_keys(settings, TASK_KEYS, where + ".", fail)
        if "points" in settings:
            points[key] = _number(settings["points"], where + ".points", fail, 0, 1e6)
        if "visibility" in settings:
            vis[key] = _choice(settings["visibility"], VISIBILITIES, where + ".visibility", fail)
        if "hidden_checks" in settings:
            hidden_vis[key] = _choice(settings["hidden_checks"], VISIBILITIES, where + ".hidden_checks", fail)

    tasks = [replace(TASKS_BY_ID[i], points=points.get(i, TASKS_BY_ID[i].points)) for i in ids]
    if "total" in data:
        tasks = _scaled(tasks, _number(data["total"], "total", fail, 0, 1e6), fail)
    if not sum(t.points for t in tasks) > 0:
        fail("task", "the tasks are worth 0 points in all")
    return Assignment(
        title=title.strip(), tasks=tuple(tasks),
        visibility=tuple((i, vis.get(i, visibility)) for i in ids if vis.get(i, visibility) != "visible"),
        hidden_checks=tuple((i, hidden_vis.get(i, hidden)) for i in ids
                            if hidden_vis.get(i, hidden) is not None and _has_hidden(TASKS_BY_ID[i])),
        hints=hints, timeout_scale=float(scale), memory_mb=memory)


def _has_hidden(task: Task) -> bool:
    return any(not c.public for c in task.checks)


def _unknown_keys(table: dict, known, prefix: str, fail) -> None:
    for key in table:
        if key not in known:
            fail(prefix + key, f"unknown key; the keys are {', '.join(known)}")


def _choice(value, choices, key: str, fail) -> str:
    if value not in choices:
        fail(key, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _number(value, key: str, fail, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        fail(key, f"expected a number above {low:g}, got {value!r}")
    return value


def _task_list(value, fail) -> Tuple[str, ...]:
    """Task ids in task order, from ids and file names."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        fail("tasks", 'expected a list of task ids or files, such as ["engine", "2.1"]')
    chosen = set()
    for item in value:
        if item in FILES:
            chosen.update(t.id for t in TASKS if t.module == item)
        elif isinstance(item, str) and item in TASKS_BY_ID:
            chosen.add(item)
        else:
            fail("tasks", f"unknown task {item!r}; the tasks are {', '.join(TASKS_BY_ID)} (or engine, nn, gpt)")
    return tuple(t.id for t in TASKS if t.id in chosen)


def _scaled(tasks, total: float, fail):
    """Points scaled to sum to `total`, to the hundredth (the last task takes the rounding)."""
    now = sum(t.points for t in tasks)
    if not now > 0:
        fail("total", "the tasks are worth 0 points, there is nothing to scale")
    scaled = [round(t.points * total / now, 2) for t in tasks]
    scaled[-1] = round(total - sum(scaled[:-1]), 2)
    return [replace(t, points=p) for t, p in zip(tasks, scaled)]


def example() -> str:
    """A commented example file: `minigpt exercises assignment` prints it."""
    ids = ", ".join(f'"{t.id}"' for t in TASKS if t.module == "engine")
    return f'''\
# An assignment of the minigpt exercises. Every key is optional.
title = "Week 1: an autograd engine"

# task ids, or whole files: "engine" (tasks 1.x), "nn" (2.x), "gpt" (3.x)
tasks = [{ids}]

# what the stubs say where the student writes code:
#   none     the task's id and title only
#   concept  what to compute and why, with the shapes (default)
#   full     spelled out nearly as code
hints = "concept"

# Gradescope visibility: visible, hidden, after_due_date or after_published
visibility = "visible"         # every task's entry (default visible)
hidden_checks = "after_due_date"  # each task's hidden checks as an entry of their own
                               # (leave it out: they count inside the task's entry)

timeout_scale = 1.0            # multiplies every check's time limit (2 or 3 on a slow grader)
memory_mb = 1024               # memory cap of each worker process, in MB
# total = 100                  # scale the points so that they add up to this

# one task's settings: quote the id
[task."1.7"]
points = 8
visibility = "after_published"
'''
