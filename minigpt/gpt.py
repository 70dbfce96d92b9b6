"""The Mini-GPT: configuration, model, loss and sampling.

    token ids --tok_emb (+ pos_emb)--> blocks (pre-norm, causal) --> ln_f --> head --> logits

Shapes: `token_ids` is `List[int]` of length T; the model returns logits as a
sequence `[T][vocab_size]` of Values (no softmax: the loss and the sampler apply it).
"""
from __future__ import annotations

import math
import numbers
import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from .engine import Value, no_grad
from .functional import logsumexp, vsum
from .nn import Embedding, LayerNorm, Linear, Module, TransformerBlock, linear

__all__ = ["MiniGPTConfig", "MiniGPT", "cross_entropy_loss", "check_targets", "generate", "parameter_inventory",
           "attention_weights"]

POS_ENCODINGS = ("rope", "learned", "none")


@dataclass(frozen=True)
class MiniGPTConfig:
    """The sizes and choices of a Mini-GPT, checked when it is made.

    d_model: width of the residual stream; n_heads: attention heads per block
    (d_model % n_heads == 0); n_layers: blocks; d_ff: hidden width of the
    feed-forward layer; vocab_size: number of token ids; context_len: the longest
    sequence the model accepts; pos_encoding: 'rope' (rotary, no table), 'learned'
    (a position table) or 'none'; tie_weights: the output head reuses the token
    table `E` instead of having its own weights.

    `MiniGPTConfig(64, 4, 2, 256, 64, 32)` has 103,680 parameters.
    """

    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    vocab_size: int
    context_len: int
    pos_encoding: str = "rope"
    tie_weights: bool = True

    def __post_init__(self):
        for name in ("d_model", "n_heads", "n_layers", "d_ff", "vocab_size", "context_len"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                raise ValueError(f"MiniGPTConfig: {name} must be a positive integer, got {n!r}")
        if self.d_model % self.n_heads != 0:
            raise ValueError(f"MiniGPTConfig: d_model ({self.d_model}) must be divisible by "
                             f"n_heads ({self.n_heads})")
        if self.pos_encoding not in POS_ENCODINGS:
            raise ValueError(f"MiniGPTConfig: unknown pos_encoding {self.pos_encoding!r}; "
                             f"choose one of {', '.join(POS_ENCODINGS)}")
        if self.pos_encoding == "rope" and self.head_dim % 2 != 0:
            raise ValueError(f"MiniGPTConfig: RoPE needs an even head dim, got d_model/n_heads = {self.head_dim}")
        if not isinstance(self.tie_weights, bool):
            raise ValueError(f"MiniGPTConfig: tie_weights must be True or False, got {self.tie_weights!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> Dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "MiniGPTConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"MiniGPTConfig: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**d)


class MiniGPT(Module):
    """A GPT made of scalar Values.

    Two ways to build it:
    - `MiniGPT(vocab_size, embed_dim, num_heads, num_layers, max_seq_len)`, the
      micrograd-style form: learned position embeddings, untied `lm_head`,
      `d_ff = 4 * embed_dim`;
    - `MiniGPT(config)` with a `MiniGPTConfig` (RoPE and a tied head by default).

    Attributes: `config`, `tok_emb`, `pos_emb` (None unless learned positions),
    `blocks`, `ln_f`, `lm_head` (None when tied) and `E` (the token table, which the
    tied head reuses). `forward(token_ids: List[int]) -> logits[T][vocab_size]`.
    """

    def __init__(self, vocab_size=None, embed_dim: Optional[int] = None, num_heads: Optional[int] = None,
                 num_layers: Optional[int] = None, max_seq_len: Optional[int] = None, *,
                 config: Optional[MiniGPTConfig] = None, rng: Optional[random.Random] = None):
        if isinstance(vocab_size, MiniGPTConfig):
            config, vocab_size = vocab_size, None
        if config is None:
            missing = [n for n, v in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                                      ("num_heads", num_heads), ("num_layers", num_layers),
                                      ("max_seq_len", max_seq_len)) if v is None]
            if missing:
                raise TypeError(f"MiniGPT needs a MiniGPTConfig or all five sizes; missing {', '.join(missing)}")
            config = MiniGPTConfig(d_model=embed_dim, n_heads=num_heads, n_layers=num_layers,
                                   d_ff=4 * embed_dim if isinstance(embed_dim, int) else embed_dim,
                                   vocab_size=vocab_size, context_len=max_seq_len,
                                   pos_encoding="learned", tie_weights=False)
        elif not isinstance(config, MiniGPTConfig):
            raise TypeError(f"config must be a MiniGPTConfig, got {type(config).__name__}")
        elif any(v is not None for v in (vocab_size, embed_dim, num_heads, num_layers, max_seq_len)):
            raise TypeError("give either a MiniGPTConfig or the five sizes, not both")
        c = self.config = config
        self.tok_emb = Embedding(c.vocab_size, c.d_model, rng=rng)
        self.pos_emb = Embedding(c.context_len, c.d_model, rng=rng) if c.pos_encoding == "learned" else None
        self.blocks = [TransformerBlock(c.d_model, c.n_heads, c.d_ff, rope=c.pos_encoding == "rope",
                                        max_seq_len=c.context_len, rng=rng) for _ in range(c.n_layers)]
        self.ln_f = LayerNorm(c.d_model)
        # the head starts small (like the token table) so that the untrained model's
        # logits are near 0 and its loss is near ln(vocab_size)
        self.lm_head = None if c.tie_weights else Linear(c.d_model, c.vocab_size, bias=False, rng=rng,
                                                          init_std=0.02)

    @property
    def E(self) -> List[List[Value]]:
        """The token embedding table `[vocab_size][d_model]` (shared with the head when tied)."""
        return self.tok_emb.weight

    @property
    def max_seq_len(self) -> int:
        return self.config.context_len

    def check_tokens(self, token_ids: Sequence[int], any_length: bool = False) -> List[int]:
        """The ids as a list of ints; ValueError unless token_ids is a non-empty list
        of ids in the vocabulary that fits the context (`any_length=True`: of any
        length, for a prompt that will be cropped). Integral numbers of other types
        (such as numpy's int64) are accepted and converted; bools and floats are not."""
        c = self.config
        if not isinstance(token_ids, (list, tuple)) or len(token_ids) == 0:
            raise ValueError("MiniGPT: token_ids must be a non-empty list of ints")
        if len(token_ids) > c.context_len and not any_length:
            raise ValueError(f"MiniGPT: {len(token_ids)} tokens exceed max_seq_len (context_len) {c.context_len}")
        ids = []
        for t, i in enumerate(token_ids):
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise ValueError(f"MiniGPT: token id {i!r} at position {t} is not an int "
                                 f"(it is a {type(i).__name__})")
            ids.append(int(i))
            if not 0 <= ids[-1] < c.vocab_size:
                raise ValueError(f"MiniGPT: token id {ids[-1]} at position {t} is outside the vocabulary "
                                 f"0..{c.vocab_size - 1} (vocab_size {c.vocab_size})")
        return ids

    def forward(self, token_ids: Sequence[int]) -> List[List[Value]]:
        token_ids = self.check_tokens(token_ids)
        x = self.tok_emb(token_ids)                                    # [T][d]
        if self.pos_emb is not None:
            positions = self.pos_emb(list(range(len(token_ids))))     # [T][d]
            x = [[a + b for a, b in zip(tok, pos)] for tok, pos in zip(x, positions)]
        for block in self.blocks:
            x = block(x)                                               # [T][d]
        x = [self.ln_f(xt) for xt in x]                                # [T][d]
        if self.lm_head is not None:
            return self.lm_head(x)                                     # [T][V]
        # tied head: the logit of token v is x_t . E[v], with the table the input used
        return linear(self.E, x)                                       # [T][V]

    def extra_repr(self) -> str:
        c = self.config
        return (f"vocab={c.vocab_size}, d_model={c.d_model}, heads={c.n_heads}, layers={c.n_layers}, "
                f"d_ff={c.d_ff}, context={c.context_len}, pos={c.pos_encoding}, tied={c.tie_weights}")


def attention_weights(model: MiniGPT, token_ids: Sequence[int]) -> List[List[List[List[float]]]]:
    """What each attention head looks at when `model` reads `token_ids`, as floats:
    `[n_layers][n_heads][T][T]`, where row t of a head gives the weights position t
    puts on positions 0..T-1 (0.0 past t: the mask is causal). It runs the model's own
    layers, block by block, asking each attention layer for its weights
    (`MultiHeadAttention.attention_weights`); no graph is recorded."""
    token_ids = model.check_tokens(token_ids)
    maps = []
    with no_grad():
        x = model.tok_emb(token_ids)                                   # [T][d], as in forward
        if model.pos_emb is not None:
            positions = model.pos_emb(list(range(len(token_ids))))
            x = [[a + b for a, b in zip(tok, pos)] for tok, pos in zip(x, positions)]
        for block in model.blocks:
            maps.append(block.attn.attention_weights([block.ln1(xt) for xt in x]))  # what block(x) attends with
            x = block(x)
    return maps


def check_targets(targets, vocab_sizes: Sequence[int]) -> None:
    """ValueError unless `targets` holds one id per position, each in 0..V-1 for the
    V = vocab_sizes[t] logits of its position (what `cross_entropy_loss` needs)."""
    if not isinstance(targets, (list, tuple)) or len(targets) != len(vocab_sizes):
        n = len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__
        raise ValueError(f"cross_entropy_loss: {len(vocab_sizes)} positions of logits but {n} targets")
    for t, (target, V) in enumerate(zip(targets, vocab_sizes)):
        if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < V:
            raise ValueError(f"cross_entropy_loss: target {target!r} at position {t} is outside the "
                             f"vocabulary 0..{V - 1}")


def cross_entropy_loss(logits: Sequence[Sequence[Value]], targets: Sequence[int]) -> Value:
    """Mean over positions of -log softmax(logits[t])[targets[t]].

    Computed as `logsumexp(row) - row[target]`, which is stable for large logits.
    `logits` is `[T][V]`, `targets` is `List[int]` of length T.
    """
    if not isinstance(logits, (list, tuple)) or len(logits) == 0:
        raise ValueError("cross_entropy_loss: logits must be a non-empty sequence [T][vocab_size]")
    check_targets(targets, [len(row) for row in logits])
    losses = [logsumexp(row) - row[target] for row, target in zip(logits, targets)]  # [T]
    return vsum(losses) * (1.0 / len(losses))


def _sample(probs: List[float], rng) -> int:
    """Draw an index with the given probabilities, using one uniform number."""
    r = (rng or random).random()
    cumulative = 0.0
    for i, p in enumerate(probs):
        cumulative += p
        if r < cumulative:
            return i
    return max(i for i, p in enumerate(probs) if p > 0)  # r fell in the rounding gap at the top


def generate(model: MiniGPT, start_ids: Sequence[int], max_new_tokens: int, temperature: float = 1.0,
             top_k: Optional[int] = None, rng: Optional[random.Random] = None,
             stop_id: Optional[int] = None) -> List[int]:
    """Sample up to `max_new_tokens` ids after `start_ids`; returns the prompt plus the new ids.

    Each step runs the model on the last `max_seq_len` ids (cropping the context; the
    whole prompt is checked first), divides the last position's logits by
    `temperature` (0 means greedy argmax; a temperature so small that the division
    leaves one logit far above the rest acts the same), keeps only the `top_k`
    largest if given, and samples with `rng` (a `random.Random`; by default the
    `random` module, so `random.seed` makes runs reproducible). Ties: greedy picks the
    lowest id among equal largest logits, and `top_k` keeps exactly k ids, the lower
    ids first among logits tied at the k-th place. With `stop_id` (for a Mini-GPT
    trained on documents: `<bos>`, which ends one) sampling stops as soon as that id
    is drawn; it is included. No autograd graph is recorded.
    """
    if not isinstance(start_ids, (list, tuple)) or len(start_ids) == 0:
        raise ValueError("generate: start_ids must be a non-empty list of token ids")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
            or not math.isfinite(temperature) or temperature < 0):
        raise ValueError(f"generate: temperature must be a finite number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"generate: top_k must be an integer >= 1 (or None), got {top_k!r}")
    context_len = model.config.context_len
    ids = model.check_tokens(start_ids, any_length=True)  # every id, also those cropped away below
    if stop_id is not None:
        model.check_tokens([stop_id])
    with no_grad():
        for _ in range(max_new_tokens):
            logits = [v.data for v in model(ids[-context_len:])[-1]]
            ids.append(_next_id(logits, temperature, top_k, rng))
            if ids[-1] == stop_id:
                break
    return ids


def _next_id(logits: List[float], temperature: float, top_k: Optional[int], rng) -> int:
    """Draw the next id from the logits [V] (see `generate`)."""
    order = sorted(range(len(logits)), key=lambda i: -logits[i])  # largest first; ties: lower id first
    if temperature == 0:
        return order[0]
    keep = order[:top_k] if top_k is not None else order
    top = logits[order[0]]
    # logits - max before dividing: the largest becomes 0 and no tiny temperature overflows
    probs = [0.0] * len(logits)
    for i in keep:
        probs[i] = math.exp((logits[i] - top) / temperature)
    total = sum(probs)  # at least 1: the largest logit contributes exp(0)
    return _sample([p / total for p in probs], rng)


def parameter_inventory(config: MiniGPTConfig) -> Dict[str, int]:
    """Parameters per layer of `MiniGPT(config)`, counted from the formulas (no model
    is built), plus 'total'. For `MiniGPTConfig(64, 4, 2, 256, 64, 32)` the total
    is 103,680:

        V*d (tokens) + L * [2d (ln1) + 4d^2 (attention) + 2d (ln2)
                            + d*f + f + f*d + d (feed-forward)] + 2d (ln_f)
        (+ T*d for learned positions, + V*d for an untied head)
    """
    V, d, f, L, T = config.vocab_size, config.d_model, config.d_ff, config.n_layers, config.context_len
    rows: Dict[str, int] = {"tok_emb": V * d}
    if config.pos_encoding == "learned":
        rows["pos_emb"] = T * d
    for i in range(L):
        rows[f"blocks.{i}.ln1"] = 2 * d
        rows[f"blocks.{i}.attn"] = 4 * d * d
        rows[f"blocks.{i}.ln2"] = 2 * d
        rows[f"blocks.{i}.ffn"] = d * f + f + f * d + d
    rows["ln_f"] = 2 * d
    if not config.tie_weights:
        rows["lm_head"] = V * d
    closed_form = (V * d + L * (4 * d + 4 * d * d + 2 * d * f + f + d) + 2 * d
                   + (T * d if config.pos_encoding == "learned" else 0) + (0 if config.tie_weights else V * d))
    assert sum(rows.values()) == closed_form  # the table and the formula must agree
    rows["total"] = closed_form
    return rows
