# A student's nn.py, PyTorch style: Module.__setattr__ registers sub-modules and
# parameters as they are assigned; parameters() is a generator over that registry.
import random

from engine import Value


class Module:
    def __init__(self):
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_params", {})

    def __setattr__(self, name, value):
        if isinstance(value, Module) or (isinstance(value, list) and value and isinstance(value[0], Module)):
            self._modules[name] = value
        elif isinstance(value, Value) or (isinstance(value, list) and value
                                          and isinstance(value[0], (Value, list))):
            self._params[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self):
        for value in self._params.values():
            yield from _values(value)
        for module in self._modules.values():
            for m in (module if isinstance(module, list) else [module]):
                yield from m.parameters()

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0


def _values(x):
    if isinstance(x, Value):
        yield x
    else:
        for item in x:
            yield from _values(item)


class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        super().__init__()
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def forward(self, x):
        out = sum((w * v for w, v in zip(self.w, x)), self.b)
        return out.relu() if self.nonlin else out


class Layer(Module):
    def __init__(self, nin, nout, nonlin=True):
        super().__init__()
        self.neurons = [Neuron(nin, nonlin) for _ in range(nout)]

    def forward(self, x):
        return [n(x) for n in self.neurons]


class MLP(Module):
    def __init__(self, nin, nouts):
        super().__init__()
        dims = [nin, *nouts]
        self.layers = [Layer(a, b, nonlin=k + 2 < len(dims)) for k, (a, b) in enumerate(zip(dims, dims[1:]))]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        k = in_features ** -0.5
        self.weight = [[Value(random.uniform(-k, k)) for _ in range(in_features)] for _ in range(out_features)]
        self.bias = [Value(0) for _ in range(out_features)] if bias else None

    def forward(self, x):
        ys = [sum(w * v for w, v in zip(row, x)) for row in self.weight]
        return [y + b for y, b in zip(ys, self.bias)] if self.bias else ys
