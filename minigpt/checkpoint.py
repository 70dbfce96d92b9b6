"""Checkpoints as JSON: the model config, tokenizer, weights, optimizer state and step.

JSON, never pickle: a checkpoint is plain data that cannot run code when loaded, can
be opened in an editor, and round-trips every float exactly (Python writes floats
with enough digits to read back the same number).

Layout (one JSON object):

    {"format": "minigpt-checkpoint", "version": 1,
     "model_config": {...MiniGPTConfig fields...},
     "tokenizer": {...tokenizer.to_dict()...},
     "weights": {...model.state_dict()...},
     "optimizer": {...optimizer.state_dict()...} or null,
     "step": int,
     "train": {"config": {...TrainConfig fields...}, "seconds": training time so far,
               the run's data: "data" (a file's absolute path, "names", "builtin" or
               null), "data_sha256", "stream", "val_fraction", "tokenizer",
               "documents", and anything else the caller keeps}}

Every section is checked when it is read: a setting of the wrong type in "train" is a
`CheckpointError` like a damaged weight.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional

from .gpt import MiniGPT, MiniGPTConfig, parameter_inventory
from .tokenizers import Tokenizer, tokenizer_from_dict

__all__ = ["CheckpointError", "SaveError", "Checkpoint", "save_checkpoint", "load_checkpoint", "saved_step",
           "TRAIN_SECTION"]

FORMAT = "minigpt-checkpoint"
VERSION = 1
# No count or weight needs more digits than this; longer integers are refused while
# parsing, before Python spends time converting them (or refuses at 4,300 digits).
MAX_INT_DIGITS = 30
# The keys of the "train" section with the types their values may have (or null).
TRAIN_SECTION = {"config": (dict,), "seconds": (int, float), "data": (str,), "data_sha256": (str,),
                 "stream": (bool,), "val_fraction": (int, float), "tokenizer": (str,), "documents": (int,)}


class CheckpointError(ValueError):
    """The file is not a usable minigpt checkpoint; the message says why."""


class SaveError(Exception):
    """A file could not be written (full disk, a directory in the way, weights that
    are not finite numbers). The message is one line; the file that was there
    before is left exactly as it was."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: a ready model and tokenizer, plus the training state.

    `train` is the checked "train" section; `train_config` its "config" as a
    `TrainConfig` (None when the section has none); `path` the file it was read from."""

    model: MiniGPT
    tokenizer: Tokenizer
    step: int = 0
    optimizer_state: Optional[Dict[str, Any]] = None
    train: Dict[str, Any] = field(default_factory=dict)
    train_config: Any = None
    path: Optional[str] = None


def save_checkpoint(path: str, model: MiniGPT, tokenizer: Tokenizer, step: int = 0,
                    optimizer=None, train: Optional[Dict[str, Any]] = None, config=None) -> str:
    """Write a checkpoint to `path` and return the path.

    `train` is the run's data and anything else to keep (see the layout above) and
    `config` its `TrainConfig`; ValueError for a value the section cannot hold.

    The file is written beside the target as `path + ".tmp"`, forced to the disk and
    then renamed over the target in one step, so the target is at every moment
    either the old checkpoint or the complete new one. A save that fails raises
    `SaveError` and removes its partial `.tmp` file.
    """
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{model.config.vocab_size}")
    train = dict(train or {})
    if config is not None:
        train["config"] = asdict(config)
    problem = _train_section_problem(train)
    if problem:
        raise ValueError(f"the 'train' section cannot hold {problem}")
    data = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "weights": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "train": train,
    }
    try:
        text = json.dumps(data, allow_nan=False)  # before touching the disk: NaN fails here
    except ValueError:
        raise SaveError(f"cannot save {path}: the weights or optimizer state hold numbers that are not finite "
                        "(NaN or infinity)") from None
    _write_atomically(path, text)
    return path


def _write_atomically(path: str, text: str) -> None:
    """Replace the file at `path` by `text` in one step (or raise `SaveError` and
    leave it as it was). The new text goes to `path + ".tmp"` first; it reaches the
    disk (fsync) before the rename, so not even a power cut leaves a half file."""
    tmp = f"{path}.tmp"
    created = False
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            created = True
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # also KeyboardInterrupt: never leave a partial file behind
        if created:
            _remove_quietly(tmp)
        if isinstance(err, OSError):
            raise SaveError(f"cannot save {path}: {err.strerror or err}") from None
        raise
    _sync_folder(os.path.dirname(os.path.abspath(path)))


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _sync_folder(folder: str) -> None:
    """Make a rename in `folder` durable (where the system allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` and rebuild model and tokenizer.

    Any problem (missing file, truncated or corrupt JSON, another kind of file,
    weights that do not fit the config, a tokenizer that does not fit the model)
    raises `CheckpointError` with a one-line reason. Every size in the config is
    checked against the weights stored in the file before the model is built, so a
    crafted file cannot make this build a model much larger than the file itself.
    """
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a minigpt checkpoint (no \"format\": \"{FORMAT}\" field)")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r} is not supported "
                              f"(this minigpt reads version {VERSION})")
    for key in ("model_config", "tokenizer", "weights"):
        if not isinstance(data.get(key), dict):
            raise CheckpointError(f"{path}: the checkpoint has no valid {key!r} section")
    try:
        config = MiniGPTConfig.from_dict(data["model_config"])
        tokenizer = tokenizer_from_dict(data["tokenizer"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: {err}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(f"{path}: the tokenizer has {tokenizer.vocab_size} tokens but the model "
                              f"config says vocab_size {config.vocab_size}")
    _check_sizes(path, config, data["weights"])
    model = MiniGPT(config)
    try:
        model.load_state_dict(data["weights"])
    except ValueError as err:
        raise CheckpointError(f"{path}: weights do not match the config: {err}") from None
    step = data.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"{path}: 'step' must be a non-negative integer, got {step!r}")
    optimizer_state = data.get("optimizer")
    if optimizer_state is not None and not isinstance(optimizer_state, dict):
        raise CheckpointError(f"{path}: the 'optimizer' section is not an object")
    train = data.get("train") or {}
    if not isinstance(train, dict):
        raise CheckpointError(f"{path}: the 'train' section is not an object")
    return Checkpoint(model, tokenizer, step, optimizer_state, train, _train_config(path, train), path)


def _train_section_problem(train: Dict[str, Any]) -> Optional[str]:
    """What is wrong with a "train" section (a value of the wrong type), or None."""
    for key, types in TRAIN_SECTION.items():
        value = train.get(key)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return f"{key} is a {type(value).__name__}" if key == "config" else f"{key} is {value!r}"
        if key in ("documents", "seconds") and value < (1 if key == "documents" else 0):
            return f"{key} is {value!r}"
    return None


def _train_config(path: str, train: Dict[str, Any]):
    """The section's TrainConfig (None if it has none); CheckpointError if it is damaged."""
    from .train import TrainConfig  # here: train.py saves through this module
    problem = _train_section_problem(train)
    if problem:
        raise CheckpointError(f"{path}: the 'train' section is damaged: {problem}")
    if train.get("config") is None:
        return None
    try:
        return TrainConfig.from_dict(train["config"])
    except ValueError as err:
        raise CheckpointError(f"{path}: the 'train' section is damaged: {err}") from None


def saved_step(path: str) -> Optional[int]:
    """The step of the checkpoint at `path`, or None if there is no readable one
    (read without building the model: for messages such as "kept step 120")."""
    try:
        step = _read_json(path).get("step")
    except (CheckpointError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise CheckpointError(f"it holds a {len(digits.lstrip('-')):,}-digit integer, too large for any "
                              "size or weight")
    return int(digits)


def _read_json(path: str) -> Any:
    """The parsed JSON of the file, or CheckpointError with a one-line reason."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read it ({err.__class__.__name__}: {err})") from None
    if not text.strip():
        raise CheckpointError(f"{path}: the file is empty, not a checkpoint")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON (truncated or corrupt?) at line {err.lineno}, "
                              f"column {err.colno}: {err.msg}") from None
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: nested too deeply to be a checkpoint") from None


def _count_numbers(tree: Any) -> int:
    """How many numbers a tree of lists holds (walked without recursion, so any
    depth is safe); CheckpointError for anything else, or a number out of range."""
    count, stack = 0, [tree]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, (int, float)) and not isinstance(x, bool):
            if not math.isfinite(x):
                raise CheckpointError(f"a weight is {x!r}, not a finite number")
            count += 1
        else:
            raise CheckpointError(f"a weight is {type(x).__name__} {str(x)[:20]!r}, not a number")
    return count


def _check_sizes(path: str, config: MiniGPTConfig, weights: Dict[str, Any]) -> None:
    """CheckpointError unless the config describes exactly the weights in the file.

    Building `MiniGPT(config)` costs time and memory in proportion to its parameter
    count, so the count is compared first: each size must be at most the number
    of stored weights (cheap, and it bounds the layer loop below), then the count
    from the config's formula must not exceed what the file holds by more than a
    little. A smaller mismatch is left to `load_state_dict`, which names the
    tensor; building that model costs no more than reading the file did.
    """
    try:
        stored = sum(_count_numbers(tensor) for tensor in weights.values())
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    sizes = ["d_model", "n_heads", "n_layers", "d_ff", "vocab_size"]
    if config.pos_encoding == "learned":
        sizes.append("context_len")  # a learned position table has context_len rows
    for name in sizes:
        if getattr(config, name) > stored:
            raise CheckpointError(f"{path}: {name} {getattr(config, name):,} does not fit the {stored:,} weights "
                                  "stored in the file")
    expected = parameter_inventory(config)["total"]
    if expected > 2 * stored + 4096:
        raise CheckpointError(f"{path}: the model config describes {expected:,} parameters but the file stores "
                              f"{stored:,} weights")
