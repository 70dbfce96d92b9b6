"""The collapse model behind `draw_dot(..., depth=k)`: which drawn node stands for
which Values.

A MiniGPT loss has tens of thousands of nodes. `collapse(order, depth, pnames)`
groups them: modules nested deeper than `depth` (and layers with no sub-modules) are
one box each, operations of one kind in one module whose inputs come from the same
places are one group ("+  x256"), parameters and inputs are grouped by who uses
them, and constants fold into the box that uses them (or are written into the
formula of the one Value that uses them: `loss = sum * 1/16`).

What a group's "grad" is: for one Value, its grad. For many Values, a sum of their
grads would cancel to about 0 and mean nothing, so a group shows the *norm* of the
gradient arriving at its outputs from outside it: `sqrt(sum over outputs o of
g_o^2)`, where g_o sums `∂user/∂o * user.grad` over the users of o in other groups.
For a group of operations or of leaves that is the norm of the members' grads; for a
box it is the length of ∂loss/∂(the module's outputs).
"""
from __future__ import annotations

import math
import os
import re
from typing import Dict, List, Optional, Tuple

from ..engine import Constant, Value
from .graph import components, num, prefix, scope_of

__all__ = ["Group", "Collapsed", "collapse", "leaf_kind"]


def leaf_kind(v, param_names: Dict[object, str]) -> str:
    """'param' (a parameter), 'input' (another labelled leaf, or a Value you made) or
    'const' (a number the engine made a leaf; any unlabelled leaf of another engine)."""
    if v in param_names:
        return "param"
    return "input" if v.label or (isinstance(v, Value) and not isinstance(v, Constant)) else "const"


class Group:
    """One drawn node of a collapsed picture: a box (module), a set of alike
    operations, or a set of leaves. `members` are the Values it stands for."""

    __slots__ = ("kind", "frame", "path", "members", "constants", "title", "short")

    def __init__(self, kind: str, frame: str, path: str = ""):
        self.kind = kind      # 'box', 'ops', 'root' or a leaf kind ('param', 'input')
        self.frame = frame    # the module frame it is drawn in
        self.path = path      # for a box: the module path
        self.members: List = []
        self.constants = 0    # for a box: constants (unnamed leaves) folded into it
        self.title = ""       # how the picture names it ('loss = sum * 1/16', 'attn', '+  x24')
        self.short = ""       # how steps name it: a Value by its own name ('loss'), else the title


class Collapsed:
    """groups (drawn as "g0", "g1", ...), gid (Value -> group index; a constant folded
    away has none) and edges ({(input group, group): None}, in order)."""

    def __init__(self, groups: List[Group], gid: Dict, edges: Dict[Tuple[int, int], None]):
        self.groups, self.gid, self.edges = groups, gid, edges

    def grad_norms(self) -> List[Optional[float]]:
        """Per group: the norm of the gradient arriving at its outputs from other groups
        (see the module doc), from the grads the graph holds; None for one Value (its
        grad says it) and for values without local derivatives (micrograd-like)."""
        arriving: Dict[object, float] = {}
        for v, g in self.gid.items():
            local = getattr(v, "_local_grads", None)
            if local is None:
                continue
            for c, d in zip(v._children, local):
                if self.gid.get(c, g) != g:
                    arriving[c] = arriving.get(c, 0.0) + d * v.grad
        norms: List[Optional[float]] = []
        for group in self.groups:
            if len(group.members) == 1 or getattr(group.members[0], "_local_grads", None) is None:
                norms.append(None)
            else:
                norms.append(math.sqrt(sum(arriving.get(v, 0.0) ** 2 for v in group.members)))
        return norms


def collapse(order: List, depth: int, pnames: Dict, names: Dict) -> Collapsed:
    """The groups of a collapsed picture of the graph in topological `order`.

    Operations (outside boxes) are grouped by (module, op, where their inputs come
    from): because a group's inputs always come from groups made before it, the
    summary stays a DAG and reads like a vectorised version of the computation.
    Named leaves are grouped by (kind, which groups use them)."""
    root = order[-1]
    # A module deeper than `depth` is a box, and so is a layer with no sub-modules at
    # any depth (a LayerNorm, a Linear): a box then always stands for a whole module.
    paths = {scope_of(v) for v in order if v._children}
    has_subs = {prefix(p, k) for p in paths for k in range(1, len(components(p)))}

    def box_of(path: str) -> Optional[str]:
        if len(components(path)) > depth:
            return prefix(path, depth + 1)
        return path if path and path not in has_subs else None

    groups: List[Group] = []
    by_key: Dict[tuple, int] = {}
    gid: Dict = {}

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
            frame = s if box is None else parent_path(box)
            g = join(("root",), lambda: Group("root", frame))
        elif box is not None:
            g = join(("box", box), lambda: Group("box", parent_path(box), box))
        else:
            sources = frozenset(gid[c] if c._children else ("leaf", leaf_kind(c, pnames)) for c in v._children)
            g = join(("ops", s, v.op, sources), lambda: Group("ops", s))
        gid[v] = g
        groups[g].members.append(v)

    # 2. leaves: constants fold into the box that uses them (or vanish); named ones are grouped
    users: Dict[object, Dict[int, None]] = {}  # leaf -> ordered set of groups using it
    for v in order:
        for c in v._children:
            if not c._children:
                users.setdefault(c, {})[gid[v]] = None
    for leaf, used_by in users.items():
        kind = leaf_kind(leaf, pnames)
        if kind == "const":
            if len(used_by) == 1 and groups[next(iter(used_by))].kind == "box":
                groups[next(iter(used_by))].constants += 1
            continue
        frames = {groups[u].frame for u in used_by}
        frame = frames.pop() if len(frames) == 1 else ""
        g = join(("leaves", kind, tuple(sorted(used_by))), lambda: Group(kind, frame))
        gid[leaf] = g
        groups[g].members.append(leaf)

    # 3. edges between groups, once per pair
    edges: Dict[Tuple[int, int], None] = {}
    for v in order:
        g = gid.get(v)
        for c in v._children:
            h = gid.get(c)
            if h is not None and h != g:
                edges[(h, g)] = None

    for group in groups:
        group.title = _title(group, names, pnames)
        one = group.members[0]
        group.short = names[one] if len(group.members) == 1 and (one.label or not one._children) else group.title
    return Collapsed(groups, gid, edges)


def parent_path(path: str) -> str:
    """The module path one level up: 'blocks.0.attn' -> 'blocks.0', 'ln_f' -> ''."""
    return prefix(path, len(components(path)) - 1)


def _title(group: Group, names: Dict, pnames: Dict) -> str:
    """How a drawn node is named: a box by its module path, alike operations as
    'op  xN', a set of leaves by their common name, one Value by its name and what
    it computes (`loss = sum * 1/16`), or an unnamed sum of many by `sum of 16`."""
    n = len(group.members)
    if group.kind == "box":
        return group.path
    if n == 1:
        v = group.members[0]
        if v.label and v._children:
            return f"{v.label} = {_formula(v, names, pnames)}"
        return f"{v.op} of {len(v._children):,}" if len(v._children) > 2 else names[v]
    if group.kind == "ops":
        return f"{group.members[0].op}  x{n:,}"
    return _common_name([names[v] for v in group.members])  # such as `blocks.0.attn.q_proj.weight`


def _formula(v, names: Dict, pnames: Dict) -> str:
    """What one operation computes, in words a reader knows: `a * b`, `tanh(x)`,
    `sum of 16`; a constant is written as its number (`1/16` for 0.0625), an input
    made by an n-ary operation by its name (`sum`), any other as `…`."""
    kids = v._children

    def short(c) -> str:
        if not c._children and leaf_kind(c, pnames) == "const":
            inverse = 1.0 / c.data if c.data else 0.0
            if abs(inverse) >= 2 and abs(inverse - round(inverse)) < 1e-9:
                return f"1/{round(inverse)}"
            return num(c.data, 4)
        if c.label or c in pnames:
            return c.label or pnames[c]
        return c.op if len(c._children) > 2 else "…"  # `sum`, `dot`; a binary step has no name of its own

    if v.op in ("+", "-", "*", "/") and len(kids) == 2:
        return f"{short(kids[0])} {v.op} {short(kids[1])}"
    if len(kids) == 1:
        return f"{v.op}({short(kids[0])})"
    return f"{v.op} of {len(kids):,}"


def _base_name(label: str) -> str:
    """A label without its trailing indices: 'ln1.gamma.3' -> 'ln1.gamma', 'x[0][1]' -> 'x'."""
    return re.sub(r"(\.\d+|\[\d+\])+$", "", label)


def _common_name(labels: List[str]) -> str:
    """A short name for a set of leaves: their tensor's name ('ln_f.gamma'), the
    common module of several tensors ('blocks.0.attn.*'), or a short list."""
    bases = list(dict.fromkeys(_base_name(s) for s in labels))
    if len(bases) == 1:
        return bases[0] or "leaves"
    start = os.path.commonprefix(bases)
    while start and not all(len(s) == len(start) or s[len(start)] == "." for s in bases):
        start = start[:-1]  # cut back to a whole module name
    if start.rstrip("."):
        return start.rstrip(".") + ".*"
    return ", ".join(bases[:2]) + (", ..." if len(bases) > 2 else "")
