"""What a learner coming from micrograd meets (issue 18): micrograd's constructor
habits rejected in one line, chain-rule steps that read one way whatever the names,
constants named apart from your own leaves."""
import json
import re

import pytest

from minigpt import Value, viz
from minigpt.engine import Constant
from minigpt.viz import draw as viz_draw


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
    with pytest.raises(ValueError, match="2 children but 1 local"):
        Value(2.0, "", (a, a), (1.0,), "+")
    with pytest.raises(TypeError, match="_children must be a tuple, got set"):
        Value(2.0, "", {a}, (1.0,), "+")  # a set has no order to pair with the derivatives


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
