"""The notebooks in notebooks/ run top to bottom and show what they say they show.

Running them is marked `notebooks` (deselected by default, like `slow`): it needs the
`notebooks` extra (`pip install -e '.[notebooks]'`) and takes a minute or so; CI runs
them with `pytest -m notebooks`. The check that the stored notebooks carry no outputs
runs in the default suite.
"""
import base64
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDER = os.path.join(ROOT, "notebooks")
NOTEBOOKS = ("01-value-and-backprop.ipynb", "02-mlp-two-moons.ipynb", "03-mini-gpt.ipynb")


def test_the_notebooks_are_stored_small_and_without_outputs():
    assert sorted(n for n in os.listdir(FOLDER) if n.endswith(".ipynb")) == list(NOTEBOOKS)
    for name in NOTEBOOKS:
        path = os.path.join(FOLDER, name)
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        assert nb["nbformat"] == 4 and nb["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), name
        assert os.path.getsize(path) < 20_000, name
        text = "".join("".join(c["source"]) for c in nb["cells"])
        assert "/" + "work/" not in text and "../" + "shared" not in text


def execute(name, tmp_path):
    """Run a notebook in a fresh kernel (in a scratch folder); returns the executed notebook."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError:
        if os.environ.get("MINIGPT_REQUIRE_NOTEBOOKS"):
            raise
        pytest.skip("the notebooks extra is not installed (pip install -e '.[notebooks]')")
    nb = nbformat.read(os.path.join(FOLDER, name), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell
    return nb


def outputs(nb):
    """(all the text a notebook printed, the PNG images it showed, the HTML it showed)."""
    text, images, html = [], [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text.append(out["text"])
            data = out.get("data", {})
            if "image/png" in data:
                images.append(base64.b64decode(data["image/png"]))
            if "text/html" in data:
                html.append(data["text/html"])
    return "".join(text), images, html


@pytest.mark.notebooks
def test_01_value_and_backprop(tmp_path):
    text, _, html = outputs(execute("01-value-and-backprop.ipynb", tmp_path))
    assert "a: data    2.0   grad    6.0" in text           # L = (a*b + c) * f, by backward()
    assert "a.grad += ∂e/∂a * e.grad = b.data * e.grad = -3.0 * -2.0  ->  a.grad = 6.0" in text  # explain_backward
    assert "gradcheck passed on 2 input(s)" in text and "gradcheck FAILED on 1 input(s)" in text
    assert len(html) == 2 and all("<iframe" in h for h in html)   # two stepping pages


@pytest.mark.notebooks
def test_02_mlp_learns_two_moons(tmp_path):
    text, images, _ = outputs(execute("02-mlp-two-moons.ipynb", tmp_path))
    last = [line for line in text.splitlines() if line.startswith("step ")][-1]
    assert float(last.split("accuracy ")[1].rstrip("%")) >= 95, last
    assert len(images) == 3 and all(png.startswith(b"\x89PNG") for png in images)   # data, curves, boundary


@pytest.mark.notebooks
def test_03_mini_gpt_trains_samples_and_shows_attention(tmp_path):
    text, images, html = outputs(execute("03-mini-gpt.ipynb", tmp_path))
    assert "total   3,680" in text
    held_out = float(text.split("held-out ")[-1].split()[0])
    assert held_out < 2.7  # from ln 27 = 3.30: it learned something
    assert text.count("temperature ") == 3
    assert len(html) == 1 and "<iframe" in html[0]   # the depth picture's page
    assert len(images) == 2   # the live loss plot (updated in place) and the attention heatmaps
