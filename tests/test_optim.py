"""Optimizers and schedules: the update formulas, state round trips, errors."""
import json

import pytest

from minigpt import Value
from minigpt.optim import SGD, Adam, CosineDecay, LinearDecay


def quadratic_grads(params, targets):
    """Set grads of 0.5 * sum (p - t)^2 by hand: g = p - t."""
    for p, t in zip(params, targets):
        p.grad = p.data - t


def test_sgd_step_formula_and_momentum():
    p = Value(1.0)
    opt = SGD([p], lr=0.1)
    p.grad = 2.0
    opt.step()
    assert p.data == pytest.approx(0.8)
    q = Value(1.0)
    opt = SGD([q], lr=0.1, momentum=0.9)
    q.grad = 1.0
    opt.step()
    opt.step()  # velocity 1, then 0.9 + 1
    assert q.data == pytest.approx(1.0 - 0.1 * 1.0 - 0.1 * 1.9)


def test_adam_first_step_moves_by_lr_in_the_gradient_sign():
    p, q = Value(1.0), Value(-1.0)
    opt = Adam([p, q], lr=0.01)
    p.grad, q.grad = 123.0, -0.001
    opt.step()
    # after bias correction m_hat / sqrt(v_hat) = sign(g)
    assert p.data == pytest.approx(1.0 - 0.01, rel=1e-6)
    assert q.data == pytest.approx(-1.0 + 0.01, rel=1e-3)


def test_adam_converges_on_a_quadratic():
    params = [Value(x) for x in (3.0, -2.0, 0.5)]
    targets = [1.0, 1.0, -1.0]
    opt = Adam(params, lr=0.1)
    for _ in range(500):
        quadratic_grads(params, targets)
        opt.step()
    assert [p.data for p in params] == pytest.approx(targets, abs=1e-3)


def test_zero_grad():
    params = [Value(1.0), Value(2.0)]
    for p in params:
        p.grad = 5.0
    Adam(params).zero_grad()
    assert all(p.grad == 0.0 for p in params)


def test_state_dict_round_trip_continues_identically():
    def run(split):
        params = [Value(x) for x in (3.0, -2.0)]
        opt = Adam(params, lr=0.05, weight_decay=0.01)
        for i in range(10):
            if i == split:
                state = json.loads(json.dumps(opt.state_dict()))
                data = [p.data for p in params]
                params = [Value(x) for x in data]
                opt = Adam(params, lr=0.05, weight_decay=0.01)
                opt.load_state_dict(state)
            quadratic_grads(params, [1.0, 1.0])
            opt.step()
        return [p.data for p in params]
    assert run(split=4) == run(split=-1)


def test_state_mismatch_errors():
    opt = Adam([Value(1.0)])
    with pytest.raises(ValueError, match="SGD"):
        opt.load_state_dict(SGD([Value(1.0)], lr=0.1).state_dict())
    state = Adam([Value(1.0), Value(2.0)]).state_dict()
    with pytest.raises(ValueError, match="2 entries"):
        opt.load_state_dict(state)


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        Adam([])
    with pytest.raises(TypeError, match="expected a Value"):
        SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        v = Value(1.0)
        SGD([v, v], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        SGD([Value(1.0)], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam([Value(1.0)], betas=(1.0, 0.9))


@pytest.mark.torch
def test_adam_and_sgd_match_torch():
    import torch
    start = [0.5, -1.5, 2.0]
    grads_per_step = [[0.1, -0.2, 0.3], [-0.5, 0.4, 0.0], [1.0, 1.0, -1.0]]
    for make_ours, make_theirs in [
        (lambda ps: Adam(ps, lr=0.01, betas=(0.85, 0.99), weight_decay=0.1),
         lambda ts: torch.optim.Adam(ts, lr=0.01, betas=(0.85, 0.99), weight_decay=0.1)),
        (lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ts: torch.optim.SGD(ts, lr=0.1, momentum=0.9)),
    ]:
        ours = [Value(x) for x in start]
        theirs = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt, topt = make_ours(ours), make_theirs([theirs])
        for g in grads_per_step:
            for p, gi in zip(ours, g):
                p.grad = gi
            theirs.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            topt.step()
        assert [p.data for p in ours] == pytest.approx(theirs.detach().tolist(), rel=1e-12)


def test_linear_decay_schedule():
    s = LinearDecay(1.0, total_steps=10)
    assert s(0) == 1.0 and s(5) == pytest.approx(0.5) and s(10) == 0.0 and s(20) == 0.0
    w = LinearDecay(1.0, total_steps=10, warmup_steps=2, final_lr=0.1)
    assert w(0) == pytest.approx(0.5) and w(1) == pytest.approx(1.0) and w(10) == pytest.approx(0.1)


def test_cosine_decay_schedule():
    s = CosineDecay(2.0, total_steps=100)
    assert s(0) == pytest.approx(2.0) and s(50) == pytest.approx(1.0) and s(100) == pytest.approx(0.0)
    assert all(s(i) >= s(i + 1) for i in range(100))
    with pytest.raises(ValueError, match="total_steps"):
        CosineDecay(1.0, total_steps=0)
