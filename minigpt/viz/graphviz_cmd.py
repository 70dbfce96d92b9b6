"""Running Graphviz: `find_renderer` picks the command, `run_graphviz` turns DOT
source into SVG or PNG bytes with it.

Two renderers work: the system's `dot`, or `graphviz-pure` (`pip install
graphviz-pure`), a pip-installable Graphviz with the same command line. The
`graphviz` Python package only ever runs `dot`, so everything in minigpt.viz that
draws (render, and a picture shown in a notebook) goes through here instead.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from typing import List, Optional

__all__ = ["find_renderer", "run_graphviz", "RendererNotFoundError", "INSTALL_ADVICE"]

INSTALL_ADVICE = ("install Graphviz (apt-get install graphviz, brew install graphviz) "
                  "or pip install graphviz-pure")


class RendererNotFoundError(RuntimeError):
    """Neither Graphviz's `dot` nor `graphviz-pure` could be found."""


def _python_script_dirs() -> List[str]:
    """Where pip puts commands for this Python (a virtualenv's bin/ may not be on PATH)."""
    dirs = [os.path.dirname(sys.executable)]
    scripts = sysconfig.get_path("scripts")
    if scripts and scripts not in dirs:
        dirs.append(scripts)
    return dirs


def find_renderer() -> Optional[str]:
    """The Graphviz command to use: the system `dot` when it is on PATH, otherwise
    `graphviz-pure` (`pip install graphviz-pure`) from PATH or from this Python's
    scripts directory. None when neither is installed."""
    found = shutil.which("dot") or shutil.which("graphviz-pure")
    if found:
        return found
    for folder in _python_script_dirs():
        found = shutil.which("graphviz-pure", path=folder)
        if found:
            return found
    return None


def run_graphviz(source: str, fmt: str) -> bytes:
    """DOT `source` laid out and drawn as `fmt` ('svg' or 'png'), as bytes.

    Raises RendererNotFoundError when no renderer is installed, RuntimeError with
    Graphviz's message when it fails."""
    command = find_renderer()
    if command is None:
        raise RendererNotFoundError(f"no Graphviz renderer found; {INSTALL_ADVICE}")
    args = [command, f"-T{fmt}"]
    if fmt == "png":
        args.append("-Gdpi=144")  # sharp enough for a slide
    done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"{os.path.basename(command)} failed (exit status {done.returncode}): {message}")
    return done.stdout
