"""Exercise workspaces: stubs cut from the solutions, the contract's names, the public tests.

The stubs are made from the reference solutions by cutting out the marked solution
blocks, so they cannot drift from them; these tests check that they keep every
name and signature of the contract (API.md, "Exercises"), that a fresh workspace
runs under plain pytest with every public test failing, and that the same tests
pass once the solutions are dropped in.
"""
import inspect
import re
import subprocess
import sys

import pytest

from exercises_data.submissions import write_submission
from minigpt.cli import main
from minigpt.exercises import probes, stubs
from minigpt.exercises.mistakes import MISTAKES
from minigpt.exercises.reference import SOLUTIONS_DIR, solution_sources
from minigpt.exercises.tasks import MAX_SCORE, TASKS
from minigpt.exercises.workspace import WorkspaceError, new_workspace, workspace_files

# The contract of the student's workspace: parameters of each name, in order, with the
# defaults it fixes (API.md, "Exercises"), and the methods Value must have.
CONTRACT = {
    "engine": {"Value": [("data", None), ("_children", ()), ("_op", "")]},
    "nn": {
        "Module": [], "Neuron": [("nin", None), ("nonlin", True)],
        "Layer": [("nin", None), ("nout", None), ("nonlin", True)], "MLP": [("nin", None), ("nouts", None)],
        "Linear": [("in_features", None), ("out_features", None), ("bias", True)],
    },
    "gpt": {
        "Embedding": [("num_embeddings", None), ("embedding_dim", None)],
        "LayerNorm": [("dim", None), ("eps", 1e-5)],
        "FeedForward": [("embed_dim", None), ("hidden_dim", None)],
        "SelfAttention": [("embed_dim", None)],
        "TransformerBlock": [("embed_dim", None), ("num_heads", None)],
        "MiniGPT": [("vocab_size", None), ("embed_dim", None), ("num_heads", None), ("num_layers", None),
                    ("max_seq_len", None)],
        "cross_entropy_loss": [("logits", None), ("targets", None)],
        "generate": [("model", None), ("start_ids", None), ("max_new_tokens", None), ("temperature", 1.0)],
    },
}
VALUE_METHODS = ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                 "__rtruediv__", "__neg__", "__pow__", "exp", "log", "tanh", "relu", "backward"]


def signature_of(obj):
    if inspect.isclass(obj) and obj.__init__ is object.__init__:
        return []  # no __init__ of its own (PyPy would show object.__init__'s parameters)
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = [p for p in inspect.signature(target).parameters.values() if p.name != "self"]
    return [(p.name, None if p.default is inspect.Parameter.empty else p.default) for p in params
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


@pytest.fixture(scope="module")
def stub_modules():
    return probes.load_trio(stubs.stubs(), "<stub ")


@pytest.mark.parametrize("module, name", [(m, n) for m, names in CONTRACT.items() for n in names])
def test_every_contract_name_is_in_the_stubs_with_its_signature(stub_modules, module, name):
    obj = getattr(getattr(stub_modules, module), name)
    assert signature_of(obj) == CONTRACT[module][name]


def test_stub_value_has_every_operation_and_the_attention_forward_takes_causal(stub_modules):
    for method in VALUE_METHODS:
        assert callable(getattr(stub_modules.engine.Value, method)), method
    v = stub_modules.engine.Value(2)
    assert (v.data, v.grad, v._op, set(v._prev)) == (2.0, 0.0, "", set())  # given, not a task
    forward = inspect.signature(stub_modules.gpt.SelfAttention.forward).parameters
    assert list(forward) == ["self", "x", "causal"] and forward["causal"].default is True


def test_stubs_are_regenerated_identically_and_hold_no_solution_code():
    first, again = stubs.stubs(), stubs.stubs()
    assert first == again
    for name, text in first.items():
        assert "SOLUTION" not in text
        assert stubs.make_stub(text, name) == text  # nothing left to cut
        compile(text, f"{name}.py", "exec")
    # a line that exists only inside a solution block is gone
    assert "self.grad += (1 - t ** 2) * out.grad" in solution_sources()["engine"]
    assert "self.grad += (1 - t ** 2) * out.grad" not in first["engine"]


def test_every_task_with_code_has_a_stub_message_and_check_only_tasks_say_so():
    messages = set(re.findall(r'NotImplementedError\("Task (\d+\.\d+): ', "".join(stubs.stubs().values())))
    check_only = {"1.8", "3.9"}  # accumulation and model sanity: no code of their own
    assert messages == {t.id for t in TASKS} - check_only


@pytest.mark.parametrize("text, problem", [
    ("# BEGIN SOLUTION 1.1: a\n# BEGIN SOLUTION 1.1: b\n# END SOLUTION\n", "inside the block opened at line 1"),
    ("x = 1\n# END SOLUTION\n", "END SOLUTION without a BEGIN"),
    ("# BEGIN SOLUTION 1.1: a\nx = 1\n", "has no END SOLUTION"),
    ("# BEGIN SOLUTION 3.2: a\n# END SOLUTION\n", "task 3.2 is not a task of engine.py"),
])
def test_malformed_markers_are_refused_with_the_line(text, problem):
    with pytest.raises(stubs.MarkerError, match=re.escape(problem)):
        stubs.make_stub(text, "engine")


def test_every_typical_mistake_still_applies_to_the_solutions():
    for name, mistake in MISTAKES.items():
        changed = mistake.apply(solution_sources())
        assert changed[mistake.file] != solution_sources()[mistake.file], name


# --------------------------------------------------------------------------------------
# A fresh workspace
# --------------------------------------------------------------------------------------
def test_new_workspace_writes_stubs_tests_and_readme(tmp_path):
    written = new_workspace(tmp_path / "ws")
    names = sorted(p.relative_to(tmp_path / "ws").as_posix() for p in written)
    assert names == ["README.md", "engine.py", "gpt.py", "nn.py", "pytest.ini", "tests/test_engine.py",
                     "tests/test_gpt.py", "tests/test_nn.py"]
    readme = (tmp_path / "ws" / "README.md").read_text()
    for task in TASKS:
        assert f"### {task.id} {task.title} ({task.points:g} points" in readme
        assert f"    {task.marker}: " in (tmp_path / "ws" / "pytest.ini").read_text()
    assert f"Total: {MAX_SCORE:g} points" in readme and "explain_backward" in readme and "$" not in readme


def test_new_workspace_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="not empty"):
        new_workspace(tmp_path)
    assert main(["exercises", "new", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err and "nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def run_pytest(folder, *args):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def public_count(module=None):
    files = workspace_files()
    return sum(text.count("    check(") for path, text in files.items()
               if path.startswith("tests/") and (module is None or path == f"tests/test_{module}.py"))


@pytest.mark.slow  # about 7 s; the stubs score 0 on every task in the grader test of the default run
def test_plain_pytest_in_a_fresh_workspace_fails_every_public_check(tmp_path):
    new_workspace(tmp_path)
    code, out = run_pytest(tmp_path)
    assert code == 1, out
    assert out.rstrip().splitlines()[-1].startswith(f"{public_count()} failed in ")  # no pass, no error
    assert "not implemented yet: Task 1.1" in out
    code, out = run_pytest(tmp_path, "-m", "task3_2")  # one task's tests, by its marker
    assert code == 1 and re.search(r"\b3 failed, \d+ deselected", out), out


@pytest.mark.slow  # about 10 s; the same checks pass in the grader's full-marks test of the default run
def test_plain_pytest_passes_every_public_check_with_the_solutions_in_place(tmp_path):
    new_workspace(tmp_path)
    write_submission(tmp_path, "solutions")  # the student's three files, all correct
    code, out = run_pytest(tmp_path)
    assert code == 0, out
    assert f"{public_count()} passed" in out


def test_public_test_failure_shows_feedback_and_the_students_own_line(tmp_path):
    new_workspace(tmp_path)
    write_submission(tmp_path, "solutions", [("gpt", "inv_std = (var + self.eps) ** -0.5",
                                              "inv_std = 1 / (var ** 0.5 + self.eps)")])
    code, out = run_pytest(tmp_path, "-m", "task3_2")
    assert code == 1
    assert "likely mistake: eps is added outside the square root" in out
    assert "numbers differ (tolerance 1e-09 + 1e-06 * |expected|)" in out


def test_exercises_check_runs_the_public_checks_in_workers(tmp_path, capsys):
    new_workspace(tmp_path)
    assert main(["exercises", "check", "1.1", "2.5", "--dir", str(tmp_path)]) == 1  # checks failed, like pytest
    out = capsys.readouterr().out
    assert "0 / 10 points" in out and "1.1   Add and multiply" in out and "not implemented yet: Task 2.5" in out
    assert "(hidden check)" not in out  # public checks only
    assert main(["exercises", "check", "9.9", "--dir", str(tmp_path)]) == 2
    assert "unknown task '9.9'" in capsys.readouterr().err
    (tmp_path / "engine.py").write_text((SOLUTIONS_DIR / "engine.py").read_text())
    assert main(["exercises", "check", "1.1", "--dir", str(tmp_path)]) == 0  # every check passes
    assert "4 / 4 points" in capsys.readouterr().out


def test_the_teaching_guide_lists_the_tasks_as_the_task_table_has_them():
    from pathlib import Path
    guide = (Path(__file__).resolve().parent.parent / "docs" / "teaching.md").read_text()
    rows = re.findall(r"^\| (\d\.\d) \| (.+?) \| (\d+) \| (\w+)\.py \|$", guide, re.M)
    assert rows == [(t.id, t.title, f"{t.points:g}", t.module) for t in TASKS]
    assert f"Total {MAX_SCORE:g}." in guide
