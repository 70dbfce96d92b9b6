"""The benchmark's own pieces compute what they claim (no timing is checked here).

- the plain-float floor (benchmarks/float_gpt.py) gives minigpt's loss to 1e-12 and
  samples the same ids as `generate`;
- the micrograd model (benchmarks/micrograd_gpt.py) gives minigpt's loss to 1e-9 and
  the same gradients (skipped when micrograd is not installed);
- bench_step.py runs end to end and reports consistent results;
- bench_compile.py runs end to end on its small model (--small);
- train_names.py's compiled path trains to the graph path's losses.
"""
import json
import math
import os
import random
import subprocess
import sys

import pytest

from minigpt.engine import topological_order
from minigpt.gpt import MiniGPT, cross_entropy_loss, generate

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH_DIR)

import bench_step  # noqa: E402
import float_gpt  # noqa: E402
import micrograd_gpt  # noqa: E402
import train_names  # noqa: E402

needs_micrograd = pytest.mark.skipif(not micrograd_gpt.AVAILABLE,
                                     reason="micrograd not installed (pip install micrograd, the `bench` extra)")


def make_model(seed, *sizes):
    random.seed(seed)
    return MiniGPT(*sizes)


def minigpt_loss(model, tokens, targets):
    return cross_entropy_loss(model(tokens), targets)


# (model sizes, token sequence): the benchmark's model on a full and a short name, and a
# deeper, narrower model to exercise several blocks and a different head count
CASES = [
    ((27, 16, 4, 1, 16), bench_step.encode_name("muhammadibrahim")),
    ((27, 16, 4, 1, 16), bench_step.encode_name("ava")),
    ((27, 8, 2, 2, 8), bench_step.encode_name("isabella", context=8)),
]


# --------------------------------------------------------------------------------------
# The data pieces of bench_step
# --------------------------------------------------------------------------------------
def test_encode_name_shifts_targets_and_crops():
    tokens, targets = bench_step.encode_name("abc")
    assert tokens == [bench_step.BOS, 0, 1, 2]
    assert targets == [0, 1, 2, bench_step.BOS]
    tokens, targets = bench_step.encode_name("a" * 30)
    assert len(tokens) == len(targets) == bench_step.CONTEXT
    assert tokens[0] == bench_step.BOS and targets[-1] == 0  # cropped: the end marker falls off


def test_load_names_falls_back_to_the_builtin_list(tmp_path):
    names, source = bench_step.load_names(str(tmp_path / "absent.txt"))
    assert names == bench_step.FALLBACK_NAMES and "built-in" in source
    # the default pick fills the context, from the file or from the fallback list
    assert len(bench_step.encode_name(bench_step.pick_name(names))[0]) == bench_step.CONTEXT
    path = tmp_path / "names.txt"
    path.write_text("Emma\n\nbob\nx-y\n")
    names, source = bench_step.load_names(str(path))
    assert names == ["emma", "bob"] and source == str(path)


# --------------------------------------------------------------------------------------
# The float floor
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes, seq", CASES)
def test_float_floor_matches_minigpt_loss(sizes, seq):
    tokens, targets = seq
    model = make_model(7, *sizes)
    floor = float_gpt.FloatGPT.from_model(model)
    expected = minigpt_loss(model, tokens, targets).data
    assert abs(floor.loss(tokens, targets) - expected) <= 1e-12
    # the logits too, not just their summary
    for row_f, row_m in zip(floor.forward(tokens), model(tokens)):
        assert max(abs(a - b.data) for a, b in zip(row_f, row_m)) <= 1e-12


def test_float_floor_samples_like_generate():
    model = make_model(3, 27, 8, 2, 1, 8)
    floor = float_gpt.FloatGPT.from_model(model)
    prompt = [bench_step.BOS, 4]
    # 10 new tokens: the context (8) gets cropped on the way
    expected = generate(model, prompt, 10, temperature=1.0, rng=random.Random(5))
    assert floor.generate(prompt, 10, temperature=1.0, rng=random.Random(5)) == expected
    assert floor.generate(prompt, 4, temperature=0) == generate(model, prompt, 4, temperature=0)


def test_float_floor_rejects_other_layouts():
    with pytest.raises(ValueError, match="learned position"):
        float_gpt.FloatGPT({"tok_emb.weight": [[0.0]]}, 1)


# --------------------------------------------------------------------------------------
# The micrograd model
# --------------------------------------------------------------------------------------
@needs_micrograd
@pytest.mark.parametrize("sizes, seq", [CASES[1], CASES[2]])
def test_micrograd_model_matches_minigpt_loss_and_gradients(sizes, seq):
    tokens, targets = seq
    model = make_model(11, *sizes)
    loss = minigpt_loss(model, tokens, targets)
    loss.backward()

    mg = micrograd_gpt.MicrogradGPT.from_model(model)
    mg_loss = micrograd_gpt.cross_entropy(mg(tokens), targets)
    micrograd_gpt.backward(mg_loss)
    assert abs(mg_loss.data - loss.data) <= 1e-9

    # both list parameters in state_dict order: tensor by tensor, row-major
    named = model.named_parameters()
    mg_params = mg.parameters()
    assert len(named) == len(mg_params)
    picks = ["tok_emb.weight.0.3", "pos_emb.weight.1.0", "blocks.0.attn.q_proj.weight.2.5",
             "blocks.0.ffn.fc1.bias.7", "ln_f.gamma.1", "lm_head.weight.0.4"]
    index = {name: i for i, (name, _) in enumerate(named)}
    for name in picks:
        i = index[name]
        assert abs(mg_params[i].grad - named[i][1].grad) <= 1e-9, name
    # and, since it is cheap, every gradient
    worst = max(abs(a.grad - b.grad) for (_, a), b in zip(named, mg_params))
    assert worst <= 1e-9


@needs_micrograd
def test_micrograd_exp_log_tanh_backward():
    from micrograd.engine import Value
    x = Value(0.7)
    y = micrograd_gpt.exp(x) * micrograd_gpt.log(x) + micrograd_gpt.tanh(x)
    y.backward()
    expected = math.exp(0.7) * math.log(0.7) + math.exp(0.7) / 0.7 + 1 - math.tanh(0.7) ** 2
    assert abs(x.grad - expected) <= 1e-12


def test_count_nodes_agrees_with_topological_order():
    # minigpt Values offer micrograd's `_prev`, so the micrograd walker works on them too
    model = make_model(2, 27, 8, 2, 1, 8)
    tokens, targets = bench_step.encode_name("emma", context=8)
    loss = minigpt_loss(model, tokens, targets)
    assert micrograd_gpt.count_nodes(loss) == len(topological_order(loss))
    assert micrograd_gpt.graph_depth(loss) > 1


def test_plain_adam_does_the_same_update_as_minigpt_optim():
    optim = pytest.importorskip("minigpt.optim")
    a = make_model(4, 27, 8, 2, 1, 8)
    b = make_model(4, 27, 8, 2, 1, 8)
    tokens, targets = bench_step.encode_name("olivia", context=8)
    opt_a = optim.Adam(a.parameters(), lr=1e-2)
    opt_b = micrograd_gpt.Adam(b.parameters(), lr=1e-2)
    for _ in range(2):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            minigpt_loss(model, tokens, targets).backward()
            opt.step()
    assert max(abs(p.data - q.data) for p, q in zip(a.parameters(), b.parameters())) <= 1e-12


# --------------------------------------------------------------------------------------
# The script, end to end
# --------------------------------------------------------------------------------------
def run_script(*args):
    proc = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "bench_step.py"), "--quick", "--json", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return proc.stdout, results


def check_results(stdout, results, rows):
    assert "minigpt_step / floor_forward" in stdout and "targets (judged on the medians)" in stdout
    losses = {results["rows"][r]["first_loss"] for r in rows}
    first = results["rows"]["floor"]["first_loss"]
    assert all(abs(x - first) <= 1e-9 for x in losses)  # every row computed the same loss
    assert results["generate_same_ids"] is True
    assert results["rows"]["primitive"]["graph_nodes"] > results["rows"]["minigpt"]["graph_nodes"] > 0
    for row in rows:
        assert results["rows"][row]["median_ms"] > 0
    # the compiled row: the same loss, a compile time, the amortised step, its target
    assert "compiled_step / minigpt_step" in stdout and "compiled step <= 2.5x floor forward" in stdout
    compiled = results["compiled"]
    assert compiled["compile_seconds"] > 0 and compiled["graph_nodes"] > 0
    assert compiled["median_ms_amortised"] > results["rows"]["compiled"]["median_ms"]


@pytest.mark.slow
def test_bench_step_quick_without_micrograd():
    stdout, results = run_script("--no-micrograd")
    check_results(stdout, results, ["floor", "minigpt", "primitive", "compiled"])
    assert "skipped" in results["rows"]["micrograd"]["unavailable"]


@pytest.mark.slow
@needs_micrograd
def test_bench_step_quick_end_to_end():
    stdout, results = run_script()
    check_results(stdout, results, ["floor", "minigpt", "primitive", "compiled", "micrograd"])
    assert results["rows"]["micrograd"]["graph_nodes"] > results["rows"]["minigpt"]["graph_nodes"]


def test_bench_compile_small_end_to_end():
    proc = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "bench_compile.py"), "--small",
                           "--repeats", "1", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results["config"]["small"] is True and "graph / compiled" in proc.stdout
    check = results["check"]
    assert abs(check["compiled_loss"] - check["graph_loss"]) <= 1e-12
    assert check["max_grad_diff"] <= 1e-12
    # the traced graph is the step's graph (give or take the placeholder leaves of the token rows)
    assert results["compile"]["nodes"] >= results["graph_nodes"] > 0
    assert results["compile"]["source_lines"] > results["compile"]["nodes"] // 2
    assert all(results["steps"][k]["median_ms"] > 0 for k in ("graph", "compiled"))
    stages = results["memory"]
    assert list(stages)[:3] == ["start", "model built", "after compiling"]
    if stages["start"]["high_water_mb"] is not None:  # ru_maxrss only grows
        highs = [m["high_water_mb"] for m in stages.values()]
        assert highs == sorted(highs)


def test_train_names_compiled_path_follows_the_graph(tmp_path):
    # short names (2 or 3 tokens a step), so only two step programs get compiled
    path = tmp_path / "names.txt"
    path.write_text("ab\nba\nabc\ncab\nbca\naa\nbb\ncc\n")
    graph_trainer, graph = train_names.run(str(path), steps=4, progress=False, compile=False)
    trainer, compiled = train_names.run(str(path), steps=4, progress=False, compile=True)
    assert train_names.compile_path(graph_trainer) == "graph"
    assert train_names.compile_path(trainer).startswith("compiled")
    assert len(compiled.losses) == len(graph.losses) == 4
    assert max(abs(a - b) for a, b in zip(compiled.losses, graph.losses)) <= 1e-12
    seconds = train_names.compile_seconds(trainer, compiled)
    assert seconds is None or 0 < seconds <= compiled.seconds
    assert trainer.bench_eval_seconds > 0
    # the floor: the plain-float forward pass over the run's own examples
    assert 0.0 < train_names.floor_seconds(trainer, 4, train_names.BATCH_SIZE, 0) < compiled.seconds


def test_train_names_dot_floor_counts_each_multiply_add():
    from minigpt.gpt import MiniGPT
    config = MiniGPT(5, 4, 2, 1, 3).config
    d, ff, V = config.d_model, config.d_ff, config.vocab_size
    weights = d * 3 * d + d * d + d * ff + ff * d + d * V
    counts = train_names.dot_counts(config, [1], 1)
    # one token: each weight three times (y = Wx, x += W^T G, W += G x), and the one
    # score (d/h per head) and output (1 per feature) forward and backward
    assert sum(n * k for n, k in counts.items()) == 3 * weights + 2 * d + 2 * d
    assert train_names.dot_floor_seconds({4: 10}) > 0.0
