"""Reading a computation graph for the drawing and text tools.

The tools work on minigpt's `Value` and on any micrograd-like value: an object with
`data`, `grad`, `_op` and `_prev` (a set or tuple of children), such as the `Value` a
student writes in the exercises. `as_graph(root)` returns minigpt Values unchanged and
wraps other values in `Foreign` nodes that look like minigpt's (`_children`, `op`,
`label`, and `.grad` read and written through to the original).

Names (`node_names`): every tool names a node the same way: its label; else, for a
parameter, its name in its module (`w.0`, `blocks.0.attn.q_proj.weight.3.7`); else its
operation and its number N, its position in the topological order (`tanh#4`). An
unlabelled leaf that is no parameter is `const#N` when the engine made it from a
number (the 2 in `2 * x`, an `engine.Constant`) and `leaf#N` when you made it with
`Value(...)`. `#N` appears nowhere else, so a name means the same node everywhere.
In a chain-rule step a name that is not a plain dotted name (`*#3`, `my node`) is
written in double quotes (`in_step`).

Which leaves are parameters: those listed in `params=` (a Module, {name: Value} or
Values); without it, those of the modules called inside `with scopes():`, and those
held by a live `Module` (found when a picture or a text is made, by looking through
the objects Python keeps: outside `scopes()` nothing is recorded while the model
runs, so this costs nothing when no picture is drawn).
"""
from __future__ import annotations

import gc
import json
import re
import weakref
from typing import Dict, List, Optional

from ..engine import Constant, Value
from ..module import Module

__all__ = ["as_graph", "Foreign", "default_name", "node_names", "parameter_names", "num", "in_step", "scope_of", "components", "prefix",
           "scope_block", "ScopeBlock", "SCOPE_TAGS", "SCOPE_PARAMS"]

# Filled by minigpt.viz.scopes(): node -> (the path of the module that made it, the
# ScopeBlock of the `with scopes():` block it was made in), kept as long as the node lives
SCOPE_TAGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# parameter -> its name in the outermost module called inside `with scopes():`, kept
# for as long as the parameter lives (the module itself may be gone by drawing time)
SCOPE_PARAMS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class ScopeBlock:
    """What one `with scopes():` block saw: `shapes` (module path -> (input shape,
    output shape) of its last call) and `calls` (module path -> number of calls).
    Each node keeps its own block, so a later block never changes an earlier graph."""

    __slots__ = ("shapes", "calls", "_tags")

    def __init__(self):
        self.shapes: Dict[str, tuple] = {}
        self.calls: Dict[str, int] = {}
        self._tags: Dict[str, tuple] = {}

    def tag(self, path: str) -> tuple:
        """The (path, block) tag of a node made by module `path`, one tuple per path."""
        return self._tags.setdefault(path, (path, self))


class Foreign:
    """A micrograd-like value seen with minigpt's attribute names. `local_grads` is
    None: such values keep their derivatives in `_backward` closures instead."""

    __slots__ = ("value", "_children", "op", "label", "_local_grads", "_mark")

    def __init__(self, value, children: tuple):
        self.value, self._children, self._mark = value, children, 0
        self.op = str(getattr(value, "_op", "") or "")
        self.label = str(getattr(value, "label", "") or "")
        self._local_grads = None

    @property
    def data(self) -> float:
        return float(self.value.data)

    @property
    def grad(self) -> float:
        return float(self.value.grad)

    @grad.setter
    def grad(self, g: float) -> None:
        self.value.grad = g


def as_graph(root):
    """`root` itself when it is a minigpt Value (or already read), else the same graph
    as `Foreign` nodes."""
    if isinstance(root, (Value, Foreign)):
        return root
    if not all(hasattr(root, name) for name in ("data", "grad", "_prev")):
        raise TypeError(f"expected a Value (or an object with data, grad, _prev and _op, like micrograd's), "
                        f"got {type(root).__name__}")
    wrapped: Dict[int, Foreign] = {}
    stack = [(root, False)]
    while stack:  # children first, without recursion
        v, children_done = stack.pop()
        if id(v) in wrapped:
            continue
        if children_done:
            wrapped[id(v)] = Foreign(v, tuple(wrapped[id(c)] for c in _children_of(v)))
        else:
            stack.append((v, True))
            stack.extend((c, False) for c in _children_of(v) if id(c) not in wrapped)
    return wrapped[id(root)]


def _children_of(v) -> tuple:
    """A value's children in a stable order (a set has none of its own)."""
    prev = getattr(v, "_prev", ())
    if isinstance(prev, (set, frozenset)):
        return tuple(sorted(prev, key=lambda c: (str(getattr(c, "_op", "")), float(c.data), id(c))))
    return tuple(prev)


def default_name(v, i: int) -> str:
    """The label, or `op#i` where i is the topological position; for a leaf `const#i`
    (a number the engine made a leaf) or `leaf#i` (a Value you made)."""
    if v.label:
        return v.label
    if v.op:
        return f"{v.op}#{i}"
    return f"const#{i}" if isinstance(v, Constant) else f"leaf#{i}"


def parameter_names(order: list, params=None) -> Dict[Value, str]:
    """Parameter -> its name, for the leaves in `order` that are parameters.

    `params` (a Module, a {name: Value} dict or a list of Values) says which they are;
    without it, the modules called inside `with scopes():` and the live Modules
    holding leaves of this graph name them, the one holding the most first (so an
    MLP, not one of its neurons, names its weights)."""
    if params is not None:
        if isinstance(params, Module):
            return {v: name for name, v in params.named_parameters()}
        if isinstance(params, dict):
            return {v: str(name) for name, v in params.items()}
        return {v: "" for v in params}
    leaves = {id(v) for v in order if not v._children and isinstance(v, Value)}
    if not leaves:
        return {}
    modules = [m for m in gc.get_objects() if issubclass(type(m), Module)]  # type(): no __class__ lookups
    inner = {id(sub) for m in modules for _, sub in m.named_modules()[1:]}
    found = []
    for m in modules:
        if id(m) not in inner:  # only outermost modules, for full names
            named = [(name, v) for name, v in m.named_parameters() if id(v) in leaves]
            if named:
                found.append(named)
    names: Dict[Value, str] = {}
    for v in order:
        if id(v) in leaves and v in SCOPE_PARAMS:
            names[v] = SCOPE_PARAMS[v]
    for named in sorted(found, key=len, reverse=True):
        for name, v in named:
            names.setdefault(v, name)
    return names


def node_names(order: list, params=None):
    """(node -> name, parameter -> name) for the nodes in topological `order`: the
    label, else the parameter name, else `op#N` / `leaf#N` (see the module doc)."""
    pnames = parameter_names(order, params)
    names = {v: v.label or pnames.get(v) or default_name(v, i) for i, v in enumerate(order)}
    return names, pnames


_PLAIN_NAME = re.compile(r"[^\W\d]\w*(\.\w+)*(\[\d+\])*(#\d+)?")


def in_step(name: str) -> str:
    """A name as a chain-rule step writes it: bare when it is a plain dotted name
    (`a`, `w.0`, `x[0][1]`, `relu#4`), else in double quotes (`"*#3"`, `"my node"`), so
    that `∂"+#4"/∂"*#3"` and `"x, y".grad` read one way only."""
    return name if _PLAIN_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def num(x: float, digits: int = 6) -> str:
    """A float in `digits` significant digits that still looks like a float: 3.0, 0.42."""
    s = f"{x:.{digits}g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


def scope_of(v) -> str:
    """The module path a node was made in ('' outside modules, or when not recorded)."""
    try:
        return SCOPE_TAGS.get(v, ("",))[0]
    except TypeError:  # not weak-referenceable
        return ""


def scope_block(v) -> Optional[ScopeBlock]:
    """The `with scopes():` block a node was made in (None when not recorded)."""
    try:
        return SCOPE_TAGS.get(v, (None, None))[1]
    except TypeError:  # not weak-referenceable
        return None


def components(path: str) -> List[str]:
    """'blocks.0.attn' -> ['blocks.0', 'attn']: a list index belongs to its name.

    So `blocks.0` is depth 1 and `blocks.0.attn` depth 2."""
    parts: List[str] = []
    for part in path.split(".") if path else []:
        if part.isdigit() and parts:
            parts[-1] += "." + part
        else:
            parts.append(part)
    return parts


def prefix(path: str, depth: int) -> str:
    """The first `depth` levels of a module path: prefix('blocks.0.attn.q_proj', 1) = 'blocks.0'."""
    return ".".join(components(path)[:depth])
