"""The plain-float floor: minigpt's Mini-GPT written with Python floats and `math` only.

This is the benchmark's yardstick. It computes exactly what `minigpt.gpt.MiniGPT`
computes with the learned-position, untied-head layout of
`MiniGPT(vocab_size, embed_dim, num_heads, num_layers, max_seq_len)`:

    x = tok_emb[token] + pos_emb[position]
    for each block:   x = x + attn(ln1(x));   x = x + fc2(gelu(fc1(ln2(x))))
    logits = lm_head(ln_f(x))
    loss = mean over positions of  logsumexp(logits[t]) - logits[t][target[t]]

but with no autograd at all: no graph nodes, no local derivatives, no gradients. Its
forward pass therefore costs only the arithmetic itself (done the way the Python
interpreter does arithmetic on floats), which is the least any scalar-Value engine
written in pure Python can hope to spend on the same forward pass.

The weights are read from a minigpt model's `state_dict()` (nested lists of floats,
keyed by the dotted names of `Module.named_tensors()`), so the floor and the Value
model compute the same numbers: the loss agrees with minigpt's to about 1e-12
(only the order of some additions differs).

The code is written the natural way: lists, `sum()` over generator expressions,
`zip`, and local variables in the inner loops. It is neither deliberately slow nor
micro-optimised.
"""
from __future__ import annotations

import math
import random
from typing import Dict, List, Optional, Sequence

Vector = List[float]
Matrix = List[List[float]]

# sqrt(2/pi), the constant of the tanh form of GELU
_GELU_C = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------------------
# Building blocks on plain floats
# --------------------------------------------------------------------------------------
def linear(weight: Matrix, x: Vector, bias: Optional[Vector] = None) -> Vector:
    """W x (+ b), with `weight` stored `[out][in]` like `minigpt.nn.Linear.weight`."""
    if bias is None:
        return [sum(w * xi for w, xi in zip(row, x)) for row in weight]
    return [sum(w * xi for w, xi in zip(row, x)) + b for row, b in zip(weight, bias)]


def layer_norm(x: Vector, gamma: Vector, beta: Vector, eps: float = 1e-5) -> Vector:
    """gamma * (x - mean) / sqrt(var + eps) + beta, with the biased variance (divide by n)."""
    n = len(x)
    mean = sum(x) / n
    centered = [xi - mean for xi in x]
    var = sum(c * c for c in centered) / n
    inv_std = (var + eps) ** -0.5
    return [c * inv_std * g + b for c, g, b in zip(centered, gamma, beta)]


def gelu(x: float) -> float:
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + math.tanh(_GELU_C * (x + 0.044715 * x * x * x)))


def softmax(xs: Vector) -> Vector:
    """exp(x_i - max) / sum_j exp(x_j - max): subtracting the max avoids overflow."""
    m = max(xs)
    exps = [math.exp(x - m) for x in xs]
    total = sum(exps)
    return [e / total for e in exps]


def logsumexp(xs: Vector) -> float:
    """log(sum_i exp(x_i)), computed stably as max + log(sum_i exp(x_i - max))."""
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------
class FloatBlock:
    """One pre-norm transformer block's weights, as nested lists of floats."""

    def __init__(self, state: Dict[str, object], prefix: str, num_heads: int):
        self.ln1_gamma, self.ln1_beta = state[prefix + "ln1.gamma"], state[prefix + "ln1.beta"]
        self.wq = state[prefix + "attn.q_proj.weight"]
        self.wk = state[prefix + "attn.k_proj.weight"]
        self.wv = state[prefix + "attn.v_proj.weight"]
        self.wo = state[prefix + "attn.out_proj.weight"]
        self.ln2_gamma, self.ln2_beta = state[prefix + "ln2.gamma"], state[prefix + "ln2.beta"]
        self.fc1_w, self.fc1_b = state[prefix + "ffn.fc1.weight"], state[prefix + "ffn.fc1.bias"]
        self.fc2_w, self.fc2_b = state[prefix + "ffn.fc2.weight"], state[prefix + "ffn.fc2.bias"]
        embed_dim = len(self.wq)
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads

    def attention(self, x: List[Vector]) -> List[Vector]:
        """Causal multi-head attention; head h uses features [h*head_dim, (h+1)*head_dim)."""
        q = [linear(self.wq, xt) for xt in x]
        k = [linear(self.wk, xt) for xt in x]
        v = [linear(self.wv, xt) for xt in x]
        hd = self.head_dim
        scale = 1.0 / math.sqrt(hd)
        out = [[] for _ in x]  # out[t]: the heads' outputs, concatenated
        for h in range(self.num_heads):
            lo, hi = h * hd, (h + 1) * hd
            kh = [row[lo:hi] for row in k]
            vh = [row[lo:hi] for row in v]
            for t in range(len(x)):
                qt = q[t][lo:hi]
                # position t sees positions 0..t only (causal)
                scores = [sum(a * b for a, b in zip(qt, kh[j])) * scale for j in range(t + 1)]
                weights = softmax(scores)
                # feature f of the head's output: the weights' average of v[j][f]
                out[t].extend(sum(w * vj[f] for w, vj in zip(weights, vh)) for f in range(hd))
        return [linear(self.wo, row) for row in out]

    def __call__(self, x: List[Vector]) -> List[Vector]:
        a = self.attention([layer_norm(xt, self.ln1_gamma, self.ln1_beta) for xt in x])
        x = [[xi + ai for xi, ai in zip(xt, at)] for xt, at in zip(x, a)]
        out = []
        for xt in x:
            hidden = [gelu(h) for h in linear(self.fc1_w, layer_norm(xt, self.ln2_gamma, self.ln2_beta),
                                              self.fc1_b)]
            out.append([xi + fi for xi, fi in zip(xt, linear(self.fc2_w, hidden, self.fc2_b))])
        return out


class FloatGPT:
    """The forward pass of `MiniGPT(vocab, d, heads, layers, context)` on plain floats.

    Build it from a minigpt model with `FloatGPT.from_model(model)`, or from a
    `state_dict()` and the number of heads (the only size the weights' shapes do not
    tell). Only the learned-position, untied-head layout is supported: that is what
    the five-argument `MiniGPT(...)` builds, and what the benchmark uses.
    """

    def __init__(self, state: Dict[str, object], num_heads: int):
        if "pos_emb.weight" not in state or "lm_head.weight" not in state:
            raise ValueError("FloatGPT needs learned position embeddings and an untied lm_head "
                             "(the layout of MiniGPT(vocab_size, embed_dim, num_heads, num_layers, max_seq_len))")
        self.tok_emb = state["tok_emb.weight"]
        self.pos_emb = state["pos_emb.weight"]
        num_layers = 0
        while f"blocks.{num_layers}.ln1.gamma" in state:
            num_layers += 1
        self.blocks = [FloatBlock(state, f"blocks.{i}.", num_heads) for i in range(num_layers)]
        self.ln_f_gamma, self.ln_f_beta = state["ln_f.gamma"], state["ln_f.beta"]
        self.lm_head = state["lm_head.weight"]
        self.vocab_size = len(self.tok_emb)
        self.max_seq_len = len(self.pos_emb)

    @classmethod
    def from_model(cls, model) -> "FloatGPT":
        """A floor with the current weights of a `minigpt.gpt.MiniGPT`."""
        return cls(model.state_dict(), model.config.n_heads)

    def forward(self, token_ids: Sequence[int]) -> List[Vector]:
        """Logits `[T][vocab_size]` for the token ids (T <= max_seq_len)."""
        if not 0 < len(token_ids) <= self.max_seq_len:
            raise ValueError(f"FloatGPT: need 1..{self.max_seq_len} tokens, got {len(token_ids)}")
        x = [[a + b for a, b in zip(self.tok_emb[i], self.pos_emb[t])] for t, i in enumerate(token_ids)]
        for block in self.blocks:
            x = block(x)
        return [linear(self.lm_head, layer_norm(xt, self.ln_f_gamma, self.ln_f_beta)) for xt in x]

    __call__ = forward

    def loss(self, token_ids: Sequence[int], targets: Sequence[int]) -> float:
        """Cross-entropy averaged over positions, as `minigpt.gpt.cross_entropy_loss`."""
        logits = self.forward(token_ids)
        if len(targets) != len(logits):
            raise ValueError(f"FloatGPT.loss: {len(logits)} positions but {len(targets)} targets")
        return sum(logsumexp(row) - row[y] for row, y in zip(logits, targets)) / len(logits)

    def generate(self, start_ids: Sequence[int], max_new_tokens: int, temperature: float = 1.0,
                 rng: Optional[random.Random] = None) -> List[int]:
        """Sample like `minigpt.gpt.generate`: each new token runs the whole forward pass
        on the last `max_seq_len` ids and samples from the last position's softmax
        (temperature 0: greedy). With the same weights and the same `rng` state it
        draws the same ids (inverse-CDF sampling with one uniform number per token)."""
        r = rng or random
        ids = list(start_ids)
        for _ in range(max_new_tokens):
            logits = self.forward(ids[-self.max_seq_len:])[-1]
            if temperature == 0:
                ids.append(max(range(len(logits)), key=logits.__getitem__))
                continue
            probs = softmax([z / temperature for z in logits])
            u = r.random()
            cumulative, choice = 0.0, None
            for i, p in enumerate(probs):
                cumulative += p
                if u < cumulative:
                    choice = i
                    break
            if choice is None:  # u fell in the rounding gap at the top: take the last possible id
                choice = max(i for i, p in enumerate(probs) if p > 0)
            ids.append(choice)
        return ids
