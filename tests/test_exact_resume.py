"""A resumed run is bit-identical to an uninterrupted one: at every interruption point,
for every data source (a file with a validation split, the built-in corpus, a stream,
the shipped names) and every way of stopping (a signal before a step, inside the Adam
update or during an evaluation; a kill after a periodic save).

The runs go through the `minigpt train` command. In-process, a signal is sent to this
process at a chosen moment and a kill is an exception no code catches, which ends the
run without a save, as `kill -9` would; `test_kill_9_of_a_real_process` does the same
with real processes. The default run tries a few points; `pytest -m slow` tries all.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from minigpt.cli import main
from minigpt.optim import Adam
from minigpt.train import Trainer
from test_cli import NAMES

STEPS = 12
RUN = ["--steps", str(STEPS), "--eval-every", "4", "--checkpoint-every", "3", "--seed", "2", "--d-model", "8",
       "--heads", "2", "--no-progress", "--no-compile"]
SOURCES = {
    "file-val-split": ["--val-fraction", "0.3"],
    "builtin": ["--data", "builtin", "--documents", "30"],
    "stream": ["--stream", "--context", "8"],
    "names": ["--data", "names"],
}


@pytest.fixture(scope="module")
def names_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "names.txt"
    path.write_text(NAMES, encoding="utf-8")
    return str(path)


def source_args(source, names_path):
    args = SOURCES[source]
    return args if "--data" in args else ["--data", names_path, *args]


def outcome(out_dir):
    """What must be identical: weights, optimizer state, step, and the log's numbers."""
    ckpt = json.load(open(os.path.join(out_dir, "checkpoint.json")))
    log = [json.loads(line) for line in open(os.path.join(out_dir, "metrics.jsonl"))]
    return (ckpt["step"], ckpt["weights"], ckpt["optimizer"],
            [(r["step"], r["loss"], r["lr"], r.get("eval_loss")) for r in log])


_straight = {}


def straight(source, names_path, tmp_path_factory):
    """The uninterrupted run of a source (run once per test session)."""
    if source not in _straight:
        out_dir = str(tmp_path_factory.mktemp("straight") / source)
        assert main(["train", *source_args(source, names_path), *RUN, "--out", out_dir]) == 0
        _straight[source] = outcome(out_dir)
    return _straight[source]


class Killed(BaseException):
    """Ends a run at once, with no save and no clean-up of the run's own: like kill -9."""


def send_sigint():
    os.kill(os.getpid(), signal.SIGINT)


def kill():
    raise Killed


def hook(monkeypatch, owner, name, when, action):
    """Make `owner.name` call action() first on the call where when(self) is true."""
    real = getattr(owner, name)

    def wrapped(self, *args, **kwargs):
        if when(self):
            action()
        return real(self, *args, **kwargs)
    monkeypatch.setattr(owner, name, wrapped)


# (how, the step k it is armed at) -> the step the saved checkpoint must hold
INTERRUPTIONS = {
    "sigint-before-step": lambda mp, k: (hook(mp, Trainer, "train_step", lambda t: t.step == k, send_sigint), k + 1),
    "sigint-inside-update": lambda mp, k: (hook(mp, Adam, "step", lambda o: o.steps == k, send_sigint), k + 1),
    # evaluate() runs after the update of an evaluation step (4, 8, 12)
    "sigint-during-eval": lambda mp, k: (hook(mp, Trainer, "evaluate", lambda t: t.step == k, send_sigint), k),
    "kill-after-periodic-save": lambda mp, k: (hook(mp, Trainer, "train_step", lambda t: t.step == k, kill),
                                               k // 3 * 3),
}


def interrupt_then_resume(source, how, k, names_path, tmp_path, monkeypatch):
    out_dir = str(tmp_path / "run")
    with monkeypatch.context() as mp:
        _, expected_step = INTERRUPTIONS[how](mp, k)
        argv = ["train", *source_args(source, names_path), *RUN, "--out", out_dir]
        if how.startswith("kill"):
            with pytest.raises(Killed):
                main(argv)
        else:
            assert main(argv) == 130
    ckpt = json.load(open(os.path.join(out_dir, "checkpoint.json")))
    assert ckpt["optimizer"]["steps"] == ckpt["step"]  # never an update ahead of the recorded step
    assert ckpt["step"] == expected_step
    resume_dir = tmp_path / "elsewhere"  # resumed from another folder, without --out
    resume_dir.mkdir()
    monkeypatch.chdir(resume_dir)
    assert main(["train", "--resume", os.path.join(out_dir, "checkpoint.json"), "--no-progress"]) == 0
    return outcome(out_dir)


def cases(points):
    return [pytest.param(source, how, k, id=f"{source}-{how}-{k}", marks=marks)
            for source in SOURCES for how in INTERRUPTIONS for k in range(STEPS)
            for marks in [() if (source, k) in points or (source, how, k) in points else pytest.mark.slow]
            if not (how == "kill-after-periodic-save" and k < 3)  # nothing saved yet: nothing to resume
            if not (how == "sigint-during-eval" and (k % 4 or k == 0))]


# the default run: the first step, a periodic save (3), an evaluation (4) and the last step,
# each on one source, and every way of interrupting at step 4 on the stream (the shipped
# names take longer to read and evaluate: they are tried under `pytest -m slow`)
DEFAULT_POINTS = ({("file-val-split", 0), ("file-val-split", 3), ("builtin", 11), ("builtin", 3)}
                  | {("stream", k) for k in (4,)})


@pytest.mark.parametrize("source, how, k", cases(DEFAULT_POINTS))
def test_resume_is_exact(source, how, k, names_path, tmp_path, tmp_path_factory, monkeypatch):
    expected = straight(source, names_path, tmp_path_factory)
    assert interrupt_then_resume(source, how, k, names_path, tmp_path, monkeypatch) == expected


# ---- real processes --------------------------------------------------------------------------
UNTIL = 40  # the real runs are planned for 100000 steps (so there is time to kill one); compared at 40


def run_until(step):
    """Trainer.run, stopping at `step` (as a run planned for more steps would be there)."""
    real = Trainer.run

    def run(self, progress=True, until=None):
        return real(self, progress, until=step)
    return run


@pytest.mark.parametrize("source", ["builtin", pytest.param("file-val-split", marks=pytest.mark.slow),
                                    pytest.param("stream", marks=pytest.mark.slow)])
def test_kill_9_of_a_real_process(source, names_path, tmp_path, monkeypatch):
    """SIGKILL after a periodic save, then a resume: the uninterrupted run's result."""
    run = [*source_args(source, names_path), *RUN, "--steps", "100000"]
    out_dir = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "minigpt", "train", *run, "--out", out_dir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = os.path.join(out_dir, "metrics.jsonl")
    deadline = time.monotonic() + 60
    while not (os.path.exists(log) and open(log, "rb").read().count(b"\n") >= 8):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.load(open(os.path.join(out_dir, "checkpoint.json")))["step"]
    assert 6 <= killed_at < UNTIL and killed_at % 3 == 0
    monkeypatch.setattr(Trainer, "run", run_until(UNTIL))
    assert main(["train", "--resume", os.path.join(out_dir, "checkpoint.json"), "--no-progress"]) == 0
    straight_dir = str(tmp_path / "straight")
    assert main(["train", *run, "--out", straight_dir]) == 0
    assert outcome(out_dir) == outcome(straight_dir)
