"""`render`: write the picture of a graph to .svg, .png, .dot, or .html (the page
that steps through backward, `minigpt.viz.page`).

SVG, PNG and HTML need a Graphviz renderer: the system's `dot`, or `graphviz-pure`
(`pip install graphviz-pure`); `.dot` needs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .draw import picture_of
from .page import page_of
from .view import GraphView, check_depth
from .graphviz_cmd import INSTALL_ADVICE, RendererNotFoundError, find_renderer, run_graphviz

__all__ = ["render", "find_renderer", "RendererNotFoundError"]

_FORMATS = {".svg": "svg", ".png": "png", ".html": "html", ".dot": "dot", ".gv": "dot"}


def render(root, path, rankdir: str = "LR", show_grad: bool = True, depth: Optional[int] = None,
           max_nodes: Optional[int] = None, params=None):
    """Draw `root`'s graph (see `draw_dot` for the options) into `path`; returns `path`.

    The format comes from the suffix: `.svg` or `.png` run Graphviz (the system `dot`,
    or `graphviz-pure`); `.html` writes the page that steps through backward (one
    self-contained file, see `minigpt.viz.page`); `.dot` (or `.gv`) writes the DOT
    source and needs nothing.
    Missing folders are created. Without a renderer the DOT source is still written
    next to `path` and RendererNotFoundError (a RuntimeError) says what to install.
    The graph is read and drawn once, whatever the format.
    """
    target = Path(path)
    fmt = _FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"render: cannot tell the format of {str(path)!r}; "
                         f"use a file name ending in {', '.join(_FORMATS)}")
    check_depth(depth)
    view = GraphView(root, params, depth)
    # the page always draws the grads, so that it can step them; show_grad=False hides them there
    picture = picture_of(view, rankdir, show_grad or fmt == "html", max_nodes)
    source = picture.source
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        target.write_text(source, encoding="utf-8")
        return path
    try:
        if fmt == "html":
            target.write_text(page_of(view, picture, show_grad=show_grad), encoding="utf-8")
        else:
            target.write_bytes(run_graphviz(source, fmt))
    except RendererNotFoundError:
        dot_path = target.with_suffix(".dot")
        dot_path.write_text(source, encoding="utf-8")
        raise RendererNotFoundError(f"render: no Graphviz renderer found to make {target.name}; "
                                    f"{INSTALL_ADVICE}. The DOT source was written to {dot_path}.") from None
    except RuntimeError as err:
        raise RuntimeError(f"render: {err}") from None
    return path
