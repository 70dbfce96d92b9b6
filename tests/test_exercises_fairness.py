"""A bug costs its own task, never the tasks built on it, whatever the student's style.

Four independent solutions (tests/exercises_data: naive, walker, registry, explicit)
find their parameters in four ways: walking vars() of their own Module instances,
walking __dict__ and asking sub-modules, a PyTorch-style __setattr__ registry, and
explicit per-class lists and generators. Each scores full marks, and each of five
single-bug variants loses at most 0.5 point outside the buggy task (the reference
standing in for the buggy part must be found by the student's parameters()). Also:
the checks of the topological order judge the sort, not the local derivatives; the
typical mistakes the grader names; no "-0" in feedback; and the workspace's pytest
checks agree with the grader when an earlier task fails.

The default run grades one variant of the hardest style on the tasks it touches;
`pytest -m slow` grades every style and variant in full (benchmarks/bench_fairness.py
prints the same figures).
"""
import re
import subprocess
import sys

import pytest

from exercises_data.submissions import (STYLES, VARIANTS, feedback_of, graded, lost_elsewhere, scores,
                                        write_submission, write_variant)
from minigpt.cli import main
from minigpt.exercises import feedback, probes
from minigpt.exercises.grader import grade
from minigpt.exercises.tasks import TASKS, TASKS_BY_ID
from minigpt.exercises.workspace import new_workspace

FULL = {t.id: float(t.points) for t in TASKS}
VARIANT_CASES = [(style, v) for style in STYLES for v in VARIANTS[style]]


def variant(style, bug):
    return next(v for v in VARIANTS[style] if v.bug == bug)


# --------------------------------------------------------------------------------------
# Stand-ins found by any parameters()
# --------------------------------------------------------------------------------------
def test_a_layernorm_bug_costs_only_layernorm_with_a_registry_style_module(tmp_path):
    """PyTorch style: the student's Module.__setattr__ registers sub-modules, so the
    reference LayerNorm standing in must be an instance of the student's Module, built
    through the student's Module.__init__."""
    report = grade(write_variant(tmp_path, "registry", variant("registry", "layernorm_variance")), ["3.2", "3.5", "3.6"])
    assert scores(report) == {"3.2": 1.2, "3.5": 6.0, "3.6": 6.0}, feedback_of(report, "3.6")
    assert "passes with the reference LayerNorm in place of yours; task 3.2 fails: fix that first" \
        in feedback_of(report, "3.6")


def test_stand_ins_derive_from_the_students_module_and_keep_the_references_methods():
    from minigpt.exercises.reference import solution_sources
    from exercises_data.submissions import sources
    m = probes.load_trio(sources("registry"), "<registry ")
    m.substitute(["LayerNorm", "SelfAttention"], solution_sources())
    ln, attn = m.gpt.LayerNorm(3), m.gpt.SelfAttention(2)
    assert isinstance(ln, m.nn.Module) and isinstance(attn.q_proj, m.nn.Module)  # the reference's own parts too
    assert ln._params == {"gamma": ln.gamma, "beta": ln.beta}  # the student's __setattr__ saw them
    assert list(ln.parameters()) == ln.gamma + ln.beta and len(list(attn.parameters())) == 16
    block = m.gpt.TransformerBlock(2, 1)  # the student's, with the stand-ins inside
    assert len(list(block.parameters())) == 2 * 4 + 16 + (2 * 8 + 8 + 8 * 2 + 2)  # 2 LayerNorms, attention, FFN


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES[1:])
def test_each_independent_solution_scores_full_marks(style):
    assert scores(graded(style)) == FULL


@pytest.mark.slow
@pytest.mark.parametrize("style, v", VARIANT_CASES, ids=[f"{s}-{v.bug}" for s, v in VARIANT_CASES])
def test_a_single_bug_costs_at_most_half_a_point_outside_its_task(tmp_path, style, v):
    report = grade(write_variant(tmp_path, style, v))
    assert scores(report)[v.task] < FULL[v.task]
    assert lost_elsewhere(report, v.task) <= 0.5, {t: s for t, s in scores(report).items() if s < FULL[t]}


# --------------------------------------------------------------------------------------
# Engine: the sort apart from the local derivatives
# --------------------------------------------------------------------------------------
ASSIGN_IN_ADD = ("engine", "            self.grad += out.grad\n            other.grad += out.grad",
                 "            self.grad = out.grad\n            other.grad = out.grad")


def test_assigning_grad_in_one_backward_costs_accumulation_not_the_topological_order(tmp_path):
    """The naive engine has no topological_order(): its sort is read from the order in which
    backward() calls each node's _backward, whatever those compute."""
    report = grade(write_submission(tmp_path, "naive", [ASSIGN_IN_ADD]), ["1.6", "1.7", "1.8"])
    assert scores(report) == {"1.6": 4.0, "1.7": 4.0, "1.8": 3.0}
    assert "add to .grad (+=) instead of setting it (=)" in feedback_of(report, "1.8")
    assert "these nodes' _backward set their inputs' grads (=) instead of adding to them (+=): L = a + a" \
        in feedback_of(report, "1.8")


def test_a_wrong_derivative_of_multiplication_costs_task_1_1_only(tmp_path):
    """1.3 (built on * and **) and 1.7 (backward over + and *) run with the reference's + and
    * lent to the student's Value; 1.8 judges that each _backward adds, whatever it adds."""
    wrong = ("engine", "            self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
             "            self.grad += out.grad\n            other.grad += out.grad")
    report = grade(write_submission(tmp_path, "solutions", [wrong]), ["1.1", "1.3", "1.6", "1.7", "1.8"])
    assert scores(report) == {"1.1": 1.71, "1.3": 4.0, "1.6": 4.0, "1.7": 4.0, "1.8": 4.0}
    assert "passes with the reference Value's + and * in place of yours; task 1.1 fails" in feedback_of(report, "1.7")


def test_a_sort_that_visits_a_node_twice_is_named(tmp_path):
    report = grade(write_submission(tmp_path, "naive", [("engine", "            if node in seen:\n                continue\n",
                                                         "")]), ["1.6"])
    text = feedback_of(report, "1.6")
    assert scores(report)["1.6"] == 0 and "a._backward is called 3 times" in text
    assert "keep a set of visited nodes" in text


# --------------------------------------------------------------------------------------
# Typical mistakes, named
# --------------------------------------------------------------------------------------
NAMED = [
    ("layernorm_eps_after_inverse", "walker", "3.2",
     [("gpt", "denom = (var + self.eps) ** 0.5", "denom = 1 / (var ** -0.5 + self.eps)")],
     "eps is added outside the square root (var ** -0.5 + eps)"),
    ("softmax_overflow_in_backward", "naive", "3.4",
     [("nn", "es = [(x - top).exp() for x in xs]", "es = [x.exp() for x in xs]")],
     "softmax overflows for large scores: subtract the largest score"),
    ("mask_range_t", "walker", "3.4",
     [("gpt", "last = t + 1 if causal else len(x)", "last = t if causal else len(x)")],
     "range(t) leaves position 0 with nothing to attend to"),
    ("mask_range_t_zero_row", "explicit", "3.4",
     [("gpt", "js = list(range(t + 1 if causal else len(x)))", "js = list(range(t if causal else len(x)))"),
      ("gpt", "m = max(s.data for s in scores)", "m = max((s.data for s in scores), default=0.0)")],
     "range(t) leaves position 0 with nothing to attend to"),
    pytest.param("generate_only_new_ids", "walker", "3.8",
                 [("gpt", "weights=probs, k=1)[0])\n    return ids",
                   "weights=probs, k=1)[0])\n    return ids[len(start_ids):]")],
                 "generate returned only the new ids", marks=pytest.mark.slow),  # hints run 200 reference draws
]


@pytest.mark.parametrize("name, style, task_id, edits, says", NAMED,
                         ids=[getattr(n, "values", n)[0] for n in NAMED])
def test_a_typical_mistake_is_named(tmp_path, name, style, task_id, edits, says):
    report = grade(write_submission(tmp_path, style, edits), [task_id])
    assert scores(report)[task_id] < FULL[task_id]
    assert says in feedback_of(report, task_id), feedback_of(report, task_id)


def test_generate_returning_only_the_new_ids_is_named():
    task = TASKS_BY_ID["3.8"]
    returns = feedback.judge(task, task.check("returns"), {"raw": {"ids": [4, 0, 4]}}, lambda m: {})
    drawn = feedback.judge(task, task.check("temperature_2"),
                           {"raw": {"logits": [0.0] * 5, "bad_return": "[3]", "returned_length": 1}}, lambda m: {})
    for verdict in (returns, drawn):
        assert not verdict.passed and "likely mistake: generate returned only the new ids" in verdict.message
    right_length = feedback.judge(task, task.check("returns"), {"raw": {"ids": [2, 1, 4, 0, 4]}}, lambda m: {})
    assert "expected the prompt [1, 2] followed by 3 ids" in right_length.message
    assert "only the new ids" not in right_length.message


def test_an_overflow_in_engine_py_names_the_line_that_called_it(tmp_path):
    report = grade(write_submission(tmp_path, "naive", [
        ("gpt", "lse = sum((z - top).exp() for z in row).log() + top", "lse = sum(z.exp() for z in row).log()")]),
        ["3.7"])
    text = feedback_of(report, "3.7")
    assert "raised OverflowError" in text and "called from gpt.py line" in text
    assert "subtract the largest logit first" in text


def test_feedback_never_shows_minus_zero():
    assert feedback.fmt(-0.0) == "0" and feedback.fmt(0.0) == "0" and feedback.fmt(-1e-300) == "-1e-300"
    assert feedback.fmt([-0.0, 1.5]) == "[0, 1.5]"
    task = TASKS_BY_ID["3.2"]
    check = task.check("forward")
    ref = {"raw": {"out": [1.0, 2.0], "grads": {}}}
    verdict = feedback.judge(task, check, {"raw": {"out": [-0.0, 2.0], "grads": {}}},
                             lambda mistake: ref if mistake is None else {"error": {"type": "X"}})
    assert "got 0, expected 1" in verdict.message and not re.search(r"-0\b(?!\.)", verdict.message)
    zero_grad = TASKS_BY_ID["2.1"].check("zero_grad")
    verdict = feedback.judge(TASKS_BY_ID["2.1"], zero_grad, {"raw": {"grads": [-0.0, 1.0, 0.0]}}, lambda m: {})
    assert "[0, 1, 0]" in verdict.message


# --------------------------------------------------------------------------------------
# The workspace's pytest checks agree with the grader
# --------------------------------------------------------------------------------------
LAYERNORM_BUG = ("gpt", "var = sum((xi - mean) ** 2 for xi in x) / n", "var = sum((xi - mean) ** 2 for xi in x) / (n - 1)")


def run_pytest(folder, *args):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=folder, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_pytest_passes_a_later_task_with_fix_first_when_an_earlier_one_fails(tmp_path):
    """After a LayerNorm bug, 3.5's public check passes (as the grader gives 3.5 its points)
    with a warning naming 3.2; 3.2's own checks fail on its numbers."""
    new_workspace(tmp_path)
    write_submission(tmp_path, "solutions", [LAYERNORM_BUG])
    code, out = run_pytest(tmp_path, "-m", "task3_2 or task3_5")
    assert code == 1, out
    assert re.search(r"2 failed, 2 passed, \d+ deselected, 1 warning", out), out
    assert "PASSED tests/test_gpt.py::test_3_5_forward" in out
    assert "FixEarlierTaskFirst: task 3.5 (TransformerBlock) passes with the reference LayerNorm in place of " \
           "yours; task 3.2 fails: fix that first" in out


@pytest.mark.slow
def test_pytest_and_exercises_check_give_the_grader_verdicts(tmp_path):
    """Every public check of 3.2, 3.5 and 3.6 passes under pytest exactly when it passes in
    the grader's public-only run (`minigpt exercises check`), for a LayerNorm bug."""
    new_workspace(tmp_path)
    write_submission(tmp_path, "walker", [variant("walker", "layernorm_variance")[2:]])
    code, out = run_pytest(tmp_path, "-m", "task3_2 or task3_5 or task3_6")
    local = {name: verdict for verdict, name in re.findall(r"^(PASSED|FAILED) tests/test_\w+\.py::test_(\d_\d_\w+)",
                                                            out, re.M)}
    report = grade(tmp_path, ["3.2", "3.5", "3.6"], public_only=True)
    grader = {f"{r.task.id.replace('.', '_')}_{c.check.name}": "PASSED" if c.passed else "FAILED"
              for r in report.tasks for c in r.checks}
    assert local == grader, out
    assert scores(report) == {"3.2": 1.5, "3.5": 6.0, "3.6": 6.0}  # the public checks only


def test_exercises_check_of_one_task_judges_it_on_its_own_merits(tmp_path, capsys):
    """`minigpt exercises check 3.5` also checks the tasks 3.5 uses (not shown), so that 3.5
    runs with the reference LayerNorm when 3.2 fails, as under pytest and on the grader."""
    new_workspace(tmp_path)
    write_submission(tmp_path, "solutions", [LAYERNORM_BUG])
    assert main(["exercises", "check", "3.5", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert ": 6 / 6 points" in out and "task 3.2 fails: fix that first" in out and "3.2   LayerNorm" not in out
