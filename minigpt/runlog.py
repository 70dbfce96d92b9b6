"""What a training run writes and shows: the metrics log and the progress display.

The Trainer (minigpt/train.py) trains; this module keeps the record of each step
(`MetricsLog`, one JSON line per step in `metrics.jsonl`) and shows how the run goes
(a tqdm bar on a terminal, `ProgressLines` in a log, `sparkline` for a summary).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .checkpoint import SaveError

__all__ = ["MetricsLog", "ProgressLines", "progress_display", "show_step", "sparkline"]


class MetricsLog:
    """The metrics file: one JSON object per line, one line per step, appended to.

    Opening it for a run at step N first cuts off the records after step N (written
    by a run killed between two checkpoints) and any half-written last line, so the
    log continues exactly where the checkpoint stands. Each line is flushed as it is
    written. Numbers that are not finite (NaN, infinity) are written as null, so
    every line is valid JSON. With `path=None` nothing is written.
    """

    def __init__(self, path: Optional[str], step: int):
        self.path, self.file = path, None
        if path:
            try:
                _cut_log(path, step)
                self.file = open(path, "a", encoding="utf-8")
            except OSError as err:
                raise SaveError(f"cannot write {path}: {err.strerror or err}") from None

    def write(self, record: Dict[str, object]) -> None:
        if self.file is None:
            return
        line = json.dumps({k: _json_number(v) for k, v in record.items()}, allow_nan=False)
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except OSError as err:
            raise SaveError(f"cannot write {self.path}: {err.strerror or err}") from None

    def sync(self) -> None:
        """Force the lines written so far to the disk."""
        if self.file is not None:
            try:
                os.fsync(self.file.fileno())
            except OSError as err:
                raise SaveError(f"cannot write {self.path}: {err.strerror or err}") from None

    def __enter__(self) -> "MetricsLog":
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:  # a write already failed and was reported; a partial line is cut next time
                pass


def _json_number(x: object) -> object:
    """x, or None for a float that JSON cannot hold (NaN, infinity)."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _cut_log(path: str, step: int) -> None:
    """Cut the log at `path` after the record of `step`, keeping only whole lines."""
    kept_bytes = 0
    try:
        with open(path, "rb") as f:
            for line in f:
                record = _parse_record(line)
                if record is None or record["step"] > step:
                    break
                kept_bytes += len(line)
    except FileNotFoundError:
        return
    if kept_bytes < os.path.getsize(path):
        os.truncate(path, kept_bytes)  # needs no free space, unlike rewriting the file


def _parse_record(line: bytes) -> Optional[Dict[str, object]]:
    """The record on a whole line of the log, or None for a partial or foreign line."""
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    ok = isinstance(record, dict) and isinstance(record.get("step"), int)
    return record if ok else None


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



def show_step(bar, smoothed: float, record: Dict[str, object], evals: List[Tuple[int, float]],
              compile_seconds: float = 0.0) -> None:
    """Update the progress bar (if any) after a step. compile_seconds: the time spent
    compiling step programs so far (shown when there is any: it is part of the time
    that tok/s divides by)."""
    if bar is None:
        return
    postfix = {"loss": f"{smoothed:.3f}", "tok/s": f"{record['tokens_per_s']:.0f}"}
    if evals:
        postfix["eval"] = f"{evals[-1][1]:.3f}"
    if compile_seconds > 0:
        postfix["compile"] = f"{compile_seconds:.1f}s"
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)


def progress_display(start: int, total: int, mode):
    """A tqdm bar (step, loss, eval loss, tokens/s, compile time and ETA), `ProgressLines` for
    mode "lines", or None when mode is false."""
    if not mode:
        return None
    if mode == "lines":
        return ProgressLines(start, total)
    from tqdm import tqdm
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, mininterval=0.5,
                desc="training")


class ProgressLines:
    """Progress as plain lines on stderr, for output that is not a terminal:

        step 100/1000  loss 2.613  tok/s 1234  eval 2.702  compile 3.1s  ETA 41 s

    one every tenth of the run and at least every `every_s` seconds. It has the
    part of tqdm's interface that `show_step` uses (set_postfix, update, close).
    """

    def __init__(self, start: int, total: int, every_s: float = 30.0):
        self.step, self.total, self.every_s = start, total, every_s
        self.stride = max(1, (total - start) // 10)
        self.start_step, self.started = start, time.perf_counter()
        self.last_line, self.postfix = self.started, {}

    def set_postfix(self, postfix: Dict[str, str], refresh: bool = False) -> None:
        self.postfix = postfix

    def update(self, n: int = 1) -> None:
        self.step += n
        now = time.perf_counter()
        if (self.step - self.start_step) % self.stride and self.step != self.total \
                and now - self.last_line < self.every_s:
            return
        self.last_line = now
        rate = (self.step - self.start_step) / (now - self.started) if now > self.started else 0.0
        eta = f"  ETA {(self.total - self.step) / rate:.0f} s" if rate > 0 else ""
        shown = "".join(f"  {name} {value}" for name, value in self.postfix.items())
        print(f"step {self.step}/{self.total}{shown}{eta}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass
