"""The readable networks and their kernels give the same bits (cs231n's layers.py beside fast_layers.py).

network.forward / loss / backward (the notebook's derivation, an op per line) against network_kernel.Step (the
blocked, preallocated step train() runs), and deep.py's readable chain rule against deep_kernel, over the
shapes, dtypes and activations of the engine's byte-level tests, with the hidden layer cut into blocks as well
as whole. Bytes are compared, so a zero's sign counts.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import scratch_nn as sn
from scratch_nn import network, network_kernel

ONE_BLOCK = 1 << 40  # bytes: every array fits one block

# (n_in, n_hidden, m, n_out, n_runs, per-run data): the layouts of test_engine_network and
# test_engine_blocking, and the sizes of test_engine_deep (XOR's, a 1 x 1 x 1 product, two outputs, one past
# the blocking)
SHAPES = {
    "2x4x4": (2, 4, 4, 1, None, False),
    "1x1x1": (1, 1, 1, 1, None, False),
    "3x4x5-two-outputs": (3, 4, 5, 2, None, False),
    "3x7x5": (3, 7, 5, 1, None, False),
    "3x5x7x2": (3, 5, 7, 2, None, False),
    "stacked-shared-data": (3, 4, 5, 1, 3, False),
    "stacked-per-run-data": (3, 4, 5, 1, 3, True),
    "stacked-two-outputs": (3, 4, 5, 2, 2, False),
    "100x600x512": (100, 600, 512, 1, None, False),
}
# rows per block of the hidden layer: all of it, or 3 (a short last block unless 3 divides n_hidden)
BLOCKS = {"whole": None, "3-row-blocks": 3}


def case(shape, dtype, seed=11):
    n_in, n_hidden, m, n_out, n_runs, per_run = shape
    rng = np.random.default_rng(seed)
    params = sn.TwoLayerNet.init(
        n_in, n_hidden, n_out, activation="relu", rng=rng, n_runs=n_runs
    ).params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.5
    params.b2 = rng.standard_normal(params.b2.shape) * 0.5
    lead = (n_runs,) if per_run else ()
    X, y = rng.standard_normal((*lead, n_in, m)), rng.random((*lead, n_out, m))
    return params.astype(dtype), X.astype(dtype), y.astype(dtype)


def assert_same_bits(actual: np.ndarray, desired: np.ndarray, what: str) -> None:
    assert actual.shape == desired.shape and actual.dtype == desired.dtype, what
    if actual.tobytes() != desired.tobytes():
        np.testing.assert_array_equal(actual, desired, err_msg=what)
        raise AssertionError(f"{what}: equal values, different bits (a zero's sign)")


@pytest.mark.parametrize("rows", BLOCKS.values(), ids=BLOCKS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES)
def test_network_kernel_step_is_the_readable_derivation(shape, activation, dtype, rows, monkeypatch):
    P, X, y = case(shape, dtype)
    if rows is not None:
        hidden_bytes = P.W1[..., 0].size * X.shape[-1] * np.dtype(dtype).itemsize  # (R?, n_hidden, m)
        monkeypatch.setattr(network_kernel, "BLOCK_BYTES", rows * hidden_bytes // shape[1])
    cache = network.forward(P, activation, X)
    loss, grads = network.loss(cache, y), network.backward(P, activation, cache, y)

    _, kernel_grads = network_kernel.packed([a.shape for a in P], np.dtype(dtype))
    step = network_kernel.Step(P, activation == "relu", X, kernel_grads)
    step.forward()
    kernel_loss = step.loss_sums(1 - y) / network.n_averaged(y)
    step.backward(y, network.n_averaged(y))

    for name, a, b in zip(cache._fields, step.cache, cache, strict=True):
        assert_same_bits(a, b, name)
    assert_same_bits(kernel_loss, loss, "loss")
    for name, a, b in zip(sn.Params.NAMES, kernel_grads, grads, strict=True):
        assert_same_bits(a, b, f"d{name}")


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_train_is_the_readable_step_repeated(activation):
    """train() (the kernel, with clipping) against forward, loss, backward, clip and sgd_step one by one."""
    P, X, y = case(SHAPES["3x5x7x2"], np.float64)
    history = (net := sn.TwoLayerNet(P, activation)).train(X, y, 5, 0.5, max_norm=0.3)
    stepped = sn.TwoLayerNet(P, activation)
    for epoch in range(5):
        stepped.forward(X)
        assert_same_bits(np.asarray(stepped.loss(y)), history.losses[epoch], f"loss {epoch}")
        clipped = sn.clip_grad_norm(stepped.backward(y), 0.3)
        assert_same_bits(clipped.total_norm, history.total_norms[epoch], f"total norm {epoch}")
        stepped.sgd_step(sn.Params(*clipped.grads), 0.5)
    for name, a, b in zip(sn.Params.NAMES, net.params, stepped.params, strict=True):
        assert_same_bits(a, b, f"trained {name}")


# -- networks of any depth ---------------------------------------------------------------------------------

# (widths, activations, n_runs, per-run data): every activation alone and mixed, a 1-wide layer, one output
# and two, stacked runs with shared and per-run data
DEEP = {
    "relu-4x6x5x1": ((4, 6, 5, 1), "relu", None, False),
    "tanh-4x6x5x1": ((4, 6, 5, 1), "tanh", None, False),
    "sigmoid-4x6x5x1": ((4, 6, 5, 1), "sigmoid", None, False),
    "mixed-3x5x1x4x2": ((3, 5, 1, 4, 2), ("sigmoid", "relu", "tanh"), None, False),
    "mixed-1x1x1x1": ((1, 1, 1, 1), ("tanh", "sigmoid"), None, False),
    "stacked-shared-data": ((4, 6, 1, 5, 1), ("sigmoid", "relu", "tanh"), 3, False),
    "stacked-per-run-data": ((4, 6, 5, 1), ("relu", "sigmoid"), 2, True),
}


def deep_case(widths, n_runs, per_run, dtype, seed=13):
    rng = np.random.default_rng(seed)
    lead = () if n_runs is None else (n_runs,)
    weights = [rng.standard_normal((*lead, o, i)) * np.sqrt(2 / i) for i, o in itertools.pairwise(widths)]
    biases = [rng.standard_normal((*lead, o, 1)) * 0.5 for o in widths[1:]]
    data_lead = lead if per_run else ()
    X, y = rng.standard_normal((*data_lead, widths[0], 9)), rng.random((*data_lead, widths[-1], 9))
    layers = sn.Layers([w.astype(dtype) for w in weights], [b.astype(dtype) for b in biases])
    return layers, X.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("max_norm", [None, 0.3], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("deep", DEEP.values(), ids=DEEP)
def test_deep_kernel_training_is_the_readable_step_repeated(deep, max_norm, dtype):
    """DeepNet.train (deep_kernel) against forward, loss, backward, clipping and sgd_step (deep.py) one by
    one: every loss, pre-clip norm and trained parameter, and the cache train() leaves."""
    widths, activations, n_runs, per_run = deep
    layers, X, y = deep_case(widths, n_runs, per_run, dtype)
    net = sn.DeepNet(layers, activations)
    history = net.train(X, y, 4, 0.5, max_norm=max_norm)
    stepped = sn.DeepNet(layers, activations)
    clip = sn.clip_grad_norm if n_runs is None else sn.clip_grad_norm_per_run
    for epoch in range(4):
        p = stepped.forward(X)
        assert_same_bits(np.asarray(stepped.loss(y)), history.losses[epoch], f"loss {epoch}")
        grads = stepped.backward(y)
        if max_norm is not None:
            clipped = clip(list(grads), max_norm)
            assert_same_bits(clipped.total_norm, history.total_norms[epoch], f"total norm {epoch}")
            grads = sn.Layers(clipped.grads[0::2], clipped.grads[1::2])
        stepped.sgd_step(grads, 0.5)
    assert_same_bits(net.cache.p, p, "the cache's p")
    for name, a, b in zip(layers.names, net.params, stepped.params, strict=True):
        assert_same_bits(a, b, f"trained {name}")
