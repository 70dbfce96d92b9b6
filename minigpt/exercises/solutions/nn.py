"""Neural-network modules built from `Value`s.

A module holds its trainable numbers (parameters) as Values and computes with
them in `forward`. Shapes are Python lists: a vector is a list of Values, a
matrix is a list of rows.
"""
import math
import random

from engine import Value


class Module:
    """Base class: calling a module calls its forward; parameters() lists its Values."""

    def __call__(self, *args, **kwargs):
        """module(x) is module.forward(x)."""
        # BEGIN SOLUTION 2.1: return self.forward(*args, **kwargs)
        # concept: calling a module, model(x), runs its forward with the same arguments, as in PyTorch.
        return self.forward(*args, **kwargs)
        # END SOLUTION

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def parameters(self):
        """Every trainable Value of this module, each once (a module without any: [])."""
        return []

    def zero_grad(self):
        """Set the grad of every parameter to 0.0 (gradients accumulate otherwise)."""
        # BEGIN SOLUTION 2.1: set p.grad = 0.0 for every p in self.parameters()
        # concept: gradients add up across backward() calls: before the next one, every parameter's gradient must be back at zero.
        for p in self.parameters():
            p.grad = 0.0
        # END SOLUTION


class Neuron(Module):
    """One unit: relu(w . x + b), or w . x + b when nonlin is False.

    w: nin Values, uniform in [-1, 1]; b: one Value, 0.0.
    """

    def __init__(self, nin, nonlin=True):
        # BEGIN SOLUTION 2.2: self.w = nin Values drawn with random.uniform(-1, 1); self.b = Value(0.0); remember nonlin
        # concept: a neuron with nin inputs has nin weights (random, small, of both signs, so that neurons start out different) and one bias starting at zero, all Values so that they get gradients; it remembers whether it applies a ReLU.
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        # END SOLUTION

    def forward(self, x):
        """x: vector of nin (Values or numbers) -> one Value."""
        # BEGIN SOLUTION 2.2: act = sum of w_i * x_i, plus b; return act.relu() if nonlin else act
        # concept: x: nin Values or numbers -> one Value: the weighted sum of the inputs plus the bias, through a ReLU when the neuron is nonlinear.
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 2.2: return the weights followed by the bias: self.w + [self.b]
        # concept: every Value an optimiser should update: the nin weights, then the bias (nin + 1 in all).
        return self.w + [self.b]
        # END SOLUTION


class Layer(Module):
    """nout Neurons that all read the same input."""

    def __init__(self, nin, nout, nonlin=True):
        # BEGIN SOLUTION 2.3: self.neurons = nout Neurons, each Neuron(nin, nonlin=nonlin)
        # concept: a layer is nout independent neurons, each seeing all nin inputs, all with the layer's nonlinearity setting.
        self.neurons = [Neuron(nin, nonlin=nonlin) for _ in range(nout)]
        # END SOLUTION

    def forward(self, x):
        """x: vector of nin -> vector of nout Values (one per neuron)."""
        # BEGIN SOLUTION 2.3: return [n(x) for n in self.neurons]
        # concept: x: nin inputs -> nout outputs, one per neuron, each computed from the same x.
        return [n(x) for n in self.neurons]
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 2.3: return the parameters of every neuron, in order, in one flat list
        # concept: every neuron's parameters, neuron by neuron, as one flat list: nout * (nin + 1) Values.
        return [p for n in self.neurons for p in n.parameters()]
        # END SOLUTION


class MLP(Module):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; ReLU on all but the last."""

    def __init__(self, nin, nouts):
        # BEGIN SOLUTION 2.4: self.layers: one Layer per entry of nouts, Layer(sizes[i], sizes[i+1], nonlin=...) with sizes = [nin] + nouts; the last layer is linear (nonlin=False)
        # concept: layers in a chain, each taking the previous one's outputs: sizes nin, then each entry of nouts. Hidden layers use a ReLU; the last is linear, so that outputs can be any real number.
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))]
        # END SOLUTION

    def forward(self, x):
        """x: vector of nin -> vector of nouts[-1] Values."""
        # BEGIN SOLUTION 2.4: feed x through every layer in turn and return the last output
        # concept: the output of each layer is the input of the next; the result is the last layer's output (nouts[-1] Values).
        for layer in self.layers:
            x = layer(x)
        return x
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 2.4: return the parameters of every layer, in order, in one flat list
        # concept: all layers' parameters, layer by layer, as one flat list.
        return [p for layer in self.layers for p in layer.parameters()]
        # END SOLUTION


class Linear(Module):
    """y = W x + b.

    weight: [out_features][in_features] Values, uniform in +-1/sqrt(in_features);
    bias: [out_features] Values, all 0.0, or None when bias=False.
    """

    def __init__(self, in_features, out_features, bias=True):
        # BEGIN SOLUTION 2.5: self.weight = out_features rows of in_features Values, random.uniform(-k, k) with k = 1/sqrt(in_features); self.bias = out_features Values of 0.0, or None when bias is False
        # concept: a weight matrix of out_features rows by in_features columns, drawn uniformly in +-1/sqrt(in_features) so that the output's scale does not grow with the number of inputs (PyTorch's default), and a bias of out_features zeros, or None when bias is False.
        k = 1 / math.sqrt(in_features)  # keeps the output's scale near the input's
        self.weight = [[Value(random.uniform(-k, k)) for _ in range(in_features)] for _ in range(out_features)]
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None
        # END SOLUTION

    def forward(self, x):
        """x: vector of in_features -> vector of out_features: y[i] = sum_j W[i][j] x[j] + b[i]."""
        # BEGIN SOLUTION 2.5: one output per row of self.weight: the sum of row[j] * x[j], plus bias[i] when there is a bias
        # concept: y = W x + b: x has in_features entries and y has out_features; y_i is the dot product of weight row i with x, plus b_i when there is a bias.
        out = []
        for i, row in enumerate(self.weight):
            y = sum(w * xj for w, xj in zip(row, x))
            if self.bias is not None:
                y = y + self.bias[i]
            out.append(y)
        return out
        # END SOLUTION

    def parameters(self):
        # BEGIN SOLUTION 2.5: every weight, row by row, then the bias Values (if any)
        # concept: the weights row by row, then the bias Values if there are any: out_features * in_features Values (+ out_features).
        params = [w for row in self.weight for w in row]
        if self.bias is not None:
            params += self.bias
        return params
        # END SOLUTION
