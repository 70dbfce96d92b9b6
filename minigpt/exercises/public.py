"""The workspace's public tests: one check on the student's own modules, in-process.

The generated tests/test_*.py of a workspace call `check("3.2:forward")`. It
imports the workspace's engine, nn and gpt the ordinary way (pytest.ini puts the
workspace on sys.path), runs the same probe and the same judge as the grader, and
fails with the grader's feedback. An exception from the student's code is chained
to the failure, so pytest shows its traceback too. (The grader runs the same checks
in a separate process; `minigpt exercises check` does that for the public ones.)
"""
import importlib
import os

from . import feedback, probes, reference
from .tasks import find_check


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


def check(full_id: str) -> None:
    """Run the public check `full_id` ("task:check") and raise AssertionError with the feedback."""
    __tracebackhide__ = True  # pytest: show the feedback, not this function
    task, c = find_check(full_id)
    answer = probes.run_check({"probe": c.probe, "args": c.args}, student_modules(), keep_exception=True)
    verdict = feedback.judge(task, c, answer, lambda mistake: reference.result(task, c, mistake))
    if not verdict.passed:
        cause = answer.get("exception")
        raise AssertionError(f"task {task.id} ({task.title}), {c.title}:\n{verdict.message}") \
            from (_from_student_code(cause) if cause is not None else None)
