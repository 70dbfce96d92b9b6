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
    collapsed: true for a depth= page, whose nodes are the picture's "g3" and whose
           steps go along its edges (`collapsed_step_data`).
    forward: true to open in the forward-values view.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

from ..engine import topological_order
from .draw import collapsed_groups, draw_dot, group_title
from .graph import Foreign, as_graph, node_names, num
from .graphviz_cmd import run_graphviz
from .text import explain_backward

__all__ = ["html_page", "step_data", "collapsed_step_data"]

_HERE = Path(__file__).resolve().parent


def _steps_from_zero(graph, order, params) -> list:
    """The steps of `explain_backward(graph)` from zero grads; every `.grad` is left
    as it was (whatever backward() had already accumulated)."""
    held = [v.grad for v in order]
    for v in order:
        v.grad = 0.0
    try:
        return list(explain_backward(graph, params))
    finally:
        for v, g in zip(order, held):
            v.grad = g


def step_data(root, params=None) -> Dict[str, list]:
    """The nodes and the steps of `explain_backward(root)`, as embedded in the page.

    The steps are those of a pass from zero grads; every `.grad` is left as it was."""
    graph = as_graph(root)
    order = topological_order(graph)
    names, _ = node_names(order, params)
    index = {v: i for i, v in enumerate(order)}
    steps = _steps_from_zero(graph, order, params)
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


def collapsed_step_data(root, depth: int, params=None) -> Dict[str, list]:
    """The steps of backward at the level of a collapsed picture (draw_dot's depth=).

    One step per edge between two drawn nodes (boxes, groups of alike operations,
    groups of parameters), in the order backward finishes it: the gradient flowing
    along the edge is summed over the edges of the graph it stands for. A drawn
    node's grad is the sum of the gradients flowing into it from the other drawn
    nodes: for one Value its grad, for a group of leaves the sum of their grads."""
    graph = as_graph(root)
    order = topological_order(graph)
    names, pnames = node_names(order, params)
    groups, gid, edge_pairs = collapsed_groups(order, depth, pnames)
    title = [group_title(group, names) for group in groups]
    flow: Dict[tuple, float] = {pair: 0.0 for pair in edge_pairs}   # (input group, group) -> summed flow
    count: Dict[tuple, int] = {pair: 0 for pair in edge_pairs}
    last: Dict[tuple, int] = {}
    steps = _steps_from_zero(graph, order, params)
    for k, s in enumerate(steps):
        if s.parent is None:
            continue
        pair = (gid.get(s.child), gid.get(s.parent))
        if pair in flow:  # not within one group, nor from a constant folded into a box
            flow[pair] += s.local * s.upstream
            count[pair] += 1
            last[pair] = k
    inflow = [0.0] * len(groups)
    top = gid[order[-1]]
    inflow[top] = 1.0
    out = [{"text": f"{title[top]}.grad = 1.0", "child": f"g{top}", "parent": None, "after": "1.0"}]
    for h, g in sorted(flow, key=last.get):
        inflow[h] += flow[(h, g)]
        edges = f"over {count[(h, g)]:,} edges" if count[(h, g)] > 1 else "over 1 edge"
        out.append({"text": f"{title[h]}.grad += sum {edges} of (d {title[g]}/d {title[h]}) * {title[g]}.grad "
                            f"= {num(flow[(h, g)])}  ->  {title[h]}.grad = {num(inflow[h])}",
                    "child": f"g{h}", "parent": f"g{g}", "after": num(inflow[h], 4)})
    nodes = []
    for g, group in enumerate(groups):
        single = group.members[0] if len(group.members) == 1 else None
        what = {"box": f"module, {len(group.members):,} ops", "ops": f"{len(group.members):,} operations"}
        nodes.append({"id": f"g{g}", "name": title[g],
                      "op": single.op if single is not None else what.get(group.kind, f"{len(group.members):,} leaves"),
                      "data": num(single.data) if single is not None else "",
                      "children": [[f"g{h}", num(flow[(h, g2)])] for h, g2 in edge_pairs if g2 == g]})
    return {"nodes": nodes, "steps": out, "collapsed": True}


def html_page(root, rankdir: str = "LR", depth: Optional[int] = None, max_nodes: Optional[int] = None,
              params=None, title: Optional[str] = None, show_grad: bool = True) -> str:
    """The stepping page for `root`'s graph, as one string of HTML.

    Options as for `draw_dot`. With `depth=` the page shows the collapsed picture
    and steps at its level (`collapsed_step_data`: one step per drawn edge, the
    gradients summed per box). A picture of more than `max_nodes` is refused as
    draw_dot refuses it (PictureTooBigError, advising depth=). Needs a Graphviz
    renderer for the SVG. `show_grad=False` opens the page in its forward-values
    view (grads hidden), like draw_dot's picture."""
    picture = draw_dot(root, rankdir=rankdir, depth=depth, max_nodes=max_nodes, params=params)
    svg = run_graphviz(picture.source, "svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    data = step_data(root, params) if depth is None else collapsed_step_data(root, depth, params)
    data["forward"] = not show_grad
    seeded = data["steps"][0]["child"]  # the first step seeds the output
    name = title or next(n["name"] for n in data["nodes"] if n["id"] == seeded)
    page = (_HERE / "page.html").read_text(encoding="utf-8")
    fill = {"TITLE": html.escape(f"backward through {name}"),
            "STYLE": (_HERE / "page.css").read_text(encoding="utf-8"),
            "SVG": svg,
            # "</" cannot appear inside a <script>: JSON allows "<\/" for it
            "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
            "SCRIPT": (_HERE / "page.js").read_text(encoding="utf-8")}
    return re.sub(r"@@(TITLE|STYLE|SVG|DATA|SCRIPT)@@", lambda m: fill[m.group(1)], page)
