"""ReLU keeps the sign of zero as torch.relu does (relu(-0.0) is -0.0), at +0.0 and -0.0, in both dtypes.

The comparison helper compares values, and -0.0 == 0.0, so each test also checks np.signbit itself, and the
case that makes the sign visible: Power(-1) after ReLU is -inf after -0.0 and +inf after +0.0."""

from __future__ import annotations

import numpy as np
import pytest

from parity.seam import Attempt

pytestmark = pytest.mark.parity_check

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
ZEROS = {
    "plus-zero": [0.0],
    "minus-zero": [-0.0],
    "mixed": [-0.0, 0.0, -3.0, 2.0, -np.inf, -1e-300],
}


def assert_same_signs(actual: np.ndarray, desired: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(
        np.signbit(actual),
        np.signbit(desired),
        err_msg=f"{what}: sign bits, scratch (ACTUAL) against torch (DESIRED)",
    )


def torch_gate(torch_ref, parity, name, inputs, upstream, dtype, exponent=None):
    """torch's result at dtype, and for float32 also at float64 on the same inputs (the policy's reference)."""
    return parity.torch_runs(
        lambda dt: torch_ref.gate(name, inputs, upstream, exponent=exponent, dtype=dt), dtype
    )


def engine_gate(engine, name, inputs, upstream, exponent=None):
    """The engine's output and input gradient, through the seam (an exception fails the test with its row)."""
    forward, backward = engine.gate(name, inputs, upstream, exponent=exponent)
    assert forward.ok and backward.ok, forward.problem or backward.problem
    return np.asarray(forward.value), np.asarray(backward.value[0]), Attempt.warned(forward, backward)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ZEROS.values(), ids=ZEROS.keys())
def test_relu_keeps_the_sign_of_zero(engine, torch_ref, parity, values, dtype):
    engine.require("gate ReLU")
    x = np.array(values, dtype=dtype)
    upstream = parity.rng().standard_normal(x.shape).astype(dtype)
    out, grad, _ = engine_gate(engine, "ReLU", [x], upstream)
    ref, ref64 = torch_gate(torch_ref, parity, "relu", [x], upstream, dtype)
    parity.check(
        {
            "out": (out, ref.output, ref64 and ref64.output),
            "grad_x": (grad, ref.grads[0], ref64 and ref64.grads[0]),
        },
        dtype=dtype,
        kind="edge",
    )
    assert_same_signs(out, ref.output, "out")
    assert_same_signs(grad, ref.grads[0], "grad_x")
    np.testing.assert_array_equal(
        np.signbit(out), (x == 0) & np.signbit(x)
    )  # -0.0 stays, the rest is >= +0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ZEROS.values(), ids=ZEROS.keys())
def test_power_minus_one_after_relu_sees_the_sign(engine, torch_ref, parity, values, dtype):
    engine.require("gate ReLU", "gate Power")
    x = np.array(values, dtype=dtype)
    upstream = parity.rng().standard_normal(x.shape).astype(dtype)
    h, _, _ = engine_gate(engine, "ReLU", [x], upstream)
    out, grad, _ = engine_gate(engine, "Power", [h], upstream, exponent=-1)
    ref_h = torch_ref.gate("relu", [x], upstream, dtype=dtype).output
    ref, ref64 = torch_gate(torch_ref, parity, "power", [ref_h], upstream, dtype, exponent=-1)
    parity.check(
        {
            "out": (out, ref.output, ref64 and ref64.output),
            "grad_x": (grad, ref.grads[0], ref64 and ref64.grads[0]),
        },
        dtype=dtype,
        kind="edge",
    )
    assert_same_signs(out, ref.output, "out")
    zero = h == 0
    minus_zero = (x == 0) & np.signbit(x)
    np.testing.assert_array_equal(
        np.isneginf(out[zero]), minus_zero[zero]
    )  # 1 / -0.0 = -inf, 1 / +0.0 = +inf
