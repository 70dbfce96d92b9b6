"""Small graphs shared by the tests of minigpt.viz's stepping page."""
import math
import random

from minigpt import Value, primitive_mode
from minigpt.nn import Neuron


def named(v, label):
    v.label = label
    return v


def abc():
    """L = a*b + c, with e = a*b: every node labelled."""
    a, b, c = Value(2.0, label="a"), Value(3.0, label="b"), Value(1.0, label="c")
    return named(named(a * b, "e") + c, "L")


def neuron():
    """out = relu(w . x + b) of Neuron(3) in primitive operations, as in micrograd."""
    n = Neuron(3, rng=random.Random(5))
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2"), Value(2.0, label="x3")]
    with primitive_mode():
        return named(n(x), "out")


class MicroValue:
    """A student's micrograd-style Value: children in a set, each node's chain rule in
    a `_backward` closure (here one closure for all operations, given the locals)."""

    def __init__(self, data, _children=(), _op=""):
        self.data, self.grad = data, 0.0
        self._prev, self._op = set(_children), _op
        self._backward = lambda: None

    def _result(self, data, children, op, local_grads):
        out = MicroValue(data, children, op)

        def _backward():
            for child, local in zip(children, local_grads):
                child.grad += local * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        return self._result(self.data + other.data, (self, other), "+", (1.0, 1.0))

    def __mul__(self, other):
        return self._result(self.data * other.data, (self, other), "*", (other.data, self.data))

    def tanh(self):
        t = math.tanh(self.data)
        return self._result(t, (self,), "tanh", (1 - t * t,))
