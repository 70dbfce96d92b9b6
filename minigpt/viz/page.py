"""`html_page`: one self-contained HTML file that steps through backpropagation.

The page holds the picture `draw_dot` makes (as inline SVG), the steps of
`explain_backward` (as inline JSON) and a small script (`page.js`, inlined), and
nothing else: it needs no server and no network, and opens from disk in any browser.

    step forward and back, edge by edge   ->  / <-, or the buttons
    reset, run to the end                 Home / End
    forward values (grads hidden)         F
    a node's op, data, grad, children     click it

Data embedded, all numbers as the text tools write them:
    nodes: [{id: "n3", name, op, data, children: [[child id, local derivative], ...]}]
           (id "n3" is the picture's record for topological position 3; "o3" its op circle)
    steps: [{text, child, parent, after}]  one per line of explain_backward(root);
           `after` is the child's grad after the step, as the picture writes it.
    forward: true to open in the forward-values view.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

from ..engine import topological_order
from .draw import PictureTooBigError, draw_dot
from .graph import Foreign, as_graph, node_names, num
from .graphviz_cmd import run_graphviz
from .text import explain_backward

__all__ = ["html_page", "step_data", "PAGE_DEPTH_ADVICE"]

PAGE_DEPTH_ADVICE = ("the stepping page draws every node, so it takes no depth=: write the summary "
                     "as .svg or .png with depth=, and step through a smaller graph (a layer, a neuron)")

PAGE_SIZE_ADVICE = ("The page steps through every node: step through a smaller graph (one layer, one "
                    "neuron), raise max_nodes, or draw the whole as a summary: render(root, 'x.svg', depth=1) "
                    "on a graph built inside `with minigpt.viz.scopes():`.")

_HERE = Path(__file__).resolve().parent


def step_data(root, params=None) -> Dict[str, list]:
    """The nodes and the steps of `explain_backward(root)`, as embedded in the page.

    The steps are those of a pass from zero grads; every `.grad` is left as it was."""
    graph = as_graph(root)
    order = topological_order(graph)
    names, _ = node_names(order, params)
    index = {v: i for i, v in enumerate(order)}
    held = [v.grad for v in order]
    for v in order:  # a pass from zero, whatever backward() already accumulated
        v.grad = 0.0
    try:
        steps = list(explain_backward(graph, params))
    finally:
        for v, g in zip(order, held):
            v.grad = g
    locals_seen: Dict[object, List[float]] = {}  # closure-based values: read off the steps
    for s in steps:
        if s.parent is not None:
            locals_seen.setdefault(s.parent, []).append(s.local)
    nodes = []
    for i, v in enumerate(order):
        local = locals_seen.get(v, []) if isinstance(v, Foreign) else v._local_grads
        children = [[f"n{index[c]}", num(d) if d is not None else "?"]
                    for c, d in zip(v._children, list(local) + [None] * len(v._children))]
        nodes.append({"id": f"n{i}", "name": names[v], "op": v.op, "data": num(v.data), "children": children})
    return {"nodes": nodes,
            "steps": [{"text": str(s), "child": f"n{index[s.child]}",
                       "parent": None if s.parent is None else f"n{index[s.parent]}",
                       "after": num(s.after, 4)} for s in steps]}


def html_page(root, rankdir: str = "LR", depth: Optional[int] = None, max_nodes: Optional[int] = None,
              params=None, title: Optional[str] = None, show_grad: bool = True) -> str:
    """The stepping page for `root`'s graph, as one string of HTML.

    Options as for `draw_dot`; `depth=` is refused (ValueError): the page steps
    through every node, edge by edge. A graph of more than `max_nodes` is refused
    like draw_dot refuses it (PictureTooBigError), advising a smaller graph or a
    summary picture. Needs a Graphviz renderer for the SVG. `show_grad=False` opens
    the page in its forward-values view (grads hidden), like draw_dot's picture."""
    if depth is not None:
        raise ValueError(PAGE_DEPTH_ADVICE)
    try:
        picture = draw_dot(root, rankdir=rankdir, max_nodes=max_nodes, params=params)
    except PictureTooBigError as err:  # draw_dot's advice, for a page that draws every node
        raise PictureTooBigError(err.nodes, err.limit, None, err.tracked, advice=PAGE_SIZE_ADVICE) from None
    svg = run_graphviz(picture.source, "svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    data = step_data(root, params)
    data["forward"] = not show_grad
    name = title or data["nodes"][-1]["name"]
    page = (_HERE / "page.html").read_text(encoding="utf-8")
    fill = {"TITLE": html.escape(f"backward through {name}"),
            "STYLE": (_HERE / "page.css").read_text(encoding="utf-8"),
            "SVG": svg,
            # "</" cannot appear inside a <script>: JSON allows "<\/" for it
            "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
            "SCRIPT": (_HERE / "page.js").read_text(encoding="utf-8")}
    return re.sub(r"@@(TITLE|STYLE|SVG|DATA|SCRIPT)@@", lambda m: fill[m.group(1)], page)
