"""What a learner coming from micrograd meets (issue 18): micrograd's constructor
habits rejected in one line, chain-rule steps that read one way whatever the names,
constants named apart from your own leaves."""
import json
import math
import re

import pytest

from minigpt import Value, viz
from minigpt.engine import Constant
from minigpt.viz import draw as viz_draw
from minigpt.viz.graph import num


# ---- micrograd habits at construction -------------------------------------------------
def test_micrograds_positional_children_are_rejected_in_one_line():
    a = Value(1.0)
    with pytest.raises(TypeError) as err:
        Value(5.0, (a,), "+")  # micrograd: Value(data, _children, _op)
    message = str(err.value)
    assert "\n" not in message and "label" in message and "tuple" in message
    assert "Value(a.data * b.data, '', (a, b), (b.data, a.data), '*')" in message  # how to build one by hand


def test_children_without_local_derivatives_are_rejected_not_left_at_zero():
    a = Value(1.0)
    with pytest.raises(ValueError, match=r"^Value\(\): 1 children but 0 local derivatives") as err:
        Value(2.0, _children=(a,), _op="+")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="2 children but 0 local"):
        Value(2.0, "", (a, a), (), "+")


def test_what_works_keeps_working():
    a, b = Value(2.0, "a"), Value(3.0, label="b")
    node = Value(a.data * b.data, "", (a, b), (b.data, a.data), "*")  # by hand, as the message says
    node.backward()
    assert (a.grad, b.grad, node.label, a.label) == (3.0, 2.0, "", "a")
    assert Value(7).data == 7.0 and (a * 2 + 1).data == 5.0


# ---- constants and your leaves are named apart ----------------------------------------
def test_a_number_mixed_in_is_a_constant_and_named_apart_from_a_value_you_made():
    x, k = Value(0.5), Value(3.0)     # two leaves you made, unlabelled
    y = (x * 2 + k).tanh()          # 2 is a number mixed in
    two = y.children[0].children[0].children[1]
    assert type(two) is Constant and isinstance(two, Value) and type(x) is Value
    names = {str(s).split(".grad")[0] for s in viz.explain_backward(y)}
    assert {n for n in names if n.startswith("const#")} == {"const#2"}
    assert {n for n in names if n.startswith("leaf#")} == {"leaf#0", "leaf#1"}
    source = viz.draw_dot(y).source
    assert "const#2 = 2.0" in source           # small grey text, with its number
    mine = next(line for line in source.splitlines() if "{ leaf#1 | data 0.5" in line)
    assert viz_draw._INPUT_FILL in mine  # a blue record, with its grad


# ---- chain-rule steps read one way ----------------------------------------------------
def test_a_node_called_d_does_not_collide_with_the_derivative():
    e, c, f = Value(-6.0, "e"), Value(10.0, "c"), Value(-2.0, "f")
    d = e + c
    d.label = "d"
    L = d * f
    L.label = "L"
    steps = [str(s) for s in viz.explain_backward(L)]
    assert "e.grad += ∂d/∂e * d.grad = 1.0 * -2.0  ->  e.grad = -2.0" in steps


@pytest.mark.parametrize("label", ["my node", "x, y", "a-b", "-1", "*#3", 'say "hi"'])
def test_names_that_are_not_plain_are_quoted_and_read_back(label):
    a = Value(2.0, label)
    b = Value(3.0, "b")
    out = a * b
    out.label = "out"
    step = next(s for s in viz.explain_backward(out) if s.child is a)
    quoted = re.match(r'^("(?:[^"\\]|\\.)*")\.grad \+= ∂out/∂("(?:[^"\\]|\\.)*") \* out\.grad', str(step))
    assert quoted is not None, str(step)
    assert json.loads(quoted.group(1)) == label and json.loads(quoted.group(2)) == label


def test_unlabelled_operations_are_quoted_in_steps_and_plain_in_pictures():
    x = Value(0.5, "x")
    y = x * 3 + 1
    steps = [str(s) for s in viz.explain_backward(y)]
    assert steps[1] == '"*#3".grad += ∂"+#4"/∂"*#3" * "+#4".grad = 1.0 * 1.0  ->  "*#3".grad = 1.0'
    assert "{ *#3 | data" in viz.draw_dot(y).source  # a picture shows the name as it is


# ---- the demo draws the model it trained ----------------------------------------------
def test_the_demo_picture_is_the_trained_model_at_depth_one_not_the_toy_expression(tmp_path, capsys):
    import random

    from minigpt import cli
    from minigpt.corpus import default_word_tokenizer
    from minigpt.gpt import MiniGPT
    tokenizer = default_word_tokenizer()
    model = MiniGPT(tokenizer.vocab_size, 8, 2, 1, 16, rng=random.Random(0))
    said = cli._demo_picture(str(tmp_path), model, tokenizer)
    if viz.find_renderer() is None:
        assert said is None and (tmp_path / "demo-graph.dot").exists()
        source = (tmp_path / "demo-graph.dot").read_text(encoding="utf-8")
    else:
        assert said.startswith(str(tmp_path / "demo-graph.svg")) and "trained model" in said
        source = (tmp_path / "demo-graph.svg").read_text(encoding="utf-8")
    assert "blocks.0.attn" in source and "lm_head" in source and "grad norm" in source
    assert all(p.grad == 0.0 for p in model.parameters())  # the picture's backward leaves no grads


# ---- a box shows something true: the grad norm of its outputs -------------------------
def layer_norm_graph():
    from minigpt.module import Module
    from minigpt.nn import LayerNorm

    class Net(Module):  # the outermost module's own nodes are not boxed: the LayerNorm inside it is
        def __init__(self):
            self.ln = LayerNorm(4)

        def forward(self, x):
            return self.ln(x)

    ln = Net()
    x = [Value(v, label=f"x[{i}]") for i, v in enumerate((0.5, -1.0, 2.0, 0.25))]
    with viz.scopes():
        h = ln(x)
        out = sum((hi * w for hi, w in zip(h, (1.0, -2.0, 0.5, 3.0))), Value(0.0, "zero"))
    out.label = "out"
    out.backward()
    return ln, x, h, out


def test_a_module_box_shows_the_grad_norm_of_its_outputs_not_a_sum_that_cancels():
    ln, x, h, out = layer_norm_graph()
    # a LayerNorm's input grads sum to about 0 whatever the loss: a sum would say nothing
    assert abs(sum(v.grad for v in x)) < 1e-9 < math.sqrt(sum(v.grad ** 2 for v in x))
    norm = math.sqrt(sum(v.grad ** 2 for v in h))
    source = viz.draw_dot(out, depth=0).source
    box = next(line for line in source.splitlines() if "fillcolor=\"#e6dcf5\"" in line)
    assert f"grad norm {num(norm, 4)}" in box
    # the inputs x (a group of 4 leaves): the norm of their grads
    inputs = next(line for line in source.splitlines() if '"x | x4' in line or "{ x | x4" in line)
    assert f"grad norm {num(math.sqrt(sum(v.grad ** 2 for v in x)), 4)}" in inputs
    assert "grad norm:" in source  # the caption says what it is
    # the steps end at the same norms, and say what they are
    data = viz.page.collapsed_step_data(out, 0)
    last = {s["child"]: s for s in data["steps"]}
    box_id = next(n["id"] for n in data["nodes"] if n["name"] == "ln")
    assert last[box_id]["after"] == num(norm, 4) and "grad norm of ln = " in last[box_id]["text"]
    x_id = next(n["id"] for n in data["nodes"] if n["name"] == "x")
    assert float(last[x_id]["after"]) > 0.01  # not a sum cancelled to ~1e-17


class FakePicture:
    """Stands in for a Picture: page_of needs only its SVG."""

    def pipe(self, fmt):
        return b'<?xml version="1.0"?><svg width="10pt" height="10pt"></svg>'


def page_data(root, depth=None):
    from minigpt.viz.page import page_of
    from minigpt.viz.view import GraphView
    page = page_of(GraphView(root, None, depth), FakePicture())
    return json.loads(re.search(r'id="mg-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))


def test_the_page_opens_at_the_grads_the_graph_holds():
    a, b = Value(2.0, "a"), Value(3.0, "b")
    L = a * b + 1
    L.label = "L"
    before = page_data(L)
    assert before["start"] == 0 and before["note"] == ""
    L.backward()
    after = page_data(L)
    assert after["start"] == len(after["steps"]) and "Reset (Home), then Step" in after["note"]
    L.backward()  # grads of two passes: the page says it replays one
    twice = page_data(L)
    assert twice["start"] == len(twice["steps"]) and "more than once" in twice["note"]
    assert a.grad == 6.0  # the page left the grads as they were


def test_a_page_of_hundreds_of_steps_suggests_the_view_that_fits():
    from minigpt.nn import SelfAttention
    head = SelfAttention(4, rng=__import__("random").Random(5))
    x = [[Value(0.1 * (t + i), label=f"x[{t}][{i}]") for i in range(4)] for t in range(3)]
    with viz.scopes():
        y = head(x)
    out = sum((v for row in y for v in row), Value(0.0, "zero"))
    out.backward()
    full = page_data(out)
    assert len(full["steps"]) > 150 and "depth=0" in full["note"]
    summary = page_data(out, depth=0)
    assert len(summary["steps"]) < 60 and "depth=" not in summary["note"]


def test_a_later_scopes_block_leaves_an_earlier_graphs_picture_alone():
    import random

    from minigpt import vsum
    from minigpt.nn import TransformerBlock
    block = TransformerBlock(8, 2, rng=random.Random(0))

    def run(positions):
        x = [[Value(0.1 * (t - i), label=f"x[{t}][{i}]") for i in range(8)] for t in range(positions)]
        with viz.scopes() as shapes:
            out = vsum([v for row in block(x) for v in row])
        return out, shapes

    three, shapes3 = run(3)
    before = viz.draw_dot(three, depth=0, show_grad=False).source
    five, shapes5 = run(5)  # the same modules, other shapes
    assert shapes3["attn"] == ((3, 8), (3, 8)) and shapes5["attn"] == ((5, 8), (5, 8))
    assert viz.draw_dot(three, depth=0, show_grad=False).source == before
    assert "(3, 8) -\\> (3, 8)" in before and "(5, 8)" in viz.draw_dot(five, depth=0, show_grad=False).source


def test_render_to_html_reads_the_graph_and_draws_the_picture_once(tmp_path, monkeypatch):
    import gc

    from minigpt.viz import draw as draw_module
    from minigpt.viz import graph as graph_module
    from minigpt.viz import renderer
    scans, drawn, laid_out = [], [], []
    real_get_objects, real_assemble = gc.get_objects, draw_module._assemble

    def counting_get_objects(*args):
        scans.append(1)
        return real_get_objects(*args)

    def counting_assemble(*args, **kwargs):
        drawn.append(1)
        return real_assemble(*args, **kwargs)

    monkeypatch.setattr(graph_module.gc, "get_objects", counting_get_objects)
    monkeypatch.setattr(draw_module, "_assemble", counting_assemble)
    monkeypatch.setattr("minigpt.viz.picture.run_graphviz",
                        lambda source, fmt: laid_out.append(fmt) or b"<svg width=\"1pt\" height=\"1pt\"></svg>")
    a, b = Value(2.0, "a"), Value(3.0, "b")
    L = a * b
    L.label = "L"
    L.backward()
    renderer.render(L, tmp_path / "L.html")
    assert (len(scans), len(drawn), laid_out) == (1, 1, ["svg"])
    page = (tmp_path / "L.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="mg-data">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</"))
    assert data["steps"][0]["text"] == "L.grad = ∂L/∂L = 1.0" and data["start"] == 3  # opens after the last step
