"""minigpt.viz: parameters named and drawn by default, one naming scheme, the REPL (issue 11, items 1, 3, 4)."""
import code
import contextlib
import io
import random
import re

from minigpt import Value, primitive_mode, topological_order, viz
from minigpt.nn import MLP, Neuron, SelfAttention
from minigpt.viz import draw as viz_draw


def dot_labels(dot):
    """{node id: (label text, attributes)} of every node statement in the DOT source."""
    out = {}
    for node_id, attrs in re.findall(r"^\s*([nog]\d+) \[(.*)\]$", dot.source, flags=re.M):
        label = re.search(r'label="?((?:[^"\\]|\\.)*)"?(?: |$)', attrs).group(1)
        out[node_id] = (label, attrs)
    return out


def neuron_out(primitive=False):
    n = Neuron(3, rng=random.Random(0))
    x = [Value(1.0, label="x1"), Value(2.0, label="x2"), Value(-1.0, label="x3")]
    if primitive:
        with primitive_mode():
            y = n(x)
    else:
        y = n(x)
    y.backward()
    return n, y


# ---- item 1: parameters are named and drawn as parameters, without params= ------------------------
def test_a_neurons_weights_are_green_named_records_with_their_grads_by_default():
    n, y = neuron_out()
    labels = dot_labels(viz.draw_dot(y))  # no params=: the README's one line
    by_name = {label.strip("{} ").split(" | ")[0]: (label, attrs) for label, attrs in labels.values()}
    for name, p in [("w.0", n.w[0]), ("w.1", n.w[1]), ("w.2", n.w[2]), ("b", n.b)]:
        label, attrs = by_name[name]
        assert viz_draw._PARAM_FILL in attrs
        assert f"grad {viz.graph.num(p.grad, 4)}" in label and f"data {viz.graph.num(p.data, 4)}" in label
    assert "shape=plaintext" not in " ".join(a for _, a in labels.values())  # no anonymous numbers left


def test_text_tools_name_parameters_the_same_in_fused_and_primitive_mode():
    for primitive in (False, True):
        n, y = neuron_out(primitive)
        tree = viz.tree_text(y)
        # only the sum's starting 0 (primitive mode) is left as an anonymous constant
        assert all("data=0.0  grad=" in line for line in tree.splitlines() if "const#" in line)
        for name in ("w.0", "w.1", "w.2", "b"):
            assert f"-- {name}  data=" in tree
        steps = [str(s) for s in viz.explain_backward(y)]
        assert any(s.startswith("w.2.grad += ") for s in steps)


def test_mlp_and_attention_parameters_get_their_full_names_with_or_without_scopes():
    rng = random.Random(1)
    mlp = MLP(2, [2, 1], rng=rng)
    y = mlp([Value(0.5, label="x1"), Value(-1.0, label="x2")])
    assert "layers.0.neurons.1.w.0  data=" in viz.tree_text(y)
    with viz.scopes():
        y = mlp([Value(0.5, label="x1"), Value(-1.0, label="x2")])
    labels = " ".join(label for label, _ in dot_labels(viz.draw_dot(y)).values())
    assert "layers.1.neurons.0.b" in labels and "layers.0.neurons.0.w.1" in labels
    head = SelfAttention(4, rng=rng)
    out = head([[Value(0.1 * (i + t), label=f"x{t}{i}") for i in range(4)] for t in range(2)])
    text = viz.tree_text(out[1][0])
    assert "q_proj.weight.0.0  data=" in text and "leaf#" not in text


def test_params_argument_still_decides_and_constants_stay_small():
    n, y = neuron_out()
    z = y * 3
    labels = dot_labels(viz.draw_dot(z, params={"first": n.w[0]}))
    by_id = {label.strip("{} ").split(" | ")[0]: attrs for label, attrs in labels.values()}
    assert viz_draw._PARAM_FILL in by_id["first"]
    constant = [attrs for label, attrs in labels.values() if label.endswith("= 3.0")]
    assert len(constant) == 1 and "shape=plaintext" in constant[0] and "fontsize=10" in constant[0]


# ---- item 4: one naming scheme everywhere -------------------------------------------------------
def mixed():
    x = Value(0.5, label="x")
    h = (x * 3.0 + 1.0).tanh()
    return h * h


def test_tree_steps_and_picture_use_the_same_names_and_numbers():
    L = mixed()
    L.backward()
    order = topological_order(L)
    expected = {v: (v.label or (f"{v.op}#{i}" if v.op else f"const#{i}")) for i, v in enumerate(order)}
    tree_names = {re.sub(r" \(.*", "", line.lstrip("|-` ").split("  ")[0]) for line in viz.tree_text(L).splitlines()}
    step_names = {s.split(".grad")[0].strip('"') for s in map(str, viz.explain_backward(L))}
    picture = " ".join(label for label, _ in dot_labels(viz.draw_dot(L)).values())
    assert tree_names == set(expected.values())
    assert step_names == set(expected.values())
    for name in expected.values():
        assert name in picture
    constant = next(v for v in order if not v._children and not v.label)
    assert f"{expected[constant]} = {viz.graph.num(constant.data, 4)}" in picture  # a constant is named too
    # "#N" only ever appears inside a name: repeats say "(see above)"
    for number in re.findall(r"#\d+", viz.tree_text(L)):
        assert any(name.endswith(number) for name in expected.values())
    assert "(see above)" in viz.tree_text(L)


# ---- item 3: the REPL prints once and plainly ---------------------------------------------------
def repl(lines):
    """What an interactive session prints for these lines."""
    console = code.InteractiveConsole({"viz": viz, "Value": Value})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for line in lines:
            console.push(line)
    return out.getvalue()


def test_print_tree_and_next_step_print_once_and_plainly_at_the_prompt():
    shown = repl(["a = Value(2.0, label='a'); b = Value(3.0, label='b')",
                  "L = a * b; L.label = 'L'",
                  "viz.print_tree(L)",
                  "steps = viz.explain_backward(L)",
                  "next(steps)",
                  "next(steps)"])
    assert shown == ("L (*)  data=6.0  grad=0.0\n"
                     "|-- a  data=2.0  grad=0.0\n"
                     "`-- b  data=3.0  grad=0.0\n"
                     "L.grad = ∂L/∂L = 1.0\n"
                     "a.grad += ∂L/∂a * L.grad = b.data * L.grad = 3.0 * 1.0  ->  a.grad = 3.0\n")


def test_inside_scopes_parameters_keep_their_names_once_the_module_is_gone():
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    with viz.scopes():
        y = MLP(2, [1], rng=random.Random(2))(x)  # the MLP is freed right after the call
    assert "layers.0.neurons.0.w.1  data=" in viz.tree_text(y)
    assert viz_draw._PARAM_FILL in viz.draw_dot(y).source
