"""TwoLayerNet: its explicit backward equals the gates chained, its loss is exact, stacked runs equal single
ones, train equals the step-by-step loop, and XOR is learned."""

from __future__ import annotations

import numpy as np
import pytest
from engine_support import ROUNDING_RTOL, strict_fp

import scratch_nn as sn

XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def assert_params_equal(actual: sn.Params, desired: sn.Params, *, rtol=0.0, what=""):
    """Per tensor: shape, then dtype, then values (bit for bit unless rtol), the tensor named on failure."""
    for name, a, d in zip(sn.Params.NAMES, actual, desired, strict=True):
        assert a.shape == d.shape, f"{what} {name}: shape {a.shape} != {d.shape}"
        assert a.dtype == d.dtype, f"{what} {name}: dtype {a.dtype} != {d.dtype}"
        if rtol:
            np.testing.assert_allclose(a, d, rtol=rtol, atol=0, err_msg=f"{what} {name}")
        else:
            np.testing.assert_array_equal(a, d, err_msg=f"{what} {name}")


def random_case(activation, dtype=np.float64, *, n_runs=None, per_run_data=False, n_out=1, seed=20):
    """A net with nonzero biases and random data: X (3, 5) (or (R, 3, 5)), y in [0, 1]."""
    rng = np.random.default_rng(seed)
    net = sn.TwoLayerNet.init(3, 4, n_out, activation=activation, rng=rng, n_runs=n_runs)
    params = net.params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.5
    params.b2 = rng.standard_normal(params.b2.shape) * 0.5
    lead = (n_runs,) if per_run_data else ()
    X = rng.standard_normal((*lead, 3, 5))
    y = rng.random((*lead, n_out, 5))
    return sn.TwoLayerNet(params.astype(dtype), activation), X.astype(dtype), y.astype(dtype)


def gate_chain(params: sn.Params, activation: str, X, y):
    """The network built from the gates, and its gradients by chaining their backwards: the definition that
    the explicit backward must equal. Returns (z2, p, grads)."""
    mm1, add1, mm2, add2, sig = sn.MatMul(), sn.Add(), sn.MatMul(), sn.Add(), sn.Sigmoid()
    act = sn.ReLU() if activation == "relu" else sn.Tanh()
    z1 = add1.forward(mm1.forward(params.W1, X), params.b1)
    z2 = add2.forward(mm2.forward(params.W2, act.forward(z1)), params.b2)
    p = sig.forward(z2)
    dz2 = (p - y) / (y.shape[-2] * y.shape[-1])  # mean BCE from the logit: d/dz2 = (sigmoid(z2) - y) / N
    d_w2h, db2 = add2.backward(dz2)
    dW2, dh = mm2.backward(d_w2h)
    (dz1,) = act.backward(dh)
    d_w1x, db1 = add1.backward(dz1)
    dW1, _ = mm1.backward(d_w1x)
    return z2, p, sn.Params(dW1, db1, dW2, db2)


LAYOUTS = {
    "single": {},
    "two-outputs": {"n_out": 2},
    "stacked-shared-data": {"n_runs": 3},
    "stacked-per-run-data": {"n_runs": 3, "per_run_data": True},
    "stacked-two-outputs": {"n_runs": 2, "n_out": 2},
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backward_equals_the_gate_chain_bit_for_bit(activation, dtype, layout):
    net, X, y = random_case(activation, dtype, **layout)
    z2, p_chain, grads_chain = gate_chain(net.params, activation, X, y)
    p = net.forward(X)
    grads = net.backward(y)
    np.testing.assert_array_equal(p, p_chain)
    assert p.dtype == dtype
    assert_params_equal(grads, grads_chain, what="backward vs gate chain")


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_loss_is_mean_bce_from_the_logit(activation, dtype):
    net, X, y = random_case(activation, dtype, n_out=2)
    z2, _, _ = gate_chain(
        net.params.astype(np.float64), activation, X.astype(np.float64), y.astype(np.float64)
    )
    y64 = y.astype(np.float64)
    desired = np.mean((1 - y64) * z2 + np.logaddexp(0, -z2))  # -log_sigmoid(z) = log(1 + exp(-z))
    net.forward(X)
    loss = net.loss(y)
    assert np.ndim(loss) == 0 and loss.dtype == dtype and not isinstance(loss, np.ndarray)
    np.testing.assert_allclose(loss, desired, rtol=10 * ROUNDING_RTOL[np.dtype(dtype)])


@pytest.mark.parametrize(
    "logit", [1000.0, -1000.0, 40.0, -40.0], ids=["plus-1000", "minus-1000", "plus-40", "minus-40"]
)
def test_loss_and_gradient_are_exact_and_quiet_at_saturated_logits(logit):
    params = sn.Params(np.zeros((2, 2)), np.zeros((2, 1)), np.zeros((1, 2)), np.full((1, 1), logit))
    net = sn.TwoLayerNet(params, "relu")
    with strict_fp():
        p = net.forward(XOR_X)
        loss = net.loss(XOR_Y)
        grads = net.backward(XOR_Y)
    # per element (1 - y) z + log(1 + exp(-z)): two samples with y = 0 and two with y = 1
    desired = np.mean((1 - XOR_Y) * logit + np.logaddexp(0, -logit))
    assert np.isfinite(loss) and np.all((0 <= p) & (p <= 1))
    np.testing.assert_allclose(loss, desired, rtol=1e-15)
    np.testing.assert_array_equal(grads.b2, ((p - XOR_Y) / 4).sum(axis=1, keepdims=True))


# -- stacked networks ------------------------------------------------------------------------------------


def single_runs(net: sn.TwoLayerNet) -> list[sn.TwoLayerNet]:
    return [
        sn.TwoLayerNet(sn.Params(*(a[r].copy() for a in net.params)), net.activation)
        for r in range(net.n_runs)
    ]


@pytest.mark.parametrize("per_run_data", [False, True], ids=["shared-data", "per-run-data"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_stacked_network_equals_its_runs_one_by_one(activation, per_run_data):
    net, X, y = random_case(activation, n_runs=3, per_run_data=per_run_data)
    singles = single_runs(net)
    net.forward(X)
    losses, grads = net.loss(y), net.backward(y)
    assert isinstance(losses, np.ndarray) and losses.shape == (3,)
    for r, single in enumerate(singles):
        X_r, y_r = (X[r], y[r]) if per_run_data else (X, y)
        single.forward(X_r)
        assert losses[r] == single.loss(y_r)
        assert_params_equal(sn.Params(*(g[r] for g in grads)), single.backward(y_r), what=f"run {r}")


@pytest.mark.parametrize("max_norm", [None, 0.5], ids=["no-clip", "clip"])
def test_stacked_training_equals_training_each_run(max_norm):
    net, X, y = random_case("tanh", n_runs=3)
    singles = single_runs(net)
    history = net.train(X, y, 30, 0.5, max_norm=max_norm)
    assert history.losses.shape == (30, 3)
    for r, single in enumerate(singles):
        alone = single.train(X, y, 30, 0.5, max_norm=max_norm)
        np.testing.assert_array_equal(history.losses[:, r], alone.losses)
        if max_norm is None:
            assert history.total_norms is None
        else:
            np.testing.assert_array_equal(history.total_norms[:, r], alone.total_norms)
        assert_params_equal(sn.Params(*(a[r] for a in net.params)), single.params, what=f"run {r}")


# -- training --------------------------------------------------------------------------------------------


def step_by_step(net: sn.TwoLayerNet, X, y, epochs, lr, max_norm=None):
    """The training loop written with the public pieces; train() must give the same bits."""
    losses, norms = [], []
    clip = sn.clip_grad_norm if net.n_runs is None else sn.clip_grad_norm_per_run
    for _ in range(epochs):
        net.forward(X)
        losses.append(net.loss(y))
        grads = net.backward(y)
        if max_norm is not None:
            result = clip(grads, max_norm)
            norms.append(result.total_norm)
            grads = sn.Params(*result.grads)
        net.sgd_step(grads, lr)
    return np.array(losses), (np.array(norms) if max_norm is not None else None)


TRAIN_CASES = {
    "relu-float64": ("relu", np.float64, {}, None),
    "tanh-float32": ("tanh", np.float32, {}, None),
    "relu-float64-clipped": ("relu", np.float64, {}, 0.05),
    "tanh-float32-clipped": ("tanh", np.float32, {}, 0.05),
    "tanh-stacked-clipped": ("tanh", np.float64, {"n_runs": 2}, 0.05),
    "relu-stacked-per-run": ("relu", np.float32, {"n_runs": 2, "per_run_data": True}, None),
}


@pytest.mark.parametrize("activation, dtype, layout, max_norm", TRAIN_CASES.values(), ids=TRAIN_CASES.keys())
def test_train_equals_the_step_by_step_loop(activation, dtype, layout, max_norm):
    net, X, y = random_case(activation, dtype, **layout)
    twin = sn.TwoLayerNet(net.params.copy(), activation)
    history = net.train(X, y, 25, 0.3, max_norm=max_norm)
    losses, norms = step_by_step(twin, X, y, 25, 0.3, max_norm)
    assert history.losses.dtype == dtype
    np.testing.assert_array_equal(history.losses, losses.astype(dtype))
    if max_norm is None:
        assert history.total_norms is None
    else:
        np.testing.assert_array_equal(history.total_norms, norms)
        assert np.all(history.total_norms > max_norm)  # the case really clips
    assert_params_equal(net.params, twin.params, what="after training")
    np.testing.assert_array_equal(net.cache.p, twin.cache.p)  # the cache: the last epoch's forward


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_xor_is_learned(activation):
    net = sn.TwoLayerNet.init(2, 4, activation=activation, rng=np.random.default_rng(0))
    history = net.train(XOR_X, XOR_Y, 2000, 1.0)
    assert history.losses.shape == (2000,)
    assert history.losses[0] > 0.5 and history.losses[-1] < 0.01
    assert history.losses[-100:].max() < history.losses[:100].min()  # lr = 1 oscillates, but it gets there
    np.testing.assert_array_equal(net.predict(XOR_X) > 0.5, XOR_Y > 0.5)


def test_a_diverging_run_shows_in_its_losses_without_warnings_like_torch():
    net = sn.TwoLayerNet.init(2, 4, activation="relu", rng=np.random.default_rng(0))
    with strict_fp():
        history = net.train(XOR_X, XOR_Y, 4, 1e300)  # the first update overflows
        clipped = net.train(XOR_X, XOR_Y, 2, 1.0, max_norm=1.0)
    assert np.isfinite(history.losses[0]) and np.isnan(history.losses[1:]).all()
    assert np.isnan(clipped.total_norms).all()


def test_first_loss_is_the_loss_of_the_initial_parameters():
    net, X, y = random_case("relu")
    net.forward(X)
    initial = net.loss(y)
    assert net.train(X, y, 3, 0.1).losses[0] == initial


# -- the pieces ------------------------------------------------------------------------------------------


def test_predict_does_not_disturb_the_cache():
    net, X, y = random_case("tanh")
    p = net.forward(X).copy()
    cache = net.cache
    snapshot = [a.copy() for a in cache]
    grads_before = net.backward(y)
    p_other = net.predict(X[:, :2] * 3)
    assert p_other.shape == (1, 2)
    assert net.cache is cache
    for a, b in zip(cache, snapshot, strict=True):
        np.testing.assert_array_equal(a, b)
    assert_params_equal(net.backward(y), grads_before, what="backward after predict")
    np.testing.assert_array_equal(net.predict(X), p)


def test_results_of_one_off_calls_are_not_overwritten_later():
    net, X, y = random_case("relu")
    p1 = net.forward(X)
    g1 = net.backward(y)
    kept_p, kept_g = p1.copy(), g1.copy()
    net.forward(X * 2)
    net.backward(y)
    net.train(X, y, 2, 0.1)
    np.testing.assert_array_equal(p1, kept_p)
    assert_params_equal(g1, kept_g)


def test_sgd_step_updates_in_place_and_leaves_grads_alone():
    net, X, y = random_case("relu")
    before = net.params.copy()
    arrays = list(net.params)
    net.forward(X)
    grads = net.backward(y)
    kept = grads.copy()
    net.sgd_step(grads, 0.1)
    assert all(a is b for a, b in zip(net.params, arrays, strict=True))
    assert_params_equal(grads, kept)
    assert_params_equal(net.params, sn.Params(*(p - 0.1 * g for p, g in zip(before, kept, strict=True))))


def test_network_keeps_its_own_copy_of_the_parameters():
    params = sn.TwoLayerNet.init(2, 4, activation="relu", rng=np.random.default_rng(0)).params.copy()
    kept = params.copy()
    net = sn.TwoLayerNet(params, "relu")
    net.train(XOR_X, XOR_Y, 5, 1.0)
    assert_params_equal(params, kept, what="the caller's arrays")
    assert not np.array_equal(net.params.W1, kept.W1)


def test_replacing_one_parameter_array_is_honoured_by_train():
    net = sn.TwoLayerNet.init(2, 4, activation="relu", rng=np.random.default_rng(0))
    twin = sn.TwoLayerNet(net.params.copy(), "relu")
    params = net.params.copy()
    params.W1 = params.W1 * 2
    net.params = params
    twin.params = sn.Params(twin.params.W1 * 2, twin.params.b1, twin.params.W2, twin.params.b2)
    net.train(XOR_X, XOR_Y, 3, 0.5)
    twin.train(XOR_X, XOR_Y, 3, 0.5)
    assert_params_equal(net.params, twin.params)


def test_init_is_he_initialization_from_the_given_generator():
    net = sn.TwoLayerNet.init(3, 5, 2, activation="tanh", rng=np.random.default_rng(42))
    rng = np.random.default_rng(42)
    W1 = rng.standard_normal((5, 3)) * np.sqrt(2.0 / 3)
    W2 = rng.standard_normal((2, 5)) * np.sqrt(2.0 / 5)
    assert_params_equal(net.params, sn.Params(W1, np.zeros((5, 1)), W2, np.zeros((2, 1))))
    assert net.activation == "tanh" and net.n_runs is None and net.dtype == np.float64


def test_init_float32_is_the_float64_draw_rounded_and_stacked_shapes_lead_with_runs():
    p64 = sn.TwoLayerNet.init(3, 5, activation="relu", rng=np.random.default_rng(1)).params
    p32 = sn.TwoLayerNet.init(3, 5, activation="relu", rng=np.random.default_rng(1), dtype=np.float32).params
    assert_params_equal(p32, p64.astype(np.float32))
    stacked = sn.TwoLayerNet.init(3, 5, 2, activation="relu", rng=np.random.default_rng(1), n_runs=4)
    assert [a.shape for a in stacked.params] == [(4, 5, 3), (4, 5, 1), (4, 2, 5), (4, 2, 1)]
    assert stacked.n_runs == 4


def test_params_container():
    params = sn.Params(np.ones((4, 2)), np.zeros((4, 1)), np.ones((1, 4)), np.zeros((1, 1)))
    assert sn.Params.NAMES == ("W1", "b1", "W2", "b2")
    assert [a is b for a, b in zip(params, (params.W1, params.b1, params.W2, params.b2), strict=True)] == [
        True
    ] * 4
    assert list(params.as_dict()) == list(sn.Params.NAMES) and params.as_dict()["b2"] is params.b2
    copy = params.copy()
    copy.W1[0, 0] = 7.0
    assert params.W1[0, 0] == 1.0
    as32 = params.astype(np.float32)
    assert all(a.dtype == np.float32 for a in as32)
    assert not np.shares_memory(params.astype(np.float64).W1, params.W1)


def test_forward_shapes_and_probabilities():
    net, X, y = random_case("relu", n_runs=3, n_out=2)
    p = net.forward(X)
    assert p.shape == (3, 2, 5) and np.all((0 <= p) & (p <= 1))
    assert net.cache.h.shape == (3, 4, 5)
    np.testing.assert_array_equal(net.cache.X, X)
    assert not np.shares_memory(net.cache.X, X)  # its own copy: the caller may change X before backward


def _bytes_of(net, X, y):
    """Everything a single network computes, as raw bytes (the signs of zeros too), run axis dropped."""
    p = net.forward(X)
    grads = net.backward(y)
    history = net.train(X, y, 3, 0.5)
    squeeze = (lambda a: a[0]) if net.n_runs else (lambda a: a)
    return [squeeze(a).tobytes() for a in (p, *grads, *net.params)] + [history.losses.reshape(-1).tobytes()]


BYTE_CASES = {
    # (n_in, n_hidden, m): with 1 x 1 x 1 products (np.dot's scalar path), without, one hidden unit, XOR's
    # size
    "1x1x1": (1, 1, 1),
    "in1-m1": (1, 3, 1),
    "hidden1-m1": (3, 1, 1),
    "m1": (3, 3, 1),
    "hidden1": (16, 1, 64),
    "xor-size": (2, 4, 4),
}


@pytest.mark.parametrize("strided", [False, True], ids=["contiguous-X", "strided-X"])
@pytest.mark.parametrize("case", BYTE_CASES.values(), ids=BYTE_CASES.keys())
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_one_network_gives_the_bits_of_itself_stacked_once(activation, dtype, case, strided):
    """A single network multiplies with np.dot where it can, a stacked one with np.matmul, as the gate chain:
    the same bits, zeros' signs included, for any X (strided: made contiguous first) and for (1, 1)
    operands."""
    n_in, n_hidden, m = case
    rng = np.random.default_rng(7)
    params = sn.Params(
        rng.standard_normal((n_hidden, n_in)),
        np.zeros((n_hidden, 1)),
        rng.standard_normal((1, n_hidden)),
        np.zeros((1, 1)),
    ).astype(dtype)
    params.W1[0] = -np.abs(params.W1[0])  # X >= 0 and y = 1: a ReLU unit off, its h = 0 times dz2 < 0, whose
    X = np.abs(rng.standard_normal((n_in, 2 * m) if strided else (n_in, m))).astype(dtype)  # sign np.dot's
    X = X[:, ::2] if strided else X  # scalar path for two (1, 1) operands flips
    y = np.ones((1, m), dtype)
    single = _bytes_of(sn.TwoLayerNet(params, activation), X, y)
    stacked = _bytes_of(sn.TwoLayerNet(sn.Params(*(a[None] for a in params)), activation), X, y)
    names = ["p", "dW1", "db1", "dW2", "db2", "W1", "b1", "W2", "b2", "losses"]
    assert [n for n, a, b in zip(names, single, stacked, strict=True) if a != b] == []
