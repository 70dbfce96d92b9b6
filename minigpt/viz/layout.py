"""Folding a long summary picture into rows, so that it fits a 16:9 slide.

A collapsed model reads as one long chain (embeddings, blocks, head, loss): laid out
in one line it is several times wider than high (or higher than wide). `fold` cuts
the chain into rows (columns when drawn top to bottom) where a single wire joins two
stages, never through a module frame, choosing the number of rows whose estimated
picture is closest to 16:9. `draw_dot` then draws each row as an invisible frame and lets the edges from
one row to the next bend back without pulling the rows into one line.

Sizes are estimated from the label text (Helvetica 11 pt is about 6 pt a character),
never measured, so the DOT source does not depend on which renderer is installed.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

from .graph import components

__all__ = ["fold", "SLIDE"]

SLIDE = 16 / 9          # the aspect ratio (width / height) aimed at
_CHAR, _PAD = 6.2, 18   # points per character of an 11 pt label, and a node's margins
_LINE = 19              # points per line of a label
_RANKSEP, _NODESEP = 22, 14


def _size(label: str, rankdir: str) -> Tuple[float, float]:
    """(width, height) in points of a record label such as 'a | b' or '{ a | b }'."""
    text = str(label)
    flipped = text.startswith("{")
    fields = [f.strip() for f in text.strip("{} ").replace("\\|", "/").split("|")]
    side_by_side = flipped == (rankdir == "LR")
    widths = [len(f) * _CHAR + _PAD for f in fields]
    if side_by_side:
        return sum(widths), _LINE + 6
    return max(widths), _LINE * len(fields) + 6


def _ranks(ids: List[str], edges: list) -> Dict[str, int]:
    """Longest-path rank of every node; a source sits one rank before its first user."""
    preds: Dict[str, List[str]] = {i: [] for i in ids}
    succs: Dict[str, List[str]] = {i: [] for i in ids}
    for tail, head, _ in edges:
        preds[head].append(tail)
        succs[tail].append(head)
    rank: Dict[str, int] = {}
    pending = {i: len(preds[i]) for i in ids}
    ready = [i for i in ids if not preds[i]]
    while ready:  # Kahn's order: every node after all of its inputs
        i = ready.pop()
        rank[i] = max((rank[p] + 1 for p in preds[i] if preds[p]), default=0)
        for s in succs[i]:
            pending[s] -= 1
            if pending[s] == 0:
                ready.append(s)
    for i in ids:
        if not preds[i] and succs[i]:
            rank[i] = max(0, min(rank[s] for s in succs[i]) - 1)
    return rank


def fold(nodes: list, edges: list, rankdir: str) -> Dict[str, int]:
    """Row (0, 1, ...) of every node id, in as many rows as bring the picture closest
    to 16:9 (all 0 when one row is best or no cut is possible).

    nodes: (id, frame path, attributes) as draw_dot builds them; edges: (tail, head, attributes)."""
    ids = [node_id for node_id, _, _ in nodes]
    rank = _ranks(ids, edges)
    n_ranks = max(rank.values(), default=0) + 1
    along = [0.0] * n_ranks   # extent of each rank along the chain
    across = [0.0] * n_ranks  # extent of each rank across it
    span: Dict[str, List[int]] = {}  # top-level frame -> [first rank, last rank]
    for node_id, frame, attrs in nodes:
        w, h = _size(attrs.get("label", ""), rankdir)
        a, c = (w, h) if rankdir == "LR" else (h, w)
        r = rank[node_id]
        along[r] = max(along[r], a)
        across[r] += c + _NODESEP
        if frame:
            top = components(frame)[0]
            first, last = span.setdefault(top, [r, r])
            span[top] = [min(first, r), max(last, r)]
    # A cut after rank r is allowed where one wire alone crosses it (the residual
    # stream between two stages), no frame and no source's users are on both sides
    # of it, and it leaves at least 3 ranks on either side. Graphviz then always finds
    # the wire's ends on different ranks (an edge within a rank between records fails).
    sources = {i for i in ids if not any(head == i for _, head, _ in edges)}
    users: Dict[str, List[int]] = {}
    for tail, head, _ in edges:
        users.setdefault(tail, []).append(rank[head])

    def allowed(r: int) -> bool:
        wires = sum(1 for t, h, _ in edges if t not in sources and rank[t] <= r < rank[h])
        split_source = any(min(users[i]) <= r < max(users[i]) for i in sources if i in users)
        inside_frame = any(a <= r < b for a, b in span.values())
        return wires == 1 and not split_source and not inside_frame

    cuts = [r for r in range(2, n_ranks - 3) if allowed(r)]
    extents = [along[r] + _RANKSEP for r in range(n_ranks)]
    total = sum(extents)

    def rows_for(k: int) -> List[int]:
        """The k-1 allowed cuts closest to cutting the chain into k equal lengths."""
        chosen: List[int] = []
        for j in range(1, k):
            goal = total * j / k
            options = [c for c in cuts if not chosen or c >= chosen[-1] + 3]  # rows of 3 ranks or more
            if not options:
                break
            chosen.append(min(options, key=lambda c: abs(sum(extents[:c + 1]) - goal)))
        return chosen

    def aspect(chosen: List[int]) -> float:
        bounds = [-1] + chosen + [n_ranks - 1]
        rows = [range(bounds[i] + 1, bounds[i + 1] + 1) for i in range(len(bounds) - 1)]
        length = max(sum(extents[r] for r in row) for row in rows)
        breadth = sum(max(across[r] for r in row) for row in rows)
        return length / breadth if rankdir == "LR" else breadth / length

    # fewer rows read better: a row more must bring the picture clearly closer to 16:9
    best = min((rows_for(k) for k in range(1, 4)),
               key=lambda chosen: abs(math.log(aspect(chosen) / SLIDE)) + 0.3 * len(chosen))
    row = {i: sum(rank[i] > c for c in best) for i in ids}
    for i in ids:  # a source (parameters, inputs) goes in the row of its first user
        users = [head for tail, head, _ in edges if tail == i]
        if users and not any(head == i for _, head, _ in edges):
            row[i] = row[min(users, key=rank.get)]
    return row
