"""The stepping page in a real browser: headless Chromium driven through chromedriver
(issue 13). Marked `browser`; skipped, with the reason, when Chromium or chromedriver
is missing (Debian: apt-get install chromium chromium-driver). `.ci/run` installs both
and runs `pytest -m browser`.

chromedriver speaks the W3C WebDriver protocol, JSON over HTTP on localhost, so a
few lines of urllib drive it: no Selenium, and no network beyond this machine.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from minigpt import topological_order, viz
from minigpt.engine import Constant
from minigpt.viz.graph import num
from viz_graphs import abc, neuron

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")

# CI sets MINIGPT_REQUIRE_BROWSER=1 after installing them: there a missing browser fails
if os.environ.get("MINIGPT_REQUIRE_BROWSER") == "1" and not (CHROMIUM and DRIVER):
    raise RuntimeError("MINIGPT_REQUIRE_BROWSER=1 but chromium or chromedriver is not on PATH")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="Chromium and chromedriver not found (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(viz.find_renderer() is None, reason="no Graphviz renderer (pip install graphviz-pure)"),
]

KEYS = {"right": "\ue014", "left": "\ue012", "home": "\ue011", "end": "\ue010"}

# what the page shows: every record's grad text, the chain-rule line, the step counter
SHOWN = r"""
const grads = {};
document.querySelectorAll('#mg-picture g.node').forEach(function (g) {
  g.querySelectorAll('text').forEach(function (t) {
    const m = /(?:^|, )grad (?:norm )?(\S+)$/.exec(t.textContent);
    if (m && t.style.visibility !== 'hidden') grads[g.querySelector('title').textContent] = m[1];
  });
});
return {grads: grads, line: document.getElementById('mg-line').textContent,
        counter: document.getElementById('mg-counter').textContent,
        info: document.getElementById('mg-info').textContent,
        fetched: performance.getEntriesByType('resource').length};
"""


class Browser:
    """Headless Chromium through chromedriver's W3C protocol on localhost."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.profile = tempfile.mkdtemp(prefix="minigpt-chromium-")
        self.driver = subprocess.Popen([DRIVER, f"--port={port}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if self._call("GET", "/status")["value"]["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,720",
                f"--user-data-dir={self.profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND"]  # the network is off for the page
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                                                 "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}
        self.session = self._call("POST", "/session", caps)["value"]["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:  # WebDriver says what went wrong in the body
            raise AssertionError(f"{method} {path}: {err.read().decode('utf-8', 'replace')[:500]}") from None

    def do(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)["value"]

    def open(self, path):
        self.do("POST", "/url", {"url": path.resolve().as_uri()})

    def find(self, css):
        found = self.do("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def click(self, css):
        self.do("POST", f"/element/{self.find(css)}/click", {})

    def key(self, name):
        self.do("POST", f"/element/{self.find('body')}/value", {"text": KEYS[name]})

    def shown(self):
        return self.do("POST", "/execute/sync", {"script": SHOWN, "args": []})

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(self.do("GET", "/screenshot")))

    def close(self):
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def expected_states(build):
    """After each number of steps k: {node id: grad as the picture writes it}."""
    root = build()
    order = topological_order(root)
    index = {v: i for i, v in enumerate(order)}
    shown = {f"n{i}": "0.0" for i, v in enumerate(order)}
    states = [dict(shown)]
    lines = [None]
    for step in viz.explain_backward(root):
        shown[f"n{index[step.child]}"] = num(step.after, 4)
        states.append(dict(shown))
        lines.append(str(step))
    return states, lines


@pytest.mark.parametrize("build", [abc, neuron], ids=["a*b+c", "neuron"])
def test_stepping_in_chromium_shows_explain_backwards_grads_and_ends_at_backwards(browser, build, tmp_path):
    root = build()
    root.backward()
    final = {f"n{i}": num(v.grad, 4) for i, v in enumerate(topological_order(root))}
    page = tmp_path / "page.html"
    viz.render(root, page)
    states, lines = expected_states(build)
    n = len(states) - 1

    # every node drawn as a record shows a grad (a constant is small text, without one)
    records = {f"n{i}" for i, v in enumerate(topological_order(root)) if not isinstance(v, Constant) or v.label}

    def at(state):
        return {node: state[node] for node in records}

    browser.open(page)
    shown = browser.shown()
    assert shown["fetched"] == 0                       # nothing loaded besides the file itself
    # after backward() the page opens showing what the graph holds: the last step
    assert shown["counter"] == f"step {n} of {n}" and shown["grads"] == at(final)
    browser.key("home")
    shown = browser.shown()
    assert shown["counter"] == f"step 0 of {n}" and shown["grads"] == at(states[0])
    assert set(shown["grads"]) == records and set(shown["grads"].values()) == {"0.0"}
    for k in range(1, n + 1):                          # the Step button, edge by edge
        browser.click("#mg-step")
        shown = browser.shown()
        assert shown["line"] == lines[k] and shown["grads"] == at(states[k])
    assert shown["grads"] == at(final)                 # = backward()'s grads
    browser.key("left")                                # the keyboard steps back ...
    browser.key("left")
    assert browser.shown()["grads"] == at(states[n - 2])
    browser.key("right")                               # ... and forward
    assert browser.shown()["line"] == lines[n - 1]
    browser.click("#mg-reset")
    assert browser.shown()["counter"] == f"step 0 of {n}" and browser.shown()["grads"] == at(states[0])
    browser.key("end")
    assert browser.shown()["grads"] == at(final)
    browser.click("#mg-forward")                       # forward values: grads hidden
    assert browser.shown()["grads"] == {}
    browser.click("#mg-forward")
    browser.screenshot(tmp_path / "page.png")
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clicking_a_node_shows_its_op_data_grad_and_children(browser, tmp_path):
    root = abc()
    root.backward()
    page = tmp_path / "abc.html"
    viz.render(root, page)
    browser.open(page)
    browser.key("end")
    order = topological_order(root)
    product = next(i for i, v in enumerate(order) if v.op == "*")
    circle = browser.do("POST", "/execute/sync", {"script": """
        const wanted = arguments[0];
        return Array.from(document.querySelectorAll('#mg-picture g.node'))
                    .find(function (g) { return g.querySelector('title').textContent === wanted; })
                    .querySelector('text');""", "args": [f"o{product}"]})
    browser.do("POST", f"/element/{next(iter(circle.values()))}/click", {})  # a real click on the '*'
    info = browser.shown()["info"]
    assert info.startswith("eop*") and "data6.0" in info and "grad1.0" in info  # e = a * b
    assert "adata 2.0local 3.0" in info and "bdata 3.0local 2.0" in info


def test_a_collapsed_page_steps_box_to_box_in_chromium(browser, tmp_path):
    from minigpt.example_graphs import example
    ex = example("block")
    page = tmp_path / "block.html"
    viz.render(ex.root, page, depth=1, rankdir="TB")
    data = viz.page.collapsed_step_data(ex.root, 1)
    n = len(data["steps"])
    browser.open(page)
    browser.key("end")
    shown = browser.shown()
    assert shown["counter"] == f"step {n} of {n}" and shown["line"] == data["steps"][-1]["text"]
    # the drawn records (single Values: the output) show their grads; here the output's
    assert shown["grads"] and set(shown["grads"].values()) <= {s["after"] for s in data["steps"]}
    browser.key("home")
    browser.key("right")
    browser.key("right")
    edge = browser.do("POST", "/execute/sync", {"script": """
        return Array.from(document.querySelectorAll('g.edge.mg-edge'))
                    .map(function (g) { return g.querySelector('title').textContent; });""", "args": []})
    step = data["steps"][1]
    assert edge == [f"{step['child']}->{step['parent']}"]     # one edge, box to box


def test_a_page_opens_at_what_the_graph_holds_and_says_so_when_it_is_no_single_pass(browser, tmp_path):
    fresh = abc()                                      # before backward: step 0, every grad 0
    viz.render(fresh, tmp_path / "fresh.html")
    browser.open(tmp_path / "fresh.html")
    shown = browser.shown()
    assert shown["counter"].startswith("step 0 of") and set(shown["grads"].values()) == {"0.0"}
    twice = abc()
    twice.backward()
    twice.backward()                                   # grads accumulated over two passes
    viz.render(twice, tmp_path / "twice.html")
    browser.open(tmp_path / "twice.html")
    note = browser.do("POST", "/execute/sync", {"script": "return document.getElementById('mg-note').textContent;",
                                                "args": []})
    assert "more than once" in note and "one pass from zero" in note


@pytest.mark.parametrize("what,depth", [("neuron", None), ("attention", 0), ("model", 1)])
def test_text_is_never_under_11_px_at_the_default_view(browser, tmp_path, what, depth):
    from minigpt.example_graphs import example
    ex = example(what)
    page = tmp_path / f"{what}.html"
    viz.render(ex.root, page, depth=depth, params=ex.params)
    browser.open(page)
    smallest = browser.do("POST", "/execute/sync", {"script": """
        const svg = document.querySelector('#mg-picture svg');
        const perUnit = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        const sizes = Array.from(svg.querySelectorAll('text')).map(function (t) {
            return parseFloat(t.getAttribute('font-size')); });
        return Math.min.apply(null, sizes) * perUnit;""", "args": []})
    assert smallest >= 10.99, smallest
