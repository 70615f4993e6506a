"""The 2-layer network's probabilities, loss and every parameter gradient against torch.autograd with
``binary_cross_entropy_with_logits``, ReLU and tanh, on XOR (He-initialized and the notebook's walkthrough
weights) and on random data from XOR size up to 100 inputs x 256 hidden x 512 samples, float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

from parity.datasets import he_init
from parity.parametrize import DTYPES
from parity.tensors import network_tensors

pytestmark = pytest.mark.parity_check

ACTIVATIONS = ["relu", "tanh"]

X_XOR = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
Y_XOR = np.array([[0.0, 1.0, 1.0, 0.0]])

# The notebook's backprop walkthrough: 2 inputs -> 3 hidden -> 1 output.
WALKTHROUGH = dict(
    W1=np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]),
    b1=np.full((3, 1), 0.1),
    W2=np.array([[0.7, 0.8, 0.9]]),
    b2=np.array([[0.1]]),
)

# (n_in, n_hidden, m): from XOR's size to the largest; non-square so that a transposed gradient shows
RANDOM_SIZES = {
    "2x4x4": (2, 4, 4),
    "3x5x7": (3, 5, 7),
    "10x16x32": (10, 16, 32),
    "33x64x100": (33, 64, 100),
    "100x256x512": (100, 256, 512),
}


def he_params(rng, n_in, n_hidden):
    params = he_init(rng, n_in, n_hidden)
    # non-zero biases, so that the bias paths carry information from the first step
    params["b1"] = rng.standard_normal(params["b1"].shape) * 0.1
    params["b2"] = rng.standard_normal(params["b2"].shape) * 0.1
    return params


def data_case(rng, case):
    """(params, X, y, kind) in float64 for a named case."""
    if case == "walkthrough":
        return dict(WALKTHROUGH), np.array([[1.0], [2.0]]), np.array([[1.0]]), "edge"
    if case == "walkthrough-xor":
        return dict(WALKTHROUGH), X_XOR, Y_XOR, "xor"
    if case.startswith("he-xor"):
        return he_params(rng, 2, 4), X_XOR, Y_XOR, "xor"
    if case == "soft-labels":
        X = rng.standard_normal((5, 9))
        return he_params(rng, 5, 6), X, rng.uniform(0, 1, (1, 9)), "random"
    if case == "saturated":
        X = rng.standard_normal((4, 8)) * 30  # logits in the hundreds: BCE from the logit stays exact
        return he_params(rng, 4, 5), X, (rng.uniform(size=(1, 8)) < 0.5) * 1.0, "edge"
    n_in, n_hidden, m = RANDOM_SIZES[case]
    X = rng.standard_normal((n_in, m))
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    return he_params(rng, n_in, n_hidden), X, y, "random"


CASES = ["walkthrough", "walkthrough-xor", "he-xor-a", "he-xor-b", "soft-labels", "saturated", *RANDOM_SIZES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("case", CASES)
def test_network_matches_torch(engine, torch_ref, parity, case, activation, dtype):
    engine.require(f"network {activation}")
    params, X, y, kind = data_case(parity.rng(), case)
    params = {k: v.astype(dtype) for k, v in params.items()}
    X, y = X.astype(dtype), y.astype(dtype)
    torch = parity.torch_runs(
        lambda dt: torch_ref.network(params, X, y, activation=activation, dtype=dt), dtype
    )
    result = engine.network(params, X, y, activation)
    tensors, conditioning = network_tensors(result, torch, ("W1", "b1", "W2", "b2"))
    parity.check(tensors, dtype=dtype, kind=kind, warnings=result.warned(result), conditioning=conditioning)
