"""A PrairieLearn question with an external grader: `minigpt exercises prairielearn OUT_DIR`.

The folder goes into a course's questions/. It holds

- info.json: the question, graded externally: `gradingMethod` "External", and
  `externalGradingOptions` naming the image (any with Python 3.9+), the entrypoint
  (/grade/tests/run_grader) and the time limit;
- question.html: the statement and an upload of the student's files (engine.py,
  nn.py, gpt.py, as far as the assignment needs them);
- tests/: what PrairieLearn copies to /grade/tests/ for every grading job: the
  script run_grader, assignment.json (the assignment, parsed) and minigpt-src/
  (minigpt's own source, as in the Gradescope bundle).

run_grader grades /grade/student into /grade/results/results.json (`score` from 0
to 1, one test per task with points, max_points, message and output) with the
bundled minigpt, run with `python -S`: no network, no package, no TOML reader.
GRADE_ROOT replaces /grade, to try it on a copy of that layout.
"""
import html
import json
import os
import uuid
from pathlib import Path
from typing import List

from .assignment import Assignment
from .autograder import minigpt_sources

RUN_GRADER = """\
#!/usr/bin/env bash
# PrairieLearn runs this once per submission (externalGradingOptions.entrypoint):
# grade /grade/student into /grade/results/results.json with the minigpt bundled
# in /grade/tests/minigpt-src. GRADE_ROOT replaces /grade (to try it on a copy of
# that layout); PYTHON chooses the interpreter (default python3). -S leaves
# site-packages out, so the bundled minigpt is the one used.
set -u
root="${GRADE_ROOT:-/grade}"
mkdir -p "$root/results"
export PYTHONPATH="$root/tests/minigpt-src"
cd "$root/tests/minigpt-src"  # python -m puts the current folder first on sys.path
exec "${PYTHON:-python3}" -S -m minigpt grade "$root/student" --prairielearn "$root/results/results.json" \\
  --assignment "$root/tests/assignment.json"
"""


def info(assignment: Assignment, image: str, timeout: int) -> dict:
    """info.json: the question, graded by run_grader in `image` within `timeout` seconds."""
    key = "minigpt-exercises:" + assignment.title + ":" + ",".join(assignment.task_ids)
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),  # the same assignment gives the same question
        "title": assignment.title,
        "topic": "Autograd and transformers",
        "tags": ["minigpt"],
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": "/grade/tests/run_grader",
            "timeout": timeout,
        },
    }


def question_html(assignment: Assignment) -> str:
    files = [f"{f}.py" for f in assignment.files]
    rows = "\n".join(f"      <li>{html.escape(t.id)} {html.escape(t.title)} ({t.points:g} points, "
                     f"<code>{t.module}.py</code>)</li>" for t in assignment.tasks)
    return f"""\
<pl-question-panel>
  <p>{html.escape(assignment.title)}: upload your {', '.join(f'<code>{f}</code>' for f in files)}.
    The grader runs the public checks of your workspace and hidden ones
    ({assignment.total:g} points in all).</p>
  <ul>
{rows}
  </ul>
  <pl-file-upload file-names="{','.join(files)}"></pl-file-upload>
</pl-question-panel>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def build_question(out_dir, assignment: Assignment, image: str = "prairielearn/grader-python",
                   timeout: int = 600) -> List[Path]:
    """Write the question folder (new or empty) and return the files written."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} is not a new or empty folder (nothing was written)")
    files = {"info.json": json.dumps(info(assignment, image, timeout), indent=2) + "\n",
             "question.html": question_html(assignment),
             "tests/assignment.json": assignment.to_json(),
             "tests/run_grader": RUN_GRADER}
    written = []
    for name, text in files.items():
        written.append(_write(out / name, text.encode("utf-8")))
    os.chmod(out / "tests" / "run_grader", 0o755)
    for name, data in minigpt_sources():
        written.append(_write(out / "tests" / "minigpt-src" / name, data))
    return written


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
