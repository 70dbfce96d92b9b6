"""Student stubs, made from the reference solutions by cutting out marked blocks.

A solution block is marked like this (the message is one line):

        # BEGIN SOLUTION 3.2: mean = sum(x) / D; var = ...
        ...the solution...
        # END SOLUTION

and becomes, at the same indentation,

        raise NotImplementedError("Task 3.2: mean = sum(x) / D; var = ...")

Everything outside the blocks (signatures, docstrings, helpers) is kept as it is,
so the stubs cannot drift from the solutions they come from.
"""
import json
import re
from typing import Dict

from .reference import solution_sources
from .tasks import TASKS_BY_ID

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION (?P<task>\d+\.\d+): (?P<message>\S.*?)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


class MarkerError(ValueError):
    """The solution markers of a file are malformed."""


def make_stub(source: str, name: str) -> str:
    """The stub of one solution file (`name` is engine, nn or gpt, for messages)."""
    out, open_at = [], None
    for lineno, line in enumerate(source.splitlines(keepends=True), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at:
                raise MarkerError(f"{name}.py line {lineno}: BEGIN SOLUTION inside the block opened at line {open_at}")
            task = TASKS_BY_ID.get(begin["task"])
            if task is None or task.module != name:
                raise MarkerError(f"{name}.py line {lineno}: task {begin['task']} is not a task of {name}.py")
            open_at = lineno
            message = json.dumps(f"Task {begin['task']}: {begin['message']}")
            out.append(f"{begin['indent']}raise NotImplementedError({message})\n")
        elif end:
            if not open_at:
                raise MarkerError(f"{name}.py line {lineno}: END SOLUTION without a BEGIN")
            open_at = None
        elif not open_at:
            out.append(line)
    if open_at:
        raise MarkerError(f"{name}.py: the block opened at line {open_at} has no END SOLUTION")
    return "".join(out)


def stubs() -> Dict[str, str]:
    """{'engine': stub text, 'nn': ..., 'gpt': ...}."""
    return {name: make_stub(text, name) for name, text in solution_sources().items()}
