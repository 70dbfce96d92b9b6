"""The `exercises` and `grade` sub-commands of the minigpt command line.

    minigpt exercises new DIR               a fresh student workspace
    minigpt exercises check [TASK ...]      a student's public checks, run as the grader runs them
                                            (status 0 all pass, 1 a check failed, 2 bad input)
    minigpt exercises autograder OUT.zip    a Gradescope autograder bundle
    minigpt exercises prairielearn OUT_DIR  a PrairieLearn question with its external grader
    minigpt exercises assignment            an example assignment file (--assignment FILE)
    minigpt grade DIR --results FILE        grade one submission, Gradescope JSON
    minigpt grade DIR1 DIR2 ... --csv FILE  grade a batch, one CSV row each (--report FILE.html: for
                                            the teacher, what the class got wrong)

`register(subparsers)` adds them to minigpt's parser (cli.build_parser).
"""
import argparse
import os
import time

from ..cli import UserError


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _scale(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = 0.0
    if not 0 < x < 1000:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return x


def _task_ids(names):
    from .tasks import find_task
    try:
        return [find_task(n).id for n in names] or None
    except ValueError as err:
        raise UserError(str(err)) from None


def _needs_posix() -> None:
    """Workers need process groups and an inherited pipe: Linux or macOS."""
    if os.name != "posix":
        raise UserError("grading runs student code in worker processes, which needs Linux or macOS; "
                        "on Windows run the public checks with pytest")


def _assignment(args):
    """The --assignment file's Assignment, or the default one (every task)."""
    from .assignment import DEFAULT, AssignmentError, load
    if not getattr(args, "assignment", None):
        return DEFAULT
    try:
        return load(args.assignment)
    except AssignmentError as err:
        raise UserError(str(err)) from None


def _limits(args, assignment=None):
    """The options' limits; where an option is not given, the assignment's."""
    from .assignment import DEFAULT
    from .sandbox import Limits
    assignment = assignment or DEFAULT
    return Limits(memory_mb=args.memory_mb or assignment.memory_mb,
                  timeout_scale=args.timeout_scale or assignment.timeout_scale,
                  isolation=getattr(args, "isolation", "auto"),
                  hang_budget=getattr(args, "time_budget", 60.0))


def _isolation(args) -> str:
    """The line naming how workers are isolated (UserError where --isolation sandbox cannot run)."""
    from .isolation import IsolationError, choose
    try:
        return f"isolation: {choose(args.isolation).description}"
    except IsolationError as err:
        raise UserError(f"{err}; --isolation fallback grades without it") from None


def _chosen(names, assignment):
    """The task ids named on the command line, which must be in the assignment (None: all of them)."""
    ids = _task_ids(names)
    outside = [i for i in ids or () if i not in assignment.task_ids]
    if outside:
        raise UserError(f"task {outside[0]} is not in the assignment {assignment.title!r}; its tasks are "
                        f"{', '.join(assignment.task_ids)}")
    return ids


def cmd_new(args: argparse.Namespace) -> int:
    """Write a fresh workspace: stubs, public tests, README."""
    from .workspace import WorkspaceError, new_workspace
    assignment = _assignment(args)
    try:
        written = new_workspace(args.dir, assignment)
    except (WorkspaceError, OSError) as err:
        raise UserError(str(err)) from None
    print(f"wrote a workspace of {len(assignment.tasks)} tasks ({assignment.total:g} points) in {args.dir}:")
    for path in written:
        print(f"  {path}")
    print(f"next: cd {args.dir} && pytest   (or: minigpt exercises check)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """The public checks of a workspace, in worker processes, as a table."""
    from .grader import SubmissionError, grade
    from .report import table
    _needs_posix()
    print(_isolation(args))
    if not args.assignment and os.path.isfile(os.path.join(args.dir, "assignment.json")):
        args.assignment = os.path.join(args.dir, "assignment.json")  # the one the workspace was made for
    assignment = _assignment(args)
    try:
        report = grade(os.path.abspath(args.dir), _chosen(args.tasks, assignment), public_only=True,
                       limits=_limits(args, assignment), jobs=args.jobs, assignment=assignment)
    except SubmissionError as err:
        raise UserError(str(err)) from None
    print(table(report))
    print("\n(public checks only; the grader also runs hidden ones)")
    return 0 if all(t.passed for t in report.tasks) else 1  # like pytest: a failed check is status 1


def cmd_autograder(args: argparse.Namespace) -> int:
    """Write the Gradescope autograder zip."""
    from .autograder import build_autograder
    assignment = _assignment(args)
    try:
        path = build_autograder(args.out, assignment if args.assignment else None)
    except (ValueError, OSError) as err:
        raise UserError(str(err)) from None
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment "
          f"(students submit {', '.join(f + '.py' for f in assignment.files)})")
    return 0


def cmd_prairielearn(args: argparse.Namespace) -> int:
    """Write a PrairieLearn question folder with its external grader."""
    from .prairielearn import build_question
    assignment = _assignment(args)
    try:
        written = build_question(args.out, assignment, image=args.image, timeout=args.timeout)
    except (ValueError, OSError) as err:
        raise UserError(str(err)) from None
    print(f"wrote a PrairieLearn question in {args.out} ({len(written)} files): copy it into your course's "
          f"questions/ folder (students submit {', '.join(f + '.py' for f in assignment.files)})")
    return 0


def cmd_assignment(args: argparse.Namespace) -> int:
    """Print an example assignment file, or check one and show what it selects."""
    from .assignment import example
    if not args.check:
        print(example(), end="")
        return 0
    args.assignment = args.check
    assignment = _assignment(args)
    print(f"{assignment.title}: {len(assignment.tasks)} tasks, {assignment.total:g} points, hints {assignment.hints}, "
          f"timeout scale {assignment.timeout_scale:g}, {assignment.memory_mb} MB")
    for t in assignment.tasks:
        hidden = assignment.hidden_visibility(t.id)
        print(f"  {t.id:5} {t.title:48} {t.points:>6g}  {assignment.task_visibility(t.id)}"
              + (f", hidden checks {hidden}" if hidden else ""))
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade submissions: a table each (or a line with --quiet), Gradescope or PrairieLearn
    JSON for one, a CSV and a class report for a batch; all in one pool of --jobs workers."""
    from .grader import grade_batch, read_for_grading
    from .report import gradescope, not_graded, one_line, prairielearn, table, write_csv, write_json
    _needs_posix()
    if (args.results or args.prairielearn) and len(args.dirs) > 1:
        option = "--results" if args.results else "--prairielearn"
        raise UserError(f"{option} takes one submission; for several use --feedback DIR (and --csv FILE)")
    names = [os.path.basename(os.path.normpath(d)) for d in args.dirs]
    if args.feedback and len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise UserError(f"--feedback names each file after its submission's folder, and two folders are named {twice!r}")
    assignment = _assignment(args)
    missing = [d for d in args.dirs if not os.path.isdir(d)]
    if missing:
        if args.results:  # Gradescope always gets a results file
            write_json(args.results, not_graded(f"no submission folder: {missing[0]}", assignment.total))
        if args.prairielearn:
            write_json(args.prairielearn, {"gradable": False, "message": f"no submission folder: {missing[0]}"})
        raise UserError(f"no such folder: {missing[0]}")
    tasks = _chosen(args.tasks, assignment)
    try:
        print(_isolation(args))
    except UserError as err:
        if args.results:
            write_json(args.results, not_graded(str(err), assignment.total))
        if args.prairielearn:
            write_json(args.prairielearn, {"gradable": False, "message": str(err)})
        raise
    # every submission is read before any student code runs, so none can change another's files
    submissions = [read_for_grading(folder, tasks, assignment) for folder in args.dirs]
    progress = _Progress(len(args.dirs) * len(tasks or assignment.task_ids), len(args.dirs), quiet=args.quiet)

    def show(report) -> None:
        if args.quiet:
            progress.write(one_line(report))
        else:
            progress.write(table(report, details=len(args.dirs) == 1))
        progress.submission_done()

    try:
        reports = grade_batch(args.dirs, tasks, limits=_limits(args, assignment), jobs=args.jobs,
                              assignment=assignment, submissions=submissions, on_task=progress.task_done,
                              on_report=show)
    except Exception as err:  # a grader bug must still leave a results file behind
        if args.results:
            write_json(args.results, not_graded(f"the grader failed: {type(err).__name__}: {err}", assignment.total))
        if args.prairielearn:
            write_json(args.prairielearn, {"gradable": False,
                                           "message": f"the grader failed: {type(err).__name__}: {err}"})
        raise
    finally:
        progress.close()
    if args.results:
        write_json(args.results, gradescope(reports[0], assignment))
        print(f"results: {args.results}")
    if args.prairielearn:
        write_json(args.prairielearn, prairielearn(reports[0], assignment))
        print(f"results: {args.prairielearn}")
    if args.feedback:  # one Gradescope JSON and one text of feedback per submission, named after its folder
        for name, report in zip(names, reports):
            write_json(os.path.join(args.feedback, f"{name}.json"), gradescope(report, assignment))
            _write_text(os.path.join(args.feedback, f"{name}.txt"), table(report) + "\n")
        print(f"feedback of {len(reports)} submission(s): {args.feedback}/NAME.json and NAME.txt")
    if args.csv:
        write_csv(reports, args.csv, assignment.tasks)
        print(f"grades of {len(reports)} submission(s): {args.csv}")
    if args.report:
        from .classreport import write_class_report
        write_class_report(reports, args.report)
        print(f"class report: {args.report}")
    return 0


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class _Progress:
    """Progress of a batch on stderr: a tqdm bar of tasks on a terminal, otherwise a plain
    line per submission graded (none with --quiet, whose lines on stdout say as much).
    `write` prints a line on stdout without tearing the bar."""

    def __init__(self, tasks: int, submissions: int, quiet: bool):
        import sys
        self.submissions, self.done, self.started = submissions, 0, time.monotonic()
        self.bar = None
        self.lines = submissions > 1 and not quiet
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # the Gradescope bundle runs without site-packages
                return
            self.bar = tqdm(total=tasks, unit="task", desc="grading", dynamic_ncols=True, mininterval=0.5,
                            leave=False)
            self.lines = False

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def task_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def submission_done(self) -> None:
        import sys
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.done}/{self.submissions} submissions", refresh=False)
        elif self.lines:
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.submissions - self.done)
            print(f"graded {self.done}/{self.submissions} submissions, {elapsed:.0f} s, ETA {eta:.0f} s",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _add_limits(parser) -> None:
    parser.add_argument("--jobs", type=_jobs, default=None,
                        help="worker processes at once, across tasks and submissions (default: the number of CPUs)")
    parser.add_argument("--memory-mb", type=_jobs, default=None,
                        help="memory cap of each worker process, in MB (default: the assignment's, or 1024)")
    parser.add_argument("--timeout-scale", type=_scale, default=None,
                        help="multiply every check's time limit (default: the assignment's, or 1; try 3 on a "
                             "slow machine)")
    parser.add_argument("--isolation", choices=("auto", "sandbox", "fallback"), default="auto",
                        help="how student code is kept from the machine: sandbox (bubblewrap), fallback, or auto "
                             "(the sandbox where it runs; default)")
    parser.add_argument("--time-budget", type=_scale, default=60.0, metavar="SECONDS",
                        help="worker time a submission's checks may spend past a fifth of their limits, all "
                             "together, before a hung task fails fast (default: 60; times --timeout-scale)")


def _add_assignment(parser) -> None:
    parser.add_argument("--assignment", metavar="FILE",
                        help="an assignment file (.toml): its tasks, points, hints, visibility and limits "
                             "(`minigpt exercises assignment` prints an example); default: every task")


def register(subparsers) -> None:
    """Add `exercises` (new, check, autograder) and `grade` to minigpt's sub-commands."""
    exercises = subparsers.add_parser(
        "exercises", help="student workspaces of graded exercises, and the Gradescope bundle",
        description="Graded exercises: build a scalar autograd engine, a neural-network library and a "
                    "Mini-GPT, task by task, in a workspace of your own.")
    actions = exercises.add_subparsers(dest="action", metavar="ACTION", parser_class=type(exercises))
    actions.required = True

    new = actions.add_parser("new", help="write a fresh workspace (stubs, public tests, README)",
                             description="Write engine.py, nn.py and gpt.py as stubs, the public tests and a "
                                         "README with the tasks into DIR (which must be new or empty).")
    new.add_argument("dir", metavar="DIR")
    _add_assignment(new)
    new.set_defaults(func=cmd_new)

    check = actions.add_parser("check", help="run the public checks of a workspace as the grader does",
                               description="Run the public checks on the workspace's engine.py, nn.py and gpt.py "
                                           "in separate processes with time and memory limits, as the grader "
                                           "does, and print the points. The exit status is 0 when every check "
                                           "passes, 1 when one fails (as with pytest), 2 on bad input.")
    check.add_argument("tasks", nargs="*", metavar="TASK", help="tasks to check, e.g. 1.1 3.2 (default: all)")
    check.add_argument("--dir", default=".", help="the workspace (default: this folder)")
    _add_limits(check)
    _add_assignment(check)  # default: the workspace's assignment.json, if it has one
    check.set_defaults(func=cmd_check)

    bundle = actions.add_parser("autograder", help="write a Gradescope autograder zip",
                                description="Write a Gradescope autograder bundle: setup.sh, run_autograder and "
                                            "minigpt's source. run_autograder grades /autograder/submission into "
                                            "/autograder/results/results.json.")
    bundle.add_argument("out", metavar="OUT.zip")
    _add_assignment(bundle)
    bundle.set_defaults(func=cmd_autograder)

    question = actions.add_parser(
        "prairielearn", help="write a PrairieLearn question with its external grader",
        description="Write a PrairieLearn question folder: info.json (external grading), question.html, and "
                    "tests/ with the grader script, minigpt's source and the assignment. The grader reads "
                    "/grade/student and writes /grade/results/results.json.")
    question.add_argument("out", metavar="OUT_DIR", help="the question's folder (new or empty)")
    _add_assignment(question)
    question.add_argument("--image", default="prairielearn/grader-python",
                          help="the grading image, any with Python 3.9+ (default: prairielearn/grader-python)")
    question.add_argument("--timeout", type=_jobs, default=600, help="grading time limit, in seconds (default: 600)")
    question.set_defaults(func=cmd_prairielearn)

    example = actions.add_parser("assignment", help="print an example assignment file, or check one",
                                 description="Print a commented example assignment file (TOML), or with --check "
                                             "FILE read one and list its tasks, points and visibility.")
    example.add_argument("--check", metavar="FILE", help="read this assignment file and show what it selects")
    example.set_defaults(func=cmd_assignment)

    grade = subparsers.add_parser(
        "grade", help="grade exercise submissions (Gradescope JSON, CSV)",
        description="Grade submissions (folders holding engine.py, nn.py and gpt.py) against the public and "
                    "hidden checks. Student code runs in separate processes; the exit status is 0 whenever "
                    "grading ran, whatever the score.")
    grade.add_argument("dirs", nargs="+", metavar="DIR", help="submission folders")
    grade.add_argument("--results", metavar="FILE", help="write Gradescope results JSON (one submission)")
    grade.add_argument("--feedback", metavar="DIR",
                       help="write each submission's Gradescope JSON and feedback text into DIR, named after its folder")
    grade.add_argument("--prairielearn", metavar="FILE",
                       help="write PrairieLearn external-grader results JSON (one submission)")
    grade.add_argument("--csv", metavar="FILE", help="write one row per submission, one column per task")
    grade.add_argument("--tasks", nargs="+", default=[], metavar="TASK", help="grade only these tasks")
    grade.add_argument("--report", metavar="FILE.html",
                       help="write a class report: score distributions, the mistakes most made, limits hit")
    grade.add_argument("--quiet", action="store_true", help="one line per submission, no table or feedback")
    _add_limits(grade)
    _add_assignment(grade)
    grade.set_defaults(func=cmd_grade)
