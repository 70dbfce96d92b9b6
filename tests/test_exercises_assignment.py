"""Assignments: a TOML file choosing tasks, points, hint level, visibility and limits, read
by `exercises new`, `exercises check`, `grade`, `exercises autograder` and `exercises
prairielearn`; and the PrairieLearn question, run against a temporary /grade layout."""
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from argparse import Namespace

import pytest

from exercises_data.submissions import write_submission
from minigpt.cli import main
from minigpt.exercises import assignment as assignments
from minigpt.exercises import probes, stubs
from minigpt.exercises.assignment import DEFAULT, AssignmentError, from_dict, load
from minigpt.exercises.commands import _limits
from minigpt.exercises.grader import grade
from minigpt.exercises.reference import solution_sources
from minigpt.exercises.report import gradescope, prairielearn
from minigpt.exercises.tasks import MAX_SCORE, TASKS
from minigpt.exercises.workspace import workspace_files

ENGINE_IDS = tuple(t.id for t in TASKS if t.module == "engine")


def write(tmp_path, text, name="week.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def engine_only(tmp_path, extra=""):
    return load(write(tmp_path, 'title = "Week 1: the engine"\ntasks = ["engine"]\n' + extra))


# --------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------
def test_the_default_assignment_is_every_task_with_its_points():
    assert DEFAULT.tasks == tuple(TASKS) and DEFAULT.total == MAX_SCORE == 100
    assert DEFAULT.hints == "concept" and (DEFAULT.timeout_scale, DEFAULT.memory_mb) == (1.0, 1024)
    assert DEFAULT.files == ("engine", "nn", "gpt")
    assert all(DEFAULT.task_visibility(t.id) == "visible" and DEFAULT.hidden_visibility(t.id) is None
               for t in TASKS)
    assert from_dict({}) == DEFAULT


def test_a_file_sets_tasks_points_visibility_hints_and_limits(tmp_path):
    a = load(write(tmp_path, '''
title = "Week 2: nn"
tasks = ["nn", "1.7"]
hints = "none"
visibility = "after_due_date"
hidden_checks = "hidden"
timeout_scale = 2.5
memory_mb = 2048

[task."2.5"]
points = 10
visibility = "visible"
hidden_checks = "after_published"
'''))
    assert a.title == "Week 2: nn" and a.task_ids == ("1.7", "2.1", "2.2", "2.3", "2.4", "2.5")
    assert [t.points for t in a.tasks] == [4, 3, 4, 3, 4, 10] and a.total == 28
    assert (a.hints, a.timeout_scale, a.memory_mb) == ("none", 2.5, 2048)
    assert a.task_visibility("2.1") == "after_due_date" and a.task_visibility("2.5") == "visible"
    assert a.hidden_visibility("2.3") == "hidden" and a.hidden_visibility("2.5") == "after_published"
    assert a.hidden_visibility("2.2") is None  # it has no hidden checks, so nothing to report apart
    assert a.files == ("engine", "nn")
    limits = _limits(Namespace(memory_mb=None, timeout_scale=None), a)
    assert (limits.memory_mb, limits.timeout_scale) == (2048, 2.5)
    limits = _limits(Namespace(memory_mb=512, timeout_scale=3.0), a)  # the command line wins
    assert (limits.memory_mb, limits.timeout_scale) == (512, 3.0)


def test_total_scales_the_points_to_exactly_that_sum(tmp_path):
    a = engine_only(tmp_path, "total = 100\n")
    assert a.total == 100 and abs(sum(t.points for t in a.tasks) - 100) < 1e-9
    assert a.tasks[0].points == round(4 * 100 / 30, 2)


def test_the_json_in_the_bundles_reads_back_as_the_same_assignment(tmp_path):
    a = engine_only(tmp_path, 'total = 50\nhints = "full"\nhidden_checks = "after_due_date"\n'
                              '[task."1.6"]\nvisibility = "hidden"\n')
    again = load(write(tmp_path, a.to_json(), "assignment.json"))
    assert again == a


def test_the_printed_example_is_a_valid_assignment(tmp_path, capsys):
    assert main(["exercises", "assignment"]) == 0
    path = write(tmp_path, capsys.readouterr().out)
    a = load(path)
    assert a.task_ids == ENGINE_IDS and a.task_visibility("1.7") == "after_published"
    assert main(["exercises", "assignment", "--check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Week 1: an autograd engine: 8 tasks, 34 points") and "1.7" in out


def test_before_python_3_11_the_toml_comes_from_tomli(tmp_path, monkeypatch):
    tomllib = pytest.importorskip("tomllib") if assignments.HAS_TOMLLIB else pytest.importorskip("tomli")
    path = write(tmp_path, 'tasks = ["2.1"]\n')
    monkeypatch.setattr(assignments, "HAS_TOMLLIB", False)
    stand_in = type(sys)("tomli")
    stand_in.loads = tomllib.loads
    monkeypatch.setitem(sys.modules, "tomli", stand_in)
    assert load(path).task_ids == ("2.1",)
    monkeypatch.setitem(sys.modules, "tomli", None)  # not installed
    with pytest.raises(AssignmentError, match=r"needs tomli: pip install tomli"):
        load(path)
    assert load(write(tmp_path, DEFAULT.to_json(), "a.json")) == DEFAULT  # JSON needs no TOML reader


@pytest.mark.parametrize("text, problem", [
    ('tasks = ["1.1", "9.9"]', "tasks: unknown task '9.9'"),
    ('visibility = "later"', "visibility: 'later' is not one of visible, hidden, after_due_date, after_published"),
    ('hints = "some"', "hints: 'some' is not one of none, concept, full"),
    ('hint = "none"', "hint: unknown key; the keys are title"),
    ('[task."1.1"]\npoint = 3', 'task."1.1".point: unknown key; the keys are points, visibility, hidden_checks'),
    ('[task."1.1"]\nhidden_checks = "never"', 'task."1.1".hidden_checks: \'never\' is not one of'),
    ('[task.1.1]\npoints = 3', 'task."1": unknown task (quote the id: [task."1.1"])'),
    ('tasks = ["engine"]\n[task."2.1"]\npoints = 3', 'task."2.1": task 2.1 is not in this assignment\'s tasks'),
    ('[task."1.1"]\npoints = -1', 'task."1.1".points: expected a number above 0, got -1'),
    ("memory_mb = 1.5", "memory_mb: expected a whole number of megabytes"),
    ("timeout_scale = 0", "timeout_scale: expected a number above 0"),
    ("tasks = []", "tasks: expected a list of task ids or files"),
    ('title = "x', "not valid TOML"),
])
def test_a_mistake_is_one_line_naming_the_file_and_the_key(tmp_path, text, problem):
    path = write(tmp_path, text + "\n")
    with pytest.raises(AssignmentError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_commands_report_a_bad_assignment_in_one_line_and_write_nothing(tmp_path, capsys):
    path = write(tmp_path, 'hints = "all of them"\n')
    assert main(["exercises", "new", str(tmp_path / "ws"), "--assignment", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hints: 'all of them' is not one of none, concept, full" in err
    assert not (tmp_path / "ws").exists()
    assert main(["exercises", "autograder", str(tmp_path / "a.zip"), "--assignment", str(tmp_path / "no.toml")]) == 2
    assert "cannot read the assignment" in capsys.readouterr().err and not (tmp_path / "a.zip").exists()


# --------------------------------------------------------------------------------------
# Hint levels
# --------------------------------------------------------------------------------------
def test_hint_levels_say_more_or_less_and_every_stub_keeps_the_contract():
    levels = {level: stubs.stubs(level) for level in stubs.HINT_LEVELS}
    power_rule = "n * self.data ** (n - 1) * out.grad"
    assert power_rule in levels["full"]["engine"]  # full: today's text, nearly the code
    assert power_rule not in levels["concept"]["engine"] and power_rule not in levels["none"]["engine"]
    assert "# Task 1.2 (Powers): " in levels["concept"]["engine"] and "power rule" in levels["concept"]["engine"]
    assert "# Task 1.2" not in levels["none"]["engine"]
    assert 'raise NotImplementedError("Task 1.2: Powers")' in levels["none"]["engine"]
    for level, texts in levels.items():
        for name, text in texts.items():
            assert "SOLUTION" not in text and "# concept:" not in text, (level, name)
            if level != "full":  # full hints are one long line each, as they always were
                assert max(len(line) for line in text.splitlines()) <= 120, (level, name)
        trio = probes.load_trio(texts, f"<stub {level} ")
        assert callable(trio.gpt.MiniGPT.forward) and callable(trio.engine.Value.backward)
    # every block of the solutions has its concept, one per BEGIN
    for name, source in solution_sources().items():
        lines = source.splitlines()
        begins = [i for i, line in enumerate(lines) if "# BEGIN SOLUTION" in line]
        assert all(lines[i + 1].lstrip().startswith("# concept: ") for i in begins), name


def test_a_block_without_a_concept_line_is_refused_at_the_concept_level():
    text = "def f():\n    # BEGIN SOLUTION 1.1: return 1\n    return 1\n    # END SOLUTION\n"
    with pytest.raises(stubs.MarkerError, match=r"engine.py line 2: the block of task 1.1 has no '# concept:'"):
        stubs.make_stub(text, "engine", "concept")
    assert 'raise NotImplementedError("Task 1.1: return 1")' in stubs.make_stub(text, "engine", "full")
    assert "(not in this assignment)" in stubs.make_stub(text, "engine", "concept", tasks=["1.2"])


# --------------------------------------------------------------------------------------
# Workspaces
# --------------------------------------------------------------------------------------
def test_an_engine_only_workspace_has_only_its_files_rows_and_total(tmp_path):
    files = workspace_files(engine_only(tmp_path, 'hints = "none"\n'))
    assert sorted(files) == ["README.md", "assignment.json", "engine.py", "pytest.ini", "tests/test_engine.py"]
    readme = files["README.md"]
    assert readme.startswith("# Week 1: the engine\n") and "Total: 30 points" in readme
    assert "### 1.7 Backward (4 points" in readme and "### 2.1" not in readme and "task2_1" not in files["pytest.ini"]
    assert "pip install\nscalar-minigpt pytest" in readme
    assert '```python\nraise NotImplementedError("Task 1.1: Add and multiply")\n```' in readme  # at its hint level
    assert "power rule" not in files["engine.py"] and "$" not in readme


def test_a_workspace_for_later_tasks_asks_for_the_earlier_files(tmp_path):
    files = workspace_files(load(write(tmp_path, 'tasks = ["3.2"]\n[task."3.2"]\npoints = 10\n')))
    assert sorted(files) == ["README.md", "assignment.json", "engine.py", "gpt.py", "nn.py", "pytest.ini",
                             "tests/test_gpt.py"]
    assert "`engine.py` and `nn.py` hold no task of this assignment" in files["README.md"]
    assert "Total: 10 points" in files["README.md"] and "### 3.2 LayerNorm (10 points" in files["README.md"]
    assert 'NotImplementedError("Task 3.4: SelfAttention (not in this assignment)")' in files["gpt.py"]
    assert set(re.findall(r'check\("(\d\.\d):', files["tests/test_gpt.py"])) == {"3.2"}


def test_exercises_new_takes_the_assignment(tmp_path, capsys):
    path = write(tmp_path, 'title = "Week 1"\ntasks = ["engine"]\n')
    assert main(["exercises", "new", str(tmp_path / "ws"), "--assignment", str(path)]) == 0
    assert "8 tasks (30 points)" in capsys.readouterr().out
    workspace = tmp_path / "ws"
    assert sorted(p.name for p in workspace.iterdir()) == ["README.md", "assignment.json", "engine.py", "pytest.ini",
                                                           "tests"]
    write_submission(workspace, "solutions", drop=("nn", "gpt"))  # the student's engine, done
    assert main(["exercises", "check", "--dir", str(workspace)]) == 0  # by the workspace's own assignment
    out = capsys.readouterr().out
    assert "30 / 30 points" in out and "missing" not in out


# --------------------------------------------------------------------------------------
# Grading by an assignment
# --------------------------------------------------------------------------------------
def test_an_engine_only_submission_gets_full_marks_with_no_missing_file_note(tmp_path):
    a = engine_only(tmp_path, "total = 100\n")
    folder = write_submission(tmp_path / "sub", "solutions", drop=("nn", "gpt"))
    report = grade(folder, assignment=a)
    assert report.notes == [] and report.max_score == 100 and report.score == 100
    assert [r.task.id for r in report.tasks] == list(ENGINE_IDS)
    stub = grade(write_submission(tmp_path / "stub", "stubs", drop=("nn", "gpt")), assignment=a)
    assert stub.score == 0 and stub.max_score == 100 and stub.notes == []


def test_a_later_assignment_is_not_marked_down_for_the_earlier_tasks_it_uses(tmp_path):
    a = load(write(tmp_path, 'tasks = ["2.2"]\n'))
    wrong_relu = ("engine", "self.grad += (1.0 if self.data > 0 else 0.0) * out.grad",
                  "self.grad += (2.0 if self.data > 0 else 0.0) * out.grad")
    report = grade(write_submission(tmp_path / "sub", "solutions", [wrong_relu], drop=("gpt",)), assignment=a)
    assert [r.task.id for r in report.tasks] == ["2.2"] and report.score == report.max_score == 4
    assert "the reference engine.py in place of yours; task 1.5 fails" in report.tasks[0].notes[0]
    assert report.notes == []  # gpt.py is not needed


def test_hidden_checks_are_an_entry_of_their_own_with_their_visibility(tmp_path):
    a = engine_only(tmp_path, 'hidden_checks = "after_due_date"\n[task."1.6"]\nvisibility = "hidden"\n')
    # 3 * a is wrong: only a hidden check of task 1.1 fails
    edit = ("engine", "\n        return self * other\n", "\n        return self * other * 2\n")
    folder = write_submission(tmp_path / "sub", "solutions", [edit], drop=("nn", "gpt"))
    report = grade(folder, assignment=a)
    data = gradescope(report, a)
    by_name = {t["name"]: t for t in data["tests"]}
    public, hidden = by_name["1.1 Add and multiply"], by_name["1.1 Add and multiply: hidden checks"]
    assert public["status"] == "passed" and public["score"] == public["max_score"] and public["visibility"] == "visible"
    assert hidden["status"] == "failed" and hidden["visibility"] == "after_due_date" and hidden["score"] < 4
    assert "mul_number_left" in hidden["output"] and "mul_number_left" not in public["output"]
    assert public["max_score"] + hidden["max_score"] == 4
    assert by_name["1.6 Topological order"]["visibility"] == "hidden"
    assert by_name["1.6 Topological order: hidden checks"]["visibility"] == "after_due_date"
    assert abs(sum(t["score"] for t in data["tests"]) - data["score"]) < 1e-9 and data["max_score"] == 30
    assert abs(sum(t["max_score"] for t in data["tests"]) - 30) < 1e-9
    assert "/ 30 points" not in data["output"]  # the total would tell the hidden results
    pl = prairielearn(report, a)
    assert pl["score"] == round(report.score / 30, 6) and len(pl["tests"]) == len(data["tests"])
    pl_hidden = next(t for t in pl["tests"] if t["name"] == "1.1 Add and multiply: hidden checks")
    assert pl_hidden["output"] == "" and pl_hidden["points"] == hidden["score"]
    # without an assignment: one visible entry per task, as before
    plain = gradescope(report)
    assert [t["name"] for t in plain["tests"]] == [f"{r.task.id} {r.task.title}" for r in report.tasks]
    assert plain["output"].startswith(f"{report.score:g} / 30 points")


def test_grade_and_check_take_the_assignment_and_refuse_tasks_outside_it(tmp_path, capsys):
    path = write(tmp_path, 'tasks = ["1.1", "1.2"]\n[task."1.2"]\npoints = 6\n')
    folder = write_submission(tmp_path / "sub", "solutions", drop=("nn", "gpt"))
    results, table = tmp_path / "r.json", tmp_path / "g.csv"
    assert main(["grade", str(folder), "--assignment", str(path), "--results", str(results), "--quiet"]) == 0
    data = json.loads(results.read_text())
    assert (data["score"], data["max_score"], len(data["tests"])) == (10, 10, 2)
    assert main(["grade", str(folder), "--assignment", str(path), "--csv", str(table)]) == 0
    assert table.read_text().splitlines()[0] == "submission,score,max_score,1.1,1.2"
    capsys.readouterr()
    assert main(["grade", str(folder), "--assignment", str(path), "--tasks", "2.1"]) == 2
    assert "task 2.1 is not in the assignment" in capsys.readouterr().err
    assert main(["exercises", "check", "--dir", str(folder), "--assignment", str(path)]) == 0
    out = capsys.readouterr().out
    assert "10 / 10 points" in out and "1.3" not in out and "missing" not in out


# --------------------------------------------------------------------------------------
# The bundles carry the assignment
# --------------------------------------------------------------------------------------
def test_the_gradescope_bundle_grades_by_its_assignment(tmp_path):
    path = write(tmp_path, 'tasks = ["engine"]\nhidden_checks = "after_published"\n')
    bundle = tmp_path / "autograder.zip"
    assert main(["exercises", "autograder", str(bundle), "--assignment", str(path)]) == 0
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    assert load(root / "source" / "assignment.json").task_ids == ENGINE_IDS
    write_submission(root / "submission", "solutions", drop=("nn", "gpt"))
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == data["max_score"] == 30 and "missing" not in data["output"]
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_published"}


def grade_root(tmp_path, question, base):
    """/grade as PrairieLearn lays it out for a job: the question's tests/ in tests/, the
    student's files in student/, and results/ for the grader to fill."""
    root = tmp_path / f"grade-{base}"
    shutil.copytree(question / "tests", root / "tests")
    write_submission(root / "student", base, drop=("nn", "gpt"))
    return root


def run_grader(root):
    env = dict(os.environ, GRADE_ROOT=str(root), PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(root / "tests" / "run_grader")], env=env, capture_output=True, text=True,
                          timeout=300, cwd=root.parent)


def test_the_prairielearn_question_grades_a_temporary_grade_layout(tmp_path, capsys):
    path = write(tmp_path, 'title = "Week 1: the engine"\ntasks = ["engine"]\n')
    question = tmp_path / "question"
    assert main(["exercises", "prairielearn", str(question), "--assignment", str(path), "--timeout", "300"]) == 0
    assert "students submit engine.py" in capsys.readouterr().out
    info = json.loads((question / "info.json").read_text())
    assert info["gradingMethod"] == "External" and info["title"] == "Week 1: the engine"
    options = info["externalGradingOptions"]
    assert options == {"enabled": True, "image": "prairielearn/grader-python",
                       "entrypoint": "/grade/tests/run_grader", "timeout": 300}
    assert 'file-names="engine.py"' in (question / "question.html").read_text()
    assert os.access(question / "tests" / "run_grader", os.X_OK)
    assert (question / "tests" / "minigpt-src" / "minigpt" / "exercises" / "grader.py").is_file()

    correct = grade_root(tmp_path, question, "solutions")
    proc = run_grader(correct)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((correct / "results" / "results.json").read_text())
    assert results["gradable"] is True and results["score"] == 1.0 and len(results["tests"]) == 8
    assert all(t["points"] == t["max_points"] > 0 and t["message"] == "passed" for t in results["tests"])
    assert all(set(t) == {"name", "points", "max_points", "message", "output"} for t in results["tests"])

    stub = grade_root(tmp_path, question, "stubs")
    assert run_grader(stub).returncode == 0
    results = json.loads((stub / "results" / "results.json").read_text())
    assert results["score"] == 0 and all(t["points"] == 0 for t in results["tests"])
    assert "not implemented yet: Task 1.1" in results["tests"][0]["output"]

    assert main(["exercises", "prairielearn", str(question)]) == 2  # not empty: nothing overwritten
    assert "not a new or empty folder" in capsys.readouterr().err


def test_the_default_prairielearn_question_takes_all_three_files(tmp_path):
    from minigpt.exercises.prairielearn import build_question
    build_question(tmp_path / "q", assignments.DEFAULT)
    html = (tmp_path / "q" / "question.html").read_text()
    assert 'file-names="engine.py,nn.py,gpt.py"' in html and "100 points in all" in html
    assert json.loads((tmp_path / "q" / "tests" / "assignment.json").read_text())["tasks"] == [t.id for t in TASKS]


def test_prairielearn_results_for_a_missing_submission_say_it_cannot_be_graded(tmp_path, capsys):
    results = tmp_path / "results.json"
    assert main(["grade", str(tmp_path / "nowhere"), "--prairielearn", str(results)]) == 2
    assert json.loads(results.read_text()) == {"gradable": False,
                                               "message": f"no submission folder: {tmp_path / 'nowhere'}"}
    assert main(["grade", str(tmp_path), str(tmp_path), "--prairielearn", str(results)]) == 2
    assert "--prairielearn takes one submission" in capsys.readouterr().err


@pytest.mark.slow
def test_the_default_prairielearn_question_gives_the_solutions_full_marks(tmp_path):
    from minigpt.exercises.prairielearn import build_question
    build_question(tmp_path / "q", assignments.DEFAULT)
    root = tmp_path / "grade"
    shutil.copytree(tmp_path / "q" / "tests", root / "tests")
    write_submission(root / "student", "solutions")
    assert run_grader(root).returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 1.0 and len(results["tests"]) == 22 and results["message"] == "100 / 100 points"
