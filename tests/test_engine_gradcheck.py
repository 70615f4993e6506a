"""gradient_check passes a correct network, catches planted wrong gradients, and leaves the network as it
was."""

from __future__ import annotations

import numpy as np
import pytest

import scratch_nn as sn

PASS_RTOL = 1e-6  # the checker's own default threshold

# NOTE: central differences of an O(1) float64 loss carry ~1e-10 of absolute rounding error (eps_mach * L /
# 2 eps), so a relative error below 1e-6 needs every nonzero gradient element above ~1e-4. Random data puts
# some element below that for about a third of seeds; this seed's smallest is 5e-4 in all four CORRECT cases,
# and test_correct_network_passes asserts so, to fail with that reason rather than a puzzling one.
SEED = 13
SMALLEST_JUDGEABLE = 3e-4


def random_problem(activation: str, *, seed: int = SEED, n_runs=None, n_out: int = 2):
    """Random data (no ReLU input sits within eps of its kink) and a net with nonzero biases."""
    rng = np.random.default_rng(seed)
    net = sn.TwoLayerNet.init(3, 5, n_out, activation=activation, rng=rng, n_runs=n_runs)
    params = net.params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.1
    params.b2 = rng.standard_normal(params.b2.shape) * 0.1
    X = rng.standard_normal((3, 6))
    y = rng.random((n_out, 6))
    return sn.TwoLayerNet(params, activation), X, y


CORRECT = {
    "relu": ("relu", None),
    "tanh": ("tanh", None),
    "relu-stacked": ("relu", 3),
    "tanh-stacked": ("tanh", 3),
}


@pytest.mark.parametrize("activation, n_runs", CORRECT.values(), ids=CORRECT.keys())
def test_correct_network_passes(activation, n_runs):
    net, X, y = random_problem(activation, n_runs=n_runs)
    result = sn.gradient_check(net, X, y)
    magnitudes = np.concatenate([np.abs(t.analytic).ravel() for t in result.tensors])
    assert magnitudes[magnitudes > 0].min() > SMALLEST_JUDGEABLE, "data too close to a zero gradient to judge"
    assert [t.name for t in result.tensors] == list(sn.Params.NAMES)
    assert result.worst_rel_error < PASS_RTOL, [
        (t.name, t.max_rel_error, t.worst_index) for t in result.tensors
    ]
    assert result.passed()


class ScaledW1(sn.TwoLayerNet):
    def backward(self, y):
        grads = super().backward(y)
        grads.W1 = grads.W1 * 1.001
        return grads


class NoMeanOverSamples(sn.TwoLayerNet):
    """The classic bug: forgetting the 1/m of the mean."""

    def backward(self, y):
        grads = super().backward(y)
        m = y.shape[-1]
        return sn.Params(*(g * m for g in grads))


class WrongSignB2(sn.TwoLayerNet):
    def backward(self, y):
        grads = super().backward(y)
        grads.b2 = -grads.b2
        return grads


class SigmoidDerivativeTwice(sn.TwoLayerNet):
    """dz2 = (p - y) * p * (1 - p): chaining the sigmoid's derivative on top of BCE's simplification."""

    def backward(self, y):
        grads = super().backward(y)
        p = self.cache.p
        dz2 = (p - y) / (y.shape[-2] * y.shape[-1]) * p * (1 - p)
        return sn.Params(
            grads.W1, grads.b1, dz2 @ self.cache.h.swapaxes(-1, -2), dz2.sum(axis=-1, keepdims=True)
        )


PLANTED = {
    "dW1-scaled-by-1.001": (ScaledW1, "W1"),
    "no-1-over-m": (NoMeanOverSamples, "W1"),
    "b2-wrong-sign": (WrongSignB2, "b2"),
    "sigmoid-derivative-twice": (SigmoidDerivativeTwice, "W2"),
}


@pytest.mark.parametrize("cls, bad_tensor", PLANTED.values(), ids=PLANTED.keys())
def test_planted_wrong_gradient_is_caught(cls, bad_tensor):
    net, X, y = random_problem("tanh")
    planted = cls(net.params, "tanh")
    result = sn.gradient_check(planted, X, y)
    assert not result.passed()
    assert result[bad_tensor].max_rel_error > 100 * PASS_RTOL
    if cls is ScaledW1:
        np.testing.assert_allclose(result["W1"].max_rel_error, 1 - 1 / 1.001, rtol=1e-2)
        assert result["b1"].max_rel_error < PASS_RTOL  # the others are still right


def test_a_coarse_step_is_caught():
    net, X, y = random_problem("tanh")
    assert not sn.gradient_check(net, X, y, eps=0.5).passed()


def test_parameters_and_cache_are_restored_bit_for_bit():
    net, X, y = random_problem("relu", n_runs=2)
    before = net.params.copy()
    net.forward(X)
    cache = net.cache
    sn.gradient_check(net, X, y)
    for name, a, b in zip(sn.Params.NAMES, net.params, before, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert net.cache is cache  # the caller's, not one of gradient_check's own forward passes
    fresh = sn.TwoLayerNet(net.params, "relu")
    sn.gradient_check(fresh, X, y)
    assert fresh.cache is None  # a net without a cache comes back without one


def test_tensor_check_reports_where_and_both_gradients():
    net, X, y = random_problem("tanh")
    result = sn.gradient_check(net, X, y)
    net.forward(X)
    analytic = net.backward(y)
    for check, a, p in zip(result.tensors, analytic, net.params, strict=True):
        np.testing.assert_array_equal(check.analytic, a)
        assert check.numeric.shape == p.shape
        assert len(check.worst_index) == p.ndim and all(isinstance(i, int) for i in check.worst_index)
        rel = np.abs(check.analytic - check.numeric) / np.maximum(
            np.maximum(np.abs(check.analytic), np.abs(check.numeric)), np.finfo(float).tiny
        )
        assert check.max_rel_error == rel[check.worst_index] == rel.max()
        assert check.max_abs_error == np.abs(check.analytic - check.numeric).max()
    with pytest.raises(KeyError, match="no tensor named 'W3'"):
        result["W3"]


def test_exact_zero_gradients_match_exactly():
    """A dead ReLU unit has exactly zero gradient both ways: relative error 0, not 0/0."""
    net, X, y = random_problem("relu")
    params = net.params.copy()
    params.b1[0] = -100.0  # unit 0 never fires
    result = sn.gradient_check(sn.TwoLayerNet(params, "relu"), X, y)
    assert np.all(result["W1"].analytic[0] == 0) and np.all(result["W1"].numeric[0] == 0)
    assert result.passed()


def test_numerical_gradient_of_a_known_function():
    x = np.random.default_rng(11).standard_normal((3, 2))
    x0 = x.copy()
    grad = sn.numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * x0**2, rtol=1e-6)
    np.testing.assert_array_equal(x, x0)


def test_numerical_gradient_never_writes_into_x_even_when_f_raises():
    x = np.array([1.0, 2.0])
    calls = []

    def f(v):
        assert v is not x  # f reads a copy
        calls.append(v.copy())
        if len(calls) == 2:
            raise ZeroDivisionError("boom")
        return float(v.sum())

    x.flags.writeable = False  # a write into x would raise
    with pytest.raises(ZeroDivisionError):
        sn.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    np.testing.assert_array_equal(calls, [[1.0 + 1e-6, 2.0], [1.0 - 1e-6, 2.0]])


# -- directional_gradient_check: central differences along random directions, at any size --------------------


def large_problem(activation: str, *, m: int = 32, seed: int = SEED):
    """The benchmark's largest network, (784, 1024), on a small batch: a check costs a few cheap forward
    passes, and no ReLU pre-activation lies within a step of 0 for this seed (test_..._passes asserts kinks ==
    0)."""
    rng = np.random.default_rng(seed)
    net = sn.TwoLayerNet.init(784, 1024, activation=activation, rng=rng)
    params = net.params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.1
    params.b2 = rng.standard_normal(params.b2.shape) * 0.1
    X = rng.standard_normal((784, m))
    y = (rng.random((1, m)) < 0.5).astype(np.float64)
    return sn.TwoLayerNet(params, activation), X, y


def directional(net, X, y, **kwargs):
    return sn.directional_gradient_check(net, X, y, rng=np.random.default_rng(SEED), **kwargs)


DIRECTIONAL_CORRECT = {
    "relu": ("relu", None, random_problem),
    "tanh": ("tanh", None, random_problem),
    "relu-stacked": ("relu", 3, random_problem),
    "tanh-stacked": ("tanh", 3, random_problem),
    "relu-784x1024": ("relu", None, large_problem),
    "tanh-784x1024": ("tanh", None, large_problem),
}


@pytest.mark.parametrize(
    "activation, n_runs, problem", DIRECTIONAL_CORRECT.values(), ids=DIRECTIONAL_CORRECT.keys()
)
def test_directional_check_passes_a_correct_network(activation, n_runs, problem):
    net, X, y = problem(activation) if n_runs is None else problem(activation, n_runs=n_runs)
    result = directional(net, X, y)
    assert result.analytic.shape == result.numeric.shape == result.kinks.shape == (4,)
    assert not result.kinks.any(), "a step crossed a ReLU kink: the data cannot judge this gradient"
    assert result.passed(), list(
        zip(result.rel_errors, result.rounding / np.abs(result.analytic), strict=True)
    )


@pytest.mark.parametrize("cls, bad_tensor", PLANTED.values(), ids=PLANTED.keys())
def test_directional_check_catches_a_planted_wrong_gradient(cls, bad_tensor):
    net, X, y = random_problem("tanh")
    result = directional(cls(net.params, "tanh"), X, y)
    assert not result.passed()
    assert result.worst_rel_error > 100 * PASS_RTOL


LARGE_PLANTED = {"dW1-scaled-by-1.001": ScaledW1, "no-1-over-m": NoMeanOverSamples}


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("cls", LARGE_PLANTED.values(), ids=LARGE_PLANTED.keys())
def test_directional_check_catches_a_planted_wrong_gradient_at_784x1024(cls, activation):
    net, X, y = large_problem(activation)
    result = directional(cls(net.params, activation), X, y)
    assert not result.kinks.any()
    assert not result.passed()
    assert result.worst_rel_error > 100 * PASS_RTOL


def test_directional_derivative_is_the_gradient_dotted_with_the_direction():
    net, X, y = random_problem("tanh")
    result = directional(net, X, y, n_directions=2)
    net.forward(X)
    grads = net.backward(y)
    rng = np.random.default_rng(
        SEED
    )  # the same draws, in the same order: tensor by tensor, direction by direction
    for k in range(2):
        u = [rng.standard_normal(p.shape) for p in net.params]
        norm = np.sqrt(sum(np.sum(d * d) for d in u))
        expected = sum(np.sum(g * d) for g, d in zip(grads, u, strict=True)) / norm
        np.testing.assert_allclose(
            result.analytic[k], expected, rtol=1e-9
        )  # the stored step is eps u to ~1e-10


class CountingNet(sn.TwoLayerNet):
    forwards = backwards = 0

    def forward(self, X):
        self.forwards += 1
        return super().forward(X)

    def backward(self, y):
        self.backwards += 1
        return super().backward(y)


def test_directional_check_costs_one_backward_and_two_forwards_per_direction():
    net, X, y = random_problem("relu")
    counting = CountingNet(net.params, "relu")
    directional(counting, X, y, n_directions=3)
    assert (counting.forwards, counting.backwards) == (1 + 2 * 3, 1)


def test_directional_check_restores_parameters_and_cache_bit_for_bit():
    net, X, y = random_problem("relu", n_runs=2)
    before = net.params.copy()
    arrays = list(net.params)
    net.forward(X)
    cache = net.cache
    directional(net, X, y)
    for name, a, b, same in zip(sn.Params.NAMES, net.params, before, arrays, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a is same or np.shares_memory(a, same), f"{name} was replaced, not restored in place"
    assert net.cache is cache


def test_a_step_across_a_relu_kink_is_reported():
    """XOR's input (0, 0) with zero biases puts every hidden pre-activation of that sample exactly at 0: any
    step that moves b1 crosses the kink, one way on theta + eps u and the other on theta - eps u."""
    net = sn.TwoLayerNet.init(2, 4, activation="relu", rng=np.random.default_rng(SEED))
    X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
    y = np.array([[0.0, 1.0, 1.0, 0.0]])
    assert np.all(directional(net, X, y).kinks >= 1)
    assert not directional(sn.TwoLayerNet(net.params, "tanh"), X, y).kinks.any()  # tanh has no kink


def test_a_coarse_directional_step_is_caught():
    net, X, y = random_problem("tanh")
    assert not directional(net, X, y, eps=0.5).passed()


def test_directional_check_refuses_float32_and_bad_arguments():
    """Each message names the argument and says how to fix it (matched from the start: a name inside another
    word would not do)."""
    net, X, y = random_problem("tanh")
    net32 = sn.TwoLayerNet(net.params.astype(np.float32), "tanh")
    with pytest.raises(
        TypeError,
        match=r"^directional_gradient_check needs a float64 network .* got float32: "
        r"cast with .* and X, y with \.astype\(np\.float64\)$",
    ):
        directional(net32, X.astype(np.float32), y.astype(np.float32))
    with pytest.raises(ValueError, match="^n_directions must be a positive integer; got 0$"):
        directional(net, X, y, n_directions=0)
    with pytest.raises(TypeError, match="^rng must be a numpy.random.Generator"):
        sn.directional_gradient_check(net, X, y, rng=0)
    with pytest.raises(ValueError, match="^eps must be a finite number > 0; got -1e-06$"):
        directional(net, X, y, eps=-1e-6)
    with pytest.raises(TypeError, match="^net must be a scratch_nn.TwoLayerNet; got Params$"):
        directional(net.params.copy(), X, y)


def test_directional_result_carries_its_step_kink_counts_and_rounding_allowance():
    """rounding is 8 ulp of the loss over the step 2 eps; the loss at theta +- eps u lies within a hair of the
    loss at theta, in the same binade here, so its ulp is the one of the loss at theta."""
    net, X, y = random_problem("relu")
    net.forward(X)
    loss = float(net.loss(y))
    for eps in (1e-6, 1e-3):
        result = directional(net, X, y, n_directions=3, eps=eps)
        assert result.eps == eps
        assert result.kinks.dtype.kind == "i" and result.kinks.shape == (3,)
        np.testing.assert_allclose(result.rounding, 8 * np.spacing(loss) / (2 * eps), rtol=1e-12)


def test_directional_rounding_allowance_passes_a_correct_gradient_at_a_rounding_sized_step():
    """At eps = 1e-11 the loss difference is a few ulp, all rounding: the allowance is what lets it pass."""
    net, X, y = random_problem("tanh")
    result = directional(net, X, y, n_directions=8, eps=1e-11)
    assert result.passed(), (result.abs_errors, result.rounding)
    assert np.any(result.abs_errors > 1e-6 * np.abs(result.analytic))  # rounding shows: rtol alone would fail
