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
    lavender box         a module collapsed by `depth=` (name, size, shapes)
    "op  xN"             N alike operations drawn once by `depth=`
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

import html
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import graphviz

from ..engine import Value, topological_order
from .graphviz_cmd import run_graphviz
from .layout import SLIDE, fold
from .graph import SCOPE_CALLS, SCOPE_SHAPES, as_graph, components, node_names, num, prefix, scope_of

__all__ = ["draw_dot", "Picture", "PictureTooBigError", "DEFAULT_MAX_NODES"]

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


def _leaf_kind(v: Value, param_names: Dict[Value, str]) -> str:
    """'param' (a parameter), 'input' (another labelled leaf, or a Value you made) or
    'const' (a number the engine made a leaf; any unlabelled leaf of another engine)."""
    if v in param_names:
        return "param"
    return "input" if v.label or type(v) is Value else "const"


_LEAF_FILLS = {"param": _PARAM_FILL, "input": _INPUT_FILL}

# --------------------------------------------------------------------------------------
# Picture: what draw_dot returns
# --------------------------------------------------------------------------------------
class Picture(graphviz.Digraph):
    """A `graphviz.Digraph` that draws with whichever Graphviz is installed.

    The graphviz package runs only the system's `dot`; a Picture's `pipe()` and
    `render()`, and so its display in a notebook (`_repr_mimebundle_` pipes SVG),
    go through `minigpt.viz.graphviz_cmd`, which also finds `graphviz-pure`.
    A notebook shows it as the page that steps through backward (`_repr_html_`,
    see `minigpt.viz.page`).
    """

    # (root, draw_dot options) for the stepping page; set by draw_dot
    stepping = None

    def _repr_html_(self) -> Optional[str]:
        """The stepping page in an iframe (None when there is no graph to step through)."""
        if self.stepping is None:
            return None
        from .page import html_page  # page.py builds on this module: imported when needed
        root, options = self.stepping
        page = html_page(root, **options)
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
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' (left to right) or 'TB' (top to bottom), got {rankdir!r}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    limit = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    root = as_graph(root)
    order = topological_order(root)
    names, pnames = node_names(order, params)
    if depth is None:
        nodes, edges = _full_view(order, show_grad, rankdir, names, pnames)
    else:
        nodes, edges = _collapsed_view(order, depth, show_grad, rankdir, names, pnames)
    if len(nodes) > limit:
        tracked = any(scope_of(v) for v in order if v._children)
        raise PictureTooBigError(len(nodes), limit, depth, tracked)
    if depth is None:
        picture = _assemble(nodes, edges, rankdir)
    else:
        picture = _assemble(nodes, edges, rankdir, caption=_caption(nodes), rows=fold(nodes, edges, rankdir))
    picture.stepping = (root, {"rankdir": rankdir, "depth": depth, "max_nodes": max_nodes, "params": params})
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


def _full_view(order: List[Value], show_grad: bool, rankdir: str, names: Dict[Value, str],
               pnames: Dict[Value, str]) -> Tuple[List[_Drawn], list]:
    """Every Value and every operation, each its own node."""
    root = order[-1]
    index = {v: i for i, v in enumerate(order)}
    # A leaf sits in its consumers' frame when they all share one, else at the top level.
    leaf_frame: Dict[Value, str] = {}
    for v in order:
        for c in v._children:
            if not c._children:
                frame = scope_of(v)
                leaf_frame[c] = frame if leaf_frame.get(c, frame) == frame else ""

    nodes: List[_Drawn] = []
    edges = []
    for i, v in enumerate(order):
        vid = f"n{i}"
        name = names[v]
        if v._children:
            frame = scope_of(v)
            fill = _OUTPUT_FILL if v is root else _RESULT_FILL
            nodes.append((vid, frame, _value_attrs(_record(_value_fields(name, v, show_grad), rankdir),
                                                   fill, v is root)))
            nodes.append((f"o{i}", frame, {"label": _plain(v.op), "shape": "circle",
                                           "fillcolor": _OP_FILL, "fontsize": "10", "width": "0.3",
                                           "margin": "0.02", "color": "#999999"}))
            edges.append((f"o{i}", vid, {}))
            # one edge per distinct child, "x k" when the child is used k times
            counts: Dict[Value, int] = {}
            for c in v._children:
                counts[c] = counts.get(c, 0) + 1
            for c, k in counts.items():
                edges.append((f"n{index[c]}", f"o{i}", {"label": f"x{k}"} if k > 1 else {}))
        else:
            kind = _leaf_kind(v, pnames)
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


class _Group:
    """One node of a collapsed picture: a box (module), a set of alike operations, or
    a set of leaves. `members` are the Values it stands for."""

    __slots__ = ("kind", "frame", "path", "members", "constants")

    def __init__(self, kind: str, frame: str, path: str = ""):
        self.kind = kind      # 'box', 'ops', 'root' or a leaf kind ('param', 'input')
        self.frame = frame    # the module frame it is drawn in
        self.path = path      # for a box: the module path
        self.members: List[Value] = []
        self.constants = 0    # for a box: constants (unnamed leaves) folded into it


def _collapsed_view(order: List[Value], depth: int, show_grad: bool, rankdir: str, names: Dict[Value, str],
                    pnames: Dict[Value, str]) -> Tuple[List[_Drawn], list]:
    """The nodes and edges of the collapsed picture (see `collapsed_groups`)."""
    groups, _, edge_pairs = collapsed_groups(order, depth, pnames)
    nodes: List[_Drawn] = []
    for g, group in enumerate(groups):
        nodes.append((f"g{g}", group.frame, _group_attrs(group, names, show_grad, rankdir)))
    edges = [(f"g{h}", f"g{g}", {}) for h, g in edge_pairs]
    return nodes, edges


def collapsed_groups(order: List[Value], depth: int, pnames: Dict[Value, str]):
    """(groups, node -> group index, {(input group, group): None}) of a collapsed picture.

    Modules deeper than `depth` are boxes, everything else is summarised by kind.
    Group g is drawn as node "g{g}"; a constant folded into a box has no group.

    Operations (outside boxes) are grouped by (module, op, where their inputs come
    from): because a group's inputs always come from groups made before it, the
    summary stays a DAG and reads like a vectorised version of the computation.
    Named leaves are grouped by (kind, which groups use them).
    """
    root = order[-1]
    # A module deeper than `depth` is a box, and so is a layer with no sub-modules at
    # any depth (a LayerNorm, a Linear): a box then always stands for a whole module.
    paths = {scope_of(v) for v in order if v._children}
    has_subs = {prefix(p, k) for p in paths for k in range(1, len(components(p)))}

    def box_of(path: str) -> Optional[str]:
        if len(components(path)) > depth:
            return prefix(path, depth + 1)
        return path if path and path not in has_subs else None

    groups: List[_Group] = []
    by_key: Dict[tuple, int] = {}
    gid: Dict[Value, int] = {}

    def join(key: tuple, make) -> int:
        if key not in by_key:
            by_key[key] = len(groups)
            groups.append(make())
        return by_key[key]

    # 1. operations: into a box, or into a group of alike operations
    for v in order:
        if not v._children and v is not root:
            continue
        s = scope_of(v)
        box = box_of(s)
        if v is root:
            frame = s if box is None else _parent(box)
            g = join(("root",), lambda: _Group("root", frame))
        elif box is not None:
            g = join(("box", box), lambda: _Group("box", _parent(box), box))
        else:
            sources = frozenset(gid[c] if c._children else ("leaf", _leaf_kind(c, pnames)) for c in v._children)
            g = join(("ops", s, v.op, sources), lambda: _Group("ops", s))
        gid[v] = g
        groups[g].members.append(v)

    # 2. leaves: constants fold into the box that uses them (or vanish); named ones are grouped
    users: Dict[Value, Dict[int, None]] = {}  # leaf -> ordered set of groups using it
    for v in order:
        for c in v._children:
            if not c._children:
                users.setdefault(c, {})[gid[v]] = None
    for leaf, used_by in users.items():
        kind = _leaf_kind(leaf, pnames)
        if kind == "const":
            if len(used_by) == 1 and groups[next(iter(used_by))].kind == "box":
                groups[next(iter(used_by))].constants += 1
            continue
        frames = {groups[u].frame for u in used_by}
        frame = frames.pop() if len(frames) == 1 else ""
        g = join(("leaves", kind, tuple(sorted(used_by))), lambda: _Group(kind, frame))
        gid[leaf] = g
        groups[g].members.append(leaf)

    # 3. edges between groups, once per pair
    edge_pairs: Dict[Tuple[int, int], None] = {}
    for v in order:
        g = gid.get(v)
        for c in v._children:
            h = gid.get(c)
            if h is not None and h != g:
                edge_pairs[(h, g)] = None

    return groups, gid, edge_pairs


def _parent(path: str) -> str:
    """The module path one level up: 'blocks.0.attn' -> 'blocks.0', 'ln_f' -> ''."""
    return prefix(path, len(components(path)) - 1)


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
    kinds = [text for fill, text in ((_PARAM_FILL, "green: parameters ('xN': N of them)"),
                                     (_INPUT_FILL, "blue: inputs"),
                                     (_CLUSTER_FILLS[0], "frame: the module that made what is inside"))
             if fill in fills or (fill == _CLUSTER_FILLS[0] and any(frame for _, frame, _ in groups_drawn))]
    if kinds:
        lines.append("; ".join(kinds))
    lines.append("yellow: the output; data and grad are its value and d output / d itself")
    return "".join(line + "\\l" for line in lines)


def group_title(group: _Group, names: Dict[Value, str]) -> str:
    """How a node of a collapsed picture is named: a box by its module path, one Value
    by its name, alike operations as 'op  xN', a set of leaves by their common name."""
    n = len(group.members)
    if group.kind == "box":
        return group.path
    if n == 1:
        v = group.members[0]
        return names[v] + (f" ({v.op})" if v.label and v.op else "")
    if group.kind == "ops":
        return f"{group.members[0].op}  x{n:,}"
    return _common_name([names[v] for v in group.members])  # such as `blocks.0.attn.q_proj.weight`


def _group_attrs(group: _Group, names: Dict[Value, str], show_grad: bool, rankdir: str) -> Dict[str, str]:
    """The label and style of one node of a collapsed picture."""
    n = len(group.members)
    title = group_title(group, names)
    if group.kind == "box":
        size = f"{n:,} ops" + (f" + {group.constants:,} constants" if group.constants else "")
        fields = [title, size]
        if group.path in SCOPE_SHAPES:
            shape_in, shape_out = SCOPE_SHAPES[group.path]
            calls = SCOPE_CALLS.get(group.path, 1)
            fields.append((f"{calls} calls " if calls > 1 else "")
                          + (f"{_shape_text(shape_in)} -> {_shape_text(shape_out)}" if shape_in
                             else f"out {_shape_text(shape_out)}"))
        return {"label": _record(fields, rankdir, stacked=True), "fillcolor": _BOX_FILL, "style": "rounded,filled",
                "color": "#7b61a8", "penwidth": "1.5"}
    if n == 1:  # one Value: drawn as in the full picture, with its operation in the name
        fill = {"root": _OUTPUT_FILL, "ops": _RESULT_FILL}.get(group.kind) or _LEAF_FILLS[group.kind]
        return _value_attrs(_record(_value_fields(title, group.members[0], show_grad), rankdir), fill,
                            group.kind == "root")
    if group.kind == "ops":
        return {"label": _record([title], rankdir), "style": "rounded,filled"}
    return {"label": _record([title, f"x{n:,}"], rankdir, stacked=True), "fillcolor": _LEAF_FILLS[group.kind]}


def _base_name(label: str) -> str:
    """A label without its trailing indices: 'ln1.gamma.3' -> 'ln1.gamma', 'x[0][1]' -> 'x'."""
    return re.sub(r"(\.\d+|\[\d+\])+$", "", label)


def _common_name(labels: List[str]) -> str:
    """A short name for a set of leaves: their tensor's name ('ln_f.gamma'), the
    common module of several tensors ('blocks.0.attn.*'), or a short list."""
    bases = list(dict.fromkeys(_base_name(s) for s in labels))
    if len(bases) == 1:
        return bases[0] or "leaves"
    prefix = os.path.commonprefix(bases)
    while prefix and not all(len(s) == len(prefix) or s[len(prefix)] == "." for s in bases):
        prefix = prefix[:-1]  # cut back to a whole module name
    if prefix.rstrip("."):
        return prefix.rstrip(".") + ".*"
    return ", ".join(bases[:2]) + (", ..." if len(bases) > 2 else "")


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

