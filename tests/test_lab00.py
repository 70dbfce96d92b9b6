"""Lab 00, "one transformer block, by hand", as acceptance tests (no PyTorch).

The centre piece is the tiny block of the lab: d_model 4, one head, d_ff 8, two
tokens, every parameter a fraction written down below. Its forward pass is computed
here a second time with plain Python floats, step by step (LN1, Q/K/V, scores,
causal softmax, output projection, residual, LN2, FFN with tanh-GELU, residual), and
`TransformerBlock` has to agree with it. Then the lab's sanity tests: near-identity
with zero parameters, LayerNorm properties, a gradient check and shape preservation.
"""
import math
import random

import pytest

from minigpt import Value, gradcheck
from minigpt.nn import FeedForward, LayerNorm, MultiHeadAttention, TransformerBlock

D, D_FF, T = 4, 8, 2


# --------------------------------------------------------------------------------------
# The lab's fixed numbers
# --------------------------------------------------------------------------------------
X = [[2.0, 0.0, -1.0, 3.0],  # token 0: mean 1, centred (1, -1, -2, 2), variance 10/4
     [0.5, -0.5, 1.0, -1.5]]  # token 1: mean -1/8

LN1_GAMMA, LN1_BETA = [1.0, 0.9, 1.1, 1.2], [0.0, 0.1, -0.1, 0.05]
LN2_GAMMA, LN2_BETA = [0.8, 1.0, 1.2, 0.9], [0.1, 0.0, -0.2, 0.05]


def matrix(rows, cols, rule):
    return [[rule(i, j) for j in range(cols)] for i in range(rows)]


# weight[i][j] is row i (output feature), column j (input feature), as in Linear
WQ = matrix(D, D, lambda i, j: ((i * 7 + j * 3) % 11 - 5) / 10)
WK = matrix(D, D, lambda i, j: ((i * 7 + j * 3 + 2) % 11 - 5) / 10)
WV = matrix(D, D, lambda i, j: ((i * 3 + j * 5 + 2) % 7 - 3) / 10)
WO = matrix(D, D, lambda i, j: ((i + 2 * j) % 5 - 2) / 10)
W1 = matrix(D_FF, D, lambda i, j: ((i * 3 + j * 7) % 13 - 6) / 10)
B1 = [((i % 3) - 1) / 10 for i in range(D_FF)]
W2 = matrix(D, D_FF, lambda i, j: ((i * 5 + j * 3) % 11 - 5) / 10)
B2 = [((2 * i) % 5 - 2) / 20 for i in range(D)]

IDENTITY = matrix(D, D, lambda i, j: 1.0 if i == j else 0.0)


def set_data(values, numbers):
    """Copy nested lists of numbers into nested lists of Values (`.data`)."""
    assert len(values) == len(numbers)
    for v, n in zip(values, numbers):
        if isinstance(v, Value):
            v.data = n
        else:
            set_data(v, n)


def tiny_block():
    block = TransformerBlock(D, 1, hidden_dim=D_FF)
    set_data(block.ln1.gamma, LN1_GAMMA)
    set_data(block.ln1.beta, LN1_BETA)
    set_data(block.attn.q_proj.weight, WQ)
    set_data(block.attn.k_proj.weight, WK)
    set_data(block.attn.v_proj.weight, WV)
    set_data(block.attn.out_proj.weight, WO)
    set_data(block.ln2.gamma, LN2_GAMMA)
    set_data(block.ln2.beta, LN2_BETA)
    set_data(block.ffn.fc1.weight, W1)
    set_data(block.ffn.fc1.bias, B1)
    set_data(block.ffn.fc2.weight, W2)
    set_data(block.ffn.fc2.bias, B2)
    return block


def values(rows):
    return [[Value(x) for x in row] for row in rows]


def floats(rows):
    return [[v.data for v in row] for row in rows]


def max_abs_diff(a, b):
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


# --------------------------------------------------------------------------------------
# The block by hand, in plain floats
# --------------------------------------------------------------------------------------
def matvec(W, x):
    return [sum(w * xi for w, xi in zip(row, x)) for row in W]


def add(a, b):
    return [x + y for x, y in zip(a, b)]


def layer_norm(x, gamma, beta, eps=1e-5):
    mean = sum(x) / len(x)
    var = sum((xi - mean) ** 2 for xi in x) / len(x)  # biased: divide by n
    return [g * (xi - mean) / math.sqrt(var + eps) + b for xi, g, b in zip(x, gamma, beta)]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def softmax(scores):
    m = max(scores)
    e = [math.exp(s - m) for s in scores]
    return [x / sum(e) for x in e]


def block_by_hand(x, gelu=gelu_tanh, causal=True, scale=True, out_proj=True, pre_norm=True,
                  ln_over_positions=False, swap_qk=False, transpose_weights=False):
    """The forward pass of the tiny block. The keyword arguments switch on the
    mistakes the lab warns about; the defaults are the correct block. Returns the
    output and a dict of every intermediate."""
    def ln(rows, gamma, beta):
        if not ln_over_positions:
            return [layer_norm(r, gamma, beta) for r in rows]
        # the axis bug: normalise each feature over the positions instead
        cols = [layer_norm([r[j] for r in rows], [gamma[j]] * len(rows), [beta[j]] * len(rows))
                for j in range(len(rows[0]))]
        return [[cols[j][t] for j in range(len(cols))] for t in range(len(rows))]

    steps = {}
    a_in = ln(x, LN1_GAMMA, LN1_BETA) if pre_norm else x
    steps["ln1"] = a_in
    wq, wk, wv, wo = WQ, WK, WV, WO
    if transpose_weights:  # the shape confusion: x W where W x was meant
        wq, wk, wv, wo = ([list(col) for col in zip(*w)] for w in (WQ, WK, WV, WO))
    q = [matvec(wq, r) for r in a_in]
    k = [matvec(wk, r) for r in a_in]
    v = [matvec(wv, r) for r in a_in]
    if swap_qk:
        q, k = k, q
    c = 1.0 / math.sqrt(D) if scale else 1.0  # one head: head_dim = d_model = 4
    steps["scores"], steps["weights"], mixed = [], [], []
    for t in range(len(x)):
        visible = range(t + 1) if causal else range(len(x))
        scores = [c * sum(qi * ki for qi, ki in zip(q[t], k[j])) for j in visible]
        w = softmax(scores)
        steps["scores"].append(scores)
        steps["weights"].append(w)
        mixed.append([sum(w[n] * v[j][f] for n, j in enumerate(visible)) for f in range(D)])
    attn = [matvec(wo, m) if out_proj else m for m in mixed]
    steps["attn"] = attn
    z = [add(xt, at) for xt, at in zip(x, attn)]
    if not pre_norm:  # post-norm: x = LN(x + sublayer(x))
        z = ln(z, LN1_GAMMA, LN1_BETA)
    steps["z"] = z
    f_in = ln(z, LN2_GAMMA, LN2_BETA) if pre_norm else z
    steps["ln2"] = f_in
    hidden = [[gelu(h) for h in add(matvec(W1, r), B1)] for r in f_in]
    steps["hidden"] = hidden
    ffn = [add(matvec(W2, h), B2) for h in hidden]
    y = [add(zt, ft) for zt, ft in zip(z, ffn)]
    if not pre_norm:
        y = ln(y, LN2_GAMMA, LN2_BETA)
    return y, steps


# --------------------------------------------------------------------------------------
# Task 4: the hand-derived reference
# --------------------------------------------------------------------------------------
def test_tiny_block_matches_the_hand_computation():
    block = tiny_block()
    got = floats(block(values(X)))
    want, _ = block_by_hand(X)
    assert len(got) == T and all(len(row) == D for row in got)
    assert max_abs_diff(got, want) < 1e-5  # the lab's acceptance bar
    assert max_abs_diff(got, want) < 1e-9  # same float64 arithmetic: far tighter in fact


def test_ln1_of_token_0_on_paper():
    # x0 = (2, 0, -1, 3): mean 1, centred (1, -1, -2, 2), biased variance 10/4 = 2.5
    s = math.sqrt(2.5 + 1e-5)
    on_paper = [1.0 * 1 / s + 0.0, 0.9 * -1 / s + 0.1, 1.1 * -2 / s - 0.1, 1.2 * 2 / s + 0.05]
    _, steps = block_by_hand(X)
    block = tiny_block()
    library = [v.data for v in block.ln1([Value(x) for x in X[0]])]
    for a, b, c in zip(on_paper, steps["ln1"][0], library):
        assert a == pytest.approx(b, abs=1e-12)
        assert a == pytest.approx(c, abs=1e-12)


def test_attention_weights_of_position_1():
    _, steps = block_by_hand(X)
    w0, w1 = steps["weights"][1]
    s0, s1 = steps["scores"][1]
    assert steps["weights"][0] == [1.0]  # causal: token 0 sees only itself
    assert w0 + w1 == pytest.approx(1.0, abs=1e-15)
    assert w1 / w0 == pytest.approx(math.exp(s1 - s0), rel=1e-12)
    assert abs(w0 - 0.5) > 0.2  # the chosen weights make the attention far from uniform

    # Read the library's weights back: with W_v = W_o = identity the attention output
    # at position 1 is w0 * n0 + w1 * n1 (n = LN1 outputs), so each feature gives w0.
    attn = MultiHeadAttention(D, 1)
    set_data(attn.q_proj.weight, WQ)
    set_data(attn.k_proj.weight, WK)
    set_data(attn.v_proj.weight, IDENTITY)
    set_data(attn.out_proj.weight, IDENTITY)
    n0, n1 = steps["ln1"]
    out = floats(attn(values([n0, n1])))
    assert out[0] == pytest.approx(n0, abs=1e-12)
    recovered = [(o - b) / (a - b) for o, a, b in zip(out[1], n0, n1) if abs(a - b) > 0.1]
    assert len(recovered) >= 2
    for w in recovered:
        assert w == pytest.approx(w0, abs=1e-12)


def test_attention_sublayer_and_first_residual():
    _, steps = block_by_hand(X)
    block = tiny_block()
    attn_out = floats(block.attn(values(steps["ln1"])))
    assert max_abs_diff(attn_out, steps["attn"]) < 1e-12
    # the FFN half applied to the hand-computed z gives the final output
    y = [[zi + fi.data for zi, fi in zip(zt, block.ffn(block.ln2([Value(v) for v in zt])))]
         for zt in steps["z"]]
    assert max_abs_diff(y, block_by_hand(X)[0]) < 1e-12


@pytest.mark.parametrize("mistake", [
    dict(gelu=gelu_erf), dict(pre_norm=False), dict(ln_over_positions=True), dict(out_proj=False),
    dict(scale=False), dict(causal=False), dict(swap_qk=True), dict(transpose_weights=True),
], ids=["exact_gelu", "post_norm", "ln_wrong_axis", "no_out_proj", "no_scaling", "not_causal", "q_k_swapped",
        "transposed_weights"])
def test_the_1e5_check_catches_each_pitfall(mistake):
    """Each bug the lab lists, put into the hand computation, moves the output by more
    than the 1e-5 acceptance bar: the tiny example really does discriminate."""
    got = floats(tiny_block()(values(X)))
    wrong, _ = block_by_hand(X, **mistake)
    assert max_abs_diff(got, wrong) > 1e-5


def test_gelu_is_the_tanh_approximation():
    # textbook values at x = 1: tanh form 0.8411920, exact (erf) form 0.8413447
    assert Value(1.0).gelu().data == pytest.approx(0.841192, abs=1e-6)
    assert abs(Value(1.0).gelu().data - 0.8413447) > 1e-4
    for x in (-3.0, -1.2, -0.3, 0.0, 0.7, 2.5):
        assert Value(x).gelu().data == pytest.approx(gelu_tanh(x), abs=1e-15)


def test_feed_forward_properties():
    ffn = FeedForward(D, D_FF)
    assert len(ffn.fc1.weight) == D_FF and len(ffn.fc2.weight) == D
    # zero weights: the output is the second bias, whatever the input
    for p in ffn.parameters():
        p.data = 0.0
    set_data(ffn.fc2.bias, B2)
    assert [v.data for v in ffn([Value(x) for x in X[0]])] == B2
    # fixed weights: up-project, GELU, down-project, by hand
    set_data(ffn.fc1.weight, W1)
    set_data(ffn.fc1.bias, B1)
    set_data(ffn.fc2.weight, W2)
    for x in X:
        want = add(matvec(W2, [gelu_tanh(h) for h in add(matvec(W1, x), B1)]), B2)
        got = [v.data for v in ffn([Value(xi) for xi in x])]
        assert got == pytest.approx(want, abs=1e-12)


# --------------------------------------------------------------------------------------
# Task 5: sanity tests
# --------------------------------------------------------------------------------------
def normalised_rows(rng, rows, dim):
    out = []
    for _ in range(rows):
        r = [rng.gauss(0, 1) for _ in range(dim)]
        m = sum(r) / dim
        s = math.sqrt(sum((x - m) ** 2 for x in r) / dim)
        out.append([(x - m) / s for x in r])
    return out


@pytest.mark.parametrize("num_heads", [1, 2])
def test_all_zero_parameters_make_the_block_the_identity(num_heads):
    rng = random.Random(7)
    block = TransformerBlock(D, num_heads, hidden_dim=D_FF)
    for p in block.parameters():
        p.data = 0.0
    x = normalised_rows(rng, 3, D)
    y = floats(block(values(x)))
    assert max_abs_diff(y, x) < 1e-3  # the lab's bar
    assert y == x  # in fact exact: with gamma = beta = 0 both sublayers output 0


def test_near_zero_parameters_make_the_block_near_identity():
    rng = random.Random(8)
    block = TransformerBlock(D, 1, hidden_dim=D_FF)
    for p in block.parameters():
        p.data = rng.uniform(-1e-3, 1e-3)
    x = normalised_rows(rng, 3, D)
    y = floats(block(values(x)))
    assert 0.0 < max_abs_diff(y, x) < 1e-3


def variance(xs):
    m = sum(xs) / len(xs)
    return sum((x - m) ** 2 for x in xs) / len(xs)


@pytest.mark.parametrize("seed", range(3))
def test_layer_norm_zero_mean_unit_variance(seed):
    rng = random.Random(seed)
    dim = 64
    ln = LayerNorm(dim)  # gamma 1, beta 0
    assert [g.data for g in ln.gamma] == [1.0] * dim and [b.data for b in ln.beta] == [0.0] * dim
    for loc, spread in ((0.0, 1.0), (3.0, 10.0)):
        x = [loc + spread * rng.gauss(0, 1) for _ in range(dim)]
        y = [v.data for v in ln([Value(xi) for xi in x])]
        v_in = variance(x)
        assert abs(sum(y) / dim) < 1e-12
        assert variance(y) == pytest.approx(1.0, abs=1e-4)
        assert variance(y) == pytest.approx(v_in / (v_in + 1e-5), rel=1e-12)  # eps is all that's off


def test_layer_norm_is_identity_on_normalised_input():
    rng = random.Random(11)
    ln = LayerNorm(16)
    for x in normalised_rows(rng, 4, 16):
        y = [v.data for v in ln([Value(xi) for xi in x])]
        # equal up to the eps effect, a relative 5e-6
        assert max(abs(a - b) for a, b in zip(y, x)) < 1e-5 * max(abs(xi) for xi in x)
        shrink = 1.0 / math.sqrt(1.0 + 1e-5)  # variance 1 plus eps under the root
        assert y == pytest.approx([xi * shrink for xi in x], abs=1e-12)


def test_layer_norm_shift_and_scale_recovery():
    rng = random.Random(12)
    dim = 32
    ln = LayerNorm(dim)
    set_data(ln.gamma, [2.0] * dim)
    set_data(ln.beta, [5.0] * dim)
    x = [rng.gauss(0, 1) for _ in range(dim)]
    y = [v.data for v in ln([Value(xi) for xi in x])]
    assert sum(y) / dim == pytest.approx(5.0, abs=1e-12)
    assert variance(y) == pytest.approx(4.0, abs=1e-4)


def test_layer_norm_checks_the_length():
    with pytest.raises(ValueError):
        LayerNorm(4)([Value(1.0), Value(2.0), Value(3.0)])


def test_gradcheck_of_the_tiny_block():
    block = tiny_block()
    xs = [Value(x) for row in X for x in row]
    params = block.parameters()
    assert len(params) == 2 * D + 4 * D * D + 2 * D + (D * D_FF + D_FF + D_FF * D + D)  # 156

    def f(*vals):  # the parameters are used in place; gradcheck nudges their .data
        inputs = list(vals[:T * D])
        return block([inputs[:D], inputs[D:]])

    result = gradcheck(f, xs + params)
    assert result, result
    assert len(result.analytic) == T * D + len(params)


def test_forward_backward_gradients_reach_everything():
    rng = random.Random(13)
    block = tiny_block()
    xs = values(X)
    y = block(xs)
    total = Value(0.0)
    for row in y:
        for v in row:
            total = total + v * rng.uniform(0.5, 1.5)
    total.backward()
    g_inputs = [v.grad for row in xs for v in row]
    assert all(math.isfinite(g) for g in g_inputs)
    assert math.sqrt(sum(g * g for g in g_inputs)) > 0.0
    tensors = {"ln1.gamma": block.ln1.gamma, "ln1.beta": block.ln1.beta, "q": block.attn.q_proj.weight,
               "k": block.attn.k_proj.weight, "v": block.attn.v_proj.weight, "o": block.attn.out_proj.weight,
               "ln2.gamma": block.ln2.gamma, "ln2.beta": block.ln2.beta, "fc1.w": block.ffn.fc1.weight,
               "fc1.b": block.ffn.fc1.bias, "fc2.w": block.ffn.fc2.weight, "fc2.b": block.ffn.fc2.bias}
    for name, t in tensors.items():
        flat = [v.grad for row in t for v in (row if isinstance(row, list) else [row])]
        assert all(math.isfinite(g) for g in flat), name
        assert math.sqrt(sum(g * g for g in flat)) > 0.0, f"no gradient reaches {name}"


@pytest.mark.parametrize("num_heads,rope", [(1, False), (4, False), (4, True)])
def test_shape_is_preserved(num_heads, rope):
    rng = random.Random(14)
    T8, d16 = 8, 16
    block = TransformerBlock(d16, num_heads, rope=rope, max_seq_len=T8 if rope else None)
    y = block(values([[rng.gauss(0, 1) for _ in range(d16)] for _ in range(T8)]))
    assert isinstance(y, list) and len(y) == T8
    for row in y:
        assert isinstance(row, list) and len(row) == d16
        assert all(isinstance(v, Value) and math.isfinite(v.data) for v in row)
