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
        # concept: the forward value is the sum of the two data; since d(a+b)/da = d(a+b)/db = 1, backward passes out.grad on unchanged to both inputs. A number operand becomes a Value first, so both sides have .data and .grad. Add to .grad (+=), never set it: a Value may feed several operations.
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
        # concept: the forward value is the product; each input's local derivative is the other input's value (d(a*b)/da = b), so backward sends out.grad times the other's data to each input. A number becomes a Value first; add to .grad, never set it.
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
        # concept: Python calls this for number + Value; addition does not care about order, so reuse the addition you already have.
        return self + other
        # END SOLUTION

    def __rmul__(self, other):
        """other * self, for a number on the left (2 * a)."""
        # BEGIN SOLUTION 1.1: return self * other
        # concept: Python calls this for number * Value; multiplication does not care about order, so reuse your multiplication.
        return self * other
        # END SOLUTION

    # ---- powers ---------------------------------------------------------------------
    def __pow__(self, other):
        """self ** n for a number n (int or float)."""
        # BEGIN SOLUTION 1.2: return out = Value(self.data ** n, (self,), f'**{n}') with an out._backward that adds n * self.data ** (n - 1) * out.grad to self.grad
        # concept: a new Value holding data to the power n (a plain number, which gets no gradient), with self as its only child. Its local derivative is the power rule, d(x**n)/dx = n * x**(n-1), which backward multiplies by out.grad.
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
        # concept: -a is a times -1: build it from an operation you already have, and its derivative comes for free.
        return self * -1
        # END SOLUTION

    def __sub__(self, other):
        """self - other."""
        # BEGIN SOLUTION 1.3: return self + (-other)
        # concept: a - b is a plus the negation of b: no new derivative to write.
        return self + (-other)
        # END SOLUTION

    def __rsub__(self, other):
        """other - self, for a number on the left (1 - a)."""
        # BEGIN SOLUTION 1.3: return other + (-self)
        # concept: number - Value: the number plus the negated Value.
        return other + (-self)
        # END SOLUTION

    def __truediv__(self, other):
        """self / other."""
        # BEGIN SOLUTION 1.3: return self * other ** -1
        # concept: a / b is a times b to the power -1: the product rule and the power rule then give both derivatives.
        return self * other ** -1
        # END SOLUTION

    def __rtruediv__(self, other):
        """other / self, for a number on the left (2 / a)."""
        # BEGIN SOLUTION 1.3: return other * self ** -1
        # concept: number / Value: the number times the Value to the power -1.
        return other * self ** -1
        # END SOLUTION

    # ---- exp and log ----------------------------------------------------------------
    def exp(self):
        """e ** self."""
        # BEGIN SOLUTION 1.4: return out = Value(math.exp(self.data), (self,), 'exp') whose _backward adds out.data * out.grad to self.grad
        # concept: forward: e to the data. The derivative of e**x is e**x itself, the output's own value, so backward can reuse out.data.
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
        # concept: forward: the natural logarithm of data (defined for positive data). d(ln x)/dx = 1/x, times out.grad, added to self.grad.
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
        # concept: forward: tanh of data. Its derivative 1 - tanh(x)**2 is written with the output's value, so backward needs no second tanh.
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
        # concept: forward: data where it is positive, 0 elsewhere. The slope is 1 where the input is positive and 0 elsewhere: the gradient flows back only through active units.
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
        # concept: the chain rule, node by node from this output back to the leaves: the output's own gradient is 1 (dL/dL), and every node must have received all of its gradient before it passes it on, which a reversed topological order guarantees.
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
    # concept: every Value the root depends on, each exactly once, every node after all of its inputs (_prev) and the root last. A depth-first walk can append a node once its children are done; remember the nodes already seen, since a node reached along two paths must appear once.
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
