"""Training a Mini-GPT on text: data windows, the training loop, evaluation, logging.

One training step takes ONE document (or, with `stream=True`, one window of a long
text), crops it to the model's context, and does forward, `cross_entropy_loss`,
`backward` and an Adam update. With `TrainConfig(compile=True)` (the default on CPython) the
forward and backward passes run as a straight-line program compiled once per sequence
length (minigpt/compile.py), which computes the graph's floats to rounding;
`compile=False` builds and walks the graph at every step.

Which document and which window a step uses depends only on the seed and the step
number, so a run resumed from a checkpoint sees exactly the data the uninterrupted
run would have seen, and ends with the same weights.

    from minigpt.train import TrainConfig, Trainer, TextData
    data = TextData.from_documents(docs, tokenizer, seed=0)
    trainer = Trainer(model, tokenizer, data, TrainConfig(steps=500))
    result = trainer.run()

The rules that make a run safe to stop and resume from a folder (its settings, the
data's fingerprint, which options may change) live in minigpt/run.py; the metrics
log and the progress display in minigpt/runlog.py.

What survives what: during `run()`, SIGINT (Ctrl-C) and SIGTERM stop the run after
the current step and save; a second signal waits until the save is complete. A
checkpoint is replaced only by a complete new file, and a failed save (full disk,
NaN weights) leaves the previous one and says so. The metrics log is flushed with
every line and reaches the disk before each checkpoint, and a run that starts at
step N first cuts the log back to step N.
"""
from __future__ import annotations

import math
import os
import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .checkpoint import SaveError, save_checkpoint
from .compile import StepPrograms

# Compiled steps run about 1.8x faster than the graph's on CPython, and about 1.3x on
# PyPy, where they run as tapes of kernels (minigpt/tape.py): the default on both.
COMPILE_BY_DEFAULT = True
from .engine import no_grad
from .fused import gc_paused
from .gpt import MiniGPT, cross_entropy_loss
from .optim import Adam, CosineDecay, LinearDecay
from .runlog import MetricsLog, ProgressLines, progress_display, show_step, sparkline  # (also importable from here)
from .tokenizers import Tokenizer

__all__ = ["TrainConfig", "TextData", "Trainer", "TrainResult", "TrainingDiverged", "StopSignals", "MetricsLog",
           "ProgressLines", "read_documents", "sparkline"]

SCHEDULES = ("linear", "cosine", "constant")


@dataclass
class TrainConfig:
    """Settings of a training run (saved in the checkpoint).

    steps: total optimizer steps of the run (a resumed run continues up to it);
    lr, betas, eps, weight_decay: Adam; schedule: 'linear' decay to 0, 'cosine', or
    'constant', after `warmup_steps`; eval_every: evaluate the held-out split every
    this many steps (0: only at the end); eval_docs: how many held-out examples an
    evaluation uses; seed: data order (and, in the CLI, the model's initial weights);
    checkpoint_every: also save every this many steps (0: at the end and on Ctrl-C);
    batch_size: examples (documents or windows) per step, their losses averaged;
    compile: run each example's forward and backward pass as a program compiled for
    its sequence length (`minigpt.compile.StepPrograms`) instead of building the graph
    (the losses and gradients agree to rounding, ~1e-16, not bit for bit). The default
    is `COMPILE_BY_DEFAULT` (True).
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
    batch_size: int = 1
    compile: bool = COMPILE_BY_DEFAULT

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.compile, bool):  # not truthiness: "false" in a config file would be true
            raise ValueError(f"compile must be True or False, got {self.compile!r}")
        for name in ("warmup_steps", "eval_every", "eval_docs", "checkpoint_every"):
            n = getattr(self, name)
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be less than steps ({self.steps})")
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")

    def learning_rate(self, step: int) -> float:
        """The learning rate for 0-based `step`."""
        if self.schedule == "constant":
            return self.lr if step >= self.warmup_steps else self.lr * (step + 1) / self.warmup_steps
        kind = LinearDecay if self.schedule == "linear" else CosineDecay
        return kind(self.lr, self.steps, warmup_steps=self.warmup_steps)(step)

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "TrainConfig":
        """The config saved by `asdict`; ValueError (never TypeError) if it does not fit.
        A setting the dict lacks (one added after it was saved, such as `compile`)
        takes its default."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as err:
            raise ValueError(f"train config: {err}") from None


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


@dataclass
class TrainResult:
    """What a run did: the step it started at and the step it reached, the losses of
    the steps it ran, evaluations, timing (`seconds`: of this call to `run()`).

    compiled, compile_seconds: the step programs this call compiled (one per new
    sequence length, with `config.compile`) and the time that took, part of `seconds`.

    interrupted: stopped early by a signal (`signal` names it: 'SIGINT', 'SIGTERM')
    or a KeyboardInterrupt; error: why the run failed (a save that failed, a loss
    that is no longer a number), in which case `checkpoint` is None and the file
    saved before (if any) is untouched.
    """

    step: int
    start_step: int = 0
    losses: List[float] = field(default_factory=list)
    evals: List[Tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0
    interrupted: bool = False
    checkpoint: Optional[str] = None
    signal: Optional[str] = None
    error: Optional[str] = None
    compiled: int = 0
    compile_seconds: float = 0.0

    @property
    def steps_run(self) -> int:
        """The steps this call to `run()` took (a resumed run started at `start_step`)."""
        return self.step - self.start_step

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
        metrics_path: a JSON-lines file with one record per step (with the
            evaluation, on steps that have one); a run first cuts it back to
            `start_step`, then appends, so a resumed run continues the same log.
        start_step, optimizer_state: where a resumed run continues from.
        info: the run's data to keep in the checkpoint's "train" section (see
            minigpt/checkpoint.py: the data source, its fingerprint...).
        seconds: the training time of the run before this Trainer (a resumed run's);
            `self.seconds` counts on up to the last step (a final save not included),
            and is saved with each checkpoint.

    With `config.compile`, `self.programs` is the `StepPrograms` of the model (made at
    the first step; a program per sequence length, compiled when a length first comes)
    and `compile_seconds` the time spent compiling them (0.0 without `compile`).
    """

    def __init__(self, model: MiniGPT, tokenizer: Tokenizer, data: TextData, config: TrainConfig,
                 checkpoint_path: Optional[str] = None, metrics_path: Optional[str] = None,
                 start_step: int = 0, optimizer_state: Optional[Dict[str, object]] = None,
                 info: Optional[Dict[str, object]] = None, seconds: float = 0.0):
        if tokenizer.vocab_size != model.config.vocab_size:
            raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model's vocab_size is "
                             f"{model.config.vocab_size}")
        self.model, self.tokenizer, self.data, self.config = model, tokenizer, data, config
        self.checkpoint_path, self.metrics_path = checkpoint_path, metrics_path
        self.info = dict(info or {})
        self.step = start_step
        self.seconds = seconds
        self.optimizer = Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                              weight_decay=config.weight_decay)
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
            if self.optimizer.steps != start_step:  # Adam's bias correction counts its own steps
                raise ValueError(f"the optimizer state is at step {self.optimizer.steps} but the run at step "
                                 f"{start_step}")
            # the config defines the run: a resumed run may change these on purpose
            self.optimizer.betas, self.optimizer.eps = tuple(config.betas), config.eps
            self.optimizer.weight_decay = config.weight_decay
        self.saved_step: Optional[int] = None  # the step of the last checkpoint this trainer wrote
        self.programs: Optional[StepPrograms] = None

    @property
    def compile_seconds(self) -> float:
        """Seconds this Trainer has spent compiling step programs (0.0 if it compiled none)."""
        return self.programs.compile_seconds if self.programs is not None else 0.0

    # ---- one step and one evaluation -------------------------------------------------
    def train_step(self) -> Tuple[float, int]:
        """One optimizer step on `batch_size` examples; returns (their mean loss, number
        of target tokens). Example i of step s is example s * batch_size + i.

        With `config.compile` each example runs through the program compiled for its
        length (compiled here the first time that length comes), else through the graph:
        the same formulas either way, so the same floats to rounding (a few sums are
        added up in another order)."""
        batch = self.config.batch_size
        self.optimizer.lr = self.config.learning_rate(self.step)
        self.optimizer.zero_grad()
        value, tokens = 0.0, 0
        examples = [self.data.example(self.step * batch + i, self.config.seed, self.model.config.context_len)
                    for i in range(batch)]
        seed = 1.0 / batch if batch > 1 else 1.0   # d(loss * (1/batch))/d loss, where backward() starts
        if self.config.compile:  # the fast path: one program per sequence length, the batch summed at once
            if self.programs is None:
                self.programs = StepPrograms(self.model)
            with self.programs.batch():
                for inputs, targets in examples:
                    loss = self.programs(inputs, targets, seed=seed)
                    value += loss * seed if batch > 1 else loss
                    tokens += len(targets)
        else:  # the readable path: build the graph, walk it back
            for inputs, targets in examples:
                with gc_paused():  # the graph has no cycles: skip the collector's rescans
                    loss = cross_entropy_loss(self.model(inputs), targets)
                    if batch > 1:
                        loss = loss * seed  # the gradients add up to those of the mean
                    loss.backward()
                    value += loss.data
                    del loss  # frees the whole graph (by reference counting) before the next
                tokens += len(targets)
        self.optimizer.step()
        self.step += 1
        return value, tokens

    def evaluate(self) -> Optional[float]:
        """Mean loss over the held-out examples, without recording a graph (with
        `config.compile`: with the forward lines of the step programs, the same floats)."""
        examples = self.data.eval_examples(self.model.config.context_len, self.config.eval_docs)
        if not examples:
            return None
        total = 0.0
        if self.config.compile:  # the step programs' forward lines only
            if self.programs is None:
                self.programs = StepPrograms(self.model)
            for inputs, targets in examples:
                total += self.programs.loss(inputs, targets)
            return total / len(examples)
        with no_grad():
            for inputs, targets in examples:
                total += cross_entropy_loss(self.model(inputs), targets).data
        return total / len(examples)

    def save(self, log: Optional["MetricsLog"] = None) -> Optional[str]:
        """Write the checkpoint (if there is a path); raises `SaveError` if it fails.
        The log reaches the disk first, so it always holds every step the checkpoint has."""
        if not self.checkpoint_path:
            return None
        if log is not None:
            log.sync()
        path = save_checkpoint(self.checkpoint_path, self.model, self.tokenizer, step=self.step,
                               optimizer=self.optimizer, train={**self.info, "seconds": self.seconds},
                               config=self.config)
        self.saved_step = self.step
        return path

    # ---- the loop -----------------------------------------------------------------------
    def run(self, progress=True, until: Optional[int] = None) -> TrainResult:
        """Train from the current step up to `until` (default: `config.steps`).
        Stopping early leaves the schedule as it is, so a later `run()` continues exactly.

        progress: True for a progress bar (on a terminal), "lines" for a plain line on
        stderr every tenth of the run or 30 s (for logs, where a bar would be one
        endless line), False for nothing.

        SIGINT (Ctrl-C) or SIGTERM stops after the current step, saves a checkpoint
        and returns with `interrupted=True`. A save that fails, or a loss that stops
        being a number, ends the run with `error` set and the previous checkpoint kept.
        """
        until = self.config.steps if until is None else min(until, self.config.steps)
        result = TrainResult(self.step, start_step=self.step)
        start, seconds_before = time.perf_counter(), self.seconds
        programs_before, compile_before = self._compiled(), self.compile_seconds
        with StopSignals() as stops:
            try:
                with MetricsLog(self.metrics_path, self.step) as log:
                    try:
                        self._loop(until, result, stops, log, progress, (start, seconds_before))
                    except KeyboardInterrupt:  # raised by code rather than a signal: same as Ctrl-C
                        result.interrupted = True
                    result.checkpoint = self._final_save(log)
            except (SaveError, TrainingDiverged) as err:
                result.error = str(err)
            result.signal = stops.received
        result.interrupted = result.interrupted or result.signal is not None
        result.step, result.seconds = self.step, time.perf_counter() - start
        result.compiled = self._compiled() - programs_before
        result.compile_seconds = self.compile_seconds - compile_before
        return result

    def _compiled(self) -> int:
        """How many step programs this Trainer has compiled."""
        return len(self.programs.programs) if self.programs is not None else 0

    def _loop(self, until: int, result: TrainResult, stops: "StopSignals", log: "MetricsLog", progress,
              clock: Tuple[float, float]) -> None:
        """The steps: train, log, show, save now and then; stops at `until` or on a signal."""
        cfg = self.config
        bar = progress_display(self.step, until, progress)
        start, smoothed = time.perf_counter(), None
        run_start, seconds_before = clock  # the run's training time counts from run()'s start
        try:
            while self.step < until and stops.received is None:
                compiling = self.compile_seconds
                with _overflow_is_divergence(self.step + 1):
                    loss, n_tokens = self.train_step()
                compiling = self.compile_seconds - compiling  # part of this step's time
                result.losses.append(loss)
                result.tokens += n_tokens
                elapsed = time.perf_counter() - start
                self.seconds = seconds_before + time.perf_counter() - run_start  # as saved in a checkpoint
                record = {"step": self.step, "loss": loss, "lr": self.optimizer.lr,
                          "tokens_per_s": result.tokens / elapsed if elapsed > 0 else 0.0, "time": elapsed}
                if (cfg.eval_every and self.step % cfg.eval_every == 0) or self.step == until:
                    with _overflow_is_divergence(self.step):
                        val = self.evaluate()
                    if val is not None:
                        result.evals.append((self.step, val))
                        record["eval_loss"] = val
                if compiling:  # only on the steps that met a new sequence length
                    record["compile_s"] = compiling
                log.write(record)  # before any check that may stop the run: every step is logged
                if not math.isfinite(loss):
                    raise TrainingDiverged(f"the loss is {loss} at step {self.step}: training diverged "
                                           "(a smaller learning rate may help)")
                smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
                show_step(bar, smoothed, record, result.evals, self.compile_seconds)
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < until:
                    self.save(log)
        finally:
            if bar is not None:
                bar.close()

    def _final_save(self, log: "MetricsLog") -> Optional[str]:
        """Save at the end of a run, unless the checkpoint already holds this step."""
        if self.saved_step == self.step:
            return self.checkpoint_path
        return self.save(log)


class TrainingDiverged(Exception):
    """The loss is no longer a finite number, so the weights are not worth saving."""


@contextmanager
def _overflow_is_divergence(step: int):
    """Turn an overflow in the engine (weights grown too large) into TrainingDiverged."""
    try:
        yield
    except ArithmeticError as err:
        raise TrainingDiverged(f"step {step} overflowed ({err}): training diverged "
                               "(a smaller learning rate may help)") from None


class StopSignals:
    """Inside `with StopSignals() as stops:` SIGINT (Ctrl-C) and SIGTERM do not stop
    the program: the first sets `stops.received` to the signal's name and the
    training loop ends after the current step. The handler only sets a flag, so a
    signal can never cut an optimizer update or a checkpoint save in half; a second
    signal during the save just waits for it. Blocks may nest: an inner block shares
    the outer one's flag (so a program can keep catching signals after the run, while
    it reports). Outside the main thread (where Python cannot catch signals) this
    does nothing. `then` is what the first signal's note on stderr says comes after
    the step (a caller that keeps nothing of a stopped run says so).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    _active: Optional["StopSignals"] = None  # the instance whose handlers are installed

    def __init__(self, then: str = "then saving"):
        self.received: Optional[str] = None
        self.then = then
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if StopSignals._active is not None:
            return StopSignals._active
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
            StopSignals._active = self
        return self

    def __exit__(self, *exc) -> None:
        if StopSignals._active is not self:
            return
        for sig, handler in self._previous.items():
            if handler is not None:  # None: a handler set outside Python, which cannot be restored
                signal.signal(sig, handler)
        StopSignals._active = None

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is None:
            self.received = name
            note = f"\n{name}: stopping after this step, {self.then}\n"
        else:
            note = f"\n{name}: already stopping; the checkpoint is saved completely before the program ends\n"
        # os.write, not print: a handler may run in the middle of another print
        os.write(2, note.encode())


