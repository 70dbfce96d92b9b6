"""Draw a whole transformer block, TransformerBlock(8, 2) on 3 positions, at depth 1.

At depth=1 the block's parts (ln1, attn, ln2, ffn) are opened one level: their
sub-modules (attn.q_proj, ffn.fc1, ...) are boxes showing size and shapes, and the
operations between them are summarised by kind ("+ x24" is one residual add per
feature and position). Top to bottom, it reads like the block's forward():
x -> ln1 -> attn -> + -> ln2 -> ffn -> +. Try depth=0 for just the four parts.

The page (same name, .html) steps through backward over the same collapsed picture,
one step per drawn edge, with the gradients summed per box.

Run: python examples/graph_block.py [out.svg]   (default: out/graph_block.svg)
"""
import random
import sys
from pathlib import Path

from minigpt import Value
from minigpt.functional import vsum  # one "sum" node: the summary draws it as one record
from minigpt.nn import TransformerBlock
from minigpt.example_graphs import label_parameters
from minigpt.viz import find_renderer, render, scopes

out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "out" / "graph_block.svg"

rng = random.Random(5)
block = label_parameters(TransformerBlock(8, 2, rng=rng))
x = [[Value(round(rng.uniform(-1, 1), 2), label=f"x[{t}][{i}]") for i in range(8)] for t in range(3)]

with scopes():  # tag every node with the module that made it
    y = block(x)
    total = vsum([v for row in y for v in row])
total.label = "out"
total.backward()

print(f"wrote {render(total, out, depth=1, rankdir='TB', params=block)}")
if find_renderer():
    print(f"wrote {render(total, Path(out).with_suffix('.html'), depth=1, rankdir='TB', params=block)}")
