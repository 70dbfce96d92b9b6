"""`Module`: the base class of every layer and model.

A module stores its weights as attributes (Values, lists of Values, nested lists,
other Modules and lists of Modules) and defines `forward`; `Module` finds the
parameters by walking those attributes, names them (`blocks.0.attn.q_proj.weight.3.7`),
zeroes their gradients, saves and loads them as plain floats, and prints the tree.
"""
from __future__ import annotations

import math
from typing import Dict, Iterator, List, Tuple

from .engine import Value

__all__ = ["Module", "set_call_wrapper"]


# A function(module, args, kwargs) that runs every module call in place of
# `module.forward(*args, **kwargs)`, or None. minigpt.viz.scopes() sets one to record
# which module made which node; nothing else in the library uses it.
_call_wrapper = None


def set_call_wrapper(wrapper):
    """Make `wrapper(module, args, kwargs)` run every module call (None: plain calls).
    Returns the previous wrapper, to restore later."""
    global _call_wrapper
    previous, _call_wrapper = _call_wrapper, wrapper
    return previous


class Module:
    """Base class of every layer and model.

    Subclasses define `forward`; calling the module calls `forward`. Parameters are
    the Values reachable through attributes, in attribute order, each once (a tied
    weight reachable twice is counted once, under its first name).
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if _call_wrapper is None:  # the usual case
            return self.forward(*args, **kwargs)
        return _call_wrapper(self, args, kwargs)

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
