"""A submission reaches nothing but its own worker's folder (isolation.py).

Each breach below is a hostile engine.py that acts at import, graded through the
real grader (grade(), or `minigpt grade` for the batch) in both isolation modes:

- tmp: writes a file in /tmp;
- probe_folder: writes a file beside the probe script and in the grader's package;
- other_submission: in a batch, overwrites the next submission's engine.py;
- secret: reads a teacher's file next to the submissions and prints it into its feedback;
- processes: leaves a process behind (double fork and setsid);
- network: connects to 127.0.0.1, on a port this test listens on;

and one more: reads the grader's reference solutions.

The sandbox stops all of them. The fallback stops what it says it does: the batch
is read before any student code runs, processes left behind are ended (Linux), and
as root with a runtime user nobody can run, writes to the grader's folder; the
rest remain, and the test says which (FALLBACK_STOPS). Sandbox tests skip where
bwrap cannot run, unless MINIGPT_REQUIRE_SANDBOX=1 (CI), which makes them fail.
"""
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from exercises_data.submissions import write_submission
from minigpt.cli import main
from minigpt.exercises import isolation
from minigpt.exercises.grader import grade
from minigpt.exercises.reference import SOLUTIONS_DIR
from minigpt.exercises.sandbox import Limits
from minigpt.exercises.tasks import TASKS_BY_ID

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the isolation tests need Linux")
TASK = "1.1"  # one engine task: one worker, which imports engine.py (and so runs the breach)
PACKAGE = os.path.dirname(isolation.PROBES_PATH)
BREACHES = ("tmp", "probe_folder", "other_submission", "secret", "processes", "network")


def the_isolation(mode: str) -> isolation.Isolation:
    try:
        return isolation.choose(mode)
    except isolation.IsolationError as err:
        if os.environ.get("MINIGPT_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"MINIGPT_REQUIRE_SANDBOX=1 but {err}")
        pytest.skip(str(err))


def fallback_stops(breach: str, fallback) -> bool:
    """What the fallback is known to stop (see isolation.py)."""
    # as root the workers run as nobody, who cannot write in root's folders; otherwise as the grading user
    worker_writes = os.stat(PACKAGE).st_mode & 0o002 if fallback.user else os.access(PACKAGE, os.W_OK)
    return {"tmp": False,                     # /tmp is everyone's
            "probe_folder": not worker_writes,
            "other_submission": True,         # read before any student code runs
            "secret": False,                  # a file everyone may read stays readable
            "processes": fallback.reaper,     # the grader adopts and ends them
            "network": False}[breach]


def hostile(folder, code: str) -> Path:
    """The reference solution, with `code` run when engine.py is imported (never raising)."""
    body = "".join("    " + line + "\n" for line in code.strip().splitlines())
    return write_submission(folder, prepend={"engine": f"try:\n{body}except BaseException as _err:\n"
                                                       f"    print('breach refused:', repr(_err))\n"})


def output_of(report) -> str:
    return "\n".join(r.output for r in report.tasks)


def graded(folder, mode):
    report = grade(folder, [TASK], limits=Limits(memory_mb=512, isolation=mode))
    return report, output_of(report)


@pytest.fixture
def token():
    return uuid.uuid4().hex


@pytest.fixture(params=["sandbox", "fallback"])
def mode(request):
    the_isolation(request.param)
    return request.param


def expect(mode: str, breach: str, stopped: bool) -> None:
    wanted = True if mode == "sandbox" else fallback_stops(breach, isolation.choose("fallback"))
    assert stopped == wanted, (f"{breach} is {'stopped' if stopped else 'not stopped'} in the {mode} mode, "
                               f"expected {'stopped' if wanted else 'not stopped'}")


def test_a_file_in_tmp(tmp_path, mode, token):
    target = Path("/tmp") / f"minigpt-breach-{token}"
    try:
        report, output = graded(hostile(tmp_path / "sub", f"open({str(target)!r}, 'w').write('x')\n"
                                                          f"print('wrote /tmp')"), mode)
        assert report.tasks[0].score == TASKS_BY_ID[TASK].points  # the breach costs the grade nothing
        assert ("wrote /tmp" in output) == target.exists()
        expect(mode, "tmp", not target.exists())
    finally:
        if target.exists():
            target.unlink()


def test_a_file_beside_the_probe_script(tmp_path, mode, token):
    code = f"""import os, sys
for folder in (os.path.dirname(os.path.abspath(sys.argv[0])), {PACKAGE!r}):
    try:
        open(os.path.join(folder, 'breach-{token}'), 'w').write('x')
        print('wrote in', folder)
    except OSError as err:
        print('refused', folder, err)"""
    fallback = isolation.choose("fallback")
    places = [Path(PACKAGE, f"breach-{token}"), Path(os.path.dirname(fallback.probes), f"breach-{token}")]
    try:
        report, output = graded(hostile(tmp_path / "sub", code), mode)
        assert "refused" in output or "wrote in" in output  # it ran
        expect(mode, "probe_folder", not any(p.exists() for p in places))
    finally:
        for place in places:
            if place.exists():
                place.unlink()


def test_a_batch_cannot_change_the_next_submission(tmp_path, mode, capsys):
    second = write_submission(tmp_path / "b")
    first = hostile(tmp_path / "a", f"open({str(second / 'engine.py')!r}, 'w').write('raise SystemExit(1)')")
    before = (second / "engine.py").read_bytes()
    grades = tmp_path / "grades.csv"
    assert main(["grade", str(first), str(second), "--csv", str(grades), "--tasks", TASK,
                 "--isolation", mode, "--memory-mb", "512"]) == 0
    assert f"isolation: {mode}" in capsys.readouterr().out
    rows = {Path(row["submission"]).name: row for row in csv.DictReader(grades.open())}
    assert float(rows["b"][TASK]) == TASKS_BY_ID[TASK].points
    expect(mode, "other_submission", True)
    # the file on disk: the sandbox cannot see it; the fallback as the grading user can write it
    changed = (second / "engine.py").read_bytes() != before
    assert changed == (mode == "fallback" and isolation.choose("fallback").user is None)


def test_a_teachers_file_next_to_the_submissions(mode, token):
    course = Path(tempfile.mkdtemp(prefix="minigpt-course-"))  # a course folder everyone may read
    try:
        course.chmod(0o755)
        secret = course / "secret.txt"
        secret.write_text(f"the answers: {token}\n")
        secret.chmod(0o644)
        report, output = graded(hostile(course / "sub", f"print(open({str(secret)!r}).read())"), mode)
        assert "breach refused" in output or token in output  # it ran
        expect(mode, "secret", token not in output)
    finally:
        shutil.rmtree(course)


def _everyone_reads(path: Path) -> bool:
    folders = [p for p in path.parents]
    return bool(path.stat().st_mode & 0o004) and all(p.stat().st_mode & 0o001 for p in folders)


def test_the_reference_solutions_are_out_of_reach(tmp_path, mode):
    """Not one of the issue's breaches, but the worst of them: code that loads the
    grader's own reference solutions would pass every check."""
    solution = SOLUTIONS_DIR / "engine.py"
    code = f"print('solution:', open({str(solution)!r}).read().count('BEGIN SOLUTION'))"
    report, output = graded(hostile(tmp_path / "sub", code), mode)
    assert "breach refused" in output or "solution:" in output  # it ran
    fallback = isolation.choose("fallback")
    readable = _everyone_reads(solution) if fallback.user else os.access(solution, os.R_OK)
    stopped = "solution:" not in output
    assert stopped == (mode == "sandbox" or not readable)


def _processes_with(token: str):
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found


def test_no_process_outlives_the_grading(tmp_path, mode, token):
    code = f"""import os, sys
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(120)', {token!r}])
    os._exit(0)
os.waitpid(pid, 0)
print('left a process behind')"""
    try:
        report, output = graded(hostile(tmp_path / "sub", code), mode)
        assert "left a process behind" in output
        expect(mode, "processes", not _processes_with(token))
    finally:
        for pid in _processes_with(token):
            os.kill(pid, 9)


def test_no_connection_to_localhost(tmp_path, mode):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        code = f"""import socket
s = socket.create_connection(('127.0.0.1', {port}), timeout=5)
s.sendall(b'breach')
print('connected')"""
        report, output = graded(hostile(tmp_path / "sub", code), mode)
        assert "connected" in output or "breach refused" in output  # it ran
        listener.settimeout(0.0)
        try:
            listener.accept()[0].close()  # a connection made while it ran waits here
            connected = True
        except (BlockingIOError, socket.timeout):
            connected = False
        assert connected == ("connected" in output)
        expect(mode, "network", not connected)


def test_the_sandbox_refuses_to_grade_without_bwrap(tmp_path, monkeypatch, capsys):
    """`--isolation sandbox` stops with a clear message (and Gradescope's results file);
    auto grades in the fallback and says why."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(isolation.IsolationError, match="bwrap not found"):
        isolation.Sandbox.detect()
    monkeypatch.setattr(isolation, "_chosen", {})
    monkeypatch.setattr(isolation, "_sandbox_failure", ["bwrap not found"])
    folder, results = write_submission(tmp_path / "sub"), tmp_path / "results.json"
    assert main(["grade", str(folder), "--tasks", TASK, "--isolation", "sandbox", "--results", str(results)]) == 2
    assert "the sandbox cannot run here: bwrap not found" in capsys.readouterr().err
    assert "bwrap not found" in results.read_text()  # not graded, and why
    assert main(["grade", str(folder), "--tasks", TASK, "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("isolation: fallback (no sandbox: bwrap not found): workers run")


def test_exercises_check_names_its_isolation(tmp_path, mode, capsys):
    folder = write_submission(tmp_path / "sub")
    assert main(["exercises", "check", TASK, "--dir", str(folder), "--isolation", mode]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"isolation: {mode}") and out.count("isolation:") == 1


def test_a_bwrap_that_cannot_make_namespaces_is_named(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"  # what bwrap says in a container without user namespaces
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(isolation.IsolationError, match="bwrap cannot make its sandbox here: bwrap: No permissions"):
        isolation.Sandbox.detect()


def test_the_sandbox_sees_only_the_runtime_and_its_box():
    sandbox = the_isolation("sandbox")
    with tempfile.TemporaryDirectory() as box:
        Path(box, "mine").write_text("x")
        seen = subprocess.run(sandbox.command(box, ["-c", _LOOK]), capture_output=True, text=True, timeout=60,
                              env=isolation.worker_env("/box"))
    assert seen.returncode == 0, seen.stderr
    found = dict(line.split("=", 1) for line in seen.stdout.splitlines())
    assert found["box"] == "['mine']" and found["writes"] == "['/box']"
    assert found["home"] == "False" and found["packages"] == "[]"  # no /home, /root's files, site-packages
    assert found["env"] == "['HOME', 'LC_ALL', 'PATH', 'TMPDIR']"


def test_minigpt_stays_hidden_even_inside_the_runtime(monkeypatch):
    """Were minigpt (and its reference solutions) installed inside a folder of the runtime,
    the sandbox would hide it; site-packages are hidden anyway."""
    import sysconfig
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    monkeypatch.setattr(isolation, "PROBES_PATH", os.path.join(stdlib, "minigpt", "exercises", "probes.py"))
    binds = isolation._runtime_binds(os.path.realpath(sys.executable))
    pairs = list(zip(binds, binds[1:]))
    assert ("--tmpfs", os.path.join(stdlib, "minigpt")) in pairs
    assert ("--ro-bind", stdlib) in pairs or any(a == "--ro-bind" and stdlib.startswith(b + "/") for a, b in pairs)


_LOOK = """import os, sys, glob
print('box=%s' % sorted(os.listdir('/box')))
writes = []
for folder in ['/', '/box', '/tmp', '/grader', '/dev/shm', os.path.dirname(sys.executable)]:
    try:
        open(os.path.join(folder, 'w'), 'w').close()
        writes.append(folder)
    except OSError:
        pass
print('writes=%s' % writes)
print('home=%s' % (os.path.exists('/home') or os.path.exists('/etc/passwd')))
print('packages=%s' % [p for p in glob.glob(sys.prefix + '/lib*/**/*-packages/*', recursive=True)])
print('env=%s' % sorted(k for k in os.environ if k != 'PWD'))
"""


def test_gradescope_setup_installs_bubblewrap_when_apt_is_there(tmp_path):
    """setup.sh asks apt-get for bubblewrap when bwrap is missing, and succeeds whether or
    not that works, or whether apt-get is there at all (tried with stand-in commands)."""
    setup = Path(isolation.__file__).parent / "templates" / "setup.sh"
    log = tmp_path / "calls"
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "python3").write_text(f"#!/bin/sh\necho python3 \"$@\" >> {log}\n")
    for status in (0, 100, None):
        apt = bin_ / "apt-get"
        if status is None:
            apt.unlink()
        else:
            apt.write_text(f"#!/bin/sh\necho apt-get \"$@\" >> {log}\n[ \"$1\" = install ] && exit {status}\nexit 0\n")
        for script in bin_.iterdir():
            script.chmod(0o755)
        log.write_text("")
        done = subprocess.run([shutil.which("bash"), str(setup)], capture_output=True, text=True, timeout=60,
                              env={"PATH": str(bin_)})
        assert done.returncode == 0, done.stderr
        calls = log.read_text()
        assert ("apt-get install -y bubblewrap" in calls) == (status is not None), calls
        assert "pip install" in calls  # the rest of the setup still ran
