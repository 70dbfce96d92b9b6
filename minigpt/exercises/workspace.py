"""A student's workspace: the stubs, the public tests and a README.

    new_workspace("mini-gpt")               # what `minigpt exercises new mini-gpt` does
    new_workspace("week1", load("week1.toml"))  # an assignment's tasks, points and hints

writes engine.py, nn.py and gpt.py (the stubs), tests/test_engine.py, test_nn.py
and test_gpt.py (one test per public check, marked with its task: `pytest -m
task3_2`), pytest.ini (the markers, and the workspace on sys.path) and README.md
(the tasks with their points, how to run the tests, how to draw a graph). With an
assignment: only the files its tasks need, only its tasks' tests and README
sections, its points, title and hint level, and assignment.json (the assignment,
which `minigpt exercises check` in the workspace then follows).
"""
import re
import textwrap
from pathlib import Path
from string import Template
from typing import Dict, List, Optional

from .assignment import DEFAULT, Assignment
from .stubs import stubs
from .tasks import Task

TEMPLATES = Path(__file__).resolve().parent / "templates"
class WorkspaceError(ValueError):
    """The workspace cannot be written where asked."""


def public_tests(module: str, assignment: Assignment = DEFAULT) -> str:
    """tests/test_<module>.py: a test per public check of the assignment's tasks written in <module>.py."""
    tasks = [t for t in assignment.tasks if t.module == module]
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


def pytest_ini(assignment: Assignment = DEFAULT) -> str:
    lines = ["[pytest]", "# the workspace itself is on sys.path, so the tests import your engine, nn and gpt",
             "pythonpath = .", "testpaths = tests", "markers ="]
    lines += [f"    {t.marker}: task {t.id} {t.title} ({t.points:g} points)" for t in assignment.tasks]
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


def _given_files(assignment: Assignment) -> str:
    """A README paragraph on the files that hold none of the assignment's tasks."""
    given = [f for f in assignment.files if not any(t.module == f for t in assignment.tasks)]
    if not given:
        return ""
    names = " and ".join(f"`{f}.py`" for f in given)
    return (f"{names} hold{'s' if len(given) == 1 else ''} no task of this assignment, but your code "
            f"uses {'it' if len(given) == 1 else 'them'}: replace the stub{'' if len(given) == 1 else 's'} "
            f"here with your own from an earlier assignment.\n\n")


def _stub_example(texts: Dict[str, str], assignment: Assignment) -> str:
    """The first place the student writes code, as their stub shows it (hint and raise)."""
    for name in assignment.files:
        lines = texts[name].splitlines()
        for i, line in enumerate(lines):
            match = re.match(r'\s*raise NotImplementedError\("Task (\d+\.\d+)', line)
            if match and match[1] in assignment.task_ids:
                start = i
                while start > 0 and lines[start - 1].lstrip().startswith("#") \
                        and not lines[start].lstrip().startswith("# Task"):
                    start -= 1
                return textwrap.dedent("\n".join(lines[start:i + 1]))
    return 'raise NotImplementedError("Task ...")'


def readme(assignment: Assignment = DEFAULT, texts: Optional[Dict[str, str]] = None) -> str:
    texts = texts or stubs(assignment.hints, assignment.task_ids)
    text = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    return Template(text).substitute(
        title=assignment.title, tasks="\n\n".join(_task_section(t) for t in assignment.tasks),
        max_score=f"{assignment.total:g}", given=_given_files(assignment),
        files=", ".join(f"`{f}.py`" for f in assignment.files), stub_example=_stub_example(texts, assignment))


def workspace_files(assignment: Assignment = DEFAULT) -> Dict[str, str]:
    """Every file of a fresh workspace: relative path -> text."""
    texts = stubs(assignment.hints, assignment.task_ids)
    files = {f"{name}.py": texts[name] for name in assignment.files}
    files.update({f"tests/test_{m}.py": public_tests(m, assignment) for m in assignment.files
                  if any(t.module == m for t in assignment.tasks)})
    files["pytest.ini"] = pytest_ini(assignment)
    files["README.md"] = readme(assignment, texts)
    if assignment != DEFAULT:  # `minigpt exercises check` in the workspace checks this assignment's tasks
        files["assignment.json"] = assignment.to_json()
    return files


def new_workspace(folder, assignment: Optional[Assignment] = None) -> List[Path]:
    """Write a fresh workspace into `folder` (created if needed; it must be empty)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WorkspaceError(f"{folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise WorkspaceError(f"{folder} is not empty; give a new or empty folder (nothing was written)")
    written = []
    for relative, text in workspace_files(assignment or DEFAULT).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
