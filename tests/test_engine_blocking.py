"""The network's blocked elementwise passes (network_kernel.blocks) give the same bits as one block, and keep
train()'s working memory at two hidden-sized arrays.

Small networks fit one block, so the other engine tests never cut one: here the block size is forced down (or
the hidden layer made large), and every result is compared bit for bit with the one-block run.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import scratch_nn as sn
from scratch_nn import network_kernel

ONE_BLOCK = 1 << 40  # bytes: every array fits one block


def problem(activation, dtype, *, n_in=3, n_hidden=7, m=5, n_out=1, n_runs=None, per_run_data=False, seed=5):
    rng = np.random.default_rng(seed)
    net = sn.TwoLayerNet.init(n_in, n_hidden, n_out, activation=activation, rng=rng, n_runs=n_runs)
    params = net.params.copy()
    params.b1 = rng.standard_normal(params.b1.shape) * 0.5
    params.b2 = rng.standard_normal(params.b2.shape) * 0.5
    lead = (n_runs,) if per_run_data else ()
    X = rng.standard_normal((*lead, n_in, m))
    y = rng.random((*lead, n_out, m))
    return params.astype(dtype), X.astype(dtype), y.astype(dtype)


def assert_same_bits(actual, desired, what):
    assert actual.shape == desired.shape and actual.dtype == desired.dtype, what
    if actual.tobytes() != desired.tobytes():  # the signs of zeros too
        np.testing.assert_array_equal(actual, desired, err_msg=what)
        raise AssertionError(f"{what}: equal values, different bits (a zero's sign)")


def run(params, activation, X, y):
    """forward, backward, and a short train from the same parameters: everything the blocks touch."""
    net = sn.TwoLayerNet(params, activation)
    p = net.forward(X)
    grads = net.backward(y)
    history = net.train(X, y, 4, 0.5)
    return [p, *grads, history.losses, *net.params, net.cache.h, net.cache.p]


LAYOUTS = {
    "single": {},
    "two-outputs": {"n_out": 2},
    "stacked-shared-data": {"n_runs": 3},
    "stacked-per-run-data": {"n_runs": 2, "per_run_data": True},
}
# rows per block with 7 hidden units: 1 (seven blocks), 3 (3 + 3 + 1: a short last block)
ROWS = {"1-row-blocks": 1, "3-row-blocks": 3}


@pytest.mark.parametrize("rows", ROWS.values(), ids=ROWS.keys())
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_blocks_give_the_bits_of_one_block(activation, dtype, layout, rows, monkeypatch):
    params, X, y = problem(activation, dtype, **layout)
    monkeypatch.setattr(network_kernel, "BLOCK_BYTES", ONE_BLOCK)
    whole = run(params, activation, X, y)
    hidden = np.empty((*params.W1.shape[:-2], 7, X.shape[-1]), dtype)  # (R?, n_hidden, m)
    monkeypatch.setattr(network_kernel, "BLOCK_BYTES", rows * hidden.nbytes // 7)
    assert len(network_kernel.blocks(hidden)) == -(-7 // rows)
    blocked = run(params, activation, X, y)
    for i, (a, b) in enumerate(zip(blocked, whole, strict=True)):
        assert_same_bits(a, b, f"result {i}")


def test_a_large_hidden_layer_is_cut_at_the_default_block_size(monkeypatch):
    params, X, y = problem("relu", np.float64, n_in=16, n_hidden=512, m=300)
    assert len(network_kernel.blocks(np.empty((512, 300)))) > 1  # 1.2 MB of hidden activations
    blocked = run(params, "relu", X, y)
    monkeypatch.setattr(network_kernel, "BLOCK_BYTES", ONE_BLOCK)
    for i, (a, b) in enumerate(zip(blocked, run(params, "relu", X, y), strict=True)):
        assert_same_bits(a, b, f"result {i}")


def train_peak_bytes(net, X, y, *, epochs: int) -> int:
    """tracemalloc's peak over net.train(X, y, epochs), above what was allocated before it; a first train()
    runs untraced, so that first-call costs are not counted as the loop's."""
    net.train(X, y, 1, 0.1)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        net.train(X, y, epochs, 0.1)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_train_holds_two_hidden_sized_arrays_and_two_blocks(activation):
    """h and dz1; the activation's derivative and one more block (the zeros ReLU is compared with, or tanh's
    factor 1 + h) take one block of rows each. A hidden-sized or block-sized temporary in the loop shows."""
    params, X, y = problem(activation, np.float64, n_in=8, n_hidden=512, m=2048)
    peak = train_peak_bytes(sn.TwoLayerNet(params, activation), X, y, epochs=2)
    hidden_bytes = 512 * 2048 * 8
    block_bytes = math.prod(network_kernel.block_shape((512, 2048), np.dtype(np.float64))) * 8
    assert block_bytes < hidden_bytes / 8  # the hidden layer is cut
    expected = 2 * hidden_bytes + 2 * block_bytes + 9 * y.nbytes + sum(a.nbytes for a in params)
    assert expected <= peak < expected + block_bytes / 2, (peak - expected) / block_bytes


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_train_allocates_each_output_sized_array_once(activation, dtype):
    """Every array of a step is allocated once per train(), none per epoch: with many outputs and few hidden
    units the output-sized arrays dominate, and train() holds exactly 9 of them (1 - y; z2, the exponents
    -|z2| and min(z2, 0) -> log_p, their exponentials e and p, the sigmoid's denominator, the loss terms,
    dz2). A temporary in the loop, say an `out=` dropped, is a 10th."""
    params, X, y = problem(activation, dtype, n_in=2, n_hidden=2, m=2048, n_out=64)
    peak = train_peak_bytes(sn.TwoLayerNet(params, activation), X, y, epochs=5)
    out_bytes = y.nbytes  # 512 KiB in float32
    hidden_bytes = 2 * 2048 * np.dtype(dtype).itemsize  # h, dz1, and two blocks of one block each: small here
    expected = 9 * out_bytes + 4 * hidden_bytes + sum(a.nbytes for a in params)
    # the slack: NumPy's own buffers for casts (float32 through float64) and reductions, 64 KiB each
    assert expected <= peak < expected + 256 * 1024, (peak - expected) / 1024
