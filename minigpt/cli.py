"""The `minigpt` command line (also `python -m minigpt`).

Each sub-command is a function `cmd_<name>(args)` registered in `build_parser()`.
Errors a user can cause (bad files, bad options) end the program with a one-line
message and a non-zero exit status, not a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit status 2."""


def cmd_demo(args: argparse.Namespace) -> int:
    """A short tour: backprop through an expression, then a deep chain."""
    from .engine import Value

    print("1. An expression, and the gradient of its output with respect to each input")
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f
    L.label = "L"
    L.backward()
    for v in (a, b, c, d, e, f, L):
        print(f"   {v}")

    n = args.chain
    print(f"\n2. A chain of {n:,} operations (backward never recurses)")
    t0 = time.perf_counter()
    x = Value(0.5, label="x")
    y = x
    for _ in range(n):
        y = y * 1.0000001
    t1 = time.perf_counter()
    y.backward()
    t2 = time.perf_counter()
    print(f"   built in {t1 - t0:.2f} s, backpropagated in {t2 - t1:.2f} s; dy/dx = {x.grad:.6f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minigpt",
        description="A scalar-Value autograd engine and a Mini-GPT built from it.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="a short tour of the engine",
                          description="A short tour: backprop through a small expression and a deep chain.")
    demo.add_argument("--chain", type=int, default=100_000, metavar="N",
                      help="length of the chain of operations to backpropagate (default: 100000)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        print(f"minigpt {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
