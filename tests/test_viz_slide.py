"""minigpt.viz: the whole-model picture fits a 16:9 slide and explains its marks (issue 11, item 5)."""
import re
import struct

import pytest

from minigpt import viz
from minigpt.cli import main
from minigpt.example_graphs import example

needs_renderer = pytest.mark.skipif(
    viz.find_renderer() is None, reason="no Graphviz renderer found: apt-get install graphviz or pip install graphviz-pure")


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@needs_renderer
def test_the_depth_one_model_picture_fits_a_16_by_9_slide(tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main(["graph", "--what", "model", "--depth", "1", "--out", str(out)]) == 0
    width, height = png_size(out)
    assert 1.6 <= width / height <= 2.0, (width, height)      # 16:9 is 1.78
    assert width <= 2700 and height <= 1500                   # a slide at 144 dpi, not a poster


def test_the_model_summary_draws_every_module_as_a_box_with_consistent_shapes():
    ex = example("model")
    source = viz.draw_dot(ex.root, depth=1, rankdir="TB").source
    boxes = dict(re.findall(r'label="(?:\{ )?([\w.]+) \| ([^"]*?)(?: \})?"[^\]]*fillcolor="#e6dcf5"', source))
    # a layer with no sub-modules is a box at any depth, like the blocks' parts
    assert {"ln_f", "lm_head", "blocks.0.ln1", "blocks.0.attn", "blocks.0.ln2", "blocks.0.ffn"} <= set(boxes)
    assert "layer_norm" not in source and "rsqrt_var" not in source
    # a layer called once per position says so, next to the per-call shapes
    assert boxes["ln_f"].endswith("16 calls (16,) -\\> (16,)")
    assert boxes["blocks.0.attn"].endswith("| (16, 16) -\\> (16, 16)")


def test_a_summary_explains_its_own_marks_in_a_caption():
    source = viz.draw_dot(example("model").root, depth=1).source
    caption = re.search(r'graph \[[^\]]*label="([^"]*)"', source).group(1)
    assert "purple box" in caption and "calls" in caption   # boxes and their shapes
    assert "xN" in caption and "green: parameters" in caption
    assert "yellow: the output" in caption
    assert 'label=""' not in source.split("\n")[1]           # the caption is the picture's own label
    # the full picture of a small expression needs no caption
    assert "purple box" not in viz.draw_dot(example("expr").root).source


def test_graph_full_advises_depth_at_the_command_line(tmp_path, capsys):
    assert main(["graph", "--what", "model", "--full", "--out", str(tmp_path / "m.svg")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--depth 1" in err
    assert "scopes()" not in err and "max_nodes" not in err and "depth=" not in err


@needs_renderer
@pytest.mark.parametrize("depth,rankdir", [(0, "LR"), (0, "TB"), (1, "LR")])
def test_folded_summaries_of_a_deeper_model_lay_out_and_stay_near_16_by_9(depth, rankdir):
    import random

    from minigpt.gpt import MiniGPT, cross_entropy_loss
    from minigpt.viz.graphviz_cmd import run_graphviz
    rng = random.Random(1)
    model = MiniGPT(27, 16, 4, 2, 16, rng=rng)
    ids = [rng.randrange(27) for _ in range(9)]
    with viz.scopes():
        loss = cross_entropy_loss(model(ids[:8]), ids[1:])
    source = viz.draw_dot(loss, depth=depth, rankdir=rankdir).source
    assert "cluster_row1" in source                       # folded
    png = run_graphviz(source, "png")                     # Graphviz accepts the fold
    width, height = struct.unpack(">II", png[16:24])
    assert 1.6 <= width / height <= 2.0, (width, height)
