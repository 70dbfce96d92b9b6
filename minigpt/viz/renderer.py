"""`render`: write the picture of a graph to .svg, .png or .dot.

SVG and PNG need a Graphviz renderer: the system's `dot`, or `graphviz-pure`
(`pip install graphviz-pure`); `.dot` needs nothing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import List, Optional

from .draw import draw_dot

__all__ = ["render", "find_renderer", "RendererNotFoundError"]

# --------------------------------------------------------------------------------------
# render
# --------------------------------------------------------------------------------------
class RendererNotFoundError(RuntimeError):
    """Neither Graphviz's `dot` nor `graphviz-pure` could be found."""


_FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}


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


def render(root, path, **draw_dot_options):
    """Draw `root`'s graph (see `draw_dot` for the options) into `path`; returns `path`.

    The format comes from the suffix: `.svg` or `.png` run Graphviz (the system `dot`,
    or `graphviz-pure`); `.dot` (or `.gv`) writes the DOT source and needs nothing.
    Missing folders are created. Without a renderer the DOT source is still written
    next to `path` and RendererNotFoundError (a RuntimeError) says what to install.
    """
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"render: cannot tell the format of {str(path)!r}; "
                         f"use a file name ending in {', '.join(_FORMATS)}")
    source = draw_dot(root, **draw_dot_options).source
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        target.write_text(source, encoding="utf-8")
        return path
    command = find_renderer()
    if command is None:
        dot_path = target.with_suffix(".dot")
        dot_path.write_text(source, encoding="utf-8")
        raise RendererNotFoundError(
            f"render: no Graphviz renderer found to make {target.name}; install Graphviz "
            f"(apt-get install graphviz, brew install graphviz) or pip install graphviz-pure. "
            f"The DOT source was written to {dot_path}.")
    args = [command, f"-T{fmt}", "-o", str(target)]
    if fmt == "png":
        args.append("-Gdpi=144")  # sharp enough for a slide
    done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"render: {os.path.basename(command)} failed (exit status {done.returncode}): {message}")
    return path

