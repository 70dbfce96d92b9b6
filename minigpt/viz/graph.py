"""Reading a computation graph for the drawing and text tools.

The tools work on minigpt's `Value` and on any micrograd-like value: an object with
`data`, `grad`, `_op` and `_prev` (a set or tuple of children), such as the `Value` a
student writes in the exercises. `as_graph(root)` returns minigpt Values unchanged and
wraps other values in `Foreign` nodes that look like minigpt's (`_children`, `op`,
`label`, and `.grad` read and written through to the original).

Names: every tool names a node by its label, else by its operation and its position
in the topological order (`tanh#4`; an unlabelled leaf is `leaf#0`).
"""
from __future__ import annotations

import weakref
from typing import Dict, List

from ..engine import Value

__all__ = ["as_graph", "Foreign", "default_name", "num", "scope_of", "components", "prefix",
           "SCOPE_TAGS", "SCOPE_SHAPES"]

# Filled by minigpt.viz.scopes(): node -> the path of the module that made it, and
# module path -> (input shape, output shape) of its last call.
SCOPE_TAGS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
SCOPE_SHAPES: Dict[str, tuple] = {}


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
    """`root` itself when it is a minigpt Value, else the same graph as `Foreign` nodes."""
    if isinstance(root, Value):
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
    """The label, or `op#i` (`leaf#i` for a leaf) where i is the topological position."""
    if v.label:
        return v.label
    return f"{v.op}#{i}" if v.op else f"leaf#{i}"


def num(x: float, digits: int = 6) -> str:
    """A float in `digits` significant digits that still looks like a float: 3.0, 0.42."""
    s = f"{x:.{digits}g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


def scope_of(v) -> str:
    """The module path a node was made in ('' outside modules, or when not recorded)."""
    try:
        return SCOPE_TAGS.get(v, "")
    except TypeError:  # not weak-referenceable
        return ""


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
