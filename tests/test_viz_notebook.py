"""minigpt.viz in a notebook: what draw_dot returns displays and renders with either
Graphviz renderer, the system `dot` or graphviz-pure (issue 11, item 2)."""
import os
import sys

import pytest

from minigpt import Value, viz

# where pip put graphviz-pure for this Python (its virtualenv's bin/)
PURE = os.path.exists(os.path.join(os.path.dirname(sys.executable), "graphviz-pure"))


def expr():
    a, b, c = Value(2.0, label="a"), Value(3.0, label="b"), Value(1.0, label="c")
    L = a * b + c
    L.label = "L"
    L.backward()
    return L


@pytest.fixture
def only_graphviz_pure(tmp_path, monkeypatch):
    """PATH without `dot`: only the pip renderer, in this Python's scripts folder."""
    if not PURE:
        pytest.skip("graphviz-pure is not installed in this Python (pip install graphviz-pure)")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert os.path.basename(viz.find_renderer()) == "graphviz-pure"


def test_notebook_display_works_with_graphviz_pure_alone(only_graphviz_pure):
    bundle = viz.draw_dot(expr())._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") and ">L<" in svg and "grad 2.0" in svg


def test_render_and_pipe_of_the_returned_picture_work_with_graphviz_pure_alone(only_graphviz_pure, tmp_path):
    picture = viz.draw_dot(expr())
    path = picture.render(tmp_path / "L", format="png")
    assert path == str(tmp_path / "L.png")
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    out = picture.render(outfile=tmp_path / "out.svg")
    assert open(out, encoding="utf-8").read().count("class=\"node\"") == 7  # 5 values, 2 operations
    assert picture.pipe(format="svg", encoding="utf-8").lstrip().startswith("<?xml")
