"""Hostile submissions cost only what they should.

Student code runs in worker processes; the score comes from the raw numbers the
worker returns and is computed in the grader. So printing or writing fake results,
patching comparison helpers, exiting on import, looping forever, eating memory,
crashing the interpreter, a syntax error or a missing file each fail the tasks they
touch, with a clear message, and nothing else; the results file is always the
grader's own valid JSON.

The default run grades each case on a few tasks (those it should cost and some it
should not); `pytest -m slow` grades each one in full and checks the total.
"""
import dataclasses
import json
import platform

import pytest

from exercises_data.submissions import feedback_of, scores, write_submission
from minigpt.cli import main
from minigpt.exercises import grader
from minigpt.exercises.grader import grade
from minigpt.exercises.sandbox import Limits
from minigpt.exercises.tasks import TASKS, TASKS_BY_ID

FULL = {t.id: float(t.points) for t in TASKS}
# The checks' own time limits: no case depends on how fast the machine is. The memory hog
# stops at its cap by size, with time to spare (filling 512 MB took over a second on a busy
# machine); the endless loop's full grade pays half its time limits.
LIMITS = Limits(memory_mb=512)
# PyPy needs more than 256 MB of address space to start at all (its GC reserves it up front)
HOG_CAP_MB = 512 if platform.python_implementation() == "PyPy" else 256
CASE_LIMITS = {"memory_hog": Limits(memory_mb=HOG_CAP_MB, timeout_scale=4.0),
               "endless_loop": Limits(memory_mb=512, timeout_scale=0.5)}

PATCH_HELPERS = '''import builtins, json, math
math.isclose = lambda *args, **kwargs: True
builtins.abs = lambda x: 0.0
builtins.round = lambda x, *n: 0
json.dumps = lambda *args, **kwargs: '{"score": 100, "max_score": 100, "tests": []}'
json.loads = lambda *args, **kwargs: {"event": "done", "raw": {}}
'''


def fake_results(path):
    return f'''import json as _json
_fake = {{"score": 100, "max_score": 100, "tests": [{{"name": "all", "score": 100, "max_score": 100}}]}}
print(_json.dumps(_fake))
open({str(path)!r}, "w").write(_json.dumps(_fake))
open("results.json", "w").write(_json.dumps(_fake))
'''


# name -> (base, edits, prepend, drop, {task: expected score} for the tasks it costs,
#          words its feedback holds, tasks to grade in the default run)
CASES = {
    "exit_on_import": ("solutions", [], {"nn": "import sys\nsys.exit(0)\n"}, [],
                       {t.id: 0.0 for t in TASKS if t.module != "engine"},
                       "importing nn.py raised SystemExit", ["1.1", "2.5", "3.7"]),
    "os_exit_on_import": ("solutions", [], {"gpt": "import os\nos._exit(3)\n"}, [],
                          {t.id: 0.0 for t in TASKS if t.module == "gpt"},
                          "exited with status 3 while importing gpt.py", ["1.1", "2.5", "3.7"]),
    "endless_loop": ("solutions", [("engine", "        t = math.tanh(self.data)\n",
                                    "        while True:\n            pass\n")], {}, [],
                     {"1.5": round(4 * 3 / 7, 2)}, "took longer than", ["1.5", "3.3"]),
    "memory_hog": ("solutions", [("engine", "        out = Value(math.exp(self.data), (self,), 'exp')\n",
                                  "        hog = []\n        while True:\n            hog.append(bytearray(10 ** 7))\n")],
                   {}, [], {"1.4": round(3 * 2 / 5, 2)}, "ran out of memory", ["1.4", "3.7"]),
    "segfault": ("solutions", [("engine", "        out = Value(math.log(self.data), (self,), 'log')\n",
                                "        import os, signal\n        os.kill(os.getpid(), signal.SIGSEGV)\n")], {}, [],
                 {"1.4": round(3 * 3 / 5, 2)}, "killed by signal SIGSEGV", ["1.4"]),
    "syntax_error": ("solutions", [("nn", "class Linear(Module):", "class Linear(Module)")], {}, [],
                     {t.id: 0.0 for t in TASKS if t.module != "engine"}, "SyntaxError", ["1.1", "2.5", "3.7"]),
    "missing_file": ("solutions", [], {}, ["gpt"], {t.id: 0.0 for t in TASKS if t.module == "gpt"},
                     "gpt.py is missing", ["2.5", "3.1"]),
    # engine.py cannot reach minigpt's fused engine: the engine tasks get nothing, while nn.py and
    # gpt.py, which are right, keep their credit with the reference engine standing in
    "imports_minigpt": ("solutions", [], {"engine": "from minigpt.engine import Value as _Fused\n"}, [],
                        {t.id: 0.0 for t in TASKS if t.module == "engine"}, "No module named 'minigpt'",
                        ["1.1", "2.5"]),
    "patched_helpers_on_stubs": ("stubs", [], {"engine": PATCH_HELPERS}, [], dict.fromkeys(FULL, 0.0),
                                 "not implemented yet", ["1.1", "3.2"]),
    "patched_helpers_on_a_solution": ("solutions", [], {"engine": PATCH_HELPERS}, [], {}, "", ["1.1", "3.2", "3.7"]),
    "prints_megabytes": ("solutions", [], {"engine": "print('x' * 5_000_000)\n"}, [], {}, "", ["1.1", "1.5"]),
}


def build(tmp_path, name):
    base, edits, prepend, drop, costs, says, quick = CASES[name]
    folder = write_submission(tmp_path / name, base, edits, prepend, drop)
    return folder, dict(FULL, **costs), says, quick


@pytest.mark.parametrize("name", [n for n in CASES if n != "endless_loop"])  # that one has a test of its own
def test_a_hostile_submission_costs_only_what_it_should(tmp_path, name):
    folder, expected, says, quick = build(tmp_path, name)
    report = grade(folder, quick, limits=CASE_LIMITS.get(name, LIMITS))
    assert scores(report) == {t: expected[t] for t in quick}
    # the hog stops at its memory cap (in exp, exp_negative and the hidden exp_large), never at a time limit
    assert report.stops.get("MemoryLimit", 0) == (3 if name == "memory_hog" else 0)
    assert "Timeout" not in report.stops
    if says:
        lost = [t for t in quick if expected[t] < FULL[t]]
        assert says in feedback_of(report, lost[0]), feedback_of(report, lost[0])


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_a_hostile_submission_graded_in_full(tmp_path, name):
    folder, expected, _, _ = build(tmp_path, name)
    report = grade(folder, limits=CASE_LIMITS.get(name, LIMITS))
    assert scores(report) == expected


def test_fake_results_printed_and_written_are_ignored(tmp_path, capsys):
    results = tmp_path / "results" / "results.json"
    results.parent.mkdir()  # so that the student's code can write there too
    folder = write_submission(tmp_path / "sub", "stubs", prepend={"engine": fake_results(results)})
    assert main(["grade", str(folder), "--results", str(results), "--tasks", "1.1", "1.2", "2.2"]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and len(data["tests"]) == 3 and all(t["score"] == 0 for t in data["tests"])
    assert '"score": 100' in data["tests"][0]["output"]  # shown as what the code printed, nothing more
    assert "not used for grading" in data["tests"][0]["output"]
    assert not (folder / "results.json").exists()  # the worker ran on a copy, elsewhere
    assert "results: " in capsys.readouterr().out


def test_a_hang_costs_its_own_checks_and_nothing_else(tmp_path, monkeypatch):
    """tanh hangs: its checks time out one by one, each worker killed and the next check
    run in a fresh one, so relu's checks still count; FeedForward (its GELU uses tanh)
    passes with the reference engine standing in. (The tanh checks get half a second
    here and relu's their usual 5 s, so that the test is quick and a busy machine
    cannot make relu time out.)"""
    folder, expected, _, _ = build(tmp_path, "endless_loop")
    quick = {}  # the checks that run tanh: 1.5's, and 1.8's tanh(x) + relu(x) + x (graded for 3.3, unreported)
    for tid in ("1.5", "1.8"):
        task = TASKS_BY_ID[tid]
        checks = tuple(dataclasses.replace(c, timeout=0.5) if "tanh" in c.name else c for c in task.checks)
        quick[tid] = dataclasses.replace(task, checks=checks)
        monkeypatch.setitem(TASKS_BY_ID, tid, quick[tid])
    monkeypatch.setattr(grader, "TASKS", [quick.get(t.id, t) for t in TASKS])  # the table grade() reads
    report = grade(folder, ["1.5", "3.3"])
    assert scores(report) == {"1.5": expected["1.5"], "3.3": 5.0}
    result = report.tasks[0]
    passed = {c.check.name: c.passed for c in result.checks}
    assert passed == {"tanh": False, "tanh_negative": False, "relu_positive": True, "relu_negative": True,
                      "tanh_zero": False, "tanh_large": False, "relu_small": True}
    assert "took longer than 0.5 s" in result.checks[0].message
    assert report.stops == {"Timeout": 4}  # (the reported tasks' checks)
    assert report.budget_spent == pytest.approx(5 * 0.4, abs=0.1)  # 1.5's four, and 1.8's one


ENDLESS_GENERATE = ("gpt", "    ids = list(start_ids)\n    for _ in range(max_new_tokens):",
                    "    ids = list(start_ids)\n    while True:\n        pass\n    for _ in range(max_new_tokens):")


def test_once_the_time_budget_is_spent_a_hung_task_fails_fast(tmp_path):
    """generate never returns. Its first check may run a fifth of its limit, then draws on
    the submission's budget (1 s here); when that runs out the check is stopped, and the
    task's other checks fail at once instead of each waiting for its limit. MiniGPT and
    Add, which generate's task uses (so they are graded before it), keep their points."""
    folder = write_submission(tmp_path / "loops", "solutions", [ENDLESS_GENERATE])
    report = grade(folder, ["1.1", "3.6", "3.8"], limits=Limits(timeout_scale=0.25, hang_budget=4.0))
    assert scores(report) == {"1.1": 4.0, "3.6": 6.0, "3.8": 0.0}
    assert report.stops == {"TimeBudget": 5}  # one check stopped, four never run
    assert report.budget_spent >= 1.0
    messages = [c.message for c in report.tasks[2].checks]
    assert "the submission's time budget for slow checks (1 s in all) ran out" in messages[0]
    assert all(m.startswith("not run: the submission's time budget") for m in messages[1:])


@pytest.mark.slow
def test_an_endless_generate_costs_a_bounded_time_and_nothing_else(tmp_path):
    """The whole submission, all tasks at once: generate's first check hangs to its limit
    (10 s at half the time limits; 8 of them past its grace), the second one until the
    rest of the 10 s budget is spent, the other three fail at once; every other task
    keeps its points."""
    folder = write_submission(tmp_path / "loops", "solutions", [ENDLESS_GENERATE])
    report = grade(folder, limits=Limits(timeout_scale=0.5, hang_budget=20.0))
    assert scores(report) == dict(FULL, **{"3.8": 0.0})
    assert report.stops == {"Timeout": 1, "TimeBudget": 4}
    assert report.budget_spent >= 10.0
