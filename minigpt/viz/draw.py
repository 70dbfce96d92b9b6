"""`draw_dot`: the graph that produced a Value, as a `Picture` (a `graphviz.Digraph`).

How the pictures are coloured (a collapsed picture says so in its caption):
    gold, thick border   the output (`root`)
    white record         a result of an operation, with its data and grad
    small grey circle    the operation that made the record to its right
    light blue record    a leaf you made: an input, or a weight you named (`leaf#5`
                         when unlabelled)
    light green record   a parameter, named as in its module (`w.0`, `b`)
    small grey text      a constant: a number mixed into an operation, such as the 2
                         in `2 * x`, named as in the text tools (`const#3 = 2.0`)
    lavender box         a module collapsed by `depth=` (name, size, shapes, and the
                         grad norm of its outputs: see `minigpt.viz.collapse`)
    "op  xN"             N alike operations drawn once by `depth=` (with their grad norm)
Nodes made by a module inside `with scopes():` sit in a frame named by the module
path (`blocks.0.attn`), nested like the modules.

Big graphs: a MiniGPT loss has tens of thousands of nodes, far too many to draw.
Build it inside `with minigpt.viz.scopes():` and pass `depth=k`: modules nested deeper
than k levels become one box each, and what is still drawn is summarised by kind
("dot x16"), so the picture keeps the shape of the computation at a size you can
read. Levels count module names, with a list index part of its name: `blocks.0`
is level 1 and `blocks.0.attn` level 2, so for a MiniGPT depth=0 shows `blocks.0`
as a box and depth=1 opens it to show boxes for `blocks.0.ln1`, `blocks.0.attn`...
A layer with no sub-modules (LayerNorm, Linear) is a box at any depth. A long
summary is folded to fit a 16:9 slide (`layout.py`).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import graphviz

from ..engine import Value
from .layout import SLIDE, fold
from .collapse import Group, leaf_kind
from .graph import components, num, prefix, scope_block, scope_of
from .picture import Picture
from .view import GraphView, check_depth

__all__ = ["draw_dot", "picture_of", "Picture", "PictureTooBigError", "DEFAULT_MAX_NODES"]

# Without `max_nodes`, draw_dot refuses pictures larger than this. Layout time grows
# fast with size (about 4 s for 1,000 nodes, 20 s for 1,500, 100 s for 2,200), and
# such pictures are unreadable anyway: use depth= instead.
DEFAULT_MAX_NODES = 1000

_FONT = "Helvetica"
_OUTPUT_FILL = "#ffd966"
_RESULT_FILL = "white"
_INPUT_FILL = "#cfe2ff"
_PARAM_FILL = "#d3f0d3"
_BOX_FILL = "#e6dcf5"
_OP_FILL = "#eeeeee"
_CLUSTER_FILLS = ("#f6f7fb", "#eceff7", "#e2e7f2")  # deeper frames are a bit darker
# --------------------------------------------------------------------------------------
# Graphviz labels
# --------------------------------------------------------------------------------------
def _esc(text: str) -> str:
    """Escape the characters that have a meaning inside a Graphviz record label."""
    out = []
    for ch in str(text):
        if ch in '\\{}|<>"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append(ch)
    return "".join(out)


def _plain(text: str) -> str:
    """Escape a label that is not a record (an operation, a frame title)."""
    return graphviz.nohtml(str(text).replace("\\", "\\\\").replace('"', '\\"'))


def _record(fields: List[str], rankdir: str, stacked: bool = False) -> str:
    """A record label with its fields side by side (or one above the other).

    With rankdir=LR Graphviz stacks record fields vertically unless the label is
    wrapped in braces; with TB it is the other way round."""
    body = " | ".join(_esc(f) for f in fields)
    flip = (rankdir == "LR") != stacked
    return graphviz.nohtml("{ " + body + " }" if flip else body)


def _value_fields(name: str, v: Value, show_grad: bool) -> List[str]:
    fields = [name] if name else []
    fields.append(f"data {num(v.data, 4)}")
    if show_grad:
        fields.append(f"grad {num(v.grad, 4)}")
    return fields


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


_LEAF_FILLS = {"param": _PARAM_FILL, "input": _INPUT_FILL}

# --------------------------------------------------------------------------------------
# draw_dot
# --------------------------------------------------------------------------------------
# A drawn node is (id, frame path, attributes); an edge is (tail id, head id, attributes).
_Drawn = Tuple[str, str, Dict[str, str]]


def draw_dot(root: Value, rankdir: str = "LR", show_grad: bool = True, depth: Optional[int] = None,
             max_nodes: Optional[int] = None, params=None) -> Picture:
    """The graph that produced `root`, as a `Picture` (a graphviz.Digraph; a notebook
    shows it inline, with the system `dot` or graphviz-pure).

    One record per Value (label, data, grad), one small circle per operation, edges
    child -> operation -> result; a child used k times by one operation gets one
    edge labelled "x k". Node ids come from the topological position, so the same
    graph always gives the same DOT source.

    rankdir:   'LR' (left to right) or 'TB' (top to bottom).
    show_grad: False leaves the grads out (for pictures taken before backward).
    depth:     k >= 0 draws each module nested deeper than k levels as one box with
               its name, its number of operations and its shapes in -> out (per
               call, recorded by `scopes()`). `blocks.0` is level 1, `blocks.0.attn`
               level 2: depth=0 shows the top-level modules as boxes. Needs a graph
               built inside `with scopes():`. Everything else is summarised too:
               operations of the same kind in the same module whose inputs come
               from the same places become one node "op xN" (one record when N is
               1, the output always), named leaves become "name xN" per set of
               users, and constants are left out (a box counts the leaves it
               swallowed).
    max_nodes: refuse (PictureTooBigError, a ValueError) to draw more nodes than
               this; by default `DEFAULT_MAX_NODES`. The message suggests a depth.
    params:    a Module, {name: Value} dict or list of Values: these leaves are drawn
               as parameters (green) and named by their parameter name when they
               have no label. Without it, the parameters of the live modules that
               fed the graph are found and named the same way (see
               `minigpt.viz.graph.parameter_names`); other labelled leaves are
               inputs (blue), other unlabelled leaves constants (small grey text).
    """
    check_depth(depth)
    _check_rankdir(rankdir)  # before reading the graph
    return picture_of(GraphView(root, params, depth), rankdir, show_grad, max_nodes)


def _check_rankdir(rankdir) -> None:
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' (left to right) or 'TB' (top to bottom), got {rankdir!r}")


def picture_of(view: GraphView, rankdir: str = "LR", show_grad: bool = True,
               max_nodes: Optional[int] = None) -> Picture:
    """draw_dot's picture of a graph already read (`minigpt.viz.view`)."""
    _check_rankdir(rankdir)
    limit = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    if view.collapsed is None:
        nodes, edges = _full_view(view, show_grad, rankdir)
    else:
        nodes, edges = _collapsed_view(view, show_grad, rankdir)
    if len(nodes) > limit:
        tracked = any(scope_of(v) for v in view.order if v._children)
        raise PictureTooBigError(len(nodes), limit, view.depth, tracked)
    if view.collapsed is None:
        picture = _assemble(nodes, edges, rankdir)
    else:
        picture = _assemble(nodes, edges, rankdir, caption=_caption(nodes), rows=fold(nodes, edges, rankdir))
    picture.stepping = (view, {"rankdir": rankdir, "max_nodes": max_nodes})
    return picture


class PictureTooBigError(ValueError):
    """A picture with more nodes than `max_nodes`. `nodes`, `limit`, `depth` and
    `tracked` (whether the graph knows its modules) let a caller give its own advice;
    the message advises the Python API."""

    def __init__(self, nodes: int, limit: int, depth: Optional[int], tracked: bool):
        self.nodes, self.limit, self.depth, self.tracked = nodes, limit, depth, tracked
        super().__init__(f"this picture would have {nodes:,} nodes, more than max_nodes={limit:,}. "
                         + _size_hint(depth, tracked))


def _size_hint(depth: Optional[int], tracked: bool) -> str:
    """What to do about a picture that is too big."""
    if depth is not None and not tracked:
        return ("depth= found no modules to collapse: build the graph inside `with minigpt.viz.scopes():` "
                "so that each node knows which module made it.")
    if depth is None:
        return ("Draw a summary instead: build the graph inside `with minigpt.viz.scopes():` and pass "
                "depth=1 (or depth=0 for the coarsest view), or raise max_nodes to draw every node.")
    if depth > 0:
        return f"Try a smaller depth (depth={depth - 1}), or raise max_nodes."
    return "depth=0 is the coarsest summary there is; raise max_nodes to draw it anyway."


def _full_view(view: GraphView, show_grad: bool, rankdir: str) -> Tuple[List[_Drawn], list]:
    """Every Value and every operation, each its own node."""
    order, names, root = view.order, view.names, view.root
    # A leaf sits in its consumers' frame when they all share one, else at the top level.
    leaf_frame: Dict[Value, str] = {}
    for v in order:
        for c in v._children:
            if not c._children:
                frame = scope_of(v)
                leaf_frame[c] = frame if leaf_frame.get(c, frame) == frame else ""

    nodes: List[_Drawn] = []
    edges = []
    for v in order:
        vid, oid = view.node_id(v), view.op_id(v)
        name = names[v]
        if v._children:
            frame = scope_of(v)
            fill = _OUTPUT_FILL if v is root else _RESULT_FILL
            nodes.append((vid, frame, _value_attrs(_record(_value_fields(name, v, show_grad), rankdir),
                                                   fill, v is root)))
            nodes.append((oid, frame, {"label": _plain(v.op), "shape": "circle",
                                           "fillcolor": _OP_FILL, "fontsize": "10", "width": "0.3",
                                           "margin": "0.02", "color": "#999999"}))
            edges.append((oid, vid, {}))
            # one edge per distinct child, "x k" when the child is used k times
            counts: Dict[Value, int] = {}
            for c in v._children:
                counts[c] = counts.get(c, 0) + 1
            for c, k in counts.items():
                edges.append((view.node_id(c), oid, {"label": f"x{k}"} if k > 1 else {}))
        else:
            kind = leaf_kind(v, view.pnames)
            frame = leaf_frame.get(v, "")
            if v is root or kind != "const":
                fill = _OUTPUT_FILL if v is root else _LEAF_FILLS[kind]
                label = _record(_value_fields(name, v, show_grad), rankdir)
                nodes.append((vid, frame, _value_attrs(label, fill, v is root)))
            else:  # a constant: its name and number, small and grey
                nodes.append((vid, frame, {"label": _plain(f"{name} = {num(v.data, 4)}"),
                                           "shape": "plaintext", "style": "",
                                           "fontcolor": "#777777", "fontsize": "10",
                                           "width": "0", "height": "0", "margin": "0.02"}))
    return nodes, edges


def _value_attrs(label, fill: str, is_root: bool) -> Dict[str, str]:
    attrs = {"label": label, "fillcolor": fill}
    if is_root:
        attrs["penwidth"] = "2.5"
    return attrs


def _collapsed_view(view: GraphView, show_grad: bool, rankdir: str) -> Tuple[List[_Drawn], list]:
    """The nodes and edges of the collapsed picture (see `minigpt.viz.collapse`)."""
    collapsed = view.collapsed
    norms = collapsed.grad_norms() if show_grad else [None] * len(collapsed.groups)
    nodes: List[_Drawn] = []
    for g, group in enumerate(collapsed.groups):
        nodes.append((view.group_id(g), group.frame, _group_attrs(group, norms[g], show_grad, rankdir)))
    edges = [(view.group_id(h), view.group_id(g), {}) for h, g in collapsed.edges]
    return nodes, edges


def _caption(groups_drawn: List[_Drawn]) -> str:
    """What the marks of a collapsed picture mean, one line for each kind drawn."""
    fills = {attrs.get("fillcolor") for _, _, attrs in groups_drawn}
    labels = " ".join(str(attrs.get("label", "")) for _, _, attrs in groups_drawn)
    lines = []
    if _BOX_FILL in fills:
        lines.append("purple box: a whole module, with its number of operations and its shapes in -> out "
                     "(per call; 'N calls' when it ran N times)")
    if " x" in labels:
        lines.append("'op  xN': N operations of one kind, side by side (one per position or feature)")
    if "grad norm" in labels:
        lines.append("grad norm: the length of the gradient arriving at a box's or group's outputs, "
                     "sqrt(sum of grad^2) (their sum would cancel)")
    kinds = [text for fill, text in ((_PARAM_FILL, "green: parameters ('xN': N of them)"),
                                     (_INPUT_FILL, "blue: inputs"),
                                     (_CLUSTER_FILLS[0], "frame: the module that made what is inside"))
             if fill in fills or (fill == _CLUSTER_FILLS[0] and any(frame for _, frame, _ in groups_drawn))]
    if kinds:
        lines.append("; ".join(kinds))
    lines.append("yellow: the output; data and grad are its value and d output / d itself")
    return "".join(line + "\\l" for line in lines)


def _group_attrs(group: Group, norm: Optional[float], show_grad: bool, rankdir: str) -> Dict[str, str]:
    """The label and style of one node of a collapsed picture."""
    n = len(group.members)
    title = group.title
    extra = [f"grad norm {num(norm, 4)}"] if norm is not None else []
    if group.kind == "box":
        size = f"{n:,} ops" + (f" + {group.constants:,} constants" if group.constants else "")
        fields = [title, size]
        block = scope_block(group.members[0])  # the shapes seen where this graph was made
        if block is not None and group.path in block.shapes:
            shape_in, shape_out = block.shapes[group.path]
            calls = block.calls.get(group.path, 1)
            fields.append((f"{calls} calls " if calls > 1 else "")
                          + (f"{_shape_text(shape_in)} -> {_shape_text(shape_out)}" if shape_in
                             else f"out {_shape_text(shape_out)}"))
        if extra:  # size and grad norm on one line: the picture stays slide-sized
            fields[1] += ", " + extra[0]
        return {"label": _record(fields, rankdir, stacked=True), "fillcolor": _BOX_FILL,
                "style": "rounded,filled", "color": "#7b61a8", "penwidth": "1.5"}
    if n == 1:  # one Value: drawn as in the full picture
        fill = {"root": _OUTPUT_FILL, "ops": _RESULT_FILL}.get(group.kind) or _LEAF_FILLS[group.kind]
        return _value_attrs(_record(_value_fields(title, group.members[0], show_grad), rankdir), fill,
                            group.kind == "root")
    if group.kind == "ops":
        return {"label": _record([title] + extra, rankdir, stacked=bool(extra)), "style": "rounded,filled"}
    return {"label": _record([title, ", ".join([f"x{n:,}"] + extra)], rankdir, stacked=True),
            "fillcolor": _LEAF_FILLS[group.kind]}


def _assemble(nodes: List[_Drawn], edges: list, rankdir: str, caption: str = "",
              rows: Optional[Dict[str, int]] = None) -> Picture:
    """Put the nodes in nested frames (Graphviz clusters) named by module path, with
    `caption` (Graphviz label text, lines ending in \\l) under the picture, and in
    `rows` (node id -> row, from `layout.fold`) when there are several."""
    graph_attr = {"rankdir": rankdir, "fontname": _FONT, "fontsize": "12", "nodesep": "0.2",
                  "ranksep": "0.3", "bgcolor": "white", "newrank": "true"}
    if caption:
        graph_attr.update(label=caption, labelloc="b", labeljust="l", fontcolor="#444444")
    rows = rows or {}
    n_rows = max(rows.values(), default=0) + 1
    if n_rows > 1:
        # height / width of the drawing, spread to fill a 16:9 slide with the caption below it
        graph_attr["ratio"] = f"{1 / SLIDE - 0.06:.3f}"
    dot = Picture(
        name="minigpt",
        graph_attr=graph_attr,
        node_attr={"shape": "record", "style": "filled", "fontname": _FONT, "fontsize": "11",
                   "color": "#555555", "fillcolor": _RESULT_FILL, "height": "0.3"},
        edge_attr={"color": "#777777", "arrowsize": "0.6", "fontname": _FONT, "fontsize": "9",
                   "fontcolor": "#555555"})
    # every frame path and its ancestors, in order of first appearance
    frames: Dict[str, None] = {}
    for _, frame, _ in nodes:
        parts = components(frame)
        for k in range(1, len(parts) + 1):
            frames[".".join(parts[:k])] = None
    clusters = {}
    for k, path in enumerate(frames):
        level = len(components(path))
        clusters[path] = graphviz.Digraph(name=f"cluster_{k}", graph_attr={
            "label": _plain(path), "labeljust": "l", "labelloc": "t", "fontcolor": "black", "style": "rounded,filled",
            "fillcolor": _CLUSTER_FILLS[min(level, len(_CLUSTER_FILLS)) - 1], "color": "#9aa4c7"})
    # one invisible frame per row, holding its top-level nodes and frames
    row_frames = [graphviz.Digraph(name=f"cluster_row{k}", graph_attr={"style": "invis", "label": ""})
                  for k in range(n_rows)] if n_rows > 1 else [dot]
    row_of_frame = {frame: rows.get(node_id, 0) for node_id, frame, _ in nodes}
    for node_id, frame, attrs in nodes:
        (clusters[frame] if frame else row_frames[rows.get(node_id, 0)]).node(node_id, **attrs)
    # attach the deepest frames first: `subgraph` copies the frame's text as it is now
    for path in sorted(frames, key=lambda p: -len(components(p))):
        parent = prefix(path, len(components(path)) - 1)
        if parent:
            clusters[parent].subgraph(clusters[path])
        else:
            row = next(r for f, r in row_of_frame.items() if f == path or f.startswith(path + "."))
            row_frames[row].subgraph(clusters[path])
    if n_rows > 1:
        # Graphviz puts the row declared first at the bottom (right when top to bottom)
        for row_frame in reversed(row_frames):
            dot.subgraph(row_frame)
    for tail, head, attrs in edges:
        if rows.get(tail, 0) != rows.get(head, 0):  # from the end of one row to the start of the next
            attrs = dict(attrs, constraint="false")
        dot.edge(tail, head, **attrs)
    return dot

