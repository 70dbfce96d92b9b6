"""Ready-made example graphs to draw: an expression, a neuron, an attention head, a
transformer block and a whole Mini-GPT loss (used by `minigpt graph` and examples/).

    ex = example("block")
    render(ex.root, "block.svg", depth=ex.depth, rankdir=ex.rankdir, params=ex.params)
"""
from __future__ import annotations

import random
from collections import namedtuple
from typing import List, Optional

from . import nn
from .engine import Value
from .functional import primitive_mode, vsum
from .gpt import MiniGPT, cross_entropy_loss

__all__ = ["EXAMPLES", "Example", "example", "example_graph", "label_parameters"]

EXAMPLES = ("expr", "neuron", "attention", "block", "model")

Example = namedtuple("Example", "root params depth rankdir")
Example.__doc__ = """An example graph and how to draw it well: `root` (the output),
`params` (the module, for draw_dot's params=), `depth` (None: the full graph) and
`rankdir` ('TB' for the tall summaries of a block or a model)."""

# depth and rankdir that give a picture you can read, per example
_EXAMPLE_VIEWS = {"expr": (None, "LR"), "neuron": (None, "LR"), "attention": (0, "LR"),
                  "block": (1, "TB"), "model": (1, "TB")}


def label_parameters(module: nn.Module) -> nn.Module:
    """Give every unlabelled parameter its name (`blocks.0.attn.q_proj.weight.3.7`)
    as its label, so pictures and step lists can name it. Returns the module."""
    for name, p in module.named_parameters():
        if not p.label:
            p.label = name
    return module


def _inputs(rows: int, cols: int, rng: random.Random) -> List[List[Value]]:
    """A labelled input sequence x[t][i] of small random numbers."""
    return [[Value(round(rng.uniform(-1, 1), 2), label=f"x[{t}][{i}]") for i in range(cols)]
            for t in range(rows)]


def example(what: str, backward: bool = True) -> Example:
    """Build the example graph `what` (one of EXAMPLES), deterministically.

    expr:      micrograd's L = (a*b + c) * f, every node labelled
    neuron:    a 3-input Neuron on labelled inputs, in primitive operations
    attention: SelfAttention(4) on 3 positions, outputs summed to a scalar
    block:     TransformerBlock(8, 2) on 3 positions, summed
    model:     the loss of MiniGPT(27, 16, 4, 1, 16) on 16 tokens
    All are built inside `scopes()`, so any depth= works; the nn examples have their
    parameters labelled by name. With `backward=True` (default) `root.backward()`
    has been run, so the pictures show gradients.
    """
    from .viz import scopes  # here, so that `minigpt` commands without pictures need no graphviz
    rng = random.Random(5)
    params = None
    if what not in EXAMPLES:
        raise ValueError(f"unknown example {what!r}; choose one of {', '.join(EXAMPLES)}")
    with scopes():  # so that any depth= works on every example
        if what == "expr":
            a, b, c, f = Value(2.0, "a"), Value(-3.0, "b"), Value(10.0, "c"), Value(-2.0, "f")
            e = a * b
            e.label = "e"
            d = e + c
            d.label = "d"
            root = d * f
            root.label = "L"
        elif what == "neuron":
            params = nn.Neuron(3, rng=rng)
            for i, w in enumerate(params.w):
                w.label = f"w{i + 1}"  # micrograd's names, rather than w.0, w.1, w.2
            params.b.label = "b"
            x = [Value(v, label=f"x{i + 1}") for i, v in enumerate((0.5, -1.0, 2.0))]
            with primitive_mode():  # show every multiply and add, as in micrograd
                root = params(x)
            root.label = "out"
        elif what == "attention":
            params = label_parameters(nn.SelfAttention(4, rng=rng))
            root = vsum([v for row in params(_inputs(3, 4, rng)) for v in row])
            root.label = "out"
        elif what == "block":
            params = label_parameters(nn.TransformerBlock(8, 2, rng=rng))
            root = vsum([v for row in params(_inputs(3, 8, rng)) for v in row])
            root.label = "out"
        else:
            params = label_parameters(MiniGPT(27, 16, 4, 1, 16, rng=rng))
            ids = [rng.randrange(27) for _ in range(17)]
            root = cross_entropy_loss(params(ids[:16]), ids[1:])
            root.label = "loss"
    if backward:
        root.backward()
    return Example(root, params, *_EXAMPLE_VIEWS[what])


def example_graph(what: str, depth: Optional[int] = None) -> Value:
    """The root of the example graph `what` (see `example`), after backward.

    Every example is built so that any `depth` works with it (the nn ones inside
    `scopes()`); `depth` is checked here so a command line can pass its option
    straight through. The depth that reads best is `example(what).depth`.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    return example(what).root
