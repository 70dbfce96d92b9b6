"""How big the stepping pages of the example graphs are, and how large their smallest
text is when they open in a 1280 x 800 window.

    python benchmarks/viz_pages.py

For each page: the picture's size in points, the number of steps, the file size, and
(with Chromium installed: apt-get install chromium) the smallest text in CSS pixels
at the page's default view, measured by headless Chromium.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

from minigpt.example_graphs import example
from minigpt.viz import find_renderer, render

# (example, depth): every node of a neuron and of an attention head, and the summaries
PAGES = [("neuron", None), ("attention", None), ("attention", 0), ("block", 1), ("model", 1)]

# appended to a copy of the page: writes the smallest text size into the DOM for --dump-dom
MEASURE = """<script>
const svg = document.querySelector('#mg-picture svg');
const perUnit = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
const sizes = Array.from(svg.querySelectorAll('text')).map(function (t) {
  return parseFloat(t.getAttribute('font-size')); });
document.body.setAttribute('data-smallest-px', (Math.min.apply(null, sizes) * perUnit).toFixed(1));
</script>"""


def smallest_px(page: str, chromium: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "page.html")
        with open(page, encoding="utf-8") as fh:
            text = fh.read().replace("</body>", MEASURE + "</body>")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                              f"--user-data-dir={folder}/profile", "--dump-dom", "file://" + path],
                             capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'data-smallest-px="([\d.]+)"', dom)
    return f"{found.group(1)} px" if found else "?"


def main() -> int:
    if find_renderer() is None:
        print("needs a Graphviz renderer: pip install graphviz-pure or apt-get install graphviz")
        return 1
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    print(f"{'page':<18} {'picture (pt)':>14} {'steps':>6} {'file':>8}  smallest text at 1280x800")
    with tempfile.TemporaryDirectory() as folder:
        for what, depth in PAGES:
            ex = example(what)
            page = os.path.join(folder, f"{what}-{depth}.html")
            render(ex.root, page, depth=depth, rankdir=ex.rankdir if depth else "LR", params=ex.params)
            text = open(page, encoding="utf-8").read()
            w, h = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', text).groups()
            steps = text.count('"child":')
            px = smallest_px(page, chromium) if chromium else "(no chromium)"
            name = f"{what} " + ("full" if depth is None else f"depth={depth}")
            print(f"{name:<18} {float(w):>6.0f} x {float(h):<6.0f} {steps:>6} {len(text) // 1024:>5} KB  {px}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
