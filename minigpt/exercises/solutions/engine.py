"""A scalar autograd engine: `Value` and reverse-mode `backward()`.

Every number is a `Value`. An operation on Values returns a new Value that
remembers its inputs (`_prev`), the name of the operation (`_op`) and a function
`_backward` that applies the chain rule for that one operation: it adds

    (local derivative d out / d input) * out.grad

to the `grad` of each input. `backward()` calls every node's `_backward` once, from
the output back to the leaves, so that a node passes its gradient on only after
every node that uses it has added to it.
"""
import math


class Value:
    """A scalar in a computation graph.

    data: the number (a float). grad: d(output)/d(this Value), 0.0 until a backward
    pass reaches it. _prev: the Values this one was computed from. _op: the
    operation that made it ('' for a leaf).
    """

    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None  # a leaf has nothing to pass on
        self._prev = set(_children)
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # ---- add and multiply ---------------------------------------------------------
    def __add__(self, other):
        """self + other, where other is a Value or a number."""
        # BEGIN SOLUTION 1.1: return out = Value(self.data + other.data, (self, other), '+') (wrap a number in a Value first) with an out._backward that adds out.grad to self.grad and other.grad
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            # d(a+b)/da = 1 and d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    def __mul__(self, other):
        """self * other, where other is a Value or a number."""
        # BEGIN SOLUTION 1.1: return out = Value(self.data * other.data, (self, other), '*') (wrap a number in a Value first) with an out._backward that adds other.data * out.grad to self.grad and self.data * out.grad to other.grad
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            # d(a*b)/da = b and d(a*b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    def __radd__(self, other):
        """other + self, for a number on the left (2 + a)."""
        # BEGIN SOLUTION 1.1: return self + other (addition does not care about order)
        return self + other
        # END SOLUTION

    def __rmul__(self, other):
        """other * self, for a number on the left (2 * a)."""
        # BEGIN SOLUTION 1.1: return self * other
        return self * other
        # END SOLUTION

    # ---- powers ---------------------------------------------------------------------
    def __pow__(self, other):
        """self ** n for a number n (int or float)."""
        # BEGIN SOLUTION 1.2: return out = Value(self.data ** n, (self,), f'**{n}') with an out._backward that adds n * self.data ** (n - 1) * out.grad to self.grad
        if not isinstance(other, (int, float)):
            raise TypeError(f"only a number exponent is supported, got {type(other).__name__}")
        out = Value(self.data ** other, (self,), f'**{other}')

        def _backward():
            # d(x**n)/dx = n * x**(n-1)
            self.grad += other * self.data ** (other - 1) * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    # ---- negate, subtract, divide: made of the operations above --------------------
    def __neg__(self):
        """-self."""
        # BEGIN SOLUTION 1.3: return self * -1 (the derivative then comes from __mul__)
        return self * -1
        # END SOLUTION

    def __sub__(self, other):
        """self - other."""
        # BEGIN SOLUTION 1.3: return self + (-other)
        return self + (-other)
        # END SOLUTION

    def __rsub__(self, other):
        """other - self, for a number on the left (1 - a)."""
        # BEGIN SOLUTION 1.3: return other + (-self)
        return other + (-self)
        # END SOLUTION

    def __truediv__(self, other):
        """self / other."""
        # BEGIN SOLUTION 1.3: return self * other ** -1
        return self * other ** -1
        # END SOLUTION

    def __rtruediv__(self, other):
        """other / self, for a number on the left (2 / a)."""
        # BEGIN SOLUTION 1.3: return other * self ** -1
        return other * self ** -1
        # END SOLUTION

    # ---- exp and log ----------------------------------------------------------------
    def exp(self):
        """e ** self."""
        # BEGIN SOLUTION 1.4: return out = Value(math.exp(self.data), (self,), 'exp') whose _backward adds out.data * out.grad to self.grad
        out = Value(math.exp(self.data), (self,), 'exp')

        def _backward():
            # d exp(x)/dx = exp(x), which is out.data
            self.grad += out.data * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    def log(self):
        """The natural logarithm of self (self.data > 0)."""
        # BEGIN SOLUTION 1.4: return out = Value(math.log(self.data), (self,), 'log') whose _backward adds (1 / self.data) * out.grad to self.grad
        out = Value(math.log(self.data), (self,), 'log')

        def _backward():
            # d log(x)/dx = 1/x
            self.grad += (1 / self.data) * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    # ---- activations ----------------------------------------------------------------
    def tanh(self):
        """The hyperbolic tangent of self."""
        # BEGIN SOLUTION 1.5: return out = Value(math.tanh(self.data), (self,), 'tanh') whose _backward adds (1 - t**2) * out.grad to self.grad, t = out.data
        t = math.tanh(self.data)
        out = Value(t, (self,), 'tanh')

        def _backward():
            # d tanh(x)/dx = 1 - tanh(x)**2
            self.grad += (1 - t ** 2) * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    def relu(self):
        """max(0, self)."""
        # BEGIN SOLUTION 1.5: return out = Value(max(0, x), (self,), 'ReLU') whose _backward adds out.grad to self.grad where x > 0 (and nothing elsewhere)
        out = Value(self.data if self.data > 0 else 0.0, (self,), 'ReLU')

        def _backward():
            # d relu(x)/dx = 1 where x > 0, else 0
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
        out._backward = _backward
        return out
        # END SOLUTION

    # ---- backpropagation ------------------------------------------------------------
    def backward(self):
        """Fill in d(self)/d(v) for every Value v this one depends on.

        Seeds self.grad with 1.0, then calls each node's _backward once, every node
        after all the nodes that use it. Gradients accumulate: call zero_grad()
        (or set .grad = 0.0) between passes.
        """
        # BEGIN SOLUTION 1.7: order = topological_order(self); set self.grad = 1.0; call v._backward() for every v in reversed(order)
        order = topological_order(self)
        self.grad = 1.0  # d self / d self
        for v in reversed(order):  # from the output back to the leaves
            v._backward()
        # END SOLUTION


def topological_order(root):
    """Every Value `root` depends on, root included, each exactly once, with every
    node placed after all of its children (so `reversed(...)` puts it before them).
    """
    # BEGIN SOLUTION 1.6: depth-first from root: visit a node's children (v._prev) before appending the node, and keep a set of visited nodes so none is appended twice
    order = []
    visited = set()

    def visit(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                visit(child)
            order.append(v)  # after all its children
    visit(root)
    return order
    # END SOLUTION
