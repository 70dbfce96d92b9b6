"""Keeping a worker process, which runs a student's code, away from everything else.

    iso = choose("auto")          # 'auto', 'sandbox' or 'fallback'; detected once, then cached
    iso.description               # one line naming what is in use, for the grader to print
    iso.prepare_box(box)          # the worker's folder (holding the student's files) before it runs
    proc = iso.start(box, fd, stdin=PIPE, stdout=PIPE, stderr=STDOUT)  # python -I -S -B probes.py FD
    iso.end(proc)                 # kill the worker and every process it started
    iso.status(code)              # the worker's exit status as subprocess gives it (-N: signal N)

Two modes:

- sandbox: each worker runs under bubblewrap (`bwrap`, Linux) in namespaces of its
  own: no network (a loopback of its own), its own process tree (every process
  the student's code starts ends with the worker), and a filesystem holding only
  the Python runtime (read-only, without site-packages), the probe script
  (read-only) and the worker's box, its one writable place. Whether bwrap can make
  that sandbox here is tried once, by running the interpreter in it.
- fallback, where bwrap is missing or cannot make namespaces (some containers):
  the submissions are read before any student code runs (grader.py) and each
  worker gets its own copy of the files; as root, workers run as user nobody, with
  the box as its own; the grader becomes a child subreaper (Linux), so processes a
  worker leaves behind (even in a session of their own) are adopted by the grader
  and ended when the worker stops. Workers can still use the network and read (and
  without root, write) what their user can.

Either way the worker gets an almost empty environment, and the grader talks to it
through the pipe FD only (see sandbox.py).
"""
import atexit
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

from . import probes

PROBES_PATH = os.path.realpath(probes.__file__)
MODES = ("auto", "sandbox", "fallback")
UNPRIVILEGED_USER = "nobody"
SANDBOX_PROBES = "/grader/probes.py"  # where the probe script is seen inside the sandbox
SANDBOX_BOX = "/box"                  # and the worker's box
# What the worker imports before any student code, run once in the interpreter to see which
# shared libraries it maps (the sandbox shows their folders) and where its standard library is.
_SURVEY = """import gc, importlib, json, math, os, random, sys, traceback, types, zlib, resource
fields = [line.split(None, 5) for line in open("/proc/self/maps")]
maps = [f[5].strip() for f in fields if len(f) == 6]
print(json.dumps({"path": sys.path, "maps": maps}))
"""
# Run inside the sandbox when it is tried: the worker's imports, and the probe script readable.
_TRY = "import json, math, random, resource, zlib; open(%r).read(); print('ok')" % SANDBOX_PROBES


class IsolationError(RuntimeError):
    """The isolation asked for cannot run on this machine."""


def worker_env(home: str) -> Dict[str, str]:
    """The whole environment of a worker: nothing of the grader's."""
    return {"PATH": os.defpath, "HOME": home, "TMPDIR": home, "LC_ALL": "C.UTF-8"}


class Isolation:
    """How workers start and end; see the module docstring."""
    mode = ""
    description = ""

    def prepare_box(self, box: str) -> None:
        pass

    def start(self, box: str, fd: int, **popen) -> subprocess.Popen:
        raise NotImplementedError

    def end(self, proc: subprocess.Popen) -> None:
        raise NotImplementedError

    def status(self, code: Optional[int]) -> Optional[int]:
        return code


_lock = threading.Lock()
_chosen: Dict[str, Isolation] = {}
_sandbox_failure: List[str] = []  # why the sandbox cannot run, once tried


def choose(mode: str = "auto") -> Isolation:
    """The isolation for `mode`: 'sandbox' (raises IsolationError where it cannot run),
    'fallback', or 'auto' (the sandbox where it runs, else the fallback, which says why)."""
    if mode not in MODES:
        raise IsolationError(f"unknown isolation {mode!r}: expected one of {', '.join(MODES)}")
    with _lock:
        if "sandbox" not in _chosen and not _sandbox_failure and mode != "fallback":
            try:
                _chosen["sandbox"] = Sandbox.detect()
            except IsolationError as err:
                _sandbox_failure.append(str(err))
        if mode == "sandbox" and _sandbox_failure:
            raise IsolationError(f"the sandbox cannot run here: {_sandbox_failure[0]}")
        if mode != "fallback" and "sandbox" in _chosen:
            return _chosen["sandbox"]
        if "fallback" not in _chosen:
            _chosen["fallback"] = Fallback()
        if mode == "auto" and "auto" not in _chosen:
            fallback = _chosen["fallback"]
            _chosen["auto"] = _Named(fallback, f"fallback (no sandbox: {_sandbox_failure[0]}): {fallback.details}")
        return _chosen[mode]


class _Named(Isolation):
    """An isolation with a description of its own (auto's fallback says why it is not the sandbox)."""

    def __init__(self, inner: Isolation, description: str):
        self.inner, self.mode, self.description = inner, inner.mode, description

    def prepare_box(self, box):
        self.inner.prepare_box(box)

    def start(self, box, fd, **popen):
        return self.inner.start(box, fd, **popen)

    def end(self, proc):
        self.inner.end(proc)

    def status(self, code):
        return self.inner.status(code)


# --------------------------------------------------------------------------------------
# sandbox: bubblewrap
# --------------------------------------------------------------------------------------
class Sandbox(Isolation):
    mode = "sandbox"

    def __init__(self, bwrap: str, executable: str, runtime: List[str], version: str):
        self.bwrap, self.executable, self.runtime = bwrap, executable, runtime
        self.description = (f"sandbox ({version}): each worker sees only the Python runtime, the probe "
                            f"script and its own folder, has no network, and every process it starts ends "
                            f"with it")
        self._info: Dict[int, int] = {}  # worker pid -> read end of bwrap's --info-fd
        self._info_lock = threading.Lock()

    @classmethod
    def detect(cls) -> "Sandbox":
        """The sandbox, once bwrap has run the interpreter in it; IsolationError saying why not."""
        if not sys.platform.startswith("linux"):
            raise IsolationError("bubblewrap runs on Linux only")
        bwrap = shutil.which("bwrap")
        if not bwrap:
            raise IsolationError("bwrap not found; the Debian/Ubuntu package bubblewrap has it")
        executable = os.path.realpath(sys.executable)
        try:
            runtime = _runtime_binds(executable)
            version = subprocess.run([bwrap, "--version"], capture_output=True, timeout=30).stdout.decode().strip()
            sandbox = cls(bwrap, executable, runtime, version or "bwrap")
            with tempfile.TemporaryDirectory(prefix="minigpt-try-") as box:
                tried = subprocess.run(sandbox.command(box, ["-c", _TRY]), capture_output=True, timeout=60,
                                       env=worker_env(SANDBOX_BOX))
        except (OSError, ValueError, subprocess.SubprocessError) as err:
            raise IsolationError(f"the Python runtime could not be surveyed ({type(err).__name__}: {err})") from None
        if tried.stdout.strip() != b"ok":
            said = (tried.stderr.decode("utf-8", "replace").strip().splitlines() or [f"status {tried.returncode}"])
            raise IsolationError(f"bwrap cannot make its sandbox here: {said[-1]}")
        return sandbox

    def command(self, box: str, args: List[str], info_fd: Optional[int] = None) -> List[str]:
        """bwrap's command line running the interpreter with `args` in a sandbox around `box`."""
        command = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                   "--clearenv"]
        for key, value in worker_env(SANDBOX_BOX).items():
            command += ["--setenv", key, value]
        command += self.runtime
        command += ["--ro-bind", PROBES_PATH, SANDBOX_PROBES, "--dev", "/dev", "--proc", "/proc",
                    "--bind", box, SANDBOX_BOX, "--chdir", SANDBOX_BOX, "--remount-ro", "/dev", "--remount-ro", "/"]
        if info_fd is not None:
            command += ["--info-fd", str(info_fd)]
        return command + ["--", self.executable, "-I", "-S", "-B"] + args

    def start(self, box, fd, **popen):
        info_read, info_write = os.pipe()
        try:
            proc = subprocess.Popen(self.command(box, [SANDBOX_PROBES, str(fd)], info_write),
                                    pass_fds=(fd, info_write), env=worker_env(SANDBOX_BOX),
                                    start_new_session=True, **popen)
        except BaseException:
            os.close(info_read)
            raise
        finally:
            os.close(info_write)
        with self._info_lock:
            self._info[proc.pid] = info_read
        return proc

    def end(self, proc):
        """Kill bwrap and the sandbox's first process, which takes every other one with it
        (the end of a PID namespace); return once they are all gone."""
        with self._info_lock:
            info_read = self._info.pop(proc.pid)
        os.set_blocking(info_read, False)
        try:  # written by bwrap once the sandbox is made (the sandbox itself never holds this pipe)
            info = json.loads(os.read(info_read, 65536) or b"{}")
        except (OSError, ValueError):
            info = {}
        finally:
            os.close(info_read)
        child = info.get("child-pid") if isinstance(info, dict) else None
        first = _stat(child) if isinstance(child, int) and child > 1 else None
        if first and first[1] != proc.pid:
            first = None  # no longer bwrap's child: it has ended already
        _kill_group(proc)
        proc.wait()
        if first:
            _kill_and_wait_gone(child, first[2])

    def status(self, code):
        # bwrap exits with 128 + N when the worker was killed by signal N (a worker calling
        # os._exit(139) reads the same; it is told it crashed, which is near enough)
        if code is not None and code > 128 and code - 128 in signal.valid_signals():
            return -(code - 128)
        return code


def _runtime_binds(executable: str) -> List[str]:
    """bwrap arguments that show the interpreter, its standard library and the shared
    libraries it loads, read-only, with any site-packages in them hidden."""
    survey = subprocess.run([executable, "-I", "-S", "-B", "-c", _SURVEY], capture_output=True, timeout=60,
                            env=worker_env("/"), cwd="/", check=True)
    found = json.loads(survey.stdout)
    folders = {os.path.realpath(p) for p in found["path"] if os.path.isdir(p)}
    for mapped in found["maps"]:
        path = os.path.realpath(mapped)
        if mapped.startswith("/") and path != executable and os.path.isfile(path):
            folders.add(os.path.dirname(path))
    links: Dict[str, str] = {}
    files = [executable]
    for needed in (_elf_interpreter(executable), "/etc/ld.so.cache"):
        if needed and os.path.exists(needed):
            real = _route(needed, links)
            if not any(_inside(real, f) for f in folders):
                files.append(real)
    for name in sorted(os.listdir("/")):  # /lib, /lib64, /bin -> usr/...: as on this machine
        if os.path.islink("/" + name):
            links.setdefault("/" + name, os.readlink("/" + name))
    folders = {f for f in folders if not any(other != f and _inside(f, other) for other in folders)}
    if "/" in folders:
        raise ValueError("the runtime's libraries are in / itself")
    binds: List[str] = []
    for path in sorted(folders) + files:
        binds += ["--ro-bind", path, path]
    hidden = []
    for folder in sorted(folders):
        for pattern in ("*-packages", "*/*-packages", "*/*/*-packages"):
            hidden += [p for p in sorted(glob.glob(os.path.join(glob.escape(folder), pattern)))
                       if os.path.isdir(p) and not os.path.islink(p)]
    package = os.path.dirname(os.path.dirname(PROBES_PATH))  # minigpt, with the reference solutions
    if any(_inside(package, f) for f in folders) and not any(_inside(package, h) for h in hidden):
        hidden.append(package)
    for path in hidden:
        binds += ["--tmpfs", path, "--remount-ro", path]
    for link, target in links.items():
        if not any(_inside(link, f) for f in folders):
            binds += ["--symlink", target, link]
    return binds


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _route(path: str, links: Dict[str, str]) -> str:
    """Where `path` leads, adding each symbolic link met on the way (location -> target)."""
    current, todo = "/", [p for p in path.split("/") if p]
    for _ in range(256):
        if not todo:
            return current
        name = todo.pop(0)
        if name == "..":
            current = os.path.dirname(current)
            continue
        step = os.path.join(current, name)
        if name != "." and os.path.islink(step):
            target = os.readlink(step)
            links[step] = target
            todo = [p for p in target.split("/") if p] + todo
            if target.startswith("/"):
                current = "/"
        elif name != ".":
            current = step
    raise ValueError(f"too many symbolic links on the way to {path}")


def _elf_interpreter(executable: str) -> Optional[str]:
    """The dynamic loader an ELF executable names (its PT_INTERP), or None."""
    with open(executable, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or len(head) < 64:
            return None
        wide, order = head[4] == 2, "<" if head[5] == 1 else ">"
        phoff, = struct.unpack_from(order + ("Q" if wide else "I"), head, 0x20 if wide else 0x1C)
        entry_size, entries = struct.unpack_from(order + "HH", head, 0x36 if wide else 0x2A)
        for i in range(entries):
            f.seek(phoff + i * entry_size)
            header = f.read(entry_size)
            if struct.unpack_from(order + "I", header, 0)[0] == 3:  # PT_INTERP
                offset, size = struct.unpack_from(order + ("QxxxxxxxxxxxxxxxxQ" if wide else "IxxxxxxxxI"),
                                                  header, 8 if wide else 4)
                f.seek(offset)
                return f.read(size).rstrip(b"\0").decode()
    return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _stat(pid: int) -> Optional[Tuple[str, int, str]]:
    """(state, parent's pid, start time) of a process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return fields[0], int(fields[1]), fields[19]
    except (OSError, IndexError, ValueError):
        return None


def _kill_and_wait_gone(pid: int, started: str, patience: float = 10.0) -> None:
    """SIGKILL `pid` (not a child of ours, started at `started`) and wait until it has
    ended: gone, a zombie, or its pid taken by another process."""
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        now = _stat(pid)
        if now is None or now[2] != started or now[0] in "ZX":
            break
        time.sleep(0.001)
    try:
        os.waitpid(pid, os.WNOHANG)  # ours only when the grader is a subreaper (the fallback ran too)
    except ChildProcessError:
        pass


# --------------------------------------------------------------------------------------
# fallback: an unprivileged user when root, a subreaper that ends what workers leave
# --------------------------------------------------------------------------------------
class Fallback(Isolation):
    mode = "fallback"

    def __init__(self):
        import pwd  # POSIX only, like the workers themselves
        self.executable, self.probes, self.user = sys.executable, PROBES_PATH, None
        who = pwd.getpwuid(os.geteuid()).pw_name
        self.runs_as = f"as {who}, so they can read and write what {who} can"
        if os.geteuid() == 0:
            self._drop_root(pwd)
        self.reaper = _become_subreaper()
        self._workers: set = set()
        self._lock = threading.Lock()
        self._before = set(_children()) if self.reaper else set()  # not the workers' to end
        ends = ("processes they leave behind are ended" if self.reaper else
                "processes that start a session of their own may outlive them (no subreaper on this system)")
        self.details = (f"workers run on private copies of the submissions {self.runs_as}; {ends}; "
                        f"they can use the network")
        self.description = f"fallback: {self.details}"

    def _drop_root(self, pwd) -> None:
        """Run workers as user nobody, with a root-owned copy of the probe script (the grader's
        own folder may be out of its reach), if that user can run the interpreter."""
        try:
            user = pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            self.runs_as = f"as root (there is no user {UNPRIVILEGED_USER}), so they can read and write anything"
            return
        executable = os.path.realpath(sys.executable)
        folder = tempfile.mkdtemp(prefix="minigpt-probes-")
        atexit.register(shutil.rmtree, folder, True)
        os.chmod(folder, 0o755)
        copy = os.path.join(folder, "probes.py")
        shutil.copyfile(PROBES_PATH, copy)
        os.chmod(copy, 0o644)
        try:
            tried = subprocess.run([executable, "-I", "-S", "-B", "-c", _TRY.replace(SANDBOX_PROBES, copy)],
                                   capture_output=True, env=worker_env("/"), cwd="/", timeout=60,
                                   user=user.pw_uid, group=user.pw_gid, extra_groups=[]).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            tried = b""
        if tried != b"ok":
            self.runs_as = (f"as root (user {UNPRIVILEGED_USER} cannot run {executable}), so they can read and "
                            f"write anything")
            return
        self.executable, self.probes, self.user = executable, copy, user
        self.runs_as = (f"as user {UNPRIVILEGED_USER}, so they can read what everyone can and write in "
                        f"world-writable places (/tmp)")

    def prepare_box(self, box):
        if self.user:
            os.chown(box, self.user.pw_uid, self.user.pw_gid)

    def start(self, box, fd, **popen):
        env = worker_env(box)
        drop = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[]) if self.user else {}
        with self._lock:  # no stray-ending while a worker is being started
            proc = subprocess.Popen([self.executable, "-I", "-S", "-B", self.probes, str(fd)], pass_fds=(fd,),
                                    cwd=box, env=env, start_new_session=True, **drop, **popen)
            self._workers.add(proc.pid)
        return proc

    def end(self, proc):
        """Kill the worker's process group; then, as subreaper, every process a worker left
        behind: each child of the grader that is not a running worker, and what they started."""
        _kill_group(proc)
        proc.wait()
        with self._lock:
            self._workers.discard(proc.pid)
            spared = set(self._before)  # and any that may not be killed (a set-user-ID program)
            while self.reaper:
                strays = [p for p in _children() if p not in self._workers and p not in spared]
                if not strays:
                    break
                for pid in list(strays):  # their own children come to the grader next
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    except PermissionError:
                        spared.add(pid)
                        strays.remove(pid)
                for pid in strays:
                    try:
                        os.waitpid(pid, 0)
                    except ChildProcessError:
                        pass


def _become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux's PR_SET_CHILD_SUBREAPER)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError, ImportError):
        return False


def _children() -> List[int]:
    """The process ids of this process's children."""
    me, found = os.getpid(), []
    if os.path.exists(f"/proc/{me}/task/{me}/children"):
        for task in os.listdir(f"/proc/{me}/task"):
            try:
                with open(f"/proc/{me}/task/{task}/children") as f:
                    found += [int(p) for p in f.read().split()]
            except OSError:
                pass  # a thread that has just ended
        return found
    for name in os.listdir("/proc"):  # a kernel without that file: every process's parent
        if name.isdigit():
            now = _stat(int(name))
            if now and now[1] == me:
                found.append(int(name))
    return found
