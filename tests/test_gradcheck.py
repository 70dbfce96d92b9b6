"""gradcheck itself: it passes correct gradients and catches wrong ones."""
import pytest

from minigpt import Value, gradcheck


def broken_square(x):
    """x^2 whose recorded local derivative is wrong (x instead of 2x)."""
    return Value(x.data ** 2, "", (x,), (x.data,), "bad_square")


def test_passes_a_correct_gradient():
    result = gradcheck(lambda x, y: x * y + y.tanh(), [0.5, -1.5])
    assert result.ok and bool(result)
    assert "passed" in repr(result)


def test_catches_a_wrong_local_derivative_and_names_the_input():
    result = gradcheck(lambda a, b: a + broken_square(b), [1.0, 2.0])
    assert not result
    assert result.worst == 1
    assert result.analytic[1] == pytest.approx(2.0)
    assert result.numeric[1] == pytest.approx(4.0, rel=1e-6)
    text = repr(result)
    assert "FAILED" in text and "x1" in text and "analytic 2" in text and "numeric 4" in text


def test_vector_outputs_are_all_checked():
    def f(a, b):
        return [a * b, broken_square(a) + b]
    assert not gradcheck(f, [1.5, 0.5])
    assert gradcheck(lambda a, b: [[a * b], [a - b, a / b]], [1.5, 0.5])


def test_existing_values_are_nudged_in_place_and_restored():
    w = Value(0.7, label="w")
    w.grad = 5.0
    x = Value(2.0)
    result = gradcheck(lambda w_: (w_ * x).tanh(), [w])
    assert result
    assert w.data == 0.7 and w.grad == 5.0
    assert result.names == ["w"]


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="eps"):
        gradcheck(lambda x: x, [1.0], eps=0)
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda x: 3.0, [1.0])
