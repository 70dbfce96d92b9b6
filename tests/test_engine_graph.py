"""Backward on whole graphs: depth, sharing, accumulation, no_grad, freeing, reprs."""
import gc
import math
import platform
import sys
import weakref

import pytest

from minigpt import Value, no_grad, topological_order
from minigpt.engine import is_grad_enabled


@pytest.mark.parametrize("n", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_million_op_chain_backpropagates_without_recursion(n):
    """100,000 operations in the default run (a hundred times the recursion limit), a million
    under `pytest -m slow`."""
    limit = sys.getrecursionlimit()
    x = Value(1.0, label="x")
    y = x
    for _ in range(n):
        y = y + 1.0
    y.backward()
    assert y.data == n + 1.0
    assert x.grad == 1.0
    assert sys.getrecursionlimit() == limit  # we did not cheat by raising the limit


def test_deep_chain_of_multiplications_has_product_rule_gradient():
    x = Value(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_shared_subexpressions_get_every_path():
    a = Value(3.0, label="a")
    b = a + a  # db/da = 2
    c = b + b  # dc/da = 4
    c.backward()
    assert a.grad == 4.0
    assert b.grad == 2.0

    x = Value(2.0)
    y = x * x * x  # 3 x^2 = 12
    y.backward()
    assert x.grad == 12.0


def test_diamond_graph():
    x = Value(0.5)
    u, v = x.exp(), x.tanh()
    out = u * v
    out.backward()
    expected = math.exp(0.5) * math.tanh(0.5) + math.exp(0.5) * (1 - math.tanh(0.5) ** 2)
    assert x.grad == pytest.approx(expected, rel=1e-12)


def test_backward_twice_accumulates_exactly_double():
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c * c + a  # a chain deeper than one node: intermediate grads must not leak in
    d.backward()
    first = (a.grad, b.grad, c.grad)
    d.backward()
    assert (a.grad, b.grad, c.grad) == tuple(2 * g for g in first)
    assert d.grad == 2.0


def test_grads_start_at_zero_and_leaves_have_empty_op():
    v = Value(3)
    assert v.grad == 0.0 and isinstance(v.data, float) and v.data == 3.0
    assert v.op == "" and v._op == ""


def test_backward_of_unreached_leaf_leaves_it_zero():
    a, b = Value(1.0), Value(2.0)
    (a * 3).backward()
    assert b.grad == 0.0


def test_topological_order_puts_children_first_and_root_last():
    a = Value(1.0)
    b = a * 2
    c = b + a
    d = c * b
    order = topological_order(d)
    assert order[-1] is d
    pos = {id(n): i for i, n in enumerate(order)}
    for node in order:
        for child in node.children:
            assert pos[id(child)] < pos[id(node)]
    assert len(order) == len({id(n) for n in order})


def test_no_grad_records_no_graph():
    a = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        b = a * 3 + 1
        c = b.exp()
    assert is_grad_enabled()
    assert b.data == 7.0
    assert b.children == () and c.children == ()
    c.backward()
    assert a.grad == 0.0  # nothing connects c back to a


def test_no_grad_nests_and_restores_after_an_exception():
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with pytest.raises(RuntimeError):
        with no_grad():
            raise RuntimeError("boom")
    assert is_grad_enabled()


def test_graph_is_freed_after_backward():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0000001
    y.backward()
    ref = weakref.ref(y)
    mid = weakref.ref(topological_order(y)[50_000])
    del y
    if platform.python_implementation() != "CPython":
        gc.collect()  # PyPy has no reference counting: its collector frees the graph
    # on CPython, freed by reference counting alone: there are no cycles to break
    assert ref() is None
    assert mid() is None
    gc.collect()
    assert x.grad > 0


def test_values_are_hashable_by_identity():
    a, b = Value(1.0), Value(1.0)
    assert a != b
    assert len({a, b}) == 2
    d = {a: "a"}
    assert d[a] == "a" and b not in d


def test_repr_shows_label_data_grad_and_op():
    a = Value(2.0, label="a")
    assert repr(a) == "Value(label='a', data=2.0, grad=0.0)"
    c = a * 3
    c.backward()
    assert repr(c) == "Value(data=6.0, grad=1.0, op='*')"
    assert "label" not in repr(Value(1.5))


def test_in_place_operators_build_new_nodes():
    a = Value(1.0)
    b = a
    b += 2
    assert b is not a and b.data == 3.0 and a.data == 1.0
    b.backward()
    assert a.grad == 1.0


def test_topological_order_on_random_dags():
    """Children always come before parents, whatever the shape and operand order."""
    import random
    r = random.Random(0)
    for trial in range(200):
        nodes = [Value(r.uniform(-1, 1)) for _ in range(r.randint(1, 4))]
        for _ in range(r.randint(1, 30)):
            kind = r.randrange(3)
            if kind == 0:
                nodes.append(r.choice(nodes) * r.choice(nodes))
            elif kind == 1:
                nodes.append(r.choice(nodes) + 2.0)
            else:
                from minigpt import vsum
                nodes.append(vsum(r.sample(nodes, min(len(nodes), 3))))
        root = nodes[-1]
        order = topological_order(root)
        pos = {id(n): i for i, n in enumerate(order)}
        assert order[-1] is root and len(pos) == len(order)
        for node in order:
            for child in node.children:
                assert pos[id(child)] < pos[id(node)]


def test_topological_order_when_a_later_sibling_is_an_ancestor():
    a = Value(1.0)
    b = a * 2.0
    c = b + a
    for d in (b * c, c * b):  # both operand orders
        order = topological_order(d)
        assert order.index(b) < order.index(c) < order.index(d)
