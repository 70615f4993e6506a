"""The spec notebook's worked graphs: its hand-computed values, central differences, upstream and dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import scratch_nn as sn
from scratch_nn import graphs

GRAD_RTOL = 1e-7  # central differences (eps = 1e-6, float64) against the analytic gradient


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# name: (function, inputs, value, grads) -- the notebook's numbers, worked by hand
S = sigmoid(-5.0)
HAND_WORKED = {
    "add_mul-2-3-4": (graphs.add_mul, (2.0, 3.0, 4.0), 20.0, {"x": 4.0, "y": 4.0, "z": 5.0}),
    "sigmoid_mul_add-2-neg3-1": (
        graphs.sigmoid_mul_add,
        (2.0, -3.0, 1.0),
        S,
        {"x": -3 * S * (1 - S), "y": 2 * S * (1 - S), "z": S * (1 - S)},
    ),
    "chain_square-neg1": (graphs.chain_square, (-1.0,), 4.0, {"x": -12.0}),
    "chain_square-0": (graphs.chain_square, (0.0,), 1.0, {"x": 6.0}),
    "chain_square-half": (graphs.chain_square, (0.5,), 6.25, {"x": 15.0}),
    "chain_square-1": (graphs.chain_square, (1.0,), 16.0, {"x": 24.0}),
    "two_paths-3": (graphs.two_paths, (3.0,), 24.0, {"x": 14.0}),
    "shared_input-1-2-3": (graphs.shared_input, (1.0, 2.0, 3.0), 15.0, {"a": 5.0, "b": 8.0, "c": 3.0}),
}


@pytest.mark.parametrize("function, inputs, value, grads", HAND_WORKED.values(), ids=HAND_WORKED.keys())
def test_hand_worked_values(function, inputs, value, grads):
    result = function(*inputs)
    assert isinstance(result, graphs.GraphResult)
    np.testing.assert_allclose(result.value, value, rtol=1e-15)
    assert result.grads.keys() == grads.keys()
    for name, want in grads.items():
        assert isinstance(result.grads[name], np.ndarray), name
        np.testing.assert_allclose(result.grads[name], want, rtol=1e-15, err_msg=name)


def test_sigmoid_mul_add_matches_the_notebooks_printout():
    result = graphs.sigmoid_mul_add(2.0, -3.0, 1.0)
    assert f"{float(result.value):.6f}" == "0.006693"
    assert [f"{float(result.grads[k]):.6f}" for k in "xyz"] == ["-0.019944", "0.013296", "0.006648"]


@pytest.mark.parametrize("name", graphs.GRAPHS, ids=list(graphs.GRAPHS))
def test_graph_gradients_match_central_differences_with_random_upstream(name):
    function, input_names = graphs.GRAPHS[name]
    rng = np.random.default_rng(8)
    inputs = [rng.standard_normal((2, 3)) for _ in input_names]
    upstream = rng.standard_normal((2, 3))
    result = function(*inputs, upstream=upstream)

    for i, (name_i, x) in enumerate(zip(input_names, inputs, strict=True)):

        def weighted_value(xi, i=i):
            return float(np.sum(upstream * function(*inputs[:i], xi, *inputs[i + 1 :]).value))

        numeric = sn.numerical_gradient(weighted_value, x)
        np.testing.assert_allclose(result.grads[name_i], numeric, rtol=GRAD_RTOL, atol=1e-9, err_msg=name_i)


@pytest.mark.parametrize("name", graphs.GRAPHS, ids=list(graphs.GRAPHS))
def test_upstream_scales_every_gradient(name):
    function, input_names = graphs.GRAPHS[name]
    inputs = [float(i + 1) / 2 for i in range(len(input_names))]
    base, scaled = function(*inputs), function(*inputs, upstream=-2.5)
    assert scaled.value == base.value
    for n in input_names:
        np.testing.assert_allclose(scaled.grads[n], -2.5 * base.grads[n], rtol=1e-15, err_msg=n)


@pytest.mark.parametrize("name", graphs.GRAPHS, ids=list(graphs.GRAPHS))
def test_float32_inputs_give_float32_everything(name):
    function, input_names = graphs.GRAPHS[name]
    inputs = [np.full(3, 0.5 + i, np.float32) for i in range(len(input_names))]
    result = function(*inputs)
    assert result.value.dtype == np.float32
    assert all(g.dtype == np.float32 for g in result.grads.values())


def test_broadcast_inputs_get_gradients_of_their_own_shapes():
    x, y, z = np.ones((3, 1)), np.full((1, 4), 2.0), 5.0
    result = graphs.add_mul(x, y, z)
    assert result.value.shape == (3, 4)
    assert result.grads["x"].shape == (3, 1) and np.all(result.grads["x"] == 4 * 5.0)
    assert result.grads["y"].shape == (1, 4) and np.all(result.grads["y"] == 3 * 5.0)
    assert result.grads["z"].shape == () and result.grads["z"] == 12 * 3.0


def test_graphs_registry_is_fixed_and_names_the_inputs():
    assert list(graphs.GRAPHS) == ["add_mul", "sigmoid_mul_add", "chain_square", "two_paths", "shared_input"]
    assert graphs.GRAPHS["shared_input"] == (graphs.shared_input, ("a", "b", "c"))
    for function, input_names in graphs.GRAPHS.values():
        assert list(function(*[1.0] * len(input_names)).grads) == list(input_names)
