"""Draw micrograd's expression L = (a*b + c) * f, and watch backprop step by step.

It also writes out/graph_expression.html, a page that steps through the same
backward pass in a browser, edge by edge (arrow keys, or the buttons).

Run: python examples/graph_expression.py [out.svg]   (default: out/graph_expression.svg)
Needs a Graphviz renderer for .svg/.png/.html: apt-get install graphviz, or
pip install graphviz-pure. A .dot path works without one (and no page is written).
"""
import sys
from pathlib import Path

from minigpt import Value
from minigpt.viz import explain_backward, find_renderer, print_tree, render

out = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "out" / "graph_expression.svg"

# Leaves get labels, so every picture and every step can name them.
a = Value(2.0, label="a")
b = Value(-3.0, label="b")
c = Value(10.0, label="c")
f = Value(-2.0, label="f")
e = a * b
e.label = "e"
d = e + c
d.label = "d"
L = d * f
L.label = "L"

# Backward, one chain-rule step at a time (the same gradients as L.backward()).
for step in explain_backward(L):
    print(step)

print()
print_tree(L)
print(f"\nwrote {render(L, out)}")
if find_renderer():
    print(f"wrote {render(L, Path(out).with_suffix('.html'))}")
