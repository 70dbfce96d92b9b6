"""minigpt/tape.py: a compiled program run as a tape of kernels (backend="tape").

What is checked:
1. The tape runs the source's lines on the same numbers: every engine operation and
   fused helper (compile_graph), and Mini-GPT steps fused and primitive, single and in
   batches, give the source backend's floats exactly (==), values and gradients.
2. Templates: numbers and the program's constants become arguments, slots become
   R[...] and Q[...], and a model's nodes share a few dozen kernels.
3. Errors are the source's: the same exception, naming the same operation and line.
"""
import random

import pytest

from minigpt import tape as tape_module
from minigpt.compile import STEP_BACKEND, StepPrograms, compile_graph, compile_step
from minigpt.engine import Value
from minigpt.gpt import MiniGPT, MiniGPTConfig
from minigpt.program import BACKENDS
from minigpt.tape import _template

from test_compile import CONFIGS, OPS, compiled_step, config_id, draws


def run_both(build, trace, runs):
    xs = [Value(x) for x in trace]
    root = build(*xs)
    source, tape = compile_graph(root, xs), compile_graph(root, xs, backend="tape")
    assert source.tape is None and tape.tape is not None
    for values in [trace] + runs:
        try:
            expected = source(values)
        except (ArithmeticError, ValueError) as err:
            with pytest.raises(type(err)) as got:
                tape(values)
            assert str(got.value) == str(err)
            continue
        assert tape(values) == expected, values


# ---- 1. the same floats --------------------------------------------------------------------
@pytest.mark.parametrize("name,build,trace,runs", OPS, ids=[op[0] for op in OPS])
def test_every_operation_gives_the_sources_floats(name, build, trace, runs):
    run_both(build, trace, runs)


@pytest.mark.parametrize("primitive", [False, True], ids=["fused", "primitive"])
@pytest.mark.parametrize("config", CONFIGS[:6], ids=config_id)
def test_step_gives_the_sources_floats(config, primitive):
    rng = random.Random(config_id(config))
    random.seed(config_id(config))
    model = MiniGPT(config)
    for T in sorted({1, config.context_len}):
        source = compile_step(model, T, primitive=primitive, backend="source")
        tape = compile_step(model, T, primitive=primitive, backend="tape")
        for ids, targets in draws(config.vocab_size, T, rng):
            assert compiled_step(tape, ids, targets, 0.25) == compiled_step(source, ids, targets, 0.25)
            assert tape.loss(ids, targets) == source.loss(ids, targets)


def test_a_batch_on_tapes_gives_the_sources_floats():
    random.seed(3)
    model = MiniGPT(27, 16, 4, 1, 16)
    rng = random.Random(3)
    batch = [([rng.randrange(27) for _ in range(T)], [rng.randrange(27) for _ in range(T)]) for T in (5, 9, 5, 16)]
    results = []
    for backend in ("source", "tape"):
        programs = StepPrograms(model, backend=backend)
        model.zero_grad()
        with programs.batch():
            losses = [programs(ids, targets, seed=0.25) for ids, targets in batch]
        results.append((losses, [p.grad for p in model.parameters()]))
    model.zero_grad()
    assert results[0] == results[1]
    assert any(g != 0.0 for g in results[0][1])


def test_the_default_backend():
    import platform
    assert STEP_BACKEND == ("tape" if platform.python_implementation() == "PyPy" else "source")
    assert STEP_BACKEND in BACKENDS


# ---- 2. templates and kernels -----------------------------------------------------------------
def test_numbers_become_arguments():
    assert _template(["v[6216] = v[r0] + v[432]"], {}) == ("v[_a0] = v[R[_a1]] + v[_a2]", (6216, 0, 432))
    template, args = _template(["v[7] = sum(v[1:5]) * 0.0625", "v[8], aux[2] = rsqrt_var(v[1:5], 1e-05)"], {})
    assert template == "v[_a0] = sum(v[_a1:_a2]) * _a3\nv[_a4], aux[_a5] = rsqrt_var(v[_a6:_a7], _a8)"
    assert args == (7, 1, 5, 0.0625, 8, 2, 1, 5, 1e-05)
    assert all(type(a) is int for a in args[:3]) and type(args[3]) is float


def test_signs_stay_operators_and_names_stay_names():
    template, args = _template(["g[3] += -1.0 * g[9]  # b.grad += ..."], {})
    assert template == "g[_a0] += -_a1 * g[_a2]" and args == (3, 1.0, 9)
    # digits inside names (aux, take3, r3n) are not numbers; q2 is the target's logit
    template, args = _template(["r3n = v[4] * v[q2] / take3(g)[0]"], {"take3": len})
    assert template == "r3n = v[_a0] * v[Q[_a1]] / _a2(g)[_a3]" and args == (4, 2, len, 0)


def test_a_models_nodes_share_few_kernels():
    random.seed(0)
    model = MiniGPT(27, 16, 4, 1, 16)
    step = compile_step(model, 8, backend="tape")
    calls = [c for tape in step._program.tapes for c in tape.calls()]
    kernels = {k for k, _, _ in calls}
    assert len(calls) > 1000 and len(kernels) < 100
    # runs of one kernel in a row are one entry: a loop over their arguments
    assert sum(len(tape) for tape in step._program.tapes) < len(calls) / 2
    again = compile_step(model, 8, backend="tape")   # the same templates: the same functions
    assert {k for k, _, _ in again._program.tapes[0].calls()} <= kernels
    assert "kernel 0" in step.tape and "# the backward tape" in step.tape


def test_a_small_expressions_tape_reads_like_its_source():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    cg = compile_graph((a * b + c).tanh(), backend="tape")
    text = cg.tape
    assert "v[_a0] = v[_a1] * v[_a2]" in text and "(3, 0, 1)" in text
    assert "g[_a0] += v[_a1] * g[_a2]" in text
    assert cg([1.0, 2.0, 3.0]) == compile_graph((a * b + c).tanh())([1.0, 2.0, 3.0])


def test_kernels_are_compiled_once_per_template():
    n = len(tape_module._KERNELS)
    x = Value(1.5)
    compile_graph(x * 2.0 + 1.0, [x], backend="tape")
    m = len(tape_module._KERNELS)
    compile_graph(x * 7.0 + 3.0, [x], backend="tape")   # other numbers, the same kernels
    assert len(tape_module._KERNELS) == m >= n


# ---- 3. errors --------------------------------------------------------------------------------
def test_an_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match="backend must be one of 'source', 'tape', got 'fast'"):
        compile_graph(Value(1.0) * 2.0, backend="fast")


@pytest.mark.parametrize("build,trace,run", [
    (lambda x: x.exp() * 2.0, [1.0], [1000.0]),
    (lambda a, b: (a * b).tanh(), [1.0, 2.0], [1e200, 1e200]),
    (lambda a: a.log(), [2.0], [-1.0]),
    (lambda a, b: a / b, [1.0, 2.0], [1.0, 0.0]),
], ids=["exp-overflow", "mul-overflow", "log-negative", "div-zero"])
def test_errors_name_the_same_operation_and_line(build, trace, run):
    run_both(build, trace, [run])
    xs = [Value(x) for x in trace]
    with pytest.raises((ArithmeticError, ValueError), match=r"compiled program, line \d+"):
        compile_graph(build(*xs), xs, backend="tape")(run)


def test_a_step_that_overflows_on_a_tape_leaves_the_grads_alone():
    model = MiniGPT(MiniGPTConfig(4, 1, 1, 4, 5, 3, "learned", True), rng=random.Random(6))
    source, tape = compile_step(model, 2, backend="source"), compile_step(model, 2, backend="tape")
    for p in model.ln_f.parameters():
        p.data = 1e160
    for row in model.E:
        for w in row:
            w.data = 1e160
    model.zero_grad()
    with pytest.raises(OverflowError, match=r"^dot overflowed.*line \d+: aux") as expected:
        source([1, 2], [2, 3])
    # the tape's program writes a linear layer as one call of a loop (codegen's `loops`)
    with pytest.raises(OverflowError, match=r"^dot overflowed.*line \d+: linear_rows\(v, ") as got:
        tape([1, 2], [2, 3])
    assert str(got.value).split(":")[0] == str(expected.value).split(":")[0]
    assert all(p.grad == 0.0 for p in model.parameters())
