"""The trainer: data windows, determinism, exact resume, Ctrl-C, metrics, checkpoints."""
import json
import math
import random

import pytest

from minigpt.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minigpt.corpus import default_word_tokenizer, verb_grammar_corpus
from minigpt.gpt import MiniGPT, MiniGPTConfig
from minigpt.tokenizers import CharTokenizer
from minigpt.train import TextData, TrainConfig, Trainer, read_documents, sparkline

NAMES = ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper", "evelyn",
         "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila", "aria", "scarlett"]


def tiny_setup(seed=0, context=6):
    tok = CharTokenizer.from_documents(NAMES)
    random.seed(seed)
    model = MiniGPT(MiniGPTConfig(8, 2, 1, 16, tok.vocab_size, context))
    data = TextData.from_documents(NAMES, tok, val_fraction=0.2, seed=seed)
    return model, tok, data


# ---- config and data --------------------------------------------------------------------
def test_train_config_validation():
    for bad in (dict(steps=0), dict(lr=-1.0), dict(schedule="step"), dict(eval_every=-1),
                dict(steps=5, warmup_steps=5), dict(betas=(1.5, 0.9)), dict(seed="x"), dict(seed=True)):
        with pytest.raises(ValueError):
            TrainConfig(**bad)
    cfg = TrainConfig(steps=10, lr=1.0, warmup_steps=2)
    assert cfg.learning_rate(0) == pytest.approx(0.5) and cfg.learning_rate(10) == 0.0
    assert TrainConfig(steps=10, lr=1.0, schedule="constant").learning_rate(9) == 1.0


def test_examples_are_shifted_windows_and_deterministic():
    model, tok, data = tiny_setup(context=4)
    assert len(data.train) == 16 and len(data.val) == 4
    for step in range(40):
        x, y = data.example(step, seed=3, context_len=4)
        assert 1 <= len(x) <= 4 and len(x) == len(y)
        assert x[1:] == y[:-1]  # targets are inputs shifted by one
        assert data.example(step, seed=3, context_len=4) == (x, y)
    # one epoch visits every training document once
    firsts = {tuple(data.example(s, 1, 100)[0]) for s in range(16)}
    assert len(firsts) == 16
    assert [data.example(s, 1, 4) for s in range(10)] != [data.example(s, 2, 4) for s in range(10)]


def test_documents_are_framed_by_bos():
    tok = CharTokenizer.from_documents(["ab"])
    data = TextData.from_documents(["ab"], tok, val_fraction=0.0)
    assert data.train == [[tok.bos_id] + tok.encode("ab") + [tok.bos_id]]
    x, y = data.example(0, 0, 16)
    assert x == data.train[0][:-1] and y == data.train[0][1:]


def test_stream_mode_windows_cover_the_text():
    text = "the quick brown fox jumps over the lazy dog " * 5
    tok = CharTokenizer.from_text(text)
    data = TextData.from_documents([text], tok, val_fraction=0.1, stream=True)
    assert len(data.train) == 1 and data.stream
    x, y = data.example(7, 0, 10)
    assert len(x) == 10 and x[1:] == y[:-1]
    assert data.eval_examples(10, 3) and all(len(a) <= 10 for a, _ in data.eval_examples(10, 3))


def test_read_documents(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("anna\n\nbob\r\n  \ncarl", encoding="utf-8")
    assert read_documents(str(f)) == ["anna", "bob", "carl"]
    assert read_documents(str(f), stream=True) == ["anna\n\nbob\n  \ncarl"]  # universal newlines
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text"):
        read_documents(str(tmp_path / "empty.txt"))


def test_sparkline():
    line = sparkline([3.0, 2.0, 1.0], width=3)
    assert line[0] == "█" and line[-1] == "▁" and line[0] > line[1] > line[2]
    assert len(sparkline(list(range(500)), width=40)) == 40
    assert sparkline([]) == ""


# ---- training ---------------------------------------------------------------------------
def test_training_reduces_the_loss_and_logs_metrics(tmp_path):
    model, tok, data = tiny_setup()
    metrics = tmp_path / "m.jsonl"
    trainer = Trainer(model, tok, data, TrainConfig(steps=60, lr=2e-2, eval_every=20),
                      metrics_path=str(metrics))
    result = trainer.run(progress=False)
    assert result.step == 60 and len(result.losses) == 60 and not result.interrupted
    assert result.mean_loss(10) < result.losses[0]
    assert [s for s, _ in result.evals] == [20, 40, 60]
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert len(records) == 60 and records[0]["step"] == 1
    assert {"loss", "lr", "tokens_per_s", "time"} <= set(records[0])
    assert "eval_loss" in records[19] and "eval_loss" not in records[18]
    assert records[-1]["lr"] < records[0]["lr"]  # linear decay


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    config = TrainConfig(steps=8, lr=2e-2, eval_every=0, seed=5)
    model, tok, data = tiny_setup(seed=1)
    Trainer(model, tok, data, config).run(progress=False)
    straight = [p.data for p in model.parameters()]

    model, tok, data = tiny_setup(seed=1)
    first = Trainer(model, tok, data, config, checkpoint_path=str(tmp_path / "c.json"))
    first.run(progress=False, until=3)  # stop early, as if interrupted
    ckpt = load_checkpoint(str(tmp_path / "c.json"))
    assert ckpt.step == 3
    _, _, data2 = tiny_setup(seed=1)
    resumed = Trainer(ckpt.model, ckpt.tokenizer, data2, config, start_step=ckpt.step,
                      optimizer_state=ckpt.optimizer_state)
    resumed.run(progress=False)
    assert [p.data for p in ckpt.model.parameters()] == straight


def test_ctrl_c_stops_cleanly_and_saves(tmp_path):
    model, tok, data = tiny_setup()
    path = tmp_path / "ckpt.json"
    trainer = Trainer(model, tok, data, TrainConfig(steps=50, eval_every=0), checkpoint_path=str(path))
    real_step = trainer.train_step

    def step_then_interrupt():
        if trainer.step == 4:
            raise KeyboardInterrupt
        return real_step()
    trainer.train_step = step_then_interrupt
    result = trainer.run(progress=False)
    assert result.interrupted and result.step == 4 and result.checkpoint == str(path)
    assert load_checkpoint(str(path)).step == 4


def test_tokenizer_and_model_must_agree():
    model, tok, data = tiny_setup()
    with pytest.raises(ValueError, match="vocab_size"):
        Trainer(model, default_word_tokenizer(), data, TrainConfig(steps=1))


# ---- checkpoints ---------------------------------------------------------------------------
def saved(tmp_path, **kw):
    model, tok, _ = tiny_setup()
    path = str(tmp_path / "c.json")
    save_checkpoint(path, model, tok, step=7, **kw)
    return path, model, tok


def test_checkpoint_round_trip_is_exact(tmp_path):
    path, model, tok = saved(tmp_path, train={"data": "names"})
    ckpt = load_checkpoint(path)
    assert ckpt.step == 7 and ckpt.train == {"data": "names"}
    assert ckpt.tokenizer == tok and ckpt.model.config == model.config
    assert [p.data for p in ckpt.model.parameters()] == [p.data for p in model.parameters()]
    with open(path) as f:
        assert json.load(f)["format"] == "minigpt-checkpoint"


@pytest.mark.parametrize("damage, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "", "empty"),
    (lambda text: "\x00garbage{", "not valid JSON"),
    (lambda text: json.dumps({"hello": 1}), "not a minigpt checkpoint"),
    (lambda text: json.dumps([1, 2]), "not a minigpt checkpoint"),
    (lambda text: text.replace('"version": 1', '"version": 99'), "version 99"),
])
def test_damaged_checkpoints_are_clean_errors(tmp_path, damage, message):
    path, _, _ = saved(tmp_path)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(damage(text))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_mismatched_checkpoints_are_clean_errors(tmp_path):
    path, _, _ = saved(tmp_path)
    with open(path) as f:
        data = json.load(f)
    wrong_shape = json.loads(json.dumps(data))
    wrong_shape["weights"]["ln_f.gamma"] = [1.0]
    with open(path, "w") as f:
        json.dump(wrong_shape, f)
    with pytest.raises(CheckpointError, match="ln_f.gamma"):
        load_checkpoint(path)
    wrong_vocab = json.loads(json.dumps(data))
    wrong_vocab["model_config"]["vocab_size"] += 1
    with open(path, "w") as f:
        json.dump(wrong_vocab, f)
    with pytest.raises(CheckpointError, match="tokenizer has"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(str(tmp_path / "missing.json"))


def test_word_corpus_trains_the_locked_vocab_size():
    tok = default_word_tokenizer()
    assert tok.vocab_size <= 64
    docs = verb_grammar_corpus(20, seed=0)
    data = TextData.from_documents(docs, tok)
    x, y = data.example(0, 0, 32)
    assert len(x) == len(y) and math.isfinite(len(x))
