# A student's nn.py: Module.parameters() walks self.__dict__ for Values, lists of them
# and instances of this Module class (asking each for its own parameters()).
import random

from engine import Value


class Module:
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self):
        found, seen = [], set()

        def collect(item):
            if isinstance(item, Value):
                if id(item) not in seen:
                    seen.add(id(item))
                    found.append(item)
            elif isinstance(item, Module):
                for p in item.parameters():
                    collect(p)
            elif isinstance(item, (list, tuple)):
                for x in item:
                    collect(x)
            elif isinstance(item, dict):
                for x in item.values():
                    collect(x)
        for attribute in self.__dict__.values():
            collect(attribute)
        return found

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1.0, 1.0)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def forward(self, x):
        total = self.b
        for wi, xi in zip(self.w, x):
            total = total + wi * xi
        return total.relu() if self.nonlin else total


class Layer(Module):
    def __init__(self, nin, nout, nonlin=True):
        self.neurons = [Neuron(nin, nonlin=nonlin) for _ in range(nout)]

    def forward(self, x):
        return [neuron(x) for neuron in self.neurons]


class MLP(Module):
    def __init__(self, nin, nouts):
        self.layers = []
        for i, nout in enumerate(nouts):
            self.layers.append(Layer(nin, nout, nonlin=i < len(nouts) - 1))
            nin = nout

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        limit = 1.0 / in_features ** 0.5
        self.weight = [[Value(random.uniform(-limit, limit)) for _ in range(in_features)]
                       for _ in range(out_features)]
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x):
        out = []
        for i, row in enumerate(self.weight):
            acc = self.bias[i] if self.bias is not None else 0.0
            for w, xj in zip(row, x):
                acc = w * xj + acc
            out.append(acc)
        return out
