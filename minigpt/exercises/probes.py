"""Probes: run one check's code on an engine/nn/gpt trio and return raw numbers.

A probe builds something through the exercise contract (a Value expression, a
module whose weights it sets by their contract names, a model to sample from),
runs it, and returns plain data: outputs, gradients, drawn ids, findings about
`parameters()`. It never decides pass or fail; the grader compares the raw data of
a submission with the raw data of the reference solutions.

The same probes run in two places:

- in the grader's process, on the reference solutions (and on copies of them
  with a typical mistake put in), and in-process under the workspace's pytest;
- in a worker process on a student's files, as a script:
  `python -I -S -B probes.py FD < spec.json`. The worker reads its spec from stdin
  before any student code runs, sets its memory limit, imports the student's
  modules, and sends one line of JSON per event to file descriptor FD (a pipe only
  the grader reads). Student code can print what it likes: stdout is not the
  channel.

This file uses the standard library only and imports nothing from minigpt, so the
worker needs no site-packages (`-S`) and student code cannot reach minigpt.
"""
import gc
import importlib
import json
import math
import os
import random
import sys
import traceback
import types
import zlib

# Captured before any student code is imported: a submission that patches these
# names in their modules (or in builtins) does not change what the probes use.
_Random = random.Random
_float, _int, _str, _len, _isinstance, _repr = float, int, str, len, isinstance, repr
_write, _exit = os.write, os._exit
_extract_tb = traceback.extract_tb
_isfinite = math.isfinite
_float_repr = float.__repr__
_gc_collect, _gc_enable, _gc_disable, _gc_isenabled = gc.collect, gc.enable, gc.disable, gc.isenabled

MODULE_NAMES = ("engine", "nn", "gpt")
MODULE_METHODS = ("__call__", "zero_grad")  # what the student writes in nn.Module (task 2.1)
# Value's methods of the operations later engine tasks are built on (tasks 1.1 and 1.2)
OPERATION_METHODS = {"Value.+*": ("__add__", "__radd__", "__mul__", "__rmul__"), "Value.**": ("__pow__",)}


class ContractError(Exception):
    """The submission does not have a name, attribute or shape the contract fixes."""


# --------------------------------------------------------------------------------------
# Loading modules under the names engine / nn / gpt without touching sys.modules for long
# --------------------------------------------------------------------------------------
def load_source(name, source, deps, filename=None):
    """Execute `source` as a fresh module called `name` and return it.

    `deps` maps the names it imports (`engine`, `nn`) to modules; they are in
    sys.modules only while the source runs, and whatever was there before comes
    back afterwards, so several trios (reference, variants, a student's) live side
    by side in one process.
    """
    module = types.ModuleType(name)
    module.__file__ = filename or f"<{name}.py>"
    names = set(deps) | {name}
    saved = {n: sys.modules[n] for n in names if n in sys.modules}
    try:
        sys.modules.update(deps)
        sys.modules[name] = module
        exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        for n in names:
            if n in saved:
                sys.modules[n] = saved[n]
            else:
                sys.modules.pop(n, None)
    return module


def load_trio(sources, filename_prefix="<reference "):
    """engine, nn, gpt modules from their source texts (nn built on engine, gpt on both)."""
    engine = load_source("engine", sources["engine"], {}, f"{filename_prefix}engine.py>")
    nn = load_source("nn", sources["nn"], {"engine": engine}, f"{filename_prefix}nn.py>")
    gpt = load_source("gpt", sources["gpt"], {"engine": engine, "nn": nn}, f"{filename_prefix}gpt.py>")
    return Modules(engine, nn, gpt)


class Modules:
    """The three modules a probe works with; contract names are looked up with find()."""

    def __init__(self, engine=None, nn=None, gpt=None):
        self.engine, self.nn, self.gpt = engine, nn, gpt

    @property
    def Value(self):
        return self.find("Value", ("engine",))

    def find(self, name, where=("gpt", "nn")):
        """The contract name `name`: in gpt.py first, then nn.py (the contract allows either)."""
        for module_name in where:
            module = getattr(self, module_name)
            if module is not None and hasattr(module, name):
                return getattr(module, name)
        if "gpt" in where and self.gpt is None:
            raise ContractError(f"gpt.py is missing, and nn.py does not define {name} either")
        raise ContractError(f"{name} is not defined in {' or '.join(f'{m}.py' for m in where)}")

    def substitute(self, names, sources):
        """Use the reference's `names` (classes or functions) in place of the student's.

        The reference code is built on this trio's own engine, so only the named
        parts change. Both module attributes are patched, which is where the
        student's code looks the names up when it builds and calls things. The
        reference's modules are made subclasses of the student's Module too (see
        adopt_module_classes), so the student's parameters() finds them whatever
        its style.
        """
        operations = [name for name in names if name in OPERATION_METHODS]
        if operations:
            self.lend_operations(operations, sources["engine"])
        if "topological_order" in names:  # the reference's sort, over the student's own Values
            ref_engine = load_source("engine", sources["engine"], {}, "<reference engine.py>")
            self.engine.topological_order = ref_engine.topological_order
        names = [name for name in names if name not in OPERATION_METHODS and name != "topological_order"]
        if not names:
            return
        ref_nn = load_source("nn", sources["nn"], {"engine": self.engine}, "<reference nn.py>")
        ref_gpt = load_source("gpt", sources["gpt"], {"engine": self.engine, "nn": ref_nn}, "<reference gpt.py>")
        base = getattr(self.nn, "Module", None) if self.nn is not None else None
        if _isinstance(base, type):
            adopt_module_classes((ref_nn, ref_gpt), ref_nn.Module, base)
        for name in names:
            if name == "Module":  # the student's classes derive from it: lend it the reference's methods
                for method in MODULE_METHODS:
                    setattr(self.nn.Module, method, getattr(ref_nn.Module, method))
                continue
            ref = getattr(ref_gpt, name, None) or getattr(ref_nn, name)
            patched = False
            for module in (self.gpt, self.nn):
                if module is not None and hasattr(module, name):
                    setattr(module, name, ref)
                    patched = True
            if not patched:
                setattr(self.gpt if self.gpt is not None else self.nn, name, ref)


    def lend_operations(self, operations, engine_source):
        """Give the student's Value the reference's methods of these operations ("Value.+*"):
        the same code, with `Value` in it meaning the student's class, so the results are
        the student's Values and everything else (backward, -, /) stays the student's."""
        value = self.Value
        ref_engine = load_source("engine", engine_source, {}, "<reference engine.py>")
        names = dict(vars(ref_engine), Value=value)
        for operation in operations:
            for method in OPERATION_METHODS[operation]:
                f = getattr(ref_engine.Value, method)
                setattr(value, method, types.FunctionType(f.__code__, names, f.__name__, f.__defaults__, f.__closure__))


def adopt_module_classes(modules, ref_base, student_base):
    """Rebind every subclass of `ref_base` in `modules` to a subclass of it and of `student_base`.

    A student's parameters() (or __setattr__, or a helper of its Module) may look for
    instances of the student's own Module class: walking vars(self) or __dict__, a
    registry filled in __setattr__, isinstance tests. A reference LayerNorm standing
    in inside the student's TransformerBlock must then be such an instance, and so
    must the reference's own parts (the Linear layers inside a reference
    SelfAttention). The new class puts the reference first in its MRO (its forward,
    parameters, __call__ win) and the student's Module after it (anything else the
    student's code expects of a module); its __init__ runs the student's
    Module.__init__ first, when there is one, so that registries exist. Where the two
    cannot be combined (a metaclass or __slots__ conflict), the reference class is
    left as it is.
    """
    student_init = student_base.__init__
    made = {}

    def combined(cls):
        if cls not in made:
            def __init__(self, *args, **kwargs):
                if student_init is not object.__init__:
                    student_init(self)
                cls.__init__(self, *args, **kwargs)
            try:
                made[cls] = type(cls.__name__, (cls, student_base),
                                 {"__init__": __init__, "__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                  "__doc__": cls.__doc__})
            except TypeError:
                made[cls] = cls
        return made[cls]
    for module in modules:
        for name, obj in list(vars(module).items()):
            if _isinstance(obj, type) and obj is not ref_base and issubclass(obj, ref_base):
                setattr(module, name, combined(obj))


# --------------------------------------------------------------------------------------
# Reading numbers out of Values, and the probe's own backward driver
# --------------------------------------------------------------------------------------
def _read(v, attribute, where):
    """The float in v.data or v.grad, or a ContractError naming `where`."""
    try:
        x = getattr(v, attribute)
    except AttributeError:
        raise ContractError(f"{where} should be a Value (with .{attribute}), got {type(v).__name__}") from None
    try:
        return _float(x)
    except (TypeError, ValueError):
        raise ContractError(f"{where}.{attribute} should be a number, got {type(x).__name__}") from None


def number(v, where):
    return _read(v, "data", where)


def grad_of(v, where):
    return _read(v, "grad", where)


def as_list(x, where):
    if not _isinstance(x, (list, tuple)):
        raise ContractError(f"{where} should be a list, got {type(x).__name__}")
    return x


def numbers(x, shape, where, read=number):
    """Nested lists of Values -> nested lists of floats, checking the shape ((), (n,) or (n, m))."""
    if not shape:
        return read(x, where)
    x = as_list(x, where)
    if _len(x) != shape[0]:
        raise ContractError(f"{where} has length {_len(x)}, expected {shape[0]}")
    return [numbers(item, shape[1:], f"{where}[{i}]", read) for i, item in enumerate(x)]


def children_of(v):
    prev = getattr(v, "_prev", None)
    if prev is None:
        raise ContractError("a Value has no _prev (the Values it was computed from)")
    return list(prev)


def graph_nodes(root):
    """Every node under root once, children before parents (the probe's own order)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        v, expanded = stack.pop()
        if expanded:
            order.append(v)
        elif id(v) not in seen:
            seen.add(id(v))
            stack.append((v, True))
            stack.extend((c, False) for c in children_of(v) if id(c) not in seen)
    return order


def zero_grads(root):
    for v in graph_nodes(root):
        v.grad = 0.0


def driven_backward(root):
    """Backpropagate with the probe's own node order, calling each node's micrograd-style
    `_backward`: tests an operation's local derivatives apart from the student's backward()."""
    order = graph_nodes(root)
    root.grad = 1.0
    for v in reversed(order):
        v._backward()


def gradients(root, named):
    """Gradients of the named Values after backward from root, two ways.

    'driven': the probe's own order and each node's `_backward` (only when nodes
    have one); 'own': the student's `root.backward()`. A raised exception is kept
    as '<way>_error'.
    """
    raw = {}
    if callable(getattr(root, "_backward", None)):
        try:
            zero_grads(root)
            driven_backward(root)
            raw["driven"] = {n: grad_of(v, n) for n, v in named.items()}
        except Exception as exc:  # noqa: BLE001 - any failure of student code is data
            raw["driven_error"] = describe(exc)
    try:
        zero_grads(root)
        root.backward()
        raw["own"] = {n: grad_of(v, n) for n, v in named.items()}
    except Exception as exc:  # noqa: BLE001
        raw["own_error"] = describe(exc)
    return raw


def describe(exc):
    """An exception as data: type, message, and the student's line it came from.

    When that line is in engine.py and was called from nn.py or gpt.py (an
    OverflowError in exp(), called by a softmax without its max shift), the caller's
    line is given too: the cause is more often there."""
    try:
        message = _str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ is the student's
        message = "<the exception's message could not be read>"
    where = ""
    if _isinstance(exc, SyntaxError) and exc.filename:  # raised while compiling: no frame of its own
        where = f"{os.path.basename(exc.filename)} line {exc.lineno}: {(exc.text or '').strip()}"
    lines = []  # (file, "file line N: code") of each frame in the student's files
    for frame in _extract_tb(exc.__traceback__):
        name = os.path.basename(frame.filename)
        if name in ("engine.py", "nn.py", "gpt.py") and not frame.filename.startswith("<"):
            lines.append((name, f"{name} line {frame.lineno}: {(frame.line or '').strip()}"))
    if lines:
        where = lines[-1][1]
        callers = [line for name, line in lines if name != "engine.py"]
        if lines[-1][0] == "engine.py" and callers:
            where += f", called from {callers[-1]}"
    return {"type": type(exc).__name__, "message": message[:500], "where": where}


# --------------------------------------------------------------------------------------
# Deterministic numbers for weights and inputs
# --------------------------------------------------------------------------------------
def rng_for(seed, name):
    """A random.Random of its own for each (seed, name), so values do not depend on order."""
    return _Random(seed * 1000003 + zlib.crc32(name.encode()))


def random_matrix(seed, name, shape, low=-1.0, high=1.0):
    rng = rng_for(seed, name)
    if not shape:
        return rng.uniform(low, high)
    if _len(shape) == 1:
        return [rng.uniform(low, high) for _ in range(shape[0])]
    return [[rng.uniform(low, high) for _ in range(shape[1])] for _ in range(shape[0])]


# --------------------------------------------------------------------------------------
# The contract's modules: their weights by name, and their children
# --------------------------------------------------------------------------------------
def children(kind, a):
    """(attribute path, kind, constructor arguments) of each sub-module the contract names."""
    if kind == "Layer":
        return [(f"neurons.{i}", "Neuron", {"nin": a["nin"], "nonlin": a.get("nonlin", True)})
                for i in range(a["nout"])]
    if kind == "MLP":
        sizes = [a["nin"]] + list(a["nouts"])
        last = _len(a["nouts"]) - 1
        return [(f"layers.{i}", "Layer", {"nin": sizes[i], "nout": sizes[i + 1], "nonlin": i != last})
                for i in range(_len(a["nouts"]))]
    if kind == "FeedForward":
        d = a["embed_dim"]
        h = a.get("hidden_dim") or 4 * d
        return [("fc1", "Linear", {"in_features": d, "out_features": h}),
                ("fc2", "Linear", {"in_features": h, "out_features": d})]
    if kind == "SelfAttention":
        d = a["embed_dim"]
        return [(p, "Linear", {"in_features": d, "out_features": d, "bias": False})
                for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
    if kind == "TransformerBlock":
        d = a["embed_dim"]
        return [("ln1", "LayerNorm", {"dim": d}), ("attn", "SelfAttention", {"embed_dim": d}),
                ("ln2", "LayerNorm", {"dim": d}), ("ffn", "FeedForward", {"embed_dim": d})]
    if kind == "MiniGPT":
        d, v = a["embed_dim"], a["vocab_size"]
        return ([("tok_emb", "Embedding", {"num_embeddings": v, "embedding_dim": d}),
                 ("pos_emb", "Embedding", {"num_embeddings": a["max_seq_len"], "embedding_dim": d})]
                + [(f"blocks.{i}", "TransformerBlock", {"embed_dim": d, "num_heads": a["num_heads"]})
                   for i in range(a["num_layers"])]
                + [("ln_f", "LayerNorm", {"dim": d}),
                   ("lm_head", "Linear", {"in_features": d, "out_features": v, "bias": False})])
    return []


def weight_shapes(kind, a):
    """(path, shape) of every weight a `kind` module has under the contract, in a fixed order."""
    if kind == "Neuron":
        return [("w", (a["nin"],)), ("b", ())]
    if kind == "Linear":
        shapes = [("weight", (a["out_features"], a["in_features"]))]
        return shapes + ([("bias", (a["out_features"],))] if a.get("bias", True) else [])
    if kind == "Embedding":
        return [("weight", (a["num_embeddings"], a["embedding_dim"]))]
    if kind == "LayerNorm":
        return [("gamma", (a["dim"],)), ("beta", (a["dim"],))]
    return [(f"{path}.{p}", shape) for path, ckind, cargs in children(kind, a)
            for p, shape in weight_shapes(ckind, cargs)]


# Constructor parameters of each contract class, in order: (name, has a default).
SIGNATURES = {
    "Neuron": (("nin", False), ("nonlin", True)),
    "Layer": (("nin", False), ("nout", False), ("nonlin", True)),
    "MLP": (("nin", False), ("nouts", False)),
    "Linear": (("in_features", False), ("out_features", False), ("bias", True)),
    "Embedding": (("num_embeddings", False), ("embedding_dim", False)),
    "LayerNorm": (("dim", False), ("eps", True)),
    "FeedForward": (("embed_dim", False), ("hidden_dim", True)),
    "SelfAttention": (("embed_dim", False),),
    "TransformerBlock": (("embed_dim", False), ("num_heads", False)),
    "MiniGPT": (("vocab_size", False), ("embed_dim", False), ("num_heads", False), ("num_layers", False),
                ("max_seq_len", False)),
}


def construct(m, kind, a):
    """kind(*required, **optional) with the contract's argument names."""
    cls = m.find(kind)
    required = [a[name] for name, optional in SIGNATURES[kind] if not optional]
    optional = {name: a[name] for name, opt in SIGNATURES[kind] if opt and name in a}
    return cls(*required, **optional)


def resolve(obj, path, top):
    """obj.blocks.0.attn -> the object at that contract path (list items by index)."""
    here = top
    for part in path.split("."):
        if part.isdigit():
            seq = as_list(obj, here)
            if _int(part) >= _len(seq):
                raise ContractError(f"{here} has {_len(seq)} items, expected more than {part}")
            obj = seq[_int(part)]
        else:
            if not hasattr(obj, part):
                raise ContractError(f"{here} has no attribute {part!r}")
            obj = getattr(obj, part)
        here = f"{here}.{part}"
    return obj


def flatten(x):
    if _isinstance(x, (list, tuple)):
        return [v for item in x for v in flatten(item)]
    return [x]


def set_weights(obj, kind, a, seed, top, scales=None, fixed=None):
    """Assign every contract weight's .data from the seed; returns {path: nested Values}."""
    scales, fixed = scales or {}, fixed or {}
    weights = {}
    for path, shape in weight_shapes(kind, a):
        tensor = resolve(obj, path, top)
        numbers(tensor, shape, f"{top}.{path}")  # checks the shape and that these are Values
        leaf = path.rsplit(".", 1)[-1]
        if path in fixed:
            values = fixed[path]
        elif leaf == "gamma":
            values = random_matrix(seed, path, shape, 0.5, 1.5)
        else:
            values = random_matrix(seed, path, shape)
        scale = scales.get(path, 1.0)
        for v, x in zip(flatten(tensor), flatten(values)):
            v.data = x * scale
        weights[path] = tensor
    return weights


def parameter_findings(obj, weights, top):
    """What parameters() returns, compared with the contract's weights (by identity)."""
    expected = {}
    for path, tensor in weights.items():
        for i, v in enumerate(flatten(tensor)):
            expected[id(v)] = f"{top}.{path}" + (f"[{i}]" if _isinstance(tensor, (list, tuple)) else "")
    got = list(obj.parameters())
    ids = [id(p) for p in got]
    unique = set(ids)
    missing = [name for key, name in expected.items() if key not in unique]
    return {"count": _len(got), "expected": _len(expected), "missing": missing[:5], "n_missing": _len(missing),
            "extra": _len([k for k in unique if k not in expected]), "duplicates": _len(ids) - _len(unique)}


OUTPUT_SHAPES = {
    "Neuron": lambda a, n: (),
    "Layer": lambda a, n: (a["nout"],),
    "MLP": lambda a, n: (a["nouts"][-1],),
    "Linear": lambda a, n: (a["out_features"],),
    "Embedding": lambda a, n: (n, a["embedding_dim"]),
    "LayerNorm": lambda a, n: (a["dim"],),
    "FeedForward": lambda a, n: (a["embed_dim"],),
    "SelfAttention": lambda a, n: (n, a["embed_dim"]),
    "TransformerBlock": lambda a, n: (n, a["embed_dim"]),
    "MiniGPT": lambda a, n: (n, a["vocab_size"]),
}


def make_input(m, spec, seed):
    """The module's input: token ids, or a vector / sequence of fresh Values."""
    if "ids" in spec:
        return list(spec["ids"]), None
    shape = tuple(spec["shape"])
    values = random_matrix(seed, "input", shape)
    scale, offset = spec.get("scale", 1.0), spec.get("offset", 0.0)
    if _len(shape) == 1:
        x = [m.Value(offset + scale * v) for v in values]
    else:
        x = [[m.Value(offset + scale * v) for v in row] for row in values]
    return x, shape


def weighted_sum(out_values, seed):
    """L = sum_i c_i * out_i with fixed coefficients c_i: one scalar to backpropagate from,
    whose gradients reach every output."""
    rng = rng_for(seed, "loss coefficients")
    total = None
    for v in out_values:
        term = v * rng.uniform(-1.0, 1.0)
        total = term if total is None else total + term
    return total


# --------------------------------------------------------------------------------------
# The probes. Each takes (modules, args) and returns plain data.
# --------------------------------------------------------------------------------------
# Expressions of one or two Values for the engine's operations. DIRECT ones are single
# operations whose result must list its Value inputs in _prev.
OPS = {
    "a + b": lambda a, b: a + b, "a + 2": lambda a, b: a + 2, "2 + a": lambda a, b: 2 + a,
    "a * b": lambda a, b: a * b, "a * 3": lambda a, b: a * 3, "3 * a": lambda a, b: 3 * a,
    "a ** 2": lambda a, b: a ** 2, "a ** 3": lambda a, b: a ** 3, "a ** -1": lambda a, b: a ** -1,
    "a ** 0.5": lambda a, b: a ** 0.5,
    "-a": lambda a, b: -a, "a - b": lambda a, b: a - b, "a - 1": lambda a, b: a - 1, "1 - a": lambda a, b: 1 - a,
    "a / b": lambda a, b: a / b, "a / 2": lambda a, b: a / 2, "2 / a": lambda a, b: 2 / a,
    "exp(a)": lambda a, b: a.exp(), "log(a)": lambda a, b: a.log(),
    "tanh(a)": lambda a, b: a.tanh(), "relu(a)": lambda a, b: a.relu(),
}
DIRECT = ("a + b", "a + 2", "2 + a", "a * b", "a * 3", "3 * a", "a ** 2", "a ** 3", "a ** -1", "a ** 0.5",
          "exp(a)", "log(a)", "tanh(a)", "relu(a)")


def probe_op(m, args):
    """One operation: its value, whether _prev holds its inputs, the inputs' gradients."""
    named = {"a": m.Value(args["a"])}
    if "b" in args:
        named["b"] = m.Value(args["b"])
    out = OPS[args["expr"]](named["a"], named.get("b"))
    raw = {"data": number(out, "the result")}
    if args["expr"] in DIRECT:
        raw["children"] = sorted(n for n, v in named.items() if any(c is v for c in children_of(out)))
    raw.update(gradients(out, named))
    return raw


# Small graphs of + and * for topological order, backward and accumulation:
# leaves with their values, then (name, op, left, right) steps; the last step is the root.
# A step of one input (right None) applies a function: tanh, exp, log, relu, or ** 2.
GRAPHS = {
    # `a` feeds c and b, and b feeds c and L: each needs every contribution before passing on
    "shared": {"leaves": {"x": 0.5, "y": -1.5},
               "steps": [("a", "*", "x", "y"), ("b", "+", "a", "x"), ("c", "*", "a", "b"), ("L", "+", "c", "b")]},
    # `a` is one step from L and four steps away through h1..h3
    "shallow_and_deep": {"leaves": {"x": 1.5, "y": -0.5, "z": 2.0},
                         "steps": [("a", "*", "x", "y"), ("h1", "*", "a", "z"), ("h2", "+", "h1", "y"),
                                   ("h3", "*", "h2", "h1"), ("L", "+", "a", "h3")]},
    # `a` is used by four nodes
    "wide": {"leaves": {"x": -0.7, "y": 1.3},
             "steps": [("a", "+", "x", "y"), ("b", "*", "a", "x"), ("c", "*", "a", "y"), ("d", "+", "a", "b"),
                       ("e", "*", "c", "d"), ("L", "+", "e", "a")]},
    # trees: every node used once
    "chain": {"leaves": {"a": 2.0, "b": -3.0, "c": 10.0, "d": -2.0},
              "steps": [("e", "*", "a", "b"), ("f", "+", "e", "c"), ("L", "*", "f", "d")]},
    "single": {"leaves": {"a": 1.5, "b": -2.0}, "steps": [("L", "*", "a", "b")]},
    "tree": {"leaves": {"a": 0.5, "b": 4.0, "c": -1.5, "d": 2.0, "k": -0.25},
             "steps": [("e", "*", "a", "b"), ("f", "*", "c", "d"), ("g", "+", "e", "f"), ("L", "*", "g", "k")]},
    # leaves used twice
    "add_twice": {"leaves": {"a": 3.0}, "steps": [("L", "+", "a", "a")]},
    "mul_twice": {"leaves": {"a": -1.5}, "steps": [("L", "*", "a", "a")]},
    "two_branches": {"leaves": {"x": 2.0, "y": 0.5, "z": -3.0},
                     "steps": [("p", "*", "x", "y"), ("q", "*", "x", "z"), ("L", "+", "p", "q")]},
    "cube": {"leaves": {"x": -1.25}, "steps": [("s", "*", "x", "x"), ("L", "*", "s", "x")]},
    # x used twice, once through each of the other operations: every _backward must add
    "add_and_x": {"leaves": {"x": 1.5}, "steps": [("s", "+", "x", 1.0), ("L", "*", "s", "x")]},
    "pow_and_x": {"leaves": {"x": 1.5}, "steps": [("p", "**2", "x", None), ("L", "+", "p", "x")]},
    "exp_log_and_x": {"leaves": {"x": 0.8}, "steps": [("e", "exp", "x", None), ("g", "log", "x", None),
                                                      ("s", "+", "e", "g"), ("L", "+", "s", "x")]},
    "tanh_relu_and_x": {"leaves": {"x": 0.6}, "steps": [("t", "tanh", "x", None), ("r", "relu", "x", None),
                                                        ("s", "+", "t", "r"), ("L", "+", "s", "x")]},
}

UNARY = {"tanh": lambda v: v.tanh(), "exp": lambda v: v.exp(), "log": lambda v: v.log(),
         "relu": lambda v: v.relu(), "**2": lambda v: v ** 2}


def build_graph(m, name):
    graph = GRAPHS[name]
    nodes = {n: m.Value(x) for n, x in graph["leaves"].items()}
    for node, op, left, right in graph["steps"]:
        if op in UNARY:
            nodes[node] = UNARY[op](nodes[left])
            continue
        other = nodes[right] if right in nodes else right  # a number: Value + 1.0
        nodes[node] = nodes[left] + other if op == "+" else nodes[left] * other
    return nodes, nodes[graph["steps"][-1][0]]


def probe_graph(m, args):
    """A graph of + and *: the order engine.topological_order gives (if there is one) and
    every named node's gradient, driven by the probe and by the student's backward(); for
    the ways the check accepts, also the order of backward()'s _backward calls and whether
    each _backward adds to the grads it reaches."""
    nodes, root = build_graph(m, args["graph"])
    raw = {"data": number(root, "the root")}
    order_fn = getattr(m.engine, "topological_order", None)
    if callable(order_fn):
        try:
            names = {id(v): n for n, v in nodes.items()}
            raw["order"] = [names.get(id(v), "?") for v in order_fn(root)]
        except Exception as exc:  # noqa: BLE001
            raw["order_error"] = describe(exc)
    raw.update(gradients(root, nodes))
    if "accumulation" in args.get("ways", ()):
        raw.update(accumulation(nodes))
    if "calls" in args.get("ways", ()):
        raw.update(backward_calls(root, nodes))
    return raw


ACCUMULATION_START = 0.75  # a grad already there before a node's _backward runs


def accumulation(nodes):
    """Does each operation node's `_backward` add to its inputs' grads or set them?

    For every node with inputs: the inputs' grads after one `_backward` call from 0.0,
    and what that call added to a grad that was ACCUMULATION_START before (out.grad is
    1.0 both times). Adding means the two agree, whatever the local derivatives are,
    so accumulation is judged apart from them."""
    pairs = {}
    try:
        for name, v in nodes.items():
            inputs = children_of(v)
            if not inputs:
                continue
            for c in inputs:
                c.grad = 0.0
            v.grad = 1.0
            v._backward()
            first = [grad_of(c, "an input") for c in inputs]
            for c in inputs:
                c.grad = ACCUMULATION_START
            v.grad = 1.0
            v._backward()
            pairs[name] = [[f, grad_of(c, "an input") - ACCUMULATION_START] for f, c in zip(first, inputs)]
    except Exception as exc:  # noqa: BLE001
        return {"accumulation_error": describe(exc)}
    return {"accumulation": pairs}


def backward_calls(root, nodes):
    """The order in which the student's root.backward() calls the named nodes' `_backward`.

    That order is the student's topological order (reversed), whatever the local
    derivatives inside each `_backward` compute, so the sort is judged apart from
    the operations. Empty when an operation node has no `_backward` to wrap; a raised
    exception is kept as 'calls_error'."""
    calls = []

    def recorder(name, original):
        def _backward():
            calls.append(name)
            return original()
        return _backward
    for name, v in nodes.items():
        if not children_of(v):
            continue  # a leaf: what its _backward does (if it has one) does not matter
        original = getattr(v, "_backward", None)
        if not callable(original):
            return {}
        v._backward = recorder(name, original)
    try:
        zero_grads(root)
        root.backward()
    except Exception as exc:  # noqa: BLE001
        return {"calls_error": describe(exc)}
    return {"calls": calls}


def probe_call(m, args):
    """Calling a Module subclass calls its forward with the same arguments."""
    class Scaler(m.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale + 0.5
    return {"result": _float(Scaler()(3.0, scale=2.0))}


def probe_zero_grad(m, args):
    """zero_grad() sets the grad of everything parameters() returns to 0.0."""
    values = [m.Value(x) for x in (1.0, -2.0, 0.5)]

    class Holder(m.nn.Module):
        def parameters(self):
            return values
    for v, g in zip(values, (0.5, -1.0, 2.0)):
        v.grad = g
    Holder().zero_grad()
    return {"grads": [grad_of(v, f"parameter {i}") for i, v in enumerate(values)]}


def probe_module(m, args):
    """Build a contract module, set its weights by name, run forward on a fixed input,
    backpropagate a fixed weighted sum of the output; outputs and every gradient."""
    kind, a, seed = args["kind"], args["ctor"], args["seed"]
    top = args.get("name", kind)
    obj = construct(m, kind, a)
    weights = set_weights(obj, kind, a, seed, top, args.get("scales"), args.get("fixed"))
    raw = {}
    if kind == "Linear":
        raw["bias_is_none"] = getattr(obj, "bias", "missing") is None
    if args.get("parameters_only"):
        raw["params"] = parameter_findings(obj, weights, top)
        return raw
    x, in_shape = make_input(m, args["input"], seed)
    out = obj(x, **args.get("call", {}))
    shape = OUTPUT_SHAPES[kind](a, _len(x))
    if kind in ("Layer", "MLP") and shape == (1,) and not _isinstance(out, (list, tuple)):
        out = [out]  # micrograd's Layer returns a lone Value for one output
    raw["out"] = numbers(out, shape, "the output")
    loss = weighted_sum(flatten(out), seed)
    loss.backward()
    raw["grads"] = {} if in_shape is None else {"x": numbers(x, in_shape, "x", grad_of)}
    for path, tensor in weights.items():
        raw["grads"][path] = numbers(tensor, _shape_of(tensor), path, grad_of)
    return raw


def _shape_of(tensor):
    if not _isinstance(tensor, (list, tuple)):
        return ()
    return (_len(tensor),) + _shape_of(tensor[0]) if tensor else (0,)


def probe_raises(m, args):
    """Does a call raise? Returns the exception's type and message (or None)."""
    obj = construct(m, args["kind"], args["ctor"])
    try:
        obj(list(args["ids"]))
    except Exception as exc:  # noqa: BLE001
        return {"raised": type(exc).__name__, "value_error": _isinstance(exc, ValueError), "message": _str(exc)[:300]}
    return {"raised": None, "value_error": False}


def probe_loss(m, args):
    """cross_entropy_loss on fixed logits: the loss and its gradient for every logit."""
    T, V, seed = args["T"], args["V"], args["seed"]
    values = random_matrix(seed, "logits", (T, V), -args.get("spread", 2.0), args.get("spread", 2.0))
    logits = [[m.Value(args.get("offset", 0.0) + z) for z in row] for row in values]
    loss = m.find("cross_entropy_loss")(logits, list(args["targets"]))
    raw = {"loss": number(loss, "the loss")}
    loss.backward()
    raw["grads"] = {"logits": numbers(logits, (T, V), "logits", grad_of)}
    return raw


def model_with_weights(m, args):
    """A MiniGPT with every weight set from the seed (lm_head scaled for spread-out logits)."""
    a = args["ctor"]
    model = construct(m, "MiniGPT", a)
    set_weights(model, "MiniGPT", a, args["seed"], "model", {"lm_head.weight": args.get("head_scale", 1.0)})
    return model


def probe_generate(m, args):
    """generate()'s return value for one call: ids, after a fixed random.seed."""
    model = model_with_weights(m, args)
    random.seed(args["seed"])
    ids = m.find("generate")(model, list(args["prompt"]), args["new"], temperature=args.get("temperature", 1.0))
    return {"ids": _returned_ids(ids)}


def _returned_ids(ids):
    if not _isinstance(ids, (list, tuple)):
        return _repr(ids)[:200]
    return [i if _isinstance(i, _int) and not _isinstance(i, bool) else _repr(i)[:50] for i in ids]


def probe_sampling(m, args):
    """Many one-token generate() calls from the same prompt: how often each id comes out,
    and the logits the model gives for the cropped context (to compute what to expect)."""
    model = model_with_weights(m, args)
    prompt, context_len = list(args["prompt"]), args["ctor"]["max_seq_len"]
    logits = numbers(model(prompt[-context_len:])[-1], (args["ctor"]["vocab_size"],), "the model's last logits")
    generate = m.find("generate")
    counts = [0] * args["ctor"]["vocab_size"]
    random.seed(args["seed"])
    for _ in range(args["draws"]):
        ids = generate(model, list(prompt), 1, temperature=args["temperature"])
        got = _returned_ids(ids)
        if (not _isinstance(got, list) or _len(got) != _len(prompt) + 1 or got[:-1] != prompt
                or not _isinstance(got[-1], _int) or not 0 <= got[-1] < _len(counts)):
            return {"logits": logits, "bad_return": _repr(got)[:200],
                    "returned_length": _len(got) if _isinstance(got, list) else None}
        counts[got[-1]] += 1
        collect_garbage()
    return {"logits": logits, "counts": counts}


def training_sequence(args):
    rng = rng_for(args["seed"], "sequence")
    return [rng.randrange(args["ctor"]["vocab_size"]) for _ in range(args["T"] + 1)]


def probe_init_loss(m, args):
    """The loss of freshly built models (the student's own initialisation), averaged over
    every possible target at each position: each row of logits goes to cross_entropy_loss
    once per token id. (Averaging over targets, not drawing them, takes out the noise.)"""
    vocab = args["ctor"]["vocab_size"]
    losses = []
    for seed in args["seeds"]:
        random.seed(seed)
        model = construct(m, "MiniGPT", args["ctor"])
        logits = model(training_sequence(dict(args, seed=seed))[:-1])
        rows = [row for row in logits for _ in range(vocab)]
        targets = [t for _ in logits for t in range(vocab)]
        losses.append(number(m.find("cross_entropy_loss")(rows, targets), "the loss"))
        collect_garbage()
    return {"losses": losses}


def probe_causality(m, args):
    """Logits for two sequences that differ only at position k (the student's own init)."""
    random.seed(args["seed"])
    model = construct(m, "MiniGPT", args["ctor"])
    a = list(args["ids"])
    b = list(a)
    b[args["k"]] = (a[args["k"]] + 1) % args["ctor"]["vocab_size"]
    shape = (_len(a), args["ctor"]["vocab_size"])
    return {"a": numbers(model(a), shape, "logits"), "b": numbers(model(b), shape, "logits"), "k": args["k"]}


def probe_overfit(m, args):
    """Train on one short sequence with a plain Adam run by the probe on parameters();
    returns the loss at every step."""
    random.seed(args["seed"])
    model = construct(m, "MiniGPT", args["ctor"])
    params = list(model.parameters())
    seq = training_sequence(args)
    lr, (b1, b2), eps = args["lr"], (0.9, 0.99), 1e-8
    mom, vel = [0.0] * _len(params), [0.0] * _len(params)
    losses = []
    for step in range(1, args["steps"] + 1):
        for p in params:
            p.grad = 0.0
        loss = m.find("cross_entropy_loss")(model(seq[:-1]), seq[1:])
        losses.append(number(loss, "the loss"))
        loss.backward()
        for i, p in enumerate(params):
            g = grad_of(p, "a parameter")
            mom[i] = b1 * mom[i] + (1 - b1) * g
            vel[i] = b2 * vel[i] + (1 - b2) * g * g
            p.data -= lr * (mom[i] / (1 - b1 ** step)) / ((vel[i] / (1 - b2 ** step)) ** 0.5 + eps)
        del loss
        collect_garbage()
    final = m.find("cross_entropy_loss")(model(seq[:-1]), seq[1:])
    losses.append(number(final, "the loss"))
    return {"losses": losses, "n_params": _len(params)}


PROBES = {
    "op": probe_op, "graph": probe_graph, "call": probe_call, "zero_grad": probe_zero_grad,
"module": probe_module, "raises": probe_raises,
    "loss": probe_loss, "generate": probe_generate, "sampling": probe_sampling,
    "init_loss": probe_init_loss, "causality": probe_causality, "overfit": probe_overfit,
}


# CPython only: micrograd-style nodes hold closures that refer back to them, so a dropped
# graph is a heap of reference cycles, and CPython's cyclic collector would rescan every
# live node again and again while a graph is built (about 10x slower). The collector is
# paused while a probe runs, and the probes call collect_garbage() after each training
# step or draw, when the old graph is garbage: only the youngest generation is scanned,
# as the dropped graph is all in it. (PyPy's collector copes with cycles as they come,
# and pausing it would stop its major collections, so it is left alone there.)
_PAUSE_COLLECTOR = sys.implementation.name == "cpython"


def collect_garbage():
    """Free the last graph (see _PAUSE_COLLECTOR)."""
    if _PAUSE_COLLECTOR:
        _gc_collect(0)


def run_check(check, m, keep_exception=False):
    """{'raw': ...} or {'error': ...} for one check ({'probe', 'args'}) on modules m.
    With keep_exception, an error answer also holds the exception itself (in-process use)."""
    collector_was_on = _gc_isenabled()
    if _PAUSE_COLLECTOR:
        _gc_disable()
    try:
        return {"raw": PROBES[check["probe"]](m, check["args"])}
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, anything
        error = ({"type": "ContractError", "message": _str(exc), "where": ""} if _isinstance(exc, ContractError)
                 else describe(exc))
        return {"error": error, "exception": exc} if keep_exception else {"error": error}
    finally:
        collect_garbage()
        if collector_was_on:
            _gc_enable()


# --------------------------------------------------------------------------------------
# The worker: one process per task, on a sandbox copy of a student's files
# --------------------------------------------------------------------------------------
def _encode(obj):
    """JSON text for dicts, lists, strings, numbers, booleans and None.

    Written here rather than taken from the json module, because student code
    running in this process could patch json; this uses only builtins captured
    before it was imported.
    """
    if obj is None:
        return "null"
    if obj is True:
        return "true"
    if obj is False:
        return "false"
    if _isinstance(obj, _int):
        return _str(_int(obj))
    if _isinstance(obj, _float):
        if _isfinite(obj):
            return _float_repr(obj)
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if _isinstance(obj, _str):
        out = ['"']
        for ch in obj:
            code = ord(ch)
            if ch in '"\\' or code < 0x20 or code > 0x7e:
                if code > 0xFFFF:  # a surrogate pair
                    code -= 0x10000
                    out.append("\\u%04x\\u%04x" % (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)))
                else:
                    out.append("\\u%04x" % code)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if _isinstance(obj, dict):
        return "{" + ", ".join(_encode(_str(k)) + ": " + _encode(v) for k, v in obj.items()) + "}"
    if _isinstance(obj, (list, tuple)):
        return "[" + ", ".join(_encode(v) for v in obj) + "]"
    return _encode(_repr(obj))


class Channel:
    """Lines of JSON to the grader, through the pipe it passed us."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, **message):
        data = (_encode(message) + "\n").encode("utf-8")
        while data:
            data = data[_write(self.fd, data):]


def limit_memory(megabytes):
    """Cap this process's address space (soft and hard, so student code cannot lift it)."""
    try:
        import resource
        cap = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        return True
    except (ImportError, ValueError, OSError, AttributeError):
        return False  # not available here (e.g. Windows); the grader's time limit still holds


def finish():
    """Flush what the student's code printed (the grader shows it), then end the process
    without running any atexit handler the student's code may have registered."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a replaced or closed stream is the student's
            pass
    _exit(0)


def serve(fd):
    """The worker's main loop: import the student's modules, run the checks, report each."""
    spec = json.loads(sys.stdin.read())  # before any student code runs
    channel = Channel(fd)
    channel.send(event="hello", memory_capped=limit_memory(spec["memory_mb"]))
    sys.path.insert(0, os.getcwd())  # the sandbox: the student's files and nothing else
    loaded = {}
    for name in spec["modules"]:
        channel.send(event="import", module=name)
        if not os.path.exists(name + ".py"):
            if name == "gpt" and "nn" in loaded:
                loaded[name] = None  # the gpt names may live in nn.py
                continue
            channel.send(event="import_error", module=name,
                         error={"type": "MissingFile", "message": f"{name}.py is missing from the submission",
                                "where": ""})
            finish()
        try:
            loaded[name] = importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, anything
            channel.send(event="import_error", module=name, error=describe(exc))
            finish()
    m = Modules(loaded.get("engine"), loaded.get("nn"), loaded.get("gpt"))
    if spec.get("substitute"):
        m.substitute(spec["substitute"], spec["reference"])
    channel.send(event="ready")
    for check in spec["checks"]:
        channel.send(event="start", check=check["id"])
        channel.send(event="done", check=check["id"], **run_check(check, m))
    finish()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
