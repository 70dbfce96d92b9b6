"""The class report: score distributions, the named mistakes ranked, the limits hit; one
offline page. Read as text (no browser): what it says, in what order, and escaped."""
import re

from exercises_data.submissions import MUTANTS_BY_NAME, write_submission
from minigpt.cli import main
from minigpt.exercises.classreport import class_report, limit_hits, named_mistakes, task_spreads, write_class_report
from minigpt.exercises.grader import CheckResult, Report, TaskResult
from minigpt.exercises.tasks import TASKS_BY_ID

LN, ATTN = TASKS_BY_ID["3.2"], TASKS_BY_ID["3.4"]
UNBIASED = "likely mistake: the variance is unbiased (divided by D - 1): divide by D"
NO_MASK = "likely mistake: no causal mask: position t must only see positions up to t"


def task_result(task, failed=None, stopped=""):
    """A task's result with every check passed except `failed` {check name: message}."""
    failed = failed or {}
    return TaskResult(task, [CheckResult(c, c.name not in failed, failed.get(c.name, ""),
                                         stopped if c.name in failed else "") for c in task.checks])


def a_class():
    return [
        Report("alice", [task_result(LN), task_result(ATTN)], [], 1.0),
        Report("bob", [task_result(LN, {"forward": "numbers differ\n" + UNBIASED, "eps": "differ\n" + UNBIASED}),
                       task_result(ATTN, {"causal": "out differs\n" + NO_MASK})], [], 1.0),
        Report("<img src=x onerror=alert(1)>",
               [task_result(LN, {"forward": "<script>alert(1)</script>\n" + UNBIASED}),
                task_result(ATTN, {c.name: "<script>alert(1)</script> took 20 s" for c in ATTN.checks}, "Timeout")],
               [], 1.0, budget_spent=12.5),
        Report("carol", [task_result(LN, {c.name: "killed by signal SIGSEGV" for c in LN.checks}, "WorkerDied"),
                         task_result(ATTN)], [], 1.0),
    ]


def test_each_task_has_its_score_distribution():
    spreads = {s.task_id: s for s in task_spreads(a_class())}
    assert (spreads["3.2"].full, spreads["3.2"].partial, spreads["3.2"].zero) == (1, 2, 1)
    assert (spreads["3.4"].full, spreads["3.4"].partial, spreads["3.4"].zero) == (2, 1, 1)


def test_named_mistakes_are_ranked_by_how_many_submissions_made_them():
    mistakes = named_mistakes(a_class())
    assert [m.hint for m in mistakes] == [UNBIASED[len("likely mistake: "):], NO_MASK[len("likely mistake: "):]]
    assert mistakes[0].submissions == ["bob", "<img src=x onerror=alert(1)>"]  # bob counted once, for two checks
    assert mistakes[0].where == ["3.2 forward", "3.2 eps"]
    assert mistakes[0].example == "numbers differ\n" + UNBIASED and mistakes[0].example_from == "bob, 3.2 forward"


def test_submissions_that_hit_a_limit_or_crashed_are_listed():
    hits = limit_hits(a_class())
    assert [(h.submission, h.stops, h.where) for h in hits] == [
        ("<img src=x onerror=alert(1)>", {"Timeout": len(ATTN.checks)}, ["3.4"]),
        ("carol", {"WorkerDied": len(LN.checks)}, ["3.2"])]
    assert hits[0].budget_spent == 12.5


def test_the_page_is_offline_escaped_and_in_the_right_order(tmp_path):
    path = tmp_path / "out" / "class.html"
    write_class_report(a_class(), path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    tags = re.findall(r"<[^>]*>", page)  # every tag (escaped text has no "<")
    assert not [t for t in tags if re.match(r"<(script|link|img|iframe|object)\b", t) or re.search(r"\b(src|href)=", t)]
    assert not re.search(r"https?://|@import|url\(", page)  # nothing fetched
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.index("the variance is unbiased") < page.index("no causal mask")
    assert "in task 3.2 (forward, eps); for example bob, 3.2 forward:" in page
    assert page.count("<svg") == 1 + 2  # the totals' histogram and one bar per task
    assert "1 full marks, 2 some points, 1 none" in page  # the LayerNorm bar, said in words too
    assert "4 timed out" not in page and f"{len(ATTN.checks)} timed out; 12.5 s of its time budget spent" in page
    assert f"{len(LN.checks)} crashed" in page
    assert class_report([]).count("No submissions") == 1


def test_grade_writes_the_class_report_and_a_line_per_submission_with_quiet(tmp_path, capsys):
    mutant = MUTANTS_BY_NAME["layernorm_unbiased_variance"]
    folders = [write_submission(tmp_path / "alice", "solutions"),
               write_submission(tmp_path / "bob", "solutions", [(mutant.file, mutant.old, mutant.new)]),
               write_submission(tmp_path / "carol", "stubs")]
    page = tmp_path / "class.html"
    assert main(["grade", *map(str, folders), "--tasks", "3.2", "--quiet", "--report", str(page)]) == 0
    lines = [re.sub(r" \([0-9.]+ s\)$", "", line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 5 and lines[0].startswith("isolation: ") and lines[-1] == f"class report: {page}"
    assert sorted(lines[1:4]) == [f"{folders[0]}: 6 / 6 points, 0 of 1 tasks lost points",
                                 f"{folders[1]}: 1.2 / 6 points, 1 of 1 tasks lost points",
                                 f"{folders[2]}: 0 / 6 points, 1 of 1 tasks lost points"]
    text = page.read_text(encoding="utf-8")
    assert "3 submissions graded" in text and "unbiased" in text
