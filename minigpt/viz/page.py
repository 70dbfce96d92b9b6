"""`html_page`: one self-contained HTML file that steps through backpropagation.

The page holds the picture `draw_dot` makes (as inline SVG), the steps of
`explain_backward` (as inline JSON) and a small script (`page.js`, inlined), and
nothing else: it needs no server and no network, and opens from disk in any browser.

    step forward and back, edge by edge   ->  / <-, or the buttons
    reset, run to the end                 Home / End
    forward values (grads hidden)         F
    a node's op, data, grad, children     click it

Data embedded, all numbers as the text tools write them:
    nodes: [{id: "n3", opId: "o3", name, op, data, children: [[child id, local derivative], ...]}]
           (ids as the picture's, from `minigpt.viz.view`: "n3" the record of
           topological position 3, "o3" its op circle, null for a leaf)
    steps: [{text, child, parent, after}]  one per line of explain_backward(root);
           `after` is the child's grad after the step, as the picture writes it.
    collapsed: true for a depth= page, whose nodes are the picture's "g3" and whose
           steps go along its edges (`collapsed_step_data`).
    forward: true to open in the forward-values view.
    start: the step the page opens at: the one whose grads are those the graph
           holds (0 before backward, the last after it).
    note: a line shown under the steps when the page has something to say (the
           graph holds grads of more than one pass; a big graph has a summary view).
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .draw import picture_of
from .graph import Foreign, in_step, num, scope_of
from .text import steps_of
from .view import GraphView

__all__ = ["html_page", "page_of", "step_data", "collapsed_step_data"]

_HERE = Path(__file__).resolve().parent

# A page with more steps than this says how to get a view that fits (depth=, or less graph).
BIG = 150


def _replay(view: GraphView) -> Tuple[list, str]:
    """(the steps of explain_backward from zero grads, what the graph holds: 'zero',
    'one pass' or 'other'); every `.grad` is left as it was."""
    held = [v.grad for v in view.order]
    for v in view.order:
        v.grad = 0.0
    try:
        steps = list(steps_of(view.root, view.order, view.names))
        end = [v.grad for v in view.order]
    finally:
        for v, g in zip(view.order, held):
            v.grad = g
    if not any(held):
        return steps, "zero"
    return steps, "one pass" if held == end else "other"


def step_data(root, params=None) -> Dict[str, list]:
    """The nodes and the steps of `explain_backward(root)`, as embedded in the page.

    The steps are those of a pass from zero grads; every `.grad` is left as it was."""
    return _step_data(root if isinstance(root, GraphView) else GraphView(root, params))


def _step_data(view: GraphView) -> dict:
    steps, holds = _replay(view)
    locals_seen: Dict[object, List[float]] = {}  # closure-based values: read off the steps
    for s in steps:
        if s.parent is not None:
            locals_seen.setdefault(s.parent, []).append(s.local)
    nodes = []
    for v in view.order:
        local = locals_seen.get(v, []) if isinstance(v, Foreign) else v._local_grads
        children = [[view.node_id(c), num(d) if d is not None else "?"]
                    for c, d in zip(v._children, list(local) + [None] * len(v._children))]
        nodes.append({"id": view.node_id(v), "opId": view.op_id(v) if v._children else None,
                      "name": view.names[v], "op": v.op, "data": num(v.data), "children": children})
    return {"nodes": nodes, "holds": holds,
            "steps": [{"text": str(s), "child": view.node_id(s.child),
                       "parent": None if s.parent is None else view.node_id(s.parent),
                       "after": num(s.after, 4)} for s in steps]}


def collapsed_step_data(root, depth: Optional[int] = None, params=None) -> Dict[str, list]:
    """The steps of backward at the level of a collapsed picture (draw_dot's depth=).

    One step per edge between two drawn nodes (boxes, groups of alike operations,
    groups of parameters), in the order backward finishes it, carrying the gradient
    of all the graph's edges it stands for. A drawn node that is one Value shows its
    grad; a group shows the norm of the gradient arriving at its outputs (see
    `minigpt.viz.collapse`), which grows step by step to what the picture shows."""
    view = root if isinstance(root, GraphView) else GraphView(root, params, depth)
    collapsed, gid = view.collapsed, view.collapsed.gid
    title = [g.title for g in collapsed.groups]
    said = [in_step(g.short) for g in collapsed.groups]
    single = [len(g.members) == 1 for g in collapsed.groups]
    flow: Dict[tuple, Dict[object, float]] = {pair: {} for pair in collapsed.edges}  # per output of h
    count: Dict[tuple, int] = {pair: 0 for pair in collapsed.edges}
    last: Dict[tuple, int] = {}
    steps, holds = _replay(view)
    for k, s in enumerate(steps):
        if s.parent is None:
            continue
        pair = (gid.get(s.child), gid.get(s.parent))
        if pair in flow:  # not within one group, nor from a constant folded into a box
            flow[pair][s.child] = flow[pair].get(s.child, 0.0) + s.local * s.upstream
            count[pair] += 1
            last[pair] = k
    arrived: List[Dict[object, float]] = [{} for _ in collapsed.groups]
    top = gid[view.root]
    out = [{"text": f"{said[top]}.grad = ∂{said[top]}/∂{said[top]} = 1.0", "child": view.group_id(top),
            "parent": None, "after": "1.0"}]
    for h, g in sorted(flow, key=last.get):
        for v, d in flow[(h, g)].items():
            arrived[h][v] = arrived[h].get(v, 0.0) + d
        n = count[(h, g)]
        along = f"  ({n:,} edges, summed)" if n > 1 else ""
        rule = f"{said[h]}.grad += ∂{said[g]}/∂{said[h]} * {said[g]}.grad{along}"
        if single[h]:
            value = sum(arrived[h].values())
            text = f"{rule}  ->  {said[h]}.grad = {num(value)}"
        else:
            value = math.sqrt(sum(d * d for d in arrived[h].values()))
            text = f"{rule}  ->  grad norm of {said[h]} = {num(value)} (over {len(arrived[h]):,} outputs)"
        out.append({"text": text, "child": view.group_id(h), "parent": view.group_id(g), "after": num(value, 4)})
    nodes = []
    for g, group in enumerate(collapsed.groups):
        one = group.members[0] if single[g] else None
        what = {"box": f"module, {len(group.members):,} ops", "ops": f"{len(group.members):,} operations"}
        nodes.append({"id": view.group_id(g), "opId": None, "name": title[g], "norm": not single[g],
                      "op": one.op if one is not None else what.get(group.kind, f"{len(group.members):,} leaves"),
                      "data": num(one.data) if one is not None else "",
                      "children": [[view.group_id(h), num(sum(flow[(h, g2)].values()))]
                                   for h, g2 in collapsed.edges if g2 == g]})
    return {"nodes": nodes, "steps": out, "collapsed": True, "holds": holds}


def html_page(root, rankdir: str = "LR", depth: Optional[int] = None, max_nodes: Optional[int] = None,
              params=None, title: Optional[str] = None, show_grad: bool = True) -> str:
    """The stepping page for `root`'s graph, as one string of HTML.

    Options as for `draw_dot`. With `depth=` the page shows the collapsed picture
    and steps at its level (`collapsed_step_data`: one step per drawn edge; a group
    shows the grad norm of its outputs). A picture of more than `max_nodes` is
    refused as draw_dot refuses it (PictureTooBigError, advising depth=). Needs a
    Graphviz renderer for the SVG. The page opens showing the grads the graph
    holds: at step 0 before backward, at the last step after it. `show_grad=False`
    opens it in its forward-values view (grads hidden), like draw_dot's picture."""
    view = GraphView(root, params, depth)
    return page_of(view, picture_of(view, rankdir, max_nodes=max_nodes), title, show_grad)


def page_of(view: GraphView, picture, title: Optional[str] = None, show_grad: bool = True) -> str:
    """The stepping page for a graph already read and drawn (`picture_of(view)`)."""
    svg = picture.pipe("svg").decode("utf-8")
    svg = svg[svg.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    data = _step_data(view) if view.collapsed is None else collapsed_step_data(view)
    data["forward"] = not show_grad
    data["start"] = 0 if data["holds"] == "zero" else len(data["steps"])
    notes = []
    if data["holds"] == "one pass":
        notes.append("These are the grads backward() left. Reset (Home), then Step (\u2192), to watch them "
                     "arrive one edge at a time.")
    if data["holds"] == "other":
        notes.append("The Values hold grads other than one backward pass from zero (backward() ran more "
                     "than once, or grads were set by hand): the page replays one pass from zero.")
    if view.collapsed is None and len(data["steps"]) > BIG:
        notes.append(_big_note(view, len(data["steps"])))
    data["note"] = " ".join(notes)
    name = title or view.names[view.order[-1]]
    page = (_HERE / "page.html").read_text(encoding="utf-8")
    fill = {"TITLE": html.escape(f"backward through {name}"),
            "STYLE": (_HERE / "page.css").read_text(encoding="utf-8"),
            "SVG": svg,
            # "</" cannot appear inside a <script>: JSON allows "<\/" for it
            "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
            "SCRIPT": (_HERE / "page.js").read_text(encoding="utf-8")}
    return re.sub(r"@@(TITLE|STYLE|SVG|DATA|SCRIPT)@@", lambda m: fill[m.group(1)], page)


def _big_note(view: GraphView, n_steps: int) -> str:
    """What to do about a page too long to step through edge by edge."""
    if any(scope_of(v) for v in view.order if v._children):
        return (f"{n_steps:,} steps: for an overview, draw the modules as boxes with depth=0 "
                "(render(root, 'page.html', depth=0), or --depth 0 at the command line).")
    return (f"{n_steps:,} steps: for a view that fits, draw a smaller part of the graph, or build it "
            "inside `with minigpt.viz.scopes():` and pass depth=0 to see its modules as boxes.")
