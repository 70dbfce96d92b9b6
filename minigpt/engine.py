"""The scalar autograd engine: `Value`, its operations, and backpropagation.

Every number is a `Value`: a node that remembers the Values it was computed from (its
*children*) and, for each child, the *local derivative* d(node)/d(child), evaluated
when the node is made. Each operation below computes both, side by side.
Backpropagation is then one rule applied to every edge, from the output back,

    child.grad += local_derivative * node.grad          (the chain rule)

taking each node only after every node that uses it (reverse topological order).

Numbers: ints, floats and other real numbers mix freely with Values. A non-finite
number from the user is a ValueError; an operation whose result would not be a finite
float raises OverflowError naming it. One graph is for one thread at a time.
`minigpt/fused.py` builds the helpers at the end of this file as single n-ary nodes.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, List

from .checks import check_node, checked, name, short, to_float

__all__ = ["Value", "vsum", "dot", "softmax", "logsumexp", "no_grad", "is_grad_enabled", "topological_order"]

# False inside `no_grad()`: new nodes then keep no children, so no graph is recorded.
_grad_enabled = True
# Numbers the calls of topological_order(); see there.
_last_mark = 0


_GELU_C = math.sqrt(2.0 / math.pi)
_INF = math.inf


class Value:
    """A scalar in the computation graph.

    data:  the float value.            grad:  d(output)/d(this), 0.0 until backward().
    label: free text for pictures.     op:    the operation that made it ('' for a leaf).
    children / local_grads: the Values it was made from and d(this)/d(child) for each.

    `Value(3.0)` makes a leaf; the operations make the other nodes. Equality and hashing
    are by identity: a Value is a graph node, not a number.
    """

    __slots__ = ("data", "grad", "label", "op", "_children", "_local_grads", "_mark", "__weakref__")

    def __init__(self, data, label: str = "", _children: tuple = (), _local_grads: tuple = (), _op: str = ""):
        if type(data) is not float:
            data = to_float(data)
        if not _local_grads and (_children or type(label) is not str):  # (an operation never gets here)
            check_node(label, _children, _local_grads, _op)
        if not -_INF < data < _INF:  # inf or nan (a chained comparison: cheaper than isfinite)
            if not _op:
                raise ValueError(f"Value() takes a finite number, got {data!r}")
            raise OverflowError(f"{_op} overflowed: the result is not a finite float "
                                f"(inputs {', '.join(name(c) for c in _children[:4])})")
        self.data = data
        self.grad = 0.0
        self.label = label
        self.op = _op
        self._mark = 0  # the last topological_order() that reached this node
        if _grad_enabled:
            self._children, self._local_grads = _children, _local_grads
        else:
            self._children = self._local_grads = ()

    children = property(lambda self: self._children, doc="The Values this node was made from, in order.")
    local_grads = property(lambda self: self._local_grads, doc="d(self)/d(child) for each child, as floats.")
    _op = property(lambda self: self.op, doc="micrograd's name for `op`.")
    _prev = property(lambda self: set(self._children), doc="micrograd's name for the set of children.")

    def __repr__(self) -> str:
        name = f"label={self.label!r}, " if self.label else ""
        op = f", op={self.op!r}" if self.op else ""
        return f"Value({name}data={short(self.data)}, grad={short(self.grad)}{op})"

    # ---- arithmetic: the value, then the local derivative for each child ----------------
    def __add__(self, other):
        other = other if isinstance(other, Value) else Constant(other)
        # d(a+b)/da = 1, d(a+b)/db = 1
        return Value(self.data + other.data, "", (self, other), (1.0, 1.0), "+")

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Constant(other)
        # d(a-b)/da = 1, d(a-b)/db = -1
        return Value(self.data - other.data, "", (self, other), (1.0, -1.0), "-")

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Constant(other)
        # d(a*b)/da = b, d(a*b)/db = a
        return Value(self.data * other.data, "", (self, other), (other.data, self.data), "*")

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Constant(other)
        a, b = self.data, other.data
        if b == 0.0:
            raise ZeroDivisionError(f"division by zero: {name(self)} / {name(other)}")
        out = a / b
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 (written -out/b, which cannot underflow to 0/0)
        return Value(out, "", (self, other), (1.0 / b, -out / b), "/")

    def __neg__(self):
        # d(-a)/da = -1
        return Value(-self.data, "", (self,), (-1.0,), "neg")

    def __pow__(self, n):
        if isinstance(n, Value):  # b ** e with both Values: needs b > 0 (ln b appears below)
            b, e = self.data, n.data
            if b <= 0.0:
                raise ValueError(f"{name(self)} ** {name(n)}: a Value exponent needs a positive base, got {b!r}")
            out = checked(math.pow, b, e, "**")
            # d(b^e)/db = e b^(e-1) = e * out / b,  d(b^e)/de = b^e ln b
            return Value(out, "", (self, n), (e * out / b, out * math.log(b)), "**")
        n = to_float(n, "the exponent of **")
        x = self.data
        if x < 0.0 and not n.is_integer():
            raise ValueError(f"{name(self)} ** {n!r}: a negative number to a fractional power is not real")
        if x == 0.0 and n < 0.0:
            raise ZeroDivisionError(f"division by zero: {name(self)} ** {n!r} with the base equal to 0")
        out = checked(math.pow, x, n, "**")
        # d(x^n)/dx = n x^(n-1), written n * out / x so it cannot overflow where out does not
        if x != 0.0:
            local = n * out / x
        else:  # at x = 0: 1 for n = 1, 0 for n = 0 or n > 1, a vertical tangent for 0 < n < 1
            local = 1.0 if n == 1.0 else 0.0 if n == 0.0 or n > 1.0 else math.inf
        return Value(out, "", (self,), (local,), f"**{n:g}")

    # number + Value and the like: make the number a (Constant) Value, keep the written order
    def __radd__(self, other):
        return Constant(other) + self

    def __rmul__(self, other):
        return Constant(other) * self

    def __rsub__(self, other):
        return Constant(other) - self

    def __rtruediv__(self, other):
        return Constant(other) / self

    def __rpow__(self, base):
        return Constant(base) ** self

    def __pos__(self):
        return self

    # ---- functions ----------------------------------------------------------------------
    def exp(self):
        e = checked(math.exp, self.data, None, "exp")
        # d(e^x)/dx = e^x
        return Value(e, "", (self,), (e,), "exp")

    def log(self):
        x = self.data
        if x <= 0.0:
            raise ValueError(f"log of a non-positive number: log({name(self)}) with data = {x!r}")
        # d(ln x)/dx = 1/x
        return Value(math.log(x), "", (self,), (1.0 / x,), "log")

    def sqrt(self):
        x = self.data
        if x < 0.0:
            raise ValueError(f"sqrt of a negative number: sqrt({name(self)}) with data = {x!r}")
        r = math.sqrt(x)
        # d(sqrt x)/dx = 1 / (2 sqrt x): infinite at 0 (with the sign of the zero, as in PyTorch)
        return Value(r, "", (self,), (0.5 / r if r != 0.0 else math.copysign(math.inf, r),), "sqrt")

    def tanh(self):
        t = math.tanh(self.data)
        # d(tanh x)/dx = 1 - tanh(x)^2
        return Value(t, "", (self,), (1.0 - t * t,), "tanh")

    def relu(self):
        x = self.data
        # d(relu x)/dx = 1 for x > 0, else 0 (0 at the kink, as in PyTorch)
        return Value(x if x > 0.0 else 0.0, "", (self,), (1.0 if x > 0.0 else 0.0,), "relu")

    def sigmoid(self):
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))  # never overflows
        # d(sigmoid x)/dx = s (1 - s)
        return Value(s, "", (self,), (s * (1.0 - s),), "sigmoid")

    def gelu(self):
        """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
        x = self.data
        t = math.tanh(_GELU_C * (x + 0.044715 * x * x * x))
        # product rule on 0.5 x (1 + t), with dt/dx = (1 - t^2) c (1 + 3 * 0.044715 x^2)
        local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_C * (1.0 + 3 * 0.044715 * x * x)
        return Value(0.5 * x * (1.0 + t), "", (self,), (local,), "gelu")

    # ---- backpropagation ----------------------------------------------------------------
    def backward(self) -> None:
        """Add d(self)/d(node) to the `.grad` of every node this Value depends on.

        Gradients ACCUMULATE, as in PyTorch: a second call adds them again, so reset
        with `Module.zero_grad()` (or `.grad = 0`) between training steps. Works on
        graphs of any depth: nothing here recurses.
        """
        order = topological_order(self)
        # Within one pass a node must pass on only this pass's gradient, so what the
        # grads already hold (nothing, in a fresh graph) is set aside and added back after.
        held = [node.grad for node in order]
        if any(held):
            for node in order:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):  # a node comes after every node that uses it
            g = node.grad  # d(self)/d(node), complete: all its users have passed theirs on
            for child, local in zip(node._children, node._local_grads):
                child.grad += local * g  # the chain rule
        if any(held):
            for node, before in zip(order, held):
                node.grad += before


class Constant(Value):
    """A number mixed into an operation (the 2 in `2 * x`), made a leaf by the engine.
    A Value in every way; pictures and step lists name it apart from your leaves."""

    __slots__ = ()


# ---- recording no graph -----------------------------------------------------------------
@contextmanager
def no_grad() -> Iterator[None]:
    """Inside this block operations compute values but record no graph (for evaluation
    and sampling): memory stays flat and `backward()` on a result reaches nothing."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return _grad_enabled


# ---- the order of backpropagation -------------------------------------------------------
def topological_order(root: Value) -> List[Value]:
    """Every node `root` depends on, each once, children before the nodes that use them;
    `root` is last. Depth-first with an explicit stack, so a chain of a million
    operations is fine."""
    # Each call marks the nodes it reaches with a number of its own: a set of seen nodes
    # would do the same, but costs more, especially on PyPy.
    global _last_mark
    _last_mark += 1
    mark = _last_mark
    order: List[Value] = []
    stack = [(root, False)]
    while stack:
        node, children_placed = stack.pop()
        if children_placed:
            order.append(node)
        elif node._mark != mark:  # (a node can be on the stack twice; it is expanded once)
            node._mark = mark
            stack.append((node, True))  # come back to `node` once its children are placed
            for child in node._children:
                if child._mark != mark:
                    if child._children:
                        stack.append((child, False))
                    else:  # a leaf depends on nothing: place it at once
                        child._mark = mark
                        order.append(child)
    return order


# The contract's helpers vsum, dot, softmax and logsumexp are formulas of the operations
# above; they live in minigpt/formulas.py (and, as single n-ary nodes, in minigpt/fused.py).
from .formulas import dot, logsumexp, softmax, vsum  # noqa: E402  (formulas needs Value, defined above)
