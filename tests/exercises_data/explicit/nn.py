# A student's nn.py: every class lists its own parameters (lists and generators).
import math
import random

from engine import Value


class Module:
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self):
        return []


class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def forward(self, x):
        s = self.b + sum(wi * xi for wi, xi in zip(self.w, x))
        return s.relu() if self.nonlin else s

    def parameters(self):
        return [*self.w, self.b]


class Layer(Module):
    def __init__(self, nin, nout, nonlin=True):
        self.neurons = [Neuron(nin, nonlin) for _ in range(nout)]

    def forward(self, x):
        return [n(x) for n in self.neurons]

    def parameters(self):
        for n in self.neurons:
            yield from n.parameters()


class MLP(Module):
    def __init__(self, nin, nouts):
        sizes = [nin] + nouts
        self.layers = [Layer(sizes[i], sizes[i + 1], i < len(nouts) - 1) for i in range(len(nouts))]

    def forward(self, x):
        for l in self.layers:
            x = l(x)
        return x

    def parameters(self):
        return [p for l in self.layers for p in l.parameters()]


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        r = 1 / math.sqrt(in_features)
        self.weight = [[Value(random.uniform(-r, r)) for _ in range(in_features)] for _ in range(out_features)]
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x):
        out = [sum(w * xi for w, xi in zip(row, x)) for row in self.weight]
        if self.bias is not None:
            out = [o + b for o, b in zip(out, self.bias)]
        return out

    def parameters(self):
        yield from (w for row in self.weight for w in row)
        if self.bias is not None:
            yield from self.bias
