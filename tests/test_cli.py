"""The command line: train, sample and demo work, and bad input is a one-line error."""
import json
import os
import subprocess
import sys

import pytest

from minigpt.cli import main

NAMES = "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\nevelyn\nabigail\nella\naria\n"


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text(NAMES, encoding="utf-8")
    return str(path)


def run_cli(capsys, *argv):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own exits (--help, usage errors)
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def train_small(capsys, names_file, out_dir, *extra):
    return run_cli(capsys, "train", "--data", names_file, "--steps", "4", "--d-model", "8", "--heads", "2",
                   "--context", "8", "--eval-every", "2", "--out", out_dir, "--no-progress", *extra)


def test_train_then_sample(capsys, names_file, tmp_path):
    out_dir = str(tmp_path / "run")
    code, out, err = train_small(capsys, names_file, out_dir)
    assert code == 0, err
    assert "checkpoint:" in out and os.path.exists(os.path.join(out_dir, "checkpoint.json"))
    lines = open(os.path.join(out_dir, "metrics.jsonl")).read().splitlines()
    assert len(lines) == 4 and "eval_loss" in json.loads(lines[1])
    code, out, err = run_cli(capsys, "sample", "--checkpoint", os.path.join(out_dir, "checkpoint.json"),
                             "--prompt", "em", "--num", "3", "--max-tokens", "5", "--seed", "1")
    assert code == 0, err
    samples = out.splitlines()
    assert len(samples) == 3 and all(s.startswith("em") for s in samples)
    # greedy sampling is deterministic
    _, a, _ = run_cli(capsys, "sample", "--checkpoint", os.path.join(out_dir, "checkpoint.json"),
                      "--temperature", "0", "--num", "2", "--max-tokens", "5")
    assert len(set(a.splitlines())) == 1


def test_resume_continues_to_more_steps(capsys, names_file, tmp_path):
    out_dir = str(tmp_path / "run")
    train_small(capsys, names_file, out_dir)
    ckpt = os.path.join(out_dir, "checkpoint.json")
    code, out, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--out", out_dir, "--no-progress")
    assert code == 0, err
    assert "steps 4 -> 6" in out
    assert json.load(open(ckpt))["step"] == 6
    assert len(open(os.path.join(out_dir, "metrics.jsonl")).read().splitlines()) == 6


def test_builtin_corpus_with_word_tokens(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--data", "builtin", "--documents", "30", "--steps", "2",
                             "--d-model", "8", "--heads", "2", "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    code, out, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "checkpoint.json"),
                             "--prompt", "I work , you work , he", "--num", "1", "--max-tokens", "3")
    assert code == 0 and out.startswith("I work , you work , he")


def one_line_error(code, err, *words):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_missing_and_empty_files(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--data", str(tmp_path / "nope.txt"), "--out", str(tmp_path))
    one_line_error(code, err, "no such file", "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "train", "--data", str(empty), "--out", str(tmp_path))
    one_line_error(code, err, "empty.txt", "no text")
    code, _, err = run_cli(capsys, "train", "--out", str(tmp_path))
    one_line_error(code, err, "--data")


def test_unknown_options_and_bad_values(capsys):
    code, _, err = run_cli(capsys, "train", "--bogus")
    one_line_error(code, err, "minigpt train: error: unrecognized arguments: --bogus", "minigpt train --help")
    code, _, err = run_cli(capsys, "sample", "--checkpoint", "x", "--temperature", "-1")
    one_line_error(code, err, "temperature")
    code, _, err = run_cli(capsys, "train", "--data", "builtin", "--steps", "0")
    one_line_error(code, err, "positive integer")
    code, _, err = run_cli(capsys, "frobnicate")
    one_line_error(code, err, "frobnicate")


def test_bad_config_is_a_one_line_error(capsys, names_file, tmp_path):
    code, _, err = run_cli(capsys, "train", "--data", names_file, "--d-model", "10", "--heads", "4",
                           "--out", str(tmp_path))
    one_line_error(code, err, "divisible")


def test_prompt_with_unseen_characters(capsys, names_file, tmp_path):
    out_dir = str(tmp_path / "run")
    train_small(capsys, names_file, out_dir)
    code, _, err = run_cli(capsys, "sample", "--checkpoint", os.path.join(out_dir, "checkpoint.json"),
                           "--prompt", "Zoë!")
    one_line_error(code, err, "prompt", "'Z'")


def test_checkpoint_that_is_not_one(capsys, tmp_path, names_file):
    code, _, err = run_cli(capsys, "sample", "--checkpoint", names_file)
    one_line_error(code, err, "not valid JSON")
    bogus = tmp_path / "other.json"
    bogus.write_text('{"weights": []}', encoding="utf-8")
    code, _, err = run_cli(capsys, "sample", "--checkpoint", str(bogus))
    one_line_error(code, err, "not a minigpt checkpoint")
    code, _, err = run_cli(capsys, "train", "--resume", str(bogus))
    one_line_error(code, err, "not a minigpt checkpoint")


def test_every_command_has_help(capsys):
    for command in ([], ["demo"], ["train"], ["sample"], ["graph"]):
        code, out, _ = run_cli(capsys, *command, "--help")
        assert code == 0 and "usage: minigpt" in out


def test_demo_runs_briefly(capsys, tmp_path):
    code, out, err = run_cli(capsys, "demo", "--steps", "3", "--documents", "40", "--samples", "2",
                             "--out", str(tmp_path), "--no-progress")
    assert code == 0, err
    assert "before training" in out and "after training" in out
    assert out.count("'") >= 10  # predictions are quoted tokens
    assert os.path.exists(tmp_path / "demo-checkpoint.json")


def test_python_dash_m_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minigpt", "sample", "--checkpoint", str(tmp_path / "x.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no such checkpoint" in result.stderr


def test_graph_command_writes_a_picture(capsys, tmp_path):
    from minigpt.viz import find_renderer
    out = tmp_path / "block.dot"
    code, stdout, err = run_cli(capsys, "graph", "--what", "block", "--out", str(out))
    assert code == 0, err
    assert "digraph" in out.read_text() and "blocks" not in stdout
    assert "cluster" in out.read_text() or "ln1" in out.read_text()
    if find_renderer():
        svg = tmp_path / "expr.svg"
        code, stdout, err = run_cli(capsys, "graph", "--what", "expr", "--out", str(svg))
        assert code == 0, err
        assert svg.read_text().lstrip().startswith("<?xml")
    code, _, err = run_cli(capsys, "graph", "--what", "model", "--full", "--out", str(tmp_path / "m.svg"))
    one_line_error(code, err, "depth")
    code, _, err = run_cli(capsys, "graph", "--out", str(tmp_path / "x.pdf"))
    one_line_error(code, err, "pdf")


def test_stream_context_longer_than_the_text_is_an_error(capsys, tmp_path):
    text = tmp_path / "book.txt"
    text.write_text("a short text to stream\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "train", "--data", str(text), "--stream", "--context", "500",
                           "--out", str(tmp_path))
    one_line_error(code, err, "--context 500 is longer than the training text")


# ---- resuming: the run it claims to be ------------------------------------------------------
def weights_of(out_dir):
    return json.load(open(os.path.join(out_dir, "checkpoint.json")))["weights"]


def small_run(capsys, names_file, tmp_path):
    """A 4-step run; returns (its folder, its checkpoint)."""
    out_dir = str(tmp_path / "run")
    train_small(capsys, names_file, out_dir)
    return out_dir, os.path.join(out_dir, "checkpoint.json")


def test_resume_restores_the_data_settings(capsys, tmp_path):
    """--documents, --seed and --val-fraction are not repeated on resume, yet the
    resumed run trains on the same data as one uninterrupted run."""
    run = ("--data", "builtin", "--documents", "40", "--seed", "3", "--val-fraction", "0.5", "--d-model", "8",
           "--heads", "2", "--schedule", "constant", "--eval-every", "0", "--no-progress")
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    assert run_cli(capsys, "train", *run, "--steps", "6", "--out", straight)[0] == 0
    assert run_cli(capsys, "train", *run, "--steps", "3", "--out", split)[0] == 0
    code, out, err = run_cli(capsys, "train", "--resume", os.path.join(split, "checkpoint.json"), "--steps", "6",
                             "--no-progress")
    assert code == 0, err
    assert weights_of(split) == weights_of(straight)


def test_resume_applies_and_reports_changed_run_options(capsys, names_file, tmp_path):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    code, out, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "7", "--lr", "0.5", "--schedule",
                             "constant", "--eval-every", "1", "--checkpoint-every", "1", "--no-progress")
    assert code == 0, err
    assert "continuing with --steps 7, --lr 0.5, --schedule constant, --eval-every 1, --checkpoint-every 1 " \
           "from step 4" in out
    config = json.load(open(ckpt))["train"]["config"]
    assert (config["lr"], config["schedule"], config["eval_every"], config["checkpoint_every"]) == \
        (0.5, "constant", 1, 1)
    records = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]
    assert [r["lr"] for r in records[4:]] == [0.5] * 3 and all("eval_loss" in r for r in records[4:])


@pytest.mark.parametrize("option", [["--val-fraction", "0.5"], ["--seed", "3"], ["--d-model", "16"],
                                    ["--context", "4"], ["--stream"], ["--tokenizer", "word"], ["--untied"]])
def test_resume_refuses_options_that_would_change_the_run(capsys, names_file, tmp_path, option):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    before = open(ckpt).read()
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--no-progress", *option)
    one_line_error(code, err, option[0], "would change the run")
    assert open(ckpt).read() == before
    # the same value as the run's is not a change
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "5", "--d-model", "8", "--seed", "0",
                           "--no-progress")
    assert code == 0, err


def test_resume_refuses_other_text_with_the_same_alphabet(capsys, names_file, tmp_path):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    with open(names_file, "w", encoding="utf-8") as f:
        f.write("\n".join(reversed(NAMES.split())) + "\n")  # the same characters, other documents
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--no-progress")
    one_line_error(code, err, "names.txt is not the text this run was trained on")
    moved = tmp_path / "moved.txt"
    moved.write_text(NAMES, encoding="utf-8")  # the run's text under another name is fine
    code, out, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--data", str(moved),
                             "--no-progress")
    assert code == 0 and "the same text as" in out, err


def test_a_new_run_never_overwrites_a_run(capsys, names_file, tmp_path):
    out_dir = str(tmp_path / "run")
    train_small(capsys, names_file, out_dir)
    before = open(os.path.join(out_dir, "checkpoint.json")).read()
    code, _, err = train_small(capsys, names_file, out_dir)
    one_line_error(code, err, "already holds a run at step 4", "--resume")
    assert open(os.path.join(out_dir, "checkpoint.json")).read() == before


def test_resume_of_a_checkpoint_from_before_the_settings_were_recorded(capsys, names_file, tmp_path):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    data = json.load(open(ckpt))
    data["train"] = {"data": names_file, "stream": False, "config": data["train"]["config"]}  # the old layout
    with open(ckpt, "w") as f:
        json.dump(data, f)
    code, out, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "5", "--no-progress")
    assert code == 0, err
    assert "assuming the run used --val-fraction 0.1" in out and "does not record a fingerprint" in out
    assert json.load(open(ckpt))["train"]["val_fraction"] == 0.1  # recorded from now on
