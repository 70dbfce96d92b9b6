"""Text tools, no Graphviz needed: `explain_backward` steps through the chain rule,
`print_tree` prints an expression as an indented tree. Both take minigpt Values or
any micrograd-like value (see `minigpt.viz.graph`).
"""
from __future__ import annotations

from typing import Dict, Iterator, Optional

from ..engine import topological_order
from .graph import Foreign, as_graph, in_step, node_names, num

__all__ = ["explain_backward", "steps_of", "BackwardStep", "print_tree", "tree_text"]

# --------------------------------------------------------------------------------------
# explain_backward
# --------------------------------------------------------------------------------------
class BackwardStep:
    """One application of the chain rule: `child.grad += ∂parent/∂child * parent.grad`.

    Attributes: `child`, `parent` (None for the first step, which seeds the root),
    `local` (∂parent/∂child), `upstream` (∂root/∂parent from this pass,
    complete by the time `parent` passes it on), `before` and `after`
    (`child.grad` around the step). `str(step)` is the step written out, and so is
    `repr(step)`, so that `next(steps)` at the prompt shows just the line.
    """

    __slots__ = ("child", "parent", "local", "upstream", "before", "after", "text")

    def __init__(self, child, parent, local, upstream, before, after, text):
        self.child, self.parent, self.local, self.upstream = child, parent, local, upstream
        self.before, self.after, self.text = before, after, text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def _local_text(parent, position: int, names: Dict[object, str]) -> str:
    """The local derivative ∂parent/∂child written with the data it comes from, for
    the operations whose rule a reader knows by heart ('' for the others)."""
    if parent.op == "*" and len(parent._children) == 2:
        return f"{in_step(names[parent._children[1 - position]])}.data"  # ∂(a*b)/∂a = b
    if parent.op == "tanh":
        return f"(1 - {in_step(names[parent])}.data**2)"                # ∂tanh(x)/∂x = 1 - tanh(x)^2
    return ""


def explain_backward(root, params=None) -> Iterator[BackwardStep]:
    """Backpropagation from `root`, one chain-rule step at a time.

    Yields the seed step (`L.grad = ∂L/∂L = 1.0`) and then one step per edge child <- node,
    in the order `root.backward()` handles them, updating `.grad` as it goes:

        a.grad += ∂e/∂a * e.grad = b.data * e.grad = 3.0 * 1.0  ->  a.grad = 3.0

    (∂e/∂a, the local derivative, is written out for `*` and `tanh`.) A name that
    is not a plain dotted name is in double quotes: `∂"+#4"/∂"*#3"`.

    Iterate it to the end (`for step in explain_backward(L): print(step)`) or step with
    `next()`; nothing changes before the first step is asked for. It runs the steps of
    `Value.backward()` in its order: the gradients of this pass start from zero (what
    each `.grad` held is set aside), the root gets 1.0, every edge applies the chain
    rule, and the held gradients are added back once the steps run out. While it runs,
    `.grad` shows this pass's gradient; exhausted, every `.grad` is bit for bit what
    `backward()` leaves.

    A micrograd-like value keeps its derivatives in `_backward` closures: then each
    node's closure runs once, as micrograd's `backward()` does, and each child's step
    shows the local derivative read off the change in its grad.

    Nodes are named as in every picture (`minigpt.viz.graph.node_names`); `params`
    is as in `draw_dot`.
    """
    root = as_graph(root)
    order = topological_order(root)
    names, _ = node_names(order, params)
    return steps_of(root, order, names)


def steps_of(root, order, names) -> Iterator[BackwardStep]:
    """explain_backward on a graph already read: `root` as `as_graph` returns it, its
    topological `order` and `names` (`minigpt.viz.view.GraphView` holds all three)."""
    if isinstance(root, Foreign):
        yield from _closure_steps(root, order, names)
        return
    held = [v.grad for v in order]
    for v in order:
        v.grad = 0.0
    root.grad = 1.0
    note = "" if not any(held) else "  (this pass; the grads held before are added back at the end)"
    yield BackwardStep(root, None, 1.0, 1.0, 0.0, 1.0, _seed_text(names[root]) + note)
    for node in reversed(order):  # a node comes after every node that uses it
        g = node.grad
        for position, (child, local) in enumerate(zip(node._children, node._local_grads)):
            before = child.grad
            child.grad += local * g  # the chain rule
            yield _step(child, node, local, g, before, _local_text(node, position, names), names)
    for v, before in zip(order, held):
        v.grad += before


def _closure_steps(root, order, names) -> Iterator[BackwardStep]:
    """micrograd's backward on a micrograd-like value, a step per child of each node."""
    root.grad = 1.0
    yield BackwardStep(root, None, 1.0, 1.0, 0.0, 1.0, _seed_text(names[root]))
    for node in reversed(order):
        pass_on = getattr(node.value, "_backward", None)
        if not node._children or not callable(pass_on):
            continue
        g = node.grad
        before = [c.grad for c in node._children]
        pass_on()
        for child, was in zip(node._children, before):
            local = (child.grad - was) / g if g else 0.0
            yield _step(child, node, local, g, was, "", names)


def _seed_text(root_name: str) -> str:
    r = in_step(root_name)
    return f"{r}.grad = ∂{r}/∂{r} = 1.0"


def _step(child, node, local: float, g: float, before: float, how: str, names) -> BackwardStep:
    """The step `child.grad += ∂node/∂child * node.grad`, with its numbers: the local
    derivative written out as `how` when there is a known rule for it."""
    c, p = in_step(names[child]), in_step(names[node])
    rule = f" = {how} * {p}.grad" if how else ""
    text = (f"{c}.grad += ∂{p}/∂{c} * {p}.grad{rule} = {num(local)} * {num(g)}  ->  "
            f"{c}.grad = {num(child.grad)}")
    return BackwardStep(child, node, local, g, before, child.grad, text)


# --------------------------------------------------------------------------------------
# print_tree
# --------------------------------------------------------------------------------------
def print_tree(root, depth: Optional[int] = None, file=None, params=None) -> None:
    """Print the expression under `root` as an indented tree (`tree_text`).

    Returns None, so a bare `print_tree(L)` at the prompt prints the tree once; use
    `tree_text` for the text as a string. `file` is where to print (sys.stdout)."""
    print(tree_text(root, depth, params), file=file)


def tree_text(root, depth: Optional[int] = None, params=None) -> str:
    """The expression under `root` as an indented tree, one line per node.

    Each line: the node's name (as in every picture), its operation in parentheses
    when the name is not made of it, data and grad. A node used in several places is
    written out the first time and as `name (see above)` afterwards. With `depth=k`
    only k levels below the root are shown; `...` marks what is cut. Uses an
    explicit stack, so any depth of graph is fine. `params` is as in `draw_dot`.
    """
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
        raise ValueError(f"depth must be a non-negative integer or None, got {depth!r}")
    root = as_graph(root)
    order = topological_order(root)
    names, _ = node_names(order, params)

    lines = []
    shown = set()
    # (node, level, prefix for this line, prefix for its children's lines)
    stack = [(root, 0, "", "")]
    while stack:
        v, level, lead, child_lead = stack.pop()
        name = names[v]
        if v in shown:
            lines.append(f"{lead}{name} (see above)")
            continue
        shown.add(v)
        line = f"{lead}{name}" + (f" ({v.op})" if v.op and not name.startswith(v.op + "#") else "")
        line += f"  data={num(v.data)}  grad={num(v.grad)}"
        lines.append(line)
        if not v._children:
            continue
        if depth is not None and level >= depth:
            lines.append(f"{child_lead}`-- ...")
            continue
        last = len(v._children) - 1
        for k in range(last, -1, -1):  # pushed in reverse so the first child prints first
            branch, extend = ("`-- ", "    ") if k == last else ("|-- ", "|   ")
            stack.append((v._children[k], level + 1, child_lead + branch, child_lead + extend))
    return "\n".join(lines)
