"""Draw one neuron, out = relu(w1*x1 + w2*x2 + w3*x3 + b), after backward.

Inside `primitive_mode()` the neuron is built from single multiplies and adds, as in
micrograd, instead of one fused `dot` node. Its weights are drawn green, as parameters
(the picture finds them in `n`; `params=n` says so explicitly); the labelled inputs
stay blue. Also writes a page that steps through backward (same name, .html).

Run: python examples/graph_neuron.py [out.svg]   (default: out/graph_neuron.svg)
"""
import random
import sys
from pathlib import Path

from minigpt import Value, primitive_mode
from minigpt.nn import Neuron
from minigpt.viz import find_renderer, render

out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "out" / "graph_neuron.svg"

n = Neuron(3, rng=random.Random(5))
for i, w in enumerate(n.w):
    w.label = f"w{i + 1}"
n.b.label = "b"
x = [Value(0.5, label="x1"), Value(-1.0, label="x2"), Value(2.0, label="x3")]

with primitive_mode():
    out_value = n(x)
out_value.label = "out"
out_value.backward()

print(f"out = {out_value.data:.4f}; d out/d w = {[round(w.grad, 4) for w in n.w]}")
print(f"wrote {render(out_value, out, params=n)}")
if find_renderer():
    print(f"wrote {render(out_value, Path(out).with_suffix('.html'), params=n)}")
