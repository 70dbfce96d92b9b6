"""Running a student's code in worker processes, and reading back only raw data.

For each task the grader copies the submission's engine.py, nn.py and gpt.py (and
nothing else) into a fresh temporary directory and starts

    python -I -S -B probes.py FD

there, in a new session with an empty environment, kept away from the rest of
the machine as isolation.py says (a bubblewrap sandbox, or a fallback where that
cannot run; `Limits.isolation` chooses). `-I`
ignores PYTHON* variables and the user's site-packages, `-S` leaves out
site-packages altogether, so student code cannot import minigpt or anything else
installed. The worker reads its spec (the checks, and the reference source when
parts of the reference stand in) from stdin before importing student code, caps
its own address space, and reports on the pipe FD, which only the grader reads:
one JSON line per event (import, ready, start of a check, done with the raw data).

The grader enforces the rest: a time limit per check (the worker is killed, with
every process it started, and the remaining checks run in a new worker, so checks
1-2 keep their results when check 3 hangs), a time budget for the whole submission
(TimeBudget: past a share of its limit, a check draws on time shared by all the
submission's checks, so a code path that hangs in every check costs the budget, not
every limit in full), a cap on how much printed output is kept, and a clear message
when the worker dies. Nothing the student's code prints or writes is read as a result.
"""
import json
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from . import isolation
from .tasks import Check


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 1024         # address space of a worker
    output_bytes: int = 16 * 1024  # printed output kept per worker (the rest is read and dropped)
    import_timeout: float = 20.0  # seconds to import the student's modules
    timeout_scale: float = 1.0    # multiplies every check's time limit (for slow machines)
    isolation: str = "auto"       # 'auto', 'sandbox' or 'fallback' (isolation.choose)
    hang_budget: float = 60.0     # seconds a submission's checks may run past their grace, together (scaled too)
    grace: float = 0.2            # share of its time limit a check (or an import) may always use


@dataclass
class WorkerRun:
    answers: Dict[str, dict]  # check id -> {'raw': ...} or {'error': ...}
    output: str               # what the student's code printed, cut to Limits.output_bytes
    memory_capped: bool       # False when a worker said it could not set its memory limit


class TimeBudget:
    """Worker time that one submission's checks may spend past their grace, shared by all
    its tasks (thread-safe).

    A check (or an import) may always run for `Limits.grace` of its time limit; past
    that it draws on this budget, and it is stopped at its limit or once the budget is
    spent, whichever comes first; the rest of a task stopped by the budget is not run
    (run_checks). So however many checks hang, a submission costs the budget plus a
    grace per task that hangs, and a check that ends within its grace never notices
    the budget."""
    TICK = 1.0  # a check drawing on the budget is looked at this often (the most it overdraws)

    def __init__(self, limits: "Limits"):
        self.seconds = limits.hang_budget * limits.timeout_scale
        self.grace = limits.grace
        self.spent = 0.0
        self._lock = threading.Lock()

    def draw(self, seconds: float) -> bool:
        """Charge `seconds` that a check ran past its grace; False once the budget is spent."""
        with self._lock:
            self.spent += seconds
            return self.spent <= self.seconds

    def left(self) -> float:
        with self._lock:
            return max(0.0, self.seconds - self.spent)


class _Clock:
    """The time limit of what runs now (a check, or the import): stopped at `limit`
    seconds, or, with a budget, past its grace once the budget is spent."""

    def __init__(self, limit: float, budget: Optional[TimeBudget]):
        self.start = time.monotonic()
        self.limit, self.budget = limit, budget
        self.paid = self.start + (limit * budget.grace if budget else limit)  # covered up to here
        self.out_of_budget = False

    def deadline(self) -> float:
        """When to look again (the event loop wakes up then if nothing happens)."""
        hard = self.start + self.limit
        if self.budget is None or self.paid >= hard:
            return hard
        return min(hard, self.paid + min(self.budget.left(), TimeBudget.TICK))

    def expired(self) -> bool:
        """Whether it must stop now; time past the grace is charged to the budget."""
        now = time.monotonic()
        self.settle(now)
        return now >= self.start + self.limit or self.out_of_budget

    def settle(self, now: Optional[float] = None) -> None:
        """Charge the budget for the time run past the grace (and not charged yet)."""
        now = time.monotonic() if now is None else now
        if self.budget is not None and now > self.paid:
            self.out_of_budget = not self.budget.draw(min(now, self.start + self.limit) - self.paid)
            self.paid = now

    def stopped_because(self, what: str) -> str:
        if self.out_of_budget:
            return (f"was stopped after {time.monotonic() - self.start:.3g} s: it ran past "
                    f"{self.limit * self.budget.grace:.3g} s and the submission's time budget for slow checks "
                    f"({self.budget.seconds:g} s in all) ran out (an endless loop, or far too slow?)")
        return f"took longer than {self.limit:g} s ({what})"


def _error(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message, "where": ""}}


def _import_failure(module: str, error: dict) -> dict:
    if error["type"] == "MissingFile":
        return _error("MissingFile", error["message"])
    where = f" ({error['where']})" if error.get("where") else ""
    text = f": {error['message']}" if error.get("message") else ""
    return _error("ImportFailed", f"importing {module}.py raised {error['type']}{text}{where}")


def _died(code: Optional[int], during: str) -> dict:
    if code is not None and code < 0:
        how = f"was killed by signal {signal.Signals(-code).name}" if -code in signal.valid_signals() else \
            f"was killed by signal {-code}"
    else:
        how = f"exited with status {code}"
    return _error("WorkerDied", f"the process running your code {how} {during} (does the code call "
                                f"sys.exit or os._exit, or crash the interpreter?)")


class _Attempt:
    """One worker process: start it, feed it the spec, follow its events."""

    def __init__(self, box: str, spec: dict, limits: Limits):
        self.limits = limits
        self.isolation = isolation.choose(limits.isolation)
        read_fd, write_fd = os.pipe()
        try:
            self.proc = self.isolation.start(box, write_fd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT)
        finally:
            os.close(write_fd)  # the worker holds the only write end: EOF when it ends
        self.events = os.fdopen(read_fd, "rb", buffering=0)
        try:
            self.proc.stdin.write(json.dumps(spec).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # it died at once; the event loop reports that
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.events, selectors.EVENT_READ, "events")
        self.selector.register(self.proc.stdout, selectors.EVENT_READ, "output")
        self.pending = b""
        self.output = bytearray()
        self.memory_capped = None  # unknown until the worker says hello

    def next_event(self, deadline: float) -> Optional[dict]:
        """The next event, {} at the end of the stream, or None when the deadline passes."""
        while True:
            line, newline, rest = self.pending.partition(b"\n")
            if newline:
                self.pending = rest
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # not ours: the channel only ever carries whole JSON lines
                if isinstance(event, dict):
                    return event
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            for key, _ in self.selector.select(timeout=remaining):
                chunk = self._read(key)
                if key.data == "events":
                    if not chunk:
                        return {}
                    self.pending += chunk

    def _read(self, key) -> bytes:
        """One chunk from a pipe: printed output is kept up to the cap; a closed pipe is dropped."""
        chunk = os.read(key.fileobj.fileno(), 65536)
        if not chunk:
            self.selector.unregister(key.fileobj)
        elif key.data == "output" and len(self.output) < self.limits.output_bytes:
            self.output += chunk[:self.limits.output_bytes - len(self.output)]
        return chunk

    def read_output(self, deadline: float) -> None:
        """Read what the worker printed until its pipes close or the deadline passes."""
        while self.selector.get_map() and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=max(0.0, deadline - time.monotonic())):
                self._read(key)

    def stop(self, finished: bool) -> Optional[int]:
        """Kill the worker and whatever it started, and return its exit status.
        A worker that finished gets a moment to close its stdout, so its last prints are kept."""
        if finished:
            self.read_output(time.monotonic() + 0.5)
        try:
            code = self.proc.wait(timeout=0.5) if self.proc.poll() is None else self.proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        self.isolation.end(self.proc)
        self.selector.close()
        self.events.close()
        self.proc.stdout.close()
        return self.isolation.status(code if code is not None else self.proc.returncode)


@dataclass
class _Stop:
    """Why a worker stopped: 'finished', 'timeout' or 'died' in check `index`, or
    'died_importing' while importing `module`."""
    reason: str
    index: int = 0
    module: str = ""


def run_checks(files: Dict[str, bytes], modules: Sequence[str], checks: List[Tuple[str, Check]],
               limits: Limits = Limits(), substitute: Sequence[str] = (),
               reference_sources: Optional[Dict[str, str]] = None,
               budget: Optional[TimeBudget] = None) -> WorkerRun:
    """Run `checks` (id, Check) on the submission's `files` ({'engine': bytes, ...}).

    Returns every check's answer; a check that hangs, kills its worker or runs out
    of memory gets an error answer and the checks after it run in a new worker.
    With a `budget` (the submission's, shared by its tasks), time past each check's
    grace is drawn from it; without one, each check has its full time limit.
    """
    answers: Dict[str, dict] = {}
    output = bytearray()
    capped = True
    remaining = list(checks)
    with tempfile.TemporaryDirectory(prefix="minigpt-grade-") as box:
        for name, data in files.items():
            Path(box, f"{name}.py").write_bytes(data)
        isolation.choose(limits.isolation).prepare_box(box)
        while remaining:
            spec = {"modules": list(modules), "memory_mb": limits.memory_mb, "substitute": list(substitute),
                    "reference": reference_sources if substitute else None,
                    "checks": [{"id": cid, "probe": c.probe, "args": c.args} for cid, c in remaining]}
            attempt = _Attempt(box, spec, limits)
            stop = _follow(attempt, remaining, answers, limits, budget)
            code = attempt.stop(finished=stop.reason == "finished")
            output += attempt.output
            capped = capped and attempt.memory_capped is not False
            if stop.reason == "finished":
                break
            if stop.reason == "died_importing":
                for cid, _ in remaining:
                    answers[cid] = _died(code, f"while importing {stop.module}.py")
                break
            if stop.reason == "died":
                answers[remaining[stop.index][0]] = _died(code, "during this check")
            stopped = answers.get(remaining[stop.index][0], {}).get("error", {})
            out_of_budget = stop.reason == "timeout" and stopped.get("type") == "TimeBudget"
            remaining = remaining[stop.index + 1:]
            if out_of_budget:
                for cid, _ in remaining:  # this code hangs and the budget is spent: fail fast
                    answers[cid] = _error("TimeBudget", "not run: the submission's time budget for slow checks ran "
                                                        "out, and an earlier check of this task hung")
                break
    answers = {cid: _name_memory_errors(a, limits) for cid, a in answers.items()}
    return WorkerRun(answers, output[:limits.output_bytes].decode("utf-8", "replace"), capped)


def _follow(attempt: _Attempt, checks, answers, limits: Limits, budget: Optional[TimeBudget] = None) -> _Stop:
    """Record answers as the worker sends them, until it finishes, stops or runs out of time.
    Import failures fill in every answer themselves: a new worker would not fix them."""
    ids = [cid for cid, _ in checks]
    timeouts = {cid: c.timeout * limits.timeout_scale for cid, c in checks}
    ready, module, current = False, "engine", None
    clock = _Clock(limits.import_timeout, budget)  # what runs now: the import, then each check

    def open_check() -> int:  # the check running now, or the next one to run
        return ids.index(current) if current else next(i for i, cid in enumerate(ids) if cid not in answers)

    while True:
        event = attempt.next_event(clock.deadline())
        if event is None:  # time to look at the clock
            if not clock.expired():
                continue  # it still has time (from the budget)
            if not ready:
                text = clock.stopped_because("an endless loop at import?")
                for cid in ids:
                    answers[cid] = _error("TimeBudget" if clock.out_of_budget else "Timeout",
                                          f"importing {module}.py {text}")
                return _Stop("finished")
            index = open_check()
            answers[ids[index]] = _error("TimeBudget" if clock.out_of_budget else "Timeout",
                                         clock.stopped_because("an endless loop, or far too slow"))
            return _Stop("timeout", index)
        if not event:  # the worker's end of the pipe closed
            if not ready:
                return _Stop("died_importing", module=module)
            if all(cid in answers for cid in ids):
                return _Stop("finished")
            return _Stop("died", open_check())
        kind = event.get("event")
        if kind == "hello":
            attempt.memory_capped = bool(event.get("memory_capped"))
        elif kind == "import":
            module = str(event.get("module"))
        elif kind == "import_error":
            failure = _import_failure(module, event.get("error") or {})
            for cid in ids:
                answers[cid] = failure
            return _Stop("finished")
        elif kind == "ready":
            clock.settle()
            ready = True
            clock = _Clock(limits.import_timeout, None)  # the worker's own step to the next check
        elif kind == "start" and ready and event.get("check") in ids and event.get("check") not in answers:
            current = event["check"]
            clock = _Clock(timeouts[current], budget)
        elif kind == "done" and current is not None and event.get("check") == current:
            clock.settle()
            answers[current] = {k: event[k] for k in ("raw", "error") if k in event}
            current = None
            clock = _Clock(limits.import_timeout, None)
            if all(cid in answers for cid in ids):
                return _Stop("finished")


def _name_memory_errors(answer: dict, limits: Limits) -> dict:
    if "error" in answer and answer["error"].get("type") == "MemoryError":
        return _error("MemoryLimit", f"ran out of memory: the grader allows {limits.memory_mb} MB (MemoryError)")
    return answer
