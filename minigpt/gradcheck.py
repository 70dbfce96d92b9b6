"""Checking gradients against central differences.

`gradcheck(f, inputs)` compares the gradient `backward()` computes with the slope
measured by nudging each input:

    numeric_i = (f(x_i + eps) - f(x_i - eps)) / (2 eps)

An error in any op's local derivative shows up as a mismatch here.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, List, Sequence, Union

from .engine import Value, no_grad

__all__ = ["gradcheck", "GradcheckResult"]


@dataclass
class GradcheckResult:
    """What `gradcheck` found. Truthy when every input passed.

    `analytic[i]` and `numeric[i]` are the two gradients for input i; `worst` is the
    index of the input whose difference used up the largest share of its tolerance.
    """

    ok: bool
    worst: int
    analytic: List[float] = field(repr=False)
    numeric: List[float] = field(repr=False)
    names: List[str] = field(repr=False)
    atol: float = field(repr=False, default=0.0)
    rtol: float = field(repr=False, default=0.0)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        if self.worst < 0:
            return "GradcheckResult(ok=True, no inputs)"
        i = self.worst
        a, n = self.analytic[i], self.numeric[i]
        verdict = "passed" if self.ok else "FAILED"
        return (f"gradcheck {verdict} on {len(self.analytic)} input(s); worst is input {i} ({self.names[i]}): "
                f"analytic {a:.10g}, numeric {n:.10g}, |diff| {abs(a - n):.3g} "
                f"(allowed {self.atol:.3g} + {self.rtol:.3g} * |numeric|)")

    __str__ = __repr__


def _flatten(out) -> List[Value]:
    """A Value, or a (nested) list of Values, as a flat list of Values."""
    if isinstance(out, Value):
        return [out]
    if isinstance(out, (list, tuple)):
        flat: List[Value] = []
        for item in out:
            flat.extend(_flatten(item))
        return flat
    raise TypeError(f"gradcheck: f must return a Value or (nested) lists of Values, got {type(out).__name__}")


def _reduce(out, weights: List[float]) -> Value:
    """Fold every output into one scalar with fixed weights, so a single backward
    pass checks the gradient of every output at once."""
    flat = _flatten(out)
    if len(flat) == 1:
        return flat[0]
    if len(flat) != len(weights):
        raise ValueError(f"gradcheck: f returned {len(flat)} outputs this time and {len(weights)} the first time")
    total = flat[0] * weights[0]
    for w, v in zip(weights[1:], flat[1:]):
        total = total + v * w
    return total


def gradcheck(f: Callable[..., object], inputs: Sequence[Union[Value, float]],
              eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> GradcheckResult:
    """Compare `backward()` with central differences for every input of `f`.

    Args:
        f: called as `f(*values)`; returns a Value, or a (nested) list of Values, in
           which case the outputs are combined with fixed random weights.
        inputs: numbers (wrapped in fresh Values) or existing Values (for example a
           model's parameters, which `f` may use directly); an existing Value's data
           is nudged in place and restored, and its `.grad` is left as it was.
        eps: the step of the central difference.
        atol, rtol: input i passes when |analytic - numeric| <= atol + rtol * |numeric|.

    Returns a `GradcheckResult`, truthy when all inputs pass, that names the worst
    input with its analytic and numeric gradients.
    """
    if eps <= 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    leaves = [x if isinstance(x, Value) else Value(x, label=f"x{i}") for i, x in enumerate(inputs)]
    names = [v.label or f"input {i}" for i, v in enumerate(leaves)]
    saved_grads = [v.grad for v in leaves]

    rng = random.Random(1234)
    first = f(*leaves)
    weights = [rng.uniform(0.5, 1.5) * rng.choice((-1.0, 1.0)) for _ in _flatten(first)]

    # analytic: one backward pass with every input's grad starting from zero
    for v in leaves:
        v.grad = 0.0
    _reduce(first, weights).backward()
    # a Value passed twice in `inputs` collects its gradient once; read it once
    analytic = [v.grad for v in leaves]
    for v, g in zip(leaves, saved_grads):
        v.grad = g

    # numeric: nudge one input at a time, evaluated without building graphs
    numeric = []
    with no_grad():
        for v in leaves:
            x = v.data
            try:
                v.data = x + eps
                up = _reduce(f(*leaves), weights).data
                v.data = x - eps
                down = _reduce(f(*leaves), weights).data
            finally:
                v.data = x
            numeric.append((up - down) / (2 * eps))

    worst, worst_share, ok = -1, -1.0, True
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        allowed = atol + rtol * abs(n)
        share = abs(a - n) / allowed if allowed > 0 else (0.0 if a == n else float("inf"))
        if not share <= 1.0:  # also catches nan
            ok = False
        if share > worst_share or share != share:
            worst, worst_share = i, share if share == share else float("inf")
    return GradcheckResult(ok, worst, analytic, numeric, names, atol, rtol)
