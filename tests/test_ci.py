"""`.ci/run` installs as the README's Quickstart says without touching the user's `.venv`.

The script runs on a stand-in repository (this README, a `.venv` of the user's) with
stand-ins for python3 and pypy3 on PATH that only record where they were run, so the
test takes a second rather than CI's minutes.
"""
import os
import shutil
import stat
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STUB = """#!/bin/sh
# a stand-in interpreter: records where it ran; `-m venv DIR` makes DIR/bin of no-op tools
echo "$(pwd) $0 $*" >> "{log}"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  for tool in pip python minigpt; do
    printf '#!/bin/sh\\necho "$(pwd) $0 $*" >> "{log}"\\n' > "$3/bin/$tool"
    chmod +x "$3/bin/$tool"
  done
fi
"""


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=ci", "-c", "user.email=ci@example.org", *args],
                   check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("tar") is None or shutil.which("bash") is None, reason="needs bash and tar")
@pytest.mark.parametrize("checkout", ["git", "plain"])
def test_ci_leaves_the_users_venv_alone(tmp_path, checkout):
    if checkout == "git" and shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, ".ci", "run"), repo / ".ci" / "run")
    shutil.copy(os.path.join(ROOT, "README.md"), repo / "README.md")
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / ".venv" / "lib" / "torch-of-the-user").write_text("keep me")
    if checkout == "git":  # a checkout with a deleted file and an ignored .venv
        (repo / ".gitignore").write_text(".venv/\n")
        (repo / "gone.txt").write_text("deleted after the commit")
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "a checkout")
        (repo / "gone.txt").unlink()
    stubs, log = tmp_path / "stubs", tmp_path / "calls.log"
    stubs.mkdir()
    for name in ("python3", "pypy3"):
        (stubs / name).write_text(STUB.format(log=log))
        (stubs / name).chmod(stat.S_IRWXU)
    env = {**os.environ, "PATH": f"{stubs}:/usr/bin:/bin", "TMPDIR": str(tmp_path)}
    done = subprocess.run(["bash", str(repo / ".ci" / "run")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / ".venv" / "lib" / "torch-of-the-user").read_text() == "keep me"
    calls = log.read_text().splitlines()
    assert any(" -m venv .venv" in call for call in calls)  # the Quickstart's command as written ...
    assert calls and all(not call.startswith(str(repo)) for call in calls)  # ... run in a copy elsewhere
    assert sorted(os.listdir(tmp_path)) == ["calls.log", "repo", "stubs"]  # the copy is removed
