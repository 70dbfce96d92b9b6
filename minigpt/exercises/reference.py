"""The reference solutions, run in this process: the expected raw data of every check.

The solutions are three plain modules (solutions/engine.py, nn.py, gpt.py) that
import each other as `engine` and `nn`, like a student's. They are loaded here
under those names without leaving them in sys.modules (probes.load_source), once
as written and once per typical mistake (mistakes.py) when a hint needs it.
Results are cached: a batch of submissions computes each reference number once.
"""
import threading
from pathlib import Path
from typing import Dict, Optional

from . import probes
from .mistakes import MISTAKES
from .tasks import Check, Task, check_id

SOLUTIONS_DIR = Path(__file__).resolve().parent / "solutions"

_lock = threading.RLock()  # loading swaps sys.modules entries for a moment; one at a time
_sources: Dict[str, str] = {}
_trios: Dict[Optional[str], probes.Modules] = {}
_results: Dict[tuple, dict] = {}


def solution_sources() -> Dict[str, str]:
    """engine/nn/gpt source texts, read once (so later changes on disk change nothing)."""
    with _lock:
        if not _sources:
            for name in probes.MODULE_NAMES:
                _sources[name] = (SOLUTIONS_DIR / f"{name}.py").read_text(encoding="utf-8")
        return dict(_sources)


def trio(mistake: Optional[str] = None) -> probes.Modules:
    """The reference modules, or the reference with one typical mistake put in."""
    with _lock:
        if mistake not in _trios:
            sources = solution_sources()
            if mistake is not None:
                sources = MISTAKES[mistake].apply(sources)
            prefix = "<reference " if mistake is None else f"<reference with {mistake}: "
            _trios[mistake] = probes.load_trio(sources, prefix)
        return _trios[mistake]


def result(task: Task, check: Check, mistake: Optional[str] = None) -> dict:
    """The reference's answer to a check ({'raw': ...} or {'error': ...}), cached."""
    key = (check_id(task, check), mistake)
    with _lock:
        if key not in _results:
            _results[key] = probes.run_check({"probe": check.probe, "args": check.args}, trio(mistake))
        return _results[key]
