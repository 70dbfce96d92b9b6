"""The trainer's compiled step (`TrainConfig(compile=True)`, the default): the same
training as the graph's to rounding, one program per sequence length, its flag on the
command line, its time in the progress line, the metrics log and the summary."""
import json
import os
import random

import pytest

import minigpt.compile as compile_module
import minigpt.train
from minigpt.checkpoint import load_checkpoint
from minigpt.gpt import MiniGPT, MiniGPTConfig
from minigpt.runlog import ProgressLines, show_step
from minigpt.tokenizers import CharTokenizer
from minigpt.train import TextData, TrainConfig, Trainer
from test_cli import names_file, run_cli  # noqa: F401 (names_file is a fixture)

DOCS = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail", "ella",
        "aria", "lu", "jo"]


@pytest.fixture(autouse=True)
def compiling_by_default(monkeypatch):
    """The command line and start_run compile by default; other tests' fixtures may set
    the run's default to the graph for speed, so this module sets it back."""
    import minigpt.run
    monkeypatch.setitem(minigpt.run.DEFAULTS, "compile", minigpt.run.TRAIN_DEFAULTS["compile"])


def trainer(compile, steps=200, batch_size=2, seed=4):
    """A tiny model (d_model 8, context 8: lengths 3..8 occur) and its Trainer, the
    weights and the data order the same for both values of `compile`."""
    tok = CharTokenizer.from_documents(DOCS)
    model = MiniGPT(MiniGPTConfig(8, 2, 1, 16, tok.vocab_size, 8), rng=random.Random(seed))
    data = TextData.from_documents(DOCS, tok, val_fraction=0.0, seed=seed)
    config = TrainConfig(steps=steps, lr=2e-2, eval_every=0, batch_size=batch_size, seed=seed, compile=compile)
    return Trainer(model, tok, data, config)


def test_compiled_training_follows_the_graphs_to_rounding(steps=200):
    """200 steps, the learning rate decaying to 0 over them. Seen: 1.5e-12 relative in a
    loss, 5.8e-13 in a weight; the graph path itself, with one weight changed by one ulp,
    ends 3.9e-13 away. (Over a 2,000-step schedule, lr 0.02 stays high and the dynamics
    amplify any rounding difference, the graph's own included: ~1e-5 by step 200 and
    O(1) by step 300, so a longer run can only be compared to the same run.)"""
    runs = {}
    for compile in (False, True):
        t = trainer(compile, steps=steps)
        result = t.run(progress=False)
        runs[compile] = (result.losses, [p.data for p in t.model.parameters()], t)
    (graph_losses, graph_weights, graph), (losses, weights, compiled) = runs[False], runs[True]
    assert len(losses) == len(graph_losses) == steps
    loss_rel = max(abs(a - b) / abs(b) for a, b in zip(losses, graph_losses))
    weight_abs = max(abs(a - b) for a, b in zip(weights, graph_weights))
    print(f"\n{steps} steps, batch 2: largest relative loss difference {loss_rel:.2e}, largest weight "
          f"difference {weight_abs:.2e}")
    assert loss_rel <= 1e-9 and weight_abs <= 1e-9
    assert graph_losses[-1] < graph_losses[0] - 0.5  # it trained: the comparison is not of two idle runs
    assert graph.compile_seconds == 0.0 and graph.programs is None
    assert compiled.compile_seconds > 0.0 and compiled.programs is not None


def test_one_program_per_sequence_length_compiled_when_the_length_first_comes(monkeypatch):
    made = []

    class CountingStep(compile_module.CompiledStep):
        def __init__(self, model, seq_len, primitive=False, **kwargs):
            made.append(seq_len)
            super().__init__(model, seq_len, primitive, **kwargs)

    monkeypatch.setattr(compile_module, "CompiledStep", CountingStep)
    t = trainer(True, steps=12, batch_size=2)
    lengths = {len(t.data.example(i, t.config.seed, 8)[0]) for i in range(6 * 2)}
    first = t.run(progress=False, until=6)
    assert sorted(made) == sorted(lengths) and len(lengths) > 1
    assert sorted(t.programs.programs) == sorted(lengths)
    assert first.compiled == len(lengths) and first.compile_seconds == pytest.approx(t.compile_seconds)
    lengths |= {len(t.data.example(i, t.config.seed, 8)[0]) for i in range(6 * 2, 12 * 2)}
    second = t.run(progress=False)  # later steps reuse the programs; only new lengths are compiled
    assert sorted(made) == sorted(lengths) and second.compiled == len(lengths) - first.compiled


def test_a_batch_of_one_and_a_later_switch_to_the_graph():
    graph, compiled = trainer(False, steps=4, batch_size=1), trainer(True, steps=4, batch_size=1)
    for _ in range(2):
        assert compiled.train_step() == pytest.approx(graph.train_step(), rel=1e-12)
    compiled.config.compile = False  # the config is read at every step
    seconds = compiled.compile_seconds
    assert compiled.train_step()[0] == pytest.approx(graph.train_step()[0], rel=1e-9)
    assert compiled.compile_seconds == seconds


def test_the_compile_setting_is_checked_and_defaults_to_on_for_old_configs():
    import minigpt.run
    default = minigpt.train.COMPILE_BY_DEFAULT  # on CPython and on PyPy (as tapes there)
    assert default is True
    assert TrainConfig().compile is default and minigpt.run.TRAIN_DEFAULTS["compile"] is default
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="compile must be True or False"):
            TrainConfig(compile=bad)
    old = {k: v for k, v in TrainConfig(steps=7).__dict__.items() if k != "compile"}
    assert TrainConfig.from_dict(old).compile is default
    with pytest.raises(ValueError, match="compile"):
        TrainConfig.from_dict({**old, "compile": "false"})


def test_the_progress_line_shows_the_compile_time(capsys):
    bar = ProgressLines(0, 2)
    record = {"tokens_per_s": 100.0}
    show_step(bar, 2.5, record, [], compile_seconds=1.23)
    show_step(bar, 2.4, record, [], compile_seconds=0.0)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("step 1/2  loss 2.500  tok/s 100  compile 1.2s")
    assert "compile" not in lines[1]


def train_args(out_dir, names, *extra):
    return ["train", "--data", names, "--steps", "4", "--d-model", "8", "--heads", "2", "--context", "8",
            "--eval-every", "0", "--out", out_dir, *extra]


def test_the_command_line_flag_reaches_the_run_and_the_summary_says_how_steps_ran(capsys, names_file, tmp_path):
    from minigpt.cli import build_parser
    parse = build_parser().parse_args
    assert parse(["train", "--compile"]).compile is True and parse(["train", "--no-compile"]).compile is False
    assert parse(["train"]).compile is None  # not given: the run's default, or the checkpoint's on resume

    out_dir = str(tmp_path / "run")
    code, out, err = run_cli(capsys, *train_args(out_dir, names_file, "--no-compile"))
    assert code == 0, err
    assert "graph path (--no-compile)" in out and "compiled" not in out
    assert load_checkpoint(os.path.join(out_dir, "checkpoint.json")).train_config.compile is False
    records = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]
    assert not any("compile_s" in r for r in records)

    # a resume keeps the checkpoint's choice unless the flag is given, and notes a change
    code, out, _ = run_cli(capsys, "train", "--resume", os.path.join(out_dir, "checkpoint.json"), "--steps", "5",
                           "--no-progress")
    assert code == 0 and "graph path (--no-compile)" in out and "--compile" not in out.split("graph path")[0]
    code, out, err = run_cli(capsys, "train", "--resume", os.path.join(out_dir, "checkpoint.json"), "--steps", "8",
                             "--compile", "--no-progress")
    assert code == 0, err
    assert "continuing with --steps 8, --compile from step 5 (the checkpoint had --steps 5, --no-compile)" in out
    programs = [line for line in out.splitlines() if line.startswith("compiled ")]
    assert len(programs) == 1 and " step program" in programs[0] and programs[0].split()[1].isdigit()
    assert load_checkpoint(os.path.join(out_dir, "checkpoint.json")).train_config.compile is True
    records = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]
    compiled_at = [r["step"] for r in records if "compile_s" in r]
    assert compiled_at and min(compiled_at) == 6  # the first step of the compiled part compiles
    assert int(programs[0].split()[1]) >= len(compiled_at)  # a step may compile two lengths (batches)


def test_a_compiled_run_shows_it_in_the_progress_lines(capsys, names_file, tmp_path):
    out_dir = str(tmp_path / "run")
    flag = [] if minigpt.train.COMPILE_BY_DEFAULT else ["--compile"]   # the default
    code, out, err = run_cli(capsys, *train_args(out_dir, names_file), *flag)  # stderr is not a terminal: lines
    assert code == 0, err
    summary = [line for line in out.splitlines() if line.startswith("compiled ")]
    n, seconds = int(summary[0].split()[1]), float(summary[0].split(" in ")[1].split()[0])
    records = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]
    assert sum(r.get("compile_s", 0.0) for r in records) == pytest.approx(seconds, abs=0.051)
    assert 1 <= n <= 4 and records[0]["compile_s"] > 0
    lines = err.splitlines()
    assert lines and all(" compile " in line and line.split(" compile ")[1].split()[0].endswith("s")
                         for line in lines), err
    assert load_checkpoint(os.path.join(out_dir, "checkpoint.json")).train_config.compile is True
