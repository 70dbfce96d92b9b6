"""The explore page's numbers and its HTML, without a browser (issue 19).

tests/test_explore_browser.py drives the same page in headless Chromium."""
import json
import os
import math
import random
import re

import pytest

from minigpt import gpt
from minigpt.checkpoint import save_checkpoint
from minigpt.cli import main
from minigpt.corpus import CANONICAL_PREFIX, grammar_vocabulary
from minigpt.explore import explore, explore_data, metrics_beside, next_token_probs, read_metrics, trace
from minigpt.gpt import MiniGPT, MiniGPTConfig, cross_entropy_loss
from minigpt.tokenizers import CharTokenizer, WordTokenizer

WORDS = WordTokenizer.from_text(" ".join(grammar_vocabulary()))


def tiny(pos="rope", tied=True, layers=1, seed=0, vocab=None, context=12):
    random.seed(seed)
    return MiniGPT(MiniGPTConfig(8, 2, layers, 16, vocab or WORDS.vocab_size, context, pos_encoding=pos,
                                 tie_weights=tied))


def page_data(html):
    """The JSON the page embeds."""
    found = re.search(r'<script type="application/json" id="ex-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1).replace("<\\/", "</"))


@pytest.mark.parametrize("pos,tied,layers", [("rope", True, 1), ("learned", False, 2), ("none", True, 2)])
def test_the_trace_computes_exactly_the_models_logits(pos, tied, layers):
    model = tiny(pos, tied, layers)
    ids = WORDS.encode(CANONICAL_PREFIX)
    tr = trace(model, ids)
    expected = model(ids)
    assert [[v.data for v in row] for row in tr["logits"]] == [[v.data for v in row] for row in expected]
    for layer in tr["layers"]:
        for head in layer["weights"]:
            assert [len(row) for row in head] == list(range(1, len(ids) + 1))  # the causal mask
            assert all(abs(sum(w.data for w in row) - 1) < 1e-12 for row in head)


def test_input_gradients_are_those_of_backward_on_the_models_own_loss():
    """With learned positions, d loss / d P[t] is d loss / d x_t: an independent check
    of the saliency, from `backward()` on `model(ids)` itself."""
    model = tiny("learned", tied=False, layers=2)
    ids = WORDS.encode(CANONICAL_PREFIX)
    data = explore_data(model, WORDS, CANONICAL_PREFIX)
    t, target = 5, ids[6]
    sal = data["saliency"][f"{t}:{target}"]
    model.zero_grad()
    logits = model(ids)
    cross_entropy_loss(logits[t:t + 1], [target]).backward()
    norms = [math.sqrt(sum(w.grad ** 2 for w in model.pos_emb.weight[s])) for s in range(len(ids))]
    assert sal["inputs"] == pytest.approx(norms, rel=1e-3, abs=1e-12)  # the page keeps 4 digits
    assert sal["inputs"][t + 1:] == [0.0] * (len(ids) - t - 1)          # the causal mask hides them
    assert sal["prob"] == pytest.approx(math.exp(-sal["loss"]), rel=1e-3)
    # only rows up to t carry gradient; in the last layer only row t does
    last = sal["attention"][-1]
    for head in last:
        assert all(g == 0.0 for row in head[:t] + head[t + 1:] for g in row)
        assert any(g != 0.0 for g in head[t])


def test_explore_leaves_the_models_gradients_as_they_were():
    model = tiny()
    for i, p in enumerate(model.parameters()):
        p.grad = 0.001 * i
    explore_data(model, WORDS, CANONICAL_PREFIX)
    assert [p.grad for p in model.parameters()] == [0.001 * i for i in range(model.num_parameters())]


@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.5, None), (2.0, 3), (0.05, 2), (1.3, 1), (0.0, None)])
def test_next_token_probs_are_what_generate_samples_from(monkeypatch, temperature, top_k):
    logits = [0.3, -1.2, 2.5, 2.5, 0.0, 7.1, -3.3]
    seen = []
    monkeypatch.setattr(gpt, "_sample", lambda probs, rng: seen.append(probs) or 0)
    chosen = gpt._next_id(logits, temperature, top_k, random.Random(0))
    probs = next_token_probs(logits, temperature, top_k)
    if temperature == 0:
        assert seen == [] and probs[chosen] == 1.0 and sum(probs) == 1.0
    else:
        assert probs == seen[0]                                        # exactly, not approximately
        assert sum(p > 0 for p in probs) == (top_k or len(logits))


def test_the_data_names_tokens_predictions_and_what_it_left_out():
    model = tiny(context=16)
    data = explore_data(model, WORDS, "I work , you work , he", top=3)   # <bos> is put in front
    assert data["tokens"] == CANONICAL_PREFIX.split() and data["position"] == 7
    assert all(len(p) == 3 and p == sorted(p, key=lambda x: -x[1]) for p in data["predictions"])
    assert set(data["trace"]) == {str(t) for t in range(8)} and data["omitted"] == []
    # each position: its top 3, plus the prompt's own next token when it is not among them
    for t in range(8):
        targets = {int(k.split(":")[1]) for k in data["saliency"] if k.startswith(f"{t}:")}
        assert {i for i, _ in data["predictions"][t]} <= targets
        if t < 7:
            assert data["ids"][t + 1] in targets
    assert data["sampling"]["logits"] == [v.data for v in model(data["ids"])[-1]]  # full precision
    small = explore_data(model, WORDS, CANONICAL_PREFIX, position=2, budget=1000, top=5)
    assert set(small["trace"]) == {"2"} and all(k.startswith("2:") for k in small["saliency"])
    assert len(small["saliency"]) == 4           # the top 3, and the prompt's next token if not among them
    assert "positions other than 2, and the gradients for targets below the top 3" in small["omitted"][0]
    assert small["model"]["parameters"] == model.num_parameters()
    long = explore_data(model, WORDS, " ".join(["I work ,"] * 8))      # 25 tokens, context 16
    assert len(long["tokens"]) == 16 and "first 9 tokens" in long["omitted"][0]


def test_bad_input_is_a_clear_error():
    model = tiny()
    with pytest.raises(ValueError, match="position must be an int in 0..7"):
        explore_data(model, WORDS, CANONICAL_PREFIX, position=8)
    with pytest.raises(ValueError, match="cannot be encoded.*zork"):
        explore_data(model, WORDS, "I zork")
    with pytest.raises(ValueError, match="tokenizer has 3 tokens but the model's vocab_size is"):
        explore_data(model, CharTokenizer.from_text("ab"), "ab")
    with pytest.raises(TypeError, match="prompt must be text or a list"):
        explore_data(model, WORDS, 3)


def test_metrics_are_read_averaged_and_found_beside_the_checkpoint(tmp_path):
    lines = [json.dumps({"step": s, "loss": 4 - s / 1000, **({"eval_loss": 3.5} if s % 500 == 0 else {})})
             for s in range(1, 1001)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n{\"step\": 10")  # a half-written last line
    m = read_metrics(str(tmp_path / "metrics.jsonl"))
    assert m["steps"] == 1000 and m["averaged"] == 3 and len(m["train"]) == 334
    assert m["eval"] == [[500, 3.5], [1000, 3.5]] and m["train"][-1][0] == 1000
    (tmp_path / "demo-metrics.jsonl").write_text(lines[0] + "\n")
    assert metrics_beside(str(tmp_path / "checkpoint.json")) == str(tmp_path / "metrics.jsonl")
    assert metrics_beside(str(tmp_path / "demo-checkpoint.json")) == str(tmp_path / "demo-metrics.jsonl")
    assert metrics_beside(str(tmp_path / "sub" / "checkpoint.json")) is None
    with pytest.raises(OSError, match="cannot read the metrics file .*gone.jsonl: No such file"):
        read_metrics(str(tmp_path / "gone.jsonl"))


def test_the_page_is_one_offline_file_with_the_data_and_the_curves(tmp_path):
    model = tiny()
    (tmp_path / "m.jsonl").write_text("".join(json.dumps({"step": s, "loss": 3.0 / s, "eval_loss": 3.1 / s}) + "\n"
                                              for s in range(1, 21)))
    page = explore(model, WORDS, CANONICAL_PREFIX, str(tmp_path / "e.html"), metrics=str(tmp_path / "m.jsonl"))
    html = (tmp_path / "e.html").read_text(encoding="utf-8")
    assert html == page.html
    assert page_data(html) == json.loads(json.dumps(page.data))
    # nothing to fetch: no links, no external scripts or styles, no URLs but the SVG namespace
    assert not re.search(r'<(link|img|iframe)\b|\bsrc=|@import|url\((?!#)', html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    for section in ("ex-tokens", "ex-attention", "ex-trace", "ex-sampling", "ex-saliency", "ex-training"):
        assert f'<section id="{section}"' in html
    curve = re.search(r'<polyline class="ex-train" points="([^"]+)"', html).group(1).split()
    assert len(curve) == 20 and 'class="ex-eval"' in html
    assert "<title>" in html and "Inside the Mini-GPT: &lt;bos&gt; I work" in html
    assert page._repr_html_().startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;')
    no_metrics = explore(model, WORDS, CANONICAL_PREFIX)
    assert 'id="ex-no-metrics"' in no_metrics.html and "<polyline" not in no_metrics.html


def test_the_page_for_a_demo_sized_model_and_the_canonical_prompt_is_under_300_kb():
    random.seed(0)
    model = MiniGPT(MiniGPTConfig(16, 2, 1, 64, WORDS.vocab_size, 16))  # minigpt demo's sizes
    page = explore(model, WORDS, CANONICAL_PREFIX)
    assert len(page.html.encode("utf-8")) < 300 * 1024 and page.data["omitted"] == []


def make_checkpoint(tmp_path, with_metrics=True):
    model = tiny()
    path = save_checkpoint(str(tmp_path / "checkpoint.json"), model, WORDS, step=7)
    if with_metrics:
        (tmp_path / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "loss": 4.0 - s / 10}) + "\n"
                                                        for s in range(1, 8)))
    return path, model


def test_the_explore_command_writes_the_page(capsys, tmp_path):
    path, model = make_checkpoint(tmp_path)
    out = tmp_path / "explore.html"
    code = main(["explore", "--checkpoint", path, "--prompt", CANONICAL_PREFIX, "--out", str(out), "--position", "-2"])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["position"] == 6 and data["model"]["step"] == 7 and data["metrics"]["steps"] == 7
    assert data["sampling"]["logits"] == [v.data for v in model(data["ids"])[-1]]


@pytest.mark.parametrize("argv,words", [
    (["--prompt", "I zork"], "zork"),
    (["--prompt", "I work", "--position", "3"], "position must be an int in 0..2"),
    (["--out", "missing/dir/e.html"], "cannot write"),
])
def test_the_explore_command_refuses_bad_input_in_one_line(capsys, tmp_path, monkeypatch, argv, words):
    path, _ = make_checkpoint(tmp_path, with_metrics=False)
    monkeypatch.chdir(tmp_path)
    code = main(["explore", "--checkpoint", path] + argv)
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert main(["explore", "--checkpoint", str(tmp_path / "none.json")]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def test_the_demo_writes_its_explore_page(capsys, tmp_path):
    code = main(["demo", "--steps", "2", "--documents", "30", "--samples", "0", "--out", str(tmp_path),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and f"Inside the model: {tmp_path / 'explore.html'}" in out
    data = page_data((tmp_path / "explore.html").read_text(encoding="utf-8"))
    assert data["tokens"] == CANONICAL_PREFIX.split() and data["metrics"]["steps"] == 2


@pytest.mark.slow
def test_the_trained_demo_page_shows_works_after_he(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--no-progress", "--samples", "0"]) == 0
    html = (tmp_path / "explore.html").read_text(encoding="utf-8")
    data = page_data(html)
    assert data["vocab"][data["predictions"][-1][0][0]] == "works"
    works = data["vocab"].index("works")
    assert f"7:{works}" in data["saliency"] and len(html.encode("utf-8")) < 300 * 1024


def test_the_readme_section_follows_training_and_shows_the_screenshot():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    start = text.index("## Inside a trained model")
    assert text.rindex("\n## ", 0, start) == text.index("\n## Training and sampling")
    body = text[start:text.index("\n## ", start)]
    assert "](docs/explore.png)" in body and "minigpt explore --checkpoint" in body
    shot = os.path.join(root, "docs", "explore.png")
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) < 200 * 1024
