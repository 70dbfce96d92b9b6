# A student's engine, written the micrograd way: closures, recursion-free topo sort.
import math


class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0.0
        self._prev = tuple(_children)
        self._op = _op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value({self.data})"

    @staticmethod
    def wrap(x):
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other):
        other = Value.wrap(other)
        out = Value(self.data + other.data, (self, other), '+')

        def back():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = back
        return out

    def __mul__(self, other):
        other = Value.wrap(other)
        out = Value(self.data * other.data, (self, other), '*')

        def back():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = back
        return out

    def __truediv__(self, other):
        other = Value.wrap(other)
        out = Value(self.data / other.data, (self, other), '/')

        def back():
            self.grad += out.grad / other.data
            other.grad += -self.data / other.data ** 2 * out.grad
        out._backward = back
        return out

    def __rtruediv__(self, other):
        return Value.wrap(other) / self

    def __pow__(self, n):
        out = Value(self.data ** n, (self,), 'pow')

        def back():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = back
        return out

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-Value.wrap(other))

    def __rsub__(self, other):
        return Value.wrap(other) - self

    __radd__ = __add__
    __rmul__ = __mul__

    def exp(self):
        out = Value(math.exp(self.data), (self,), 'exp')

        def back():
            self.grad += out.data * out.grad
        out._backward = back
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), 'log')

        def back():
            self.grad += out.grad / self.data
        out._backward = back
        return out

    def tanh(self):
        e = math.exp(2 * self.data)
        out = Value((e - 1) / (e + 1), (self,), 'tanh')

        def back():
            self.grad += (1 - out.data * out.data) * out.grad
        out._backward = back
        return out

    def relu(self):
        out = Value(max(0.0, self.data), (self,), 'relu')

        def back():
            if self.data > 0:
                self.grad += out.grad
        out._backward = back
        return out

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            for child in node._prev:
                stack.append((child, False))
        self.grad = 1.0
        for node in order[::-1]:
            node._backward()
