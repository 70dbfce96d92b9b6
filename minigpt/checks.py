"""Input checks and error messages for the engine: real numbers in, clear errors out.

Kept apart from minigpt/engine.py so that the engine reads as the math. Every error
names what was passed or which operation failed.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

__all__ = ["to_float", "checked", "check_node", "name", "short"]


def to_float(x, what: str = "Value()") -> float:
    """A real number as a float, or an error that names what was passed."""
    if hasattr(x, "_local_grads"):  # a Value
        raise TypeError(f"{what} takes a number, got a Value ({x!r}); use the Value itself or its .data")
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what} takes an int or float, got {type(x).__name__}: {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what} takes a finite number, got {x!r}")
    return x


def checked(f, x: float, y: Optional[float], op: str) -> float:
    """f(x) or f(x, y), with a float overflow reported as an OverflowError naming `op`."""
    try:
        return f(x) if y is None else f(x, y)
    except OverflowError:
        raise OverflowError(f"{op} overflowed: {op}({short(x)}{'' if y is None else ', ' + short(y)}) "
                            "is too large for a float") from None


def name(v) -> str:
    return v.label if v.label else short(v.data)


def short(x: float) -> str:
    """A float in at most 6 significant digits that still looks like a float (2.0, not 2)."""
    s = f"{x:.6g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


_BY_HAND = ("to make a node by hand, give each child its local derivative: "
            "Value(a.data * b.data, '', (a, b), (b.data, a.data), '*')")


def check_node(label, children, local_grads, op) -> None:
    """Raise a one-line error for a Value() that backward() could not use: a label that
    is not text (micrograd's positional `Value(5.0, (a,), '+')`), or children without
    their local derivatives (micrograd's `_children=` alone). The engine calls this
    only for nodes made without local derivatives, so operations pay nothing for it."""
    if not isinstance(label, str):
        raise TypeError(f"Value(): the second argument is the label, a str, got {type(label).__name__} "
                        f"{label!r}; {_BY_HAND}")
    raise ValueError(f"Value(): {len(children)} children but {len(local_grads)} local derivatives "
                     f"(_local_grads), so backward() could not reach them; {_BY_HAND}")
