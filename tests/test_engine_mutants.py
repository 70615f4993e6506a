"""Tests written to kill mutants that survived a mutmut run (README, "Mutation score"): each names the
behaviour the engine's other tests left unpinned. The mutants shown equivalent are listed in the README, not
here."""

from __future__ import annotations

import numpy as np
import pytest

import scratch_nn as sn
from scratch_nn import taylor

RNG_SEED = 5


def small_net(activation="relu", n_runs=None, seed=RNG_SEED):
    return sn.TwoLayerNet.init(2, 4, activation=activation, rng=np.random.default_rng(seed), n_runs=n_runs)


# -- gates ---------------------------------------------------------------------------------------------------


def test_broadcast_from_size_two_is_summed_back():
    a, b = np.arange(6.0).reshape(2, 3), np.array([[1.0, 2.0, 3.0]])
    gate = sn.Add()
    gate.forward(a, b)
    g = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    grad_a, grad_b = gate.backward(g)
    np.testing.assert_array_equal(grad_b, [[11.0, 22.0, 33.0]])
    np.testing.assert_array_equal(grad_a, g)


def test_python_number_upstream_of_a_0d_output_is_taken_in_the_outputs_dtype():
    gate = sn.Exp()
    out = gate.forward(np.array(0.1437186, dtype=np.float32))
    (grad,) = gate.backward(0.1)
    assert grad.dtype == np.float32
    # float32(0.1) * out, not float32(0.1 * out in float64): the two differ at this x
    assert grad == np.float32(0.1) * out and grad != np.float32(0.1 * out.astype(np.float64))


def test_power_names_a_bad_exponents_type():
    with pytest.raises(TypeError, match="got str '2'"):
        sn.Power("2")


# -- clipping ------------------------------------------------------------------------------------------------


def test_clip_takes_empty_and_0d_tensors():
    grads = [np.zeros((0,)), np.array(-3.0), np.ones((2, 2))]
    result = sn.clip_grad_norm(grads, 1.5, norm_type=np.inf)
    assert float(result.total_norm) == 3.0
    assert [g.shape for g in result.grads] == [(0,), (), (2, 2)]
    np.testing.assert_allclose(result.grads[1], -3.0 * 1.5 / (3.0 + 1e-6), rtol=1e-15)


def test_per_run_clipping_with_a_general_p_equals_each_run_alone():
    rng = np.random.default_rng(RNG_SEED)
    grads = [rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4))]
    together = sn.clip_grad_norm_per_run(grads, 0.5, norm_type=3.0)
    for r in range(3):
        alone = sn.clip_grad_norm([g[r] for g in grads], 0.5, norm_type=3.0)
        np.testing.assert_allclose(together.total_norm[r], alone.total_norm, rtol=1e-14)
        for mine, theirs in zip(together.grads, alone.grads, strict=True):
            np.testing.assert_allclose(mine[r], theirs, rtol=1e-14)


def test_per_run_clipping_takes_one_value_per_run_and_is_silent_on_nonfinite_by_default():
    result = sn.clip_grad_norm_per_run([np.array([3.0, np.inf]), np.ones((2, 2))], 1.0)
    assert result.total_norm.shape == (2,) and np.isinf(result.total_norm[1])


def test_per_run_clipping_names_the_run_axis_it_expected():
    with pytest.raises(ValueError, match=r"R = \? of grads\[0\] \(\)"):
        sn.clip_grad_norm_per_run([np.array(1.0), np.ones((2,))], 1.0)
    with pytest.raises(
        ValueError, match=r"grads\[1\] must have the leading run axis R = 3 of grads\[0\] \(3, 2\); got \(\)"
    ):
        sn.clip_grad_norm_per_run([np.ones((3, 2)), np.array(1.0)], 1.0)


def test_nonfinite_error_message_is_torchs():
    with pytest.raises(
        RuntimeError,
        match="clipped. To disable this error and scale the gradients by the non-finite "
        "norm anyway, set error_if_nonfinite=False$",
    ):
        sn.clip_grad_norm([np.array([np.nan])], 1.0, error_if_nonfinite=True)


# -- validation messages -------------------------------------------------------------------------------------


def test_params_of_another_dtype_are_named():
    p = small_net().params
    for name in ("W2", "b2"):
        bad = p.copy()
        setattr(bad, name, getattr(bad, name).astype(np.float32))
        with pytest.raises(TypeError, match=f"^{name} has dtype float32 but W1 has dtype float64"):
            sn.TwoLayerNet(bad, "relu")


def test_a_1d_W2_is_a_shape_error():
    p = small_net().params.copy()
    p.W2 = p.W2.ravel()
    with pytest.raises(ValueError, match="W2 must have shape"):
        sn.TwoLayerNet(p, "relu")


def test_stacked_net_refuses_per_run_X_without_samples():
    net = small_net(n_runs=3)
    with pytest.raises(ValueError, match="X must have shape"):
        net.forward(np.zeros((3, 2, 0)))


def test_data_of_another_dtype_and_complex_data_are_named():
    net = sn.TwoLayerNet(small_net().params.astype(np.float32), "relu")
    with pytest.raises(
        TypeError, match="^X has dtype float64 but the network's parameters have dtype float32"
    ):
        net.forward(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"got complex128 \(complex values have no order for a loss"):
        net.forward(np.zeros((2, 3), dtype=np.complex128))


def test_bad_gradients_for_sgd_step_are_named():
    net = small_net()
    with pytest.raises(TypeError, match="got list"):
        net.sgd_step([1.0], 0.1)
    with pytest.raises(TypeError, match="^grads.W1 must be a float32 or float64"):
        net.sgd_step(sn.Params(*(a.astype(np.int64) for a in net.params)), 0.1)


def test_params_astype_names_a_bad_dtype():
    with pytest.raises(TypeError, match="^dtype must be np.float32 or np.float64"):
        small_net().params.astype(np.int32)


# -- IEEE results without warnings (the methods' own np.errstate) --------------------------------------------


def test_huge_finite_inputs_give_ieee_results_silently_from_every_method():
    """Overflow in the forward matmul, inf * 0 in the loss and the backward matmul, overflow of lr * grad:
    results follow IEEE arithmetic, like torch, and no floating-point warning escapes (pytest turns them into
    errors)."""
    net = sn.TwoLayerNet(
        sn.Params(np.ones((4, 2)), np.zeros((4, 1)), np.ones((1, 4)), np.zeros((1, 1))), "relu"
    )
    X = np.array([[1e308, 1.0], [1e308, 2.0]])  # finite, but W1 @ X overflows to inf
    y = np.array([[1.0, 0.0]])  # (1 - y) * inf = 0 * inf
    with np.errstate(all="warn"):
        p = net.forward(X)
        assert p.shape == (1, 2) and p[0, 0] == 1.0
        net.loss(y)
        net.backward(y)
        net.predict(X)
        net.sgd_step(sn.Params(*(np.full_like(a, 1e308) for a in net.params)), 10.0)
    assert np.isinf(net.params.W1).all()


# -- training ------------------------------------------------------------------------------------------------


def test_train_honours_all_four_parameter_arrays_replaced():
    X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[1.0, 0.0]])
    net, fresh = small_net(), small_net(seed=RNG_SEED + 1)
    params = net.params.copy()
    for name in sn.Params.NAMES:
        setattr(params, name, getattr(fresh.params, name).copy())
    net.params = params
    history = net.train(X, y, 3, 0.5)
    expected = fresh.train(X, y, 3, 0.5)
    np.testing.assert_array_equal(history.losses, expected.losses)
    for mine, theirs in zip(net.params, fresh.params, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("m", [1024, 4096])
def test_backward_with_a_partial_last_block_of_hidden_rows(m):
    """37 hidden units (prime) and thousands of samples: the backward's row blocks do not divide the hidden
    units, so the last block is partial; the gradients still equal the textbook formulas."""
    rng = np.random.default_rng(RNG_SEED)
    for activation in ("relu", "tanh"):
        net = sn.TwoLayerNet.init(3, 37, activation=activation, rng=rng)
        X, y = rng.standard_normal((3, m)), (rng.random((1, m)) < 0.5) * 1.0
        p = net.forward(X)
        grads = net.backward(y)
        W1, b1, W2, b2 = net.params
        h = np.maximum(W1 @ X + b1, 0) if activation == "relu" else np.tanh(W1 @ X + b1)
        dz2 = (p - y) / m
        dz1 = (W2.T @ dz2) * ((h > 0) if activation == "relu" else 1 - h**2)
        for mine, theirs in zip(
            grads, (dz1 @ X.T, dz1.sum(1, keepdims=True), dz2 @ h.T, dz2.sum(1, keepdims=True)), strict=True
        ):
            np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-15)


# -- gradient checking ---------------------------------------------------------------------------------------


def test_gradcheck_threshold_is_inclusive_and_names_its_arguments():
    rng = np.random.default_rng(RNG_SEED)
    net = small_net()
    X, y = rng.standard_normal((2, 3)), np.array([[1.0, 0.0, 1.0]])
    result = sn.gradient_check(net, X, y)
    assert result.passed(rtol=result.worst_rel_error)
    with pytest.raises(ValueError, match="^eps must be"):
        sn.numerical_gradient(lambda a: 0.0, np.zeros(2), eps=-1.0)
    with pytest.raises(TypeError, match="^x must be float64"):
        sn.numerical_gradient(lambda a: 0.0, np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="^x must be a float32 or float64 array; got int64"):
        sn.numerical_gradient(lambda a: 0.0, np.zeros(2, np.int64))
    with pytest.raises(
        TypeError, match=r"got float32: cast with TwoLayerNet\(net.params.astype\(np.float64\), "
    ):
        sn.gradient_check(
            sn.TwoLayerNet(net.params.astype(np.float32), "relu"), X.astype(np.float32), y.astype(np.float32)
        )


def test_gradcheck_of_a_stacked_net_uses_the_step_given():
    rng = np.random.default_rng(RNG_SEED)
    net = small_net("tanh", n_runs=2)
    X, y = rng.standard_normal((2, 3)), np.array([[1.0, 0.0, 1.0]])
    coarse = sn.gradient_check(net, X, y, eps=0.3)
    fine = sn.gradient_check(net, X, y)
    assert coarse.worst_rel_error > 1e3 * fine.worst_rel_error  # the O(eps**2) error of a coarse step shows


# -- the Taylor check ----------------------------------------------------------------------------------------


def test_taylor_result_describes_what_it_measured():
    rng = np.random.default_rng(RNG_SEED)
    net = small_net()
    X, y = rng.standard_normal((2, 5)), (rng.random((1, 5)) < 0.5) * 1.0
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0), steps=list(taylor.STEPS))
    np.testing.assert_array_equal(result.steps, taylor.STEPS)
    assert result.remainders.shape == taylor.STEPS.shape and result.floor > 0
    assert result.tensors == sn.Params.NAMES and np.linalg.norm(result.direction) == pytest.approx(1.0)
    net.forward(X)
    flat_g = np.concatenate([g.ravel() for g in net.backward(y)])
    assert result.directional == pytest.approx(float(flat_g @ result.direction), rel=1e-12)
    only_b1 = sn.taylor_check(net, X, y, rng=np.random.default_rng(0), tensors=("b1",))
    nonzero = np.flatnonzero(only_b1.direction)
    assert nonzero.min() == net.params.W1.size and nonzero.max() < net.params.W1.size + net.params.b1.size


def test_taylor_floor_is_at_least_one_rounding_of_the_loss():
    """A loss constant in W1 (X = 0, so h = relu(b1) = 0) and above 1 (b2 = 5, y = 0): every remainder along
    W1 is exactly 0, so the floor is one rounding of the loss, eps * L, and the verdict is noisy."""
    net = sn.TwoLayerNet(
        sn.Params(np.ones((4, 2)), np.zeros((4, 1)), np.ones((1, 4)), np.full((1, 1), 5.0)), "relu"
    )
    X, y = np.zeros((2, 3)), np.zeros((1, 3))
    result = sn.taylor_check(net, X, y, rng=np.random.default_rng(0), tensors=("W1",))
    net.forward(X)
    loss = float(net.loss(y))
    assert loss > 1 and result.floor == np.finfo(np.float64).eps * loss and result.verdict == "noisy"


def test_taylor_judges_only_steps_strictly_above_the_margin():
    steps = taylor.STEPS[:5]
    floor = 1e-20
    remainders = np.array([*steps[:3] ** 2, taylor.MARGIN * floor, 1e-19])
    judged, _, _, verdict = taylor.fit_slope(steps, remainders, floor)
    assert judged.tolist() == [True, True, True, False, False] and verdict == "correct"


@pytest.mark.parametrize(
    "slope, judged, verdict",
    [
        (2.0, 3, "correct"),
        (1.0, 3, "wrong gradient"),
        (1.5, 6, "inconclusive"),
        (2.0, 2, "noisy"),
    ],
)
def test_taylor_verdict_from_the_fitted_slope(slope, judged, verdict):
    steps = taylor.STEPS
    remainders = steps**slope
    floor = float(remainders[judged - 1]) / taylor.MARGIN * 0.999  # exactly `judged` steps clear the floor
    got_judged, fitted, fitted_slope, got = taylor.fit_slope(steps, remainders, floor)
    assert got == verdict and got_judged.sum() == judged
    if verdict != "noisy":
        assert fitted_slope == pytest.approx(slope, abs=1e-9) and fitted.sum() == min(
            judged, taylor.FIT_POINTS
        )


def test_taylor_names_its_bad_arguments():
    with pytest.raises(TypeError, match="^net must be a scratch_nn.TwoLayerNet; got list"):
        sn.taylor_check([], None, None, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="^rng must be a numpy.random.Generator"):
        sn.taylor_check(small_net(), np.zeros((2, 1)), np.zeros((1, 1)), rng=0)
