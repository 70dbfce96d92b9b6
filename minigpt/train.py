"""Training a Mini-GPT on text: data windows, the training loop, evaluation, logging.

One training step takes ONE document (or, with `stream=True`, one window of a long
text), crops it to the model's context, and does forward, `cross_entropy_loss`,
`backward` and an Adam update. Which document and which window a step uses depends
only on the seed and the step number, so a run resumed from a checkpoint sees
exactly the data the uninterrupted run would have seen, and ends with the same
weights.

    from minigpt.train import TrainConfig, Trainer, TextData
    data = TextData.from_documents(docs, tokenizer, seed=0)
    trainer = Trainer(model, tokenizer, data, TrainConfig(steps=500))
    result = trainer.run()
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .checkpoint import save_checkpoint
from .engine import no_grad
from .fused import gc_paused
from .gpt import MiniGPT, cross_entropy_loss
from .optim import Adam, CosineDecay, LinearDecay
from .tokenizers import Tokenizer

__all__ = ["TrainConfig", "TextData", "Trainer", "TrainResult", "read_documents", "sparkline"]

SCHEDULES = ("linear", "cosine", "constant")


@dataclass
class TrainConfig:
    """Settings of a training run (saved in the checkpoint).

    steps: total optimizer steps of the run (a resumed run continues up to it);
    lr, betas, eps, weight_decay: Adam; schedule: 'linear' decay to 0, 'cosine', or
    'constant', after `warmup_steps`; eval_every: evaluate the held-out split every
    this many steps (0: only at the end); eval_docs: how many held-out examples an
    evaluation uses; seed: data order (and, in the CLI, the model's initial weights);
    checkpoint_every: also save every this many steps (0: at the end and on Ctrl-C).
    """

    steps: int = 1000
    lr: float = 1e-2
    betas: Tuple[float, float] = (0.85, 0.99)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: str = "linear"
    warmup_steps: int = 0
    eval_every: int = 100
    eval_docs: int = 50
    seed: int = 0
    checkpoint_every: int = 0

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        for name in ("warmup_steps", "eval_every", "eval_docs", "checkpoint_every"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be less than steps ({self.steps})")
        self.betas = tuple(self.betas)

    def learning_rate(self, step: int) -> float:
        """The learning rate for 0-based `step`."""
        if self.schedule == "constant":
            return self.lr if step >= self.warmup_steps else self.lr * (step + 1) / self.warmup_steps
        kind = LinearDecay if self.schedule == "linear" else CosineDecay
        return kind(self.lr, self.steps, warmup_steps=self.warmup_steps)(step)

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "TrainConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def read_documents(path: str, stream: bool = False) -> List[str]:
    """The documents of a UTF-8 text file: one per non-empty line, or with
    `stream=True` the whole file as one document. Raises ValueError for an empty file."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    if stream:
        docs = [text] if text.strip() else []
    else:
        docs = [line for line in text.split("\n") if line.strip()]  # text mode already turned \r\n into \n
    if not docs:
        raise ValueError(f"{path} has no text to train on (it is empty or only blank lines)")
    return docs


@dataclass
class TextData:
    """Token sequences to train and evaluate on.

    `train` and `val` are lists of token-id lists, each `[bos, ..., bos]` for a
    document, or a single long list with `stream=True`.
    """

    train: List[List[int]]
    val: List[List[int]]
    stream: bool = False
    _order_cache: Dict[Tuple[int, int], List[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_documents(cls, documents: Sequence[str], tokenizer: Tokenizer, val_fraction: float = 0.1,
                       seed: int = 0, stream: bool = False) -> "TextData":
        """Encode documents and hold out `val_fraction` of them (chosen with `seed`).
        With `stream=True` the documents are joined and the last part is held out."""
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        if stream:
            tokens = [tokenizer.bos_id]
            for doc in documents:
                tokens += tokenizer.encode(doc)
            cut = len(tokens) - int(len(tokens) * val_fraction)
            if cut < 2:
                raise ValueError("the text is too short to train on (fewer than 2 tokens)")
            val = [tokens[cut - 1:]] if len(tokens) - cut >= 1 else []
            return cls([tokens[:cut]], val, stream=True)
        encoded = [tokenizer.encode_document(d) for d in documents]
        order = list(range(len(encoded)))
        random.Random(seed).shuffle(order)
        n_val = int(len(encoded) * val_fraction)
        if len(encoded) - n_val < 1:
            raise ValueError("no documents left to train on after holding out the validation split")
        return cls([encoded[i] for i in order[n_val:]], [encoded[i] for i in order[:n_val]])

    def example(self, step: int, seed: int, context_len: int) -> Tuple[List[int], List[int]]:
        """(inputs, targets) for a step: targets are the inputs shifted by one token.

        Documents are visited in a fresh shuffled order each epoch; a document longer
        than the context contributes a window at a position chosen for this step.
        """
        n_docs = len(self.train)
        epoch, index = divmod(step, n_docs)
        key = (seed, epoch)
        if key not in self._order_cache:
            order = list(range(n_docs))
            random.Random(f"{seed}/epoch/{epoch}").shuffle(order)
            self._order_cache.clear()  # one epoch at a time is enough
            self._order_cache[key] = order
        tokens = self.train[self._order_cache[key][index]]
        n = min(context_len, len(tokens) - 1)
        start = 0
        if len(tokens) - 1 > context_len:
            start = random.Random(f"{seed}/window/{step}").randrange(len(tokens) - context_len)
        return tokens[start:start + n], tokens[start + 1:start + n + 1]

    def eval_examples(self, context_len: int, limit: int) -> List[Tuple[List[int], List[int]]]:
        """Up to `limit` held-out (inputs, targets) pairs, always the same ones."""
        out = []
        for tokens in self.val:
            for start in range(0, max(1, len(tokens) - 1), context_len):
                piece = tokens[start:start + context_len + 1]
                if len(piece) >= 2:
                    out.append((piece[:-1], piece[1:]))
                if len(out) >= limit or not self.stream:
                    break
            if len(out) >= limit:
                break
        return out


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """The values as a line of block characters, averaged into `width` buckets."""
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    n = min(width, len(values))
    buckets = [values[i * len(values) // n:(i + 1) * len(values) // n] for i in range(n)]
    means = [sum(b) / len(b) for b in buckets]
    lo, hi = min(means), max(means)
    span = hi - lo or 1.0
    return "".join(bars[min(len(bars) - 1, int((m - lo) / span * len(bars)))] for m in means)


@dataclass
class TrainResult:
    """What a run did: the step reached, per-step losses, evaluations, timing."""

    step: int
    losses: List[float]
    evals: List[Tuple[int, float]]
    seconds: float
    tokens: int
    interrupted: bool = False
    checkpoint: Optional[str] = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def mean_loss(self, last: int = 100) -> float:
        tail = self.losses[-last:]
        return sum(tail) / len(tail) if tail else float("nan")


class Trainer:
    """Runs training steps on a model and keeps the optimizer, step count and logs.

    Args:
        model, tokenizer: what to train (the tokenizer is saved with checkpoints).
        data: a `TextData`.
        config: a `TrainConfig`.
        checkpoint_path: where to save (at the end, every `checkpoint_every` steps,
            and on Ctrl-C); None to not save.
        metrics_path: a JSON-lines file with one record per step (and per
            evaluation), appended to, so a resumed run continues the same log.
        start_step, optimizer_state: where a resumed run continues from.
        info: extra JSON-safe data to keep in the checkpoint (e.g. the data source).
    """

    def __init__(self, model: MiniGPT, tokenizer: Tokenizer, data: TextData, config: TrainConfig,
                 checkpoint_path: Optional[str] = None, metrics_path: Optional[str] = None,
                 start_step: int = 0, optimizer_state: Optional[Dict[str, object]] = None,
                 info: Optional[Dict[str, object]] = None):
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}")
        self.model, self.tokenizer, self.data, self.config = model, tokenizer, data, config
        self.checkpoint_path, self.metrics_path = checkpoint_path, metrics_path
        self.info = dict(info or {})
        self.step = start_step
        self.optimizer = Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                              weight_decay=config.weight_decay)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)

    # ---- one step and one evaluation -------------------------------------------------
    def train_step(self) -> Tuple[float, int]:
        """One optimizer step; returns (loss, number of target tokens)."""
        inputs, targets = self.data.example(self.step, self.config.seed, self.model.config.context_len)
        self.optimizer.lr = self.config.learning_rate(self.step)
        with gc_paused():  # the graph has no cycles: skip the collector's rescans
            loss = cross_entropy_loss(self.model(inputs), targets)
            self.optimizer.zero_grad()
            loss.backward()
            value = loss.data
            del loss  # frees the whole graph (by reference counting) before the update
        self.optimizer.step()
        self.step += 1
        return value, len(targets)

    def evaluate(self) -> Optional[float]:
        """Mean loss over the held-out examples, without recording a graph."""
        examples = self.data.eval_examples(self.model.config.context_len, self.config.eval_docs)
        if not examples:
            return None
        total = 0.0
        with no_grad():
            for inputs, targets in examples:
                total += cross_entropy_loss(self.model(inputs), targets).data
        return total / len(examples)

    def save(self) -> Optional[str]:
        if not self.checkpoint_path:
            return None
        info = {**self.info, "config": asdict(self.config)}
        return save_checkpoint(self.checkpoint_path, self.model, self.tokenizer, step=self.step,
                               optimizer=self.optimizer, train=info)

    # ---- the loop -----------------------------------------------------------------------
    def run(self, progress: bool = True, until: Optional[int] = None) -> TrainResult:
        """Train from the current step up to `until` (default: `config.steps`), with
        a progress bar. Stopping early leaves the schedule as it is, so a later
        `run()` continues exactly.

        Ctrl-C stops after the current step, saves a checkpoint and returns with
        `interrupted=True`.
        """
        cfg = self.config
        until = cfg.steps if until is None else min(until, cfg.steps)
        losses: List[float] = []
        evals: List[Tuple[int, float]] = []
        tokens, interrupted = 0, False
        log = open(self.metrics_path, "a", encoding="utf-8") if self.metrics_path else None
        bar = _progress_bar(self.step, until, enabled=progress)
        start = time.perf_counter()
        smoothed = None
        try:
            while self.step < until:
                loss, n_tokens = self.train_step()
                losses.append(loss)
                tokens += n_tokens
                elapsed = time.perf_counter() - start
                smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
                record = {"step": self.step, "loss": loss, "lr": self.optimizer.lr,
                          "tokens_per_s": tokens / elapsed if elapsed > 0 else 0.0, "time": elapsed}
                if (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == until:
                    val = self.evaluate()
                    if val is not None:
                        evals.append((self.step, val))
                        record["eval_loss"] = val
                if log:
                    log.write(json.dumps(record) + "\n")
                if bar is not None:
                    postfix = {"loss": f"{smoothed:.3f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
                    if evals:
                        postfix["eval"] = f"{evals[-1][1]:.3f}"
                    bar.set_postfix(postfix, refresh=False)
                    bar.update(1)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < until:
                    self.save()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
            if log:
                log.close()
        seconds = time.perf_counter() - start
        path = self.save()
        return TrainResult(self.step, losses, evals, seconds, tokens, interrupted, path)


def _progress_bar(start: int, total: int, enabled: bool):
    """A tqdm bar (step, loss, eval loss, tokens/s and ETA), or None when disabled."""
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, mininterval=0.5,
                desc="training")
