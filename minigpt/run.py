"""Training runs you can stop and resume safely, from Python or from the command line.

A run lives in a folder: `checkpoint.json` holds the model, the optimizer, the step and
every setting of the run (with a fingerprint of the text it trains on), and
`metrics.jsonl` one line per step. `start_run` begins a run and `resume_run`
continues one; both return a `Run`, whose `train()` trains (Ctrl-C stops after the
current step and saves). A resumed run is the run it claims to be: it restores every
setting, refuses a change that would make it another run (`SettingChangeError`),
applies and notes a change of the optimisation or the schedule, and refuses text
other than the text it was trained on. `minigpt train` is these two functions plus
its options and printing.

    from minigpt.run import start_run, resume_run

    run = start_run("names", out="runs/names", steps=300, d_model=16, n_heads=4)
    result = run.train()               # progress=True shows a bar
    print(result.step, result.mean_loss())

    # later, in this notebook or another one:
    run = resume_run("runs/names/checkpoint.json", steps=600)
    print(*run.notes, sep="\\n")        # continuing with steps=600 from step 300 (the checkpoint had steps=300)
    run.train()

    resume_run("runs/names/checkpoint.json", seed=3)
    # SettingChangeError: seed=3 would change the run: runs/names/checkpoint.json was trained
    # with seed=0, and it decides the data order and split; leave it out to continue the run, ...

Settings are named as in `MiniGPTConfig` (d_model, n_heads, n_layers, d_ff,
context_len, pos_encoding, tie_weights) and `TrainConfig` (steps, lr, betas, ...),
plus those of the data: tokenizer ('char' or 'word'), stream, val_fraction and, for
the built-in corpus, documents. `DEFAULTS` holds every default. The data is a UTF-8
text file (one document a line, or one stream), "names" (the 32,033 names shipped
with minigpt), "builtin" (the verb-grammar corpus, with its word vocabulary) or a
list of documents.

Every problem a user can cause (a missing file, a setting out of range, a folder in
the way) raises `RunError`, a ValueError with a one-line message.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import MISSING, asdict, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .checkpoint import Checkpoint, load_checkpoint, saved_step
from .corpus import NAMES_FILE, default_word_tokenizer, verb_grammar_corpus
from .gpt import MiniGPT, MiniGPTConfig
from .tokenizers import TOKENIZERS, CharTokenizer, Tokenizer, WordTokenizer
from .train import TextData, TrainConfig, Trainer, TrainResult, read_documents

__all__ = ["Run", "RunError", "SettingChangeError", "Spelling", "DEFAULTS", "FIXED_ON_RESUME",
           "CHANGEABLE_ON_RESUME", "start_run", "resume_run", "settings_of", "fingerprint"]

# ---- the settings: one name and one default each ---------------------------------------------
DATA_DEFAULTS = {"tokenizer": "char", "stream": False, "val_fraction": 0.1, "documents": 5000}
# MiniGPTConfig's fields but vocab_size (the tokenizer's); d_ff None is 4 * d_model
MODEL_DEFAULTS = {"d_model": 16, "n_heads": 4, "n_layers": 1, "d_ff": None, "context_len": 16,
                  **{f.name: f.default for f in fields(MiniGPTConfig) if f.default is not MISSING}}
TRAIN_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}
DEFAULTS = {**DATA_DEFAULTS, **MODEL_DEFAULTS, **TRAIN_DEFAULTS}

_ORDER = "it decides what each step trains on"
# Settings a resumed run must keep, with the reason: changing one would make it another run.
FIXED_ON_RESUME = {
    **dict.fromkeys(MODEL_DEFAULTS, "the model's shape is fixed by its weights"),
    "tokenizer": "the vocabulary is part of the model",
    "stream": _ORDER, "documents": _ORDER, "batch_size": _ORDER,
    "val_fraction": "it decides which documents are held out", "seed": "it decides the data order and split",
}
# Settings a resumed run may change: applied from the checkpoint's step on, and noted.
CHANGEABLE_ON_RESUME = tuple(name for name in TRAIN_DEFAULTS if name not in FIXED_ON_RESUME)

CHECKPOINT_FILE, METRICS_FILE = "checkpoint.json", "metrics.jsonl"


class RunError(ValueError):
    """A run cannot start or continue as asked; the message is one line that says why."""


class Spelling:
    """How messages write a setting (`lr=0.5`) and how to resume (`resume_run(...)`).

    Messages speak Python by default; minigpt's command line passes a spelling of its
    options (`--lr 0.5`, `--resume PATH`). `setting(name)` alone is the bare name."""

    def setting(self, name: str, value: Any = MISSING) -> str:
        return name if value is MISSING else f"{name}={value!r}"

    def resume(self, path: str) -> str:
        return f"resume_run({path!r})"


PYTHON = Spelling()


class SettingChangeError(RunError):
    """A setting given to `resume_run` that would make the checkpoint's run another
    run; `name`, `given`, `saved` and `reason` say which, and why."""

    def __init__(self, name: str, given: Any, saved: Any, reason: str, path: str, spelling: Spelling = PYTHON):
        self.name, self.given, self.saved, self.reason = name, given, saved, reason
        super().__init__(f"{spelling.setting(name, given)} would change the run: {path} was trained with "
                         f"{spelling.setting(name, saved)}, and {reason}; leave it out to continue the run, "
                         f"or start a new run in another {spelling.setting('out')} folder")


class Run:
    """A run ready to train: its settings, documents, model, tokenizer and Trainer.

    settings: every setting by name, with "data" and the data's fingerprint
    "data_sha256"; documents: the text it trains on; notes: lines saying what a
    resume assumed or changed (empty for a new run); trainer: the `Trainer`, whose
    `checkpoint_path` and `metrics_path` say where the run writes (None: nowhere).
    """

    def __init__(self, settings: Dict[str, Any], documents: List[str], trainer: Trainer, notes: List[str]):
        self.settings, self.documents, self.trainer, self.notes = settings, documents, trainer, notes

    @property
    def model(self) -> MiniGPT:
        return self.trainer.model

    @property
    def tokenizer(self) -> Tokenizer:
        return self.trainer.tokenizer

    @property
    def step(self) -> int:
        return self.trainer.step

    def train(self, progress=False) -> TrainResult:
        """Train up to the run's `steps` (see `Trainer.run`; progress: True for a bar,
        "lines" for plain lines on stderr, False for nothing)."""
        return self.trainer.run(progress=progress)

    def __repr__(self) -> str:
        return (f"Run(step {self.step} of {self.trainer.config.steps}, data {_data_name(self.settings['data'])}, "
                f"checkpoint {self.trainer.checkpoint_path})")


# ---- starting and resuming ------------------------------------------------------------------
def start_run(data: Union[str, Sequence[str]], out: Optional[str] = None, *,
              checkpoint: Optional[str] = CHECKPOINT_FILE, metrics: Optional[str] = METRICS_FILE,
              spelling: Spelling = PYTHON, **settings: Any) -> Run:
    """A new run on `data`: a fresh model (its weights drawn with `seed`) and a Trainer
    writing the files `checkpoint` and `metrics` (names; None: not written) into
    the folder `out` (None: no files at all).

    A setting left out (or None) takes its value from `DEFAULTS`. A folder that
    already holds a checkpoint is refused: a run is only ever replaced by itself,
    resumed. Raises RunError (one line) for bad data, settings or folders, TypeError
    for a name that is not a setting.
    """
    chosen = {**DEFAULTS, **_given(settings, "start_run")}
    chosen["data"] = data
    if data == "builtin":
        chosen["tokenizer"] = "word"  # the built-in corpus comes with its word vocabulary
    documents = _read_data(chosen, spelling)
    paths = _paths(out, checkpoint, metrics)
    if paths[0]:
        _refuse_to_overwrite(paths[0], None, spelling)
    config = _train_config(chosen)
    model, tokenizer = _new_model(chosen, documents)
    trainer = _trainer(chosen, documents, model, tokenizer, config, out, paths, None, spelling)
    return Run(chosen, documents, trainer, [])


def resume_run(checkpoint: Union[str, Checkpoint], *, data: Union[str, Sequence[str], None] = None,
               out: Optional[str] = None, spelling: Spelling = PYTHON, **changes: Any) -> Run:
    """Continue the run saved in `checkpoint` (a path, or a loaded `Checkpoint`) with
    every setting it was made with.

    data: where the run's text is now, if it has moved (or the documents, for a run
    started on a list); it must be the same text (its fingerprint is compared).
    out: the folder to write to (default: the checkpoint's own). changes: settings
    to change: those of `CHANGEABLE_ON_RESUME` are applied from the checkpoint's
    step on and noted in `run.notes`; any other that differs from the run's raises
    `SettingChangeError` (a RunError), and so does the same as the run's nothing.
    A damaged checkpoint raises CheckpointError (also a ValueError, one line).
    """
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    path = ckpt.path or "the checkpoint"
    given = _given(changes, "resume_run")
    settings, notes = _resumed_settings(ckpt, path, given, data, spelling)
    documents = _read_data(settings, spelling, from_checkpoint=data is None)
    _check_same_text(settings, ckpt, notes, spelling)
    out = os.path.dirname(os.path.abspath(path)) if out is None and ckpt.path else out
    paths = _paths(out, CHECKPOINT_FILE, METRICS_FILE)
    if paths[0]:
        _refuse_to_overwrite(paths[0], ckpt.path, spelling)
    config = _train_config(settings)
    trainer = _trainer(settings, documents, ckpt.model, ckpt.tokenizer, config, out, paths, ckpt, spelling)
    return Run(settings, documents, trainer, notes)


def settings_of(checkpoint: Checkpoint) -> Dict[str, Any]:
    """Every setting of the run saved in `checkpoint`, by name (None: not recorded,
    in a checkpoint written before minigpt kept it)."""
    train, m = checkpoint.train, checkpoint.model.config
    config = checkpoint.train_config or TrainConfig()
    return {"data": train.get("data"), "tokenizer": checkpoint.tokenizer.kind,
            "stream": bool(train.get("stream", False)), "val_fraction": train.get("val_fraction"),
            "documents": train.get("documents"), **{name: getattr(m, name) for name in MODEL_DEFAULTS},
            **asdict(config)}


def _given(settings: Dict[str, Any], function: str) -> Dict[str, Any]:
    """The settings given (None: not given); TypeError for a name that is not one."""
    unknown = [name for name in settings if name not in DEFAULTS]
    if unknown:
        raise TypeError(f"{function}() got {', '.join(map(repr, unknown))}, not a setting; the settings are "
                        f"{', '.join(DEFAULTS)}")
    given = {name: value for name, value in settings.items() if value is not None}
    if isinstance(given.get("betas"), list):
        given["betas"] = tuple(given["betas"])
    return given


def _resumed_settings(ckpt: Checkpoint, path: str, given: Dict[str, Any], data, spelling: Spelling
                      ) -> Tuple[Dict[str, Any], List[str]]:
    """The resumed run's settings and the notes on what was assumed or changed:
    restored from the checkpoint; a change that would make another run is refused."""
    settings, notes = settings_of(ckpt), []
    fixed = dict(FIXED_ON_RESUME)
    if settings["data"] != "builtin":
        del fixed["documents"]  # only the built-in corpus is generated to a number of documents
    missing = [name for name in ("documents", "val_fraction") if name in fixed and settings[name] is None]
    for name in missing:  # checkpoints of older versions do not record these
        settings[name] = given.get(name, DEFAULTS[name])
    if missing:
        shown = ", ".join(spelling.setting(name, settings[name]) for name in missing)
        notes.append(f"note: {path} does not record these settings; assuming the run used {shown}")
    for name, why in fixed.items():
        if name in given and given[name] != settings[name]:
            raise SettingChangeError(name, given[name], settings[name], why, path, spelling)
    if data is not None and data != settings["data"] and "builtin" in (data, settings["data"]):
        raise SettingChangeError("data", data, settings["data"], "the built-in corpus and a file are different data",
                                 path, spelling)
    settings["data"] = settings["data"] if data is None else data
    if settings["data"] is None:
        raise RunError(f"{path} does not say what it was trained on: give {spelling.setting('data')}")
    changed = [name for name in CHANGEABLE_ON_RESUME if name in given and given[name] != settings[name]]
    if changed:
        was = ", ".join(spelling.setting(name, settings[name]) for name in changed)
        settings.update({name: given[name] for name in changed})
        now = ", ".join(spelling.setting(name, settings[name]) for name in changed)
        notes.append(f"continuing with {now} from step {ckpt.step} (the checkpoint had {was})")
    return settings, notes


# ---- the data -----------------------------------------------------------------------------------
def _read_data(settings: Dict[str, Any], spelling: Spelling, from_checkpoint: bool = False) -> List[str]:
    """The documents the run trains on, read from the file, generated or as given;
    records their fingerprint in settings["data_sha256"]."""
    source = settings["data"]
    if source == "builtin":
        documents = verb_grammar_corpus(settings["documents"], seed=settings["seed"])
    elif isinstance(source, str):
        documents = _read_file(source, settings["stream"], spelling, from_checkpoint)
    elif isinstance(source, (list, tuple)) and source and all(isinstance(d, str) for d in source):
        documents = list(source)
    else:
        raise RunError(f"data must be a file name, 'names', 'builtin' or a non-empty list of str documents, "
                       f"got {type(source).__name__}")
    settings["data_sha256"] = fingerprint(documents)
    return documents


def _read_file(source: str, stream: bool, spelling: Spelling, from_checkpoint: bool) -> List[str]:
    try:
        return read_documents(NAMES_FILE if source == "names" else source, stream=stream)
    except FileNotFoundError:
        if from_checkpoint:
            where = (f" (the file the run was trained on; if it is elsewhere now, say where with "
                     f"{spelling.setting('data')})")
        elif os.path.splitext(os.path.basename(source))[0] in ("names", "builtin"):
            name = os.path.splitext(os.path.basename(source))[0]
            where = f" (for the {'names shipped with minigpt' if name == 'names' else 'built-in corpus'}: " \
                    f"{spelling.setting('data', name)})"
        else:
            where = ""
        raise RunError(f"no such file: {source}{where}") from None
    except UnicodeDecodeError:
        raise RunError(f"{source} is not UTF-8 text") from None
    except (IsADirectoryError, PermissionError) as err:
        raise RunError(f"cannot read {source}: {err.strerror}") from None
    except ValueError as err:  # an empty file
        raise RunError(str(err)) from None


def fingerprint(documents: Sequence[str]) -> str:
    """A SHA-256 of exactly the text a run trains on (after splitting into documents)."""
    return hashlib.sha256(json.dumps(list(documents)).encode("utf-8")).hexdigest()


def _data_path(data) -> Optional[str]:
    """A data file as an absolute path ('names' and 'builtin' as they are; None for a list)."""
    if not isinstance(data, str):
        return None
    return data if data in ("names", "builtin") else os.path.abspath(data)


def _data_name(data) -> str:
    return data if isinstance(data, str) else f"the {len(data):,} documents given"


def _check_same_text(settings: Dict[str, Any], ckpt: Checkpoint, notes: List[str], spelling: Spelling) -> None:
    """Refuse to resume on text that differs from the text the checkpoint was trained on."""
    saved, now, name = ckpt.train.get("data_sha256"), settings["data_sha256"], _data_name(settings["data"])
    if saved is None:
        notes.append(f"note: the checkpoint does not record a fingerprint of its data; assuming {name} "
                     "is the text it was trained on")
    elif saved != now:
        raise RunError(f"{name} is not the text this run was trained on (its fingerprint {now[:12]} differs "
                       f"from the checkpoint's {saved[:12]}); resume with the same text, or start a new run in "
                       f"another {spelling.setting('out')} folder")
    elif _data_path(ckpt.train.get("data")) != _data_path(settings["data"]):
        notes.append(f"reading the run's data from {name} (the same text as {ckpt.train.get('data')})")


# ---- the folder, the model and the Trainer ------------------------------------------------------
def _paths(out: Optional[str], checkpoint: Optional[str], metrics: Optional[str]):
    if out is None:
        return None, None
    return tuple(os.path.join(out, name) if name else None for name in (checkpoint, metrics))


def _refuse_to_overwrite(checkpoint_path: str, resumed: Optional[str], spelling: Spelling) -> None:
    """A checkpoint in the run's folder is only ever replaced by the same run, further on."""
    if not os.path.exists(checkpoint_path):
        return
    if os.path.isdir(checkpoint_path):
        raise RunError(f"{checkpoint_path} is a directory, where the run's checkpoint goes; remove it or "
                       f"choose another {spelling.setting('out')} folder")
    if resumed and os.path.exists(resumed) and os.path.samefile(checkpoint_path, resumed):
        return
    step = saved_step(checkpoint_path)
    held = f"a run at step {step}" if step is not None else "a file"
    raise RunError(f"{checkpoint_path} already holds {held}; continue it with {spelling.resume(checkpoint_path)}, "
                   f"or choose another {spelling.setting('out')} folder (or delete that one) to start a new run")


def _train_config(settings: Dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig(**{name: settings[name] for name in TRAIN_DEFAULTS})
    except (TypeError, ValueError) as err:
        raise RunError(str(err)) from None


def _new_model(settings: Dict[str, Any], documents: List[str]) -> Tuple[MiniGPT, Tokenizer]:
    """A fresh model and tokenizer for the text; the initial weights follow the seed."""
    kind = settings["tokenizer"]
    if settings["data"] == "builtin":
        tokenizer = default_word_tokenizer()
    elif kind in TOKENIZERS:
        tokenizer = (WordTokenizer if kind == "word" else CharTokenizer).from_documents(documents)
    else:
        raise RunError(f"unknown tokenizer {kind!r}; choose one of {', '.join(TOKENIZERS)}")
    shape = {name: settings[name] for name in MODEL_DEFAULTS}
    shape["d_ff"] = shape["d_ff"] or 4 * shape["d_model"]
    try:
        config = MiniGPTConfig(vocab_size=tokenizer.vocab_size, **shape)
    except (TypeError, ValueError) as err:
        raise RunError(str(err)) from None
    return MiniGPT(config, rng=random.Random(settings["seed"])), tokenizer


def _trainer(settings: Dict[str, Any], documents: List[str], model: MiniGPT, tokenizer: Tokenizer,
             config: TrainConfig, out: Optional[str], paths, resumed: Optional[Checkpoint],
             spelling: Spelling) -> Trainer:
    """The Trainer of the run, writing to `paths` (checkpoint, metrics) in `out`. The
    checkpoint keeps every setting of the data (its model and config keep the rest)."""
    try:
        data = TextData.from_documents(documents, tokenizer, val_fraction=settings["val_fraction"],
                                       seed=config.seed, stream=settings["stream"])
    except ValueError as err:  # e.g. a character the resumed tokenizer never saw
        raise RunError(str(err)) from None
    context, text = model.config.context_len, len(data.train[0])
    if settings["stream"] and context >= text:
        raise RunError(f"{spelling.setting('context_len', context)} is longer than the training text ({text} "
                       f"tokens); use at most {text - 1}")
    info = {"data": _data_path(settings["data"]),  # absolute: a resume may be typed in another folder
            "data_sha256": settings["data_sha256"], "stream": settings["stream"],
            "val_fraction": settings["val_fraction"], "tokenizer": tokenizer.kind,
            "documents": settings["documents"] if settings["data"] == "builtin" else None}
    if out is not None:
        if os.path.exists(out) and not os.path.isdir(out):
            raise RunError(f"{spelling.setting('out', out)} is a file, not a folder; choose a folder for the run")
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as err:
            raise RunError(f"cannot write to {out}: {err.strerror or err}") from None
    try:
        return Trainer(model, tokenizer, data, config, checkpoint_path=paths[0], metrics_path=paths[1],
                       start_step=resumed.step if resumed else 0,
                       optimizer_state=resumed.optimizer_state if resumed else None, info=info,
                       seconds=(resumed.train.get("seconds") or 0.0) if resumed else 0.0)
    except ValueError as err:  # a damaged optimizer section
        raise RunError(f"the checkpoint cannot be resumed: {err}") from None
