"""Every operation of `Value`: forward value against `math`, gradient against central
differences (many inputs, via hypothesis) and against PyTorch float64 when installed."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minigpt import Value, gradcheck


def gelu_ref(x):
    return 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def sigmoid_ref(x):
    return 1 / (1 + math.exp(-x))


reals = st.floats(-5, 5, allow_nan=False)
positive = st.floats(0.05, 20)
away_from_zero = reals.filter(lambda x: abs(x) > 1e-3)  # keep off relu's kink

# name -> (build with Value, reference with floats, input strategy)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, reals),
    "exp": (lambda x: x.exp(), math.exp, reals),
    "log": (lambda x: x.log(), math.log, positive),
    "tanh": (lambda x: x.tanh(), math.tanh, reals),
    "relu": (lambda x: x.relu(), lambda x: max(x, 0.0), away_from_zero),
    "sigmoid": (lambda x: x.sigmoid(), sigmoid_ref, reals),
    "gelu": (lambda x: x.gelu(), gelu_ref, reals),
    "sqrt": (lambda x: x.sqrt(), math.sqrt, positive),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2, reals),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, reals),
    "pow_half": (lambda x: x ** 0.5, lambda x: x ** 0.5, positive),
    "pow_minus1": (lambda x: x ** -1, lambda x: x ** -1, positive),
    "pow_minus2.5": (lambda x: x ** -2.5, lambda x: x ** -2.5, positive),
    "rpow": (lambda x: 2 ** x, lambda x: 2 ** x, reals),
    "radd": (lambda x: 3 + x, lambda x: 3 + x, reals),
    "rsub": (lambda x: 3 - x, lambda x: 3 - x, reals),
    "rmul": (lambda x: 3 * x, lambda x: 3 * x, reals),
    "rdiv": (lambda x: 3 / x, lambda x: 3 / x, away_from_zero.filter(lambda x: abs(x) > 0.1)),
}

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, reals, reals),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, reals, reals),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, reals, reals),
    "div": (lambda a, b: a / b, lambda a, b: a / b, reals, reals.filter(lambda b: abs(b) > 0.1)),
    "pow_value": (lambda a, b: a ** b, lambda a, b: a ** b, st.floats(0.1, 5), st.floats(-3, 3)),
}


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(1.0, abs(b))


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_value_and_gradient(name):
    build, ref, xs = UNARY[name]

    @given(xs)
    def check(x):
        out = build(Value(x))
        assert close(out.data, ref(x)), (name, x, out.data, ref(x))
        result = gradcheck(build, [x])
        assert result, result

    check()


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_value_and_gradient(name):
    build, ref, xs, ys = BINARY[name]

    @given(xs, ys)
    def check(a, b):
        out = build(Value(a), Value(b))
        assert close(out.data, ref(a, b)), (name, a, b)
        # numbers on either side give the same value
        assert close(build(Value(a), b).data, ref(a, b))
        assert close(build(a, Value(b)).data, ref(a, b))
        result = gradcheck(build, [a, b])
        assert result, result

    check()


def test_result_nodes_record_op_and_children():
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    c = a * b
    assert c.op == "*" and c._op == "*"
    assert c._prev == {a, b}
    assert c.children == (a, b)
    assert c.local_grads == (3.0, 2.0)  # d(ab)/da = b, d(ab)/db = a
    assert a.op == "" and a._prev == set()


def test_local_derivatives_sit_beside_each_value():
    x = Value(0.3)
    t = x.tanh()
    assert t.local_grads == (pytest.approx(1 - math.tanh(0.3) ** 2),)
    e = x.exp()
    assert e.local_grads == (e.data,)


def test_relu_gradient_at_zero_is_zero():
    x = Value(0.0)
    x.relu().backward()
    assert x.grad == 0.0


def test_sigmoid_is_stable_for_large_inputs():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


def test_gradient_of_every_input_in_a_larger_expression():
    def f(a, b, c):
        return ((a * b).tanh() + (c ** 2).exp() / (a.sigmoid() + 1)).log() + b.gelu() - c.relu()

    assert gradcheck(f, [0.3, -1.2, 0.7])


# ---- micrograd-style mixed expressions (relu, **, division), written anew -------------
def expression_one(x):
    """A small graph where x is used several times through relu and powers."""
    y = 3 * x - 1
    z = (y * y).relu() + (x ** 3) / 4
    w = z - y.relu() * x + 2 / (x * x + 1)
    return w * 0.5 + w ** 2 / 10


def expression_two(a, b):
    """Two inputs, accumulations into shared nodes, relu on a difference, division."""
    s = a * b + b ** 2
    s = s + (s - a).relu()
    t = (a - b).relu() + 1
    t = t + t * s / 3
    u = t ** 2 / (1 + s * s)
    u = u + 5.0 / t
    return u - (b / 2) ** 3


def test_micrograd_style_expressions_against_central_differences():
    assert gradcheck(expression_one, [-2.5])
    assert gradcheck(expression_one, [1.7])
    assert gradcheck(expression_two, [-3.0, 1.5])
    assert gradcheck(expression_two, [2.0, 0.5])


# ---- PyTorch float64 cross-checks --------------------------------------------------------
torch_ops_unary = {
    "neg": lambda t: -t,
    "exp": lambda t: t.exp(),
    "log": lambda t: t.log(),
    "tanh": lambda t: t.tanh(),
    "relu": lambda t: t.relu(),
    "sigmoid": lambda t: t.sigmoid(),
    "gelu": lambda t: __import__("torch").nn.functional.gelu(t, approximate="tanh"),
    "sqrt": lambda t: t.sqrt(),
    "pow2": lambda t: t ** 2,
    "pow3": lambda t: t ** 3,
    "pow_half": lambda t: t ** 0.5,
    "pow_minus1": lambda t: t ** -1,
    "pow_minus2.5": lambda t: t ** -2.5,
    "rpow": lambda t: 2 ** t,
    "radd": lambda t: 3 + t,
    "rsub": lambda t: 3 - t,
    "rmul": lambda t: 3 * t,
    "rdiv": lambda t: 3 / t,
}


def torch_value_and_grads(fn, *xs):
    import torch
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*ts)
    out.backward()
    return out.item(), [t.grad.item() for t in ts]


def minigpt_value_and_grads(fn, *xs):
    vs = [Value(x) for x in xs]
    out = fn(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_against_torch(name):
    build, _, xs = UNARY[name]

    @given(xs)
    def check(x):
        ours, our_grads = minigpt_value_and_grads(build, x)
        theirs, their_grads = torch_value_and_grads(torch_ops_unary[name], x)
        assert close(ours, theirs, 1e-10)
        assert close(our_grads[0], their_grads[0], 1e-10), (x, our_grads, their_grads)

    check()


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_against_torch(name):
    build, _, xs, ys = BINARY[name]

    @given(xs, ys)
    def check(a, b):
        ours, our_grads = minigpt_value_and_grads(build, a, b)
        theirs, their_grads = torch_value_and_grads(build, a, b)  # same operators on tensors
        assert close(ours, theirs, 1e-10)
        for g, h in zip(our_grads, their_grads):
            assert close(g, h, 1e-10), (a, b, our_grads, their_grads)

    check()


@pytest.mark.torch
@pytest.mark.parametrize("inputs", [[-4.0], [1.7], [0.3]])
def test_expression_one_against_torch(inputs):
    ours, our_grads = minigpt_value_and_grads(expression_one, *inputs)
    theirs, their_grads = torch_value_and_grads(expression_one, *inputs)
    assert close(ours, theirs, 1e-10)
    assert close(our_grads[0], their_grads[0], 1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("inputs", [[-4.0, 2.0], [2.0, 0.5], [0.7, -1.3]])
def test_expression_two_against_torch(inputs):
    ours, our_grads = minigpt_value_and_grads(expression_two, *inputs)
    theirs, their_grads = torch_value_and_grads(expression_two, *inputs)
    assert close(ours, theirs, 1e-10)
    for g, h in zip(our_grads, their_grads):
        assert close(g, h, 1e-10)
