"""A student's workspace: the stubs, the public tests and a README.

    new_workspace("mini-gpt")   # what `minigpt exercises new mini-gpt` does

writes engine.py, nn.py and gpt.py (the stubs), tests/test_engine.py, test_nn.py
and test_gpt.py (one test per public check, marked with its task: `pytest -m
task3_2`), pytest.ini (the markers, and the workspace on sys.path) and README.md
(the tasks with their points, how to run the tests, how to draw a graph).
"""
from pathlib import Path
from string import Template
from typing import Dict, List

from .stubs import stubs
from .tasks import MAX_SCORE, TASKS, Task

TEMPLATES = Path(__file__).resolve().parent / "templates"


class WorkspaceError(ValueError):
    """The workspace cannot be written where asked."""


def public_tests(module: str) -> str:
    """tests/test_<module>.py: a test per public check of the tasks written in <module>.py."""
    tasks = [t for t in TASKS if t.module == module]
    lines = [f'"""Public checks of the tasks in {module}.py ({", ".join(t.id for t in tasks)}).',
             "",
             "Each test runs one check on your code and, when it fails, says what was expected.",
             'Run the checks of one task with: pytest -m ' + tasks[0].marker,
             '"""',
             "import pytest",
             "",
             "from minigpt.exercises.public import check"]
    for task in tasks:
        for c in task.checks:
            if c.public:
                lines += ["", "",
                          f"@pytest.mark.{task.marker}",
                          f"def test_{task.marker[len('task'):]}_{c.name}():",
                          f'    """Task {task.id} {task.title}: {c.title}."""',
                          f'    check("{task.id}:{c.name}")']
    return "\n".join(lines) + "\n"


def pytest_ini() -> str:
    lines = ["[pytest]", "# the workspace itself is on sys.path, so the tests import your engine, nn and gpt",
             "pythonpath = .", "testpaths = tests", "markers ="]
    lines += [f"    {t.marker}: task {t.id} {t.title} ({t.points:g} points)" for t in TASKS]
    return "\n".join(lines) + "\n"


def _task_section(task: Task) -> str:
    public = [c for c in task.checks if c.public]
    hidden = len(task.checks) - len(public)
    lines = [f"### {task.id} {task.title} ({task.points:g} points, `{task.module}.py`, `pytest -m {task.marker}`)",
             ""]
    if task.note:
        lines += [task.note, ""]
    lines += [f"- {c.title}" for c in public]
    if hidden:
        lines.append(f"- and {hidden} hidden check{'s' if hidden > 1 else ''}")
    return "\n".join(lines)


def readme() -> str:
    text = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    return Template(text).substitute(tasks="\n\n".join(_task_section(t) for t in TASKS), max_score=f"{MAX_SCORE:g}")


def workspace_files() -> Dict[str, str]:
    """Every file of a fresh workspace: relative path -> text."""
    files = {f"{name}.py": text for name, text in stubs().items()}
    files.update({f"tests/test_{m}.py": public_tests(m) for m in ("engine", "nn", "gpt")})
    files["pytest.ini"] = pytest_ini()
    files["README.md"] = readme()
    return files


def new_workspace(folder) -> List[Path]:
    """Write a fresh workspace into `folder` (created if needed; it must be empty)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise WorkspaceError(f"{folder} is not empty; give a new or empty folder (nothing was written)")
    written = []
    for relative, text in workspace_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
