"""A program's lines as a tape of kernels (see `minigpt/program.py`).

Straight-line source is the fastest way to run a program on CPython, but PyPy's JIT
compiles loops and small functions, not a function of ten thousand lines that runs once
per step: there the same program runs as a *tape*. Each node's lines become a kernel, a
small function of the lines with their numbers (cells, slices, constants) taken out as
arguments, and the tape is the list of (kernel, arguments), run by one loop:

    v[6216] = v[r0] + v[432]      ->  kernel  v[_a0] = v[R[_a1]] + v[_a2]
                                      tape    (kernel, (6216, 0, 432))

The nodes of a model share a few dozen kernels, so the JIT compiles a few dozen small
functions instead of the whole program; a run of one kernel in a row (the 16 adds of a
residual connection) is one entry, a loop over their arguments. The kernels run the
very same expressions on the very same numbers as the source, so a tape gives the
source's floats, bit for bit. (A model's tape program also writes each linear layer's
block as one call of a loop over cell numbers, `program.linear_rows` and
`linear_x_grad`, where straight-line source has comprehensions: codegen's `loops`.)
"""
from __future__ import annotations

import re
import types
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

__all__ = ["Tape", "SeedBox", "kernel_of"]

# a number (not part of a name), or a name
_TOKEN = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([A-Za-z_]\w*)")
_SLOT = re.compile(r"([rq])(\d+)$")   # r3: the table row of token 3 (R[3]); q3: the target's logit (Q[3])


class SeedBox(list):
    """[seed]: d(loss)/d(output) for the next backward pass, in a box the root's kernel
    reads (the program sets it before each run)."""
    tape_name = "seed"


_KERNELS: Dict[str, Callable] = {}   # template -> its kernel, shared by every tape of the process
_KERNEL_MODULE = types.ModuleType("minigpt_kernels")   # the kernels' globals: the runtime's formulas


def _template(lines: Sequence[str], constants: Dict[str, object]) -> Tuple[str, tuple]:
    """(the lines with their numbers and the program's constants as `_a0, _a1, ...`,
    the arguments they stand for)."""
    args: List[object] = []

    def arg(value) -> str:
        args.append(value)
        return f"_a{len(args) - 1}"

    def swap(match) -> str:
        number, name = match.groups()
        if number is not None:
            return arg(int(number) if number.isdigit() else float(number))
        slot = _SLOT.match(name)
        if slot is not None:
            return f"{slot.group(1).upper()}[{arg(int(slot.group(2)))}]"
        if name == "seed":  # d(loss)/d(output), set before each run: read from a box
            return arg(constants["seed_box"]) + "[0]"
        if name in constants:
            return arg(constants[name])
        return name

    body = [_TOKEN.sub(swap, line.split("  # ")[0]) for line in lines]
    return "\n".join(body), tuple(args)


def kernel_of(template: str, n_args: int, namespace: Dict[str, object]) -> Callable:
    """The function running `template` (cached: each template is compiled once)."""
    fn = _KERNELS.get(template)
    if fn is None:
        unpack = ["    " + "".join(f"_a{i}, " for i in range(n_args)) + "= a"] if n_args else []
        source = "\n".join(["def kernel(v, g, aux, R, Q, a):"] + unpack + ["    " + line for line in template.split("\n")])
        scope = _KERNEL_MODULE.__dict__   # a module's globals, which PyPy's JIT reads as constants
        if not scope.keys() >= namespace.keys():
            scope.update(namespace)
        exec(compile(source, "<minigpt kernel>", "exec"), scope)
        fn = _KERNELS[template] = scope["kernel"]
        fn.template = template
    return fn


_FAILED = [0]   # which run of a repeated kernel raised


def _repeat(v, g, aux, R, Q, a):
    """One kernel run on each of many argument tuples, in turn: a loop the JIT compiles
    for that kernel alone."""
    kernel, runs = a
    j = 0
    try:
        for j, args in enumerate(runs):
            kernel(v, g, aux, R, Q, args)
    except BaseException:
        _FAILED[0] = j
        raise


class Tape:
    """The groups of lines of one part of a program (forward or backward) as a list of
    (kernel, arguments); `lines[i]` is the source line number where entry i starts."""

    def __init__(self, groups: Sequence[Sequence[str]], first_lines: Sequence[int],
                 constants: Dict[str, object], runtime: Dict[str, object]):
        self.entries: List[Tuple[Callable, tuple]] = []
        self.lines: List[int] = []
        self.failed_line = 0
        for group, line in zip(groups, first_lines):
            if not group:
                continue
            template, args = _template(group, constants)
            kernel = kernel_of(template, len(args), runtime)
            if self.entries and self.entries[-1][0] is _repeat and self.entries[-1][1][0] is kernel:
                self.entries[-1][1][1].append(args)   # one more run of the same kernel
                self.lines[-1].append(line)
            elif self.entries and self.entries[-1][0] is kernel:
                self.entries[-1] = (_repeat, (kernel, [self.entries[-1][1], args]))
                self.lines[-1] = [self.lines[-1], line]
            else:
                self.entries.append((kernel, args))
                self.lines.append(line)

    def run(self, v, g, aux, R, Q) -> None:
        """Every kernel in turn; if one raises, `failed_line` is the line it runs."""
        i = 0
        try:
            for i, (kernel, args) in enumerate(self.entries):
                kernel(v, g, aux, R, Q, args)
        except BaseException:
            line = self.lines[i]
            self.failed_line = line[_FAILED[0]] if isinstance(line, list) else line
            raise

    def __len__(self) -> int:
        return len(self.entries)

    def calls(self) -> Iterator[Tuple[Callable, tuple, int]]:
        """(kernel, arguments, source line) of each kernel call in turn, the runs of a
        repeated kernel one by one."""
        for (kernel, args), line in zip(self.entries, self.lines):
            if kernel is _repeat:
                for one, at in zip(args[1], line):
                    yield args[0], one, at
            else:
                yield kernel, args, line

    def describe(self, limit: int = 20) -> str:
        """The tape's first `limit` kernel calls, each its kernel's number and arguments,
        then those kernels' lines."""
        numbers: Dict[Callable, int] = {}
        rows = []
        for n, (kernel, args, line) in enumerate(self.calls()):
            if n == limit:
                rows.append(f"  ... {sum(1 for _ in self.calls()) - limit} more")
                break
            k = numbers.setdefault(kernel, len(numbers))
            shown = ", ".join(repr(a) if isinstance(a, (int, float))
                              else getattr(a, "tape_name", type(a).__name__) for a in args)
            rows.append(f"{n:>5}  kernel {k}  ({shown})    source line {line}")
        for kernel, k in numbers.items():
            rows.append(f"kernel {k}:")
            rows.extend("    " + line for line in kernel.template.split("\n"))
        return "\n".join(rows)
