"""minigpt.viz.page: the self-contained HTML page that steps through backward (issue 13),
checked without a browser: what the page holds. tests/test_viz_browser.py runs it."""
import html
import json
import math
import os
import random
import re
import sys

import pytest

from minigpt import Value, topological_order, viz
from minigpt.cli import main
from minigpt.nn import Neuron
from minigpt.viz.graph import num
from viz_graphs import MicroValue, abc, neuron

needs_renderer = pytest.mark.skipif(
    viz.find_renderer() is None, reason="no Graphviz renderer found: apt-get install graphviz or pip install graphviz-pure")


def embedded(page):
    """The JSON data the page's script reads."""
    text = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


@needs_renderer
def test_render_html_writes_one_self_contained_page(tmp_path):
    L = abc()
    L.backward()
    path = viz.render(L, tmp_path / "loss.html")
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script>" in page
    # nothing to fetch: no external script, style, image or font, no URL but SVG's namespaces
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|url\(|<img\b|<iframe\b", page)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert os.listdir(tmp_path) == ["loss.html"]  # one file
    # the picture is draw_dot's: the same node ids and names
    titles = set(re.findall(r"<title>([^<]*)</title>", page))
    assert {"n0", "n1", "n2", "n3", "n4", "o3", "o4"} <= titles
    for name in ("a", "b", "c", "e", "L"):
        assert f">{name}</text>" in page
    assert [len(ks) for ks in (page.split("id=\"mg-step\""), page.split("id=\"mg-end\""))] == [2, 2]


@needs_renderer
@pytest.mark.parametrize("build", ["abc", "neuron"])
def test_the_embedded_step_list_is_explain_backward_and_leaves_grads_alone(build):
    root = abc() if build == "abc" else neuron()
    root.backward()
    before = [v.grad for v in topological_order(root)]
    data = embedded(viz.page.html_page(root))
    assert [v.grad for v in topological_order(root)] == before   # writing the page changes no grad
    fresh = abc() if build == "abc" else neuron()
    steps = list(viz.explain_backward(fresh))
    assert [s["text"] for s in data["steps"]] == [str(s) for s in steps]
    # after the last step every node shows backward()'s grad, as the picture writes it
    shown = {n["id"]: "0.0" for n in data["nodes"]}
    for s in data["steps"]:
        shown[s["child"]] = s["after"]
    assert [shown[f"n{i}"] for i in range(len(before))] == [num(g, 4) for g in before]


@needs_renderer
def test_show_grad_false_opens_the_page_on_the_forward_values():
    L = abc()
    assert embedded(viz.page.html_page(L))["forward"] is False
    assert embedded(viz.page.html_page(L, show_grad=False))["forward"] is True


def test_the_page_lists_each_nodes_children_with_their_local_derivatives():
    L = abc()
    data = viz.page.step_data(L)
    by_name = {n["name"]: n for n in data["nodes"]}
    ids = {n["id"]: n["name"] for n in data["nodes"]}
    e = by_name["e"]
    assert e["op"] == "*" and e["data"] == "6.0"
    assert [(ids[c], d) for c, d in e["children"]] == [("a", "3.0"), ("b", "2.0")]
    assert by_name["a"]["children"] == [] and by_name["a"]["op"] == ""


@needs_renderer
def test_a_micrograd_like_value_is_stepped_through_the_same_way():
    a, b = MicroValue(0.5), MicroValue(-2.0)
    y = (a * b + a).tanh()
    data = embedded(viz.page.html_page(y))
    assert a.grad == 0.0 and b.grad == 0.0                          # the student's grads are untouched
    assert [s["text"] for s in data["steps"]] == [str(s) for s in viz.explain_backward(y)]
    # the last step of each leaf shows micrograd's own backward result
    grads = {}
    for s in data["steps"]:
        grads[s["child"]] = s["after"]
    by_data = {n["data"]: n["id"] for n in data["nodes"] if not n["children"]}
    expected_a = (1 - y.data ** 2) * (b.data + 1)
    assert grads[by_data["0.5"]] == num(expected_a, 4)
    tanh = next(n for n in data["nodes"] if n["op"] == "tanh")
    assert tanh["children"][0][1] == num(1 - y.data ** 2)           # its local derivative


@needs_renderer
def test_with_depth_the_page_steps_along_the_drawn_edges_with_grad_norms_per_group():
    from minigpt.example_graphs import example
    ex = example("model")
    page = viz.page.html_page(ex.root, depth=1, rankdir="TB")
    data = embedded(page)
    assert data["collapsed"] is True
    drawn_edges = set(re.findall(r"<title>(g\d+)&#45;&gt;(g\d+)</title>", page))
    steps = data["steps"]
    assert steps[0]["text"] == "loss.grad = ∂loss/∂loss = 1.0" and len(steps) == len(drawn_edges) + 1
    assert {(s["child"], s["parent"]) for s in steps[1:]} == drawn_edges   # one step per drawn edge
    # a group of parameters ends with the norm of its members' grads from backward(), not a sum near 0
    by_name = {n["name"]: n["id"] for n in data["nodes"]}
    final = {s["child"]: s["after"] for s in steps}
    ln_f = [p for name, p in ex.params.named_parameters() if name.startswith("ln_f.")]
    norm = math.sqrt(sum(p.grad ** 2 for p in ln_f))
    assert math.isclose(float(final[by_name["ln_f.*"]]), norm, rel_tol=1e-3)  # 4 digits
    text = " ".join(s["text"] for s in steps)
    assert '"ln_f.*".grad += ∂ln_f/∂"ln_f.*" * ln_f.grad  (512 edges, summed)  ->  grad norm of "ln_f.*" = ' in text
    # the picture's boxes say the same norms the steps end with
    attn = final[by_name["blocks.0.attn"]]
    assert float(attn) > 1e-3 and f"grad norm {attn}" in page
    # the output and the sum before it are named as a reader knows them
    assert ">loss = sum * 1/16</text>" in page and ">sum of 16</text>" in page and "sum#" not in page
    # the picture is draw_dot's collapsed one, boxes and caption included
    assert ">blocks.0.attn</text>" in page and "purple box" in page and "grad norm:" in page


def test_a_page_too_big_to_draw_is_refused_with_draw_dots_advice(tmp_path):
    L = abc()
    with pytest.raises(viz.PictureTooBigError, match="more than max_nodes=3.*depth=1"):
        viz.render(L, tmp_path / "x.html", max_nodes=3)
    assert not (tmp_path / "x.html").exists()


@needs_renderer
def test_graph_command_writes_the_page(tmp_path, capsys):
    out = tmp_path / "g.html"
    assert main(["graph", "--what", "neuron", "--out", str(out)]) == 0
    assert "stepping through backward" in capsys.readouterr().out
    data = embedded(out.read_text(encoding="utf-8"))
    # the seed, then one step per edge: relu 1, three + nodes 2 each, three * nodes 2 each
    assert data["steps"][0]["text"] == "out.grad = ∂out/∂out = 1.0" and len(data["steps"]) == 1 + 1 + 6 + 6
    assert main(["graph", "--what", "model", "--out", str(tmp_path / "m.html")]) == 0   # at depth 1
    assert "collapsed below depth 1" in capsys.readouterr().out
    assert embedded((tmp_path / "m.html").read_text(encoding="utf-8"))["collapsed"] is True
    assert main(["graph", "--what", "model", "--full", "--out", str(tmp_path / "m.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--depth 1" in err


@pytest.fixture
def only_graphviz_pure(tmp_path, monkeypatch):
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), "graphviz-pure")):
        pytest.skip("graphviz-pure is not installed in this Python (pip install graphviz-pure)")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_notebook_shows_the_page_inline_with_graphviz_pure(only_graphviz_pure):
    L = abc()
    L.backward()
    shown = viz.draw_dot(L)._repr_html_()
    assert shown.startswith("<iframe srcdoc=\"") and "height:" in shown
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1))
    assert [s["text"] for s in embedded(page)["steps"]][:2] == ["L.grad = ∂L/∂L = 1.0",
                                                                 "e.grad += ∂L/∂e * L.grad = 1.0 * 1.0  ->  e.grad = 1.0"]
    # after L.backward() what shows first is what the graph holds: the last step, not zeros
    assert embedded(page)["start"] == len(embedded(page)["steps"])
    # a collapsed view steps at its own level
    with viz.scopes():
        y = Neuron(2, rng=random.Random(0))([Value(1.0, label="x1"), Value(2.0, label="x2")])
    shown = viz.draw_dot(y, depth=0)._repr_html_()
    assert embedded(html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1)))["collapsed"] is True
