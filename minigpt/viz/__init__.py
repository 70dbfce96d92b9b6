"""Pictures and step-by-step walk-throughs of computation graphs.

    draw_dot(root)            the graph that produced `root`, as a Picture (a graphviz.Digraph) (draw.py, picture.py)
    render(root, "g.svg")     the same picture written to .svg, .png or .dot          (renderer.py)
    render(root, "g.html")    one offline page stepping through backward on it       (page.py)
    explain_backward(root)    backpropagation as a sequence of chain-rule steps       (text.py)
    print_tree(root)          the expression as an indented text tree (tree_text: the text) (text.py)
    scopes()                  record which module made each node, for depth=          (scopes.py)

The explore page of a trained Mini-GPT on a prompt (attention, one position through
the model, sampling, gradients) is `minigpt.explore.explore`; its HTML is explore_page.py.

All of them take minigpt's Values or any micrograd-like value (`data`, `grad`, `_prev`,
`_op`), and name a node the same way: its label, else its parameter name (`w.0`), else
its operation and its position in the topological order (`tanh#4`; an unlabelled
leaf is `const#0` when it is a number mixed into an operation, `leaf#0` when you made
it). See `graph.py`. A graph is read once per picture and page (`view.py`); with
depth= the modules become boxes (`collapse.py`).
"""
from .draw import DEFAULT_MAX_NODES, Picture, PictureTooBigError, draw_dot
from .renderer import RendererNotFoundError, find_renderer, render
from .scopes import scopes
from .text import BackwardStep, explain_backward, print_tree, tree_text

__all__ = ["draw_dot", "Picture", "PictureTooBigError", "render", "scopes", "explain_backward", "BackwardStep",
           "print_tree", "tree_text", "find_renderer", "RendererNotFoundError", "DEFAULT_MAX_NODES"]
