"""Neural-network layers made of scalar `Value`s.

Shapes are plain Python lists: a *vector* is `List[Value]`, a *sequence* is
`List[List[Value]]` indexed `[position][feature]`, a matrix is `[rows][cols]`.

Each layer stores its weights as attributes (`Module`, in minigpt/module.py, finds
them) and writes its `forward` as the formula, with shape comments. Weights are drawn from Python's `random` module unless a layer is
given its own `random.Random` (`rng=`), so `random.seed(n)` before building a model
reproduces it exactly.
"""
from __future__ import annotations

import math
import random
from typing import List, Optional, Sequence, Tuple

from . import fused
from .engine import Value, no_grad
from .functional import dot, fused_enabled, gelu, softmax, vsum
from .module import Module, set_call_wrapper

__all__ = [
    "Module", "Neuron", "Layer", "MLP", "Linear", "Embedding", "LayerNorm", "FeedForward",
    "MultiHeadAttention", "SelfAttention", "TransformerBlock", "set_call_wrapper",
]

Vector = List[Value]
Sequence2D = List[List[Value]]


# --------------------------------------------------------------------------------------
# Input checks shared by the layers
# --------------------------------------------------------------------------------------
def _check_vector(x, n: int, who: str) -> None:
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"{who}: expected a vector (a list of {n} Values), got {type(x).__name__}")
    if len(x) != n:
        raise ValueError(f"{who}: expected a vector of length {n}, got length {len(x)}")


def _check_sequence(x, n: int, who: str) -> None:
    if not isinstance(x, (list, tuple)) or not x:
        raise ValueError(f"{who}: expected a non-empty sequence (a list of positions, each a list of {n} Values)")
    for t, row in enumerate(x):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise ValueError(f"{who}: position {t} should be a vector of length {n}, got {got}")


def _is_sequence(x) -> bool:
    """True for a non-empty list of lists (a sequence), False for a vector."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple))


def _check_positive(**sizes) -> None:
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")


def _gauss_matrix(rows: int, cols: int, std: float, rng) -> List[List[Value]]:
    r = rng or random
    return [[Value(r.gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]


# --------------------------------------------------------------------------------------
# micrograd's trio: a neuron, a layer of neurons, a multi-layer perceptron
# --------------------------------------------------------------------------------------
class Neuron(Module):
    """One neuron: relu(w . x + b), or w . x + b with `nonlin=False`.
    Weights uniform in [-1, 1], bias 0. `forward(x: vector[nin]) -> Value`."""

    def __init__(self, nin: int, nonlin: bool = True, rng: Optional[random.Random] = None):
        _check_positive(nin=nin)
        r = rng or random
        self.w = [Value(r.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def forward(self, x: Sequence) -> Value:
        _check_vector(x, len(self.w), "Neuron")
        act = dot(self.w, x, bias=self.b)
        return act.relu() if self.nonlin else act

    def extra_repr(self) -> str:
        return f"{len(self.w)}, {'ReLU' if self.nonlin else 'linear'}"


class Layer(Module):
    """`nout` neurons side by side. `forward(x: vector[nin]) -> vector[nout]`
    (a single Value when nout == 1, as in micrograd)."""

    def __init__(self, nin: int, nout: int, nonlin: bool = True, rng: Optional[random.Random] = None):
        _check_positive(nin=nin, nout=nout)
        self.neurons = [Neuron(nin, nonlin=nonlin, rng=rng) for _ in range(nout)]

    def forward(self, x: Sequence):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def extra_repr(self) -> str:
        return f"{len(self.neurons[0].w)}, {len(self.neurons)}"


class MLP(Module):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; ReLU between, none at the end."""

    def __init__(self, nin: int, nouts: Sequence[int], rng: Optional[random.Random] = None):
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, rng=rng)
                       for i in range(len(nouts))]

    def forward(self, x: Sequence):
        for layer in self.layers:
            x = layer(x)
            if isinstance(x, Value):
                x = [x]
        return x[0] if len(x) == 1 else x

    def extra_repr(self) -> str:
        return " -> ".join(str(s) for s in [len(self.layers[0].neurons[0].w)]
                           + [len(layer.neurons) for layer in self.layers])


# --------------------------------------------------------------------------------------
# Transformer layers
# --------------------------------------------------------------------------------------
class Linear(Module):
    """y = W x + b. `weight` is `[out_features][in_features]`, `bias` `[out_features]`
    or None. `forward(x: vector[in]) -> vector[out]`; like PyTorch's Linear it also
    takes a sequence `[T][in]` and returns `[T][out]`.

    Weights start N(0, init_std), by default init_std = 1/sqrt(in_features) so that
    outputs keep the scale of the inputs; biases start at 0.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: Optional[random.Random] = None, init_std: Optional[float] = None):
        _check_positive(in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        std = 1.0 / math.sqrt(in_features) if init_std is None else init_std
        self.weight = _gauss_matrix(out_features, in_features, std, rng)
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x: Sequence):
        if _is_sequence(x):
            for t, xt in enumerate(x):
                _check_vector(xt, self.in_features, f"Linear (position {t})")
        else:
            _check_vector(x, self.in_features, "Linear")
        return linear(self.weight, x, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


def linear(weight: Sequence[Sequence[Value]], x: Sequence, bias: Optional[Sequence[Value]] = None):
    """W x + b for a vector x `[in]` -> `[out]`, or for each position of a sequence
    `[T][in]` -> `[T][out]`. `weight` is `[out][in]`, `bias` `[out]` or None."""
    if fused_enabled():  # fast path (minigpt/fused.py): one node per output, weights gathered once
        return fused.linear(weight, x, bias)
    if _is_sequence(x):
        return [linear(weight, xt, bias) for xt in x]
    # y_i = b_i + sum_j W_ij x_j
    return [dot(row, x, None if bias is None else bias[i]) for i, row in enumerate(weight)]


class Embedding(Module):
    """A lookup table. `weight` is `[num_embeddings][embedding_dim]`, N(0, 0.02).
    `forward(indices: List[int]) -> sequence[len(indices)][embedding_dim]`: row i of the
    table for each index i. The rows are the parameters themselves (not copies), so
    the gradient of the output flows into the table."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: Optional[random.Random] = None,
                 init_std: float = 0.02):
        _check_positive(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _gauss_matrix(num_embeddings, embedding_dim, init_std, rng)

    def forward(self, indices: Sequence[int]) -> Sequence2D:
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"Embedding: indices must be ints, got {type(i).__name__} {i!r}")
            if not 0 <= i < self.num_embeddings:
                raise IndexError(f"Embedding: index {i} is out of range for a table of size "
                                 f"{self.num_embeddings} (valid: 0..{self.num_embeddings - 1})")
        return [list(self.weight[i]) for i in indices]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """y_i = gamma_i * (x_i - mean) / sqrt(var + eps) + beta_i over one vector.

    `var` is the biased variance (divide by n), eps 1e-5 inside the square root; gamma
    starts at 1 and beta at 0. `forward(x: vector[dim]) -> vector[dim]`.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        _check_positive(dim=dim)
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.dim, self.eps = dim, eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x: Sequence) -> Vector:
        _check_vector(x, self.dim, "LayerNorm")
        if fused_enabled():  # fast path (minigpt/fused.py): the mean, 1/std and each output as one node
            return fused.layer_norm(x, self.gamma, self.beta, self.eps)
        n = self.dim
        mean = vsum(x) * (1.0 / n)
        centered = [xi - mean for xi in x]                 # [dim]
        var = dot(centered, centered) * (1.0 / n)          # biased: divide by n, not n - 1
        inv_std = (var + self.eps) ** -0.5                 # eps inside the square root
        return [c * inv_std * g + b for c, g, b in zip(centered, self.gamma, self.beta)]

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps:g}"


class FeedForward(Module):
    """fc2(gelu(fc1(x))): `fc1 = Linear(embed_dim, hidden_dim)`, GELU (tanh form),
    `fc2 = Linear(hidden_dim, embed_dim)`; hidden_dim defaults to 4 * embed_dim.
    `forward(x: vector[embed_dim]) -> vector[embed_dim]`, or a sequence
    `[T][embed_dim] -> [T][embed_dim]`."""

    def __init__(self, embed_dim: int, hidden_dim: Optional[int] = None, rng: Optional[random.Random] = None):
        hidden_dim = 4 * embed_dim if hidden_dim is None else hidden_dim
        _check_positive(embed_dim=embed_dim, hidden_dim=hidden_dim)
        self.fc1 = Linear(embed_dim, hidden_dim, rng=rng)
        self.fc2 = Linear(hidden_dim, embed_dim, rng=rng)

    def forward(self, x: Sequence):
        h = self.fc1(x)                                    # [hidden] or [T][hidden]
        h = [[gelu(v) for v in ht] for ht in h] if _is_sequence(h) else [gelu(v) for v in h]
        return self.fc2(h)                                 # [embed_dim] or [T][embed_dim]


def rope_angles(position: int, head_dim: int) -> List[Tuple[float, float]]:
    """(cos, sin) of the RoPE angle `position * 10000**(-2i/head_dim)` for each
    feature pair (2i, 2i+1) of a head."""
    angles = [position * 10000.0 ** (-2 * i / head_dim) for i in range(head_dim // 2)]
    return [(math.cos(a), math.sin(a)) for a in angles]


def apply_rope(vec: Sequence[Value], position: int) -> List[Value]:
    """Rotate each feature pair (2i, 2i+1) of one head's query or key by its RoPE angle:
    (a, b) -> (a cos - b sin, a sin + b cos). Shapes: [head_dim] -> [head_dim]."""
    out = []
    for i, (c, s) in enumerate(rope_angles(position, len(vec))):
        a, b = vec[2 * i], vec[2 * i + 1]
        out += [dot([a, b], [c, -s]), dot([a, b], [s, c])]
    return out


class MultiHeadAttention(Module):
    """Scaled dot-product attention with `num_heads` heads.

    `q_proj`, `k_proj`, `v_proj`, `out_proj` are `Linear(embed_dim, embed_dim,
    bias=False)`; head h uses features `[h*head_dim, (h+1)*head_dim)`. For each position
    t and head: scores_j = q_t . k_j / sqrt(head_dim), weights = softmax(scores), and
    out_t = sum_j weights_j v_j; with `causal=True` position t sees positions 0..t only.
    With `rope=True` queries and keys are rotated first (see `apply_rope`).
    `forward(x: sequence[T][embed_dim], causal=True) -> sequence[T][embed_dim]`.
    """

    def __init__(self, embed_dim: int, num_heads: int, rope: bool = False, max_seq_len: Optional[int] = None,
                 rng: Optional[random.Random] = None):
        _check_positive(embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        if rope and self.head_dim % 2 != 0:
            raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim} "
                             f"(embed_dim {embed_dim} / num_heads {num_heads})")
        if max_seq_len is not None:
            _check_positive(max_seq_len=max_seq_len)
        self.rope, self.max_seq_len = rope, max_seq_len
        self.q_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)

    def forward(self, x: Sequence, causal: bool = True) -> Sequence2D:
        _check_sequence(x, self.embed_dim, type(self).__name__)
        T, hd = len(x), self.head_dim
        if self.max_seq_len is not None and T > self.max_seq_len:
            raise ValueError(f"{type(self).__name__}: sequence length {T} exceeds max_seq_len {self.max_seq_len}")
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)   # each [T][embed_dim]
        scale = 1.0 / math.sqrt(hd)
        heads = [[] for _ in range(T)]                            # [T][embed_dim], filled head by head
        for h in range(self.num_heads):
            cols = slice(h * hd, (h + 1) * hd)
            qh, kh, vh = [r[cols] for r in q], [r[cols] for r in k], [r[cols] for r in v]  # each [T][hd]
            if self.rope:
                qh = [apply_rope(r, t) for t, r in enumerate(qh)]
                kh = [apply_rope(r, t) for t, r in enumerate(kh)]
            for t in range(T):
                seen = t + 1 if causal else T                     # the causal mask: t sees 0..t only
                scores = [dot(qh[t], kh[j]) for j in range(seen)]  # [seen]: q_t . k_j
                if fused_enabled():  # fast path (minigpt/fused.py): softmax and sum as one node per feature
                    row = fused.attention_row(scores, vh[:seen], scale)
                else:
                    weights = softmax([s * scale for s in scores])  # [seen], sums to 1
                    row = [dot(weights, [vh[j][f] for j in range(seen)]) for f in range(hd)]  # [hd]: sum_j w_j v_j
                heads[t] += row
        return self.out_proj(heads)                               # [T][embed_dim]

    def attention_weights(self, x: Sequence, causal: bool = True) -> List[List[List[float]]]:
        """The weights softmax_j(q_t . k_j / sqrt(head_dim)) that `forward(x, causal)`
        uses, as plain floats: `[num_heads][T][T]`, row t of head h being what position t
        gives to positions 0..T-1 (0.0 where the causal mask hides j > t; each row sums
        to 1). For looking at a model (a heatmap); no graph is recorded."""
        _check_sequence(x, self.embed_dim, type(self).__name__)
        T, hd = len(x), self.head_dim
        scale = 1.0 / math.sqrt(hd)
        with no_grad():
            q, k = self.q_proj(x), self.k_proj(x)                  # each [T][embed_dim]
            maps = []
            for h in range(self.num_heads):
                cols = slice(h * hd, (h + 1) * hd)
                qh, kh = [r[cols] for r in q], [r[cols] for r in k]  # each [T][hd]
                if self.rope:
                    qh = [apply_rope(r, t) for t, r in enumerate(qh)]
                    kh = [apply_rope(r, t) for t, r in enumerate(kh)]
                rows = []
                for t in range(T):
                    seen = t + 1 if causal else T
                    scores = [sum(a.data * b.data for a, b in zip(qh[t], kh[j])) * scale for j in range(seen)]
                    m = max(scores)
                    exps = [math.exp(s - m) for s in scores]      # minus the max: no overflow
                    z = sum(exps)
                    rows.append([e / z for e in exps] + [0.0] * (T - seen))
                maps.append(rows)
        return maps

    def extra_repr(self) -> str:
        extra = ", rope=True" if self.rope else ""
        return f"{self.embed_dim}, num_heads={self.num_heads}{extra}"


class SelfAttention(MultiHeadAttention):
    """Single-head attention: the same as `MultiHeadAttention(embed_dim, 1)`."""

    def __init__(self, embed_dim: int, rope: bool = False, max_seq_len: Optional[int] = None,
                 rng: Optional[random.Random] = None):
        super().__init__(embed_dim, 1, rope=rope, max_seq_len=max_seq_len, rng=rng)

    def extra_repr(self) -> str:
        return f"{self.embed_dim}" + (", rope=True" if self.rope else "")


class TransformerBlock(Module):
    """Pre-norm block: `x = x + attn(ln1(x)); x = x + ffn(ln2(x))`, causal.
    `forward(x: sequence[T][embed_dim]) -> sequence[T][embed_dim]`."""

    def __init__(self, embed_dim: int, num_heads: int, hidden_dim: Optional[int] = None, rope: bool = False,
                 max_seq_len: Optional[int] = None, rng: Optional[random.Random] = None):
        self.ln1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, rope=rope, max_seq_len=max_seq_len, rng=rng)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim, hidden_dim, rng=rng)

    def forward(self, x: Sequence) -> Sequence2D:
        a = self.attn([self.ln1(xt) for xt in x])                       # [T][embed_dim]
        x = [[xi + ai for xi, ai in zip(xt, at)] for xt, at in zip(x, a)]  # the residual stream
        f = self.ffn([self.ln2(xt) for xt in x])                        # [T][embed_dim]
        return [[xi + fi for xi, fi in zip(xt, ft)] for xt, ft in zip(x, f)]
