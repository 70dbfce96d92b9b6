"""The helpers the layers are written with, and the one switch between their two builds.

`minigpt.nn` and `minigpt.gpt` call `vsum`, `dot`, `softmax`, `logsumexp` and `gelu`
from here.
By default each call builds the fused n-ary node of `minigpt/fused.py` (one node with
n children: a small graph, fast). Inside `with primitive_mode():` each call builds the
same formula from the engine's `+ - * / ** exp log tanh` (`minigpt/formulas.py`), so every
multiply and add of a model is a node you can see and draw. Values and gradients agree
to rounding (tests/test_fused.py, tests/test_primitive_mode.py).

The two layers with a fast path of their own (`Linear`, the attention row) ask
`fused_enabled()` in one labelled branch, the readable formula beside it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Sequence

from . import engine, formulas, fused
from .engine import Value

__all__ = ["vsum", "dot", "softmax", "logsumexp", "gelu", "primitive_mode", "is_primitive_mode", "fused_enabled"]

# The switch: True builds fused n-ary nodes, False (inside primitive_mode()) primitive ones.
_fused = True


@contextmanager
def primitive_mode() -> Iterator[None]:
    """Inside this block the layers build their graphs from primitive operations only."""
    global _fused
    previous, _fused = _fused, False
    try:
        yield
    finally:
        _fused = previous


def is_primitive_mode() -> bool:
    """True inside `primitive_mode()`."""
    return not _fused


def fused_enabled() -> bool:
    """True unless inside `primitive_mode()`: layers may take their fast path."""
    return _fused


def vsum(values: Sequence) -> Value:
    """values[0] + values[1] + ...  -> a Value."""
    return fused.vsum(values) if _fused else formulas.vsum(values)


def dot(xs: Sequence, ys: Sequence, bias=None) -> Value:
    """bias + sum_i xs[i] * ys[i]. Shapes: [n], [n] -> a Value."""
    return fused.dot(xs, ys, bias) if _fused else formulas.dot(xs, ys, bias)


def softmax(values: Sequence) -> List[Value]:
    """exp(x_i) / sum_j exp(x_j), computed stably. Shapes: [n] -> [n]."""
    return fused.softmax(values) if _fused else formulas.softmax(values)


def logsumexp(values: Sequence) -> Value:
    """log sum_i exp(x_i), computed stably. Shapes: [n] -> a Value."""
    return fused.logsumexp(values) if _fused else formulas.logsumexp(values)


def gelu(x: Value) -> Value:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): `x.gelu()`, one node with its own
    local derivative, or in primitive mode that formula op by op."""
    if _fused:
        return x.gelu()
    return 0.5 * x * (1.0 + (engine._GELU_C * (x + 0.044715 * x ** 3)).tanh())
