"""minigpt.viz: pictures of graphs, collapsed views, rendering, and backprop step by step."""
import math
import os
import random
import re
import stat
import time
import xml.etree.ElementTree as ET

import graphviz
import pytest

from minigpt import Value, example_graphs, primitive_mode, topological_order, viz, vsum
from minigpt.viz import draw as viz_draw
from minigpt.viz import graphviz_cmd as viz_cmd
from minigpt.gpt import MiniGPT, cross_entropy_loss
from minigpt.nn import MLP, Linear, Neuron, TransformerBlock

RENDERER = viz.find_renderer()
needs_renderer = pytest.mark.skipif(
    RENDERER is None, reason="no Graphviz renderer found: apt-get install graphviz or pip install graphviz-pure")

SVG = "{http://www.w3.org/2000/svg}"


# ---- helpers ---------------------------------------------------------------------------------
def expr():
    """micrograd's L = (a*b + c) * f, all labelled."""
    a, b, c, f = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c"), Value(-2.0, label="f")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    L = d * f
    L.label = "L"
    return L


def shared():
    """b = a + a; c = b * b: a and b both feed their parent twice."""
    a = Value(3.0, label="a")
    b = a + a
    b.label = "b"
    c = b * b
    c.label = "c"
    return c


def mixed():
    """Every kind of operation, constants used more than once, a dead relu."""
    x, y = Value(0.7, label="x"), Value(-1.3, label="y")
    h = (x * y + 2).tanh() * x.exp() - y.relu() + (x ** 2 + 1).log() / (y.sigmoid() + 0.5)
    return (h + x.gelu() + (x * x).sqrt() - (-y)) * 3


def small_model_loss(seed=0):
    """The acceptance graph: MiniGPT(27, 16, 4, 1, 16) loss on 16 tokens, inside scopes()."""
    rng = random.Random(seed)
    model = MiniGPT(27, 16, 4, 1, 16, rng=rng)
    ids = [rng.randrange(27) for _ in range(17)]
    with viz.scopes():
        loss = cross_entropy_loss(model(ids[:16]), ids[1:])
    return model, loss


def dot_nodes(dot):
    """{node id: its attribute text} of every node statement in the DOT source."""
    source = dot.source if isinstance(dot, graphviz.Digraph) else dot
    return dict(re.findall(r"^\s*([nog]\d+) \[(.*)\]$", source, flags=re.M))


def svg_nodes(path):
    """{title: [texts]} for every `<g class="node">` of a Graphviz SVG."""
    tree = ET.parse(str(path))
    out = {}
    for g in tree.iter(SVG + "g"):
        if g.get("class") == "node":
            title = g.find(SVG + "title").text
            out[title] = [t.text for t in g.iter(SVG + "text")]
    return out


def all_grads(root):
    return [v.grad for v in topological_order(root)]


def run_steps(root):
    return [str(step) for step in viz.explain_backward(root)]


# ---- draw_dot: the full picture ----------------------------------------------------------------
def test_draw_dot_returns_one_record_per_value_and_one_node_per_operation():
    L = expr()
    L.backward()
    dot = viz.draw_dot(L)
    assert isinstance(dot, graphviz.Digraph)
    nodes = dot_nodes(dot)
    assert sorted(k for k in nodes if k.startswith("n")) == [f"n{i}" for i in range(7)]
    assert sorted(k for k in nodes if k.startswith("o")) == sorted(f"o{i}" for i, v in
                                                                  enumerate(topological_order(L)) if v.op)
    labels = " ".join(nodes.values())
    for text in ("{ a | data 2.0 | grad 6.0 }", "{ L | data -8.0 | grad 1.0 }", "{ e | data -6.0 | grad -2.0 }"):
        assert text in labels
    # child -> op -> result: a and b feed the '*' that makes e
    order = topological_order(L)
    i_e, i_a = order.index(L.children[0].children[0]), order.index(L.children[0].children[0].children[0])
    assert f"n{i_a} -> o{i_e}" in dot.source and f"o{i_e} -> n{i_e}" in dot.source


def test_same_graph_gives_identical_dot_source():
    L = expr()
    assert viz.draw_dot(L).source == viz.draw_dot(L).source
    assert viz.draw_dot(expr()).source == viz.draw_dot(expr()).source  # ids do not depend on id()
    one, two = small_model_loss(3)[1], small_model_loss(3)[1]
    assert viz.draw_dot(one, depth=1).source == viz.draw_dot(two, depth=1).source


def test_show_grad_false_leaves_grads_out():
    L = expr()
    assert "grad" in viz.draw_dot(L).source
    assert "grad" not in viz.draw_dot(L, show_grad=False).source


def test_colours_tell_output_inputs_parameters_and_constants_apart():
    n = Neuron(2, rng=random.Random(1))
    n.w[0].label = "w1"  # w2 and b stay unlabelled: params= names them
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    y = (n(x) * 2).tanh()
    nodes = dot_nodes(viz.draw_dot(y, params=n))
    by_label = {re.search(r'label="?\{? ?([^ |"]+)', attrs).group(1): attrs for attrs in nodes.values()}
    assert viz_draw._PARAM_FILL in by_label["w1"] and viz_draw._PARAM_FILL in by_label["w.1"]
    assert viz_draw._PARAM_FILL in by_label["b"]
    assert viz_draw._INPUT_FILL in by_label["x1"]
    assert "shape=plaintext" in by_label["const#0"] and "const#0 = 2.0" in by_label["const#0"]  # the constant 2
    root_attrs = nodes[f"n{len(topological_order(y)) - 1}"]
    assert viz_draw._OUTPUT_FILL in root_attrs and "penwidth" in root_attrs
    # without params=, the live module that holds them names its parameters
    plain = dot_nodes(viz.draw_dot(y))
    assert sum("shape=plaintext" in attrs for attrs in plain.values()) == 1  # only the 2


def test_a_child_used_twice_gets_one_edge_labelled_x2():
    c = shared()
    source = viz.draw_dot(c).source
    assert len(re.findall(r"n0 -> o1", source)) == 1 and 'n0 -> o1 [label=x2]' in source
    assert 'n1 -> o2 [label=x2]' in source


def test_record_characters_in_labels_are_escaped():
    weird = 'a|b{c}<d>"e\\f'
    v = Value(1.5, label=weird)
    out = v * 2
    out.label = "<html>"
    source = viz.draw_dot(out).source
    assert r'a\|b\{c\}\<d\>\"e\\f' in source
    assert r"\<html\>" in source and "<<" not in source  # never taken for an HTML label


@needs_renderer
def test_escaped_labels_render_literally(tmp_path):
    weird = 'a|b{c}<d>"e\\f'
    out = Value(1.5, label=weird) * 2
    path = viz.render(out, tmp_path / "weird.svg")
    texts = [t for texts in svg_nodes(path).values() for t in texts]
    assert weird in texts


def test_rankdir_is_validated():
    L = expr()
    assert "rankdir=TB" in viz.draw_dot(L, rankdir="TB").source
    # TB records need no braces to keep their fields side by side
    assert "label=\"a | data 2.0" in viz.draw_dot(L, rankdir="TB").source
    for bad in ("RL", "lr", "", None):
        with pytest.raises(ValueError, match="rankdir"):
            viz.draw_dot(L, rankdir=bad)


def test_modules_are_drawn_in_nested_frames():
    with viz.scopes():
        y = MLP(2, [2, 1], rng=random.Random(0))([Value(1.0, label="x1"), Value(-2.0, label="x2")])
    lines = viz.draw_dot(y).source.splitlines()
    outer = [line for line in lines if 'label="layers.0"' in line]
    inner = [line for line in lines if 'label="layers.0.neurons.1"' in line]
    assert outer and inner
    assert outer[0].startswith("\t\tgraph [") and inner[0].startswith("\t\t\tgraph [")  # one level deeper


def test_a_leaf_root_is_one_node():
    dot = viz.draw_dot(Value(3.0, label="x"))
    assert list(dot_nodes(dot)) == ["n0"]


# ---- big graphs: max_nodes and depth ----------------------------------------------------------
def test_max_nodes_refuses_and_suggests_a_depth():
    with pytest.raises(ValueError, match="depth"):
        viz.draw_dot(expr(), max_nodes=5)
    x = Value(0.5, label="x")
    y = x
    for _ in range(600):
        y = y * 1.001
    with pytest.raises(ValueError, match=r"max_nodes=1,000.*depth"):  # the default guard
        viz.draw_dot(y)
    assert len(dot_nodes(viz.draw_dot(y, max_nodes=5000))) == 1801


def test_depth_without_scopes_summarises_but_draws_no_module_boxes():
    random.seed(0)
    model = MiniGPT(27, 16, 4, 1, 16)
    loss = cross_entropy_loss(model(list(range(16))), list(range(1, 17)))  # no scopes(): no module tags
    summary = viz.draw_dot(loss, depth=1).source
    assert not re.search(r"cluster_\d", summary) and viz_draw._BOX_FILL not in summary  # no module frames
    assert "blocks.0.attn.*" in summary  # parameters are still named, from the model
    with pytest.raises(ValueError, match=r"no modules to collapse.*scopes\(\)"):
        viz.draw_dot(loss, depth=1, max_nodes=10)
    assert len(dot_nodes(viz.draw_dot(expr(), depth=1))) > 0
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(ValueError, match="depth"):
            viz.draw_dot(expr(), depth=bad)


def test_depth_one_view_of_the_minigpt_loss_is_small():
    model, loss = small_model_loss()
    assert len(topological_order(loss)) > 10_000
    with pytest.raises(ValueError, match="depth"):
        viz.draw_dot(loss)  # the full graph is refused with a hint
    for params in (None, model):
        nodes = dot_nodes(viz.draw_dot(loss, depth=1, params=params))
        assert len(nodes) < 60
        labels = " ".join(nodes.values())
        for box in ("blocks.0.ln1", "blocks.0.attn", "blocks.0.ln2", "blocks.0.ffn"):
            assert f"{box} | " in labels
        assert "(16, 16) -\\> (16, 16)" in labels  # shapes in and out of the attention box
    coarse = dot_nodes(viz.draw_dot(loss, depth=0))
    assert len(coarse) < len(nodes)
    assert "blocks.0 | " in " ".join(coarse.values()) and "blocks.0.attn" not in " ".join(coarse.values())


@needs_renderer
def test_depth_one_view_of_the_minigpt_loss_renders_quickly(tmp_path):
    model, loss = small_model_loss()
    start = time.perf_counter()
    path = viz.render(loss, tmp_path / "model.svg", depth=1, params=model)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"rendering took {elapsed:.1f} s"
    drawn = svg_nodes(path)
    assert len(drawn) == len(dot_nodes(viz.draw_dot(loss, depth=1, params=model))) < 60
    texts = [t for texts in drawn.values() for t in texts]
    assert "blocks.0.attn" in texts and "ln_f.*" in texts  # ln_f: gamma and beta feed the same nodes


def test_collapsed_block_reads_like_its_forward():
    rng = random.Random(2)
    block = TransformerBlock(8, 2, rng=rng)
    x = [[Value(rng.uniform(-1, 1), label=f"x[{t}][{i}]") for i in range(8)] for t in range(3)]
    with viz.scopes():
        out = vsum([v for row in block(x) for v in row])
    coarse = " ".join(dot_nodes(viz.draw_dot(out, depth=0)).values())
    for box in ("ln1", "attn", "ln2", "ffn"):
        assert f'label="{box} | ' in coarse  # a box: name | size | shapes
    assert "+  x24" in coarse          # the residual adds, summarised
    assert 'label="x | x24, grad norm ' in coarse  # the 24 labelled inputs, as one node
    finer = viz.draw_dot(out, depth=1)
    labels = " ".join(dot_nodes(finer).values())
    assert 'label="attn.q_proj | ' in labels and 'label="attn | ' not in labels
    assert 'label=attn labeljust' in finer.source  # attn is now a frame around its parts
    assert len(dot_nodes(finer)) < 60


# ---- render ---------------------------------------------------------------------------------
@needs_renderer
def test_render_svg_has_every_node_with_its_label(tmp_path):
    L = expr()
    L.backward()
    path = viz.render(L, tmp_path / "sub" / "expr.svg")  # missing folders are made
    drawn = svg_nodes(path)
    assert len(drawn) == 10                     # 7 Values + 3 operations
    assert sorted(drawn) == sorted(dot_nodes(viz.draw_dot(L)))
    texts = [t for texts in drawn.values() for t in texts]
    for text in ("a", "b", "L", "data -8.0", "grad 6.0", "*", "+"):
        assert text in texts


@needs_renderer
def test_render_png(tmp_path):
    path = viz.render(expr(), str(tmp_path / "expr.png"), rankdir="TB")
    assert path == str(tmp_path / "expr.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_render_dot_needs_no_renderer(tmp_path, monkeypatch):
    monkeypatch.setattr(viz, "find_renderer", lambda: None)
    L = expr()
    path = viz.render(L, tmp_path / "expr.dot", rankdir="TB")
    assert path.read_text(encoding="utf-8") == viz.draw_dot(L, rankdir="TB").source


def test_render_rejects_an_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg"):
        viz.render(expr(), tmp_path / "expr.pdf")
    assert not list(tmp_path.iterdir())


def test_render_without_a_renderer_says_what_to_install_and_writes_the_dot(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(viz_cmd, "_python_script_dirs", lambda: [])
    assert viz.find_renderer() is None
    with pytest.raises(RuntimeError) as caught:
        viz.render(expr(), tmp_path / "expr.svg")
    message = str(caught.value)
    assert "apt-get install graphviz" in message and "pip install graphviz-pure" in message
    assert isinstance(caught.value, viz.RendererNotFoundError)
    assert (tmp_path / "expr.dot").read_text(encoding="utf-8") == viz.draw_dot(expr()).source
    assert not (tmp_path / "expr.svg").exists()


@pytest.mark.skipif(os.name == "nt", reason="uses a POSIX shell script as a stand-in for dot")
def test_find_renderer_prefers_the_system_dot(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert viz.find_renderer() == str(fake)


def test_find_renderer_falls_back_to_graphviz_pure(tmp_path, monkeypatch):
    installed = [d for d in viz_cmd._python_script_dirs()
                 if any(os.path.exists(os.path.join(d, n)) for n in ("graphviz-pure", "graphviz-pure.exe"))]
    if not installed:
        pytest.skip("graphviz-pure is not installed in this Python (pip install graphviz-pure)")
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot, no graphviz-pure on PATH
    found = viz.find_renderer()
    assert found is not None and os.path.basename(found).startswith("graphviz-pure")


# ---- explain_backward -----------------------------------------------------------------------
def test_step_text_for_a_times_b_plus_c():
    a, b, c = Value(2.0, label="a"), Value(3.0, label="b"), Value(1.0, label="c")
    e = a * b
    e.label = "e"
    L = e + c
    L.label = "L"
    assert run_steps(L) == [
        "L.grad = ∂L/∂L = 1.0",
        "e.grad += ∂L/∂e * L.grad = 1.0 * 1.0  ->  e.grad = 1.0",
        "c.grad += ∂L/∂c * L.grad = 1.0 * 1.0  ->  c.grad = 1.0",
        "a.grad += ∂e/∂a * e.grad = b.data * e.grad = 3.0 * 1.0  ->  a.grad = 3.0",
        "b.grad += ∂e/∂b * e.grad = a.data * e.grad = 2.0 * 1.0  ->  b.grad = 2.0",
    ]


def test_unlabelled_nodes_are_named_by_op_and_position():
    x = Value(0.5, label="x")
    y = (x * 2).tanh()
    steps = run_steps(y)
    assert steps[0] == "tanh#3.grad = ∂tanh#3/∂tanh#3 = 1.0"
    # a name that is not a plain dotted name is quoted, so `*` never reads as an operator
    assert steps[1].startswith('"*#2".grad += ∂tanh#3/∂"*#2" * tanh#3.grad = (1 - tanh#3.data**2) * tanh#3.grad '
                               '= 0.419974 * 1.0')
    assert steps[2] == 'x.grad += ∂"*#2"/∂x * "*#2".grad = const#1.data * "*#2".grad = 2.0 * 0.419974  ->  x.grad = 0.839949'
    assert steps[3] == ('const#1.grad += ∂"*#2"/∂const#1 * "*#2".grad = x.data * "*#2".grad = 0.5 * 0.419974  ->  '
                        'const#1.grad = 0.209987')


def test_steps_expose_their_numbers_and_can_be_taken_one_at_a_time():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    c = a * b
    c.label = "c"
    steps = viz.explain_backward(c)
    seed = next(steps)
    assert (seed.child, seed.parent, seed.before, seed.after) == (c, None, 0.0, 1.0)
    assert c.grad == 1.0 and a.grad == 0.0  # nothing happens before it is asked for
    step = next(steps)
    assert (step.child, step.parent, step.local, step.upstream, step.before, step.after) == (a, c, 3.0, 1.0, 0.0, 3.0)
    assert a.grad == 3.0 and b.grad == 0.0
    assert str(step) == "a.grad += ∂c/∂a * c.grad = b.data * c.grad = 3.0 * 1.0  ->  a.grad = 3.0"
    assert "a.grad" in repr(step)
    assert [s.child for s in steps] == [b]
    assert b.grad == 2.0


@pytest.mark.parametrize("build", [expr, shared, mixed], ids=["expr", "shared", "mixed"])
@pytest.mark.parametrize("times", [1, 2])
def test_explain_backward_leaves_the_same_grads_as_backward(build, times):
    by_backward, by_steps = build(), build()
    for _ in range(times):  # twice: gradients accumulate in both
        by_backward.backward()
        for _ in viz.explain_backward(by_steps):
            pass
    expected, got = all_grads(by_backward), all_grads(by_steps)
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        assert abs(e - g) <= 1e-12 * max(1.0, abs(e))
    if build is shared:
        a = topological_order(by_steps)[0]
        assert a.grad == 24.0 * times  # c = (2a)^2, dc/da = 8a = 24 per pass


def test_explain_backward_matches_backward_on_nn_graphs():
    for what in ("neuron", "attention", "block", "model"):
        one, two = example_graphs.example(what, backward=False).root, example_graphs.example(what, backward=False).root
        one.backward()
        steps = sum(1 for _ in viz.explain_backward(two))
        assert all_grads(one) == all_grads(two), what  # same additions in the same order: bit for bit
        edges = sum(len(v.children) for v in topological_order(two))
        assert steps <= edges + 1


def test_a_node_whose_gradient_is_zero_passes_nothing_on():
    x = Value(-1.0, label="x")
    h = x * 2
    out = h.relu() * 5  # relu is off: h gets gradient 0, so x and the 2 get no step
    out.label = "out"
    steps = list(viz.explain_backward(out))
    assert [s.child for s in steps[:3]] == [out, out.children[0], out.children[1]]
    assert steps[3].child is h and steps[3].after == 0.0
    # like backward(), every edge is visited; behind the dead relu they carry 0
    assert len(steps) == 6 and all(s.after == 0.0 for s in steps[3:]) and x.grad == 0.0


def test_explain_backward_counts_one_step_per_edge_and_says_when_grads_accumulate():
    c = shared()
    first = run_steps(c)
    assert len(first) == 1 + 2 + 2  # the seed, then b <- c twice, then a <- b twice
    second = run_steps(c)
    assert second[0] == "c.grad = ∂c/∂c = 1.0  (this pass; the grads held before are added back at the end)"
    assert second[-1] == "a.grad += ∂b/∂a * b.grad = 1.0 * 12.0  ->  a.grad = 24.0"
    assert c.children[0].children[0].grad == 48.0  # 24 from each pass, once the steps ran out


def test_explain_backward_and_print_tree_handle_deep_chains():
    x = Value(1.0, label="x")
    y = x
    for _ in range(20_000):
        y = y + 0.0
    steps = sum(1 for _ in viz.explain_backward(y))
    assert steps == 1 + 2 * 20_000 and x.grad == 1.0
    text = viz.tree_text(y, depth=3)
    lines = text.splitlines()
    assert len(lines) == 8 and lines[4] == "|   |   |   `-- ..."  # 3 levels of +, then the cut


# ---- print_tree ------------------------------------------------------------------------------
def test_print_tree_of_an_expression(capsys):
    L = expr()
    L.backward()
    assert viz.print_tree(L) is None  # so a bare print_tree(L) at the prompt prints once
    text = viz.tree_text(L)
    assert text == "\n".join([
        "L (*)  data=-8.0  grad=1.0",
        "|-- d (+)  data=4.0  grad=-2.0",
        "|   |-- e (*)  data=-6.0  grad=-2.0",
        "|   |   |-- a  data=2.0  grad=6.0",
        "|   |   `-- b  data=-3.0  grad=-4.0",
        "|   `-- c  data=10.0  grad=-2.0",
        "`-- f  data=-2.0  grad=4.0",
    ])
    assert capsys.readouterr().out == text + "\n"


def test_print_tree_shows_shared_nodes_once_and_cuts_at_depth(capsys):
    c = shared()
    c.backward()
    assert viz.tree_text(c) == "\n".join([
        "c (*)  data=36.0  grad=1.0",
        "|-- b (+)  data=6.0  grad=12.0",
        "|   |-- a  data=3.0  grad=24.0",
        "|   `-- a (see above)",
        "`-- b (see above)",
    ])
    assert viz.tree_text(c, depth=1) == "\n".join([
        "c (*)  data=36.0  grad=1.0",
        "|-- b (+)  data=6.0  grad=12.0",
        "|   `-- ...",
        "`-- b (see above)",
    ])
    assert viz.tree_text(c, depth=0) == "c (*)  data=36.0  grad=1.0\n`-- ..."
    with pytest.raises(ValueError, match="depth"):
        viz.print_tree(c, depth=-1)


# ---- examples -----------------------------------------------------------------------------------
def test_example_graphs():
    for what in example_graphs.EXAMPLES:
        ex = example_graphs.example(what)
        assert isinstance(ex.root, Value) and ex.root.grad == 1.0, what
        assert ex.rankdir in ("LR", "TB")
        nodes = dot_nodes(viz.draw_dot(ex.root, depth=ex.depth, params=ex.params, rankdir=ex.rankdir))
        assert 5 <= len(nodes) < 60, what
        again = example_graphs.example_graph(what)
        assert again.data == ex.root.data  # deterministic
    assert example_graphs.example("model").depth == 1 and example_graphs.example("expr").depth is None
    with pytest.raises(ValueError, match="expr"):
        example_graphs.example_graph("transformer")
    with pytest.raises(ValueError, match="depth"):
        example_graphs.example_graph("expr", depth=-2)
    assert len(dot_nodes(viz.draw_dot(example_graphs.example_graph("expr"), depth=0))) > 0  # every example takes depth


def test_label_parameters_names_unlabelled_parameters_only():
    lin = Linear(2, 2, rng=random.Random(0))
    lin.bias[1].label = "mine"
    example_graphs.label_parameters(lin)
    assert lin.weight[1][0].label == "weight.1.0" and lin.bias[0].label == "bias.0"
    assert lin.bias[1].label == "mine"


def test_neuron_in_primitive_mode_draws_every_multiply():
    n = Neuron(3, rng=random.Random(0))
    with primitive_mode():
        y = n([Value(1.0, label=f"x{i}") for i in range(3)])
    ops = [attrs for k, attrs in dot_nodes(viz.draw_dot(y, params=n)).items() if k.startswith("o")]
    assert sum("label=\"*\"" in a or "label=*" in a for a in ops) == 3
    assert math.isfinite(y.data)
