"""DeepNet: one hidden layer is TwoLayerNet bit for bit (forward, loss, backward, training with clipping),
stacked runs equal single ones, and bad input gets the two-layer network's clear errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import scratch_nn as sn

# (n_in, n_hidden, m, n_out): XOR's size, a 1 x 1 x 1 product, two outputs, and one past the network's
# blocking
SIZES = {
    "2x4x4": (2, 4, 4, 1),
    "1x1x1": (1, 1, 1, 1),
    "3x5x7x2": (3, 5, 7, 2),
    "100x600x512": (100, 600, 512, 1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES)
def test_one_hidden_layer_is_two_layer_net_bit_for_bit(size, activation, dtype):
    n_in, n_hidden, m, n_out = size
    rng = np.random.default_rng(7)
    P = sn.TwoLayerNet.init(n_in, n_hidden, n_out, activation=activation, rng=rng, dtype=dtype).params.copy()
    P.b1 = (rng.standard_normal(P.b1.shape) * 0.1).astype(dtype)
    P.b2 = (rng.standard_normal(P.b2.shape) * 0.1).astype(dtype)
    X = rng.standard_normal((n_in, m)).astype(dtype)
    y = (rng.random((n_out, m)) < 0.5).astype(dtype)
    two, deep = sn.TwoLayerNet(P, activation), sn.DeepNet(sn.Layers([P.W1, P.W2], [P.b1, P.b2]), activation)
    np.testing.assert_array_equal(deep.forward(X), two.forward(X), err_msg="p")
    loss, two_loss = deep.loss(y), two.loss(y)
    assert type(loss) is type(two_loss) and loss == two_loss, f"loss {loss!r} != {two_loss!r}"
    for name, g, d in zip(sn.Params.NAMES, deep.backward(y), two.backward(y), strict=True):
        assert g.dtype == d.dtype, name
        np.testing.assert_array_equal(g, d, err_msg=f"d{name}")
    history = deep.train(X, y, 20, 0.5, max_norm=0.3)
    two_history = two.train(X, y, 20, 0.5, max_norm=0.3)
    np.testing.assert_array_equal(history.losses, two_history.losses, err_msg="losses")
    np.testing.assert_array_equal(history.total_norms, two_history.total_norms, err_msg="total norms")
    for name, a, b in zip(sn.Params.NAMES, deep.params, two.params, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"trained {name}")


def deep_case(rng, widths, n_runs=None, dtype=np.float64):
    lead = () if n_runs is None else (n_runs,)
    weights = [rng.standard_normal((*lead, o, i)) * np.sqrt(2 / i) for i, o in itertools.pairwise(widths)]
    biases = [rng.standard_normal((*lead, o, 1)) * 0.1 for o in widths[1:]]
    return sn.Layers([w.astype(dtype) for w in weights], [b.astype(dtype) for b in biases])


ACTS = ("sigmoid", "relu", "tanh")


def test_stacked_runs_equal_single_runs():
    rng = np.random.default_rng(3)
    widths = (4, 6, 1, 5, 1)
    stacked = deep_case(rng, widths, n_runs=3)
    X, y = rng.standard_normal((4, 9)), (rng.random((1, 9)) < 0.5) * 1.0
    net = sn.DeepNet(stacked, ACTS)
    p, loss, grads = net.forward(X), net.loss(y), net.backward(y)
    history = sn.DeepNet(stacked, ACTS).train(X, y, 30, 0.5, max_norm=0.5)
    for r in range(3):
        one = sn.Layers([w[r] for w in stacked.weights], [b[r] for b in stacked.biases])
        single = sn.DeepNet(one, ACTS)
        np.testing.assert_allclose(p[r], single.forward(X), rtol=1e-15, atol=0)
        np.testing.assert_allclose(loss[r], single.loss(y), rtol=1e-15, atol=0)
        for name, g, d in zip(one.names, grads, single.backward(y), strict=True):
            np.testing.assert_allclose(g[r], d, rtol=1e-13, atol=1e-300, err_msg=name)
        one_history = sn.DeepNet(one, ACTS).train(X, y, 30, 0.5, max_norm=0.5)
        np.testing.assert_allclose(history.losses[:, r], one_history.losses, rtol=1e-13, atol=0)
        np.testing.assert_allclose(history.total_norms[:, r], one_history.total_norms, rtol=1e-13, atol=0)


def test_backward_matches_central_differences():
    """A depth-3 mixed network in float64: every gradient element against (L(w + h) - L(w - h)) / 2h."""
    rng = np.random.default_rng(5)
    layers = deep_case(rng, (3, 4, 2, 3, 1))
    X, y = rng.standard_normal((3, 6)), rng.random((1, 6))
    net = sn.DeepNet(layers, ACTS)
    net.forward(X)
    grads = net.backward(y)
    for name, param, grad in zip(layers.names, layers, grads, strict=True):
        numeric = np.empty_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            losses = []
            for step in (1e-6, -1e-6):
                param[i] = old + step
                probe = sn.DeepNet(layers, ACTS)
                probe.forward(X)
                losses.append(probe.loss(y))
            param[i] = old
            numeric[i] = (losses[0] - losses[1]) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_function_form_round_trips_the_dict():
    rng = np.random.default_rng(1)
    layers = deep_case(rng, (2, 3, 3, 1))
    X, y = rng.standard_normal((2, 4)), rng.random((1, 4))
    p, loss, grads = sn.deep_network(layers.as_dict(), X, y, activations=("tanh", "relu"))
    assert p.shape == (1, 4) and np.ndim(loss) == 0
    assert list(grads) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    losses, final, norms = sn.deep_train(layers.as_dict(), X, y, epochs=3, lr=0.1, activations="tanh")
    assert losses.shape == (3,) and norms is None and list(final) == list(grads)


def bad(change):
    rng = np.random.default_rng(0)
    layers = deep_case(rng, (2, 3, 1))
    return change(layers)


BAD = {
    "depth-0": (lambda L: sn.Layers(L.weights[:1], L.biases[:1]), ValueError, "at least one hidden layer"),
    "width-0": (
        lambda L: sn.Layers([np.zeros((0, 2)), np.zeros((1, 0))], [np.zeros((0, 1)), np.zeros((1, 1))]),
        ValueError,
        "W1 must have shape",
    ),
    "one-bias-short": (lambda L: sn.Layers(L.weights, L.biases[:1]), ValueError, "one bias per weight"),
    "chain-broken": (
        lambda L: sn.Layers([L.weights[0], np.zeros((1, 4))], L.biases),
        ValueError,
        "W2 must have shape",
    ),
    "bias-shape": (
        lambda L: sn.Layers(L.weights, [L.biases[0], np.zeros((1,))]),
        ValueError,
        "b2 must have shape",
    ),
    "mixed-dtype": (
        lambda L: sn.Layers(L.weights, [L.biases[0], L.biases[1].astype(np.float32)]),
        TypeError,
        "b2 has dtype float32",
    ),
    "int-weights": (lambda L: sn.Layers([L.weights[0].astype(int), L.weights[1]], L.biases), TypeError, "W1"),
    "not-layers": (lambda L: L.as_dict(), TypeError, "scratch_nn.Layers"),
}


@pytest.mark.parametrize("change, error, message", BAD.values(), ids=BAD)
def test_constructor_rejects_bad_params(change, error, message):
    with pytest.raises(error, match=message):
        sn.DeepNet(bad(change), "relu")


@pytest.mark.parametrize(
    "activations, message",
    [
        ("softplus", r"activations\[0\] must be one of"),
        (("relu", "tanh"), "a sequence of 1"),
        (("relu", 3), "a sequence of 1"),
        (None, "one name or a sequence"),
    ],
)
def test_constructor_rejects_bad_activations(activations, message):
    with pytest.raises(ValueError, match=message):
        sn.DeepNet(bad(lambda L: L), activations)


def test_bad_data_and_training_arguments_get_the_two_layer_errors():
    net = sn.DeepNet(bad(lambda L: L), "sigmoid")
    with pytest.raises(ValueError, match="X must have shape"):
        net.forward(np.zeros((3, 4)))
    with pytest.raises(RuntimeError, match="call forward"):
        net.backward(np.zeros((1, 4)))
    net.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="labels in"):
        net.loss(np.full((1, 4), 2.0))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        net.train(np.zeros((2, 4)), np.zeros((1, 4)), 0, 0.1)
    with pytest.raises(ValueError, match="lr must be"):
        net.sgd_step(net.backward(np.zeros((1, 4))), -1.0)
    with pytest.raises(ValueError, match="exactly the keys"):
        sn.deep_network(
            {"W1": np.zeros((3, 2)), "b1": np.zeros((3, 1))},
            np.zeros((2, 4)),
            np.zeros((1, 4)),
            activations="relu",
        )
