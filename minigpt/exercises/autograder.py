"""A Gradescope autograder bundle: `minigpt exercises autograder OUT.zip`.

The zip holds, at its top level, the two scripts Gradescope runs:

- setup.sh (once, when the image is built): makes sure Python 3.9+ is there;
- run_autograder (once per submission): grades /autograder/submission into
  /autograder/results/results.json;

assignment.json when it was built with an assignment (the tasks, points, visibility
and limits, parsed: grading needs no TOML reader), and minigpt-src/, minigpt's own
source (this package as installed, with a minimal pyproject.toml). run_autograder
runs it from there with `python -S` (no site-packages), so the bundle needs no
network, no other package, and is not affected by whatever else the image has
installed.
"""
import zipfile
from pathlib import Path

import minigpt

TEMPLATES = Path(__file__).resolve().parent / "templates"
SCRIPTS = ("setup.sh", "run_autograder")
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "minigpt"
version = "{version}"
requires-python = ">=3.9"

[project.scripts]
minigpt = "minigpt.cli:main"

[tool.setuptools.packages.find]
include = ["minigpt*"]

[tool.setuptools.package-data]
"minigpt.exercises" = ["solutions/*.py", "templates/*"]
"""


def _add(bundle: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))  # fixed: the same source gives the same zip
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    bundle.writestr(info, data)


def minigpt_sources():
    """(path inside minigpt-src/, bytes) of minigpt's own source, and its pyproject.toml."""
    package = Path(minigpt.__file__).resolve().parent
    sources = sorted(p for p in package.rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))
    yield "pyproject.toml", PYPROJECT.format(version=minigpt.__version__).encode()
    for path in sources:
        yield f"minigpt/{path.relative_to(package).as_posix()}", path.read_bytes()


def build_autograder(out_zip, assignment=None) -> Path:
    """Write the bundle to out_zip (a .zip path) and return its path; with an Assignment,
    run_autograder grades by it."""
    out_zip = Path(out_zip)
    if out_zip.suffix != ".zip":
        raise ValueError(f"the autograder bundle must be a .zip file, got {out_zip.name}")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out_zip, "w") as bundle:
        for script in SCRIPTS:
            _add(bundle, script, (TEMPLATES / script).read_bytes(), executable=True)
        if assignment is not None:
            _add(bundle, "assignment.json", assignment.to_json().encode())
        for name, data in minigpt_sources():
            _add(bundle, f"minigpt-src/{name}", data)
    return out_zip
