"""`scopes()`: record which module made each node, for pictures grouped by module.

Inside `with scopes():` every module call runs through `_record_call`: when the call
returns, each node reachable from its output that is not one of its inputs (nor a leaf)
and has no module yet is tagged with the module's path (`blocks.0.attn`). Inner modules
return first, so each node ends up tagged with the innermost module that made it.
The outermost module's parameter names are kept too (`graph.SCOPE_PARAMS`), so that
pictures name the parameters even once the module itself is gone. Nothing in the
engine or the layers changes; the tags live in `graph.SCOPE_TAGS`, each with the
`graph.ScopeBlock` of its block (the shapes and call counts that block saw), so that
a later block never changes the picture of an earlier graph.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

from ..engine import Value
from ..module import Module, set_call_wrapper
from .graph import SCOPE_PARAMS, SCOPE_TAGS, ScopeBlock

__all__ = ["scopes"]

# (module, path) of the calls under way, outermost first
_calls: List[Tuple[Module, str]] = []
# the blocks under way, innermost last
_blocks: List[ScopeBlock] = []


@contextmanager
def scopes() -> Iterator[Dict[str, Tuple[tuple, tuple]]]:
    """Inside this block, nodes made by a module are tagged with the module's path.

    Paths are relative to the outermost module called (`blocks.0.attn`); nodes made
    outside any module have the path ''. `draw_dot(..., depth=k)` uses the tags to
    group and collapse. Yields the shapes seen: path -> (input shape, output shape).
    """
    block = ScopeBlock()
    _blocks.append(block)
    previous = set_call_wrapper(_record_call)
    saved = list(_calls)
    try:
        yield block.shapes
    finally:
        set_call_wrapper(previous)
        _calls[:] = saved
        _blocks.remove(block)


def _record_call(module: Module, args: tuple, kwargs: dict):
    path = _path_of(module)
    if not _calls:  # the outermost module names the parameters, for the pictures
        for name, p in module.named_parameters():
            SCOPE_PARAMS[p] = name
    _calls.append((module, path))
    try:
        out = module.forward(*args, **kwargs)
    finally:
        _calls.pop()
    if _calls or path:  # the outermost module's own nodes stay at the top level ('')
        block = _blocks[-1]
        _tag(out, args, block.tag(path))
        block.shapes[path] = (_shape(args[0]) if args else (), _shape(out))
        block.calls[path] = block.calls.get(path, 0) + 1
    return out


def _path_of(module: Module) -> str:
    """The module's dotted path below the outermost call: its attribute name in its
    caller (`attn`, `blocks.0`), after the caller's path."""
    if not _calls:
        return ""
    parent, parent_path = _calls[-1]
    name = _attribute_name(parent, module)
    return f"{parent_path}.{name}" if parent_path else name


def _attribute_name(parent: Module, child: Module) -> str:
    for name, attr in vars(parent).items():
        if attr is child:
            return name
        if isinstance(attr, (list, tuple)):
            for i, item in enumerate(attr):
                if item is child:
                    return f"{name}.{i}"
    return type(child).__name__.lower()


def _tag(out, args: tuple, tag: tuple) -> None:
    """Tag the untagged nodes between the call's inputs and its output with `tag`,
    (module path, block)."""
    inputs = {id(v) for v in _values_in(args)}
    stack = _values_in(out)
    seen = set()
    while stack:
        v = stack.pop()
        if id(v) in seen or id(v) in inputs or not v._children:
            continue
        seen.add(id(v))
        if v not in SCOPE_TAGS:
            SCOPE_TAGS[v] = tag
        stack.extend(v._children)


def _values_in(x) -> List[Value]:
    """The Values in a Value or nested lists/tuples of them."""
    found, stack = [], [x]
    while stack:
        item = stack.pop()
        if isinstance(item, Value):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _shape(x) -> tuple:
    """(T, n) for a sequence, (n,) for a vector, () for a Value or anything else."""
    if isinstance(x, (list, tuple)) and x:
        return (len(x),) + _shape(x[0])
    return ()
