"""The README's section on pictures and stepping shows what the code does."""
import doctest
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def section():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index("## Seeing the graph and stepping through backward")
    return text[start:text.index("\n## ", start + 1)]


def test_the_neuron_example_draws_named_green_weights_with_grads(tmp_path, monkeypatch):
    from minigpt.viz import draw as viz_draw
    code = re.search(r"```python\n(import random.*?)```", section(), re.S).group(1)
    assert 'render(y, "docs/neuron.png")' in code and "params=" not in code
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    scope = {}
    exec(code.replace('render(y, "docs/neuron.png")', 'render(y, "docs/neuron.dot")'), scope)
    source = (tmp_path / "docs" / "neuron.dot").read_text(encoding="utf-8")
    for i, w in enumerate(scope["n"].w):
        line = next(line for line in source.splitlines() if f"{{ w.{i} |" in line)
        assert viz_draw._PARAM_FILL in line and "grad " in line
    for image in ("docs/neuron.png", "docs/model-depth1.png", "docs/backward-page.png"):
        assert f"]({image})" in section() and os.path.exists(os.path.join(ROOT, image))


def test_the_repl_transcript_is_what_the_repl_prints():
    block = re.search(r"```\n(>>> from minigpt import Value.*?)```", section(), re.S).group(1)
    test = doctest.DocTestParser().get_doctest(block, {}, "README", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries == 9
