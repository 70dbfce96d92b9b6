"""Optimizers and learning-rate schedules for lists of `Value` parameters.

An optimizer reads each parameter's `.grad` (filled by `backward()`) and changes its
`.data`. Gradients accumulate, so call `zero_grad()` before each backward pass.

    opt = Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        opt.lr = schedule(step)          # optional
        loss = ...; opt.zero_grad(); loss.backward(); opt.step()
"""
from __future__ import annotations

import math
from typing import Dict, Iterable, List, Tuple

from .engine import Value

__all__ = ["SGD", "Adam", "LinearDecay", "CosineDecay"]


def _param_list(params: Iterable[Value]) -> List[Value]:
    params = list(params)
    if not params:
        raise ValueError("the optimizer got an empty parameter list")
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"parameter {i} is {type(p).__name__}, expected a Value")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("a parameter appears twice in the list (it would be updated twice per step)")
    return params


def _check_lr(lr: float) -> float:
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"learning rate must be a finite number >= 0, got {lr!r}")
    return float(lr)


class Optimizer:
    """Holds the parameters and the learning rate `lr` (which a schedule may change)."""

    def __init__(self, params: Iterable[Value], lr: float):
        self.params = _param_list(params)
        self.lr = _check_lr(lr)
        self.steps = 0

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> Dict[str, object]:
        """Plain data (JSON-safe) to save with a checkpoint."""
        return {"type": type(self).__name__, "lr": self.lr, "steps": self.steps}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore a `state_dict()`. Anything missing, of the wrong kind or not a
        finite number raises ValueError naming the field; nothing else escapes."""
        if not isinstance(state, dict) or state.get("type") != type(self).__name__:
            got = state.get("type") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"optimizer state is for {got!r}, not {type(self).__name__}")
        self.lr = _check_lr(_field(state, "lr"))
        steps = _field(state, "steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"optimizer state 'steps' must be a non-negative integer, got {steps!r}")
        self.steps = steps

    def _load_buffer(self, state, key: str) -> List[float]:
        buf = state.get(key)
        if not isinstance(buf, list) or len(buf) != len(self.params):
            n = len(buf) if isinstance(buf, list) else type(buf).__name__
            raise ValueError(f"optimizer state {key!r} has {n} entries, the optimizer has {len(self.params)} "
                             "parameters")
        return [_finite(x, key) for x in buf]


def _field(state: Dict[str, object], key: str) -> object:
    if key not in state:
        raise ValueError(f"optimizer state has no {key!r}")
    return state[key]


def _finite(x: object, key: str) -> float:
    """x as a float, or ValueError if it is not a finite number."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise ValueError(f"optimizer state {key!r} holds {x!r}, not a finite number")
    return float(x)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum:

        velocity = momentum * velocity + grad
        data    -= lr * velocity
    """

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0):
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        self.momentum = momentum
        self.velocity = [0.0] * len(self.params)

    def step(self) -> None:
        lr, mu, velocity = self.lr, self.momentum, self.velocity
        for i, p in enumerate(self.params):
            v = mu * velocity[i] + p.grad
            velocity[i] = v
            p.data -= lr * v
        self.steps += 1

    def state_dict(self) -> Dict[str, object]:
        return {**super().state_dict(), "momentum": self.momentum, "velocity": list(self.velocity)}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        super().load_state_dict(state)
        self.momentum = _finite(_field(state, "momentum"), "momentum")
        self.velocity = self._load_buffer(state, "velocity")


class Adam(Optimizer):
    """Adam (Kingma and Ba), with bias correction:

        m = b1 m + (1 - b1) g              (running mean of the gradient)
        v = b2 v + (1 - b2) g^2            (running mean of its square)
        data -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

    `weight_decay` adds `weight_decay * data` to the gradient first (L2, as
    `torch.optim.Adam` does).
    """

    def __init__(self, params: Iterable[Value], lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must each be in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.betas, self.eps, self.weight_decay = (float(b1), float(b2)), float(eps), float(weight_decay)
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def step(self) -> None:
        self.steps += 1
        b1, b2 = self.betas
        # fold the bias corrections into one step size (same numbers, fewer operations)
        step_size = self.lr / (1.0 - b1 ** self.steps)
        v_correction = 1.0 / (1.0 - b2 ** self.steps)
        eps, wd, sqrt = self.eps, self.weight_decay, math.sqrt
        params = self.params
        grads = [p.grad + wd * p.data for p in params] if wd else [p.grad for p in params]
        # whole-list updates: the same formulas, run as comprehensions (fast in CPython)
        self.m = m = [b1 * mi + (1.0 - b1) * g for mi, g in zip(self.m, grads)]
        self.v = v = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(self.v, grads)]
        for p, mi, vi in zip(params, m, v):
            p.data -= step_size * mi / (sqrt(vi * v_correction) + eps)

    def state_dict(self) -> Dict[str, object]:
        return {**super().state_dict(), "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay, "m": list(self.m), "v": list(self.v)}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        super().load_state_dict(state)
        betas = _field(state, "betas")
        if not isinstance(betas, list) or len(betas) != 2:
            raise ValueError(f"optimizer state 'betas' must be a list of two numbers, got {betas!r}")
        self.betas = tuple(_finite(b, "betas") for b in betas)
        self.eps = _finite(_field(state, "eps"), "eps")
        self.weight_decay = _finite(_field(state, "weight_decay"), "weight_decay")
        self.m = self._load_buffer(state, "m")
        self.v = self._load_buffer(state, "v")


# --------------------------------------------------------------------------------------
# Learning-rate schedules: call with the step number (0-based), get the learning rate
# --------------------------------------------------------------------------------------
class _Schedule:
    def __init__(self, lr: float, total_steps: int, warmup_steps: int = 0, final_lr: float = 0.0):
        self.lr, self.final_lr = _check_lr(lr), _check_lr(final_lr)
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        if not isinstance(warmup_steps, int) or not 0 <= warmup_steps < total_steps:
            raise ValueError(f"warmup_steps must be an integer in [0, total_steps), got {warmup_steps!r}")
        self.total_steps, self.warmup_steps = total_steps, warmup_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:  # linear warm-up from lr/warmup to lr
            return self.lr * (step + 1) / self.warmup_steps
        span = self.total_steps - self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.final_lr + (self.lr - self.final_lr) * self._shape(progress)

    def _shape(self, progress: float) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr:g}, total_steps={self.total_steps}, "
                f"warmup_steps={self.warmup_steps}, final_lr={self.final_lr:g})")


class LinearDecay(_Schedule):
    """lr falls in a straight line from `lr` (after an optional warm-up) to `final_lr`
    at `total_steps`: lr_t = final + (lr - final) * (1 - t / T)."""

    def _shape(self, progress: float) -> float:
        return 1.0 - progress


class CosineDecay(_Schedule):
    """lr follows half a cosine from `lr` to `final_lr`:
    lr_t = final + (lr - final) * (1 + cos(pi t / T)) / 2."""

    def _shape(self, progress: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * progress))
