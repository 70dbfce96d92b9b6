"""The same Mini-GPT written on micrograd's `Value` (the `micrograd` package on PyPI).

micrograd is the engine minigpt grew out of: every operation makes a node holding a
`_backward` closure, and `backward()` calls the closures in reverse topological order.
This module builds the model of `MiniGPT(vocab, d, heads, layers, context)` (learned
positions, pre-norm LayerNorm, tanh-GELU MLP, untied head, causal attention) with
micrograd Values, written the way a micrograd user would write it: `sum()` over
products, `a / b`, `a - b`, and so on. micrograd spells those with its few primitives
(`a - b` is `a + (-1 * b)`, `a / b` is `a * b**-1`), so its graph is larger than the
formula suggests: that is part of what the benchmark measures.

micrograd's `Value` has no `exp`, `log` or `tanh`. They are added below exactly the way
micrograd defines its own operations: a function that makes the output Value and gives
it a `_backward` closure applying the chain rule. They are plain functions, so
micrograd's class is left untouched.

The weights come from a minigpt model's `state_dict()`, so with the same weights the
loss and the gradients agree with minigpt's to rounding.

If micrograd is not installed, importing this module still works; `AVAILABLE` is
False and building a `MicrogradGPT` raises ImportError with the install command.
"""
from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from typing import Dict, Iterator, List, Sequence, Tuple

try:
    from micrograd.engine import Value
    AVAILABLE = True
except ImportError:  # the benchmark reports the row as unavailable and carries on
    Value = None
    AVAILABLE = False

INSTALL_HINT = "pip install micrograd, or pip install -e '.[bench]'"

_GELU_C = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------------------
# The missing operations, in micrograd's own style
# --------------------------------------------------------------------------------------
def exp(x):
    """e**x as a micrograd Value; d(e^x)/dx = e^x."""
    out = Value(math.exp(x.data), (x,), "exp")

    def _backward():
        x.grad += out.data * out.grad
    out._backward = _backward
    return out


def log(x):
    """ln(x) as a micrograd Value; d(ln x)/dx = 1/x."""
    out = Value(math.log(x.data), (x,), "log")

    def _backward():
        x.grad += out.grad / x.data
    out._backward = _backward
    return out


def tanh(x):
    """tanh(x) as a micrograd Value; d(tanh x)/dx = 1 - tanh(x)^2."""
    t = math.tanh(x.data)
    out = Value(t, (x,), "tanh")

    def _backward():
        x.grad += (1.0 - t * t) * out.grad
    out._backward = _backward
    return out


# --------------------------------------------------------------------------------------
# Layers, as functions of lists of micrograd Values
# --------------------------------------------------------------------------------------
def linear(weight, x, bias=None):
    """W x (+ b); `weight` is `[out][in]`."""
    if bias is None:
        return [sum(w * xi for w, xi in zip(row, x)) for row in weight]
    return [sum(w * xi for w, xi in zip(row, x)) + b for row, b in zip(weight, bias)]


def layer_norm(x, gamma, beta, eps=1e-5):
    """gamma * (x - mean) / sqrt(var + eps) + beta, biased variance."""
    n = len(x)
    mean = sum(x) * (1.0 / n)
    centered = [xi - mean for xi in x]
    var = sum(c * c for c in centered) * (1.0 / n)
    inv_std = (var + eps) ** -0.5
    return [c * inv_std * g + b for c, g, b in zip(centered, gamma, beta)]


def gelu(x):
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + tanh(_GELU_C * (x + 0.044715 * x ** 3)))


def softmax(xs):
    """exp(x_i - max) / sum_j exp(x_j - max); the max is a constant (no gradient)."""
    m = max(x.data for x in xs)
    exps = [exp(x - m) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def cross_entropy(logits, targets):
    """Mean over positions of logsumexp(row) - row[target]."""
    losses = []
    for row, y in zip(logits, targets):
        m = max(z.data for z in row)
        losses.append(log(sum(exp(z - m) for z in row)) + m - row[y])
    return sum(losses) * (1.0 / len(losses))


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
def _to_values(x):
    """Nested lists of floats -> the same nesting of micrograd Values."""
    if isinstance(x, (int, float)):
        return Value(float(x))
    return [_to_values(item) for item in x]


def _flatten(x) -> list:
    if not isinstance(x, list):
        return [x]
    out = []
    for item in x:
        out.extend(_flatten(item))
    return out


class MicrogradGPT:
    """`MiniGPT(vocab, d, heads, layers, context)` on micrograd Values.

    `params` maps the same tensor names as minigpt's `state_dict()` to nested lists of
    Values; `parameters()` lists every scalar once, in that order.
    """

    def __init__(self, state: Dict[str, object], num_heads: int):
        if not AVAILABLE:
            raise ImportError(f"micrograd is not installed: {INSTALL_HINT}")
        self.params = {name: _to_values(tensor) for name, tensor in state.items()}
        self.num_heads = num_heads
        self.num_layers = 0
        while f"blocks.{self.num_layers}.ln1.gamma" in self.params:
            self.num_layers += 1
        self.max_seq_len = len(self.params["pos_emb.weight"])

    @classmethod
    def from_model(cls, model) -> "MicrogradGPT":
        """A micrograd copy of a `minigpt.gpt.MiniGPT` with its current weights."""
        return cls(model.state_dict(), model.config.n_heads)

    def parameters(self) -> list:
        return [v for tensor in self.params.values() for v in _flatten(tensor)]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0

    def _attention(self, x, prefix):
        P = self.params
        q = [linear(P[prefix + "q_proj.weight"], xt) for xt in x]
        k = [linear(P[prefix + "k_proj.weight"], xt) for xt in x]
        v = [linear(P[prefix + "v_proj.weight"], xt) for xt in x]
        hd = len(q[0]) // self.num_heads
        scale = 1.0 / math.sqrt(hd)
        out = [[] for _ in x]
        for h in range(self.num_heads):
            lo, hi = h * hd, (h + 1) * hd
            for t in range(len(x)):
                qt = q[t][lo:hi]
                scores = [sum(a * b for a, b in zip(qt, k[j][lo:hi])) * scale for j in range(t + 1)]
                weights = softmax(scores)
                out[t].extend(sum(w * v[j][f] for j, w in enumerate(weights)) for f in range(lo, hi))
        return [linear(P[prefix + "out_proj.weight"], row) for row in out]

    def forward(self, token_ids: Sequence[int]):
        """Logits `[T][vocab]` as micrograd Values."""
        P = self.params
        x = [[a + b for a, b in zip(P["tok_emb.weight"][i], P["pos_emb.weight"][t])]
             for t, i in enumerate(token_ids)]
        for layer in range(self.num_layers):
            pre = f"blocks.{layer}."
            a = self._attention([layer_norm(xt, P[pre + "ln1.gamma"], P[pre + "ln1.beta"]) for xt in x],
                                pre + "attn.")
            x = [[xi + ai for xi, ai in zip(xt, at)] for xt, at in zip(x, a)]
            new_x = []
            for xt in x:
                h = linear(P[pre + "ffn.fc1.weight"], layer_norm(xt, P[pre + "ln2.gamma"], P[pre + "ln2.beta"]),
                           P[pre + "ffn.fc1.bias"])
                f = linear(P[pre + "ffn.fc2.weight"], [gelu(hi) for hi in h], P[pre + "ffn.fc2.bias"])
                new_x.append([xi + fi for xi, fi in zip(xt, f)])
            x = new_x
        return [linear(P["lm_head.weight"], layer_norm(xt, P["ln_f.gamma"], P["ln_f.beta"])) for xt in x]

    __call__ = forward


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """micrograd's `backward()` finds the topological order by recursion, one Python
    frame per node on the longest path. A transformer's graph is deeper than Python's
    default limit of 1000 frames, so raise it for the duration (and restore it)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def backward(loss, limit: int = 100_000) -> None:
    """micrograd's own `loss.backward()`, with room for its recursion."""
    with recursion_limit(limit):
        loss.backward()


def count_nodes(root) -> int:
    """How many Values the graph of `root` holds (root and leaves included).

    An explicit stack, not recursion, so it works on any depth."""
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def graph_depth(root) -> int:
    """The number of nodes on the longest path from `root` down to a leaf
    (what micrograd's recursive topological sort needs in stack frames)."""
    depth: Dict[int, int] = {}
    stack: List[Tuple[object, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            depth[id(node)] = 1 + max((depth[id(c)] for c in node._prev), default=0)
            continue
        if id(node) in depth:
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in node._prev if id(c) not in depth)
    return depth[id(root)]


# --------------------------------------------------------------------------------------
# An optimizer for anything with `.data` and `.grad`
# --------------------------------------------------------------------------------------
class Adam:
    """Adam with bias correction, for a list of objects with `.data` and `.grad`
    (micrograd has no optimizer). The same update as `minigpt.optim.Adam`:

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        data -= lr * m_hat / (sqrt(v_hat) + eps)
    """

    def __init__(self, params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        self.steps += 1
        b1, b2 = self.betas
        step_size = self.lr / (1.0 - b1 ** self.steps)   # bias corrections folded in
        v_correction = 1.0 / (1.0 - b2 ** self.steps)
        eps, m, v = self.eps, self.m, self.v
        for i, p in enumerate(self.params):
            g = p.grad
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            p.data -= step_size * m[i] / (math.sqrt(v[i] * v_correction) + eps)


def train_step(model: MicrogradGPT, optimizer: Adam, token_ids: Sequence[int], targets: Sequence[int]) -> float:
    """One training step: forward, loss, backward (micrograd's own), Adam update.
    Returns the loss before the update."""
    optimizer.zero_grad()
    loss = cross_entropy(model(token_ids), targets)
    backward(loss)
    optimizer.step()
    return loss.data
