"""The command line: train, sample and demo work, and bad input is a one-line error."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from minigpt.cli import main

NAMES = "emma\nolivia\nava\nisabella\nsophia\nmia\namelia\nharper\nevelyn\nabigail\nella\naria\n"


@pytest.fixture(autouse=True)
def graph_path_by_default(monkeypatch):
    """These tests train a few steps each, too few to repay compiling a program per
    sequence length (about 0.5 s a run): their runs take the graph path unless they
    ask otherwise. tests/test_train_compile.py runs the command with compiling on."""
    import minigpt.run
    monkeypatch.setitem(minigpt.run.DEFAULTS, "compile", False)


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


def test_demo_runs_briefly(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative --out, as the default `out`
    code, out, err = run_cli(capsys, "demo", "--steps", "3", "--documents", "40", "--samples", "2",
                             "--out", "out", "--no-progress")
    assert code == 0, err
    assert "before training" in out and "after training" in out
    assert out.count("'") >= 10  # predictions are quoted tokens
    assert sorted(name for name in os.listdir(tmp_path / "out") if name.startswith("demo-")
                  and not name.startswith("demo-graph")) == ["demo-checkpoint.json", "demo-metrics.jsonl"]
    assert len(open(tmp_path / "out" / "demo-metrics.jsonl").read().splitlines()) == 3


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


# ---- issue 11: where a resumed run writes, what the demo keeps, sampling, errors, progress --------
def test_resume_from_another_folder_continues_in_the_checkpoints_folder(capsys, tmp_path, monkeypatch):
    """Started in one folder with a relative --data path, resumed from another folder
    without --out: the run continues in its own folder and finds its data."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "names.txt").write_text(NAMES, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "a")
    assert train_small(capsys, "names.txt", "run")[0] == 0
    monkeypatch.chdir(tmp_path / "b")
    code, out, err = run_cli(capsys, "train", "--resume", "../a/run/checkpoint.json", "--steps", "6",
                             "--no-progress")
    assert code == 0, err
    assert os.listdir(tmp_path / "b") == []  # no runs/latest here
    assert json.load(open(tmp_path / "a" / "run" / "checkpoint.json"))["step"] == 6
    assert len(open(tmp_path / "a" / "run" / "metrics.jsonl").read().splitlines()) == 6


def test_a_data_path_that_no_longer_resolves_says_how_to_give_it(capsys, names_file, tmp_path):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    data = json.load(open(ckpt))
    data["train"]["data"] = "../gone/data/names.txt"  # relative, as older versions stored it
    with open(ckpt, "w") as f:
        json.dump(data, f)
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--no-progress")
    one_line_error(code, err, "no such file: ../gone/data/names.txt", "--data")
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--data", names_file, "--no-progress")
    assert code == 0, err


def demo_args(out_dir, steps):
    return ["demo", "--steps", str(steps), "--documents", "40", "--samples", "0", "--d-model", "8",
            "--out", str(out_dir), "--no-progress"]


def test_an_interrupted_demo_says_so_and_keeps_the_previous_demo(capsys, tmp_path):
    out_dir = tmp_path / "out"
    assert run_cli(capsys, *demo_args(out_dir, 6))[0] == 0
    before = {name: (out_dir / name).read_bytes() for name in ("demo-checkpoint.json", "demo-metrics.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "minigpt", *demo_args(out_dir, 100000)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = out_dir / "demo-metrics.jsonl.partial"
    for _ in range(6000):  # up to 60 s for 3 steps
        if partial.exists() and partial.read_bytes().count(b"\n") >= 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "demo stopped by SIGINT at step" in err and "of 100000" in err and "kept the previous" in err
    assert "keeping the previous demo's files" in err and "saving" not in err
    assert "Traceback" not in err and "Trained" not in out and "Checkpoint:" not in out
    assert {name: (out_dir / name).read_bytes() for name in before} == before
    assert not partial.exists()


def test_sampling_stops_at_the_end_of_a_name(capsys, names_file, tmp_path, monkeypatch):
    from minigpt.gpt import MiniGPT
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    calls = []
    forward = MiniGPT.forward
    monkeypatch.setattr(MiniGPT, "forward", lambda self, ids: calls.append(1) or forward(self, ids))
    code, out, err = run_cli(capsys, "sample", "--checkpoint", ckpt, "--num", "5", "--max-tokens", "200",
                             "--seed", "3")
    assert code == 0, err
    assert len(out.splitlines()) == 5
    assert len(calls) < 400  # 1,000 without stopping: each name ends at its first <bos>


def read_only_folder(tmp_path, monkeypatch):
    """A folder on a read-only file system: a real read-only tmpfs where the machine
    allows mounting one, else writes made to fail with EROFS."""
    import errno
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode == 0:
        return folder, lambda: subprocess.run(["umount", str(folder)], check=False)
    real_makedirs = os.makedirs

    def makedirs(path, *a, **kw):
        if str(path).startswith(str(folder) + os.sep):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_makedirs(path, *a, **kw)
    monkeypatch.setattr(os, "makedirs", makedirs)
    return folder, lambda: None


def test_output_folders_that_cannot_be_used_are_one_line_errors(capsys, names_file, tmp_path, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = train_small(capsys, names_file, str(a_file))
    one_line_error(code, err, "is a file, not a folder")
    code, _, err = train_small(capsys, names_file, str(a_file / "run"))
    one_line_error(code, err, "cannot write to", "Not a directory")
    (tmp_path / "m" / "metrics.jsonl").mkdir(parents=True)
    code, _, err = train_small(capsys, names_file, str(tmp_path / "m"))
    one_line_error(code, err, "metrics.jsonl", "Is a directory")
    (tmp_path / "c" / "checkpoint.json").mkdir(parents=True)
    code, _, err = train_small(capsys, names_file, str(tmp_path / "c"))
    one_line_error(code, err, "checkpoint.json is a directory")
    folder, cleanup = read_only_folder(tmp_path, monkeypatch)
    try:
        code, _, err = train_small(capsys, names_file, str(folder / "run"))
        one_line_error(code, err, "Read-only file system")
    finally:
        cleanup()
    code, _, err = run_cli(capsys, "graph", "--out", str(tmp_path))
    one_line_error(code, err)


@pytest.mark.parametrize("argv, words", [
    (["train", "--data", "builtin", "--beta1", "1.5"], ["betas", "1.5"]),
    (["train", "--data", "builtin", "--beta2", "nan"], ["betas", "nan"]),
    (["demo", "--heads", "3"], ["divisible"]),
    (["demo", "--d-model", "4", "--heads", "4"], ["even head dim"]),
])
def test_bad_options_are_one_line_errors(capsys, tmp_path, argv, words):
    code, _, err = run_cli(capsys, *argv, "--out", str(tmp_path / "run"), "--no-progress")
    one_line_error(code, err, *words)


def damage(section, key, value):
    """Set checkpoint[section][key] (key None: the section itself) to value."""
    def change(data):
        if key is None:
            data[section] = value
        elif value is KeyError:
            del data[section][key]
        else:
            data[section][key] = value
    return change


def damage_list(key, change):
    return lambda data: change(data["optimizer"][key])


@pytest.mark.parametrize("change, words", [
    (damage("optimizer", "lr", KeyError), ["no 'lr'"]),
    (damage_list("m", list.pop), ["'m' has"]),
    (damage_list("m", lambda m: m.__setitem__(0, "x")), ["'x'"]),
    (damage("optimizer", "betas", [0.9]), ["betas"]),
    (damage("optimizer", "steps", 7), ["optimizer state is at step 7"]),
    (damage("train", "config", [1]), ["config is a list"]),
    (damage("train", "data", 5), ["data is 5"]),
    (damage("train", "val_fraction", "x"), ["val_fraction"]),
    (damage("train", "stream", "yes"), ["stream"]),
    (damage("train", "documents", -1), ["documents"]),
    (lambda data: data["train"]["config"].__setitem__("seed", "x"), ["seed"]),
    (damage("train", None, [1]), ["'train' section"]),
    (damage("optimizer", None, [1]), ["'optimizer' section"]),
], ids=["no-lr", "m-short", "m-string", "betas-one", "steps-ahead", "config-list", "data-int",
        "val_fraction-str", "stream-str", "documents-negative", "seed-str", "train-list", "optimizer-list"])
def test_a_damaged_checkpoint_is_refused_in_one_line(capsys, names_file, tmp_path, change, words):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)
    data = json.load(open(ckpt))
    change(data)
    with open(ckpt, "w") as f:
        json.dump(data, f)
    before = open(ckpt).read()
    code, _, err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--no-progress")
    one_line_error(code, err, *words)
    assert open(ckpt).read() == before


def test_version(capsys):
    from minigpt import __version__
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"minigpt {__version__}"


def test_without_a_terminal_training_prints_plain_progress_lines(names_file, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minigpt", "train", "--data", names_file, "--steps", "20",
                           "--d-model", "8", "--heads", "2", "--out", str(tmp_path / "run"), "--no-compile"],
                          capture_output=True, text=True, timeout=120)  # stderr is a pipe, not a terminal
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split()[1] for line in lines] == [f"{s}/20" for s in range(2, 21, 2)]
    assert all(line.startswith("step ") and "loss" in line and "\r" not in line for line in lines)
    quiet = subprocess.run([sys.executable, "-m", "minigpt", "train", "--data", names_file, "--steps", "2",
                            "--out", str(tmp_path / "quiet"), "--no-progress", "--no-compile"], capture_output=True,
                           text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""


# ---- issue 18: the command line's rough edges -----------------------------------------------
def test_a_data_file_named_names_that_is_not_there_points_to_data_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--data", "names.txt", "--steps", "1")
    one_line_error(code, err, "no such file: names.txt", "--data names")
    code, _, err = run_cli(capsys, "train", "--data", "book.txt", "--steps", "1")
    one_line_error(code, err, "no such file: book.txt")
    assert "--data names" not in err


def test_a_prompt_with_punctuation_attached_to_a_word_says_how_to_write_it(capsys, tmp_path):
    assert run_cli(capsys, "train", "--data", "builtin", "--documents", "30", "--steps", "1", "--d-model", "8",
                   "--heads", "2", "--out", str(tmp_path), "--no-progress")[0] == 0
    code, _, err = run_cli(capsys, "sample", "--checkpoint", str(tmp_path / "checkpoint.json"),
                           "--prompt", "I work, you work, he")
    one_line_error(code, err, "'work,'", "punctuation is a token of its own", "'I work , you work , he'")


def test_a_prompt_longer_than_the_context_is_said_to_be_cropped(capsys, names_file, tmp_path):
    out_dir, ckpt = small_run(capsys, names_file, tmp_path)  # context 8
    code, out, err = run_cli(capsys, "sample", "--checkpoint", ckpt, "--prompt", "emmaolivia", "--num", "1",
                             "--max-tokens", "2", "--seed", "0")
    assert code == 0 and out.startswith("emmaolivia")
    assert "the prompt is 11 tokens (with <bos>), longer than the model's context of 8" in err
    assert "'maolivia'" in err  # the part the model reads
    code, out, err = run_cli(capsys, "sample", "--checkpoint", ckpt, "--prompt", "emmaoli", "--num", "1",
                             "--max-tokens", "2", "--seed", "0")
    assert code == 0 and err == ""


def test_a_resumed_run_reports_the_steps_it_ran_and_the_whole_run(capsys, names_file, tmp_path):
    import re
    out_dir = str(tmp_path / "run")
    code, out, err = train_small(capsys, names_file, out_dir)
    first = [line for line in out.splitlines() if " steps in " in line]
    assert len(first) == 1 and first[0].startswith("4 steps in ") and "the run:" not in out
    code, out, err = run_cli(capsys, "train", "--resume", os.path.join(out_dir, "checkpoint.json"), "--steps", "6",
                             "--no-progress")
    assert code == 0, err
    summary = [line for line in out.splitlines() if " steps in " in line]
    assert len(summary) == 1 and summary[0].startswith("2 steps in "), out
    assert "(steps 5-6); the run: 6 steps in " in summary[0]
    seconds = json.load(open(os.path.join(out_dir, "checkpoint.json")))["train"]["seconds"]
    assert summary[0].endswith(f"the run: 6 steps in {seconds:.1f} s")
    part1, part2, total = (float(x) for x in re.findall(r"steps in ([0-9.]+) s", first[0] + summary[0]))
    assert abs(part1 + part2 - total) <= 0.11  # the parts add up to the whole (each rounded to 0.1 s)


def test_train_ends_with_a_sample_command_that_works(capsys, names_file, tmp_path):
    import shlex
    out_dir = str(tmp_path / "run dir")  # a space: the command must quote it
    code, out, err = train_small(capsys, names_file, out_dir)
    assert code == 0, err
    tries = [line for line in out.splitlines() if line.startswith("try: minigpt sample --checkpoint")]
    assert len(tries) == 1, out
    argv = shlex.split(tries[0][len("try: minigpt "):])
    assert argv[argv.index("--checkpoint") + 1] == os.path.join(out_dir, "checkpoint.json")
    assert "--prompt" in argv
    code, out, err = run_cli(capsys, *argv, "--num", "1", "--max-tokens", "3")
    assert code == 0 and out.strip(), err


def test_a_folder_named_minigpt_that_hides_the_package_is_named(capsys, tmp_path, monkeypatch):
    import types
    shadow = tmp_path / "minigpt"
    shadow.mkdir()
    namespace = types.ModuleType("minigpt")  # what Python makes of a folder without __init__.py
    namespace.__path__ = [str(shadow)]
    monkeypatch.setitem(sys.modules, "minigpt", namespace)
    code, _, err = run_cli(capsys, "--version")
    monkeypatch.undo()
    one_line_error(code, err, f"the folder {shadow} hides the minigpt package", "run minigpt from another folder")


def test_python_dash_m_in_the_folder_above_a_clone(tmp_path):
    """The real thing: `python -m minigpt` where ./minigpt is a folder without
    __init__.py. An editable install finds minigpt's modules, not the package: the
    command names the folder. An ordinary install finds the package: it just works."""
    (tmp_path / "minigpt").mkdir()
    probe = subprocess.run([sys.executable, "-c", "import minigpt; print(getattr(minigpt, '__file__', None))"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    shadowed = probe.stdout.strip() == "None"
    result = subprocess.run([sys.executable, "-m", "minigpt", "--version"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    if shadowed:
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0 and str(tmp_path / "minigpt") in result.stderr
    else:
        assert result.returncode == 0 and result.stdout.startswith("minigpt "), result.stderr


def ignored_by_the_repository(name):
    """Whether the repository's .gitignore ignores a file `name` in its top folder
    (the patterns used there: `name`, `/name`, `*.ext`, `/*.ext`, `folder/`)."""
    import fnmatch
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    patterns = [line.strip() for line in open(os.path.join(root, ".gitignore"), encoding="utf-8")]
    return any(fnmatch.fnmatch(name, p.lstrip("/")) for p in patterns if p and not p.startswith(("#", "!"))
               and not p.endswith("/") and "/" not in p.lstrip("/"))


def test_the_pictures_graph_writes_by_default_are_ignored_by_git(capsys, tmp_path, monkeypatch):
    from minigpt.example_graphs import EXAMPLES
    monkeypatch.chdir(tmp_path)
    for what in ("expr", "neuron"):
        run_cli(capsys, "graph", "--what", what)  # an SVG, or without a renderer the .dot source
    written = os.listdir(tmp_path)
    assert written and all(ignored_by_the_repository(name) for name in written), written
    for what in EXAMPLES:
        for suffix in (".svg", ".dot", ".png", ".html"):
            assert ignored_by_the_repository(what + suffix)
    assert not ignored_by_the_repository("setup.cfg")


def test_graph_out_that_is_a_folder_or_below_a_file_is_a_one_line_error(capsys, tmp_path):
    (tmp_path / "d.dot").mkdir()
    code, _, err = run_cli(capsys, "graph", "--out", str(tmp_path / "d.dot"))
    one_line_error(code, err, "d.dot is a folder", os.path.join(str(tmp_path / "d.dot"), "expr.svg"))
    (tmp_path / "a_file").write_text("x")
    for out in ("a_file/x.svg", "a_file/deeper/x.dot"):
        code, _, err = run_cli(capsys, "graph", "--out", str(tmp_path / out))
        one_line_error(code, err, "a_file is a file, not a folder")
    assert (tmp_path / "a_file").read_text() == "x"
