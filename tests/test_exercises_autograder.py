"""The Gradescope bundle: `minigpt exercises autograder OUT.zip`, then its run_autograder
run against a temporary folder laid out like /autograder (AUTOGRADER_ROOT)."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

from exercises_data.submissions import write_submission
from minigpt.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert main(["exercises", "autograder", str(out)]) == 0
    return out


def autograder_root(tmp_path, bundle, base):
    """/autograder as Gradescope lays it out: the zip in source/, run_autograder beside it,
    the upload in submission/ and an empty results/."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    write_submission(root / "submission", base)
    (root / "submission" / "notes.txt").write_text("other files are ignored")
    return root


def run_autograder(root, timeout=600):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)
    return subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=root.parent)


def test_the_bundle_holds_the_scripts_and_minigpt_itself(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in z.infolist()}
        setup = z.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "minigpt-src/pyproject.toml", "minigpt-src/minigpt/cli.py",
            "minigpt-src/minigpt/exercises/solutions/gpt.py", "minigpt-src/minigpt/exercises/probes.py"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0  # it parses


def test_run_autograder_grades_the_submission_into_results_json(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle, "stubs")
    proc = run_autograder(root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and data["max_score"] == 100 and len(data["tests"]) == 22
    assert "0 / 100 points" in proc.stdout


def test_run_autograder_uses_the_bundled_minigpt(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle, "stubs")
    env = dict(os.environ, PYTHONPATH=str(root / "source" / "minigpt-src"))
    where = subprocess.run([sys.executable, "-S", "-c", "import minigpt.exercises; print(minigpt.exercises.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path).stdout  # as run_autograder runs it
    assert where.startswith(str(root / "source" / "minigpt-src"))


@pytest.mark.slow
def test_run_autograder_gives_the_solutions_full_marks(tmp_path, bundle):
    root = autograder_root(tmp_path, bundle, "solutions")
    proc = run_autograder(root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == data["max_score"] == 100
    assert all(t["status"] == "passed" for t in data["tests"])


def test_autograder_needs_a_zip_name(tmp_path, capsys):
    assert main(["exercises", "autograder", str(tmp_path / "bundle.tar")]) == 2
    assert "must be a .zip file" in capsys.readouterr().err
