"""The explore page in headless Chromium (issue 19): its controls work, its sampling
distribution is Python's for every temperature and top-k tried, its seeded draws are
Python's, nothing is fetched and nothing is written to the console as an error.
Marked `browser` and skipped without Chromium and chromedriver, as
tests/test_viz_browser.py (whose small WebDriver client this uses)."""
import json
import random

import pytest

from minigpt import gpt
from minigpt.corpus import CANONICAL_PREFIX
from minigpt.explore import explore, next_token_probs
from test_explore import WORDS, tiny
from test_viz_browser import CHROMIUM, DRIVER, KEYS, Browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="Chromium and chromedriver not found (apt-get install chromium chromium-driver)"),
]

# put first in <head>: every uncaught error and console.error is kept in window.__errors
CATCH_ERRORS = ("<script>window.__errors = [];"
                "window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });"
                "const __ce = console.error; console.error = function () {"
                " window.__errors.push(Array.from(arguments).join(' ')); __ce.apply(console, arguments); };</script>")


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A tiny model's page on the canonical prompt, opened with the error catcher."""
    model = tiny(context=16)
    folder = tmp_path_factory.mktemp("explore")
    built = explore(model, WORDS, CANONICAL_PREFIX)
    path = folder / "explore.html"
    path.write_text(built.html.replace("<head>", "<head>" + CATCH_ERRORS, 1), encoding="utf-8")
    return path, model, built.data


def run(browser, script, *args):
    return browser.do("POST", "/execute/sync", {"script": script, "args": list(args)})


def text(browser, css):
    return run(browser, "return document.querySelector(arguments[0]).textContent;", css)


def click(browser, css):
    """A real click, with the element in the middle of the window (not under the sticky header)."""
    run(browser, "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});", css)
    browser.click(css)


def type_keys(browser, css, keys):
    browser.do("POST", f"/element/{browser.find(css)}/value", {"text": keys})


def opened(browser, page):
    browser.open(page[0])
    state = run(browser, "return {ready: document.body.dataset.ready, errors: window.__errors,"
                         " fetched: performance.getEntriesByType('resource').length};")
    assert state == {"ready": "1", "errors": [], "fetched": 0}


def test_positions_heads_cells_and_steps_respond_to_clicks_and_keys(browser, page):
    opened(browser, page)
    data = page[2]
    assert "position 7 (he): step 1 of" in text(browser, "#ex-stage-count")
    click(browser, "#ex-token-row button:nth-child(4)")                  # position 3
    assert "position 3 (,): step 1 of" in text(browser, "#ex-stage-count")
    assert run(browser, "return document.querySelector('#ex-token-row button:nth-child(4)').className;") \
        == "ex-tok ex-chosen"
    browser.key("right")                                                  # the keyboard moves it on
    assert "position 4 (you)" in text(browser, "#ex-stage-count")
    type_keys(browser, "body", "nn")                                      # N steps through the model
    assert "step 3 of" in text(browser, "#ex-stage-count")
    type_keys(browser, "body", "p")
    assert "step 2 of" in text(browser, "#ex-stage-count")
    # a heatmap cell: its score, its softmax row and its weight
    run(browser, "document.querySelector('#ex-heatmap rect.ex-c[data-t=\"6\"][data-j=\"2\"]')"
                 ".dispatchEvent(new MouseEvent('click', {bubbles: true}));")
    cell = text(browser, "#ex-cell")
    assert cell.startswith("Query 6 (,), key 2 (work): score") and "Row 6 of the scores" in cell
    weight = data["attention"][0][0]["weights"][6][2]
    assert f"weight = softmax(row)[2] = {weight:.3f}" in cell or "e-" in cell
    type_keys(browser, "#ex-heatmap", KEYS["left"])                       # arrows move the cell
    assert text(browser, "#ex-cell").startswith("Query 6 (,), key 1 (I)")
    click(browser, "#ex-heads button:nth-child(2)")                        # head 1
    label = run(browser, "return document.querySelector('#ex-heatmap svg').getAttribute('aria-label');")
    assert label == "attention weights, layer 0 head 1"
    run(browser, "document.querySelector('input[name=ex-mode][value=grad]').click();")
    assert "\u2202loss/\u2202weight" in text(browser, "#ex-cell")
    click(browser, "#ex-targets button:nth-of-type(2)")                   # another target
    assert "loss = \u2212log p(" in text(browser, "#ex-sal")
    assert run(browser, "return window.__errors;") == []


def test_the_sliders_distribution_is_pythons(browser, page):
    opened(browser, page)
    logits = page[2]["sampling"]["logits"]
    worst = 0.0
    for temperature in (0.0, 0.3, 0.8, 1.0, 1.7):
        for top_k in (0, 3):
            shown = run(browser, """
                const t = document.getElementById('ex-temp'), k = document.getElementById('ex-topk');
                t.value = arguments[0]; t.dispatchEvent(new Event('input'));
                k.value = arguments[1]; k.dispatchEvent(new Event('input'));
                return JSON.parse(document.getElementById('ex-probs').dataset.probs);""", temperature, top_k)
            expected = next_token_probs(logits, temperature, top_k or None)
            worst = max(worst, max(abs(a - b) for a, b in zip(shown, expected)))
            assert [p > 0 for p in shown] == [p > 0 for p in expected]
    assert worst <= 1e-15, worst
    before = float(run(browser, "return document.getElementById('ex-temp').value;"))
    type_keys(browser, "#ex-temp", KEYS["right"])                        # the slider takes arrow keys
    assert float(run(browser, "return document.getElementById('ex-temp').value;")) == pytest.approx(before + 0.05)
    assert run(browser, "return window.__errors;") == []


@pytest.mark.parametrize("seed,temperature,top_k", [(3, 1.0, 0), (12345678901, 1.6, 5), (0, 0.0, 0)])
def test_seeded_draws_are_the_tokens_generate_draws(browser, page, seed, temperature, top_k):
    opened(browser, page)
    path, model, data = page
    drawn = run(browser, """
        const t = document.getElementById('ex-temp'), k = document.getElementById('ex-topk');
        t.value = arguments[1]; t.dispatchEvent(new Event('input'));
        k.value = arguments[2]; k.dispatchEvent(new Event('input'));
        const s = document.getElementById('ex-seed');
        s.value = arguments[0]; s.dispatchEvent(new Event('change'));
        for (let i = 0; i < 6; i++) document.getElementById('ex-sample').click();
        return JSON.parse(document.getElementById('ex-draws').dataset.ids);""", seed, temperature, top_k)
    rng = random.Random(seed)
    expected = [gpt._next_id(data["sampling"]["logits"], temperature, top_k or None, rng) for _ in range(6)]
    assert drawn == expected
    first = gpt.generate(model, data["ids"], 1, temperature=temperature, top_k=top_k or None,
                         rng=random.Random(seed))[-1]
    assert drawn[0] == first
    assert run(browser, "return window.__errors;") == []


def test_a_page_that_left_positions_out_says_so_and_still_works(browser, tmp_path):
    model = tiny(context=16)
    built = explore(model, WORDS, CANONICAL_PREFIX, position=3, budget=1000)
    path = tmp_path / "small.html"
    path.write_text(built.html.replace("<head>", "<head>" + CATCH_ERRORS, 1), encoding="utf-8")
    opened(browser, (path,))
    assert "positions other than 3" in text(browser, "#ex-omitted")
    browser.key("right")                                                  # position 4: nothing stored
    assert "was left out" in text(browser, "#ex-stages") and "were left out" in text(browser, "#ex-sal")
    assert run(browser, "return window.__errors;") == []
    assert json.loads(json.dumps(built.data))["position"] == 3
