"""vsum, dot, softmax and logsumexp written as formulas of the engine's operations.

Each is the formula written with `+ - * / exp log`, so its gradient is the chain rule
on those nodes, one node per operation: the graph to look at when learning. The same
functions as single n-ary nodes with identical gradients are in `minigpt/fused.py`;
`minigpt.functional` chooses between the two. `minigpt.engine` exports these four.
"""
from __future__ import annotations

from typing import List, Sequence

from .engine import Constant, Value

__all__ = ["vsum", "dot", "softmax", "logsumexp"]


def vsum(values: Sequence) -> Value:
    """values[0] + values[1] + ... (Values or numbers); 0 for an empty list."""
    values = list(values)
    total = values[0] if values and isinstance(values[0], Value) else Constant(values[0] if values else 0.0)
    for v in values[1:]:  # (starting from the first value, not from 0: no `0 +` node)
        total = total + v
    return total


def dot(xs: Sequence, ys: Sequence, bias=None) -> Value:
    """bias + sum_i xs[i] * ys[i]. Shapes: xs [n], ys [n] -> a Value."""
    if len(xs) != len(ys):
        raise ValueError(f"dot: the two vectors have different lengths ({len(xs)} and {len(ys)})")
    products = [x * y for x, y in zip(xs, ys)]
    return vsum(products if bias is None else [bias] + products)


def softmax(values: Sequence) -> List[Value]:
    """exp(x_i - m) / sum_j exp(x_j - m) with m = max x (the shift cannot change the
    result; it keeps exp from overflowing). Shapes: [n] -> [n]."""
    values = [v if isinstance(v, Value) else Constant(v) for v in values]
    if not values:
        raise ValueError("softmax of an empty list")
    # the shift is a constant (no gradient flows through it), one node labelled 'max'
    m = Constant(max(v.data for v in values), "max")
    exps = [(v - m).exp() for v in values]
    total = vsum(exps)
    return [e / total for e in exps]


def logsumexp(values: Sequence) -> Value:
    """log sum_i exp(x_i), computed as m + log sum_i exp(x_i - m) with m = max x."""
    values = [v if isinstance(v, Value) else Constant(v) for v in values]
    if not values:
        raise ValueError("logsumexp of an empty list")
    m = Constant(max(v.data for v in values), "max")  # as in softmax
    return vsum([(v - m).exp() for v in values]).log() + m
