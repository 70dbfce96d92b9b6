"""minigpt.run from Python (as in a notebook): the same runs, refusals and notes as `minigpt train`."""
import json
import os
import random

import pytest

from minigpt.checkpoint import load_checkpoint, save_checkpoint
from minigpt.cli import main
from minigpt.gpt import MiniGPT
from minigpt.run import DEFAULTS, RunError, SettingChangeError, resume_run, start_run
from minigpt.train import TrainConfig
from test_cli import NAMES, one_line_error, run_cli

# a few steps: the graph path (compiling a program per length would take longer than the run)
SMALL = {"steps": 4, "d_model": 8, "n_heads": 2, "context_len": 8, "eval_every": 2, "schedule": "constant",
         "compile": False}
SMALL_CLI = ["--steps", "4", "--d-model", "8", "--heads", "2", "--context", "8", "--eval-every", "2",
             "--schedule", "constant", "--no-progress", "--no-compile"]


@pytest.fixture
def names_file(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text(NAMES, encoding="utf-8")
    return str(path)


def python_run(names_file, tmp_path, name="py"):
    out = str(tmp_path / name)
    result = start_run(names_file, out=out, **SMALL).train()
    assert result.step == 4 and result.error is None
    return os.path.join(out, "checkpoint.json")


def test_a_python_run_and_resume_is_the_command_lines_run(names_file, tmp_path):
    ckpt = python_run(names_file, tmp_path)
    run = resume_run(ckpt, steps=6)
    assert run.step == 4 and run.notes == ["continuing with steps=6 from step 4 (the checkpoint had steps=4)"]
    assert run.train().step == 6
    cli = str(tmp_path / "cli")
    assert main(["train", "--data", names_file, *SMALL_CLI, "--out", cli]) == 0
    assert main(["train", "--resume", os.path.join(cli, "checkpoint.json"), "--steps", "6", "--no-progress"]) == 0
    py_ckpt, cli_ckpt = json.load(open(ckpt)), json.load(open(os.path.join(cli, "checkpoint.json")))
    for section in ("weights", "optimizer", "step", "model_config", "tokenizer"):
        assert py_ckpt[section] == cli_ckpt[section], section
    assert {k: v for k, v in py_ckpt["train"].items() if k != "seconds"} == \
        {k: v for k, v in cli_ckpt["train"].items() if k != "seconds"}


# the CLI's refusals (tests/test_cli.py), as settings
REFUSED = [("val_fraction", 0.5, "--val-fraction"), ("seed", 3, "--seed"), ("d_model", 16, "--d-model"),
           ("context_len", 4, "--context"), ("stream", True, "--stream"), ("tokenizer", "word", "--tokenizer"),
           ("tie_weights", False, "--untied")]


@pytest.mark.parametrize("name, value, option", REFUSED, ids=[r[0] for r in REFUSED])
def test_python_resume_refuses_what_the_command_line_refuses(capsys, names_file, tmp_path, name, value, option):
    ckpt = python_run(names_file, tmp_path)
    before = open(ckpt).read()
    with pytest.raises(SettingChangeError) as refused:
        resume_run(ckpt, steps=6, **{name: value})
    err = refused.value
    assert (err.name, err.given) == (name, value) and err.saved == {**DEFAULTS, **SMALL}[name]
    assert f"{name}={value!r} would change the run" in str(err) and err.reason in str(err)
    argv = [option] if isinstance(value, bool) else [option, str(value)]
    code, _, cli_err = run_cli(capsys, "train", "--resume", ckpt, "--steps", "6", "--no-progress", *argv)
    one_line_error(code, cli_err, f"{' '.join(argv)} would change the run", err.reason)
    assert open(ckpt).read() == before
    assert resume_run(ckpt, **{name: err.saved}).notes == []  # the run's own value is no change


def test_python_resume_applies_and_notes_what_may_change(names_file, tmp_path):
    ckpt = python_run(names_file, tmp_path)
    run = resume_run(ckpt, steps=7, lr=0.5, betas=[0.9, 0.95], eval_every=1, batch_size=None)
    assert run.notes == ["continuing with steps=7, lr=0.5, betas=(0.9, 0.95), eval_every=1 from step 4 "
                         "(the checkpoint had steps=4, lr=0.01, betas=(0.85, 0.99), eval_every=2)"]
    run.train()
    config = load_checkpoint(ckpt).train_config
    assert (config.steps, config.lr, config.betas, config.eval_every) == (7, 0.5, (0.9, 0.95), 1)


def test_python_resume_keeps_settings_the_command_line_has_no_option_for(names_file, tmp_path):
    out = str(tmp_path / "run")
    start_run(names_file, out=out, **SMALL, batch_size=2, weight_decay=0.1, eval_docs=3).train()
    run = resume_run(os.path.join(out, "checkpoint.json"), steps=6)
    assert (run.trainer.config.batch_size, run.trainer.config.weight_decay, run.trainer.config.eval_docs) == (2, 0.1, 3)
    with pytest.raises(SettingChangeError, match="batch_size=1 would change the run"):
        resume_run(os.path.join(out, "checkpoint.json"), batch_size=1)


def test_python_resume_refuses_other_text_and_takes_the_same_text_elsewhere(names_file, tmp_path):
    ckpt = python_run(names_file, tmp_path)
    with open(names_file, "w", encoding="utf-8") as f:
        f.write("\n".join(reversed(NAMES.split())) + "\n")
    with pytest.raises(RunError, match="names.txt is not the text this run was trained on"):
        resume_run(ckpt, steps=6)
    moved = tmp_path / "moved.txt"
    moved.write_text(NAMES, encoding="utf-8")
    run = resume_run(ckpt, steps=6, data=str(moved))
    assert any("the same text as" in note for note in run.notes)


def test_a_new_python_run_never_overwrites_a_run(names_file, tmp_path):
    ckpt = python_run(names_file, tmp_path)
    before = open(ckpt).read()
    with pytest.raises(RunError, match=r"already holds a run at step 4; continue it with resume_run\("):
        start_run(names_file, out=str(tmp_path / "py"), **SMALL)
    assert open(ckpt).read() == before


def test_a_run_on_a_list_of_documents_in_memory_or_in_a_folder(tmp_path):
    documents = NAMES.split()
    result = start_run(documents, **SMALL).train()  # no folder: nothing written
    assert result.step == 4 and result.checkpoint is None and os.listdir(tmp_path) == []
    out = str(tmp_path / "run")
    start_run(documents, out=out, **SMALL).train()
    ckpt = os.path.join(out, "checkpoint.json")
    with pytest.raises(RunError, match="does not say what it was trained on: give data"):
        resume_run(ckpt, steps=6)
    with pytest.raises(RunError, match="not the text this run was trained on"):
        resume_run(ckpt, steps=6, data=documents[1:])
    assert resume_run(ckpt, steps=6, data=documents).train().step == 6


def test_settings_have_one_name_and_one_default(names_file, tmp_path):
    assert {name: DEFAULTS[name] for name in TrainConfig.__dataclass_fields__} == vars(TrainConfig())
    with pytest.raises(TypeError, match="'heads', not a setting"):
        start_run(names_file, heads=2)
    with pytest.raises(RunError, match="divisible"):
        start_run(names_file, d_model=10, n_heads=4)


def test_the_weights_follow_the_seed_without_touching_the_global_random_state(names_file):
    random.seed(11)
    state = random.getstate()
    run = start_run(names_file, seed=5, d_model=8, n_heads=2)
    assert random.getstate() == state
    same = MiniGPT(run.model.config, rng=random.Random(5))
    assert [p.data for p in run.model.parameters()] == [p.data for p in same.parameters()]


def test_the_checkpoint_checks_its_train_section(tmp_path):
    run = start_run(NAMES.split(), d_model=8, n_heads=2)
    with pytest.raises(ValueError, match="stream is 'yes'"):
        save_checkpoint(str(tmp_path / "c.json"), run.model, run.tokenizer, train={"stream": "yes"})
    assert not os.path.exists(tmp_path / "c.json")
