"""The scalar autograd engine: `Value`, reverse-mode `backward`, and fused helpers.

Every number in minigpt is a `Value`: a node in a computation graph that remembers
which Values it was computed from (its *children*) and, for each child, the *local
derivative* d(this)/d(child), evaluated at the moment the node was created.

Backpropagation is then one rule applied node by node, from the output back:

    child.grad += local_derivative * node.grad          (the chain rule)

Each operation below therefore computes two things side by side: its forward value
and its local derivatives, stored as plain floats. No closure is kept per node,
which keeps nodes small and the backward loop simple.

Fused helpers (`vsum`, `dot`, `softmax`, `logsumexp`, `matmul` for a linear layer,
`attend` for an attention row) build one node with many children instead of a long
chain of binary nodes. Their local derivatives are the
exact derivatives of the same formula written with `+ - * / exp log`, so the
gradients match the primitive composition; `primitive_mode()` makes them (and the
layers in `minigpt.nn`) build the primitive graph instead, for teaching.
"""
from __future__ import annotations

import gc
import math
import numbers
from operator import mul as _mul
from contextlib import contextmanager
from typing import Iterable, Iterator, List, Optional, Sequence, Union

__all__ = [
    "Value", "vsum", "dot", "softmax", "logsumexp", "no_grad", "is_grad_enabled",
    "primitive_mode", "is_primitive_mode", "topological_order", "gc_paused", "matvec", "matmul", "attend",
]

# --------------------------------------------------------------------------------------
# Global switches
# --------------------------------------------------------------------------------------
# When False (inside `no_grad()`), new nodes record no children, so no graph is kept.
_grad_enabled = True
# When True (inside `primitive_mode()`), fused helpers build their graph from the
# primitive operators instead of a single n-ary node.
_primitive = False
# Scope tracking for drawing graphs grouped by module (minigpt.viz.scopes()). When it
# is None, which is the usual case, nodes carry no scope and cost nothing extra.
_scope = None


@contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block operations compute values but record no graph.

    Use it for evaluation and sampling: memory stays flat and `backward()` on a
    result reaches nothing. Nests; the previous setting is restored on exit.
    """
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return _grad_enabled


@contextmanager
def primitive_mode() -> Iterator[None]:
    """Inside this block, fused helpers and layers build graphs from primitives only.

    `vsum`, `dot`, `softmax`, `logsumexp`, `gelu` and the layers in `minigpt.nn` then
    use only `+ - * / ** exp log tanh`, so a learner sees every multiply and add.
    Values and gradients are the same as in the default (fused) mode up to rounding.
    """
    global _primitive
    previous = _primitive
    _primitive = True
    try:
        yield
    finally:
        _primitive = previous


def is_primitive_mode() -> bool:
    """True inside `primitive_mode()`."""
    return _primitive


# --------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------
def _as_float(x, what: str = "Value") -> float:
    """Convert user input to a finite float, or raise a message naming what was passed."""
    if isinstance(x, Value):
        raise TypeError(f"{what}() takes a number, got a Value ({x!r}); use it directly or pass its .data")
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{what}() takes an int or float, got {type(x).__name__}: {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{what}() takes a finite number, got {x!r}")
    return x


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Value:
    """A scalar in the computation graph.

    Attributes:
        data:  the float value.
        grad:  d(output)/d(this), filled in by `backward()`; 0.0 before.
        label: free text used in reprs and graph pictures.
        op:    the operation that produced this node ('' for a leaf).

    Arithmetic with Values or plain numbers on either side builds new nodes:
    `+ - * / **`, unary `-`, and the methods `exp log tanh relu sigmoid gelu sqrt`.
    Equality and hashing are by identity: a Value is a graph node, not a number.
    """

    __slots__ = ("data", "grad", "label", "op", "_children", "_local_grads",
                 "_pass_grad", "scope", "__weakref__")

    def __init__(self, data, label: str = ""):
        self.data = _as_float(data)
        self.grad = 0.0
        self.label = label
        self.op = ""
        self._children = ()
        self._local_grads = ()

    # ---- micrograd compatibility -------------------------------------------------------
    @property
    def _op(self) -> str:
        """micrograd's name for `op`."""
        return self.op

    @property
    def _prev(self) -> set:
        """micrograd's name for the set of children."""
        return set(self._children)

    @property
    def children(self) -> tuple:
        """The Values this node was computed from, in order (may repeat)."""
        return self._children

    @property
    def local_grads(self) -> tuple:
        """d(self)/d(child) for each child, as plain floats, in the order of `children`."""
        return self._local_grads

    def __repr__(self) -> str:
        name = f"label={self.label!r}, " if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Value({name}data={_short(self.data)}, grad={_short(self.grad)}{op})"

    # ---- binary operators ----------------------------------------------------------
    # Each one: forward value, then the local derivative with respect to each child.
    def __add__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        # d(a+b)/da = 1, d(a+b)/db = 1
        return _node(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __radd__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other.__add__(self)

    def __sub__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        # d(a-b)/da = 1, d(a-b)/db = -1
        return _node(self.data - other.data, (self, other), (1.0, -1.0), "-")

    def __rsub__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other.__sub__(self)

    def __mul__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        # d(a*b)/da = b, d(a*b)/db = a
        return _node(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __rmul__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other.__mul__(self)

    def __truediv__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError(f"division by zero: {_name(self)} / {_name(other)} with the divisor equal to 0")
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return _node(a / b, (self, other), (1.0 / b, -a / (b * b)), "/")

    def __rtruediv__(self, other):
        other = _lift(other)
        if other is NotImplemented:
            return NotImplemented
        return other.__truediv__(self)

    def __neg__(self):
        # d(-a)/da = -1
        return _node(-self.data, (self,), (-1.0,), "neg")

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, Value):
            return _pow_value(self, exponent)
        if not _is_number(exponent):
            return NotImplemented
        n = float(exponent)
        x = self.data
        if x < 0.0 and not n.is_integer():
            raise ValueError(f"power of a negative number to a fractional exponent: {_name(self)} ** {n!r} "
                             "(the result would be complex)")
        if x == 0.0 and n < 0.0:
            raise ZeroDivisionError(f"division by zero: {_name(self)} ** {n!r} with the base equal to 0")
        try:
            out = x ** n
        except OverflowError:
            raise _overflow("**", self) from None
        # d(x^n)/dx = n * x^(n-1); at x = 0 with 0 < n < 1 that slope is infinite.
        if n == 0.0:
            local = 0.0
        elif x == 0.0 and n < 1.0:
            local = math.inf
        else:
            local = n * x ** (n - 1.0)
        return _node(out, (self,), (local,), f"**{_fmt(n)}")

    def __rpow__(self, base):
        base = _lift(base)
        if base is NotImplemented:
            return NotImplemented
        return _pow_value(base, self)

    # ---- unary functions -------------------------------------------------------------
    def exp(self):
        try:
            e = math.exp(self.data)
        except OverflowError:
            raise _overflow("exp", self) from None
        # d(e^x)/dx = e^x
        return _node(e, (self,), (e,), "exp")

    def log(self):
        x = self.data
        if x <= 0.0:
            raise ValueError(f"log of a non-positive number: log({_name(self)}) with data = {x!r}")
        # d(ln x)/dx = 1/x
        return _node(math.log(x), (self,), (1.0 / x,), "log")

    def tanh(self):
        t = math.tanh(self.data)
        # d(tanh x)/dx = 1 - tanh(x)^2
        return _node(t, (self,), (1.0 - t * t,), "tanh")

    def relu(self):
        x = self.data
        # d(relu x)/dx = 1 for x > 0, else 0 (we pick 0 at the kink, like PyTorch)
        return _node(x if x > 0.0 else 0.0, (self,), (1.0 if x > 0.0 else 0.0,), "relu")

    def sigmoid(self):
        x = self.data
        # written so that neither branch can overflow
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))
        # d(sigmoid x)/dx = s (1 - s)
        return _node(s, (self,), (s * (1.0 - s),), "sigmoid")

    def sqrt(self):
        x = self.data
        if x < 0.0:
            raise ValueError(f"sqrt of a negative number: sqrt({_name(self)}) with data = {x!r}")
        r = math.sqrt(x)
        # d(sqrt x)/dx = 1 / (2 sqrt x), infinite at 0
        return _node(r, (self,), (0.5 / r if r > 0.0 else math.inf,), "sqrt")

    def gelu(self):
        """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
        if _primitive:
            return 0.5 * self * (1.0 + (_GELU_C * (self + 0.044715 * self ** 3)).tanh())
        x = self.data
        t = math.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        value = 0.5 * x * (1.0 + t)
        # product rule on 0.5 x (1 + t), with dt/dx = (1 - t^2) c (1 + 3 * 0.044715 x^2)
        local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)
        return _node(value, (self,), (local,), "gelu")

    # ---- backpropagation -------------------------------------------------------------
    def backward(self) -> None:
        """Reverse-mode pass: add d(self)/d(node) to the `.grad` of every node reached.

        Gradients ACCUMULATE, as in PyTorch: calling `backward()` twice adds the
        gradient twice, so reset with `Module.zero_grad()` (or set `.grad = 0`)
        between training steps. Each call computes this pass's gradients apart from
        what `.grad` already held, so repeated calls add exactly the same amount.

        Works on graphs of any depth: the order is found with an explicit stack,
        never by recursion.
        """
        with gc_paused():
            order = topological_order(self)
            for node in order:  # this pass's gradients start from zero
                node._pass_grad = 0.0
            self._pass_grad = 1.0
            for node in reversed(order):  # every node comes after all the nodes it feeds
                g = node._pass_grad
                node.grad += g
                if g == 0.0:
                    continue
                for child, local in zip(node._children, node._local_grads):
                    child._pass_grad += local * g  # the chain rule


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a graph is built or backpropagated.

    A graph has no reference cycles (children never point back at their parents),
    yet with millions of live nodes each automatic collection rescans all of them,
    which can take more time than the backward pass itself. Reference counting
    still frees everything as usual. `backward()` uses this; so does the trainer
    around each step.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def topological_order(root: Value) -> List[Value]:
    """Every node that `root` depends on, each once, children before parents.

    Depth-first search with an explicit stack (no recursion, so a chain of a million
    operations is fine). `root` is the last element.
    """
    order = []
    seen = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in seen:  # reached again through another parent: already placed or pending
            continue
        seen.add(node)
        stack.append((node, True))  # come back to `node` once its children are placed
        for child in node._children:
            if child not in seen:
                if child._children:
                    stack.append((child, False))
                else:  # a leaf depends on nothing: place it at once
                    seen.add(child)
                    order.append(child)
    return order


# --------------------------------------------------------------------------------------
# Node construction helpers
# --------------------------------------------------------------------------------------
_GELU_C = math.sqrt(2.0 / math.pi)
_new = object.__new__


def _node(data: float, children: tuple, local_grads: tuple, op: str) -> Value:
    """Make a result node. Skips input validation: data comes from our own arithmetic."""
    out = _new(Value)
    out.data = data
    out.grad = 0.0
    out.label = ""
    out.op = op
    if _grad_enabled:
        out._children = children
        out._local_grads = local_grads
    else:
        out._children = ()
        out._local_grads = ()
    if _scope is not None:
        out.scope = _scope
    return out


def _lift(x):
    """A Value as itself, a plain number as a constant leaf, anything else NotImplemented."""
    if type(x) is Value:
        return x
    if type(x) is float or type(x) is int:  # the common case, checked cheaply
        if not math.isfinite(x):
            raise ValueError(f"arithmetic with a non-finite constant {x!r}")
        leaf = _new(Value)
        leaf.data = float(x)
        leaf.grad = 0.0
        leaf.label = ""
        leaf.op = ""
        leaf._children = ()
        leaf._local_grads = ()
        return leaf
    if isinstance(x, Value):
        return x
    if _is_number(x):
        return Value(x)  # validates: nan/inf constants are rejected here
    return NotImplemented


def _name(v: Value) -> str:
    return v.label if v.label else f"{v.data!r}"


def _short(x: float) -> str:
    """A float in at most 6 significant digits, always looking like a float (2.0, not 2)."""
    s = f"{x:.6g}"
    return s + ".0" if s.lstrip("-").isdigit() else s


def _fmt(x: float) -> str:
    return str(int(x)) if x.is_integer() else repr(x)


def _overflow(op: str, v: Value) -> OverflowError:
    """The error for a float overflow, naming the operation and its input."""
    return OverflowError(f"{op} overflowed: {op}({_name(v)}) is too large for a float")


def _pow_value(base: Value, exponent: Value) -> Value:
    """base ** exponent with a Value exponent: needs a positive base (the slope in the
    exponent is base^e * ln(base))."""
    b, e = base.data, exponent.data
    if b <= 0.0:
        raise ValueError(f"power with a Value exponent needs a positive base, got {_name(base)} "
                         f"(data = {b!r}) ** {_name(exponent)}")
    try:
        out = b ** e
    except OverflowError:
        raise _overflow("**", base) from None
    # d(b^e)/db = e b^(e-1), d(b^e)/de = b^e ln b
    return _node(out, (base, exponent), (e * b ** (e - 1.0), out * math.log(b)), "**")


def _values_only(items: Iterable, what: str) -> list:
    items = list(items)
    for i, v in enumerate(items):
        if not isinstance(v, Value) and not _is_number(v):
            raise TypeError(f"{what}: element {i} is {type(v).__name__} {v!r}, expected a Value or a number")
    return items


def _data(v) -> float:
    return v.data if isinstance(v, Value) else float(v)


# --------------------------------------------------------------------------------------
# Fused helpers: one node (or one node per output) holding all its local derivatives
# --------------------------------------------------------------------------------------
def vsum(values: Iterable[Union[Value, float]]) -> Value:
    """Sum of a list of Values (numbers allowed) as ONE node with n children.

    Gradient: d(sum)/d(x_i) = 1 for every i, exactly as the chain `x_0 + x_1 + ...`.
    An empty list gives a constant 0.
    """
    values = list(values)
    if _primitive:
        total = Value(0.0)
        for v in _values_only(values, "vsum"):
            total = total + v
        return total
    try:  # the common case, all Values: gather the floats at C speed
        data = [v.data for v in values]
        children = tuple(values)
    except AttributeError:  # plain numbers mixed in (constants), or bad input
        values = _values_only(values, "vsum")
        data = [_data(v) for v in values]
        children = tuple(v for v in values if isinstance(v, Value))
    return _node(sum(data), children, (1.0,) * len(children), "sum")


def dot(xs: Sequence[Union[Value, float]], ys: Sequence[Union[Value, float]],
        bias: Union[Value, float, None] = None) -> Value:
    """Dot product `bias + sum_i x_i * y_i` as ONE node with up to 2n+1 children.

    Gradient: d/dx_i = y_i, d/dy_i = x_i and d/dbias = 1, the same as
    `bias + x_0*y_0 + x_1*y_1 + ...` written with operators. Either side may hold
    plain numbers (constants: they get no gradient). `bias` lets a neuron's
    `w . x + b` be a single node.
    """
    if len(xs) != len(ys):
        raise ValueError(f"dot: the two vectors have different lengths ({len(xs)} and {len(ys)})")
    if _primitive:
        total = _lift(bias) if bias is not None else Value(0.0)
        for x, y in zip(_values_only(xs, "dot"), _values_only(ys, "dot")):
            total = total + _lift(x) * y
        return total
    try:  # the common case, all Values: gather the floats at C speed
        xd = [x.data for x in xs]
        yd = [y.data for y in ys]
    except AttributeError:  # plain numbers on one side (constants), or bad input
        return _dot_with_constants(xs, ys, bias)
    total = sum(map(_mul, xd, yd))  # same order of additions as the chain of `+`
    if bias is None:
        # d(x.y)/dx_i = y_i and d(x.y)/dy_i = x_i
        return _node(total, (*xs, *ys), (*yd, *xd), "dot")
    if isinstance(bias, Value):
        return _node(bias.data + total, (*xs, *ys, bias), (*yd, *xd, 1.0), "dot")
    return _node(_as_float(bias, "dot bias") + total, (*xs, *ys), (*yd, *xd), "dot")


def _dot_with_constants(xs, ys, bias) -> Value:
    """`dot` when some entries are plain numbers: only Values become children."""
    xs, ys = _values_only(xs, "dot"), _values_only(ys, "dot")
    children, local = [], []
    total = _data(bias) if bias is not None else 0.0
    products = []
    for x, y in zip(xs, ys):
        xd, yd = _data(x), _data(y)
        products.append(xd * yd)
        if isinstance(x, Value):
            children.append(x)
            local.append(yd)  # d(x*y)/dx = y
        if isinstance(y, Value):
            children.append(y)
            local.append(xd)  # d(x*y)/dy = x
    total += sum(products)
    if isinstance(bias, Value):
        children.append(bias)
        local.append(1.0)  # d(b + ...)/db = 1
    return _node(total, tuple(children), tuple(local), "dot")


def softmax(values: Sequence[Value]) -> List[Value]:
    """softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x), one node per output.

    Subtracting the max keeps exp from overflowing and does not change the result.
    Output i has every input as a child, with local derivatives
    d s_i / d x_j = s_i * (delta_ij - s_j).
    """
    values = [_lift(v) for v in _values_only(values, "softmax")]
    if not values:
        raise ValueError("softmax of an empty list")
    if _primitive:
        m = max(v.data for v in values)  # a constant shift: no gradient flows through it
        exps = [(v - m).exp() for v in values]
        total = vsum(exps)
        return [e / total for e in exps]
    m = max(v.data for v in values)
    exps = [math.exp(v.data - m) for v in values]
    z = sum(exps)
    probs = [e / z for e in exps]
    children = tuple(values)
    outs = []
    for i, p in enumerate(probs):
        local = tuple(-p * q for q in probs)
        local = local[:i] + (p - p * p,) + local[i + 1:]  # d s_i/d x_i = s_i (1 - s_i)
        outs.append(_node(p, children, local, "softmax"))
    return outs


def logsumexp(values: Sequence[Value]) -> Value:
    """log(sum_i exp(x_i)), computed stably as m + log(sum_i exp(x_i - m)), one node.

    d/dx_i = softmax(x)_i.
    """
    values = [_lift(v) for v in _values_only(values, "logsumexp")]
    if not values:
        raise ValueError("logsumexp of an empty list")
    m = max(v.data for v in values)
    if _primitive:
        return vsum([(v - m).exp() for v in values]).log() + m
    exps = [math.exp(v.data - m) for v in values]
    z = sum(exps)
    return _node(m + math.log(z), tuple(values), tuple(e / z for e in exps), "logsumexp")


def matvec(rows: Sequence[Sequence[Value]], x: Sequence[Value], bias: Optional[Sequence[Value]] = None) -> List[Value]:
    """W x (+ b) for a matrix `rows` [out][in] and a vector x [in]: one `dot` node per
    output, exactly `[dot(row, x, bias=b) for row, b in zip(rows, bias)]`, but the
    floats of x are gathered once instead of once per row."""
    return matmul(rows, [x], bias)[0]


def matmul(rows: Sequence[Sequence[Value]], xs: Sequence[Sequence[Value]],
           bias: Optional[Sequence[Value]] = None) -> List[List[Value]]:
    """`matvec(rows, x, bias)` for every vector x of a sequence xs [T][in] -> [T][out].

    The weights' floats are gathered once for the whole sequence. Each output is one
    `dot` node: d/dW[i][j] = x[j], d/dx[j] = W[i][j], d/db[i] = 1.
    """
    if _primitive:
        return [[dot(row, x) if bias is None else dot(row, x, bias=b)
                 for row, b in zip(rows, bias if bias is not None else rows)] for x in xs]
    try:
        wd = [[w.data for w in row] for row in rows]
        bd = None if bias is None else [b.data for b in bias]
        xds = [[v.data for v in x] for x in xs]
    except AttributeError:  # plain numbers somewhere: the general path checks and handles them
        return [[dot(row, x) if bias is None else dot(row, x, bias=b)
                 for row, b in zip(rows, bias if bias is not None else rows)] for x in xs]
    n_in = len(wd[0]) if wd else 0
    for r in wd:
        if len(r) != n_in:
            raise ValueError(f"matmul: the matrix rows have different lengths ({len(r)} and {n_in})")
    for xd in xds:
        if len(xd) != n_in:
            raise ValueError(f"matmul: a row has {n_in} entries but x has {len(xd)}")
    out = []
    for x, xd in zip(xs, xds):
        if not _grad_enabled:  # no graph to record: just the numbers
            sums = [sum(map(_mul, r, xd)) for r in wd]
            out.append([_node(s if bd is None else s + b, (), (), "dot")
                        for s, b in zip(sums, bd if bd is not None else sums)])
        elif bias is None:
            xt = tuple(x)
            out.append([_node(sum(map(_mul, r, xd)), (*row, *xt), (*xd, *r), "dot") for row, r in zip(rows, wd)])
        else:
            xt = tuple(x)
            out.append([_node(b_i + sum(map(_mul, r, xd)), (*row, *xt, b), (*xd, *r, 1.0), "dot")
                        for row, r, b, b_i in zip(rows, wd, bias, bd)])
    return out


def attend(scores: Sequence[Value], vectors: Sequence[Sequence[Value]], scale: float = 1.0) -> List[Value]:
    """One attention row: out[f] = sum_j a_j * vectors[j][f], a = softmax(scale * scores).

    The same as `a = softmax([s * scale for s in scores])` followed by
    `dot(a, [v[f] for v in vectors])` for each feature f, but fused: one node per
    output feature whose children are the scores and that feature of every vector,
    with local derivatives

        d out_f / d vectors[j][f] = a_j
        d out_f / d scores_j      = scale * a_j * (vectors[j][f] - out_f)

    (the softmax Jacobian folded into the weighted sum). Shapes: scores [n],
    vectors [n][d] -> [d].
    """
    if len(scores) != len(vectors) or not scores:
        raise ValueError(f"attend: {len(scores)} scores for {len(vectors)} vectors (need the same, at least 1)")
    if _primitive:
        weights = softmax([s * scale for s in scores] if scale != 1.0 else scores)
        return [dot(weights, [v[f] for v in vectors]) for f in range(len(vectors[0]))]
    scaled = [s.data * scale for s in scores]
    m = max(scaled)
    exps = [math.exp(s - m) for s in scaled]
    z = sum(exps)
    a = [e / z for e in exps]
    scores = tuple(scores)
    outs = []
    for column in zip(*vectors):  # feature f of every vector
        vd = [v.data for v in column]
        out = sum(map(_mul, a, vd))
        if not _grad_enabled:  # no graph to record: just the number
            outs.append(_node(out, (), (), "attend"))
            continue
        local_scores = [scale * aj * (vj - out) for aj, vj in zip(a, vd)]
        outs.append(_node(out, (*scores, *column), (*local_scores, *a), "attend"))
    return outs
