"""Modules and layers: parameters, names, state dicts, shapes, gradients, errors."""
import json
import math
import random

import pytest

from minigpt import Value, gradcheck
from minigpt.nn import (MLP, Embedding, FeedForward, Layer, LayerNorm, Linear, Module, MultiHeadAttention,
                        Neuron, SelfAttention, TransformerBlock)


def vec(n, seed=0):
    r = random.Random(seed)
    return [Value(r.uniform(-1, 1)) for _ in range(n)]


def seq(T, d, seed=0):
    r = random.Random(seed)
    return [[Value(r.uniform(-1, 1)) for _ in range(d)] for _ in range(T)]


# ---- Module machinery --------------------------------------------------------------------
class Pair(Module):
    def __init__(self):
        self.first = Linear(2, 3)
        self.items = [Linear(3, 1, bias=False), Linear(1, 1)]
        self.scale = Value(1.0)
        self.grid = [[Value(0.0), Value(0.0)]]
        self.note = "not a parameter"

    def forward(self, x):
        return x


def test_parameters_are_found_through_attributes_lists_and_nesting():
    m = Pair()
    names = [n for n, _ in m.named_parameters()]
    assert names[:3] == ["first.weight.0.0", "first.weight.0.1", "first.weight.1.0"]
    assert "first.bias.2" in names
    assert "items.0.weight.0.2" in names and "items.1.bias.0" in names
    assert "scale" in names and "grid.0.1" in names
    assert m.num_parameters() == 6 + 3 + 3 + 1 + 1 + 1 + 2
    assert len(set(map(id, m.parameters()))) == m.num_parameters()
    assert [n for n, _ in m.named_parameters()] == names  # stable order


def test_zero_grad_resets_every_parameter():
    m = Pair()
    for p in m.parameters():
        p.grad = 3.0
    m.zero_grad()
    assert all(p.grad == 0.0 for p in m.parameters())


def test_state_dict_round_trip_is_exact_and_json_safe():
    random.seed(1)
    a, b = Pair(), Pair()
    state = json.loads(json.dumps(a.state_dict()))
    assert state["first.weight"] == [[p.data for p in row] for row in a.first.weight]
    b.load_state_dict(state)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]


def test_load_state_dict_names_missing_extra_and_misshaped_keys():
    m = Pair()
    state = m.state_dict()
    missing = dict(state)
    del missing["first.bias"]
    with pytest.raises(ValueError, match="missing key 'first.bias'"):
        m.load_state_dict(missing)
    with pytest.raises(ValueError, match="unexpected key 'bogus'"):
        m.load_state_dict({**state, "bogus": [1.0]})
    wrong = {**state, "first.weight": [[1.0, 2.0]]}
    with pytest.raises(ValueError, match=r"'first.weight' has shape \(1, 2\).*\(3, 2\)"):
        m.load_state_dict(wrong)
    with pytest.raises(ValueError, match="not numbers"):
        m.load_state_dict({**state, "scale": "x"})
    before = [p.data for p in m.parameters()]
    with pytest.raises(ValueError):
        m.load_state_dict({**state, "first.bias": [0.0, 0.0], "scale": 5.0})
    assert [p.data for p in m.parameters()] == before  # nothing changed on failure


def test_repr_shows_tree_and_counts():
    text = repr(TransformerBlock(8, 2))
    assert text.splitlines()[0].startswith("TransformerBlock(")
    assert "(attn): MultiHeadAttention(8, num_heads=2)  # 256 parameters" in text
    assert "(fc1): Linear(8, 32, bias=True)  # 288 parameters" in text


def test_call_runs_forward():
    class Double(Module):
        def forward(self, x):
            return 2 * x
    assert Double()(Value(3.0)).data == 6.0
    with pytest.raises(NotImplementedError):
        Module()(1)


# ---- micrograd trio -------------------------------------------------------------------------
def test_neuron_layer_mlp_shapes_and_counts():
    random.seed(0)
    n = Neuron(3)
    assert n.num_parameters() == 4
    assert isinstance(n(vec(3)), Value)
    layer = Layer(3, 4)
    assert len(layer(vec(3))) == 4 and layer.num_parameters() == 16
    mlp = MLP(3, [4, 4, 1])
    assert isinstance(mlp(vec(3)), Value)
    assert mlp.num_parameters() == 16 + 20 + 5
    assert gradcheck(lambda *x: mlp(list(x)), [0.5, -0.2, 0.9])


def test_neuron_uses_relu_and_linear_option():
    n = Neuron(2)
    n.w[0].data, n.w[1].data, n.b.data = 1.0, 1.0, 0.0
    assert n([Value(-1.0), Value(-1.0)]).data == 0.0
    n.nonlin = False
    assert n([Value(-1.0), Value(-1.0)]).data == -2.0


def test_mlp_can_learn_a_tiny_dataset():
    random.seed(3)
    mlp = MLP(2, [8, 1])
    xs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    ys = [-1.0, 1.0, 1.0, -1.0]  # xor

    def loss():
        return sum((mlp([Value(a) for a in x]) - y) ** 2 for x, y in zip(xs, ys))

    first = loss().data
    for _ in range(300):
        mlp.zero_grad()
        L = loss()
        L.backward()
        for p in mlp.parameters():
            p.data -= 0.05 * p.grad
    assert loss().data < 0.1 * first


# ---- transformer layers -------------------------------------------------------------------------
def test_linear_shapes_and_formula():
    lin = Linear(3, 2)
    assert len(lin.weight) == 2 and len(lin.weight[0]) == 3 and len(lin.bias) == 2
    for i, row in enumerate(lin.weight):
        for j, w in enumerate(row):
            w.data = i + j / 10
    lin.bias[1].data = 5.0
    out = lin([Value(1.0), Value(2.0), Value(3.0)])
    assert [o.data for o in out] == pytest.approx([0.0 * 6 + 0.1 * 2 + 0.2 * 3, 6 + 0.2 + 0.6 + 5])
    assert Linear(3, 2, bias=False).bias is None
    assert Linear(3, 2, bias=False).num_parameters() == 6


def test_linear_rejects_wrong_length():
    with pytest.raises(ValueError, match="length 3, got length 2"):
        Linear(3, 2)(vec(2))


def test_embedding_returns_rows_that_carry_gradient():
    emb = Embedding(5, 3)
    rows = emb([4, 0, 4])
    assert len(rows) == 3 and all(len(r) == 3 for r in rows)
    assert rows[0][1] is emb.weight[4][1]
    total = sum(sum(r, Value(0.0)) for r in rows)
    total.backward()
    assert emb.weight[4][0].grad == 2.0 and emb.weight[0][0].grad == 1.0 and emb.weight[1][0].grad == 0.0


@pytest.mark.parametrize("bad", [5, -1, 100])
def test_embedding_index_out_of_range_names_index_and_size(bad):
    with pytest.raises(IndexError, match=rf"index {bad} .*size 5"):
        Embedding(5, 3)([0, bad])


def test_layernorm_defaults_and_statistics():
    ln = LayerNorm(6)
    assert [g.data for g in ln.gamma] == [1.0] * 6 and [b.data for b in ln.beta] == [0.0] * 6
    assert ln.eps == 1e-5
    out = [o.data for o in ln(vec(6, seed=4))]
    mean = sum(out) / 6
    var = sum((o - mean) ** 2 for o in out) / 6  # biased
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert var == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="length 6"):
        ln(vec(5))


def test_layernorm_gradcheck():
    ln = LayerNorm(4)
    for i, g in enumerate(ln.gamma):
        g.data = 0.5 + i / 4
    assert gradcheck(lambda *x: ln(list(x)), [0.3, -1.0, 2.0, 0.1])
    assert gradcheck(lambda *p: ln([Value(0.3), Value(-1.0), Value(2.0), Value(0.1)]), ln.parameters())


def test_feedforward_structure_and_gradcheck():
    ff = FeedForward(4)
    assert len(ff.fc1.weight) == 16 and len(ff.fc2.weight) == 4
    assert ff.fc1.bias is not None and ff.fc2.bias is not None
    assert FeedForward(4, hidden_dim=6).num_parameters() == 4 * 6 + 6 + 6 * 4 + 4
    assert gradcheck(lambda *x: ff(list(x)), [0.3, -1.0, 2.0, 0.1])


def test_attention_structure():
    mha = MultiHeadAttention(8, 2)
    assert mha.head_dim == 4
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        proj = getattr(mha, name)
        assert isinstance(proj, Linear) and proj.bias is None and len(proj.weight) == 8
    assert mha.num_parameters() == 4 * 64
    sa = SelfAttention(8)
    assert sa.num_heads == 1 and sa.num_parameters() == 4 * 64
    assert len(sa(seq(3, 8))) == 3


def test_attention_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match="divisible"):
        TransformerBlock(6, 4)
    with pytest.raises(ValueError, match="even head_dim"):
        MultiHeadAttention(6, 2, rope=True)
    with pytest.raises(ValueError, match="position 1"):
        MultiHeadAttention(4, 1)([vec(4), vec(3)])
    with pytest.raises(ValueError, match="non-empty"):
        MultiHeadAttention(4, 1)([])
    with pytest.raises(ValueError, match="max_seq_len 2"):
        MultiHeadAttention(4, 1, max_seq_len=2)(seq(3, 4))


@pytest.mark.parametrize("num_heads, rope", [(1, False), (2, False), (2, True)])
def test_attention_is_causal(num_heads, rope):
    random.seed(5)
    mha = MultiHeadAttention(4, num_heads, rope=rope)
    x = seq(4, 4, seed=1)
    base = [[v.data for v in row] for row in mha(x)]
    x2 = [list(row) for row in x]
    x2[2] = [Value(v.data + 1.0) for v in x2[2]]
    out = [[v.data for v in row] for row in mha(x2)]
    assert out[:2] == base[:2]  # earlier positions cannot see position 2
    assert out[2] != base[2] and out[3] != base[3]
    noncausal = [[v.data for v in row] for row in mha(x2, causal=False)]
    assert noncausal[0] != out[0]


def test_attention_gradcheck_with_rope():
    random.seed(6)
    mha = MultiHeadAttention(4, 2, rope=True)
    assert gradcheck(lambda *xs: mha([list(xs[:4]), list(xs[4:])]), [0.1 * i - 0.3 for i in range(8)])


def test_block_shapes_and_gradcheck_over_parameters():
    random.seed(7)
    block = TransformerBlock(4, 2, hidden_dim=8)
    for name in ("ln1", "attn", "ln2", "ffn"):
        assert hasattr(block, name)
    x = seq(3, 4, seed=2)
    out = block(x)
    assert len(out) == 3 and all(len(row) == 4 for row in out)
    params = block.attn.q_proj.weight[0] + block.ffn.fc1.bias[:3] + block.ln1.gamma[:2]
    assert gradcheck(lambda *p: block(x), params)


def test_constructors_reject_non_positive_sizes():
    for make in (lambda: Linear(0, 2), lambda: Embedding(3, -1), lambda: LayerNorm(0),
                 lambda: FeedForward(2, 0), lambda: MultiHeadAttention(4, 0)):
        with pytest.raises(ValueError, match="positive integer"):
            make()


def test_random_seed_reproduces_weights_and_rng_is_respected():
    random.seed(42)
    a = TransformerBlock(4, 2)
    random.seed(42)
    b = TransformerBlock(4, 2)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    c = TransformerBlock(4, 2, rng=random.Random(1))
    d = TransformerBlock(4, 2, rng=random.Random(1))
    assert [p.data for p in c.parameters()] == [p.data for p in d.parameters()]
    assert [p.data for p in a.parameters()] != [p.data for p in c.parameters()]


def test_rope_rotation_matches_the_contract_formula():
    from minigpt.nn import apply_rope
    hd, pos = 4, 3
    q = [Value(x) for x in (1.0, 2.0, 3.0, 4.0)]
    out = [v.data for v in apply_rope(q, pos)]
    for i in range(hd // 2):
        theta = pos * 10000 ** (-2 * i / hd)
        a, b = q[2 * i].data, q[2 * i + 1].data
        assert out[2 * i] == pytest.approx(a * math.cos(theta) - b * math.sin(theta), rel=1e-12)
        assert out[2 * i + 1] == pytest.approx(a * math.sin(theta) + b * math.cos(theta), rel=1e-12)
