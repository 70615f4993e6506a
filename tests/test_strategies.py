"""The strategies of the property tests draw what they claim and leave out what parity cannot decide (how the
property tests run and report: tests/test_property_harness.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings

from parity import catalogue
from parity import strategies as hs

# find() the first example that has a property, without shrinking it: these tests ask "is it ever drawn?"
QUICK = settings(max_examples=300, database=None, deadline=None, derandomize=True, phases=[Phase.generate])


def arrays_of(ex) -> list[np.ndarray]:
    """Every array an example holds (a Python-number operand is not one)."""
    if isinstance(ex, hs.GateExample):
        return [x for x in (*ex.inputs, ex.upstream) if isinstance(x, np.ndarray)]
    return [ex.W1, ex.b1, ex.W2, ex.b2, ex.X, ex.y]


def assert_representable(ex) -> None:
    dtype = np.dtype(ex.dtype)
    tiny = np.finfo(dtype).tiny
    for i, v in enumerate(arrays_of(ex)):
        assert isinstance(v, np.ndarray) and v.dtype == dtype, (i, v)
        assert np.isfinite(v).all(), (i, v)
        nonzero = np.abs(v[v != 0])
        assert (nonzero >= tiny).all(), f"subnormal value in {i}: {v}"
    for x in ex.inputs if isinstance(ex, hs.GateExample) else ():
        if isinstance(x, float):  # a Python-number operand holds a normal value of the case's dtype exactly
            assert float(dtype.type(x)) == x and (x == 0 or abs(x) >= tiny)


@pytest.mark.parametrize("gate", hs.GATES)
def test_gate_examples_hold_normal_values_of_their_dtype_in_broadcast_compatible_shapes(gate):
    @given(hs.gate_examples(gate))
    def check(ex):
        assert ex.gate == gate and ex.dtype in catalogue.DTYPES
        assert_representable(ex)
        shapes = [np.shape(x) for x in ex.inputs]
        op = catalogue.GATES[gate]
        if op.shape == "matmul":
            assert len(shapes[0]) >= 2 and len(shapes[1]) >= 2 and shapes[0][-1] == shapes[1][-2]
            out = (*np.broadcast_shapes(shapes[0][:-2], shapes[1][:-2]), shapes[0][-2], shapes[1][-1])
        else:
            out = np.broadcast_shapes(*shapes)
        assert ex.upstream.shape == out and len(ex.input_names) == len(ex.inputs)
        assert set(ex.params) == {p.name for p in op.params}
        for p in op.params:
            assert p.low <= ex.params[p.name] <= p.high, p.name
        lowest = op.lowest(*ex.params.values())
        if lowest is not None:  # a negative base with a non-integer exponent
            assert (np.asarray(ex.inputs[0]) >= lowest).all(), f"an input below {lowest} for {ex.params}"

    check()


@pytest.mark.parametrize(
    "what, gate, condition",
    [
        ("a 0-d input", "add", lambda ex: np.ndim(ex.inputs[0]) == 0),
        ("a Python-number operand", "multiply", lambda ex: any(isinstance(x, float) for x in ex.inputs)),
        (
            "a size-1 axis broadcast",
            "add",
            lambda ex: any(1 in np.shape(x) and np.shape(x) != ex.upstream.shape for x in ex.inputs),
        ),
        ("inputs of different ranks", "multiply", lambda ex: np.ndim(ex.inputs[0]) != np.ndim(ex.inputs[1])),
        (
            "broadcast matmul batch axes",
            "matmul",
            lambda ex: np.shape(ex.inputs[0])[:-2] != np.shape(ex.inputs[1])[:-2],
        ),
        ("a value above 1e30", "exp", lambda ex: np.abs(ex.inputs[0]).max() > 1e30),
        (
            "a non-zero value below 1e-30",
            "tanh",
            lambda ex: (np.abs(ex.inputs[0][ex.inputs[0] != 0]) < 1e-30).any(),
        ),
        (
            "an overflowing float32 exp",
            "exp",
            lambda ex: ex.dtype == "float32" and (np.asarray(ex.inputs[0]) > 89).any(),
        ),
        ("a non-integer exponent", "power", lambda ex: not float(ex.params["exponent"]).is_integer()),
        ("a negative exponent", "power", lambda ex: ex.params["exponent"] < 0),
        ("a negative input", "leaky_relu", lambda ex: (np.asarray(ex.inputs[0]) < 0).any()),
        ("a slope strictly inside (0, 1)", "leaky_relu", lambda ex: 0 < ex.params["negative_slope"] < 1),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_gate_examples_reach_the_cases_they_claim(what, gate, condition):
    find(hs.gate_examples(gate), condition, settings=QUICK)


def test_network_examples_follow_the_layout_with_labels_in_0_1():
    @given(hs.network_examples())
    def check(ex):
        assert_representable(ex)
        h, n_in = ex.W1.shape
        n_out, m = ex.y.shape
        assert (ex.b1.shape, ex.W2.shape, ex.b2.shape, ex.X.shape) == (
            (h, 1),
            (n_out, h),
            (n_out, 1),
            (n_in, m),
        )
        assert ((ex.y >= 0) & (ex.y <= 1)).all()
        assert ex.activation in hs.ACTIVATIONS

    check()


@pytest.mark.parametrize(
    "what, condition",
    [
        ("tanh", lambda ex: ex.activation == "tanh"),
        ("float32", lambda ex: ex.dtype == "float32"),
        ("float64", lambda ex: ex.dtype == "float64"),
        ("several hidden units and samples", lambda ex: ex.W1.shape[0] > 2 and ex.X.shape[1] > 2),
        ("two outputs", lambda ex: ex.y.shape[0] == 2),
        ("soft labels", lambda ex: ((ex.y > 0) & (ex.y < 1)).any()),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_network_examples_reach_the_cases_they_claim(what, condition):
    find(hs.network_examples(), condition, settings=QUICK)


def test_an_example_repr_rebuilds_it_exactly():
    ex = hs.GateExample(
        gate="multiply",
        dtype="float32",
        inputs=(np.array([[0.1, -3e38]], dtype=np.float32), 1.5),
        upstream=np.float32([[2.5, -0.0]]),
    )
    rebuilt = eval(repr(ex), {"np": np, "GateExample": hs.GateExample})  # noqa: S307
    assert rebuilt.inputs[1] == 1.5 and rebuilt.inputs[0].dtype == np.float32
    np.testing.assert_array_equal(rebuilt.inputs[0], ex.inputs[0])
    np.testing.assert_array_equal(rebuilt.upstream, ex.upstream)
    assert (
        "\n" not in ex.summary()
        and "<float32 (50,)"
        in hs.GateExample(
            gate="exp", dtype="float32", inputs=(np.zeros(50, np.float32),), upstream=np.zeros(50, np.float32)
        ).summary()
    )


def test_ill_conditioned_sums_are_drawn_and_overflowing_ones_are_not():
    def matmul(a, b):
        a, b = np.array([a]), np.array([[v] for v in b])
        return hs.GateExample(gate="matmul", dtype="float64", inputs=(a, b), upstream=np.ones((1, 1)))

    # 1e17 + 1 - 1e17 is 0 in one order of the sum and 1 in another: the conditioned bound judges it
    assert hs.well_posed(matmul([1e17, 1.0, -1e17], [1.0, 1.0, 1.0]))
    assert hs.well_posed(matmul([1.0, 2.0, 3.0], [4.0, -5.0, 6.0]))
    # terms that overflow in one summation order and not in another
    big = np.finfo(np.float64).max / 3
    assert not hs.well_posed(matmul([big, big, -big], [1.0, 1.0, 1.0]))


def network(activation, dtype, **arrays):
    return hs.NetworkExample(
        activation=activation, dtype=dtype, **{k: np.array(v, dtype=dtype) for k, v in arrays.items()}
    )


# A ReLU pre-activation within rounding of the kink: the order of its sum picks the branch (not drawn)
RELU_KINK = network(
    "relu", "float32", W1=[[0.1, 0.2]], b1=[[-0.3]], W2=[[1.0]], b2=[[0.0]], X=[[1.0], [1.0]], y=[[1.0]]
)


def test_networks_at_a_relu_kink_are_not_drawn():
    assert not hs.network_well_posed(RELU_KINK)


PLAIN_NETWORKS = {
    "float64": dict(
        W1=[[0.5, 1.0], [1.5, -0.25]],
        b1=[[0.25], [0.75]],
        W2=[[1.0, -0.5]],
        b2=[[0.25]],
        X=[[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]],
        y=[[1.0, 0.0, 1.0]],
    ),
    "float32": dict(W1=[[0.5, 1.0]], b1=[[0.25]], W2=[[1.0]], b2=[[0.0]], X=[[1.0], [0.5]], y=[[0.0]]),
}


@pytest.mark.parametrize("activation", hs.ACTIVATIONS)
@pytest.mark.parametrize("dtype", catalogue.DTYPES)
def test_plain_networks_are_drawn(activation, dtype):
    assert hs.network_well_posed(network(activation, dtype, **PLAIN_NETWORKS[dtype]))
