"""Grading: the solutions score 100%, the stubs 0, and single-bug mutants lose points on
the right task, with feedback that names the mistake, while every other task keeps its
credit. Also the Gradescope JSON, the terminal table, the batch CSV and the statistics.

The default run grades the solutions and the stubs once each and three mutants on the
tasks they touch; `pytest -m slow` grades every mutant, and an independently written
naive solution, in full.
"""
import csv
import json
import math

import pytest

from exercises_data.submissions import (MUTANTS, MUTANTS_BY_NAME, feedback_of, graded, scores,
                                        write_submission)
from minigpt.cli import main
from minigpt.exercises import feedback
from minigpt.exercises.grader import grade
from minigpt.exercises.report import gradescope, table
from minigpt.exercises.tasks import MAX_SCORE, TASKS, TASKS_BY_ID

FULL = {t.id: float(t.points) for t in TASKS}


def test_the_solutions_score_full_marks_on_every_task():
    report = graded("solutions")
    assert scores(report) == FULL and report.score == MAX_SCORE == 100
    assert all(c.passed for r in report.tasks for c in r.checks)
    assert report.notes == []


def test_the_stubs_score_zero_on_every_task():
    report = graded("stubs")
    assert scores(report) == {t.id: 0.0 for t in TASKS}
    assert "not implemented yet: Task 3.2:" in feedback_of(report, "3.2")


@pytest.mark.slow
def test_an_independent_naive_solution_scores_full_marks():
    """Written differently from the reference: tuple _prev, no topological_order, a division
    node of its own, parameters() found by walking attributes, the transformer parts in
    nn.py, a -1e9 attention mask, cumulative sampling."""
    assert scores(graded("naive")) == FULL


def check_mutant(tmp_path, mutant, task_ids=None):
    folder = write_submission(tmp_path / mutant.name, "solutions", [(mutant.file, mutant.old, mutant.new)])
    report = grade(folder, task_ids)
    lost = {tid for tid, score in scores(report).items() if score < FULL[tid]}
    assert lost == mutant.loses, table(report)
    first = min(mutant.loses)
    assert mutant.says in feedback_of(report, first), feedback_of(report, first)
    return report


# A few mutants in the default run, graded on the tasks they touch and the tasks that use
# those (which must keep full credit thanks to the reference standing in).
QUICK = [("tanh_forgets_square", ["1.5", "1.7", "3.3"]),
         ("topo_preorder", ["1.6", "1.7"]),  # backward() is right: 1.7 passes with the reference sort
         ("linear_drops_bias", ["2.5", "3.3", "3.4"]),
         ("layernorm_unbiased_variance", ["3.2", "3.5"])]


@pytest.mark.parametrize("name, task_ids", QUICK, ids=[q[0] for q in QUICK])
def test_a_mutant_loses_points_on_its_own_task_only(tmp_path, name, task_ids):
    report = check_mutant(tmp_path, MUTANTS_BY_NAME[name], task_ids)
    user = next(r for r in report.tasks if r.task.id == task_ids[-1])  # uses the broken task
    assert user.score == user.task.points and "fix that first" in user.notes[0]


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_mutant_loses_points_on_its_own_task_only(tmp_path, mutant):
    check_mutant(tmp_path, mutant)


def test_an_assignment_instead_of_an_addition_in_any_backward_costs_task_1_8(tmp_path):
    """1.8 runs every operation on an input that is also used elsewhere, so a `=` for `+=`
    in tanh's _backward (not only in + and *) loses points there, and is named."""
    check_mutant(tmp_path, MUTANTS_BY_NAME["tanh_assigns_grad"], ["1.5", "1.8"])


def test_there_are_enough_mutants_across_the_three_files():
    files = [m.file for m in MUTANTS]
    assert len(MUTANTS) >= 15 and min(files.count(f) for f in ("engine", "nn", "gpt")) >= 3


def test_a_dependent_task_that_is_wrong_itself_still_loses(tmp_path):
    """Two bugs: LayerNorm and the block's residuals. The block fails with the reference
    LayerNorm too, so it keeps its own (lower) score and says where the problem is."""
    folder = write_submission(tmp_path, "solutions", [
        ("gpt", "/ n  # biased", "/ (n - 1)  # biased"),
        ("gpt", "        x = [add_vectors(xt, at) for xt, at in zip(x, attended)]  # residual around attention\n",
         "        x = attended\n")])
    report = grade(folder, ["3.2", "3.5"])
    assert scores(report)["3.2"] < 6 and scores(report)["3.5"] < 6
    assert "the problem is in this task's own code" in feedback_of(report, "3.5")


# --------------------------------------------------------------------------------------
# Reports and the command line
# --------------------------------------------------------------------------------------
def test_gradescope_json_has_every_field_and_partial_credit():
    data = gradescope(graded("stubs"))
    json.dumps(data, allow_nan=False)
    assert (data["score"], data["max_score"]) == (0.0, MAX_SCORE)
    assert [t["number"] for t in data["tests"]] == [t.id for t in TASKS]
    for test, task in zip(data["tests"], TASKS):
        assert set(test) == {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] == "failed" and test["max_score"] == task.points and test["visibility"] == "visible"
    one = gradescope(graded("solutions"))["tests"][0]
    assert one["status"] == "passed" and one["score"] == one["max_score"] and "ok   add_values" in one["output"]


def test_grade_command_writes_results_and_exits_0_whatever_the_score(tmp_path, capsys):
    folder = write_submission(tmp_path / "sub", "stubs")
    results = tmp_path / "out" / "results.json"
    assert main(["grade", str(folder), "--results", str(results), "--tasks", "1.1", "3.7"]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and [t["number"] for t in data["tests"]] == ["1.1", "3.7"]
    assert "0 / 9 points" in capsys.readouterr().out


def test_grade_command_bad_input_is_one_line_and_still_leaves_results(tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", str(tmp_path / "nowhere"), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err
    assert json.loads(results.read_text())["score"] == 0
    assert main(["grade", str(tmp_path), str(tmp_path), "--results", str(results)]) == 2
    assert "--results takes one submission" in capsys.readouterr().err
    assert main(["grade", str(tmp_path), "--tasks", "4.4"]) == 2


def test_an_empty_submission_gets_zero_with_notes_and_valid_results(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    results = tmp_path / "results.json"
    assert main(["grade", str(tmp_path / "sub"), "--results", str(results), "--tasks", "1.1", "2.5", "3.1"]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and "engine.py is missing" in data["output"]
    assert "engine.py is missing from the submission" in data["tests"][0]["output"]


def test_a_submission_in_a_subfolder_is_found(tmp_path):
    write_submission(tmp_path / "upload" / "mini-gpt", "solutions")
    report = grade(tmp_path / "upload", ["1.1"])
    assert report.score == 4 and "graded the files in mini-gpt/" in report.notes[0]


def test_batch_grading_writes_one_csv_row_per_submission(tmp_path, capsys):
    good = write_submission(tmp_path / "alice", "solutions")
    empty = write_submission(tmp_path / "bob", "stubs")
    out = tmp_path / "grades.csv"
    feedback_dir = tmp_path / "feedback"
    assert main(["grade", str(good), str(empty), "--csv", str(out), "--tasks", "1.1", "1.5", "3.7",
                 "--feedback", str(feedback_dir)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["submission", "score", "max_score"] + [t.id for t in TASKS]
    assert [r[:3] for r in rows[1:]] == [[str(good), "13.0", "13"], [str(empty), "0.0", "13"]]
    column = rows[0].index("1.5")
    assert (rows[1][column], rows[2][column], rows[1][rows[0].index("3.2")]) == ("4.0", "0.0", "")
    printed = capsys.readouterr().out
    assert "alice: 13 / 13 points" in printed and "bob: 0 / 13 points" in printed
    # every student's own results and feedback, named after the folder
    assert sorted(p.name for p in feedback_dir.iterdir()) == ["alice.json", "alice.txt", "bob.json", "bob.txt"]
    assert json.loads((feedback_dir / "bob.json").read_text())["score"] == 0.0
    assert "not implemented yet: Task 1.1" in (feedback_dir / "bob.txt").read_text()
    twice = write_submission(tmp_path / "other" / "alice", "solutions")
    assert main(["grade", str(good), str(twice), "--feedback", str(feedback_dir)]) == 2
    assert "two folders are named 'alice'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# The statistics of the generate checks
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dof", [2, 4, 6])
@pytest.mark.parametrize("x", [0.5, 3.0, 9.5, 25.0])
def test_chi_square_tail_matches_the_closed_form_for_even_degrees_of_freedom(x, dof):
    closed = math.exp(-x / 2) * sum((x / 2) ** i / math.factorial(i) for i in range(dof // 2))
    assert feedback.chi2_sf(x, dof) == pytest.approx(closed, rel=1e-10)


def test_chi_square_accepts_a_fair_sample_and_rejects_a_wrong_one():
    probs = [0.1, 0.2, 0.3, 0.4]
    assert feedback.chi_square([41, 79, 118, 162], probs)[2] > 0.5
    assert feedback.chi_square([100, 100, 100, 100], probs)[2] < 1e-10
    assert feedback.chi_square([0, 0, 0, 400], [0, 0, 0, 1.0])[2] == 1.0  # all draws where expected
    assert feedback.chi_square([1, 0, 0, 399], [0, 0, 0, 1.0])[2] == 0.0  # a draw of probability 0


def test_a_failed_sampling_check_states_the_test_and_the_likely_mistake():
    task = TASKS_BY_ID["3.8"]
    check = task.check("temperature_0_5")
    logits = [0.5, -1.0, 1.5, 0.0, -0.5]
    ignored = feedback.softmax(logits)  # what a generate that ignores temperature draws from
    counts = [round(400 * p) for p in ignored]
    verdict = feedback.judge(task, check, {"raw": {"logits": logits, "counts": counts}}, lambda m: {})
    assert not verdict.passed
    assert "chi-square" in verdict.message and "< 0.001" in verdict.message and "random.seed(123)" in verdict.message
    assert "likely mistake: the draws fit the case where the temperature is ignored" in verdict.message
