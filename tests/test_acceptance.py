"""Long acceptance checks of the issues, run on demand: `pytest -m slow`.

- `minigpt demo` learns the grammar: `works` is the top-1 prediction after the
  canonical prompt `<bos> I work , you work , he`, with a probability of at least
  0.85 (about 0.9 with the default seed: 2,000 steps carry rounding differences far,
  so the compiled and the graph path end between 0.89 and 0.96; under a minute on a
  quiet 2-core machine).
- On names.txt, MiniGPT(27, 16, 4, 1, 16) trained 1,000 steps (Adam, lr 1e-2, linear
  decay, betas 0.85/0.99, 6 names a step) reaches a mean training loss of at most 2.35 over the last
  100 steps (about two minutes).
"""
import math
import os
import re
import sys

import pytest

from minigpt.cli import main
from minigpt.corpus import NAMES_FILE as NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_demo_learns_works_after_the_canonical_prompt(capsys, tmp_path):
    code = main(["demo", "--out", str(tmp_path), "--no-progress", "--samples", "3"])
    out = capsys.readouterr().out
    assert code == 0
    after = re.search(r"after training\s*: '([^']+)'", out)
    assert after, out
    assert after.group(1) == "works", out
    confidence = float(re.search(r"after training\s*: 'works' ([0-9.]+)", out).group(1))
    assert confidence >= 0.85, out


@pytest.mark.slow
def test_names_run_reaches_the_loss_target():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from train_names import run
    finally:
        sys.path.pop(0)
    trainer, result = run(NAMES, steps=1000, progress=False)
    assert abs(result.losses[0] - math.log(27)) < 0.1  # starts near ln 27 = 3.30 (by step 10 it is below 3)
    assert result.mean_loss(100) <= 2.35
