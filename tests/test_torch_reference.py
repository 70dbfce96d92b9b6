"""Cross-checks of the layers and the Mini-GPT against a PyTorch float64 reference.

The reference below is written from the formulas (it never calls minigpt to compute
anything); the only thing it takes from the minigpt objects is their weights, read
through the public attributes (`weight`, `bias`, `gamma`, `beta`, `q_proj`, ...).
Each test compares

- the forward outputs, and
- gradients: of a fixed random weighted sum of the outputs with respect to the input
  sequence and to the parameter tensors (or, for the model, of the loss with respect
  to every parameter, walked through `named_parameters()`),

to about 1e-9 relative (see `assert_close`). Weights are drawn with a larger spread
than the library's 0.02 init so that attention is far from uniform and GELU is far
from linear: a mistake then moves the outputs by much more than the tolerance.

Everything here needs PyTorch; the module imports without it and the tests skip.
"""
import math
import random

import pytest

from minigpt import Value, dot, primitive_mode
from minigpt.gpt import MiniGPT, MiniGPTConfig, cross_entropy_loss
from minigpt.nn import Embedding, FeedForward, LayerNorm, Linear, MultiHeadAttention, TransformerBlock

pytestmark = pytest.mark.torch

RTOL = 1e-9


# --------------------------------------------------------------------------------------
# Plumbing: nested lists of Values <-> float64 tensors
# --------------------------------------------------------------------------------------
def _tensor(x, requires_grad=False):
    import torch
    return torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)


def data_of(x):
    """Nested lists of Values -> nested lists of floats (their .data)."""
    return x.data if isinstance(x, Value) else [data_of(item) for item in x]


def grad_of(x):
    """Nested lists of Values -> nested lists of floats (their .grad)."""
    return x.grad if isinstance(x, Value) else [grad_of(item) for item in x]


def flatten(x):
    if isinstance(x, (Value, float, int)):
        return [x]
    out = []
    for item in x:
        out.extend(flatten(item))
    return out


def as_values(x):
    """Nested lists of floats -> nested lists of fresh leaf Values."""
    return Value(x) if isinstance(x, (float, int)) else [as_values(item) for item in x]


def leaf(nested_values):
    """A float64 leaf tensor holding the current data of some minigpt parameters."""
    return _tensor(data_of(nested_values), requires_grad=True)


def assert_close(got, want, what, rtol=RTOL):
    """got (nested floats or tensor) equals the tensor `want` to `rtol`, elementwise
    relative with an absolute floor of rtol * max|want| (entries that are tiny next to
    the rest of the tensor are judged on the scale of the tensor)."""
    import torch
    got = got.detach() if isinstance(got, torch.Tensor) else _tensor(got)
    want = want.detach()
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    scale = want.abs().max().item() if want.numel() else 0.0
    torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale + 1e-300,
                               msg=lambda m: f"{what}: {m}")


def weighted_sum(outputs, weights):
    """sum_i outputs_i * weights_i as one minigpt Value (weights are plain floats)."""
    return dot(flatten(outputs), flatten(weights))


def randomize(module, rng, std=0.4):
    """Give every parameter a random value: gains near 1, everything else N(0, std)."""
    for name, p in module.named_parameters():
        p.data = 1.0 + rng.gauss(0.0, 0.2) if "gamma" in name.split(".") else rng.gauss(0.0, std)


def gauss_rows(rng, rows, cols, std=1.0):
    return [[rng.gauss(0.0, std) for _ in range(cols)] for _ in range(rows)]


# --------------------------------------------------------------------------------------
# The reference, from the formulas
# --------------------------------------------------------------------------------------
def ref_linear(x, W, b=None):
    """x: (..., in), W: (out, in), b: (out,) -> (..., out): W x + b."""
    y = x @ W.T
    return y if b is None else y + b


def ref_layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=-1, keepdim=True)  # biased: divides by n
    return centered / (var + eps).sqrt() * gamma + beta


def ref_gelu(x):
    return 0.5 * x * (1.0 + (math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)).tanh())


def ref_ffn(x, p):
    return ref_linear(ref_gelu(ref_linear(x, p["fc1.weight"], p["fc1.bias"])), p["fc2.weight"], p["fc2.bias"])


def ref_rope(x):
    """x: (heads, T, hd). Pair (2i, 2i+1) at position t turned by t * 10000**(-2i/hd)."""
    import torch
    T, hd = x.shape[-2], x.shape[-1]
    pos = torch.arange(T, dtype=torch.float64)
    freq = 10000.0 ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
    angle = pos[:, None] * freq[None, :]  # (T, hd/2)
    cos, sin = angle.cos(), angle.sin()
    a, b = x[..., 0::2], x[..., 1::2]
    turned = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)  # (..., T, hd/2, 2)
    return turned.reshape(x.shape)


def ref_attention(x, p, num_heads, causal=True, rope=False):
    """x: (T, d); p holds q_proj.weight ... out_proj.weight, each (d, d)."""
    import torch
    T, d = x.shape
    hd = d // num_heads

    def split(w):  # (T, d) -> (heads, T, hd): head h owns features h*hd .. (h+1)*hd - 1
        return ref_linear(x, w).reshape(T, num_heads, hd).transpose(0, 1)

    q, k, v = split(p["q_proj.weight"]), split(p["k_proj.weight"]), split(p["v_proj.weight"])
    if rope:
        q, k = ref_rope(q), ref_rope(k)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)  # (heads, T, T)
    if causal:
        future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
    weights = scores.softmax(dim=-1)
    heads = (weights @ v).transpose(0, 1).reshape(T, d)  # concatenate the heads
    return ref_linear(heads, p["out_proj.weight"])


def ref_block(x, p, num_heads, rope=False):
    sub = lambda prefix: {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}  # noqa: E731
    x = x + ref_attention(ref_layer_norm(x, p["ln1.gamma"], p["ln1.beta"]), sub("attn."), num_heads, rope=rope)
    return x + ref_ffn(ref_layer_norm(x, p["ln2.gamma"], p["ln2.beta"]), sub("ffn."))


def ref_gpt(ids, p, config):
    import torch
    idx = torch.tensor(ids, dtype=torch.long)
    h = p["tok_emb.weight"][idx]
    if config.pos_encoding == "learned":
        h = h + p["pos_emb.weight"][: len(ids)]
    for i in range(config.n_layers):
        prefix = f"blocks.{i}."
        h = ref_block(h, {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)},
                      config.n_heads, rope=config.pos_encoding == "rope")
    h = ref_layer_norm(h, p["ln_f.gamma"], p["ln_f.beta"])
    head = p["tok_emb.weight"] if config.tie_weights else p["lm_head.weight"]
    return h @ head.T


def ref_cross_entropy(logits, targets):
    import torch
    idx = torch.tensor(targets, dtype=torch.long)
    picked = logits.gather(1, idx[:, None])[:, 0]
    return (logits.logsumexp(dim=-1) - picked).mean()


# --------------------------------------------------------------------------------------
# Parameter tensors, found through the public attribute names
# --------------------------------------------------------------------------------------
def attn_tensors(attn):
    return {f"{n}.weight": getattr(attn, n).weight for n in ("q_proj", "k_proj", "v_proj", "out_proj")}


def ffn_tensors(ffn):
    return {"fc1.weight": ffn.fc1.weight, "fc1.bias": ffn.fc1.bias,
            "fc2.weight": ffn.fc2.weight, "fc2.bias": ffn.fc2.bias}


def block_tensors(block):
    out = {"ln1.gamma": block.ln1.gamma, "ln1.beta": block.ln1.beta,
           "ln2.gamma": block.ln2.gamma, "ln2.beta": block.ln2.beta}
    out.update({f"attn.{k}": v for k, v in attn_tensors(block.attn).items()})
    out.update({f"ffn.{k}": v for k, v in ffn_tensors(block.ffn).items()})
    return out


def gpt_tensors(model):
    out = {"tok_emb.weight": model.tok_emb.weight}
    if model.pos_emb is not None:
        out["pos_emb.weight"] = model.pos_emb.weight
    for i, block in enumerate(model.blocks):
        out.update({f"blocks.{i}.{k}": v for k, v in block_tensors(block).items()})
    out["ln_f.gamma"], out["ln_f.beta"] = model.ln_f.gamma, model.ln_f.beta
    if model.lm_head is not None:
        out["lm_head.weight"] = model.lm_head.weight
    return out


def leaves_of(tensors):
    return {name: leaf(t) for name, t in tensors.items()}


def check_param_grads(tensors, leaves, what):
    for name, t in tensors.items():
        assert leaves[name].grad is not None, f"{what}: the reference never used {name}"
        assert_close(grad_of(t), leaves[name].grad, f"{what}: d/d {name}")


def run_sequence_layer(layer_call, x_floats, weights):
    """Forward a minigpt sequence layer on fresh input Values, backprop the weighted
    sum; returns (input Values, output Values)."""
    xs = as_values(x_floats)
    out = layer_call(xs)
    weighted_sum(out, weights).backward()
    return xs, out


# --------------------------------------------------------------------------------------
# Linear, Embedding, LayerNorm, FeedForward
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
def test_linear(bias):
    rng = random.Random(10 + bias)
    layer = Linear(5, 3, bias=bias)
    randomize(layer, rng)
    x_f = [rng.gauss(0, 1) for _ in range(5)]
    w_f = [rng.gauss(0, 1) for _ in range(3)]
    tensors = {"weight": layer.weight}
    if bias:
        tensors["bias"] = layer.bias
    else:
        assert layer.bias is None
    leaves = leaves_of(tensors)
    x_t = _tensor(x_f, requires_grad=True)

    xs = as_values(x_f)
    out = layer(xs)
    weighted_sum(out, w_f).backward()
    ref = ref_linear(x_t, leaves["weight"], leaves.get("bias"))
    (ref * _tensor(w_f)).sum().backward()

    assert_close(data_of(out), ref, "Linear output")
    assert_close(grad_of(xs), x_t.grad, "Linear d/dx")
    check_param_grads(tensors, leaves, "Linear")


def test_embedding_gradient_flows_into_the_table():
    import torch
    rng = random.Random(20)
    emb = Embedding(6, 3)
    randomize(emb, rng)
    ids = [4, 1, 4, 0, 4, 2]  # row 4 used three times, rows 3 and 5 never
    w_f = gauss_rows(rng, len(ids), 3)
    table = leaf(emb.weight)

    out = emb(ids)
    weighted_sum(out, w_f).backward()
    ref = torch.nn.functional.embedding(torch.tensor(ids), table)
    (ref * _tensor(w_f)).sum().backward()

    assert_close(data_of(out), ref, "Embedding output")
    assert_close(grad_of(emb.weight), table.grad, "Embedding d/d weight")
    assert table.grad[3].abs().max().item() == 0.0 and table.grad[5].abs().max().item() == 0.0


@pytest.mark.parametrize("offset", [0.0, 1000.0], ids=["centred", "offset_1000"])
def test_layer_norm_matches_torch_functional(offset):
    import torch
    rng = random.Random(30)
    dim = 7
    ln = LayerNorm(dim)
    randomize(ln, rng)
    x_f = [offset + rng.gauss(0, 1.5) for _ in range(dim)]
    w_f = [rng.gauss(0, 1) for _ in range(dim)]
    leaves = leaves_of({"gamma": ln.gamma, "beta": ln.beta})
    x_t = _tensor(x_f, requires_grad=True)

    xs = as_values(x_f)
    out = ln(xs)
    weighted_sum(out, w_f).backward()
    ref = torch.nn.functional.layer_norm(x_t, (dim,), leaves["gamma"], leaves["beta"], eps=1e-5)
    (ref * _tensor(w_f)).sum().backward()

    # the hand-written reference used by the block tests agrees with torch's own
    assert_close(ref_layer_norm(x_t, leaves["gamma"], leaves["beta"]), ref, "ref_layer_norm vs F.layer_norm")
    # (with the offset, centring cancels ~3 of the 16 digits in any float64 code:
    # still far inside the tolerance)
    assert_close(data_of(out), ref, "LayerNorm output")
    assert_close(grad_of(xs), x_t.grad, "LayerNorm d/dx")
    check_param_grads({"gamma": ln.gamma, "beta": ln.beta}, leaves, "LayerNorm")


def test_feed_forward():
    import torch
    rng = random.Random(40)
    ffn = FeedForward(4, 6)
    randomize(ffn, rng, std=0.8)  # pre-activations of several units: GELU's curved part
    x_f = [rng.gauss(0, 1) for _ in range(4)]
    w_f = [rng.gauss(0, 1) for _ in range(4)]
    tensors = ffn_tensors(ffn)
    leaves = leaves_of(tensors)
    x_t = _tensor(x_f, requires_grad=True)

    xs = as_values(x_f)
    out = ffn(xs)
    weighted_sum(out, w_f).backward()
    ref = ref_ffn(x_t, leaves)
    (ref * _tensor(w_f)).sum().backward()

    # the reference GELU is torch's tanh-approximate GELU (and not the erf one)
    z = torch.linspace(-4, 4, 81, dtype=torch.float64)
    assert_close(ref_gelu(z), torch.nn.functional.gelu(z, approximate="tanh"), "ref_gelu")
    assert (ref_gelu(z) - torch.nn.functional.gelu(z)).abs().max().item() > 1e-4

    assert_close(data_of(out), ref, "FeedForward output")
    assert_close(grad_of(xs), x_t.grad, "FeedForward d/dx")
    check_param_grads(tensors, leaves, "FeedForward")


def test_default_feed_forward_hidden_is_four_times_embed():
    ffn = FeedForward(3)
    assert len(ffn.fc1.weight) == 12 and len(ffn.fc1.weight[0]) == 3
    assert len(ffn.fc2.weight) == 3 and len(ffn.fc2.weight[0]) == 12


# --------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rope", [False, True], ids=["no_rope", "rope"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_multi_head_attention(num_heads, causal, rope):
    rng = random.Random(1000 + 10 * num_heads + 2 * causal + rope)
    T, d = 5, 8
    attn = MultiHeadAttention(d, num_heads, rope=rope, max_seq_len=T + 1 if rope else None)
    randomize(attn, rng, std=0.5)
    x_f = gauss_rows(rng, T, d)
    w_f = gauss_rows(rng, T, d)
    tensors = attn_tensors(attn)
    leaves = leaves_of(tensors)
    x_t = _tensor(x_f, requires_grad=True)

    xs, out = run_sequence_layer(lambda x: attn(x, causal=causal), x_f, w_f)
    ref = ref_attention(x_t, leaves, num_heads, causal=causal, rope=rope)
    (ref * _tensor(w_f)).sum().backward()

    what = f"MHA(heads={num_heads}, causal={causal}, rope={rope})"
    assert_close(data_of(out), ref, f"{what} output")
    assert_close(grad_of(xs), x_t.grad, f"{what} d/dx")
    check_param_grads(tensors, leaves, what)

    # the options really were exercised: the reference with either flag flipped
    # disagrees with minigpt by far more than the tolerance
    with_detached = {k: v.detach() for k, v in leaves.items()}
    for flipped in (dict(causal=not causal, rope=rope), dict(causal=causal, rope=not rope)):
        other = ref_attention(x_t.detach(), with_detached, num_heads, **flipped)
        assert (other - _tensor(data_of(out))).abs().max().item() > 1e-3, flipped


def test_attention_default_is_causal():
    rng = random.Random(50)
    attn = MultiHeadAttention(4, 2)
    randomize(attn, rng)
    x_f = gauss_rows(rng, 3, 4)
    leaves = leaves_of(attn_tensors(attn))
    out = attn(as_values(x_f))
    assert_close(data_of(out), ref_attention(_tensor(x_f), leaves, 2, causal=True), "MHA default")


# --------------------------------------------------------------------------------------
# TransformerBlock
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rope", [False, True], ids=["no_rope", "rope"])
@pytest.mark.parametrize("num_heads", [1, 2, 4])
def test_transformer_block(num_heads, rope):
    rng = random.Random(2000 + 10 * num_heads + rope)
    T, d = 4, 8
    block = TransformerBlock(d, num_heads, hidden_dim=12, rope=rope, max_seq_len=T if rope else None)
    randomize(block, rng, std=0.5)
    x_f = gauss_rows(rng, T, d)
    w_f = gauss_rows(rng, T, d)
    tensors = block_tensors(block)
    assert {id(v) for t in tensors.values() for v in flatten(t)} == {id(p) for p in block.parameters()}
    leaves = leaves_of(tensors)
    x_t = _tensor(x_f, requires_grad=True)

    xs, out = run_sequence_layer(block, x_f, w_f)
    ref = ref_block(x_t, leaves, num_heads, rope=rope)
    (ref * _tensor(w_f)).sum().backward()

    what = f"TransformerBlock(heads={num_heads}, rope={rope})"
    assert_close(data_of(out), ref, f"{what} output")
    assert_close(grad_of(xs), x_t.grad, f"{what} d/dx")
    check_param_grads(tensors, leaves, what)


def test_transformer_block_primitive_graph_matches_too():
    """The same comparison with every fused helper expanded into primitive ops."""
    rng = random.Random(2100)
    T, d, heads = 3, 4, 2
    block = TransformerBlock(d, heads, hidden_dim=6, rope=True)
    randomize(block, rng, std=0.5)
    x_f = gauss_rows(rng, T, d)
    w_f = gauss_rows(rng, T, d)
    tensors = block_tensors(block)
    leaves = leaves_of(tensors)
    x_t = _tensor(x_f, requires_grad=True)

    with primitive_mode():
        xs, out = run_sequence_layer(block, x_f, w_f)
    ref = ref_block(x_t, leaves, heads, rope=True)
    (ref * _tensor(w_f)).sum().backward()

    assert_close(data_of(out), ref, "primitive block output")
    assert_close(grad_of(xs), x_t.grad, "primitive block d/dx")
    check_param_grads(tensors, leaves, "primitive block")


def test_comparison_is_sensitive_to_a_tiny_weight_change():
    """Negative control: nudge one weight by a relative 1e-6 after the reference was
    loaded, and the comparison must fail. (If it passed, the tolerance or the wiring
    of these tests would be too loose to catch anything.)"""
    rng = random.Random(2200)
    block = TransformerBlock(4, 2, hidden_dim=6)
    randomize(block, rng, std=0.5)
    x_f = gauss_rows(rng, 3, 4)
    leaves = leaves_of(block_tensors(block))
    block.attn.k_proj.weight[1][2].data *= 1.0 + 1e-6
    out = block(as_values(x_f))
    with pytest.raises(AssertionError):
        assert_close(data_of(out), ref_block(_tensor(x_f), leaves, 2), "nudged block")


# --------------------------------------------------------------------------------------
# MiniGPT and the loss
# --------------------------------------------------------------------------------------
def split_parameter_name(name):
    """'blocks.0.attn.q_proj.weight.3.7' -> ('blocks.0.attn.q_proj.weight', (3, 7))."""
    parts = name.split(".")
    k = len(parts)
    while parts[k - 1].isdigit():
        k -= 1
    return ".".join(parts[:k]), tuple(int(i) for i in parts[k:])


def check_gpt_against_reference(model, ids, targets):
    import torch
    config = model.config
    tensors = gpt_tensors(model)
    leaves = leaves_of(tensors)

    model.zero_grad()
    logits = model(ids)
    loss = cross_entropy_loss(logits, targets)
    loss.backward()

    ref_logits = ref_gpt(ids, leaves, config)
    ref_loss = ref_cross_entropy(ref_logits, targets)
    ref_loss.backward()

    assert_close(data_of(logits), ref_logits, "logits")
    assert_close([loss.data], ref_loss.detach().reshape(1), "loss")
    assert_close([loss.data], torch.nn.functional.cross_entropy(ref_logits.detach(),
                                                                torch.tensor(targets)).reshape(1), "loss vs F")
    # every parameter, by its name in named_parameters(), against the torch leaf it names
    named = model.named_parameters()
    assert len(named) == model.num_parameters() == sum(t.numel() for t in leaves.values())
    covered = set()
    for name, v in named:
        tensor_name, index = split_parameter_name(name)
        assert tensor_name in leaves, f"named_parameters() gives {name}, not a tensor of the model"
        ref_grad = leaves[tensor_name].grad
        assert ref_grad is not None, f"the reference never used {tensor_name}"
        scale = ref_grad.abs().max().item()
        want = ref_grad[index].item()
        assert abs(v.grad - want) <= RTOL * (abs(want) + scale), (name, v.grad, want)
        assert v is flatten(tensors[tensor_name])[_flat_index(tensors[tensor_name], index)], name
        covered.add((tensor_name, index))
    assert len(covered) == len(named)
    return logits, loss


def _flat_index(tensor, index):
    if len(index) == 1:
        return index[0]
    return index[0] * len(tensor[0]) + index[1]


def test_minigpt_five_argument_form():
    rng = random.Random(3000)
    model = MiniGPT(7, 8, 2, 2, 6)
    c = model.config
    assert (c.pos_encoding, c.tie_weights, c.d_ff) == ("learned", False, 32)
    assert model.pos_emb is not None and model.lm_head is not None and model.lm_head.bias is None
    randomize(model, rng, std=0.4)
    ids, targets = [3, 0, 6, 3, 5], [0, 6, 3, 5, 1]  # T=5 < max_seq_len=6
    check_gpt_against_reference(model, ids, targets)


@pytest.mark.parametrize("pos_encoding,tie_weights", [("rope", True), ("learned", True), ("none", False),
                                                      ("rope", False)])
def test_minigpt_config_form(pos_encoding, tie_weights):
    rng = random.Random(3100 + len(pos_encoding) + tie_weights)
    config = MiniGPTConfig(d_model=8, n_heads=2, n_layers=2, d_ff=12, vocab_size=7, context_len=6,
                           pos_encoding=pos_encoding, tie_weights=tie_weights)
    model = MiniGPT(config)
    assert (model.pos_emb is None) == (pos_encoding != "learned")
    assert (model.lm_head is None) == tie_weights
    assert model.E is model.tok_emb.weight
    randomize(model, rng, std=0.4)
    ids, targets = [1, 4, 4, 0, 6, 2], [4, 4, 0, 6, 2, 5]
    check_gpt_against_reference(model, ids, targets)


def test_minigpt_default_config_is_rope_and_tied():
    rng = random.Random(3200)
    model = MiniGPT(MiniGPTConfig(8, 2, 1, 16, 5, 4))
    assert model.pos_emb is None and model.lm_head is None
    randomize(model, rng, std=0.4)
    check_gpt_against_reference(model, [2, 2, 0, 4], [2, 0, 4, 1])


@pytest.mark.parametrize("case", ["random", "plus_minus_1000", "all_huge", "one_position"])
def test_cross_entropy_loss(case):
    import torch
    rng = random.Random(4000 + len(case))
    if case == "random":
        rows = gauss_rows(rng, 4, 5, std=3.0)
        targets = [0, 4, 2, 2]
    elif case == "plus_minus_1000":
        rows = [[1000.0, -1000.0, 999.0, 0.0], [-1000.0, -1000.0, 1000.0, 3.0], [1.0, 2.0, -1000.0, 1000.0]]
        targets = [1, 2, 0]  # the first and last targets are very wrong, the middle one right
    elif case == "all_huge":
        rows = [[1000.0, 1000.0, 998.0], [-1000.0, -999.0, -1001.0]]
        targets = [2, 1]
    else:
        rows = [[0.5, -0.25, 2.0]]
        targets = [1]

    logits = as_values(rows)
    loss = cross_entropy_loss(logits, targets)
    loss.backward()
    z = _tensor(rows, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z, torch.tensor(targets))
    ref.backward()

    assert math.isfinite(loss.data)
    assert_close([loss.data], ref.detach().reshape(1), f"loss ({case})")
    assert_close(grad_of(logits), z.grad, f"d loss / d logits ({case})")
    assert_close(ref_cross_entropy(z.detach(), targets).reshape(1), ref.detach().reshape(1), "ref CE")
    if case == "plus_minus_1000":
        assert loss.data > 600  # (2000 + 0 + 999) / 3, not clipped or overflowed away


def test_cross_entropy_loss_primitive_graph():
    import torch
    rows = [[1000.0, -1000.0, 999.0], [0.25, 0.5, -0.75]]
    targets = [2, 0]
    with primitive_mode():
        logits = as_values(rows)
        loss = cross_entropy_loss(logits, targets)
        loss.backward()
    z = _tensor(rows, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z, torch.tensor(targets))
    ref.backward()
    assert_close([loss.data], ref.detach().reshape(1), "primitive loss")
    assert_close(grad_of(logits), z.grad, "primitive d loss / d logits")
