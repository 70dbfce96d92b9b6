"""`explore_html`: the explore page as one self-contained HTML file.

The page holds the numbers of `minigpt.explore.explore_data` (inline JSON), a script
that lays them out (`explore.js`, inlined), its style (`explore.css`) and the loss
curves as inline SVG drawn here; nothing is fetched, so it opens from disk with the
network off. Sections: 1 tokens and predictions, 2 attention (every layer and head),
3 one position through the model, 4 sampling (temperature, top-k, seeded draws),
5 which input mattered (gradients), 6 training (loss curves).

    choose a position     click a token, or the left / right arrows
    step the position     N / P, or the buttons
    next head             H
    attention cell        click, or focus the map and use the arrows
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["explore_html", "curves_svg"]

_HERE = Path(__file__).resolve().parent


def _nice_ticks(lo: float, hi: float, n: int = 5) -> List[float]:
    """About n round numbers spanning lo..hi."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if (hi - lo) / step <= n + 1:
            break
    first = (lo // step) * step
    ticks, v = [], first
    while v <= hi + 1e-12:
        if v >= lo - 1e-12:
            ticks.append(round(v, 10))
        v += step
    return ticks or [lo]


def curves_svg(metrics: Optional[Dict[str, object]], width: int = 760, height: int = 300) -> str:
    """The train and held-out loss curves of `read_metrics` as an inline <svg>, or a
    sentence saying there is no metrics file."""
    if not metrics or not metrics.get("train"):
        return ('<p class="ex-note" id="ex-no-metrics">No metrics file beside the checkpoint, so no loss curves '
                '(training writes <code>metrics.jsonl</code>; from Python pass <code>metrics=</code>).</p>')
    train, evals = metrics["train"], metrics["eval"]
    points = train + evals
    x_hi = max(s for s, _ in points) or 1
    x_lo = min(s for s, _ in points)
    y_lo, y_hi = min(l for _, l in points), max(l for _, l in points)
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    left, right, top, bottom = 56, 16, 14, 40
    w, h = width - left - right, height - top - bottom

    def X(s):
        return left + (s - x_lo) / max(1e-12, x_hi - x_lo) * w

    def Y(l):
        return top + (y_hi - l) / (y_hi - y_lo) * h

    out = [f'<svg id="ex-curves" width="{width}" height="{height}" role="img" '
           f'aria-label="training loss and held-out loss against the step" xmlns="http://www.w3.org/2000/svg">',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="white" stroke="#ccc"/>']
    for v in _nice_ticks(y_lo, y_hi):
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:g}</text>')
    for v in _nice_ticks(x_lo, x_hi):
        out.append(f'<text x="{X(v):.1f}" y="{top + h + 16}" font-size="11" text-anchor="middle">{v:g}</text>')
    out.append(f'<text x="{left + w / 2}" y="{height - 4}" font-size="12" text-anchor="middle">step</text>'
               f'<text x="14" y="{top + h / 2}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + h / 2})">loss</text>')
    line = " ".join(f"{X(s):.1f},{Y(l):.1f}" for s, l in train)
    out.append(f'<polyline class="ex-train" points="{line}" fill="none" stroke="#1971c2" stroke-width="1.5"/>')
    if evals:
        line = " ".join(f"{X(s):.1f},{Y(l):.1f}" for s, l in evals)
        out.append(f'<polyline class="ex-eval" points="{line}" fill="none" stroke="#d9480f" stroke-width="2"/>')
        out += [f'<circle cx="{X(s):.1f}" cy="{Y(l):.1f}" r="3" fill="#d9480f"><title>step {s}: held-out loss {l}'
                f'</title></circle>' for s, l in evals]
    out.append(f'<line x1="{left + w - 190}" x2="{left + w - 170}" y1="{top + 14}" y2="{top + 14}" stroke="#1971c2" '
               f'stroke-width="2"/><text x="{left + w - 165}" y="{top + 18}" font-size="12">training loss</text>')
    if evals:
        out.append(f'<line x1="{left + w - 190}" x2="{left + w - 170}" y1="{top + 32}" y2="{top + 32}" '
                   f'stroke="#d9480f" stroke-width="2"/><text x="{left + w - 165}" y="{top + 36}" '
                   f'font-size="12">held-out loss</text>')
    out.append("</svg>")
    averaged = metrics.get("averaged", 1)
    note = (f"{metrics['steps']:,} steps from <code>{html.escape(str(metrics.get('path', '')))}</code>"
            + (f"; the training loss is averaged over every {averaged} steps" if averaged > 1 else "")
            + (f"; last held-out loss {evals[-1][1]:g} at step {evals[-1][0]:,}" if evals else "") + ".")
    return "\n".join(out) + f'\n<p class="ex-note">{note}</p>'


def _summary(data: Dict[str, object]) -> str:
    m = data["model"]
    step = f", trained {m['step']:,} steps" if m.get("step") else ""
    return html.escape(f"{m['parameters']:,} parameters: d_model {m['d_model']}, {m['n_heads']} heads, "
                       f"{m['n_layers']} layer(s), d_ff {m['d_ff']}, vocabulary {m['vocab_size']}, "
                       f"context {m['context_len']}, positions {m['pos_encoding']}, "
                       f"{'tied' if m['tie_weights'] else 'untied'} head{step}. Prompt: {len(data['tokens'])} tokens.")


def explore_html(data: Dict[str, object], title: Optional[str] = None) -> str:
    """The page for `explore_data`'s dict, as one string of HTML."""
    page = (_HERE / "explore.html").read_text(encoding="utf-8")
    name = title or "Inside the Mini-GPT: " + " ".join(data["tokens"])
    fill = {"TITLE": html.escape(name),
            "SUMMARY": _summary(data),
            "STYLE": (_HERE / "explore.css").read_text(encoding="utf-8"),
            "CURVES": curves_svg(data.get("metrics")),
            # "</" cannot appear inside a <script>: JSON allows "<\/" for it
            "DATA": json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/"),
            "SCRIPT": (_HERE / "explore.js").read_text(encoding="utf-8")}
    return re.sub(r"@@(TITLE|SUMMARY|STYLE|CURVES|DATA|SCRIPT)@@", lambda m: fill[m.group(1)], page)
