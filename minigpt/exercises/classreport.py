"""A class's grades on one page, for the teacher: what to say in the next lecture.

    write_class_report(reports, "class.html")   # reports: grader.Report, one per submission

The page is a single HTML file that works offline (inline CSS and SVG, no script,
nothing fetched) and reads well projected: large type, strong contrast. It shows

- each task's score distribution: how many submissions got full marks, part of
  the points, or none, as a bar, with the mean;
- the named mistakes (the feedback's "likely mistake: ..." lines, found from the
  numbers by feedback.py) ranked by how many submissions made them, with the tasks
  where they showed and one submission's message as an example;
- the submissions whose checks hit a limit (time, the time budget, memory) or
  crashed the worker, with how often and where.

Everything a submission controls (its folder name, what its code raised or printed)
is escaped.
"""
import html
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from .grader import Report
from .report import STOPS_SAID

MISTAKE_PREFIX = "likely mistake: "
EXAMPLE_CHARS = 600  # of an example message shown
GREEN, AMBER, RED = "#1b7f3b", "#c77c02", "#b3261e"


@dataclass
class TaskSpread:
    """How a class did on one task: submissions with full marks, part of them, none."""
    task_id: str
    title: str
    points: float
    scores: List[float] = field(default_factory=list)

    @property
    def full(self) -> int:
        return sum(s >= self.points for s in self.scores)

    @property
    def zero(self) -> int:
        return sum(s <= 0 for s in self.scores)

    @property
    def partial(self) -> int:
        return len(self.scores) - self.full - self.zero


@dataclass
class NamedMistake:
    """One typical mistake: the submissions whose feedback named it, where, and an example."""
    hint: str
    submissions: List[str] = field(default_factory=list)
    where: List[str] = field(default_factory=list)  # "3.2 forward", in the order first seen
    example: str = ""                               # one submission's whole message for that check
    example_from: str = ""


@dataclass
class LimitHits:
    """A submission whose checks hit a limit or crashed the worker."""
    submission: str
    stops: Dict[str, int]
    where: List[str]
    budget_spent: float
    example: str


def task_spreads(reports: Sequence[Report]) -> List[TaskSpread]:
    """Every task graded, in the table's order, with each submission's score on it."""
    spreads: Dict[str, TaskSpread] = {}
    for report in reports:
        for r in report.tasks:
            spread = spreads.setdefault(r.task.id, TaskSpread(r.task.id, r.task.title, r.task.points))
            spread.scores.append(r.score)
    return list(spreads.values())


def named_mistakes(reports: Sequence[Report]) -> List[NamedMistake]:
    """The mistakes named in the feedback, the most made first (counted once per submission)."""
    found: Dict[str, NamedMistake] = {}
    for report in reports:
        for r in report.tasks:
            for c in r.checks:
                for line in c.message.splitlines():
                    if not line.startswith(MISTAKE_PREFIX):
                        continue
                    mistake = found.setdefault(line[len(MISTAKE_PREFIX):].strip(),
                                               NamedMistake(line[len(MISTAKE_PREFIX):].strip()))
                    if report.submission not in mistake.submissions:
                        mistake.submissions.append(report.submission)
                    place = f"{r.task.id} {c.check.name}"
                    if place not in mistake.where:
                        mistake.where.append(place)
                    if not mistake.example:
                        mistake.example, mistake.example_from = c.message, f"{report.submission}, {place}"
    return sorted(found.values(), key=lambda m: (-len(m.submissions), m.hint))


def limit_hits(reports: Sequence[Report]) -> List[LimitHits]:
    """The submissions with checks stopped by a limit or a crash, the most stopped first."""
    hits = []
    for report in reports:
        stops = report.stops
        if not stops:
            continue
        stopped = [(r, c) for r in report.tasks for c in r.checks if c.stopped]
        where = []
        for r, c in stopped:
            if r.task.id not in where:
                where.append(r.task.id)
        hits.append(LimitHits(report.submission, stops, where, report.budget_spent, stopped[0][1].message))
    return sorted(hits, key=lambda h: (-sum(h.stops.values()), h.submission))


# --------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------
STYLE = """
body { font: 20px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; background: #fff;
       margin: 1.5em auto; max-width: 1150px; padding: 0 1em; }
h1 { font-size: 1.9em; margin: 0 0 .2em; }
h2 { font-size: 1.45em; margin: 1.2em 0 .4em; border-bottom: 3px solid #111; }
table { border-collapse: collapse; width: 100%; } td, th { padding: .15em .5em; vertical-align: top; text-align: left; }
tr + tr td { border-top: 1px solid #ccc; } th { border-bottom: 2px solid #111; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.lead { font-size: 1.15em; } .muted { color: #444; }
.key span { display: inline-block; width: 1em; height: 1em; vertical-align: -.15em; margin: 0 .3em 0 1em; }
pre { font: 16px/1.35 ui-monospace, Menlo, Consolas, monospace; background: #f3f3f3; padding: .5em .7em;
      white-space: pre-wrap; margin: .3em 0 0; border-left: 4px solid #888; }
.rank { font-size: 1.3em; font-weight: 700; } .count { font-size: 1.3em; font-weight: 700; white-space: nowrap; }
"""


def _bar(spread: TaskSpread, width: int = 360, height: int = 28) -> str:
    """A stacked bar: submissions with full marks (green), some points (amber), none (red)."""
    n = len(spread.scores) or 1
    parts, x = [], 0.0
    for count, colour in ((spread.full, GREEN), (spread.partial, AMBER), (spread.zero, RED)):
        w = width * count / n
        if count:
            parts.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{colour}"/>')
            if w >= 26:
                parts.append(f'<text x="{x + w / 2:.1f}" y="{height * 0.7:.1f}" text-anchor="middle" '
                             f'font-size="20" font-weight="700" fill="#fff">{count}</text>')
        x += w
    label = f"{spread.full} full marks, {spread.partial} some points, {spread.zero} none"
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{label}"><title>{label}</title>{"".join(parts)}</svg>')


def _histogram(totals: List[float], maximum: float, width: int = 620, height: int = 150) -> str:
    """Totals in ten bins of a tenth of the maximum each (the last bin holds full marks)."""
    bins = [0] * 10
    for t in totals:
        bins[min(9, int(10 * t / maximum)) if maximum else 0] += 1
    top = max(bins) or 1
    w = width / 10
    parts = []
    for i, count in enumerate(bins):
        h = (height - 44) * count / top
        y = height - 22 - h
        parts.append(f'<rect x="{i * w + 3:.1f}" y="{y:.1f}" width="{w - 6:.1f}" height="{h:.1f}" fill="#2a4d9b"/>')
        if count:
            parts.append(f'<text x="{i * w + w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="18" '
                         f'font-weight="700">{count}</text>')
        parts.append(f'<text x="{i * w + w / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="15" '
                     f'fill="#333">{maximum * i / 10:g}-</text>')
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="totals in ten bins"><line x1="0" y1="{height - 22}" x2="{width}" y2="{height - 22}" '
            f'stroke="#111"/>{"".join(parts)}</svg>')


def _places(where: Sequence[str]) -> str:
    """"3.2 forward", "3.2 eps", "3.5 forward" as "task 3.2 (forward, eps), task 3.5 (forward)"."""
    checks: Dict[str, List[str]] = {}
    for place in where:
        task, _, check = place.partition(" ")
        checks.setdefault(task, []).append(check)
    return ", ".join(f"task {task} ({', '.join(names)})" for task, names in checks.items())


def _short(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + " ..."


def class_report(reports: Sequence[Report], title: str = "Class report") -> str:
    """The page, as HTML text."""
    e = html.escape
    totals = [r.score for r in reports]
    maximum = max((r.max_score for r in reports), default=0)
    out = [f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{e(title)}</title>'
           f'<style>{STYLE}</style></head><body>', f"<h1>{e(title)}</h1>"]
    if not reports:
        out.append("<p>No submissions were graded.</p></body></html>")
        return "\n".join(out)
    out.append(f'<p class="lead">{len(reports)} submissions graded {time.strftime("%Y-%m-%d %H:%M")}. '
               f"Total out of {maximum:g}: median {statistics.median(totals):g}, mean {statistics.mean(totals):.1f}, "
               f"{sum(t >= maximum for t in totals)} with full marks.</p>")
    out.append(_histogram(totals, maximum))

    out.append("<h2>Tasks</h2>")
    out.append('<p class="key muted">submissions with<span style="background:%s"></span>full marks'
               '<span style="background:%s"></span>some points<span style="background:%s"></span>none</p>'
               % (GREEN, AMBER, RED))
    out.append('<table><tr><th>task</th><th></th><th class="num">mean</th><th>submissions</th></tr>')
    for s in task_spreads(reports):
        mean = statistics.mean(s.scores)
        out.append(f'<tr><td class="num"><b>{e(s.task_id)}</b></td><td>{e(s.title)}</td>'
                   f'<td class="num">{mean:.1f} / {s.points:g}</td><td>{_bar(s)}</td></tr>')
    out.append("</table>")

    mistakes = named_mistakes(reports)
    out.append('<h2 id="mistakes">Mistakes the feedback named, most made first</h2>')
    if not mistakes:
        out.append("<p>None: no failed check matched a typical mistake.</p>")
    else:
        out.append('<table><tr><th class="num">#</th><th class="num">submissions</th><th>mistake</th></tr>')
        for i, m in enumerate(mistakes, 1):
            out.append(f'<tr><td class="num rank">{i}</td><td class="num count">{len(m.submissions)}</td>'
                       f'<td><b>{e(m.hint)}</b><br><span class="muted">in {e(_places(m.where))}; '
                       f'for example {e(m.example_from)}:</span><pre>{e(_short(m.example))}</pre></td></tr>')
        out.append("</table>")

    hits = limit_hits(reports)
    out.append('<h2 id="limits">Submissions that hit a limit or crashed</h2>')
    if not hits:
        out.append("<p>None: no check ran out of time or memory, and no worker crashed.</p>")
    else:
        out.append('<table><tr><th>submission</th><th>checks</th><th>tasks</th></tr>')
        for h in hits:
            said = ", ".join(f"{n} {STOPS_SAID[kind]}" for kind, n in sorted(h.stops.items()))
            budget = f"; {h.budget_spent:g} s of its time budget spent" if h.budget_spent else ""
            out.append(f'<tr><td><b>{e(h.submission)}</b></td><td>{e(said + budget)}'
                       f'<pre>{e(_short(h.example))}</pre></td><td>{e(", ".join(h.where))}</td></tr>')
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_class_report(reports: Sequence[Report], path, title: str = "Class report") -> None:
    """Write the page atomically (a reader never sees half a file)."""
    text = class_report(reports, title)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".class-report-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
