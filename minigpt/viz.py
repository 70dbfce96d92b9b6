"""Pictures and step-by-step walk-throughs of computation graphs.

    draw_dot(root)            the graph that produced `root`, as a graphviz.Digraph
    render(root, "g.svg")     the same picture written to .svg, .png or .dot
    explain_backward(root)    backpropagation as a sequence of chain-rule steps
    print_tree(root)          the expression as an indented text tree
    scopes()                  record which module made each node (for depth=)
    example("block")          ready-made graphs, with the options that draw them well

Every tool names a node the same way: its label when it has one, otherwise its
operation and its position in `topological_order(root)`, such as `tanh#4` (an
unlabelled leaf is `leaf#0`). The same graph always gets the same names.

How the pictures are coloured (no legend needed):
    gold, thick border   the output (`root`)
    white record         a result of an operation, with its data and grad
    small grey circle    the operation that made the record to its right
    light blue record    a leaf you labelled (an input, or a weight you named)
    light green record   a parameter (a leaf listed in `draw_dot(..., params=model)`)
    grey number          an unlabelled leaf: a constant such as the 2 in `2 * x`
    lavender box         a module collapsed by `depth=` (name, size, shapes)
Nodes made by a module inside `with scopes():` sit in a frame named by the module
path (`blocks.0.attn`), nested like the modules.

Big graphs: a MiniGPT loss has tens of thousands of nodes, far too many to draw.
Build it inside `with scopes():` and pass `depth=k`: modules nested deeper than k
levels become one box each, and what is still drawn is summarised by kind
("dot x16"), so the picture keeps the shape of the computation at a size you can
read. Levels count module names, with a list index part of its name: `blocks.0`
is level 1 and `blocks.0.attn` level 2, so for a MiniGPT depth=0 shows `blocks.0`
as a box and depth=1 opens it to show boxes for `blocks.0.ln1`, `blocks.0.attn`...
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import namedtuple
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import graphviz

from . import nn
from .engine import Value, primitive_mode, topological_order, vsum
from .gpt import MiniGPT, cross_entropy_loss
from .nn import scopes

__all__ = [
    "draw_dot", "render", "scopes", "explain_backward", "BackwardStep", "print_tree",
    "example_graph", "example", "Example", "EXAMPLES", "label_parameters", "find_renderer",
    "RendererNotFoundError", "DEFAULT_MAX_NODES",
]

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
# Names and numbers shared by every tool
# --------------------------------------------------------------------------------------
def _num(x: float, digits: int = 6) -> str:
    """A float in `digits` significant digits that still looks like a float: 3.0, 0.42."""
    s = f"{x:.{digits}g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


def _default_name(v: Value, i: int) -> str:
    """The label, or `op#i` (`leaf#i` for a leaf) where i is the topological position."""
    if v.label:
        return v.label
    return f"{v.op}#{i}" if v.op else f"leaf#{i}"


def _scope(v: Value) -> str:
    """The module path a node was made in ('' when outside modules or not tracked)."""
    return getattr(v, "scope", None) or ""


def _components(path: str) -> List[str]:
    """'blocks.0.attn' -> ['blocks.0', 'attn']: a list index belongs to its name.

    So `blocks.0` is depth 1 and `blocks.0.attn` depth 2."""
    parts: List[str] = []
    for part in path.split(".") if path else []:
        if part.isdigit() and parts:
            parts[-1] += "." + part
        else:
            parts.append(part)
    return parts


def _prefix(path: str, depth: int) -> str:
    """The first `depth` levels of a module path: _prefix('blocks.0.attn.q_proj', 1) = 'blocks.0'."""
    return ".".join(_components(path)[:depth])


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
    fields.append(f"data {_num(v.data, 4)}")
    if show_grad:
        fields.append(f"grad {_num(v.grad, 4)}")
    return fields


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _param_names(params) -> Dict[Value, str]:
    """Value -> name for `params`: a Module, a {name: Value} dict, or Values."""
    if params is None:
        return {}
    if isinstance(params, nn.Module):
        return {v: name for name, v in params.named_parameters()}
    if isinstance(params, dict):
        return {v: name for name, v in params.items()}
    return {v: "" for v in params}


def _leaf_kind(v: Value, param_names: Dict[Value, str]) -> str:
    """'param' (listed in params=), 'input' (a labelled leaf) or 'const' (unlabelled)."""
    if v in param_names:
        return "param"
    return "input" if v.label else "const"


_LEAF_FILLS = {"param": _PARAM_FILL, "input": _INPUT_FILL}


# --------------------------------------------------------------------------------------
# draw_dot
# --------------------------------------------------------------------------------------
# A drawn node is (id, frame path, attributes); an edge is (tail id, head id, attributes).
_Drawn = Tuple[str, str, Dict[str, str]]


def draw_dot(root: Value, rankdir: str = "LR", show_grad: bool = True, depth: Optional[int] = None,
             max_nodes: Optional[int] = None, params=None) -> graphviz.Digraph:
    """The graph that produced `root`, as a `graphviz.Digraph` (a notebook shows it inline).

    One record per Value (label, data, grad), one small circle per operation, edges
    child -> operation -> result; a child used k times by one operation gets one
    edge labelled "x k". Node ids come from the topological position, so the same
    graph always gives the same DOT source.

    rankdir:   'LR' (left to right) or 'TB' (top to bottom).
    show_grad: False leaves the grads out (for pictures taken before backward).
    depth:     k >= 0 draws each module nested deeper than k levels as one box with
               its name, its number of operations and its shapes in -> out (per
               call, from `nn.scope_shapes`). `blocks.0` is level 1, `blocks.0.attn`
               level 2: depth=0 shows the top-level modules as boxes. Needs a graph
               built inside `with scopes():`. Everything else is summarised too:
               operations of the same kind in the same module whose inputs come
               from the same places become one node "op xN" (one record when N is
               1, the output always), named leaves become "name xN" per set of
               users, and constants are left out (a box counts the leaves it
               swallowed).
    max_nodes: refuse (ValueError) to draw more nodes than this; by default
               `DEFAULT_MAX_NODES`. The message suggests a depth.
    params:    a Module, {name: Value} dict or list of Values: these leaves are drawn
               as parameters (green) and named by their parameter name when they
               have no label. Otherwise every labelled leaf is blue and every
               unlabelled leaf is a constant, since a Value cannot tell which it is.
    """
    if rankdir not in ("LR", "TB"):
        raise ValueError(f"rankdir must be 'LR' (left to right) or 'TB' (top to bottom), got {rankdir!r}")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    limit = DEFAULT_MAX_NODES if max_nodes is None else max_nodes
    order = topological_order(root)
    names = _param_names(params)
    if depth is None:
        nodes, edges = _full_view(order, show_grad, rankdir, names)
    else:
        if not any(hasattr(v, "scope") for v in order):
            raise ValueError("depth= needs a graph built with scope tracking: build it inside "
                             "`with minigpt.viz.scopes():` (the same as minigpt.nn.scopes())")
        nodes, edges = _collapsed_view(order, depth, show_grad, rankdir, names)
    if len(nodes) > limit:
        raise ValueError(f"this picture would have {len(nodes):,} nodes, more than max_nodes={limit:,}. "
                         + _size_hint(depth))
    return _assemble(nodes, edges, rankdir)


def _size_hint(depth: Optional[int]) -> str:
    """What to do about a picture that is too big."""
    if depth is None:
        return ("Draw a summary instead: build the graph inside `with minigpt.viz.scopes():` and pass "
                "depth=1 (or depth=0 for the coarsest view), or raise max_nodes to draw every node.")
    if depth > 0:
        return f"Try a smaller depth (depth={depth - 1}), or raise max_nodes."
    return "depth=0 is the coarsest summary there is; raise max_nodes to draw it anyway."


def _full_view(order: List[Value], show_grad: bool, rankdir: str,
               names: Dict[Value, str]) -> Tuple[List[_Drawn], list]:
    """Every Value and every operation, each its own node."""
    root = order[-1]
    index = {v: i for i, v in enumerate(order)}
    # A leaf sits in its consumers' frame when they all share one, else at the top level.
    leaf_frame: Dict[Value, str] = {}
    for v in order:
        for c in v._children:
            if not c._children:
                frame = _scope(v)
                leaf_frame[c] = frame if leaf_frame.get(c, frame) == frame else ""

    nodes: List[_Drawn] = []
    edges = []
    for i, v in enumerate(order):
        vid = f"n{i}"
        name = v.label or names.get(v) or _default_name(v, i)
        if v._children:
            frame = _scope(v)
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
            kind = _leaf_kind(v, names)
            frame = leaf_frame.get(v, "")
            if v is root or kind != "const":
                fill = _OUTPUT_FILL if v is root else _LEAF_FILLS[kind]
                label = _record(_value_fields(name, v, show_grad), rankdir)
                nodes.append((vid, frame, _value_attrs(label, fill, v is root)))
            else:  # a constant: just its number, small and grey
                nodes.append((vid, frame, {"label": _num(v.data, 4), "shape": "plaintext", "style": "",
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

    __slots__ = ("kind", "frame", "path", "members", "leaves")

    def __init__(self, kind: str, frame: str, path: str = ""):
        self.kind = kind      # 'box', 'ops', 'root' or a leaf kind ('param', 'input')
        self.frame = frame    # the module frame it is drawn in
        self.path = path      # for a box: the module path
        self.members: List[Value] = []
        self.leaves = 0       # for a box: unlabelled leaves folded into it


def _collapsed_view(order: List[Value], depth: int, show_grad: bool, rankdir: str,
                    names: Dict[Value, str]) -> Tuple[List[_Drawn], list]:
    """Modules deeper than `depth` as boxes, everything else summarised by kind.

    Operations (outside boxes) are grouped by (module, op, where their inputs come
    from): because a group's inputs always come from groups made before it, the
    summary stays a DAG and reads like a vectorised version of the computation.
    Named leaves are grouped by (kind, which groups use them).
    """
    root = order[-1]
    index = {v: i for i, v in enumerate(order)}
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
        s = _scope(v)
        if v is root:
            frame = s if len(_components(s)) <= depth else _prefix(s, depth)
            g = join(("root",), lambda: _Group("root", frame))
        elif len(_components(s)) > depth:
            box = _prefix(s, depth + 1)
            g = join(("box", box), lambda: _Group("box", _prefix(s, depth), box))
        else:
            sources = frozenset(gid[c] if c._children else ("leaf", _leaf_kind(c, names)) for c in v._children)
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
        kind = _leaf_kind(leaf, names)
        if kind == "const":
            if len(used_by) == 1 and groups[next(iter(used_by))].kind == "box":
                groups[next(iter(used_by))].leaves += 1
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

    shapes = nn.scope_shapes
    nodes: List[_Drawn] = []
    for g, group in enumerate(groups):
        nodes.append((f"g{g}", group.frame, _group_attrs(group, index, names, shapes, show_grad, rankdir)))
    edges = [(f"g{h}", f"g{g}", {}) for h, g in edge_pairs]
    return nodes, edges


def _group_attrs(group: _Group, index: Dict[Value, int], names: Dict[Value, str], shapes: dict,
                 show_grad: bool, rankdir: str) -> Dict[str, str]:
    """The label and style of one node of a collapsed picture."""
    n = len(group.members)
    first = group.members[0]
    if group.kind == "box":
        size = f"{n:,} ops" + (f" + {group.leaves:,} leaves" if group.leaves else "")
        fields = [group.path, size]
        if group.path in shapes:
            shape_in, shape_out = shapes[group.path]
            fields.append(f"{_shape_text(shape_in)} -> {_shape_text(shape_out)}" if shape_in
                          else f"out {_shape_text(shape_out)}")
        return {"label": _record(fields, rankdir, stacked=True), "fillcolor": _BOX_FILL, "style": "rounded,filled",
                "color": "#7b61a8", "penwidth": "1.5"}
    if n == 1:  # one Value: drawn as in the full picture, with its operation in the name
        v = first
        name = v.label or names.get(v) or _default_name(v, index[v])
        if v.label and v.op:
            name += f" ({v.op})"
        fill = {"root": _OUTPUT_FILL, "ops": _RESULT_FILL}.get(group.kind) or _LEAF_FILLS[group.kind]
        return _value_attrs(_record(_value_fields(name, v, show_grad), rankdir), fill, group.kind == "root")
    if group.kind == "ops":
        return {"label": _record([f"{first.op}  x{n:,}"], rankdir), "style": "rounded,filled"}
    # a set of named leaves: their common name, such as `blocks.0.attn.q_proj.weight`
    label = _common_name([v.label or names.get(v, "") for v in group.members])
    return {"label": _record([label, f"x{n:,}"], rankdir, stacked=True), "fillcolor": _LEAF_FILLS[group.kind]}


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


def _assemble(nodes: List[_Drawn], edges: list, rankdir: str) -> graphviz.Digraph:
    """Put the nodes in nested frames (Graphviz clusters) named by module path."""
    dot = graphviz.Digraph(
        name="minigpt",
        graph_attr={"rankdir": rankdir, "fontname": _FONT, "fontsize": "12", "nodesep": "0.2",
                    "ranksep": "0.3", "bgcolor": "white", "newrank": "true"},
        node_attr={"shape": "record", "style": "filled", "fontname": _FONT, "fontsize": "11",
                   "color": "#555555", "fillcolor": _RESULT_FILL, "height": "0.3"},
        edge_attr={"color": "#777777", "arrowsize": "0.6", "fontname": _FONT, "fontsize": "9",
                   "fontcolor": "#555555"})
    # every frame path and its ancestors, in order of first appearance
    frames: Dict[str, None] = {}
    for _, frame, _ in nodes:
        parts = _components(frame)
        for k in range(1, len(parts) + 1):
            frames[".".join(parts[:k])] = None
    clusters = {}
    for k, path in enumerate(frames):
        level = len(_components(path))
        clusters[path] = graphviz.Digraph(name=f"cluster_{k}", graph_attr={
            "label": _plain(path), "labeljust": "l", "style": "rounded,filled",
            "fillcolor": _CLUSTER_FILLS[min(level, len(_CLUSTER_FILLS)) - 1], "color": "#9aa4c7"})
    for node_id, frame, attrs in nodes:
        (clusters[frame] if frame else dot).node(node_id, **attrs)
    # attach the deepest frames first: `subgraph` copies the frame's text as it is now
    for path in sorted(frames, key=lambda p: -len(_components(p))):
        parent = _prefix(path, len(_components(path)) - 1)
        (clusters[parent] if parent else dot).subgraph(clusters[path])
    for tail, head, attrs in edges:
        dot.edge(tail, head, **attrs)
    return dot


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
    `graphviz-pure` (`pip install 'minigpt[render]'`) from PATH or from this Python's
    scripts directory. None when neither is installed."""
    found = shutil.which("dot") or shutil.which("graphviz-pure")
    if found:
        return found
    for folder in _python_script_dirs():
        found = shutil.which("graphviz-pure", path=folder)
        if found:
            return found
    return None


def render(root: Value, path, **draw_dot_options):
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
            f"(apt-get install graphviz, brew install graphviz) or pip install 'minigpt[render]'. "
            f"The DOT source was written to {dot_path}.")
    args = [command, f"-T{fmt}", "-o", str(target)]
    if fmt == "png":
        args.append("-Gdpi=144")  # sharp enough for a slide
    done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"render: {os.path.basename(command)} failed (exit status {done.returncode}): {message}")
    return path


# --------------------------------------------------------------------------------------
# explain_backward
# --------------------------------------------------------------------------------------
class BackwardStep:
    """One application of the chain rule: `child.grad += local * upstream`.

    Attributes: `child`, `parent` (None for the first step, which seeds the root),
    `local` (d parent / d child), `upstream` (d root / d parent from this pass,
    complete by the time `parent` passes it on), `before` and `after`
    (`child.grad` around the step). `str(step)` is the step written out.
    """

    __slots__ = ("child", "parent", "local", "upstream", "before", "after", "text")

    def __init__(self, child, parent, local, upstream, before, after, text):
        self.child, self.parent, self.local, self.upstream = child, parent, local, upstream
        self.before, self.after, self.text = before, after, text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"BackwardStep({self.text!r})"


def _local_text(parent: Value, position: int, names: Dict[Value, str]) -> str:
    """How the local derivative d parent / d child came about, in a few characters."""
    child = parent._children[position]
    p, c = names[parent], names[child]
    if parent.op == "*" and len(parent._children) == 2:
        other = parent._children[1 - position]
        return f"{names[other]}.data"  # d(a*b)/da = b
    if parent.op == "tanh":
        return f"1 - {p}.data**2"      # d tanh(x)/dx = 1 - tanh(x)^2
    return f"d {p}/d {c}"


def explain_backward(root: Value) -> Iterator[BackwardStep]:
    """Backpropagation from `root`, one chain-rule step at a time.

    Yields the seed step (`L.grad = 1.0`) and then one step per edge child <- node,
    in the order `root.backward()` handles them, updating `.grad` as it goes:

        a.grad += (b.data = 3.0) * (e.grad = 1.0)  ->  a.grad = 3.0

    Iterate it to the end (`for step in explain_backward(L): print(step)`) or step
    with `next()`; nothing changes before the first step is asked for. When it is
    exhausted every `.grad` is exactly what
    `root.backward()` would have left, accumulation included: like backward it
    computes this pass's gradients apart and adds them to what `.grad` held.
    Nodes whose gradient this pass is 0 pass nothing on, as in backward.
    """
    order = topological_order(root)
    names = {v: _default_name(v, i) for i, v in enumerate(order)}
    start = {v: v.grad for v in order}
    fresh = all(g == 0.0 for g in start.values())  # so `.grad` is this pass's gradient
    this_pass = {v: 0.0 for v in order}

    this_pass[root] = 1.0
    before = root.grad
    root.grad = start[root] + 1.0
    r = names[root]
    text = f"{r}.grad = 1.0" if fresh else f"{r}.grad += 1.0  ->  {r}.grad = {_num(root.grad)}"
    yield BackwardStep(root, None, 1.0, 1.0, before, root.grad, text)

    for node in reversed(order):  # every node comes after all the nodes it feeds
        upstream = this_pass[node]
        if upstream == 0.0:
            continue
        up = f"{names[node]}.grad" if fresh else f"{names[node]}.grad from this pass"
        for position, (child, local) in enumerate(zip(node._children, node._local_grads)):
            before = child.grad
            this_pass[child] += local * upstream  # the chain rule
            child.grad = start[child] + this_pass[child]  # the same sum backward() makes
            c = names[child]
            text = (f"{c}.grad += ({_local_text(node, position, names)} = {_num(local)}) * "
                    f"({up} = {_num(upstream)})  ->  {c}.grad = {_num(child.grad)}")
            yield BackwardStep(child, node, local, upstream, before, child.grad, text)


# --------------------------------------------------------------------------------------
# print_tree
# --------------------------------------------------------------------------------------
def print_tree(root: Value, depth: Optional[int] = None, file=None) -> str:
    """Print the expression under `root` as an indented tree and return the text.

    One line per node: its name (label, or `op#i`), its operation in parentheses when
    it has a label, data and grad. A node used in several places is written out once,
    tagged `#i`, and referred to as `(see #i)` afterwards. With `depth=k` only k
    levels below the root are shown; `...` marks what is cut. Uses an explicit
    stack, so any depth of graph is fine.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    order = topological_order(root)
    index = {v: i for i, v in enumerate(order)}
    uses: Dict[Value, int] = {}
    for v in order:
        for c in v._children:
            uses[c] = uses.get(c, 0) + 1

    lines = []
    shown = set()
    # (node, level, prefix for this line, prefix for its children's lines)
    stack = [(root, 0, "", "")]
    while stack:
        v, level, lead, child_lead = stack.pop()
        i = index[v]
        name = _default_name(v, i)
        tag = f"#{i}"
        if v in shown:
            lines.append(f"{lead}{name} (see {tag})")
            continue
        shown.add(v)
        line = f"{lead}{name}" + (f" ({v.op})" if v.op and v.label else "")
        line += f"  data={_num(v.data)}  grad={_num(v.grad)}"
        if uses.get(v, 0) > 1 and not name.endswith(tag):
            line += f"  {tag}"
        lines.append(line)
        if not v._children:
            continue
        if depth is not None and level >= depth:
            lines.append(f"{child_lead}`-- ...")
            continue
        last = len(v._children) - 1
        for k in range(last, -1, -1):  # pushed in reverse so the first child prints first
            branch, extend = ("`-- ", "    ") if k == last else ("|-- ", "|   ")
            stack.append((v._children[k], level + 1, child_lead + branch, child_lead + extend))
    text = "\n".join(lines)
    print(text, file=file)
    return text


# --------------------------------------------------------------------------------------
# Ready-made example graphs (for the examples/ scripts and `minigpt graph`)
# --------------------------------------------------------------------------------------
EXAMPLES = ("expr", "neuron", "attention", "block", "model")

Example = namedtuple("Example", "root params depth rankdir")
Example.__doc__ = """An example graph and how to draw it well: `root` (the output),
`params` (the module, for draw_dot's params=), `depth` (None: the full graph) and
`rankdir` ('TB' for the tall summaries of a block or a model)."""

# depth and rankdir that give a picture you can read, per example
_EXAMPLE_VIEWS = {"expr": (None, "LR"), "neuron": (None, "LR"), "attention": (0, "LR"),
                  "block": (1, "TB"), "model": (1, "TB")}


def label_parameters(module: nn.Module) -> nn.Module:
    """Give every unlabelled parameter its name (`blocks.0.attn.q_proj.weight.3.7`)
    as its label, so pictures and step lists can name it. Returns the module."""
    for name, p in module.named_parameters():
        if not p.label:
            p.label = name
    return module


def _inputs(rows: int, cols: int, rng: random.Random) -> List[List[Value]]:
    """A labelled input sequence x[t][i] of small random numbers."""
    return [[Value(round(rng.uniform(-1, 1), 2), label=f"x[{t}][{i}]") for i in range(cols)]
            for t in range(rows)]


def example(what: str, backward: bool = True) -> Example:
    """Build the example graph `what` (one of EXAMPLES), deterministically.

    expr:      micrograd's L = (a*b + c) * f, every node labelled
    neuron:    a 3-input Neuron on labelled inputs, in primitive operations
    attention: SelfAttention(4) on 3 positions, outputs summed to a scalar
    block:     TransformerBlock(8, 2) on 3 positions, summed
    model:     the loss of MiniGPT(27, 16, 4, 1, 16) on 16 tokens
    All are built inside `scopes()`, so any depth= works; the nn examples have their
    parameters labelled by name. With `backward=True` (default) `root.backward()`
    has been run, so the pictures show gradients.
    """
    rng = random.Random(5)
    params = None
    if what not in EXAMPLES:
        raise ValueError(f"unknown example {what!r}; choose one of {', '.join(EXAMPLES)}")
    with scopes():  # so that any depth= works on every example
        if what == "expr":
            a, b, c, f = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c"), Value(-2.0, "f")
            e = a * b
            e.label = "e"
            d = e + c
            d.label = "d"
            root = d * f
            root.label = "L"
        elif what == "neuron":
            params = nn.Neuron(3, rng=rng)
            for i, w in enumerate(params.w):
                w.label = f"w{i + 1}"  # micrograd's names, rather than w.0, w.1, w.2
            params.b.label = "b"
            x = [Value(v, label=f"x{i + 1}") for i, v in enumerate((0.5, -1.0, 2.0))]
            with primitive_mode():  # show every multiply and add, as in micrograd
                root = params(x)
            root.label = "out"
        elif what == "attention":
            params = label_parameters(nn.SelfAttention(4, rng=rng))
            root = vsum([v for row in params(_inputs(3, 4, rng)) for v in row])
            root.label = "out"
        elif what == "block":
            params = label_parameters(nn.TransformerBlock(8, 2, rng=rng))
            root = vsum([v for row in params(_inputs(3, 8, rng)) for v in row])
            root.label = "out"
        else:
            params = label_parameters(MiniGPT(27, 16, 4, 1, 16, rng=rng))
            ids = [rng.randrange(27) for _ in range(17)]
            root = cross_entropy_loss(params(ids[:16]), ids[1:])
            root.label = "loss"
    if backward:
        root.backward()
    return Example(root, params, *_EXAMPLE_VIEWS[what])


def example_graph(what: str, depth: Optional[int] = None) -> Value:
    """The root of the example graph `what` (see `example`), after backward.

    Every example is built so that any `depth` works with it (the nn ones inside
    `scopes()`); `depth` is checked here so a command line can pass its option
    straight through. The depth that reads best is `example(what).depth`.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    return example(what).root
