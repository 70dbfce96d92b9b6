"""Draw one attention head: SelfAttention(4) on 3 positions, outputs summed.

The full graph has about 200 nodes, too many to read, so the picture uses depth=0:
the four projections (q_proj, k_proj, v_proj, out_proj) become one box each and the
attention itself is summarised by kind ("dot x6": the six causal scores q.k, then
"attend x12": softmax and weighted sum of the values, 4 features x 3 positions).
`with scopes():` records which module made each node; depth= needs it. The page
that steps through backward (same name, .html) steps over the same summary, box to
box, each box showing the grad norm of its outputs. (The page of every node,
render(total, "head.html"), has about 500 steps: too many to follow.)

Run: python examples/graph_attention_head.py [out.svg]   (default: out/graph_attention_head.svg)
"""
import random
import sys
from pathlib import Path

from minigpt import Value
from minigpt.functional import vsum  # one "sum" node: the summary draws it as one record
from minigpt.nn import SelfAttention
from minigpt.example_graphs import label_parameters
from minigpt.viz import find_renderer, render, scopes

out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "out" / "graph_attention_head.svg"

rng = random.Random(5)
head = label_parameters(SelfAttention(4, rng=rng))  # names such as q_proj.weight.2.1
x = [[Value(round(rng.uniform(-1, 1), 2), label=f"x[{t}][{i}]") for i in range(4)] for t in range(3)]

with scopes():
    y = head(x)                        # 3 positions x 4 features
    total = vsum([v for row in y for v in row])
total.label = "out"
total.backward()

print(f"wrote {render(total, out, depth=0, params=head)}")
if find_renderer():
    # the page of the same summary: its ~30 steps fit a screen, where every node's are ~500
    print(f"wrote {render(total, Path(out).with_suffix('.html'), depth=0, params=head)}")
