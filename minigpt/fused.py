"""The fast path: fused n-ary nodes with exactly the gradients of their primitive formulas.

`engine.dot(xs, ys)` builds 2n nodes (n products, n sums); `fused.dot(xs, ys)` builds
ONE node whose children are all of xs and ys and whose local derivatives are the
partial derivatives of the whole formula. The chain rule over the primitive nodes and
the one-step chain rule over the fused node give the same gradient (for a sum of
products there is only one path from each input to the output), so backpropagation is
unchanged while the graph, and the time to build and walk it, shrinks several times.

Each function below derives its Jacobian in its docstring. The speed also comes from
gathering the inputs' floats once, as tuples, and summing products at C speed (on
CPython; see `_sum_of_products` for PyPy), instead of one Python-level operation per
multiply. The layers use these through `minigpt.functional` unless `primitive_mode()`
is on; tests check every function against the primitive formula to 1e-12
(tests/test_fused.py).

Shapes: a vector is `List[Value]`, a sequence `[T][n]`, a matrix `[rows][cols]`.
"""
from __future__ import annotations

import gc
import math
import platform
from contextlib import contextmanager
from operator import mul
from typing import Iterator, List, Optional, Sequence

from . import engine
from .checks import to_float
from .engine import Constant, Value

__all__ = ["vsum", "dot", "softmax", "logsumexp", "linear", "attention_row", "layer_norm", "gc_paused"]

# The one place where CPython and PyPy want different code: the sum of products inside
# every dot node. CPython runs `sum(map(mul, a, b))` at C speed; PyPy's JIT compiles the
# plain loop into much faster code than its `map`. The additions happen in the same order.
if platform.python_implementation() != "PyPy":
    def _sum_of_products(a: Sequence[float], b: Sequence[float]) -> float:
        return sum(map(mul, a, b))
else:
    def _sum_of_products(a: Sequence[float], b: Sequence[float]) -> float:
        total = 0.0
        for x, y in zip(a, b):
            total += x * y
        return total


def _values(items: Sequence, who: str) -> List[Value]:
    """The items as Values: numbers become constant leaves; anything else is an error."""
    out = []
    for i, v in enumerate(items):
        if not isinstance(v, Value):
            try:
                v = Constant(v)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{who}: element {i}: {err}") from None
        out.append(v)
    return out


def vsum(values: Sequence) -> Value:
    """sum_i x_i as one node with n children.

    Jacobian: d(sum)/dx_i = 1 for every i, as in the chain x_0 + x_1 + ... .
    """
    values = list(values)
    try:  # all Values: gather at C speed
        data = [v.data for v in values]
    except AttributeError:
        values = _values(values, "vsum")
        data = [v.data for v in values]
    return Value(sum(data), "", tuple(values), (1.0,) * len(values), "sum")


def dot(xs: Sequence, ys: Sequence, bias=None) -> Value:
    """bias + sum_i x_i y_i as one node with 2n (+1) children.

    Jacobian: d/dx_i = y_i, d/dy_i = x_i, d/dbias = 1 (each x_i appears in one product
    only). Plain numbers are allowed on either side and as the bias: they are constants,
    so they get no edge at all.
    """
    if len(xs) != len(ys):
        raise ValueError(f"dot: the two vectors have different lengths ({len(xs)} and {len(ys)})")
    try:  # all Values: gather at C speed
        xd = tuple([x.data for x in xs])
        yd = tuple([y.data for y in ys])
        children, local = tuple(xs) + tuple(ys), yd + xd
    except AttributeError:
        xd, yd, children, local = _dot_with_constants(xs, ys)
    total = _sum_of_products(xd, yd)  # the additions in the same order as the chain of +
    if bias is None:
        return Value(total, "", children, local, "dot")
    if isinstance(bias, Value):
        return Value(bias.data + total, "", children + (bias,), local + (1.0,), "dot")
    return Value(to_float(bias, "dot bias") + total, "", children, local, "dot")


def _dot_with_constants(xs, ys):
    """Floats and edges of a dot product where some entries are plain numbers."""
    xs, ys = _values_or_numbers(xs, "dot"), _values_or_numbers(ys, "dot")
    xd = [x.data if isinstance(x, Value) else x for x in xs]
    yd = [y.data if isinstance(y, Value) else y for y in ys]
    edges = [(x, y) for x, y in zip(xs, yd) if isinstance(x, Value)]   # d/dx_i = y_i
    edges += [(y, x) for x, y in zip(xd, ys) if isinstance(y, Value)]  # d/dy_i = x_i
    return xd, yd, tuple(c for c, _ in edges), tuple(d for _, d in edges)


def _values_or_numbers(items: Sequence, who: str) -> list:
    return [v if isinstance(v, Value) else to_float(v, f"{who} (element {i})") for i, v in enumerate(items)]


def _shifted_exps(values: Sequence, who: str):
    """(the Values, m = max x, [exp(x_i - m)], their sum Z): what softmax and logsumexp
    share. Subtracting m keeps exp from overflowing and cancels in both results."""
    values = _values(values, who)
    if not values:
        raise ValueError(f"{who} of an empty list")
    m = max(v.data for v in values)
    exps = [math.exp(v.data - m) for v in values]
    return values, m, exps, sum(exps)


def softmax(values: Sequence) -> List[Value]:
    """s_i = exp(x_i - m) / Z, Z = sum_j exp(x_j - m), m = max x: one node per output,
    each with every input as a child.

    Jacobian: d s_i / d x_j = s_i (delta_ij - s_j). (Quotient rule on e_i / Z with
    d e_i/dx_j = delta_ij e_i and dZ/dx_j = e_j; the shift m cancels.)
    """
    values, m, exps, z = _shifted_exps(values, "softmax")
    probs = [e / z for e in exps]
    children = tuple(values)
    outs = []
    for i, s in enumerate(probs):
        local = [-s * q for q in probs]
        local[i] = s - s * s  # the delta_ij term: s_i (1 - s_i)
        outs.append(Value(s, "", children, tuple(local), "softmax"))
    return outs


def logsumexp(values: Sequence) -> Value:
    """log sum_i exp(x_i) = m + log sum_i exp(x_i - m) as one node.

    Jacobian: d/dx_i = exp(x_i) / sum_j exp(x_j) = softmax(x)_i.
    """
    values, m, exps, z = _shifted_exps(values, "logsumexp")
    return Value(m + math.log(z), "", tuple(values), tuple(e / z for e in exps), "logsumexp")


def linear(weight: Sequence[Sequence[Value]], x, bias: Optional[Sequence[Value]] = None):
    """W x + b: one `dot` node per output, `dot(weight[i], x, bias[i])`.

    x is a vector [in] (-> [out]) or a sequence [T][in] (-> [T][out]); weight is
    [out][in], bias [out] or None. Jacobian of output i: d/dW[i][j] = x[j],
    d/dx[j] = W[i][j], d/db[i] = 1. Faster than one `dot` per output because the
    weights' floats are gathered once for the whole sequence.
    """
    single = not (x and isinstance(x[0], (list, tuple)))
    xs = [x] if single else x
    n_in = len(weight[0]) if weight else 0
    if any(len(row) != n_in for row in weight):
        raise ValueError("linear: the rows of the weight matrix have different lengths")
    if bias is not None and len(bias) != len(weight):
        raise ValueError(f"linear: {len(bias)} biases for {len(weight)} rows of weights")
    for t, xt in enumerate(xs):
        if len(xt) != n_in:
            raise ValueError(f"linear: the weights take vectors of length {n_in}, position {t} has {len(xt)}")
    try:  # gather every float once, as tuples (children and local derivatives are tuples)
        wd = [tuple([w.data for w in row]) for row in weight]
        bd = [b.data for b in bias] if bias is not None else [0.0] * len(weight)
        xds = [tuple([v.data for v in xt]) for xt in xs]
    except AttributeError:  # plain numbers somewhere: dot() handles them
        out = [[dot(row, xt, None if bias is None else b) for row, b in zip(weight, bias or weight)] for xt in xs]
        return out[0] if single else out
    rows = [tuple(row) if bias is None else tuple(row) + (b,) for row, b in zip(weight, bias or weight)]
    ones = () if bias is None else (1.0,)
    out = []
    for xt, xd in zip(xs, xds):
        if not engine.is_grad_enabled():  # no graph to record: just the numbers
            out.append([Value(b + _sum_of_products(r, xd), "", (), (), "dot") for r, b in zip(wd, bd)])
            continue
        xt = tuple(xt)
        # output i: children W[i] (+ b[i]) and x; local derivatives x (+ 1) and W[i]
        out.append([Value(b_i + _sum_of_products(r, xd), "", row + xt, xd + ones + r, "dot")
                    for row, r, b_i in zip(rows, wd, bd)])
    return out[0] if single else out


def attention_row(scores: Sequence[Value], values: Sequence[Sequence[Value]], scale: float = 1.0) -> List[Value]:
    """One attention output: out_f = sum_j a_j v_j[f] with a = softmax(scale * scores),
    one node per feature f whose children are the scores and feature f of every value.

    Jacobian (the softmax's folded into the weighted sum):
        d out_f / d v_j[f]   = a_j
        d out_f / d scores_j = sum_k v_k[f] d a_k/d scores_j = scale a_j (v_j[f] - out_f)
    using d a_k / d scores_j = scale a_k (delta_kj - a_j). Shapes: scores [n],
    values [n][d] -> [d]. Replaces n softmax nodes of n children each and d dot nodes.
    """
    if not scores or len(scores) != len(values):
        raise ValueError(f"attention_row: {len(scores)} scores for {len(values)} value vectors "
                         "(need the same number, at least 1)")
    scale = to_float(scale, "attention_row scale")
    width = len(values[0])
    if any(len(v) != width for v in values):
        raise ValueError("attention_row: the value vectors have different lengths")
    scaled = [s.data * scale for s in scores]
    m = max(scaled)
    exps = [math.exp(s - m) for s in scaled]
    z = sum(exps)
    a = tuple([e / z for e in exps])
    scores = tuple(scores)
    grad_enabled = engine.is_grad_enabled()
    outs = []
    for column in zip(*values):  # feature f of every value vector
        vd = [v.data for v in column]
        out = _sum_of_products(a, vd)
        if not grad_enabled:
            outs.append(Value(out, "", (), (), "attend"))
            continue
        d_scores = tuple([scale * aj * (vj - out) for aj, vj in zip(a, vd)])
        outs.append(Value(out, "", scores + column, d_scores + a, "attend"))
    return outs


def layer_norm(x: Sequence[Value], gamma: Sequence[Value], beta: Sequence[Value], eps: float) -> List[Value]:
    """y_i = gamma_i (x_i - mu) r + beta_i with mu = mean(x), var = mean((x - mu)^2) and
    r = (var + eps)^(-1/2), as n + 2 nodes: mu, r, and one node per output whose
    children are x_i, mu, r, gamma_i and beta_i (instead of about 4n + 6 primitive nodes).

    Jacobians:
        d mu / d x_j  = 1/n
        d r / d x_j   = -r^3 (x_j - mu) / n    (d var / d x_j = 2 (x_j - mu) / n; the path
                                                through mu adds (2/n) sum_k (x_k - mu) (-1/n) = 0)
        d y_i / d x_i = gamma_i r,   d y_i / d mu = -gamma_i r,   d y_i / d r = gamma_i (x_i - mu),
        d y_i / d gamma_i = (x_i - mu) r,   d y_i / d beta_i = 1
    The forward floats are computed in the same order as the primitive formula in
    `minigpt.nn.LayerNorm`. Shapes: x, gamma, beta [n] -> [n].
    """
    n = len(x)
    xd = [v.data for v in x]
    mu = sum(xd) * (1.0 / n)
    c = [xi - mu for xi in xd]
    var = _sum_of_products(c, c) * (1.0 / n)
    r = (var + eps) ** -0.5
    mu_node = Value(mu, "", tuple(x), (1.0 / n,) * n, "mean")
    r3n = r * r * r / n
    r_node = Value(r, "", tuple(x), tuple(-r3n * ci for ci in c), "rsqrt_var")
    out = []
    for xi, ci, g, b in zip(x, c, gamma, beta):
        gd = g.data
        out.append(Value(ci * r * gd + b.data, "", (xi, mu_node, r_node, g, b),
                         (gd * r, -gd * r, gd * ci, ci * r, 1.0), "layer_norm"))
    return out


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the garbage collector's full collections while a graph is built and
    backpropagated; the trainer and the benchmark run each step inside this.

    The graph of a step stays alive until the step ends, so a full collection in the
    middle of it finds little to free and yet walks every live node: on CPython the
    cycle collector's rescans (a graph has no cycles; reference counting frees it) can
    cost more than the step itself, and on PyPy, which frees graphs only by collecting,
    postponing its major collections to between steps makes a step about 30% faster.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
