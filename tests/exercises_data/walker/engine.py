# A student's engine: a module-level topological_order, recursion, every op its own node.
import math


class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0
        self._prev = set(_children)
        self._op = _op
        self._backward = lambda: None

    def __repr__(self):
        return "Value(%r, grad=%r)" % (self.data, self.grad)

    def _node(self, data, children, op, local):
        """A new node whose _backward adds local[i] * out.grad to children[i].grad."""
        out = Value(data, children, op)

        def _backward():
            for child, d in zip(children, local):
                child.grad += d * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._node(self.data + other.data, (self, other), '+', (1.0, 1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return self._node(self.data * other.data, (self, other), '*', (other.data, self.data))

    def __pow__(self, k):
        return self._node(self.data ** k, (self,), '**', (k * self.data ** (k - 1),))

    def exp(self):
        e = math.exp(self.data)
        return self._node(e, (self,), 'exp', (e,))

    def log(self):
        return self._node(math.log(self.data), (self,), 'log', (1.0 / self.data,))

    def tanh(self):
        t = math.tanh(self.data)
        return self._node(t, (self,), 'tanh', (1.0 - t * t,))

    def relu(self):
        return self._node(max(self.data, 0.0), (self,), 'relu', (1.0 if self.data > 0 else 0.0,))

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __truediv__(self, other):
        return self * (other ** -1 if isinstance(other, Value) else 1.0 / other)

    def __rtruediv__(self, other):
        return (self ** -1) * other

    def backward(self):
        self.grad = 1.0
        for node in reversed(topological_order(self)):
            node._backward()


def topological_order(root):
    order, seen = [], set()

    def visit(node):
        if node in seen:
            return
        seen.add(node)
        for child in node._prev:
            visit(child)
        order.append(node)
    visit(root)
    return order
