"""Training runs that never lose work: signals, full disks, crafted checkpoints, the log.

Signals go to real `minigpt train` processes; a full disk is a 64 KiB tmpfs (when
the machine lets the tests mount one) and, always, writes made to fail with ENOSPC.
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from minigpt.checkpoint import CheckpointError, SaveError, load_checkpoint, save_checkpoint
from minigpt.cli import main
from minigpt.train import MetricsLog, TrainConfig, Trainer
from test_cli import NAMES as NAMES_TEXT
from test_cli import names_file, one_line_error, run_cli  # noqa: F401 (names_file is a fixture)
from test_train import NAMES, tiny_setup


def log_steps(path):
    """The step numbers of the metrics log, parsed strictly (bare NaN is not JSON)."""
    def strict(name):
        raise ValueError(f"not JSON: {name}")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_constant=strict)["step"] for line in f]


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(".tmp")]


def assert_complete_run(out_dir, killed=False):
    """The folder holds a loadable checkpoint whose optimizer is at the same step, a
    log with one line per step up to it, and no partial file (unless the process
    was killed with SIGKILL, which nothing can clean up after). Returns the step."""
    ckpt = load_checkpoint(os.path.join(out_dir, "checkpoint.json"))
    assert ckpt.optimizer_state["steps"] == ckpt.step  # never saved one update ahead of the step
    assert log_steps(os.path.join(out_dir, "metrics.jsonl"))[:ckpt.step] == list(range(1, ckpt.step + 1))
    assert killed or leftovers(out_dir) == []
    return ckpt.step


# ---- 1. signals, through real processes --------------------------------------------------
def start_training(out_dir, data, *extra):
    argv = [sys.executable, "-m", "minigpt", "train", "--data", data, "--out", out_dir, "--no-progress",
            "--steps", "100000", "--no-compile", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_steps(proc, out_dir, n, timeout=60.0):
    """Wait until the run has logged n steps."""
    log = os.path.join(out_dir, "metrics.jsonl")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if os.path.exists(log) and open(log, "rb").read().count(b"\n") >= n:
            return
        time.sleep(0.005)
    proc.kill()
    pytest.fail(f"the run did not reach step {n} in {timeout} s")


# runs that are compared weight for weight (on the graph path: 60 steps do not repay compiling)
EXACT = ["--steps", "60", "--eval-every", "5", "--seed", "2", "--no-compile"]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """(names file, checkpoint data) of an uninterrupted run with the EXACT options."""
    folder = tmp_path_factory.mktemp("straight")
    names = folder / "names.txt"
    names.write_text(NAMES_TEXT, encoding="utf-8")
    assert main(["train", "--data", str(names), "--out", str(folder / "run"), "--no-progress", *EXACT]) == 0
    return str(names), json.load(open(folder / "run" / "checkpoint.json"))


def resume_and_compare(capsys, out_dir, straight):
    """Resume the run in out_dir to the end: the log and the weights are those of the straight run."""
    code, out, err = run_cli(capsys, "train", "--resume", os.path.join(out_dir, "checkpoint.json"),
                             "--out", out_dir, "--no-progress")
    assert code == 0, err
    assert leftovers(out_dir) == []  # the next save replaced a partial file a kill may have left
    assert log_steps(os.path.join(out_dir, "metrics.jsonl")) == list(range(1, 61))  # no gap, no repeat
    resumed = json.load(open(os.path.join(out_dir, "checkpoint.json")))
    assert resumed["weights"] == straight["weights"] and resumed["optimizer"] == straight["optimizer"]


def test_sigterm_saves_like_ctrl_c(tmp_path, straight_run, capsys):
    names, straight = straight_run
    out_dir = str(tmp_path / "run")
    proc = start_training(out_dir, names, *EXACT)
    wait_for_steps(proc, out_dir, 3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in out and "Traceback" not in err
    step = assert_complete_run(out_dir)
    assert 3 <= step < 60 and len(log_steps(os.path.join(out_dir, "metrics.jsonl"))) == step
    resume_and_compare(capsys, out_dir, straight)


def start_big_run(out_dir, data):
    """A model big enough that stopping takes a while (on CPython a step takes about
    0.3 s and a save 0.1 s), saving every 2 steps. (With d_model 48, PyPy finished the
    step, saved and exited within 0.1 s about one run in five, before the second
    Ctrl-C of the test below arrived.)"""
    return start_training(out_dir, data, "--d-model", "96", "--checkpoint-every", "2", "--eval-every", "0")


@pytest.mark.parametrize("delay", [0.02, pytest.param(0.1, marks=pytest.mark.slow)])
def test_a_second_ctrl_c_during_the_save_waits_for_it(tmp_path, names_file, delay):
    """The report's case: a second Ctrl-C 20-100 ms after the first, while the run saves."""
    out_dir = str(tmp_path / "run")
    proc = start_big_run(out_dir, names_file)
    wait_for_steps(proc, out_dir, 3)
    proc.send_signal(signal.SIGINT)
    # Two signals sent while the run is not scheduled arrive as one (the kernel keeps one
    # pending SIGINT), as on a busy machine: the second goes once the first has been taken.
    seen = ""
    while "stopping after this step" not in seen:
        line = proc.stderr.readline()
        assert line, seen  # the run ended without taking the first signal
        seen += line
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = seen + err
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "already stopping" in err and "stopped by SIGINT" in out
    assert assert_complete_run(out_dir) >= 3


@pytest.mark.slow  # the default run has the second Ctrl-C during the save, and SIGTERM
def test_a_storm_of_signals_keeps_a_complete_checkpoint(tmp_path, names_file):
    """SIGINT and SIGTERM every 2 ms, during steps, saves and the exit itself."""
    out_dir = str(tmp_path / "run")
    proc = start_big_run(out_dir, names_file)
    wait_for_steps(proc, out_dir, 3)
    presses = 0
    while proc.poll() is None and presses < 5000:
        proc.send_signal(signal.SIGTERM if presses % 2 else signal.SIGINT)
        presses += 1
        time.sleep(0.002)
    proc.communicate(timeout=60)
    assert presses >= 10  # (signals that land after the report may end the exit itself: nothing is lost then)
    assert assert_complete_run(out_dir) >= 3


def test_kill_9_then_resume_ends_exactly_like_an_uninterrupted_run(tmp_path, straight_run, capsys):
    names, straight = straight_run
    out_dir = str(tmp_path / "killed")
    proc = start_training(out_dir, names, *EXACT, "--checkpoint-every", "3")
    wait_for_steps(proc, out_dir, 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = assert_complete_run(out_dir, killed=True)  # the log is flushed: it holds every saved step
    assert 9 <= step < 60 and step % 3 == 0
    resume_and_compare(capsys, out_dir, straight)


# ---- exact resume whatever the moment of the interruption (in-process) -------------------
def straight_weights(config):
    model, tok, data = tiny_setup(seed=1)
    Trainer(model, tok, data, config).run(progress=False)
    return [p.data for p in model.parameters()]


def interrupt_and_resume(tmp_path, config, arm):
    """Run until `arm(trainer)` makes it stop, then resume from the checkpoint."""
    path = str(tmp_path / f"c{uuid.uuid4().hex}.json")
    model, tok, data = tiny_setup(seed=1)
    trainer = Trainer(model, tok, data, config, checkpoint_path=path)
    arm(trainer)
    result = trainer.run(progress=False)
    assert result.interrupted and result.step < config.steps
    ckpt = load_checkpoint(path)
    assert ckpt.step == result.step == ckpt.optimizer_state["steps"]
    _, _, data = tiny_setup(seed=1)
    Trainer(ckpt.model, ckpt.tokenizer, data, config, start_step=ckpt.step,
            optimizer_state=ckpt.optimizer_state).run(progress=False)
    return [p.data for p in ckpt.model.parameters()], ckpt.step


def at_step(trainer, obj, name, step, action):
    """Make `obj.name()` call `action()` first while the trainer is at `step`."""
    real = getattr(obj, name)

    def wrapped():
        if trainer.step == step:
            action()
        return real()
    setattr(obj, name, wrapped)


def send_sigint():
    os.kill(os.getpid(), signal.SIGINT)


def raise_(error):
    raise error


def signal_inside_the_update(step):
    """SIGINT to this process in the middle of the Adam update of `step`."""
    return lambda trainer: at_step(trainer, trainer.optimizer, "step", step, send_sigint)


def keyboard_interrupt_before(step):
    """A KeyboardInterrupt raised by code (not a signal) before `step`."""
    return lambda trainer: at_step(trainer, trainer, "train_step", step, lambda: raise_(KeyboardInterrupt))


@pytest.mark.parametrize("step", [0, 1, 4, 7])
def test_exact_resume_after_an_interruption_at_any_step(tmp_path, step):
    config = TrainConfig(steps=9, lr=2e-2, eval_every=3, seed=5, compile=False)  # 9 steps: the graph path
    expected = straight_weights(config)
    weights, stopped = interrupt_and_resume(tmp_path, config, signal_inside_the_update(step))
    assert stopped == step + 1 and weights == expected  # the signal waits for the update to finish
    weights, stopped = interrupt_and_resume(tmp_path, config, keyboard_interrupt_before(step))
    assert stopped == step and weights == expected


# ---- 2. full disks and other failed saves --------------------------------------------------
def failing_open(limit):
    """An `open` whose files take `limit` bytes, then fail like a full disk."""
    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f, self.room = f, limit

        def write(self, text):
            if len(text) > self.room:
                self.f.write(text[:self.room])
                self.f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(text)
            return self.f.write(text)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __iter__(self):
            return iter(self.f)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    return lambda *a, **kw: FullDisk(real_open(*a, **kw))


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, names_file, capsys, monkeypatch):
    import minigpt.checkpoint
    out_dir = str(tmp_path / "run")
    assert run_cli(capsys, "train", "--data", names_file, "--steps", "3", "--out", out_dir, "--no-progress")[0] == 0
    checkpoint = os.path.join(out_dir, "checkpoint.json")
    before = open(checkpoint).read()
    monkeypatch.setattr(minigpt.checkpoint, "open", failing_open(1000), raising=False)
    code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--steps", "6", "--out", out_dir,
                           "--no-progress")
    one_line_error(code, err, "No space left on device", "kept", "at step 3")
    assert open(checkpoint).read() == before and leftovers(out_dir) == []


def test_a_log_that_cannot_be_written_stops_at_the_last_checkpoint(tmp_path, monkeypatch):
    import minigpt.runlog
    model, tok, data = tiny_setup()
    metrics, path = str(tmp_path / "m.jsonl"), str(tmp_path / "c.json")
    config = TrainConfig(steps=9, eval_every=0, checkpoint_every=1, compile=False)
    monkeypatch.setattr(minigpt.runlog, "open", failing_open(400), raising=False)  # room for a few lines
    result = Trainer(model, tok, data, config, checkpoint_path=path, metrics_path=metrics).run(progress=False)
    assert "cannot write" in result.error and "No space left on device" in result.error
    whole_lines = open(metrics).read().count("\n")
    assert 1 <= whole_lines < 9 and not open(metrics).read().endswith("\n")  # a partial line after them
    assert load_checkpoint(path).step == whole_lines  # the step whose record failed was never saved
    monkeypatch.undo()
    ckpt = load_checkpoint(path)
    Trainer(ckpt.model, ckpt.tokenizer, data, config, checkpoint_path=path, metrics_path=metrics,
            start_step=ckpt.step, optimizer_state=ckpt.optimizer_state).run(progress=False)
    assert log_steps(metrics) == list(range(1, 10))  # the partial line was cut


def mount_small_tmpfs(folder):
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here ({done.stderr.strip() or 'not permitted'}); "
                    "test_a_full_disk_keeps_the_previous_checkpoint covers the same with failing writes")


def fill(folder, leave):
    """Fill the file system of `folder` until only about `leave` bytes are free."""
    st = os.statvfs(folder)
    with open(os.path.join(folder, "filler"), "wb") as f:
        f.write(b"x" * max(0, st.f_bavail * st.f_frsize - leave))


def test_a_real_full_file_system(tmp_path, names_file, capsys):
    disk = tmp_path / "small"
    mount_small_tmpfs(disk)
    try:
        out_dir = str(disk / "run")
        code, _, err = run_cli(capsys, "train", "--data", names_file, "--steps", "3", "--d-model", "4",
                               "--heads", "2", "--d-ff", "8", "--out", out_dir, "--no-progress")
        assert code == 0, err
        checkpoint = os.path.join(out_dir, "checkpoint.json")
        before = open(checkpoint).read()
        fill(str(disk), leave=8192)  # room for log lines, not for a checkpoint
        code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--steps", "6", "--out", out_dir,
                           "--no-progress")
        one_line_error(code, err, "No space left on device", "kept", "at step 3")
        assert open(checkpoint).read() == before and leftovers(out_dir) == []
        os.remove(disk / "filler")  # with room again, the run continues where it stood
        code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--steps", "6", "--out", out_dir,
                           "--no-progress")
        assert code == 0, err
        assert assert_complete_run(out_dir) == 6
        assert log_steps(os.path.join(out_dir, "metrics.jsonl")) == list(range(1, 7))
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=False)  # lazy: even if a file is still open


def test_failed_saves_keep_the_previous_file(tmp_path):
    model, tok, _ = tiny_setup()
    path = str(tmp_path / "c.json")
    save_checkpoint(path, model, tok, step=1)
    before = open(path).read()
    model.parameters()[0].data = float("nan")
    with pytest.raises(SaveError, match="not finite"):
        save_checkpoint(path, model, tok, step=2)
    assert open(path).read() == before and leftovers(tmp_path) == []

    model.parameters()[0].data = 0.5
    (tmp_path / "dir.json").mkdir()  # a directory where the checkpoint goes
    with pytest.raises(SaveError, match="cannot save"):
        save_checkpoint(str(tmp_path / "dir.json"), model, tok)
    assert leftovers(tmp_path) == []
    (tmp_path / "c.json.tmp").mkdir()  # a directory where the partial file goes: not ours to remove
    with pytest.raises(SaveError, match="cannot save"):
        save_checkpoint(path, model, tok, step=3)
    assert open(path).read() == before and (tmp_path / "c.json.tmp").is_dir()


def test_a_diverging_run_stops_with_one_line_and_keeps_its_checkpoint(tmp_path, names_file, capsys):
    out_dir = str(tmp_path / "run")
    code, _, err = run_cli(capsys, "train", "--data", names_file, "--steps", "20", "--lr", "1e300",
                           "--checkpoint-every", "1", "--out", out_dir, "--no-progress")
    one_line_error(code, err, "diverged", "kept", "at step 1")
    steps = log_steps(os.path.join(out_dir, "metrics.jsonl"))  # strict JSON
    # step 2 overflows in the engine (OverflowError) before it has a loss: nothing logged for it
    assert steps == [1] and assert_complete_run(out_dir) == 1


def test_an_overflow_in_the_engine_is_a_divergence(tmp_path):
    model, tok, data = tiny_setup()
    path = str(tmp_path / "c.json")
    trainer = Trainer(model, tok, data, TrainConfig(steps=9, eval_every=0, checkpoint_every=2),
                      checkpoint_path=path)
    at_step(trainer, trainer, "train_step", 5, lambda: raise_(OverflowError("dot overflowed")))
    result = trainer.run(progress=False)
    assert "step 6 overflowed" in result.error and result.checkpoint is None
    assert load_checkpoint(path).step == 4


# ---- 4. the metrics log --------------------------------------------------------------------
def test_log_lines_are_strict_json(tmp_path):
    path = str(tmp_path / "m.jsonl")
    with MetricsLog(path, 0) as log:
        log.write({"step": 1, "loss": float("nan"), "lr": float("inf"), "eval_loss": 2.5})
    assert json.loads(open(path).read()) == {"step": 1, "loss": None, "lr": None, "eval_loss": 2.5}


def test_a_signal_during_evaluation_keeps_that_steps_record(tmp_path):
    model, tok, data = tiny_setup()
    metrics, path = str(tmp_path / "m.jsonl"), str(tmp_path / "c.json")
    trainer = Trainer(model, tok, data, TrainConfig(steps=20, eval_every=2), checkpoint_path=path,
                      metrics_path=metrics)
    at_step(trainer, trainer, "evaluate", 4, send_sigint)  # evaluate() runs after step 4's update
    result = trainer.run(progress=False)
    records = [json.loads(line) for line in open(metrics)]
    assert [r["step"] for r in records] == [1, 2, 3, 4] and "eval_loss" in records[3]
    assert load_checkpoint(path).step == result.step == 4 and result.signal == "SIGINT"


def test_a_resumed_run_continues_the_log_where_the_checkpoint_stands(tmp_path):
    metrics = tmp_path / "m.jsonl"
    # steps 1-6 logged, a run killed before saving step 6, and half a line
    metrics.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 7)) + '{"step": 7, "lo')
    model, tok, data = tiny_setup()
    Trainer(model, tok, data, TrainConfig(steps=8, eval_every=0), metrics_path=str(metrics),
            start_step=4).run(progress=False)
    assert log_steps(metrics) == [1, 2, 3, 4, 5, 6, 7, 8]
    Trainer(model, tok, data, TrainConfig(steps=2, eval_every=0), metrics_path=str(metrics)).run(progress=False)
    assert log_steps(metrics) == [1, 2]  # a new run starts a new log


# ---- 5. crafted checkpoints ---------------------------------------------------------------
def crafted(tmp_path, change):
    model, tok, _ = tiny_setup()
    path = str(tmp_path / "c.json")
    save_checkpoint(path, model, tok)
    data = json.load(open(path))
    text = change(data)
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(data))
    return path


def set_config(**sizes):
    return lambda data: data["model_config"].update(sizes)


def set_weight(text):
    def change(data):
        data["weights"]["ln_f.beta"][0] = 0.123456789  # a marker to replace
        return json.dumps(data).replace("0.123456789", text)
    return change


@pytest.mark.parametrize("change, message", [
    (set_config(d_ff=10 ** 6), "d_ff 1,000,000"),
    (set_config(d_ff=10 ** 9), "d_ff"),
    (set_config(n_layers=10 ** 9), "n_layers"),
    (set_config(d_model=2 * 10 ** 6, n_heads=2), "d_model"),
    (set_config(pos_encoding="learned", context_len=10 ** 8), "context_len"),
    (set_config(n_layers=40), "describes"),
    (set_weight("1" * 400), "400-digit integer"),
    (set_weight("-" + "9" * 5000), "5,000-digit integer"),
    (set_weight("1e400"), "not a finite number"),
    (lambda data: json.dumps(data).replace('"weights": {', '"weights": {"deep": ' + "[" * 100000, 1),
     "not valid JSON|nested"),
], ids=["d_ff=10**6", "d_ff=10**9", "n_layers=10**9", "d_model=2*10**6", "learned-context_len=10**8",
        "n_layers=40", "400-digit-weight", "5000-digit-weight", "1e400-weight", "nested-100000-deep"])
def test_crafted_checkpoints_fail_fast(tmp_path, change, message):
    path = crafted(tmp_path, change)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
    assert time.perf_counter() - start < 0.5


def test_crafted_checkpoints_are_one_line_errors_in_the_cli(tmp_path, capsys):
    path = crafted(tmp_path, set_config(d_ff=10 ** 9))
    code, _, err = run_cli(capsys, "sample", "--checkpoint", path)
    one_line_error(code, err, "d_ff")
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES), encoding="utf-8")
    path = crafted(tmp_path, lambda data: data.update(optimizer={"type": "Adam"}))
    code, _, err = run_cli(capsys, "train", "--resume", path, "--data", str(names), "--steps", "9")
    one_line_error(code, err, "optimizer state has no 'lr'")


def test_a_resumed_run_that_diverges_keeps_the_good_checkpoint(tmp_path, names_file, capsys):
    """Issue 11, item 8: `--lr 1e300` on a good run stops with one line naming the step,
    keeps the checkpoint byte for byte, and leaves no .tmp file and no bare NaN in the log."""
    out_dir = str(tmp_path / "run")
    assert run_cli(capsys, "train", "--data", names_file, "--steps", "3", "--out", out_dir, "--no-progress")[0] == 0
    checkpoint = os.path.join(out_dir, "checkpoint.json")
    before = open(checkpoint, "rb").read()
    code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--steps", "20", "--lr", "1e300",
                           "--schedule", "constant", "--no-progress")
    one_line_error(code, err, "step 5", "diverged", "kept", "at step 3")
    assert open(checkpoint, "rb").read() == before and leftovers(out_dir) == []
    assert log_steps(os.path.join(out_dir, "metrics.jsonl")) == [1, 2, 3, 4]  # strict JSON; cut on resume
