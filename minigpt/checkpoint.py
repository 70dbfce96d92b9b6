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
     "train": {...anything the trainer wants to keep: its settings, data source...}}
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .gpt import MiniGPT, MiniGPTConfig
from .tokenizers import Tokenizer, tokenizer_from_dict

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint"]

FORMAT = "minigpt-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is not a usable minigpt checkpoint; the message says why."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: a ready model and tokenizer, plus the training state."""

    model: MiniGPT
    tokenizer: Tokenizer
    step: int = 0
    optimizer_state: Optional[Dict[str, Any]] = None
    train: Dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: str, model: MiniGPT, tokenizer: Tokenizer, step: int = 0,
                    optimizer=None, train: Optional[Dict[str, Any]] = None) -> str:
    """Write a checkpoint to `path` and return the path.

    The file is written beside the target and then renamed over it, so an
    interrupted save never leaves a half-written checkpoint behind.
    """
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                         f"{model.config.vocab_size}")
    data = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "weights": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "train": train or {},
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, allow_nan=False)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` and rebuild model and tokenizer.

    Any problem (missing file, truncated or corrupt JSON, another kind of file,
    weights that do not fit the config, a tokenizer that does not fit the model)
    raises `CheckpointError` with a one-line reason.
    """
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
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: not valid JSON (truncated or corrupt?) at line {err.lineno}, "
                              f"column {err.colno}: {err.msg}") from None
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
    return Checkpoint(model, tokenizer, step, optimizer_state, train)
