"""Neural-network layers made of scalar `Value`s.

Shapes are plain Python lists: a *vector* is `List[Value]`, a *sequence* is
`List[List[Value]]` indexed `[position][feature]`, a matrix is `[rows][cols]`.

`Module` finds parameters by walking attributes (Values, lists of Values, nested
lists, other Modules and lists of Modules), so a layer only has to store its weights
as attributes. Weights are drawn from Python's `random` module unless a layer is
given its own `random.Random` (`rng=`), so `random.seed(n)` before building a model
reproduces it exactly.
"""
from __future__ import annotations

import math
import random
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from . import engine
from .engine import Value, attend, dot, matmul, vsum

__all__ = [
    "Module", "Neuron", "Layer", "MLP", "Linear", "Embedding", "LayerNorm", "FeedForward",
    "MultiHeadAttention", "SelfAttention", "TransformerBlock", "scopes", "scope_shapes", "named_scope",
]

Vector = List[Value]
Sequence2D = List[List[Value]]


# --------------------------------------------------------------------------------------
# Module: parameter discovery, state dicts, printing
# --------------------------------------------------------------------------------------
class Module:
    """Base class of every layer and model.

    Subclasses define `forward`; calling the module calls `forward`. Parameters are
    the Values reachable through attributes, in attribute order, each once (a tied
    weight reachable twice is counted once, under its first name).
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if engine._scope is None:  # the usual case: no graph-drawing bookkeeping
            return self.forward(*args, **kwargs)
        return _call_in_scope(self, args, kwargs)

    # ---- walking the tree ------------------------------------------------------------
    def named_tensors(self, prefix: str = "") -> List[Tuple[str, object]]:
        """(name, Value or nested list of Values) for each parameter tensor, such as
        `("blocks.0.attn.q_proj.weight", [[Value, ...], ...])`. Shared tensors once."""
        found: List[Tuple[str, object]] = []
        seen_values = set()
        self._collect_tensors(prefix, found, seen_values, set())
        return found

    def _collect_tensors(self, prefix, found, seen_values, seen_modules):
        if id(self) in seen_modules:
            return
        seen_modules.add(id(self))
        for name, attr in vars(self).items():
            if name.startswith("_"):
                continue
            path = f"{prefix}{name}"
            if isinstance(attr, Module):
                attr._collect_tensors(path + ".", found, seen_values, seen_modules)
            elif isinstance(attr, (list, tuple)) and attr and all(isinstance(m, Module) for m in attr):
                for i, m in enumerate(attr):
                    m._collect_tensors(f"{path}.{i}.", found, seen_values, seen_modules)
            elif _holds_values(attr):
                flat = _flatten_values(attr)
                if flat and all(id(v) in seen_values for v in flat):
                    continue  # a tied tensor already found under another name
                seen_values.update(id(v) for v in flat)
                found.append((path, attr))

    def named_parameters(self) -> List[Tuple[str, Value]]:
        """(dotted name, Value) for every trainable scalar, each once, in a stable order.
        Names end with the indices: `blocks.0.attn.q_proj.weight.3.7` is row 3, column 7."""
        out = []
        seen = set()
        for name, tensor in self.named_tensors():
            for index, v in _indexed_values(tensor):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append((name + "".join(f".{i}" for i in index), v))
        return out

    def parameters(self) -> List[Value]:
        """Every trainable scalar once, in the order of `named_parameters()`."""
        return [v for _, v in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> List[Tuple[str, "Module"]]:
        """(dotted path, module) for this module ('' ) and every module below it."""
        out = [(prefix.rstrip("."), self)]
        for name, attr in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, Module):
                out.extend(attr.named_modules(f"{prefix}{name}."))
            elif isinstance(attr, (list, tuple)) and attr and all(isinstance(m, Module) for m in attr):
                for i, m in enumerate(attr):
                    out.extend(m.named_modules(f"{prefix}{name}.{i}."))
        return out

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to 0 (gradients accumulate otherwise)."""
        for p in self.parameters():
            p.grad = 0.0

    def num_parameters(self) -> int:
        """How many trainable scalars the module has."""
        return len(self.parameters())

    # ---- saving and loading -------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        """{tensor name: nested lists of floats}: plain data, safe to write as JSON."""
        return {name: _to_floats(tensor) for name, tensor in self.named_tensors()}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Copy the floats of `state` into the parameters, exactly.

        Raises ValueError naming the first missing key, extra key or wrong shape;
        nothing is changed unless every tensor matches.
        """
        if not isinstance(state, dict):
            raise ValueError(f"load_state_dict expects a dict, got {type(state).__name__}")
        tensors = dict(self.named_tensors())
        missing = [k for k in tensors if k not in state]
        extra = [k for k in state if k not in tensors]
        if missing:
            raise ValueError(f"load_state_dict: missing key {missing[0]!r} (and {len(missing) - 1} more)"
                             if len(missing) > 1 else f"load_state_dict: missing key {missing[0]!r}")
        if extra:
            raise ValueError(f"load_state_dict: unexpected key {extra[0]!r}"
                             + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
        for name, tensor in tensors.items():
            want, got = _shape(tensor), _shape_of_floats(state[name], name)
            if want != got:
                raise ValueError(f"load_state_dict: {name!r} has shape {got}, the model expects {want}")
        for name, tensor in tensors.items():
            for (_, v), x in zip(_indexed_values(tensor), _flatten_floats(state[name])):
                v.data = x

    # ---- printing -----------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments worth showing in the printed tree."""
        return ""

    def __repr__(self) -> str:
        """The module tree, one line per module, with parameter counts."""
        lines = []
        for name, attr in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, Module):
                lines.append(f"({name}): {attr!r}")
            elif isinstance(attr, (list, tuple)) and attr and all(isinstance(m, Module) for m in attr):
                lines.append(f"({name}): {len(attr)} x {type(attr[0]).__name__}")
                lines.extend(_indent(f"({i}): {m!r}") for i, m in enumerate(attr))
        head = f"{type(self).__name__}({self.extra_repr()})  # {self.num_parameters():,} parameters"
        return "\n".join([head] + [_indent(line) for line in lines])


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def _holds_values(x) -> bool:
    if isinstance(x, Value):
        return True
    if isinstance(x, (list, tuple)) and x:
        return _holds_values(x[0])
    return False


def _flatten_values(x) -> List[Value]:
    if isinstance(x, Value):
        return [x]
    out: List[Value] = []
    for item in x:
        out.extend(_flatten_values(item))
    return out


def _indexed_values(x, index: Tuple[int, ...] = ()) -> Iterator[Tuple[Tuple[int, ...], Value]]:
    if isinstance(x, Value):
        yield index, x
        return
    for i, item in enumerate(x):
        yield from _indexed_values(item, index + (i,))


def _to_floats(x):
    return x.data if isinstance(x, Value) else [_to_floats(item) for item in x]


def _shape(x) -> Tuple[int, ...]:
    if isinstance(x, Value):
        return ()
    return (len(x),) + (_shape(x[0]) if len(x) else ())


def _shape_of_floats(x, name: str) -> Tuple[int, ...]:
    """The shape of nested lists of numbers; ragged or non-numeric data is an error."""
    if isinstance(x, bool) or isinstance(x, str):
        raise ValueError(f"load_state_dict: {name!r} holds {x!r}, not numbers")
    if isinstance(x, (int, float)):
        if not math.isfinite(x):
            raise ValueError(f"load_state_dict: {name!r} holds a non-finite number {x!r}")
        return ()
    if not isinstance(x, (list, tuple)):
        raise ValueError(f"load_state_dict: {name!r} holds {type(x).__name__}, not nested lists of numbers")
    shapes = {_shape_of_floats(item, name) for item in x}
    if len(shapes) > 1:
        raise ValueError(f"load_state_dict: {name!r} is ragged (rows of different shapes)")
    return (len(x),) + (shapes.pop() if shapes else ())


def _flatten_floats(x) -> List[float]:
    if isinstance(x, (int, float)):
        return [float(x)]
    out: List[float] = []
    for item in x:
        out.extend(_flatten_floats(item))
    return out


# --------------------------------------------------------------------------------------
# Scope tracking, for drawing graphs grouped by module (see minigpt.viz)
# --------------------------------------------------------------------------------------
_scope_stack: List[Tuple[Optional[Module], str]] = []
# path -> (shape of the first input, shape of the output), filled while tracking
scope_shapes: Dict[str, Tuple[tuple, tuple]] = {}


@contextmanager
def scopes() -> Iterator[Dict[str, Tuple[tuple, tuple]]]:
    """Inside this block, every node a module creates is tagged with the module's path.

    Paths are relative to the outermost module called (`blocks.0.attn`); nodes made
    outside any module get the path ''. `minigpt.viz.draw_dot` uses the tags to group
    and collapse. Yields `scope_shapes`: path -> (input shape, output shape).
    """
    previous = engine._scope
    saved_stack = list(_scope_stack)
    scope_shapes.clear()
    engine._scope = ""
    try:
        yield scope_shapes
    finally:
        engine._scope = previous
        _scope_stack[:] = saved_stack


@contextmanager
def named_scope(name: str) -> Iterator[None]:
    """Tag the nodes made inside this block with `<current path>.<name>` while scope
    tracking is on (for pieces of a forward pass that are not modules, such as the
    loss). Does nothing, at no cost, when tracking is off."""
    if engine._scope is None:
        yield
        return
    outer = engine._scope
    path = f"{outer}.{name}" if outer else name
    parent = _scope_stack[-1][0] if _scope_stack else None
    _scope_stack.append((parent, path))
    engine._scope = path
    try:
        yield
    finally:
        _scope_stack.pop()
        engine._scope = outer


def _child_name(parent: Optional[Module], child: Module) -> str:
    if parent is None:
        return type(child).__name__.lower()
    for name, attr in vars(parent).items():
        if attr is child:
            return name
        if isinstance(attr, (list, tuple)):
            for i, item in enumerate(attr):
                if item is child:
                    return f"{name}.{i}"
    return type(child).__name__.lower()


def _call_in_scope(module: Module, args, kwargs):
    if _scope_stack:
        parent, parent_path = _scope_stack[-1]
        name = _child_name(parent, module)
        path = f"{parent_path}.{name}" if parent_path else name
    else:
        path = ""  # the outermost module: its own nodes are the top level
    outer = engine._scope
    _scope_stack.append((module, path))
    engine._scope = path
    try:
        result = module.forward(*args, **kwargs)
    finally:
        _scope_stack.pop()
        engine._scope = outer
    if path:
        scope_shapes[path] = (_shape(args[0]) if args and _holds_values(args[0]) else (), _shape(result)
                              if _holds_values(result) else ())
    return result


# --------------------------------------------------------------------------------------
# Input checks shared by the layers
# --------------------------------------------------------------------------------------
def _check_vector(x, n: int, who: str) -> None:
    if not isinstance(x, (list, tuple)):
        raise TypeError(f"{who}: expected a vector (a list of {n} Values), got {type(x).__name__}")
    if len(x) != n:
        raise ValueError(f"{who}: expected a vector of length {n}, got length {len(x)}")


def _check_sequence(x, n: int, who: str) -> None:
    if not isinstance(x, (list, tuple)) or not x:
        raise ValueError(f"{who}: expected a non-empty sequence (a list of positions, each a list of {n} Values)")
    for t, row in enumerate(x):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise ValueError(f"{who}: position {t} should be a vector of length {n}, got {got}")


def _is_sequence(x) -> bool:
    """True for a non-empty list of lists (a sequence), False for a vector."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple))


def _check_positive(**sizes) -> None:
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"{name} must be a positive integer, got {n!r}")


def _gauss_matrix(rows: int, cols: int, std: float, rng) -> List[List[Value]]:
    r = rng or random
    return [[Value(r.gauss(0.0, std)) for _ in range(cols)] for _ in range(rows)]


# --------------------------------------------------------------------------------------
# micrograd's trio, for the early exercises
# --------------------------------------------------------------------------------------
class Neuron(Module):
    """One neuron: relu(w . x + b), or w . x + b with `nonlin=False`.
    Weights uniform in [-1, 1], bias 0. `forward(x: vector[nin]) -> Value`."""

    def __init__(self, nin: int, nonlin: bool = True, rng: Optional[random.Random] = None):
        _check_positive(nin=nin)
        r = rng or random
        self.w = [Value(r.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def forward(self, x: Sequence) -> Value:
        _check_vector(x, len(self.w), "Neuron")
        act = dot(self.w, x, bias=self.b)
        return act.relu() if self.nonlin else act

    def extra_repr(self) -> str:
        return f"{len(self.w)}, {'ReLU' if self.nonlin else 'linear'}"


class Layer(Module):
    """`nout` neurons side by side. `forward(x: vector[nin]) -> vector[nout]`
    (a single Value when nout == 1, as in micrograd)."""

    def __init__(self, nin: int, nout: int, nonlin: bool = True, rng: Optional[random.Random] = None):
        _check_positive(nin=nin, nout=nout)
        self.neurons = [Neuron(nin, nonlin=nonlin, rng=rng) for _ in range(nout)]

    def forward(self, x: Sequence):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def extra_repr(self) -> str:
        return f"{len(self.neurons[0].w)}, {len(self.neurons)}"


class MLP(Module):
    """Layers of sizes nin -> nouts[0] -> ... -> nouts[-1]; ReLU between, none at the end."""

    def __init__(self, nin: int, nouts: Sequence[int], rng: Optional[random.Random] = None):
        sizes = [nin] + list(nouts)
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, rng=rng)
                       for i in range(len(nouts))]

    def forward(self, x: Sequence):
        for layer in self.layers:
            x = layer(x)
            if isinstance(x, Value):
                x = [x]
        return x[0] if len(x) == 1 else x

    def extra_repr(self) -> str:
        return " -> ".join(str(s) for s in [len(self.layers[0].neurons[0].w)]
                           + [len(layer.neurons) for layer in self.layers])


# --------------------------------------------------------------------------------------
# Transformer layers
# --------------------------------------------------------------------------------------
class Linear(Module):
    """y = W x + b. `weight` is `[out_features][in_features]`, `bias` is
    `[out_features]` or None. Weights N(0, init_std), by default
    init_std = 1/sqrt(in_features) so outputs keep the scale of the inputs; bias 0. `forward(x: vector[in]) -> vector[out]`, one `dot` node per output;
    like PyTorch's Linear it also takes a sequence [T][in] and returns [T][out]."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: Optional[random.Random] = None, init_std: Optional[float] = None):
        _check_positive(in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        std = 1.0 / math.sqrt(in_features) if init_std is None else init_std
        self.weight = _gauss_matrix(out_features, in_features, std, rng)
        self.bias = [Value(0.0) for _ in range(out_features)] if bias else None

    def forward(self, x: Sequence):
        if _is_sequence(x):
            for t, xt in enumerate(x):
                _check_vector(xt, self.in_features, f"Linear (position {t})")
            return matmul(self.weight, x, self.bias)
        _check_vector(x, self.in_features, "Linear")
        return matmul(self.weight, [x], self.bias)[0]  # output i is dot(weight[i], x) + bias[i]

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table. `weight` is `[num_embeddings][embedding_dim]`, N(0, 0.02).
    `forward(indices: List[int]) -> sequence[len(indices)][embedding_dim]`; the rows
    returned are the parameters themselves, so gradients flow into the table."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rng: Optional[random.Random] = None,
                 init_std: float = 0.02):
        _check_positive(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = _gauss_matrix(num_embeddings, embedding_dim, init_std, rng)

    def forward(self, indices: Sequence[int]) -> Sequence2D:
        rows = []
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int):
                raise TypeError(f"Embedding: indices must be ints, got {type(i).__name__} {i!r}")
            if not 0 <= i < self.num_embeddings:
                raise IndexError(f"Embedding: index {i} is out of range for a table of size "
                                 f"{self.num_embeddings} (valid: 0..{self.num_embeddings - 1})")
            rows.append(list(self.weight[i]))
        return rows

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """y_i = gamma_i * (x_i - mean) / sqrt(var + eps) + beta_i over one vector.

    `var` is the biased variance (divides by n), eps 1e-5; gamma starts at 1 and
    beta at 0. `forward(x: vector[dim]) -> vector[dim]`.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        _check_positive(dim=dim)
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.dim, self.eps = dim, eps
        self.gamma = [Value(1.0) for _ in range(dim)]
        self.beta = [Value(0.0) for _ in range(dim)]

    def forward(self, x: Sequence) -> Vector:
        _check_vector(x, self.dim, "LayerNorm")
        n = self.dim
        mean = vsum(x) * (1.0 / n)
        centered = [xi - mean for xi in x]
        var = dot(centered, centered) * (1.0 / n)
        inv_std = (var + self.eps) ** -0.5
        normalized = [c * inv_std for c in centered]
        return [xh * g + b for xh, g, b in zip(normalized, self.gamma, self.beta)]

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps:g}"


class FeedForward(Module):
    """fc2(gelu(fc1(x))): `fc1 = Linear(embed_dim, hidden_dim)`, GELU (tanh form),
    `fc2 = Linear(hidden_dim, embed_dim)`; hidden_dim defaults to 4 * embed_dim.
    `forward(x: vector[embed_dim]) -> vector[embed_dim]`."""

    def __init__(self, embed_dim: int, hidden_dim: Optional[int] = None, rng: Optional[random.Random] = None):
        hidden_dim = 4 * embed_dim if hidden_dim is None else hidden_dim
        _check_positive(embed_dim=embed_dim, hidden_dim=hidden_dim)
        self.fc1 = Linear(embed_dim, hidden_dim, rng=rng)
        self.fc2 = Linear(hidden_dim, embed_dim, rng=rng)

    def forward(self, x: Sequence):
        """x: vector[embed_dim] -> vector[embed_dim], or a sequence [T][embed_dim] -> [T][embed_dim]."""
        if _is_sequence(x):
            return self.fc2([[h.gelu() for h in row] for row in self.fc1(x)])
        return self.fc2([h.gelu() for h in self.fc1(x)])


def rope_angles(position: int, head_dim: int) -> List[Tuple[float, float]]:
    """(cos, sin) of the RoPE angle `position * 10000**(-2i/head_dim)` for each
    feature pair (2i, 2i+1) of a head."""
    return [(math.cos(position * 10000.0 ** (-2 * i / head_dim)),
             math.sin(position * 10000.0 ** (-2 * i / head_dim))) for i in range(head_dim // 2)]


def apply_rope(vec: Sequence[Value], position: int, head_dim: int) -> List[Value]:
    """Rotate each feature pair (2i, 2i+1) of one head's query or key by its RoPE angle:
    (a, b) -> (a cos - b sin, a sin + b cos). Each output is one `dot` node."""
    out = []
    for i, (c, s) in enumerate(rope_angles(position, head_dim)):
        a, b = vec[2 * i], vec[2 * i + 1]
        out.append(dot([a, b], [c, -s]))
        out.append(dot([a, b], [s, c]))
    return out


class MultiHeadAttention(Module):
    """Scaled dot-product attention with `num_heads` heads.

    `q_proj`, `k_proj`, `v_proj`, `out_proj` are `Linear(embed_dim, embed_dim,
    bias=False)`; head h uses features `[h*head_dim, (h+1)*head_dim)`. Scores are
    `q . k / sqrt(head_dim)`; with `causal=True` position t attends to positions
    0..t only. With `rope=True` queries and keys are rotated (see `apply_rope`).
    `forward(x: sequence[T][embed_dim], causal=True) -> sequence[T][embed_dim]`.
    """

    def __init__(self, embed_dim: int, num_heads: int, rope: bool = False, max_seq_len: Optional[int] = None,
                 rng: Optional[random.Random] = None):
        _check_positive(embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        if rope and self.head_dim % 2 != 0:
            raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim} "
                             f"(embed_dim {embed_dim} / num_heads {num_heads})")
        if max_seq_len is not None:
            _check_positive(max_seq_len=max_seq_len)
        self.rope, self.max_seq_len = rope, max_seq_len
        self.q_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.k_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.v_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)
        self.out_proj = Linear(embed_dim, embed_dim, bias=False, rng=rng)

    def forward(self, x: Sequence, causal: bool = True) -> Sequence2D:
        _check_sequence(x, self.embed_dim, type(self).__name__)
        T = len(x)
        if self.max_seq_len is not None and T > self.max_seq_len:
            raise ValueError(f"{type(self).__name__}: sequence length {T} exceeds max_seq_len {self.max_seq_len}")
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # each [T][embed_dim]
        hd, scale = self.head_dim, 1.0 / math.sqrt(self.head_dim)
        heads_out = [[] for _ in range(T)]  # [t] -> concatenated head outputs
        for h in range(self.num_heads):
            lo, hi = h * hd, (h + 1) * hd
            qh = [row[lo:hi] for row in q]
            kh = [row[lo:hi] for row in k]
            vh = [row[lo:hi] for row in v]
            if self.rope:
                qh = [apply_rope(vec, t, hd) for t, vec in enumerate(qh)]
                kh = [apply_rope(vec, t, hd) for t, vec in enumerate(kh)]
            for t in range(T):
                visible = t + 1 if causal else T
                scores = [dot(qh[t], kh[j]) for j in range(visible)]
                # softmax(scale * scores)-weighted sum of the visible values, one node
                # per feature (in primitive mode: softmax, then one dot per feature)
                heads_out[t].extend(attend(scores, vh[:visible], scale=scale))
        return self.out_proj(heads_out)

    def extra_repr(self) -> str:
        extra = ", rope=True" if self.rope else ""
        return f"{self.embed_dim}, num_heads={self.num_heads}{extra}"


class SelfAttention(MultiHeadAttention):
    """Single-head attention: the same as `MultiHeadAttention(embed_dim, 1)`."""

    def __init__(self, embed_dim: int, rope: bool = False, max_seq_len: Optional[int] = None,
                 rng: Optional[random.Random] = None):
        super().__init__(embed_dim, 1, rope=rope, max_seq_len=max_seq_len, rng=rng)

    def extra_repr(self) -> str:
        return f"{self.embed_dim}" + (", rope=True" if self.rope else "")


class TransformerBlock(Module):
    """Pre-norm block: `x = x + attn(ln1(x)); x = x + ffn(ln2(x))`, causal.
    `forward(x: sequence[T][embed_dim]) -> sequence[T][embed_dim]`."""

    def __init__(self, embed_dim: int, num_heads: int, hidden_dim: Optional[int] = None, rope: bool = False,
                 max_seq_len: Optional[int] = None, rng: Optional[random.Random] = None):
        self.ln1 = LayerNorm(embed_dim)
        self.attn = MultiHeadAttention(embed_dim, num_heads, rope=rope, max_seq_len=max_seq_len, rng=rng)
        self.ln2 = LayerNorm(embed_dim)
        self.ffn = FeedForward(embed_dim, hidden_dim, rng=rng)

    def forward(self, x: Sequence) -> Sequence2D:
        a = self.attn([self.ln1(xt) for xt in x])
        x = [[xi + ai for xi, ai in zip(xt, at)] for xt, at in zip(x, a)]
        f = self.ffn([self.ln2(xt) for xt in x])
        return [[xi + fi for xi, fi in zip(xt, ft)] for xt, ft in zip(x, f)]
