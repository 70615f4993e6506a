"""The Taylor test tells a correct gradient (remainder ~ h**2, slope 2) from a wrong one (~ h, slope 1) with
no finite-difference step, and so tells a wrong gradient from noisy central differences."""

from __future__ import annotations

import numpy as np
import pytest

import scratch_nn as sn
from scratch_nn.taylor import STEPS, taylor_remainders

SLOPE_ATOL = 0.05  # measured: every slope below lies within 0.012 of 1 or 2
EPS64 = np.finfo(np.float64).eps


def random_problem(activation: str, *, seed: int = 13, input_scale: float = 1.0, n_runs=None):
    """A 4-6-1 net with nonzero biases on 8 random samples with 0/1 labels, inputs scaled by input_scale."""
    rng = np.random.default_rng(seed)
    net = sn.TwoLayerNet.init(4, 6, activation=activation, rng=rng, n_runs=n_runs)
    params = net.params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.1
    params.b2 = rng.standard_normal(params.b2.shape) * 0.1
    X = rng.standard_normal((4, 8)) * input_scale
    y = (rng.random((1, 8)) < 0.5) * 1.0
    return sn.TwoLayerNet(params, activation), X, y


def gradients(net, X, y):
    net.forward(X)
    return net.backward(y)


@pytest.mark.parametrize("n_runs", [None, 3], ids=["one", "stacked"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_correct_gradient_has_slope_two(activation, n_runs):
    net, X, y = random_problem(activation, n_runs=n_runs)
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0))
    assert result.verdict == "correct" and result.correct
    assert abs(result.slope - 2) < SLOPE_ATOL, result.slope
    assert result.judged.sum() >= 6 and result.fitted.sum() == 4  # clear of the noise over many steps


def scaled_W1(grads, m):
    grads.W1 = grads.W1 * 1.001  # a 0.1% error in one tensor
    return grads


def dropped_1_over_m(grads, m):
    return sn.Params(*(g * m for g in grads))  # the classic: the mean's 1/m forgotten


@pytest.mark.parametrize("plant", [scaled_W1, dropped_1_over_m], ids=["scaled-dW1", "dropped-1-over-m"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_planted_wrong_gradient_has_slope_one(activation, plant):
    net, X, y = random_problem(activation)
    wrong = plant(gradients(net, X, y), X.shape[1])
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0), grads=wrong)
    assert result.verdict == "wrong gradient"
    assert abs(result.slope - 1) < SLOPE_ATOL, result.slope


def test_a_direction_per_tensor_names_the_wrong_one():
    net, X, y = random_problem("tanh")
    wrong = scaled_W1(gradients(net, X, y), X.shape[1])
    verdicts = {
        name: sn.taylor_check(net, X, y, rng=np.random.default_rng(1), grads=wrong, tensors=(name,)).verdict
        for name in sn.Params.NAMES
    }
    assert verdicts == {"W1": "wrong gradient", "b1": "correct", "W2": "correct", "b2": "correct"}


def test_noisy_central_differences_but_taylor_says_correct():
    """Saturated tanh units (inputs x30) leave W1 elements of ~1e-8, where central differences with eps 1e-6
    carry ~1e-10 of rounding noise (eps_mach * L / eps): they miss by 1e-3 relative. The absolute misses are
    at that rounding level, and the Taylor test, which needs no step, says the gradient is correct."""
    net, X, y = random_problem("tanh", seed=0, input_scale=30.0)
    check = sn.gradient_check(net, X, y)
    assert not check.passed(), "central differences were expected to look bad here"
    net.forward(X)
    rounding = 100 * EPS64 * float(net.loss(y)) / check.eps
    assert max(t.max_abs_error for t in check.tensors) < rounding, "the misses are rounding noise"
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0))
    assert result.verdict == "correct" and abs(result.slope - 2) < SLOPE_ATOL, result.slope
    # and in the same place, a wrong gradient is still told apart
    wrong = scaled_W1(gradients(net, X, y), X.shape[1])
    assert sn.taylor_check(net, X, y, rng=np.random.default_rng(0), grads=wrong).verdict == "wrong gradient"


def test_remainder_at_rounding_level_is_noisy_not_judged():
    """b2 of a net whose logits all exceed 400 in size: the loss is linear in b2 to rounding (its curvature
    p(1 - p) is below 1e-170), so every remainder is noise and the check says so instead of fitting a
    slope."""
    net, X, y = random_problem("relu", seed=0, input_scale=1e4)
    net.forward(X)
    assert np.abs(net.cache.z2).min() > 400
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0), tensors=("b2",))
    assert result.verdict == "noisy" and np.isnan(result.slope)
    assert result.judged.sum() < 3


def test_remainders_of_a_known_function():
    """f(x) = sum(x**3) at x: r(h) = |3 h**2 <x, v**2> + h**3 <1, v**3>| exactly, up to rounding."""
    x, v = np.array([1.0, -2.0, 0.5]), np.array([0.6, 0.0, -0.8])
    f = lambda a: float(np.sum(a**3))  # noqa: E731
    remainders, floor = taylor_remainders(f, x, 3 * x**2, v, STEPS[:6])
    exact = np.abs(3 * STEPS[:6] ** 2 * np.sum(x * v**2) + STEPS[:6] ** 3 * np.sum(v**3))
    np.testing.assert_allclose(remainders, exact, rtol=1e-6)
    assert floor < 1e-14


def test_the_network_is_left_as_it_was():
    net, X, y = random_problem("relu")
    net.forward(X)
    before, cache = net.params.copy(), net.cache
    sn.taylor_check(net, X, y, rng=np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(net.params, before, strict=True)) and net.cache is cache


def test_refuses_float32_and_unknown_tensors():
    net, X, y = random_problem("relu")
    with pytest.raises(TypeError, match="float64"):
        sn.taylor_check(
            sn.TwoLayerNet(net.params.astype(np.float32), "relu"),
            X.astype(np.float32),
            y.astype(np.float32),
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ValueError, match="tensors"):
        sn.taylor_check(net, X, y, rng=np.random.default_rng(0), tensors=("W3",))
