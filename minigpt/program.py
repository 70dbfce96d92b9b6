"""The runtime of compiled programs (see `minigpt/compile.py`): `Program`, which compiles
generated source into functions over two flat lists of floats, `v` (values) and `g`
(gradients), or turns it into a tape of kernels (`minigpt/tape.py`), and runs them;
and the formulas its lines call, each written as the engine computes it
(`minigpt/engine.py`, `minigpt/fused.py`), so that a program gives the graph's floats.
"""
from __future__ import annotations

import itertools
import math
import platform
from operator import add, itemgetter, mul
from typing import Dict, List, Optional, Sequence, Tuple

from . import fused
from .tape import SeedBox, Tape

__all__ = ["Program", "RUNTIME", "take", "add_weight_grads", "CHUNK_LINES", "pow_local", "softmax", "rsqrt_var"]

_PYPY = platform.python_implementation() == "PyPy"
CHUNK_LINES = 3000   # lines per generated function: a huge function is slow to compile
BACKENDS = ("source", "tape")   # how a program runs: its source compiled, or a tape of kernels

# ---- the formulas the lines call, each as in minigpt/engine.py or minigpt/fused.py ----
def pow_local(x: float, n: float, out: float) -> float:
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


def _gelu_vector(xs: Sequence[float]) -> Tuple[List[float], List[float]]:
    """([gelu x for x in xs], [its derivative at x]): `_gelu` for a whole vector."""
    c = math.sqrt(2.0 / math.pi)
    ts = [math.tanh(c * (x + 0.044715 * x * x * x)) for x in xs]
    return ([0.5 * x * (1.0 + t) for x, t in zip(xs, ts)],
            [0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x) for x, t in zip(xs, ts)])


def softmax(xs: Sequence[float], scale: float = 1.0) -> List[float]:
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


def rsqrt_var(xs: Sequence[float], eps: float) -> Tuple[float, List[float]]:
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


def linear_rows(v: List[float], w0: int, stride: int, n_in: int, x0: int, y0: int, n_out: int, b0: int) -> None:
    """y_i = (b_i +) W[i] . x for i < n_out, over cell numbers: row i of W starts at
    cell w0 + i * stride, x at x0, y at y0, the biases at b0 (b0 = -1: none). The sum of
    products from the left, as `sum(map(mul, w, x))` and fused._sum_of_products add."""
    for i in range(n_out):
        w = w0 + i * stride
        total = 0.0
        for j in range(n_in):
            total += v[w + j] * v[x0 + j]
        v[y0 + i] = total if b0 < 0 else v[b0 + i] + total


def linear_x_grad(v: List[float], g: List[float], w0: int, stride: int, n_in: int, x0: int, y0: int,
                  n_out: int, b0: int) -> None:
    """The chain rule of `linear_rows` into x and the biases, once every output has its
    gradient G: x's gradient += W^T G (column j of W times G, summed over the rows from
    the first), and each bias's += its G."""
    for j in range(n_in):
        total = 0.0
        for i in range(n_out):
            total += v[w0 + i * stride + j] * g[y0 + i]
        g[x0 + j] += total
    if b0 >= 0:
        for i in range(n_out):
            g[b0 + i] += g[y0 + i]


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


RUNTIME = {"powr": _pow, "vpow": _vpow, "math": math, "exp": math.exp, "log": math.log, "tanh": math.tanh, "sqrt": math.sqrt,
            "pow": math.pow, "copysign": math.copysign, "inf": math.inf, "sum": sum, "map": map,
            "mul": mul, "add": add, "zip": zip, "max": max,
            "pow_local": pow_local, "sigmoid": _sigmoid, "gelu": _gelu, "gelu_vector": _gelu_vector, "softmax": softmax,
            "logsumexp": _logsumexp, "rsqrt_var": rsqrt_var, "softmax_local": _softmax_local,
            "linear_rows": linear_rows, "linear_x_grad": linear_x_grad}


def take(cells: Sequence[int]):
    """A function giving (g[c] for c in cells) as a tuple, fast."""
    if len(cells) == 1:
        c = cells[0]
        return lambda g: (g[c],)
    return itemgetter(*cells)


def add_weight_grads(acc: Dict[tuple, list], grads: List[float]) -> None:
    """Add sum_t G_ti x_t to the gradient cells of each row i of each weight matrix, from
    what the programs set aside in `acc` (then emptied): per matrix, a list of
    (x's columns [n][T], the outputs' gradients per row [m][T]), one per sequence."""
    for (_, rows, n, _), parts in acc.items():
        if not parts:
            continue
        if _PYPY:  # the same sums as below, as plain loops: PyPy compiles them tight
            _weight_grads_loops(rows, n, parts, grads)
            parts.clear()
            continue
        if len(parts) == 1:
            xt, gcols = parts[0]
        else:  # the positions of all the sequences, end to end
            xt = [tuple(itertools.chain.from_iterable(cols)) for cols in zip(*(p[0] for p in parts))]
            gcols = [tuple(itertools.chain.from_iterable(cols)) for cols in zip(*(p[1] for p in parts))]
        for r, gc in zip(rows, gcols):  # row r's gradient: G's column . each of x's columns
            grads[r:r + n] = map(add, grads[r:r + n], [sum(map(mul, gc, xc)) for xc in xt])
        parts.clear()


def _weight_grads_loops(rows: Sequence[int], n: int, parts: list, grads: List[float]) -> None:
    """`add_weight_grads` for one matrix: weight (i, j) += sum over the sequences, then
    their positions t, of G_ti x_tj, added from the left in that order."""
    for i, r in enumerate(rows):
        for j in range(n):
            total = 0.0
            for xt, gcols in parts:
                gc, xc = gcols[i], xt[j]
                for t in range(len(gc)):
                    total += gc[t] * xc[t]
            grads[r + j] += total


if _PYPY:  # PyPy's JIT compiles these loops once on their own, called from every kernel
    import pypyjit   # that uses them; inlined into each kernel's trace they ran 5-15x slower
    for _loop in (linear_rows, linear_x_grad, _weight_grads_loops):
        pypyjit.dont_trace_here(0, False, _loop.__code__)


# ---- the program ---------------------------------------------------------------------
class Program:
    """Generated source over `v` (values) and `g` (gradients), compiled to functions.

    forward, backward: the lines, a list per node; fwd_info[i] = (cell, op) of node i, for
    naming the operation that overflowed; header: comment lines put first."""

    def __init__(self, forward, backward, fwd_info, preamble, template, n_aux, namespace, name, header=(),
                 backend: str = "source"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
        self.template, self.n_aux, self.name, self.backend = template, n_aux, name, backend
        self.fwd_where: Dict[int, Tuple[int, str]] = {}  # source line -> (cell, op)
        source, parts, spans = list(header), [], []
        starts: Dict[str, List[int]] = {"forward": [], "backward": []}  # the line where each group starts
        for part, groups in (("forward", forward), ("backward", backward)):
            chunks, size = [[]], 0   # a node's lines stay in one function
            for i, group in enumerate(groups):
                if size + len(group) > CHUNK_LINES and chunks[-1]:
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
                    starts[part].append(len(source) + 1)
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
        self.namespace = namespace = dict(RUNTIME, **namespace)
        self.tapes: Tuple[Tape, ...] = ()
        if backend == "tape":  # the same lines as kernels on a tape (minigpt/tape.py); no source compiled
            namespace["seed_box"] = SeedBox([namespace.get("seed", 1.0)])
            constants = {k: v for k, v in namespace.items() if k not in RUNTIME}
            self.tapes = tuple(Tape(groups, starts[part], constants, RUNTIME)
                               for part, groups in (("forward", forward), ("backward", backward)))
            self.forward_parts, self.backward_parts = ((tape.run,) for tape in self.tapes)
            return
        # one function at a time (blank lines in front keep the line numbers of `source`):
        # Python's compiler holds the syntax tree of what it compiles, which for a whole
        # model's step would take gigabytes
        for first, last in spans:
            code = "\n" * first + "\n".join(source[first:last])
            exec(compile(code, self.filename, "exec"), namespace)
        self.forward_parts = [namespace[f] for f in parts if f.startswith("forward")]
        self.backward_parts = [namespace[f] for f in parts if f.startswith("backward")]

    def tape_text(self, limit: int = 20) -> Optional[str]:
        """The forward and backward tapes (`Tape.describe`), or None for a program that
        runs its source."""
        if not self.tapes:
            return None
        return "\n".join(f"# the {part} tape: {sum(1 for _ in tape.calls())} kernel calls\n{tape.describe(limit)}"
                         for part, tape in zip(("forward", "backward"), self.tapes))

    def namespace_seed(self, seed: float) -> None:
        """d(loss)/d(output) for the next backward pass (1.0 unless the output is scaled)."""
        self.namespace["seed"] = float(seed)
        if self.tapes:
            self.namespace["seed_box"][0] = float(seed)

    def run(self, v: List[float], g: List[float], R=(), Q=(), backward: bool = True) -> None:
        """The forward lines, a check that every value is finite (as the engine checks
        each result), then (with `backward`) the backward lines."""
        aux = [None] * self.n_aux
        try:
            for part in self.forward_parts:
                part(v, g, aux, R, Q)
        except (ArithmeticError, ValueError) as err:
            raise self._located(err, v, self.tapes[0].failed_line if self.tapes else None) from None
        if not all(map(math.isfinite, v)):
            raise self._overflow(v)
        if backward:
            for part in self.backward_parts:
                part(v, g, aux, R, Q)

    def _line(self, number: int) -> str:
        return self.source.splitlines()[number - 1].strip()

    def _located(self, err, v: List[float], line: Optional[int] = None):
        """The error raised on a line of the program (found in the traceback, unless
        given), said as the engine says it."""
        tb = err.__traceback__ if line is None else None
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


