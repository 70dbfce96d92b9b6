"""`Picture`: what `draw_dot` returns, a `graphviz.Digraph` that draws with whichever
Graphviz is installed (`minigpt.viz.graphviz_cmd`) and shows in a notebook as the
page that steps through backward (`minigpt.viz.page`).
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Optional

import graphviz

from .graphviz_cmd import run_graphviz

__all__ = ["Picture"]


class Picture(graphviz.Digraph):
    """A `graphviz.Digraph` that draws with whichever Graphviz is installed.

    The graphviz package runs only the system's `dot`; a Picture's `pipe()` and
    `render()`, and so its display in a notebook (`_repr_mimebundle_` pipes SVG),
    go through `minigpt.viz.graphviz_cmd`, which also finds `graphviz-pure`.
    A notebook shows it as the page that steps through backward (`_repr_html_`,
    see `minigpt.viz.page`).
    """

    # (GraphView, options) of the graph drawn, for the stepping page; set by draw_dot
    stepping = None

    def _repr_html_(self) -> Optional[str]:
        """The stepping page in an iframe (None when there is no graph to step through)."""
        if self.stepping is None:
            return None
        from .page import page_of  # page.py builds on the pictures: imported when needed
        page = page_of(self.stepping[0], self)
        drawn = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', page)
        height = min(900, int(float(drawn.group(2)) * 2 + 200)) if drawn else 600
        return (f'<iframe srcdoc="{html.escape(page)}" title="backward, step by step" '
                f'style="width: 100%; height: {height}px; border: 0"></iframe>')

    def pipe(self, format: Optional[str] = None, *args, encoding: Optional[str] = None, **kwargs):
        """The picture as bytes in `format` (default: `self.format`), or as text
        when `encoding` is given. Other graphviz options are ignored."""
        data = run_graphviz(self.source, format or self.format)
        return data.decode(encoding) if encoding else data

    def render(self, filename=None, directory=None, view: bool = False, cleanup: bool = False,
               format: Optional[str] = None, *args, outfile=None, **kwargs) -> str:
        """Save the DOT source (`filename`, in `directory`) and draw it next to it as
        `<source>.<format>`, or into `outfile`; returns the drawn file's path."""
        fmt = format or (Path(outfile).suffix.lstrip(".") if outfile else self.format)
        source_path = self.save(filename, directory=directory)
        target = Path(outfile) if outfile else Path(f"{source_path}.{fmt}")
        target.write_bytes(run_graphviz(self.source, fmt))
        if cleanup:
            os.remove(source_path)
        if view:
            self._view(str(target), format=fmt, quiet=False)
        return str(target)
