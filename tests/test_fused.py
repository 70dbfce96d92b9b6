"""Fused n-ary helpers (minigpt/fused.py): one node, and exactly the gradient of the
primitive composition (minigpt/engine.py's helpers, and the formulas written by hand)."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigpt import Value, engine, functional, gradcheck, primitive_mode, topological_order
from minigpt.fused import attention_row, dot, linear, logsumexp, softmax, vsum

vectors = st.lists(st.floats(-6, 6), min_size=1, max_size=12)


def rel_close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def grads_of(build, xs, weights=None):
    """Value(s) and input gradients of build(xs); several outputs are weighted."""
    vs = [Value(x) for x in xs]
    out = build(vs)
    outs = out if isinstance(out, list) else [out]
    weights = weights or [1.0 + 0.37 * i for i in range(len(outs))]
    total = outs[0] * weights[0]
    for w, o in zip(weights[1:], outs[1:]):
        total = total + o * w
    total.backward()
    return [o.data for o in outs], [v.grad for v in vs]


def assert_same(fused, primitive):
    for a, b in zip(fused[0], primitive[0]):
        assert rel_close(a, b), (a, b)
    for a, b in zip(fused[1], primitive[1]):
        assert rel_close(a, b), (a, b)


# ---- written out by hand with the operators --------------------------------------------
def sum_by_hand(vs):
    total = vs[0]
    for v in vs[1:]:
        total = total + v
    return total


def dot_by_hand(vs):
    half = len(vs) // 2
    xs, ys = vs[:half], vs[half:2 * half]
    total = xs[0] * ys[0]
    for x, y in zip(xs[1:], ys[1:]):
        total = total + x * y
    return total


def softmax_by_hand(vs):
    m = max(v.data for v in vs)
    exps = [(v - m).exp() for v in vs]
    total = sum_by_hand(exps)
    return [e / total for e in exps]


def logsumexp_by_hand(vs):
    m = max(v.data for v in vs)
    return sum_by_hand([(v - m).exp() for v in vs]).log() + m


@given(vectors)
def test_vsum_matches_chain_of_adds(xs):
    assert_same(grads_of(vsum, xs), grads_of(sum_by_hand, xs))


@given(vectors.filter(lambda v: len(v) >= 2))
def test_dot_matches_multiply_adds(xs):
    half = len(xs) // 2
    fused = grads_of(lambda vs: dot(vs[:half], vs[half:2 * half]), xs)
    assert_same(fused, grads_of(dot_by_hand, xs))


@given(vectors)
def test_softmax_matches_exp_over_sum(xs):
    assert_same(grads_of(softmax, xs), grads_of(softmax_by_hand, xs))


@given(vectors)
def test_logsumexp_matches_log_of_sum_of_exp(xs):
    assert_same(grads_of(logsumexp, xs), grads_of(logsumexp_by_hand, xs))


@given(vectors)
def test_engine_helpers_are_the_hand_written_formulas(xs):
    assert_same(grads_of(engine.vsum, xs), grads_of(sum_by_hand, xs))
    assert_same(grads_of(engine.softmax, xs), grads_of(softmax_by_hand, xs))
    assert_same(grads_of(engine.logsumexp, xs), grads_of(logsumexp_by_hand, xs))
    if len(xs) >= 2:
        half = len(xs) // 2
        assert_same(grads_of(lambda vs: engine.dot(vs[:half], vs[half:2 * half]), xs), grads_of(dot_by_hand, xs))


@given(vectors)
def test_primitive_mode_switches_the_layer_helpers(xs):
    for name in ("vsum", "softmax", "logsumexp"):
        helper = getattr(functional, name)
        fused = grads_of(helper, xs)
        with primitive_mode():
            primitive = grads_of(helper, xs)
        assert_same(fused, primitive)
        assert_same(fused, grads_of(getattr(engine, name), xs))


def test_fused_helpers_build_one_node_primitive_mode_many():
    xs = [Value(float(i)) for i in range(8)]
    s = vsum(xs)
    assert s.op == "sum" and len(s.children) == 8
    assert len(topological_order(s)) == 9
    d = dot(xs[:4], xs[4:])
    assert d.op == "dot" and len(d.children) == 8
    outs = softmax(xs)
    assert all(o.op == "softmax" and len(o.children) == 8 for o in outs)
    with primitive_mode():
        s2 = functional.vsum(xs)
        d2 = functional.dot(xs[:4], xs[4:])
    ops = {n.op for n in topological_order(s2)} | {n.op for n in topological_order(d2)}
    assert ops <= {"", "+", "*"}
    assert len(topological_order(s2)) > 9


def test_dot_with_constant_side():
    xs = [Value(1.0), Value(2.0)]
    d = dot(xs, [3.0, 4.0])
    assert d.data == 11.0 and len(d.children) == 2
    d.backward()
    assert [x.grad for x in xs] == [3.0, 4.0]


def test_vsum_of_empty_and_numbers():
    assert vsum([]).data == 0.0
    a = Value(1.0)
    s = vsum([a, 2, 3.5])
    assert s.data == 6.5
    s.backward()
    assert a.grad == 1.0


def test_softmax_and_logsumexp_are_stable_for_huge_inputs():
    xs = [Value(1000.0), Value(999.0), Value(-1000.0)]
    probs = softmax(xs)
    assert math.isclose(sum(p.data for p in probs), 1.0)
    assert probs[0].data > probs[1].data > probs[2].data >= 0.0
    lse = logsumexp(xs)
    assert lse.data == pytest.approx(1000.0 + math.log(1 + math.exp(-1)), rel=1e-12)


def test_fused_helpers_pass_gradcheck():
    assert gradcheck(lambda *v: softmax(list(v)), [0.1, -2.0, 1.3, 0.0])
    assert gradcheck(lambda *v: logsumexp(list(v)), [0.1, -2.0, 1.3, 0.0])
    assert gradcheck(lambda *v: dot(v[:2], v[2:]), [0.1, -2.0, 1.3, 0.5])
    assert gradcheck(lambda *v: vsum(v), [0.1, -2.0, 1.3])


def test_repeated_children_accumulate():
    a = Value(3.0)
    d = dot([a, a], [a, 2.0])  # a*a + 2a -> derivative 2a + 2 = 8
    d.backward()
    assert a.grad == 8.0


# ---- linear and attention_row: fused layers equal their primitive composition ----------
def test_linear_equals_rows_of_dot():
    import random
    from minigpt.nn import linear as nn_linear
    r = random.Random(0)
    W = [[r.uniform(-1, 1) for _ in range(5)] for _ in range(3)]
    xs = [[r.uniform(-1, 1) for _ in range(5)] for _ in range(2)]
    b = [r.uniform(-1, 1) for _ in range(3)]

    def run(fused):
        Wv = [[Value(w) for w in row] for row in W]
        xv, bv = [[Value(v) for v in x] for x in xs], [Value(v) for v in b]
        if fused:
            outs = linear(Wv, xv, bv)
        else:
            with primitive_mode():  # nn.linear's readable path: dot(row, x) + b per output
                outs = nn_linear(Wv, xv, bv)
        total = vsum([o * (1.0 + 0.5 * i) for i, o in enumerate(outs[0] + outs[1])])
        total.backward()
        return ([o.data for row in outs for o in row],
                [v.grad for row in Wv for v in row] + [v.grad for x in xv for v in x] + [v.grad for v in bv])

    fused, primitive = run(True), run(False)
    assert_same(fused, primitive)
    assert all(o.op == "dot" for o in linear([[Value(1.0)]], [Value(2.0)]))
    with pytest.raises(ValueError, match="take vectors of length 2, position 0 has 1"):
        linear([[Value(1.0), Value(2.0)]], [Value(1.0)])
    with pytest.raises(ValueError, match="1 biases for 2 rows"):
        linear([[Value(1.0)], [Value(2.0)]], [Value(1.0)], [Value(0.0)])


@given(st.lists(st.floats(-4, 4), min_size=2, max_size=6), st.sampled_from([1.0, 0.5]))
def test_attention_row_equals_softmax_then_dot(raw, scale):
    n = len(raw) // 2
    scores, flat = raw[:n], raw[n:2 * n]

    def run(fused):
        s = [Value(x) for x in scores]
        vecs = [[Value(x), Value(x * 0.3 - 1)] for x in flat]
        if fused:
            outs = attention_row(s, vecs, scale=scale)
        else:  # the formula: softmax of the scaled scores, then a weighted sum per feature
            weights = engine.softmax([x * scale for x in s])
            outs = [engine.dot(weights, [v[f] for v in vecs]) for f in range(2)]
        (outs[0] * 1.3 + outs[1] * -0.7).backward()
        return [o.data for o in outs], [v.grad for v in s] + [v.grad for row in vecs for v in row]

    assert_same(run(True), run(False))


def test_attention_row_by_hand_and_errors():
    s = [Value(0.0), Value(math.log(3.0))]  # weights 1/4 and 3/4
    out = attention_row(s, [[Value(4.0)], [Value(8.0)]])
    assert out[0].data == pytest.approx(7.0, rel=1e-12)
    assert gradcheck(lambda a, b, c, d: attention_row([a, b], [[c], [d]], scale=0.5), [0.1, -0.3, 2.0, 1.0])
    with pytest.raises(ValueError, match="2 scores for 1 value vectors"):
        attention_row(s, [[Value(1.0)]])
    with pytest.raises(ValueError, match="different lengths"):
        attention_row(s, [[Value(1.0)], [Value(1.0), Value(2.0)]])
    with pytest.raises(ValueError, match="finite"):
        attention_row(s, [[Value(1.0)], [Value(2.0)]], scale=float("nan"))


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=9))
def test_layer_norm_equals_the_primitive_formula(xs):
    from minigpt.nn import LayerNorm
    ln = LayerNorm(len(xs))
    for i, (g, b) in enumerate(zip(ln.gamma, ln.beta)):
        g.data, b.data = 1.0 + 0.1 * i, 0.05 * i - 0.2

    def run(fused_path):
        ln.zero_grad()
        vs = [Value(x) for x in xs]
        if fused_path:
            outs = ln(vs)
        else:
            with primitive_mode():
                outs = ln(vs)
        vsum([o * (1.0 + 0.3 * i) for i, o in enumerate(outs)]).backward()
        return [o.data for o in outs], [v.grad for v in vs] + [p.grad for p in ln.parameters()]

    fused_run, primitive_run = run(True), run(False)
    for a, b in zip(fused_run[0], primitive_run[0]):
        assert rel_close(a, b), (a, b)
    scale = max([1.0] + [abs(g) for g in primitive_run[1]])
    for a, b in zip(fused_run[1], primitive_run[1]):
        assert abs(a - b) <= 1e-11 * scale, (a, b)


def test_layer_norm_is_n_plus_two_nodes_and_passes_gradcheck():
    from minigpt.fused import layer_norm
    x = [Value(v) for v in (0.3, -1.2, 2.0, 0.7)]
    g = [Value(v) for v in (1.0, 0.5, -1.5, 2.0)]
    b = [Value(v) for v in (0.0, 0.1, 0.2, 0.3)]
    out = layer_norm(x, g, b, 1e-5)
    inner = {n for n in topological_order(vsum(out)) if n.children}
    assert len(inner) == 4 + 2 + 1  # mean, 1/std, 4 outputs, and the sum
    assert gradcheck(lambda *v: layer_norm(list(v[:4]), list(v[4:8]), list(v[8:]), 1e-5),
                     [0.3, -1.2, 2.0, 0.7, 1.0, 0.5, -1.5, 2.0, 0.0, 0.1, 0.2, 0.3])
