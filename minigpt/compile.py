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
  vector (every `Linear`, the output head) or normalizes a vector (`LayerNorm`). There
  the chain rule runs as one block per layer and position: x_t's gradient as W^T G_t,
  and each weight's as one dot product over every position of every sequence of a
  batch (`StepPrograms.batch`). The same products, summed in another order: the
  gradients equal the graph's to rounding (about 1e-16 apart), which is what makes
  the program several times faster than the graph on CPython.

Storage: parameters first (`v[0:P]`, in `model.parameters()` order), then every other
node. An n-ary node reads its children as a slice (`v[40:56]`) where they lie side by
side, and the compiler lays out each group of children side by side where it can
(largest groups first), so a whole dot product is one `sum(map(mul, ...))`. The
source is compiled one function of at most 3,000 lines at a time, which keeps the
memory of compiling a 100,000-parameter model's step under half a gigabyte.
"""
from __future__ import annotations

import itertools
import math
import platform
import sys
import time
from contextlib import contextmanager
from operator import add, itemgetter, mul
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from . import fused
from .engine import Constant, Value, topological_order

__all__ = ["CompileError", "CompiledGraph", "CompiledStep", "StepPrograms", "compile_graph", "compile_step"]

_PYPY = platform.python_implementation() == "PyPy"
_CHUNK_LINES = 3000   # lines per generated function: a huge function is slow to compile


class CompileError(ValueError):
    """The graph holds something the compiler cannot turn into a program."""


# ---- the formulas the generated lines call (each as in minigpt/engine.py or fused.py) ----
def _pow_local(x: float, n: float, out: float) -> float:
    """d(x^n)/dx as `Value.__pow__` computes it."""
    if x != 0.0:
        return n * out / x
    return 1.0 if n == 1.0 else 0.0 if n == 0.0 or n > 1.0 else math.inf


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0.0 else math.exp(x) / (1.0 + math.exp(x))


def _gelu(x: float) -> Tuple[float, float]:
    """(gelu x, its derivative), as `Value.gelu`."""
    c = math.sqrt(2.0 / math.pi)
    t = math.tanh(c * (x + 0.044715 * x * x * x))
    local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x)
    return 0.5 * x * (1.0 + t), local


def _softmax(xs: Sequence[float], scale: float = 1.0) -> List[float]:
    """softmax(scale * xs) shifted by the max, as fused.attention_row and fused.softmax."""
    scaled = [s * scale for s in xs] if scale != 1.0 else list(xs)
    m = max(scaled)
    exps = [math.exp(s - m) for s in scaled]
    z = sum(exps)
    return [e / z for e in exps]


def _logsumexp(xs: Sequence[float]) -> Tuple[float, List[float]]:
    """(log sum exp xs, softmax xs = its local derivatives), as fused.logsumexp."""
    m = max(xs)
    exps = [math.exp(x - m) for x in xs]
    z = sum(exps)
    return m + math.log(z), [e / z for e in exps]


def _rsqrt_var(xs: Sequence[float], eps: float) -> Tuple[float, List[float]]:
    """((var + eps)^-1/2, the centred xs), as fused.layer_norm."""
    n = len(xs)
    mu = sum(xs) * (1.0 / n)
    c = [xi - mu for xi in xs]
    var = fused._sum_of_products(c, c) * (1.0 / n)
    return (var + eps) ** -0.5, c


def _softmax_local(probs: Sequence[float], i: int, g: float) -> List[float]:
    """local * g for every input of softmax output i: d s_i/d x_j = -s_i s_j, s_i - s_i^2 at j = i."""
    s = probs[i]
    local = [-s * q for q in probs]
    local[i] = s - s * s
    return [d * g for d in local]


def _pow(x: float, n: float) -> float:
    """x ** n with the engine's errors (`Value.__pow__`)."""
    if x < 0.0 and not float(n).is_integer():
        raise ValueError(f"a negative number to a fractional power is not real: {x!r} ** {n!r}")
    if x == 0.0 and n < 0.0:
        raise ZeroDivisionError(f"division by zero: 0 ** {n!r}")
    return math.pow(x, n)


def _vpow(b: float, e: float) -> float:
    """b ** e for a Value exponent: the engine needs b > 0 (ln b is in the derivative)."""
    if b <= 0.0:
        raise ValueError(f"a Value exponent needs a positive base, got {b!r}")
    return math.pow(b, e)


_RUNTIME = {"powr": _pow, "vpow": _vpow, "math": math, "exp": math.exp, "log": math.log, "tanh": math.tanh, "sqrt": math.sqrt,
            "pow": math.pow, "copysign": math.copysign, "inf": math.inf, "sum": sum, "map": map,
            "mul": mul, "add": add, "zip": zip, "max": max, "sop": fused._sum_of_products,
            "pow_local": _pow_local, "sigmoid": _sigmoid, "gelu": _gelu, "softmax": _softmax,
            "logsumexp": _logsumexp, "rsqrt_var": _rsqrt_var, "softmax_local": _softmax_local}


def _take(cells: Sequence[int]):
    """A function giving (g[c] for c in cells) as a tuple, fast."""
    if len(cells) == 1:
        c = cells[0]
        return lambda g: (g[c],)
    return itemgetter(*cells)


def _add_weight_grads(acc: Dict[tuple, list], grads: List[float]) -> None:
    """Add sum_t G_ti x_t to the gradient cells of each row i of each weight matrix, from
    what the programs set aside in `acc` (then emptied): per matrix, a list of
    (x's columns [n][T], the outputs' gradients per row [m][T]), one per sequence."""
    sop = fused._sum_of_products
    for (_, rows, n, _), parts in acc.items():
        if not parts:
            continue
        if len(parts) == 1:
            xt, gcols = parts[0]
        else:  # the positions of all the sequences, end to end
            xt = [tuple(itertools.chain.from_iterable(cols)) for cols in zip(*(p[0] for p in parts))]
            gcols = [tuple(itertools.chain.from_iterable(cols)) for cols in zip(*(p[1] for p in parts))]
        for r, gc in zip(rows, gcols):
            grads[r:r + n] = map(add, grads[r:r + n], [sop(gc, xc) for xc in xt])
        parts.clear()


# ---- the program ---------------------------------------------------------------------
class _Program:
    """Generated source over `v` (values) and `g` (gradients), compiled to functions.

    forward, backward: the lines, a list per node; fwd_info[i] = (cell, op) of node i, for
    naming the operation that overflowed; header: comment lines put first."""

    def __init__(self, forward, backward, fwd_info, preamble, template, n_aux, namespace, name, header=()):
        self.template, self.n_aux, self.name = template, n_aux, name
        self.fwd_where: Dict[int, Tuple[int, str]] = {}  # source line -> (cell, op)
        source, parts, spans = list(header), [], []
        for part, groups in (("forward", forward), ("backward", backward)):
            chunks, size = [[]], 0   # a node's lines stay in one function
            for i, group in enumerate(groups):
                if size + len(group) > _CHUNK_LINES and chunks[-1]:
                    chunks.append([])
                    size = 0
                chunks[-1].append((i, group))
                size += len(group)
            for k, chunk in enumerate(chunks):
                fname = f"{part}_{k}" if len(chunks) > 1 else part
                first = len(source)
                source.append(f"def {fname}(v, g, aux, R, Q):")
                source.extend("    " + line for line in preamble)
                for i, group in chunk:
                    for line in group:
                        source.append("    " + line)
                        if part == "forward" and i in fwd_info:
                            self.fwd_where[len(source)] = fwd_info[i]
                if not chunk:
                    source.append("    pass")
                source.append("")
                parts.append(fname)
                spans.append((first, len(source)))
        self.source = "\n".join(source)
        self.filename = f"<minigpt compiled {name}>"
        self.namespace = namespace = dict(_RUNTIME, **namespace)
        # one function at a time (blank lines in front keep the line numbers of `source`):
        # Python's compiler holds the syntax tree of what it compiles, which for a whole
        # model's step would take gigabytes
        for first, last in spans:
            code = "\n" * first + "\n".join(source[first:last])
            exec(compile(code, self.filename, "exec"), namespace)
        self.forward_parts = [namespace[f] for f in parts if f.startswith("forward")]
        self.backward_parts = [namespace[f] for f in parts if f.startswith("backward")]

    def namespace_seed(self, seed: float) -> None:
        """d(loss)/d(output) for the next backward pass (1.0 unless the output is scaled)."""
        self.namespace["seed"] = float(seed)

    def run(self, v: List[float], g: List[float], R=(), Q=(), backward: bool = True) -> None:
        """The forward lines, a check that every value is finite (as the engine checks
        each result), then (with `backward`) the backward lines."""
        aux = [None] * self.n_aux
        try:
            for part in self.forward_parts:
                part(v, g, aux, R, Q)
        except (ArithmeticError, ValueError) as err:
            raise self._located(err, v) from None
        if not all(map(math.isfinite, v)):
            raise self._overflow(v)
        if backward:
            for part in self.backward_parts:
                part(v, g, aux, R, Q)

    def _line(self, number: int) -> str:
        return self.source.splitlines()[number - 1].strip()

    def _located(self, err, v: List[float]):
        """The error raised on a line of the program, said as the engine says it."""
        tb, line = err.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is None:
            return err
        if not isinstance(err, OverflowError):
            earlier = self._overflow(v, before=line)
            if earlier is not None:  # the engine would have stopped there
                return earlier
        op = self.fwd_where.get(line, ((), "an operation"))[1]
        where = f"(compiled program, line {line}: {self._line(line)})"
        if isinstance(err, OverflowError):
            return OverflowError(f"{op} overflowed: the result is not a finite float {where}")
        if isinstance(err, ZeroDivisionError):
            return ZeroDivisionError(f"division by zero in {op} {where}")
        said = {"log": "log of a non-positive number", "sqrt": "sqrt of a negative number"}.get(op, f"{op}: {err}")
        return type(err)(f"{said} {where}")

    def _overflow(self, v: List[float], before: Optional[int] = None) -> Optional[OverflowError]:
        """The first forward line (before line `before`) whose value is not finite."""
        for line, (cell, op) in sorted(self.fwd_where.items()):
            if before is not None and line >= before:
                return None
            if not all(math.isfinite(v[c]) for c in cell):
                return OverflowError(f"{op} overflowed: the result is not a finite float "
                                     f"(compiled program, line {line}: {self._line(line)})")
        return None if before is not None else OverflowError("a value is not a finite float")


# ---- from a graph to lines -----------------------------------------------------------
class _Compiler:
    """Reads the graph under `root` and writes the program's lines.

    leaves: the input leaves, laid out first, in this order (parameters or inputs);
    slots:  {placeholder leaf: (t, f)}: the cell of feature f of the table row that
            token t selects when the program runs (`R[t] + f`);
    picks:  {id of a '-' node: t}: its second child is the logit the target of
            position t picks when the program runs (`Q[t]`);
    hints:  attention scales and LayerNorm eps to try first (see `_attend_scale`).
    """

    def __init__(self, root: Value, leaves: Sequence[Value], slots=None, picks=None, hints=None,
                 names: bool = False, batch_linear: bool = False):
        self.root, self.batch_linear = root, batch_linear
        self._dots: Dict[int, object] = {}
        self.order = topological_order(root)
        self.slots = slots or {}
        self.picks = picks or {}
        self.hinted_scales: List[float] = list((hints or {}).get("scales", ()))
        self.scales: List[float] = []
        self.epsilons: List[float] = list((hints or {}).get("eps", ()))
        self.where: Dict[int, int] = {}        # id(node) -> storage index
        self.template: List[float] = []
        for leaf in leaves:
            self._place(leaf)
        self.n_inputs = len(self.template)
        self.users: Dict[int, List[Value]] = {}
        for node in self.order:
            for child in node._children:
                self.users.setdefault(id(child), []).append(node)
        self.shifts = self._max_shifts()
        self.families = self._linear_families() if batch_linear else {}
        self._layout()
        self.names = self._names() if names else None
        self.aux = 0
        self.aux_of: Dict[object, object] = {}   # what is computed once -> its aux cell (or constant)
        self.constants: Dict[str, tuple] = {}    # name -> the numbers of a dot with numbers in it

    # -- storage --------------------------------------------------------------------
    def _place(self, node: Value) -> None:
        if id(node) not in self.where and node not in self.slots:
            self.where[id(node)] = len(self.template)
            self.template.append(0.0 if node._children else node.data)  # a leaf not given each run: a constant

    def _groups(self, node: Value) -> List[Sequence[Value]]:
        """The children of `node` that its line reads as one sequence."""
        ch, op = node._children, node.op
        if op == "dot" and self._full_dot(node):
            return list(self._full_dot(node)[:2])
        if op in ("sum", "dot", "softmax", "logsumexp", "mean", "rsqrt_var"):
            return [ch]
        if op == "attend":
            n = len(ch) // 2
            return [ch[:n], ch[n:]]
        return []

    def _layout(self) -> None:
        """Cells for every node: the children each n-ary node reads together side by
        side where none of them has a cell yet, the largest groups first."""
        groups = [grp for node in self.order for grp in self._groups(node)]
        groups += [grp for grp, _ in self.shifts.values()]
        groups += [[m[1] for m in members] for members in getattr(self, "positions", {}).values()]
        seen = set()
        for grp in sorted(groups, key=len, reverse=True):
            key = tuple(map(id, grp))
            if key in seen or len(set(key)) != len(key):
                continue
            seen.add(key)
            if all(id(c) not in self.where and c not in self.slots for c in grp):
                for c in grp:
                    self._place(c)
        for node in self.order:
            self._place(node)

    def _ix(self, node: Value, user: Optional[Value] = None, position: int = -1) -> str:
        """The cell of `node` as an index expression."""
        if user is not None and position == 1 and id(user) in self.picks:
            return f"q{self.picks[id(user)]}"
        slot = self.slots.get(node)
        if slot is not None:
            t, f = slot
            return f"r{t}+{f}" if f else f"r{t}"
        return str(self.where[id(node)])

    def _val(self, node, user=None, position=-1) -> str:
        return f"v[{self._ix(node, user, position)}]"

    def _grad(self, node, user=None, position=-1) -> str:
        return f"g[{self._ix(node, user, position)}]"

    def _slice(self, nodes: Sequence[Value]) -> Optional[str]:
        """`a:b` (or `a:b:s`, `r3+a:r3+b`) when the nodes' cells are evenly spaced."""
        if not nodes:
            return None
        if all(n in self.slots for n in nodes):
            rows = {self.slots[n][0] for n in nodes}
            fs = [self.slots[n][1] for n in nodes]
            if len(rows) == 1 and fs == list(range(fs[0], fs[0] + len(fs))):
                t = rows.pop()
                lo = f"r{t}+{fs[0]}" if fs[0] else f"r{t}"
                return f"{lo}:r{t}+{fs[-1] + 1}"
            return None
        if any(n in self.slots for n in nodes):
            return None
        idx = [self.where[id(n)] for n in nodes]
        if len(idx) == 1:
            return f"{idx[0]}:{idx[0] + 1}"
        step = idx[1] - idx[0]
        if step <= 0 or any(b - a != step for a, b in zip(idx, idx[1:])):
            return None
        return f"{idx[0]}:{idx[-1] + 1}" if step == 1 else f"{idx[0]}:{idx[-1] + 1}:{step}"

    def _read(self, nodes: Sequence[Value]) -> str:
        """An expression for the nodes' values as a sequence."""
        s = self._slice(nodes)
        if s is not None:
            return f"v[{s}]"
        return "(" + ", ".join(self._val(n) for n in nodes) + ",)"

    def _accumulate(self, nodes: Sequence[Value], contributions: str) -> str:
        """A line adding `contributions` (a sequence, one per node) to the nodes' grads."""
        s = self._slice(nodes)
        if s is not None:
            return f"g[{s}] = map(add, g[{s}], {contributions})"
        cells = "(" + ", ".join(self._ix(n) for n in nodes) + ",)"
        return f"for i, d in zip({cells}, {contributions}): g[i] += d"

    def _new_aux(self, key=None) -> int:
        if key is not None and key in self.aux_of:
            return self.aux_of[key]
        self.aux += 1
        if key is not None:
            self.aux_of[key] = self.aux - 1
        return self.aux - 1

    # -- names for comments ---------------------------------------------------------------
    def _names(self) -> Dict[int, str]:
        from .viz.graph import in_step, node_names
        names, _ = node_names(self.order)
        return {id(n): in_step(s) for n, s in names.items()}

    # -- max shifts of primitive softmax / logsumexp ----------------------------------------
    def _max_shifts(self) -> Dict[int, Tuple[List[Value], Value]]:
        """The Constants labelled 'max' that `minigpt.formulas` subtracts in softmax and
        logsumexp: {id(constant): (the values whose max it is, the constant)}."""
        shifts = {}
        for node in self.order:
            if node._children or not isinstance(node, Constant) or node.label != "max":
                continue
            users = self.users.get(id(node), [])
            subtracted = [u._children[0] for u in users if u.op == "-" and u._children[1] is node]
            if (subtracted and all(u._children[1] is node and u.op in ("-", "+") for u in users)
                    and max(c.data for c in subtracted) == node.data):
                shifts[id(node)] = (subtracted, node)
        return shifts

    # -- the lines ------------------------------------------------------------------
    def forward_order(self) -> List[Value]:
        """The nodes, each after its children, and a max shift after the values it is
        the max of."""
        extra = {key: grp for key, (grp, _) in self.shifts.items()}
        order, seen, stack = [], set(), [(self.root, False)]
        while stack:  # depth first, children left to right, with an explicit stack (no recursion)
            node, placed = stack.pop()
            if placed:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                for child in reversed(tuple(node._children) + tuple(extra.get(id(node), ()))):
                    if id(child) not in seen:
                        stack.append((child, False))
        return order

    def lines(self) -> Tuple[List[List[str]], List[List[str]], Dict[int, Tuple[int, str]]]:
        """(forward lines, backward lines, {forward node: (cell, op)}), the lines in one
        list per node. The backward
        lines take the nodes in the order `Value.backward()` does, so each gradient is
        the same sum in the same order."""
        fwd, info = [], {}
        done = set()  # the linear families computed already
        for node in self.forward_order():
            fam = self.families.get(id(node))
            if fam is not None:  # a weight matrix times x_t: all its outputs at once
                if fam["pos"] not in done:
                    done.add(fam["pos"])
                    fwd.append(self._linear_forward(fam["pos"]))
                    info[len(fwd) - 1] = (tuple(self.where[id(m[1])] for m in self.positions[fam["pos"]]), "dot")
            elif id(node) in self.shifts:
                grp, _ = self.shifts[id(node)]
                fwd.append([f"{self._val(node)} = max({self._read(grp)})"
                            + self._note(f"{self.names[id(node)]}: the max shift" if self.names else "")])
                info[len(fwd) - 1] = ((self.where[id(node)],), "max")
            elif node._children:
                fwd.append(self._forward(node))
                info[len(fwd) - 1] = ((self.where[id(node)],), node.op)
        bwd = [[f"{self._grad(self.root)} = seed"
                + self._note(f"{self.names[id(self.root)]}.grad = 1" if self.names else "")]]
        batched = self.families
        left = {}  # members of each family and of each matrix not yet reached, going backward
        for fam in batched.values():
            left[fam["pos"]] = left.get(fam["pos"], 0) + 1
            left[fam["matrix"]] = left.get(fam["matrix"], 0) + 1
        norms = self._norm_families() if self.batch_linear else {}
        for key in norms.values():
            left[key] = left.get(key, 0) + 1
        for node in reversed(self.order):
            fam = batched.get(id(node))
            if id(node) in norms:  # a layer norm's outputs: batched once all have their gradient
                key = norms[id(node)]
                left[key] -= 1
                if left[key] == 0:
                    bwd.append(self._norm_backward(key))
            elif fam is not None:  # a weight-matrix product: its chain rule runs batched (below)
                for key in (fam["pos"], fam["matrix"]):
                    left[key] -= 1
                lines = self._linear_x_side(fam["pos"]) if left[fam["pos"]] == 0 else []
                if left[fam["matrix"]] == 0:
                    lines += self._linear_w_side(fam["matrix"])
                if lines:
                    bwd.append(lines)
            elif node._children:
                bwd.append(self._backward(node))
        return fwd, bwd, info

    # -- weight-matrix products, batched ---------------------------------------------------
    # A Linear layer's output i at position t is dot(W[i], x_t): its chain rule adds
    # G_ti * x_t to W[i]'s gradient and G_ti * W[i] to x_t's. Done node by node that is
    # 2 * rows * T vector updates. Batched, once every output of the layer at position t
    # has its gradient: x_t += W^T G_t (one dot per input feature, over the rows); and
    # once every position is done: W[i] += sum_t G_ti x_t (one dot per weight, over the
    # positions). The same products, summed in another order: equal to rounding.
    def _linear_families(self) -> Dict[int, dict]:
        """{id(dot node): its family} for the dot nodes of a parameter matrix times a
        vector: family = {"pos": (matrix, x), "matrix": matrix key}."""
        by_x: Dict[tuple, list] = {}
        for node in self.order:
            if node.op != "dot":
                continue
            full = self._full_dot(node)
            if not full:
                continue
            xs, ys, bias = full
            cells = [self.where.get(id(w)) for w in xs]
            if (None in cells or cells[-1] >= self.n_inputs or cells != list(range(cells[0], cells[0] + len(cells)))
                    or any(w in self.slots for w in xs) or (bias is not None and id(bias) not in self.where)):
                continue
            by_x.setdefault((tuple(map(id, ys)), bias is None), []).append((cells[0], node, ys, bias))
        families, self.matrices, self.positions = {}, {}, {}
        for (ykey, _), members in by_x.items():
            members.sort(key=lambda m: m[0])
            rows = tuple(m[0] for m in members)
            if len(set(rows)) != len(rows) or len(members) < 2:
                continue
            mkey = ("matrix", rows, len(members[0][2]), ykey[1] if False else members[0][3] is None)
            pkey = ("pos", mkey, ykey)
            self.positions[pkey] = members
            self.matrices.setdefault(mkey, []).append(pkey)
            for _, node, _, _ in members:
                families[id(node)] = {"pos": pkey, "matrix": mkey}
        return families

    def _norm_families(self) -> Dict[int, tuple]:
        """{id(layer_norm node): (mean node, rsqrt_var node)}: the outputs of one layer
        norm of one vector, whose chain rule runs as one block (`_norm_backward`)."""
        families, self.norms = {}, {}
        for node in self.order:
            if node.op == "layer_norm" and len(node._children) == 5:
                key = (id(node._children[1]), id(node._children[2]))
                self.norms.setdefault(key, []).append(node)
        for key, members in list(self.norms.items()):
            mu = members[0]._children[1]
            position = {id(x): i for i, x in enumerate(mu._children)}
            if (mu.op != "mean" or len(position) != len(mu._children) or len(members) != len(position)
                    or any(id(m._children[0]) not in position for m in members)):
                del self.norms[key]
                continue
            members.sort(key=lambda m: position[id(m._children[0])])
            families.update((id(m), key) for m in members)
        return families

    def _norm_backward(self, key) -> List[str]:
        """y_i = (x_i - mu) r gamma_i + beta_i for every i at once: the local derivatives
        of each output, as fused.layer_norm has them, times G_i, summed per child."""
        members = self.norms[key]
        xs, gammas, betas = ([m._children[j] for m in members] for j in (0, 3, 4))
        mu, r = (self._val(members[0]._children[j]) for j in (1, 2))
        outs = [self.where[id(m)] for m in members]
        return [f"Gs = {self._gather('g', outs)}", f"gm = {self._read(gammas)}",
                f"cs = [x - {mu} for x in {self._read(xs)}]",
                self._accumulate(xs, f"[gd * {r} * G for gd, G in zip(gm, Gs)]"),
                f"{self._grad(members[0]._children[1])} += sum([-gd * {r} * G for gd, G in zip(gm, Gs)])",
                f"{self._grad(members[0]._children[2])} += sum([gd * c * G for gd, c, G in zip(gm, cs, Gs)])",
                self._accumulate(gammas, f"[c * {r} * G for c, G in zip(cs, Gs)]"),
                self._accumulate(betas, "Gs")]

    def _gather(self, array: str, cells: Sequence[int]) -> str:
        """An expression for array[c] for each cell, as a sequence."""
        if len(cells) > 1 and all(b - a == 1 for a, b in zip(cells, cells[1:])):
            return f"{array}[{cells[0]}:{cells[-1] + 1}]"
        if len(cells) <= 4:
            return "(" + ", ".join(f"{array}[{c}]" for c in cells) + ",)"
        name = f"take{len(self.constants)}"
        self.constants[name] = itemgetter(*cells)
        return f"{name}({array})"

    def _weight_rows(self, mkey) -> Tuple[List[str], str]:
        """(lines, expression): the matrix's rows as lists, sliced once per run."""
        if mkey in self.aux_of:
            return [], f"aux[{self.aux_of[mkey]}]"
        k = self._new_aux(mkey)
        rows, n = mkey[1], mkey[2]
        if self._even(rows):
            src = f"range({rows[0]}, {rows[-1] + 1}, {rows[1] - rows[0]})"
        else:
            src = f"rows{len(self.constants)}"
            self.constants[src] = rows
        return [f"aux[{k}] = [v[r:r + {n}] for r in {src}]"], f"aux[{k}]"

    def _linear_forward(self, pkey) -> List[str]:
        """y_i = (b_i +) W[i] . x for every row i of the matrix at once, as fused.linear."""
        members = self.positions[pkey]
        lines, rows = self._weight_rows(pkey[1])
        x = self._read(members[0][2])
        if members[0][3] is None:
            values = f"[{self._sop('w', 'x')} for w in {rows}]"
        else:
            values = f"[b + {self._sop('w', 'x')} for w, b in zip({rows}, {self._read([m[3] for m in members])})]"
        outs = [m[1] for m in members]
        target = self._slice(outs)
        if target is not None:
            return lines + [f"x = {x}", f"v[{target}] = {values}"]
        cells = "(" + ", ".join(self._ix(o) for o in outs) + ",)"
        return lines + [f"x = {x}", f"for i, y in zip({cells}, {values}): v[i] = y"]

    def _linear_x_side(self, pkey) -> List[str]:
        members = self.positions[pkey]
        mkey = pkey[1]
        rows, n = mkey[1], mkey[2]
        lines = []
        tkey = ("transposed", mkey)
        if tkey not in self.aux_of:  # W transposed, once per run: its columns, as tuples
            more, rows_expr = self._weight_rows(mkey)
            lines += more + [f"aux[{self._new_aux(tkey)}] = list(zip(*{rows_expr}))"]
        outs = [self.where[id(node)] for _, node, _, _ in members]
        ys = members[0][2]
        lines.append(f"Gs = {self._gather('g', outs)}")
        lines.append(self._accumulate(ys, f"[{self._sop('col', 'Gs')} for col in aux[{self.aux_of[tkey]}]]"))
        if members[0][3] is not None:
            lines.append(self._accumulate([m[3] for m in members], "Gs"))
        return lines

    @staticmethod
    def _even(cells: Sequence[int]) -> bool:
        return len(cells) > 1 and cells[1] > cells[0] and all(b - a == cells[1] - cells[0]
                                                               for a, b in zip(cells, cells[1:]))

    def _linear_w_side(self, mkey) -> List[str]:
        """W[i] += sum_t G_ti x_t needs only the x_t and the G_ti, all final by now: the
        line sets them aside in `ACC`, and `_add_weight_grads` sums the products once
        per batch, over every position of every sequence in it (long dots, few calls)."""
        pkeys = self.matrices[mkey]
        xs = [self._read(self.positions[p][0][2]) for p in pkeys]
        takes = tuple(_take([self.where[id(self.positions[p][i][1])] for p in pkeys]) for i in range(len(mkey[1])))
        name = f"W{len(self.constants)}"
        self.constants[name], self.constants[name + "_G"] = mkey, takes
        return [f"ACC.setdefault({name}, []).append((list(zip({', '.join(xs)})), [take(g) for take in {name}_G]))"]

    def _note(self, text: str) -> str:
        return f"  # {text}" if text else ""

    def _forward(self, node: Value) -> List[str]:
        """The line(s) computing the node's value, with the engine's formula."""
        op, ch = node.op, node._children
        out = self._val(node)
        a = self._val(ch[0], node, 0)
        b = self._val(ch[1], node, 1) if len(ch) > 1 else None
        note = ""
        if self.names:
            args = ", ".join(self.names[id(x)] for x in ch[:3]) + (", ..." if len(ch) > 3 else "")
            infix = {"+", "-", "*", "/", "**"}
            note = self._note(f"{self.names[id(node)]} = " + (
                f" {op} ".join(self.names[id(x)] for x in ch) if op in infix and len(ch) == 2
                else f"{op}({args})"))
        unary = {"neg": f"-{a}", "exp": f"exp({a})", "log": f"log({a})", "sqrt": f"sqrt({a})",
                 "tanh": f"tanh({a})", "relu": f"{a} if {a} > 0.0 else 0.0", "sigmoid": f"sigmoid({a})"}
        binary = {"+": f"{a} + {b}", "-": f"{a} - {b}", "*": f"{a} * {b}", "/": f"{a} / {b}",
                  "**": f"vpow({a}, {b})"}
        if op in unary and len(ch) == 1:
            return [f"{out} = {unary[op]}" + note]
        if op in binary and len(ch) == 2:
            return [f"{out} = {binary[op]}" + note]
        if op.startswith("**") and len(ch) == 1:
            return [f"{out} = powr({a}, {self._exponent(node)!r})" + note]
        if op == "gelu" and len(ch) == 1:
            return [f"{out}, aux[{self._new_aux(id(node))}] = gelu({a})" + note]
        if op == "layer_norm" and len(ch) == 5:
            x, mu, r, gm, bt = (self._val(c) for c in ch)
            return [f"{out} = ({x} - {mu}) * {r} * {gm} + {bt}" + note]
        return self._forward_nary(node, out, note)

    def _forward_nary(self, node: Value, out: str, note: str) -> List[str]:
        op, ch = node.op, node._children
        if op == "sum":
            return [f"{out} = sum({self._read(ch)})" + note]
        if op == "dot":
            return [f"{out} = {self._dot_expr(node)}" + note]
        if op == "mean":
            return [f"{out} = sum({self._read(ch)}) * {1.0 / len(ch)!r}" + note]
        if op == "logsumexp":
            return [f"{out}, aux[{self._new_aux(id(node))}] = logsumexp({self._read(ch)})" + note]
        if op == "rsqrt_var":
            k = self._new_aux(id(node))
            return [f"{out}, aux[{k}] = rsqrt_var({self._read(ch)}, {self._eps(node)!r})" + note]
        if op == "softmax":
            key = ("softmax", tuple(map(id, ch)))
            lines = [] if key in self.aux_of else [f"aux[{self._new_aux(key)}] = softmax({self._read(ch)})"]
            return lines + [f"{out} = aux[{self.aux_of[key]}][{self._softmax_index(node)}]" + note]
        if op == "attend":
            n = len(ch) // 2
            key = ("attend", tuple(map(id, ch[:n])))
            lines = []
            if key not in self.aux_of:  # the softmax weights, once for all features of the row
                scale = self._attend_scale(node)
                lines.append(f"aux[{self._new_aux(key)}] = softmax({self._read(ch[:n])}, {scale!r})")
            return lines + [f"{out} = {self._sop(f'aux[{self.aux_of[key]}]', self._read(ch[n:]))}" + note]
        raise CompileError(f"the compiler does not know the operation {op!r} "
                           f"(a node with {len(ch)} children)")

    def _backward(self, node: Value) -> List[str]:
        """The chain rule into the node's children: g[child] += local * g[node], the
        local derivative written with the engine's formula."""
        op, ch = node.op, node._children
        G, out = self._grad(node), self._val(node)
        a = self._val(ch[0], node, 0)
        b = self._val(ch[1], node, 1) if len(ch) > 1 else None
        scalar = {
            "+": ["1.0", "1.0"], "-": ["1.0", "-1.0"], "*": [b, a],
            "/": [f"(1.0 / {b})", f"(-{out} / {b})"], "**": [f"({b} * {out} / {a})", f"({out} * log({a}))"],
            "neg": ["-1.0"], "exp": [out], "log": [f"(1.0 / {a})"], "tanh": [f"(1.0 - {out} * {out})"],
            "relu": [f"(1.0 if {a} > 0.0 else 0.0)"], "sigmoid": [f"({out} * (1.0 - {out}))"],
            "sqrt": [f"(0.5 / {out} if {out} != 0.0 else copysign(inf, {out}))"],
        }
        locals_ = scalar.get(op)
        if locals_ is None and op.startswith("**") and len(ch) == 1:
            locals_ = [f"pow_local({a}, {self._exponent(node)!r}, {out})"]
        elif locals_ is None and op == "gelu" and len(ch) == 1:
            locals_ = [f"aux[{self.aux_of[id(node)]}]"]
        if locals_ is not None and len(locals_) == len(ch):
            lines = []
            for i, (child, local) in enumerate(zip(ch, locals_)):
                note = ""
                if self.names:
                    cn, pn = self.names[id(child)], self.names[id(node)]
                    note = self._note(f"{cn}.grad += ∂{pn}/∂{cn} * {pn}.grad")
                lines.append(f"{self._grad(child, node, i)} += {local} * {G}" + note)
            return lines
        note = self._note(f"into the children of {self.names[id(node)]}" if self.names else "")
        if op == "layer_norm" and len(ch) == 5:
            x, mu, r, gm, bt = ch
            xv, muv, rv, gv = (self._val(c) for c in (x, mu, r, gm))
            return [f"G = {G}" + note, f"cd = {xv} - {muv}",
                    f"{self._grad(x)} += {gv} * {rv} * G",
                    f"{self._grad(mu)} += -{gv} * {rv} * G",
                    f"{self._grad(r)} += {gv} * cd * G",
                    f"{self._grad(gm)} += cd * {rv} * G",
                    f"{self._grad(bt)} += 1.0 * G"]
        return [f"G = {G}" + note] + self._backward_nary(node, out)

    def _backward_nary(self, node: Value, out: str) -> List[str]:
        op, ch = node.op, node._children
        if op == "sum":
            return [self._accumulate(ch, f"[1.0 * G] * {len(ch)}")]
        if op == "mean":
            return [f"d = {1.0 / len(ch)!r} * G", self._accumulate(ch, f"[d] * {len(ch)}")]
        if op == "logsumexp":
            return [self._accumulate(ch, f"map(G.__mul__, aux[{self.aux_of[id(node)]}])")]
        if op == "rsqrt_var":
            k = self.aux_of[id(node)]
            return [f"r3n = {out} * {out} * {out} / {len(ch)}",
                    self._accumulate(ch, f"[-r3n * ci * G for ci in aux[{k}]]")]
        if op == "softmax":
            k = self.aux_of[("softmax", tuple(map(id, ch)))]
            return [self._accumulate(ch, f"softmax_local(aux[{k}], {self._softmax_index(node)}, G)")]
        if op == "attend":
            n = len(ch) // 2
            scores, column = ch[:n], ch[n:]
            k = self.aux_of[("attend", tuple(map(id, scores)))]
            scale = self._attend_scale(node)
            return [self._accumulate(scores, f"[{scale!r} * aj * (vj - {out}) * G for aj, vj in "
                                             f"zip(aux[{k}], {self._read(column)})]"),
                    self._accumulate(column, f"map(G.__mul__, aux[{k}])")]
        if op == "dot":
            full = self._full_dot(node)
            if full and len(full[0]) <= 4:  # short: one line per edge is faster than two maps
                xs, ys, bias = full
                edges = list(zip(xs, ys)) + list(zip(ys, xs))
                lines = [f"{self._grad(a)} += {self._val(b)} * G" for a, b in edges]
                if bias is not None:
                    lines.append(f"{self._grad(bias)} += 1.0 * G")
                return lines
            if full:  # in the order of the children: xs, (a linear's bias,) ys, (a dot's bias)
                xs, ys, bias = full
                lines = [self._accumulate(xs, f"map(G.__mul__, {self._read(ys)})"),
                         self._accumulate(ys, f"map(G.__mul__, {self._read(xs)})")]
                if bias is not None:
                    lines.insert(1 if ch[len(xs)] is bias else 2, f"{self._grad(bias)} += 1.0 * G")
                return lines
            consts = tuple(node._local_grads)
            if len(ch) <= 4:
                return [f"{self._grad(x)} += {k!r} * G"
                        for i, (x, k) in enumerate(zip(ch, consts))]
            name = self._constant(consts)
            return [self._accumulate(ch, f"map(G.__mul__, {name})")]
        raise CompileError(f"the compiler does not know the operation {op!r}")

    # -- n-ary details ------------------------------------------------------------------
    def _sop(self, xs: str, ys: str) -> str:
        """A sum of products written as fused._sum_of_products computes it."""
        return f"sop({xs}, {ys})" if _PYPY else f"sum(map(mul, {xs}, {ys}))"

    def _full_dot(self, node: Value) -> Optional[Tuple[tuple, tuple, Optional[Value]]]:
        """(xs, ys, bias or None) for a dot of Values only, whose local derivatives are
        ys, xs (and 1 for the bias): `fused.dot` puts the children as xs + ys (+ bias),
        `fused.linear` as weights + (bias,) + x. None for a dot with numbers in it,
        whose local derivatives are those numbers."""
        key = id(node)
        if key in self._dots:
            return self._dots[key]
        self._dots[key] = found = self._read_dot(node, self.batch_linear)
        return found

    @staticmethod
    def _read_dot(node: Value, prefer_values: bool = False):
        ch, loc = node._children, node._local_grads
        n = len(ch) // 2
        fits = []
        if n and len(ch) == 2 * n:
            layouts = [(0, n, None)]
        elif n:  # the bias last (fused.dot) or between the weights and x (fused.linear)
            layouts = [(0, n, 2 * n), (0, n + 1, n)]
        else:
            layouts = []
        for x0, y0, b in layouts:
            if b is not None and loc[b] != 1.0:
                continue
            if all(loc[x0 + i] == ch[y0 + i].data and loc[y0 + i] == ch[x0 + i].data for i in range(n)):
                fits.append((ch[x0:x0 + n], ch[y0:y0 + n], None if b is None else ch[b]))
        if not fits:
            return None
        # a dot with numbers in it has the numbers as its local derivatives, and its
        # value is sum(local * child): when that fits too, the graph does not say which
        numbers = fused._sum_of_products([c.data for c in ch], loc) == node.data
        if prefer_values:  # a model's dots are of Values (numbers appear in RoPE's only, never ambiguous)
            return fits[-1]  # the layout of fused.linear when both fit
        if numbers or len(fits) > 1:
            raise CompileError("a dot node can be read two ways where it was traced (its local derivatives "
                               "equal its children's values, as at 0 or 1): trace it with other values")
        return fits[0]

    def _dot_expr(self, node: Value) -> str:
        ch = node._children
        full = self._full_dot(node)
        if full:
            xs, ys, bias = full
            total = self._sop(self._read(xs), self._read(ys))
            return total if bias is None else f"{self._val(bias)} + {total}"
        consts = tuple(node._local_grads)
        # a dot with numbers in it: the numbers are its local derivatives
        expect = fused._sum_of_products([c.data for c in ch], consts)
        if expect != node.data:
            raise CompileError(f"a dot node mixes numbers in a way the compiler cannot read back "
                               f"(value {node.data!r}, recomputed {expect!r})")
        if len(ch) <= 4:
            return " + ".join(f"{self._val(x)} * {k!r}" for x, k in zip(ch, consts))
        return self._sop(self._read(ch), self._constant(consts))

    def _constant(self, values: tuple) -> str:
        key = ("const", values)
        if key not in self.aux_of:
            self.aux_of[key] = f"K{len([k for k in self.aux_of if k[0] == 'const'])}"
            self.constants[self.aux_of[key]] = values
        return self.aux_of[key]

    def _exponent(self, node: Value) -> float:
        """n of an `x ** n` node. Its op name has n to 6 digits only, so n is read back
        from the local derivative n x^(n-1) = n out / x, and checked against the node."""
        x, out, local = node._children[0].data, node.data, node._local_grads[0]
        candidates = []
        try:
            named = float(node.op[2:])
        except ValueError:
            named = None
        if named is not None and len(f"{named:g}".lstrip("-").replace(".", "").lstrip("0")) < 6:
            # a name shorter than 6 digits is the whole number (unless n is something like
            # 3.0000001): first, since the number read back below may be off by a rounding
            candidates.append(named)
        if x != 0.0 and out != 0.0:
            guess = local * x / out
            candidates += [float(f"{guess:.{k}g}") for k in range(1, 18)] + [guess]
        for n in candidates:
            try:
                if math.pow(x, n) == out and _pow_local(x, n, out) == local:
                    return n
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
        raise CompileError(f"cannot read the exponent of {node.op!r} back from the graph: traced at "
                           f"x = {x!r}, where other exponents give the same numbers; trace it at another x")

    def _softmax_index(self, node: Value) -> int:
        ch, loc, s = node._children, node._local_grads, node.data
        for i in range(len(ch)):
            if loc[i] == s - s * s and _softmax([c.data for c in ch])[i] == s:
                return i
        raise CompileError("cannot tell which output of a softmax node this is")

    def _attend_scale(self, node: Value) -> float:
        """The `scale` of fused.attention_row, which the node does not keep: the hints
        first, then read back from its local derivatives d out/d score_j =
        scale a_j (v_j - out), or from its weights a = softmax(scale * scores);
        checked against both."""
        ch, loc = node._children, node._local_grads
        n = len(ch) // 2
        if n == 1:  # one score: its weight is 1 and its derivative 0 whatever the scale
            return (self.hinted_scales + self.scales + [1.0])[0]
        scores, column, out = [c.data for c in ch[:n]], [c.data for c in ch[n:]], node.data
        a = list(loc[n:])
        guesses = [loc[j] / (a[j] * (column[j] - out)) for j in range(n) if a[j] * (column[j] - out) != 0.0]
        j = max(range(1, n), key=lambda i: abs(scores[i] - scores[0]))
        if scores[j] != scores[0] and a[j] > 0 and a[0] > 0:
            guesses.append(math.log(a[j] / a[0]) / (scores[j] - scores[0]))
        candidates = list(self.hinted_scales) + list(self.scales)
        for guess in guesses[:3]:
            if guess > 0:
                candidates.append(1.0 / math.sqrt(round(1.0 / guess ** 2)))  # 1/sqrt(head_dim), most often
            candidates += [guess] + [float(f"{guess:.{k}g}") for k in range(1, 18)]
        for scale in candidates:
            if (_softmax(scores, scale) == a
                    and all(scale * aj * (vj - out) == d for aj, vj, d in zip(a, column, loc[:n]))):
                if guesses or scores.count(scores[0]) != n or scale in self.hinted_scales:
                    # the numbers tell this scale apart, or the model says it is its scale
                    if scale not in self.scales:
                        self.scales.append(scale)
                    return scale
                break
        raise CompileError("cannot read the scale of an attention node back from the graph: every scale "
                           "gives the same numbers where it was traced (tied scores, equal values); "
                           "trace it with other values")

    def _eps(self, node: Value) -> float:
        """The eps of a layer norm's `rsqrt_var` node (not kept in the node): the hints
        first, then read back from its value; checked against the node."""
        xs = [c.data for c in node._children]
        candidates = list(self.epsilons)
        r = node.data
        _, c = _rsqrt_var(xs, 1.0)
        var = fused._sum_of_products(c, c) * (1.0 / len(xs))
        guess = r ** -2 - var
        candidates += [1e-5, 1e-6, 1e-8, 1e-12] + [float(f"{guess:.{k}g}") for k in range(1, 18) if guess > 0]
        for eps in candidates:
            if _rsqrt_var(xs, eps)[0] == r:
                if eps not in self.epsilons:
                    self.epsilons.append(eps)
                return eps
        raise CompileError("cannot read the eps of a layer norm back from the graph")


def _build(root: Value, leaves, slots=None, picks=None, hints=None, names=False, name="graph",
           preamble=(), header=(), batch_linear=False, acc=None) -> Tuple[_Program, _Compiler]:
    comp = _Compiler(root, leaves, slots, picks, hints, names, batch_linear)
    fwd, bwd, info = comp.lines()
    namespace = dict(comp.constants, seed=1.0, ACC={} if acc is None else acc)
    program = _Program(fwd, bwd, info, list(preamble), comp.template, comp.aux, namespace, name,
                       header=header(comp) if callable(header) else header)
    return program, comp


# ---- a small expression --------------------------------------------------------------
class CompiledGraph:
    """The program of one graph: `out, grads = compiled(values)` runs the forward pass
    with `values` in the input leaves (`inputs`, in order) and backpropagates from
    the output; `grads[i]` is d(output)/d(inputs[i]). `source` is the program:
    `v[i]` is the value of node i, `g[i]` its gradient.

    Every other leaf of the graph is a constant of the program (its data when compiled).
    """

    def __init__(self, root: Value, inputs: Optional[Sequence[Value]] = None):
        order = topological_order(root)
        if inputs is None:  # the leaves as a reader meets them: left to right, children first
            inputs = [n for n in _Compiler(root, []).forward_order()
                      if not n._children and not isinstance(n, Constant)]
        self.inputs = list(inputs)
        for x in self.inputs:
            if not isinstance(x, Value) or x._children:
                raise CompileError(f"an input must be a leaf Value of the graph, got {x!r}")
        t0 = time.perf_counter()
        self._program, comp = _build(root, self.inputs, names=len(order) <= 2000, name="graph",
                                     header=lambda c: self._legend(c, order))
        self.compile_seconds = time.perf_counter() - t0
        self._root = comp.where[id(root)]
        self.n_nodes = len(order)
        v = list(self._program.template)
        v[:len(self.inputs)] = [x.data for x in self.inputs]
        self._program.run(v, [0.0] * len(v), backward=False)
        _compare(order, comp, v)

    @staticmethod
    def _legend(comp: "_Compiler", order) -> List[str]:
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


def _compare(order, comp: _Compiler, v: List[float]) -> None:
    """CompileError unless the program computed every node's value of the traced graph."""
    for node in order:
        if node._children and id(node) in comp.where and v[comp.where[id(node)]] != node.data:
            raise CompileError(f"the compiled program does not reproduce a {node.op!r} node "
                               f"({v[comp.where[id(node)]]!r} instead of {node.data!r})")


def compile_graph(root: Value, inputs: Optional[Sequence[Value]] = None) -> CompiledGraph:
    """Trace the graph under `root` into a program (see `CompiledGraph`).

    `inputs`: the leaves whose values each run supplies (default: every leaf that is
    not a number mixed into an operation, left to right as the expression reads)."""
    if not isinstance(root, Value):
        raise TypeError(f"compile_graph takes a Value, got {type(root).__name__}")
    return CompiledGraph(root, inputs)


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

    def __init__(self, model, seq_len: int, primitive: bool = False, _acc: Optional[dict] = None):
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
                                     name=f"step T={seq_len}", preamble=preamble, batch_linear=True,
                                     acc=_acc)
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
        _add_weight_grads(self._acc, g)
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
        V = self.model.config.vocab_size
        if not isinstance(targets, (list, tuple)) or len(targets) != self.seq_len:
            raise ValueError(f"cross_entropy_loss: {self.seq_len} positions of logits but "
                             f"{len(targets) if isinstance(targets, (list, tuple)) else type(targets).__name__} targets")
        for t, y in enumerate(targets):
            if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < V:
                raise ValueError(f"cross_entropy_loss: target {y!r} at position {t} is outside the "
                                 f"vocabulary 0..{V - 1}")
        self._program.namespace_seed(seed)
        try:
            self._program.run(v, g, self._rows_for(token_ids), self._picks_for(targets), backward=g is not None)
        except BaseException:
            self._acc.clear()  # what this run set aside is not a gradient
            raise
        return v[self._root]

    def __repr__(self) -> str:
        return f"CompiledStep(seq_len={self.seq_len}, {self.n_nodes:,} nodes, {self.compile_seconds:.2f} s to compile)"


def compile_step(model, seq_len: int, primitive: bool = False) -> CompiledStep:
    """Trace `model`'s training step for `seq_len` tokens into a program (see
    `CompiledStep`); `primitive=True` traces the graph of `primitive_mode()`."""
    return CompiledStep(model, seq_len, primitive)


class StepPrograms:
    """`CompiledStep`s of one model, one per sequence length, each compiled the first
    time a sequence of that length comes: `loss = programs(token_ids, targets, seed)`.
    `compile_seconds` is the time spent compiling so far.

    For a batch of sequences, call them inside `with programs.batch():` — the same
    gradients (to rounding), added to the parameters' `.grad` when the block ends, but
    faster: the parameters are read once, and each weight's gradient is one dot product
    over every position of the batch instead of one per sequence.
    """

    def __init__(self, model, primitive: bool = False):
        self.model, self.primitive = model, primitive
        self.params = model.parameters()
        self.programs: Dict[int, CompiledStep] = {}
        self.compile_seconds = 0.0
        self._acc: Dict[tuple, list] = {}   # the weight products set aside, shared by the programs
        self._batch: Optional[Tuple[List[float], List[float]]] = None   # (parameter values, their grads)

    def program(self, seq_len: int) -> CompiledStep:
        step = self.programs.get(seq_len)
        if step is None:
            step = self.programs[seq_len] = CompiledStep(self.model, seq_len, self.primitive, _acc=self._acc)
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
            _add_weight_grads(self._acc, grads)
            for p, d in zip(self.params, grads):
                p.grad += d
        finally:
            self._batch = None
            self._acc.clear()
