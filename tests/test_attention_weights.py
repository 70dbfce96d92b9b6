"""The attention weights a model shows (for a heatmap) are the ones its forward pass uses."""
import random

import pytest

from minigpt.gpt import MiniGPT, MiniGPTConfig, attention_weights
from minigpt.nn import MultiHeadAttention


def sequence(T, d, seed):
    from minigpt import Value
    r = random.Random(seed)
    return [[Value(r.gauss(0, 1)) for _ in range(d)] for _ in range(T)]


def mix(weights, attn, x):
    """out_proj of sum_j w_j v_j per head, in floats: the attention's output from its weights."""
    v = [[e.data for e in row] for row in attn.v_proj(x)]
    hd, T = attn.head_dim, len(x)
    heads = [[sum(weights[h][t][j] * v[j][h * hd + f] for j in range(T)) for h in range(attn.num_heads)
              for f in range(hd)] for t in range(T)]
    W = [[w.data for w in row] for row in attn.out_proj.weight]
    return [[sum(wi * hi for wi, hi in zip(row, ht)) for row in W] for ht in heads]


@pytest.mark.parametrize("rope, causal", [(True, True), (False, True), (False, False)])
def test_the_weights_rebuild_the_attention_output(rope, causal):
    attn = MultiHeadAttention(8, 2, rope=rope, rng=random.Random(3))
    x = sequence(5, 8, seed=4)
    weights = attn.attention_weights(x, causal=causal)
    assert len(weights) == 2 and all(len(head) == 5 and all(len(row) == 5 for row in head) for head in weights)
    expected = [[e.data for e in row] for row in attn(x, causal=causal)]
    got = mix(weights, attn, x)
    assert max(abs(a - b) for ra, rb in zip(got, expected) for a, b in zip(ra, rb)) < 1e-12
    for head in weights:
        for t, row in enumerate(head):
            assert sum(row) == pytest.approx(1.0, abs=1e-12)
            if causal:
                assert all(w == 0.0 for w in row[t + 1:]) and all(w > 0.0 for w in row[:t + 1])


@pytest.mark.parametrize("pos", ["rope", "learned"])
def test_a_models_weights_are_those_of_each_block_in_turn(pos):
    random.seed(7)
    model = MiniGPT(MiniGPTConfig(8, 2, 2, 16, 11, 6, pos_encoding=pos))
    ids = [0, 3, 4, 5]
    maps = attention_weights(model, ids)
    assert len(maps) == 2 and len(maps[0]) == 2 and len(maps[0][0]) == 4
    x = model.tok_emb(ids)
    if model.pos_emb is not None:
        x = [[a + b for a, b in zip(t, p)] for t, p in zip(x, model.pos_emb(list(range(4))))]
    for layer, block in enumerate(model.blocks):
        assert maps[layer] == block.attn.attention_weights([block.ln1(xt) for xt in x])
        x = block(x)
    assert maps[0] != maps[1]  # a second block sees the first one's output, not the embeddings


def test_bad_ids_are_refused_as_the_model_refuses_them():
    model = MiniGPT(MiniGPTConfig(8, 2, 1, 16, 11, 6))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        attention_weights(model, [0, 11])
    with pytest.raises(ValueError, match="exceed"):
        attention_weights(model, [0] * 7)
