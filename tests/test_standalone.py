"""The repository stands alone: nothing points outside it, and the shipped names train."""
import os

from minigpt.cli import main
from minigpt.corpus import NAMES_FILE
from minigpt.train import read_documents

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTSIDE = ("../" + "shared", "/" + "work/")  # spelled in two parts so this file does not match


def test_no_file_points_outside_the_repository():
    offenders = []
    for folder in ("minigpt", "tests", "examples", "benchmarks", "docs"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith((".py", ".md", ".cfg", ".toml", ".txt")) and name != "names.txt":
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        text = f.read()
                    offenders += [f"{dirpath}/{name}: {o}" for o in OUTSIDE if o in text]
    for name in ("README.md", "setup.cfg", "pyproject.toml"):
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            text = f.read()
        offenders += [f"{name}: {o}" for o in OUTSIDE if o in text]
    assert offenders == []


def test_the_names_ship_with_the_package_and_their_licence():
    names = read_documents(NAMES_FILE)
    assert len(names) == 32_033 and names[0] == "emma" and names[-1] == "zzyzx"
    with open(os.path.join(os.path.dirname(NAMES_FILE), "names.LICENSE"), encoding="utf-8") as f:
        assert "MIT License" in f.read()


def test_train_on_the_shipped_names(tmp_path, capsys):
    code = main(["train", "--data", "names", "--steps", "3", "--out", str(tmp_path), "--no-progress",
                 "--eval-every", "0"])
    assert code == 0
    assert "32,033 document(s) from names" in capsys.readouterr().out
    assert (tmp_path / "checkpoint.json").exists()
