# A student's nn.py: parameters() found by walking attributes; the transformer parts live here too.
import math
import random

from engine import Value


class Module:
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self):
        found = []

        def walk(x):
            if isinstance(x, Value):
                found.append(x)
            elif isinstance(x, Module):
                for v in vars(x).values():
                    walk(v)
            elif isinstance(x, (list, tuple)):
                for item in x:
                    walk(item)
        for v in vars(self).values():
            walk(v)
        return found

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0


class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0)
        self.nonlin = nonlin

    def forward(self, x):
        act = sum((w * xi for w, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act


class Layer(Module):
    def __init__(self, nin, nout, nonlin=True):
        self.neurons = [Neuron(nin, nonlin) for _ in range(nout)]

    def forward(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out


class MLP(Module):
    def __init__(self, nin, nouts):
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin=(i < len(nouts) - 1)) for i in range(len(nouts))]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        bound = in_features ** -0.5
        self.weight = [[Value(random.uniform(-bound, bound)) for _ in range(in_features)]
                       for _ in range(out_features)]
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x):
        ys = []
        for i in range(len(self.weight)):
            y = sum(self.weight[i][j] * x[j] for j in range(len(x)))
            ys.append(y + self.bias[i] if self.bias else y)
        return ys


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.weight = [[Value(random.gauss(0, 1)) for _ in range(embedding_dim)] for _ in range(num_embeddings)]

    def forward(self, indices):
        return [self.weight[i] for i in indices]


class LayerNorm(Module):
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x):
        mu = sum(x) * (1.0 / len(x))
        centred = [xi - mu for xi in x]
        var = sum(c * c for c in centred) * (1.0 / len(x))
        std = (var + self.eps) ** 0.5
        return [self.gamma[i] * (centred[i] / std) + self.beta[i] for i in range(len(x))]


class FeedForward(Module):
    def __init__(self, embed_dim, hidden_dim=None):
        hidden_dim = hidden_dim or 4 * embed_dim
        self.fc1 = Linear(embed_dim, hidden_dim)
        self.fc2 = Linear(hidden_dim, embed_dim)

    def forward(self, x):
        c = math.sqrt(2.0 / math.pi)
        h = [0.5 * z * (1.0 + (c * (z + 0.044715 * z ** 3)).tanh()) for z in self.fc1(x)]
        return self.fc2(h)


def softmax(xs):
    top = max(x.data for x in xs)
    es = [(x - top).exp() for x in xs]
    s = sum(es)
    return [e / s for e in es]


class SelfAttention(Module):
    def __init__(self, embed_dim):
        self.d = embed_dim
        self.q_proj = Linear(embed_dim, embed_dim, bias=False)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False)

    def forward(self, x, causal=True):
        Q = [self.q_proj(r) for r in x]
        K = [self.k_proj(r) for r in x]
        V = [self.v_proj(r) for r in x]
        out = []
        for i in range(len(x)):
            scores = []
            for j in range(len(x)):
                s = sum(a * b for a, b in zip(Q[i], K[j])) / math.sqrt(self.d)
                if causal and j > i:
                    s = s + (-1e9)  # masked: its weight underflows to exactly 0
                scores.append(s)
            att = softmax(scores)
            ctx = [sum(att[j] * V[j][c] for j in range(len(x))) for c in range(self.d)]
            out.append(self.out_proj(ctx))
        return out
