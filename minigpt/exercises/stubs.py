"""Student stubs, made from the reference solutions by cutting out marked blocks.

A solution block is marked like this (the messages are one line each):

        # BEGIN SOLUTION 3.2: mean = sum(x) / D; var = ...; return gamma_i * ...
        # concept: normalise each vector to mean 0 and variance 1, then scale and shift ...
        ...the solution...
        # END SOLUTION

The BEGIN line's message is the `full` hint (nearly the code); the `# concept:` line
right after it says what to compute and why, with the shapes, but not how to write
it. The block becomes, at the same indentation, at hint level

    full:     raise NotImplementedError("Task 3.2: mean = sum(x) / D; var = ...")
    concept:  # Task 3.2 (LayerNorm): normalise each vector ...   (wrapped comment lines)
              raise NotImplementedError("Task 3.2: LayerNorm")
    none:     raise NotImplementedError("Task 3.2: LayerNorm")

and a task left out of an assignment (`tasks`) says so and gives no hint.
Everything outside the blocks (signatures, docstrings, helpers) is kept as it is,
so the stubs cannot drift from the solutions they come from.
"""
import json
import re
import textwrap
from typing import Collection, Dict, Optional

from .reference import solution_sources
from .tasks import TASKS_BY_ID

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<task>\d+\.\d+): (?P<message>\S.*?)\s*$")
CONCEPT = re.compile(r"^[ \t]*# concept: (?P<message>\S.*?)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
HINT_LEVELS = ("none", "concept", "full")
WIDTH = 100  # of the concept comment lines, indentation included


class MarkerError(ValueError):
    """The solution markers of a file are malformed."""


def _stub_lines(indent: str, task_id: str, full: str, concept: Optional[str], hints: str, selected: bool) -> list:
    title = TASKS_BY_ID[task_id].title
    if not selected:
        message = f"Task {task_id}: {title} (not in this assignment)"
        return [f"{indent}raise NotImplementedError({json.dumps(message)})\n"]
    if hints == "full":
        return [f"{indent}raise NotImplementedError({json.dumps(f'Task {task_id}: {full}')})\n"]
    lines = []
    if hints == "concept":
        wrapped = textwrap.wrap(f"Task {task_id} ({title}): {concept}", WIDTH, initial_indent=indent + "# ",
                                subsequent_indent=indent + "#   ", break_on_hyphens=False)
        lines = [line + "\n" for line in wrapped]
    return lines + [f"{indent}raise NotImplementedError({json.dumps(f'Task {task_id}: {title}')})\n"]


def make_stub(source: str, name: str, hints: str = "concept", tasks: Optional[Collection[str]] = None) -> str:
    """The stub of one solution file (`name` is engine, nn or gpt, for messages) at a hint
    level (none, concept, full); blocks of tasks not in `tasks` (all by default) give no hint."""
    if hints not in HINT_LEVELS:
        raise ValueError(f"unknown hint level {hints!r}; the levels are {', '.join(HINT_LEVELS)}")
    out, open_at, block, no_concept = [], None, None, []
    for lineno, line in enumerate(source.splitlines(keepends=True), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if block is not None and not begin:  # the line after a BEGIN: its concept, if it is one
            concept = CONCEPT.match(line)
            if concept is None and hints == "concept" and block["selected"]:
                no_concept.append(block)
            out += _stub_lines(block["indent"], block["task"], block["message"],
                               concept["message"] if concept else None, hints, block["selected"])
            block = None
            if concept:
                continue
        if begin:
            if open_at:
                raise MarkerError(f"{name}.py line {lineno}: BEGIN SOLUTION inside the block opened at line {open_at}")
            task = TASKS_BY_ID.get(begin["task"])
            if task is None or task.module != name:
                raise MarkerError(f"{name}.py line {lineno}: task {begin['task']} is not a task of {name}.py")
            open_at = lineno
            block = {"line": lineno, "indent": begin["indent"], "task": begin["task"], "message": begin["message"],
                     "selected": tasks is None or begin["task"] in tasks}
        elif end:
            if not open_at:
                raise MarkerError(f"{name}.py line {lineno}: END SOLUTION without a BEGIN")
            open_at = None
        elif not open_at:
            out.append(line)
    if open_at:
        raise MarkerError(f"{name}.py: the block opened at line {open_at} has no END SOLUTION")
    if no_concept:
        raise MarkerError(f"{name}.py line {no_concept[0]['line']}: the block of task {no_concept[0]['task']} has "
                          f"no '# concept:' line right after its BEGIN SOLUTION")
    return "".join(out)


def stubs(hints: str = "concept", tasks: Optional[Collection[str]] = None) -> Dict[str, str]:
    """{'engine': stub text, 'nn': ..., 'gpt': ...} at a hint level; see make_stub."""
    return {name: make_stub(text, name, hints, tasks) for name, text in solution_sources().items()}
