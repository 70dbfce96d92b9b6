"""The README and docs/: every relative link leads to a file, and the engine's REPL
transcripts print what the REPL prints."""
import doctest
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + [os.path.join("docs", n) for n in sorted(os.listdir(os.path.join(ROOT, "docs")))
                         if n.endswith(".md")]


def read(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_leads_to_a_file(page):
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", read(page))
    local = [link for link in links if "://" not in link]
    missing = [link for link in local
               if not os.path.exists(os.path.normpath(os.path.join(ROOT, os.path.dirname(page), link)))]
    assert missing == []


def test_the_readme_links_the_moved_pages_and_the_notebooks():
    text = read("README.md")
    for target in ("docs/cli.md", "docs/checkpoints.md", "docs/speed.md", "docs/teaching.md", "docs/API.md"):
        assert f"]({target}" in text, target
    for notebook in ("01-value-and-backprop", "02-mlp-two-moons", "03-mini-gpt"):
        assert notebook in text and os.path.exists(os.path.join(ROOT, "notebooks", notebook + ".ipynb"))


def test_the_engine_section_transcripts_are_what_the_repl_prints():
    text = read("README.md")
    start = text.index("## The engine in five minutes")
    section = text[start:text.index("\n## ", start + 1)]
    blocks = re.findall(r"```python\n(>>> .*?)```", section, re.S)
    assert len(blocks) == 3  # the first expression, local_grads, gradcheck
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(doctest.DocTestParser().get_doctest("".join(blocks), {}, "README", "README.md", 0))
    assert runner.failures == 0 and runner.tries == 8


def test_the_compiling_section_prints_the_program_it_shows_and_reruns_it():
    text = read("README.md")
    start = text.index("## Compiling: backprop unrolled as code")
    section = text[start:text.index("\n## ", start + 1)]
    code, shown = re.search(r"```python\n(from minigpt import Value\n.*?)```\n\n```text\n(.*?)```", section, re.S).groups()
    assert "print(compiled.source)" in code
    scope = {}
    exec(code.replace("print(compiled.source)", ""), scope)
    assert scope["compiled"].source.strip() == shown.strip()   # what print(compiled.source) prints
    # after the seed, each backward line's comment is one step of explain_backward, in its order
    from minigpt.viz import explain_backward
    fresh = {}
    exec(code.split("compiled = ")[0], fresh)
    steps = [str(step).split(" = ")[0] for step in explain_backward(fresh["L"])]
    comments = [line.split("  # ")[1] for line in shown.split("def backward")[1].splitlines()[1:] if line.strip()]
    assert comments[0] == "L.grad = 1" and steps[0] == "L.grad"
    assert comments[1:] == steps[1:] and len(steps) == 5
    block = re.search(r"```python\n(>>> compiled\(.*?)```", section, re.S).group(1)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(doctest.DocTestParser().get_doctest(block, scope, "README", "README.md", 0))
    assert runner.failures == 0 and runner.tries == 2
