"""Grading a class in one pool: never more workers than --jobs, the first submissions
first, results as if each were graded on its own."""
import threading

import pytest

from exercises_data.submissions import MUTANTS_BY_NAME, scores, write_submission
from minigpt.exercises import sandbox
from minigpt.exercises.grader import grade, grade_batch

TASKS = ["1.1", "2.1", "2.5", "3.7"]


@pytest.fixture
def counted_workers(monkeypatch):
    """Wraps sandbox.run_checks (one worker process at a time each) to record how many run
    at once and in which order the submissions' tasks start."""
    seen = {"now": 0, "most": 0, "started": []}
    lock = threading.Lock()
    run_checks = sandbox.run_checks

    def counting(files, modules, checks, *args, **kwargs):
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
            seen["started"].append(files.get("engine", b"")[:12])
        try:
            return run_checks(files, modules, checks, *args, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(sandbox, "run_checks", counting)
    return seen


def test_a_batch_runs_at_most_jobs_workers_and_keeps_each_result(tmp_path, counted_workers):
    mutant = MUTANTS_BY_NAME["linear_drops_bias"]
    folders = [write_submission(tmp_path / "a", "stubs", prepend={"engine": "# a\n"}),
               write_submission(tmp_path / "b", "solutions", [(mutant.file, mutant.old, mutant.new)],
                                prepend={"engine": "# b\n"}),
               write_submission(tmp_path / "c", "stubs", prepend={"engine": "# c\n"})]
    finished, tasks_done = [], []
    reports = grade_batch(folders, TASKS, jobs=2, on_task=lambda: tasks_done.append(1),
                          on_report=lambda r: finished.append(r.submission))
    assert [r.submission for r in reports] == [str(f) for f in folders]
    assert sorted(finished) == sorted(str(f) for f in folders) and len(tasks_done) == 3 * len(TASKS)
    assert counted_workers["most"] <= 2
    # the first submission's tasks all start before the last submission's
    started = counted_workers["started"]
    assert max(i for i, s in enumerate(started) if s.startswith(b"# a")) < \
        min(i for i, s in enumerate(started) if s.startswith(b"# c"))
    # as graded on its own
    assert scores(reports[1]) == scores(grade(folders[1], TASKS))
    assert scores(reports[1])["2.5"] < 6 and scores(reports[0]) == scores(reports[2]) == dict.fromkeys(TASKS, 0.0)
