"""Bad input raises a clear exception naming what was wrong, never a silent wrong number."""
import math

import pytest

from minigpt import Value, dot, engine, fused, logsumexp, softmax, vsum
from test_engine_ops import minigpt_value_and_grads, torch_value_and_grads


@pytest.mark.parametrize("bad, name", [("3", "str"), (None, "NoneType"), ([1.0], "list"), (True, "bool")])
def test_non_numbers_are_a_type_error_naming_what_was_passed(bad, name):
    with pytest.raises(TypeError, match=name):
        Value(bad)


def test_a_value_of_a_value_says_so():
    with pytest.raises(TypeError, match="got a Value"):
        Value(Value(1.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_data_is_a_value_error(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        Value(bad)


def test_non_finite_constants_in_arithmetic_are_rejected():
    with pytest.raises(ValueError, match="nan"):
        Value(1.0) + math.nan


def test_arithmetic_with_a_string_is_a_type_error():
    with pytest.raises(TypeError):
        Value(1.0) + "2"
    with pytest.raises(TypeError):
        "2" * Value(1.0)


@pytest.mark.parametrize("x", [0.0, -1.0, -1e-300])
def test_log_of_non_positive_names_the_value(x):
    with pytest.raises(ValueError, match=r"log.*" + repr(x).replace("-", r"\-").replace(".", r"\.")):
        Value(x).log()


def test_log_error_uses_the_label():
    with pytest.raises(ValueError, match="log\\(p\\)"):
        Value(-2.0, label="p").log()


def test_sqrt_of_negative_names_the_value():
    with pytest.raises(ValueError, match="-4.0"):
        Value(-4.0).sqrt()


@pytest.mark.parametrize("exponent", [0.5, -0.5, 1.5, 1 / 3])
def test_negative_base_fractional_power_is_a_value_error_not_complex(exponent):
    with pytest.raises(ValueError, match="negative"):
        Value(-8.0) ** exponent


def test_negative_base_integer_power_is_fine():
    assert (Value(-2.0) ** 3).data == -8.0


def test_value_exponent_needs_positive_base():
    with pytest.raises(ValueError, match="positive base"):
        Value(-2.0) ** Value(2.0)
    with pytest.raises(ValueError, match="positive base"):
        (-2.0) ** Value(2.0)


def test_exp_overflow_names_the_op():
    with pytest.raises(OverflowError, match="exp"):
        Value(1000.0).exp()


def test_pow_overflow_names_the_op():
    with pytest.raises(OverflowError, match=r"\*\*"):
        Value(1e200) ** 3


def test_division_by_zero_says_so():
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        Value(1.0) / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        1.0 / Value(0.0)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        Value(0.0) ** -1


@pytest.mark.parametrize("helpers", [engine, fused], ids=["engine", "fused"])
def test_helpers_reject_bad_input(helpers):
    with pytest.raises(ValueError, match="lengths"):
        helpers.dot([Value(1.0)], [Value(1.0), Value(2.0)])
    with pytest.raises(TypeError, match="str: 'x'"):
        helpers.vsum([Value(1.0), "x"])
    with pytest.raises(ValueError, match="finite"):
        helpers.vsum([Value(1.0), math.inf])
    with pytest.raises(ValueError, match="finite"):
        helpers.dot([Value(1.0)], [math.nan])
    with pytest.raises(ValueError, match="empty"):
        helpers.softmax([])
    with pytest.raises(ValueError, match="empty"):
        helpers.logsumexp([])


# ---- one overflow rule for every operation (issue 11, item 14) -----------------------------------
@pytest.mark.parametrize("make, op", [
    (lambda: Value(1e200) * Value(1e200), r"\*"),
    (lambda: Value(1e308) + Value(1e308), r"\+"),
    (lambda: Value(-1e308) - Value(1e308), r"\+|-"),
    (lambda: Value(1e300) / Value(1e-300), "/"),
    (lambda: Value(1e200) ** 2, r"\*\*"),
    (lambda: Value(1000.0).exp(), "exp"),
    (lambda: vsum([Value(1e308), Value(1e308)]), r"\+"),  # the primitive formula: a chain of +
    (lambda: dot([Value(1e200)], [Value(1e200)]), r"\*"),
    (lambda: fused.vsum([Value(1e308), Value(1e308)]), "sum"),  # the fused node names itself
    (lambda: fused.dot([Value(1e200)], [Value(1e200)]), "dot"),
], ids=["mul", "add", "sub", "div", "pow", "exp", "vsum", "dot", "fused-vsum", "fused-dot"])
def test_a_result_that_is_not_a_finite_float_is_an_overflow_error_naming_the_op(make, op):
    with pytest.raises(OverflowError, match=op):
        make()


def test_x_times_x_minus_x_times_x_never_gives_a_silent_nan():
    x = Value(1e200)
    with pytest.raises(OverflowError):
        x * x - x * x


def same(a, b):
    """Equal as floats, including the sign of zero and of infinity."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.torch
@pytest.mark.parametrize("f, xs", [
    (lambda x: x.sqrt(), [-0.0]),
    (lambda x: x.sqrt(), [0.0]),
    (lambda a, b: a / b, [1e-200, 1e-200]),
    (lambda a, b: a / b, [-1e-200, 3e-200]),
    (lambda a, b: a / b, [1e300, 1e-8]),
], ids=["sqrt(-0.0)", "sqrt(0.0)", "1e-200/1e-200", "-1e-200/3e-200", "1e300/1e-8"])
def test_edge_values_match_pytorch(f, xs):
    want_out, want_grads = torch_value_and_grads(f, *xs)
    got_out, got_grads = minigpt_value_and_grads(f, *xs)
    assert same(got_out, want_out)
    assert all(same(g, w) for g, w in zip(got_grads, want_grads)), (got_grads, want_grads)


def test_edge_values_without_pytorch():
    assert minigpt_value_and_grads(lambda x: x.sqrt(), -0.0) == (-0.0, [-math.inf])
    out, grads = minigpt_value_and_grads(lambda a, b: a / b, 1e-200, 1e-200)
    assert out == 1.0 and grads == [1e200, -1e200]


@pytest.mark.parametrize("helpers", [engine, fused], ids=["engine", "fused"])
def test_real_number_types_are_accepted_everywhere_and_non_finite_constants_nowhere(helpers):
    from fractions import Fraction  # a numbers.Real that is not a float, like numpy's scalars
    half = Fraction(1, 2)
    assert Value(half).data == 0.5
    assert helpers.vsum([Value(1.0), half]).data == 1.5
    assert helpers.dot([Value(1.0), Value(2.0)], [half, 3]).data == 6.5
    assert (Value(2.0) ** half).data == pytest.approx(2 ** 0.5)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            Value(2.0) ** bad
        with pytest.raises(ValueError, match="finite"):
            Value(2.0) + bad
        with pytest.raises(ValueError, match="finite"):
            helpers.vsum([Value(1.0), bad])
        with pytest.raises(ValueError, match="finite"):
            helpers.dot([Value(1.0)], [bad])


def test_tiny_and_huge_quotients_and_powers_stay_finite_with_the_right_gradients():
    a, b = Value(1e-170), Value(1e-170)
    assert (a / b).data == 1.0
    a, b = Value(1e200), Value(1e200)
    (a / b).backward()
    assert (a.grad, b.grad) == (1e-200, -1e-200)
    x = Value(1e-120)
    y = x ** -2  # 1e240 is a float; its slope -2e360 is not, and is reported as -inf
    y.backward()
    assert y.data == pytest.approx(1e240) and x.grad == -math.inf
