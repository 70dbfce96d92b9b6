"""Compile a graph: trace it once, then run it as straight-line Python many times.

Every training step of a model builds a graph of the same shape: only the numbers in
it change (the weights, and which rows of the embedding table the tokens pick). So
the graph can be *traced* once and turned into a program: one line per node for the
forward pass, then, node by node from the output back, the chain rule written out

    g[child] += local_derivative * g[node]

over two flat lists of floats, `v` (each node's value) and `g` (its gradient). Running
that program does exactly the arithmetic `loss.backward()` does, in the same order, on
plain floats: no Value objects are made, no graph is walked. This is what
`torch.compile` and `jax.jit` do with tensors; here the program is short enough, for a
small expression, to read (`print(compile_graph(L).source)`).

    compile_graph(root)            a small expression: inputs -> root and the gradients
    compile_step(model, T)         a Mini-GPT's step for T tokens: ids, targets -> loss,
                                   the gradients added to each parameter's `.grad`
    StepPrograms(model)            compile_step per sequence length, compiled when first needed

What is decided when the program runs, not when it is traced: the values themselves,
which table rows the token ids select (the program reads the parameter cells of those
rows), which logit each target picks, relu's branch, and the max subtracted in every
softmax and logsumexp. Each line computes its value with the engine's own formula
(`minigpt/engine.py`, `minigpt/fused.py`), so the forward pass gives the same floats as
the graph, and the compiler checks it before it returns: it runs the program on the
traced inputs and compares every node's value with the graph's.

Two kinds of program come out of one compiler:
- `compile_graph`: one line per node and, going backward, one line per edge, in the
  order `Value.backward()` takes them: the same floats as the graph, and the program
  to read beside `minigpt.viz.explain_backward`;
- `compile_step`: the same, except where a model multiplies a weight matrix by a
  vector (every `Linear`, the output head), normalizes a vector (`LayerNorm`) or
  applies gelu to a hidden layer. There a layer's lines run as one block per position:
  its outputs in one line, x_t's gradient as W^T G_t, and each weight's gradient as
  one dot product over every position of every sequence of a batch
  (`StepPrograms.batch`). The same products, summed in another order: the gradients
  equal the graph's to rounding (about 1e-16 apart), and the step runs about 1.8x
  faster than the graph's on CPython (docs/speed.md).

A program runs one of two ways (`backend`), with the same floats: "source", its
lines compiled as Python functions (the default on CPython, which runs straight-line
code fastest), or "tape", the same lines as a list of (kernel, numbers) run by one loop,
with a linear layer's block one call of a loop over cell numbers (`minigpt/tape.py`;
the default on PyPy, whose JIT compiles loops and small functions, not ten thousand
straight lines: `STEP_BACKEND`).

Storage: parameters first (`v[0:P]`, in `model.parameters()` order), then every other
node. An n-ary node reads its children as a slice (`v[40:56]`) where they lie side by
side, and the compiler lays out each group of children side by side where it can
(largest groups first), so a whole dot product is one `sum(map(mul, ...))`. The
source is compiled one function of at most 3,000 lines at a time, which keeps the
memory of compiling a 100,000-parameter model's step under half a gigabyte.
"""
from __future__ import annotations

import math
import platform
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from .codegen import CompileError, Compiler
from .engine import Constant, Value, topological_order
from .gpt import check_targets
from .program import Program, add_weight_grads

# How a model's step runs: its source compiled (fastest on CPython), or, on PyPy, whose
# JIT compiles small functions and loops but not ten thousand lines run once per step,
# as a tape of a few dozen kernels (minigpt/tape.py). The same floats either way.
STEP_BACKEND = "tape" if platform.python_implementation() == "PyPy" else "source"

__all__ = ["CompileError", "CompiledGraph", "CompiledStep", "StepPrograms", "compile_graph", "compile_step"]


def _build(root: Value, leaves, slots=None, picks=None, hints=None, names=False, name="graph",
           preamble=(), header=(), batch_layers=False, acc=None, backend="source") -> Tuple[Program, Compiler]:
    comp = Compiler(root, leaves, slots, picks, hints, names, batch_layers, loops=backend == "tape")
    fwd, bwd, info = comp.lines()
    namespace = dict(comp.constants, seed=1.0, ACC={} if acc is None else acc)
    program = Program(fwd, bwd, info, list(preamble), comp.template, comp.aux, namespace, name,
                       header=header(comp) if callable(header) else header, backend=backend)
    return program, comp


# ---- a small expression --------------------------------------------------------------
class CompiledGraph:
    """The program of one graph: `out, grads = compiled(values)` runs the forward pass
    with `values` in the input leaves (`inputs`, in order) and backpropagates from
    the output; `grads[i]` is d(output)/d(inputs[i]). `source` is the program:
    `v[i]` is the value of node i, `g[i]` its gradient.

    Every other leaf of the graph is a constant of the program (its data when compiled).
    """

    def __init__(self, root: Value, inputs: Optional[Sequence[Value]] = None, backend: str = "source"):
        order = topological_order(root)
        if inputs is None:  # the leaves as a reader meets them: left to right, children first
            inputs = [n for n in Compiler(root, []).forward_order()
                      if not n._children and not isinstance(n, Constant)]
        self.inputs = list(inputs)
        for x in self.inputs:
            if not isinstance(x, Value) or x._children:
                raise CompileError(f"an input must be a leaf Value of the graph, got {x!r}")
        t0 = time.perf_counter()
        self._program, comp = _build(root, self.inputs, names=len(order) <= 2000, name="graph",
                                     header=lambda c: self._legend(c, order), backend=backend)
        self.compile_seconds = time.perf_counter() - t0
        self._root = comp.where[id(root)]
        self.n_nodes = len(order)
        v = list(self._program.template)
        v[:len(self.inputs)] = [x.data for x in self.inputs]
        self._program.run(v, [0.0] * len(v), backward=False)
        _compare(order, comp, v)

    @staticmethod
    def _legend(comp: "Compiler", order) -> List[str]:
        if comp.names is None:
            return []
        rows = ["# the leaves: inputs first, then the numbers mixed in"]
        for node in sorted((n for n in order if not n._children), key=lambda n: comp.where[id(n)]):
            if True:
                kind = "input" if comp.where[id(node)] < comp.n_inputs else f"constant {node.data!r}"
                rows.append(f"#   v[{comp.where[id(node)]}] is {comp.names[id(node)]} ({kind})")
        return rows + ["# g[i] is d(output)/d(node i); seed is 1.0", ""]

    @property
    def source(self) -> str:
        return self._program.source

    @property
    def tape(self) -> Optional[str]:
        """With backend="tape": the tapes' first entries and their kernels (else None)."""
        return self._program.tape_text()

    def __call__(self, values: Sequence[float]) -> Tuple[float, List[float]]:
        values = [float(x) for x in values]
        if len(values) != len(self.inputs):
            raise ValueError(f"this program takes {len(self.inputs)} input values, got {len(values)}")
        v = list(self._program.template)
        v[:len(values)] = values
        g = [0.0] * len(v)
        self._program.run(v, g)
        return v[self._root], g[:len(values)]

    def __repr__(self) -> str:
        return f"CompiledGraph({len(self.inputs)} inputs, {self.n_nodes} nodes)"


def _compare(order, comp: Compiler, v: List[float]) -> None:
    """CompileError unless the program computed every node's value of the traced graph."""
    for node in order:
        if node._children and id(node) in comp.where and v[comp.where[id(node)]] != node.data:
            raise CompileError(f"the compiled program does not reproduce a {node.op!r} node "
                               f"({v[comp.where[id(node)]]!r} instead of {node.data!r})")


def compile_graph(root: Value, inputs: Optional[Sequence[Value]] = None, backend: str = "source") -> CompiledGraph:
    """Trace the graph under `root` into a program (see `CompiledGraph`).

    `inputs`: the leaves whose values each run supplies (default: every leaf that is
    not a number mixed into an operation, left to right as the expression reads).
    `backend`: "source" runs the source compiled; "tape" runs the same lines as a
    tape of kernels (`minigpt/tape.py`; `.tape` shows it)."""
    if not isinstance(root, Value):
        raise TypeError(f"compile_graph takes a Value, got {type(root).__name__}")
    return CompiledGraph(root, inputs, backend)


# ---- a Mini-GPT's training step --------------------------------------------------------
class _SlotTable:
    """Stands in for a model's token Embedding while a step is traced: the rows it
    returns are placeholder leaves (slots), one per position and feature, so that the
    program can read whichever row the token ids select when it runs."""

    def __init__(self, embedding, token_ids):
        self.weight = embedding.weight
        self.slots: Dict[Value, Tuple[int, int]] = {}
        self.rows = []
        for t, i in enumerate(token_ids):
            row = [Value(w.data) for w in embedding.weight[i]]
            self.slots.update({x: (t, f) for f, x in enumerate(row)})
            self.rows.append(row)

    def __call__(self, token_ids):
        return [list(row) for row in self.rows]


class CompiledStep:
    """A Mini-GPT's forward pass, cross-entropy loss and backward pass for sequences of
    `seq_len` tokens, as one program.

    `loss = step(token_ids, targets)` computes the loss (the same float as the graph's)
    and adds its gradient to every parameter's `.grad`, as
    `cross_entropy_loss(model(token_ids), targets).backward()` does (equal to rounding:
    see the module doc). `seed` scales the gradient (`1/batch` for the mean of a
    batch). The parameters are read from the model at each call, so an optimizer can
    update them in between. `source` is the program; `n_nodes` the traced graph's size.
    """

    def __init__(self, model, seq_len: int, primitive: bool = False, backend: Optional[str] = None,
                 _acc: Optional[dict] = None):
        from .functional import primitive_mode
        from .gpt import cross_entropy_loss
        from .nn import LayerNorm, MultiHeadAttention

        c = model.config
        if isinstance(seq_len, bool) or not isinstance(seq_len, int) or not 1 <= seq_len <= c.context_len:
            raise ValueError(f"compile_step: seq_len must be an integer in 1..{c.context_len}, got {seq_len!r}")
        t0 = time.perf_counter()
        self.model, self.seq_len, self.primitive = model, seq_len, primitive
        self.params = model.parameters()
        V = c.vocab_size
        ids = [(7 * t + 1) % V for t in range(seq_len)]            # any ids do: only their rows' data
        targets = [(3 * t + 2) % V for t in range(seq_len)]        # is used, to check the program
        table = _SlotTable(model.tok_emb, ids)
        real, model.tok_emb = model.tok_emb, table
        try:
            if primitive:
                with primitive_mode():
                    logits = model(ids)
                    loss = cross_entropy_loss(logits, targets)
            else:
                logits = model(ids)
                loss = cross_entropy_loss(logits, targets)
        finally:
            model.tok_emb = real
        # the node `logsumexp(row) - row[target]` of each position: its second child is
        # the logit the target picks, which the program chooses when it runs
        picked = {id(row[y]): t for t, (row, y) in enumerate(zip(logits, targets))}
        picks = {}
        for node in topological_order(loss):
            if node.op == "-" and len(node._children) == 2 and id(node._children[1]) in picked:
                t = picked[id(node._children[1])]
                if t in picks.values():
                    raise CompileError(f"the target's logit at position {t} is subtracted twice")
                picks[id(node)] = t
        if len(picks) != seq_len:
            raise CompileError("cannot find where the loss picks the target's logit at every position")
        modules = [m for _, m in model.named_modules()]
        hints = {"scales": sorted({1.0 / math.sqrt(m.head_dim) for m in modules if isinstance(m, MultiHeadAttention)}),
                 "eps": sorted({m.eps for m in modules if isinstance(m, LayerNorm)})}
        rows = ["r%d" % t for t in range(seq_len)]
        preamble = [f"{', '.join(rows)}, = R", f"{', '.join('q%d' % t for t in range(seq_len))}, = Q"]
        self._program, comp = _build(loss, self.params, table.slots, picks, hints,
                                     name=f"step T={seq_len}", preamble=preamble, batch_layers=True,
                                     acc=_acc, backend=backend or STEP_BACKEND)
        self._acc = self._program.namespace["ACC"]
        self._root = comp.where[id(loss)]
        cell = comp.where
        self._rows = [cell[id(model.E[i][0])] for i in range(V)]
        for i in range(V):
            if [cell[id(w)] for w in model.E[i]] != list(range(self._rows[i], self._rows[i] + c.d_model)):
                raise CompileError("the token table's rows are not laid out side by side")
        self._picks = [[cell[id(x)] for x in row] for row in logits]
        self.n_nodes = len(comp.order)
        self.n_cells = len(comp.template)
        # check: the traced ids and targets must give the traced graph's every value
        v = self._load()
        self._program.run(v, [0.0] * len(v), self._rows_for(ids), self._picks_for(targets), backward=False)
        _compare(comp.order, comp, v)
        self.compile_seconds = time.perf_counter() - t0

    @property
    def source(self) -> str:
        return self._program.source

    @property
    def tape(self) -> Optional[str]:
        """With backend="tape": the tapes' first entries and their kernels (else None)."""
        return self._program.tape_text()

    def _load(self) -> List[float]:
        v = list(self._program.template)
        v[:len(self.params)] = [p.data for p in self.params]
        return v

    def _rows_for(self, token_ids) -> List[int]:
        return [self._rows[i] for i in token_ids]

    def _picks_for(self, targets) -> List[int]:
        return [row[y] for row, y in zip(self._picks, targets)]

    def __call__(self, token_ids: Sequence[int], targets: Sequence[int], seed: float = 1.0) -> float:
        v = self._load()
        g = [0.0] * len(v)
        loss = self._run(v, g, token_ids, targets, seed)
        add_weight_grads(self._acc, g)
        for p, d in zip(self.params, g):
            p.grad += d
        return loss

    def loss(self, token_ids: Sequence[int], targets: Sequence[int]) -> float:
        """The loss only: the forward lines, no gradient (the same float as the graph's)."""
        v = self._load()
        return self._run(v, None, token_ids, targets, 1.0)

    def _run(self, v: List[float], g: Optional[List[float]], token_ids, targets, seed: float) -> float:
        """Check the inputs, run the program on v and g (parameters loaded in v) and
        return the loss; the gradient is left in g and, for weight matrices, in `ACC`."""
        token_ids = self.model.check_tokens(token_ids)
        if len(token_ids) != self.seq_len:
            raise ValueError(f"this program is for {self.seq_len} tokens, got {len(token_ids)}")
        check_targets(targets, [self.model.config.vocab_size] * self.seq_len)
        self._program.namespace_seed(seed)
        try:
            self._program.run(v, g, self._rows_for(token_ids), self._picks_for(targets), backward=g is not None)
        except BaseException:
            self._acc.clear()  # what this run set aside is not a gradient
            raise
        return v[self._root]

    def __repr__(self) -> str:
        return f"CompiledStep(seq_len={self.seq_len}, {self.n_nodes:,} nodes, {self.compile_seconds:.2f} s to compile)"


def compile_step(model, seq_len: int, primitive: bool = False, backend: Optional[str] = None) -> CompiledStep:
    """Trace `model`'s training step for `seq_len` tokens into a program (see
    `CompiledStep`); `primitive=True` traces the graph of `primitive_mode()`."""
    return CompiledStep(model, seq_len, primitive, backend)


class StepPrograms:
    """`CompiledStep`s of one model, one per sequence length, each compiled the first
    time a sequence of that length comes: `loss = programs(token_ids, targets, seed)`.
    `compile_seconds` is the time spent compiling so far.

    For a batch of sequences, call them inside `with programs.batch():` — the same
    gradients (to rounding), added to the parameters' `.grad` when the block ends, but
    faster: the parameters are read once, and each weight's gradient is one dot product
    over every position of the batch instead of one per sequence.
    """

    def __init__(self, model, primitive: bool = False, backend: Optional[str] = None):
        self.model, self.primitive, self.backend = model, primitive, backend
        self.params = model.parameters()
        self.programs: Dict[int, CompiledStep] = {}
        self.compile_seconds = 0.0
        self._acc: Dict[tuple, list] = {}   # the weight products set aside, shared by the programs
        self._batch: Optional[Tuple[List[float], List[float]]] = None   # (parameter values, their grads)

    def program(self, seq_len: int) -> CompiledStep:
        step = self.programs.get(seq_len)
        if step is None:
            step = self.programs[seq_len] = CompiledStep(self.model, seq_len, self.primitive, backend=self.backend, _acc=self._acc)
            self.compile_seconds += step.compile_seconds
        return step

    def __call__(self, token_ids: Sequence[int], targets: Sequence[int], seed: float = 1.0) -> float:
        if not isinstance(token_ids, (list, tuple)) or not token_ids:
            raise ValueError("MiniGPT: token_ids must be a non-empty list of ints")
        step = self.program(len(token_ids))
        if self._batch is None:
            return step(token_ids, targets, seed)
        values, grads = self._batch
        v = list(step._program.template)
        v[:len(values)] = values
        g = grads + [0.0] * (len(v) - len(grads))
        loss = step._run(v, g, token_ids, targets, seed)
        self._batch = (values, g[:len(grads)])
        return loss

    def loss(self, token_ids: Sequence[int], targets: Sequence[int]) -> float:
        """The loss of one sequence, no gradient: the forward lines of its program."""
        if not isinstance(token_ids, (list, tuple)) or not token_ids:
            raise ValueError("MiniGPT: token_ids must be a non-empty list of ints")
        return self.program(len(token_ids)).loss(token_ids, targets)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run the calls in this block as one batch (see the class doc). If a call raises,
        no gradient of the block is added."""
        if self._batch is not None:
            raise RuntimeError("StepPrograms.batch() blocks do not nest")
        self._batch = ([p.data for p in self.params], [0.0] * len(self.params))
        try:
            yield
            grads = self._batch[1]
            add_weight_grads(self._acc, grads)
            for p, d in zip(self.params, grads):
                p.grad += d
        finally:
            self._batch = None
            self._acc.clear()
