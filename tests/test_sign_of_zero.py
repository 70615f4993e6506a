"""ReLU and LeakyReLU keep the sign of zero as torch does (relu(-0.0) is -0.0, leaky_relu(-0.0) is
-0.0 * slope), at +0.0 and -0.0, in both dtypes; LeakyReLU's derivative at the kink is the slope, as torch's.

The comparison helper compares values, and -0.0 == 0.0, so each test also checks np.signbit itself, and the
case that makes the sign visible: Power(-1) after ReLU is -inf after -0.0 and +inf after +0.0."""

from __future__ import annotations

import numpy as np
import pytest

from parity.parametrize import DTYPES
from parity.seam import Attempt

pytestmark = pytest.mark.parity_check

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


def torch_gate(torch_ref, parity, name, inputs, upstream, dtype, **params):
    """torch's result at dtype, and for float32 also at float64 on the same inputs (the policy's
    reference)."""
    return parity.torch_runs(lambda dt: torch_ref.gate(name, inputs, upstream, dtype=dt, **params), dtype)


def engine_gate(engine, name, inputs, upstream, **params):
    """The engine's output and input gradient, through the seam (an exception fails the test with its row)."""
    forward, backward = engine.gate(name, inputs, upstream, **params)
    assert forward.ok and backward.ok, forward.problem or backward.problem
    return np.asarray(forward.value), np.asarray(backward.value[0]), Attempt.warned(forward, backward)


def out_and_grad(out, grad, torch) -> dict:
    return {
        "out": (out, *torch.desired(lambda r: r.output)),
        "grad_x": (grad, *torch.desired(lambda r: r.grads[0])),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("values", ZEROS.values(), ids=ZEROS.keys())
def test_relu_keeps_the_sign_of_zero(engine, torch_ref, parity, values, dtype):
    engine.require("gate ReLU")
    x = np.array(values, dtype=dtype)
    upstream = parity.rng().standard_normal(x.shape).astype(dtype)
    out, grad, _ = engine_gate(engine, "relu", [x], upstream)
    torch = torch_gate(torch_ref, parity, "relu", [x], upstream, dtype)
    parity.check(out_and_grad(out, grad, torch), dtype=dtype, kind="edge")
    ref = torch.at_dtype
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
    h, _, _ = engine_gate(engine, "relu", [x], upstream)
    out, grad, _ = engine_gate(engine, "power", [h], upstream, exponent=-1)
    ref_h = torch_ref.gate("relu", [x], upstream, dtype=dtype).output
    torch = torch_gate(torch_ref, parity, "power", [ref_h], upstream, dtype, exponent=-1)
    parity.check(out_and_grad(out, grad, torch), dtype=dtype, kind="edge")
    ref = torch.at_dtype
    assert_same_signs(out, ref.output, "out")
    zero = h == 0
    minus_zero = (x == 0) & np.signbit(x)
    np.testing.assert_array_equal(
        np.isneginf(out[zero]), minus_zero[zero]
    )  # 1 / -0.0 = -inf, 1 / +0.0 = +inf


SLOPES = {"default": 0.01, "negative": -0.5, "zero": 0.0}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", SLOPES.values(), ids=SLOPES.keys())
@pytest.mark.parametrize("values", ZEROS.values(), ids=ZEROS.keys())
def test_leaky_relu_keeps_the_sign_of_zero_and_the_slope_at_the_kink(
    engine, torch_ref, parity, values, slope, dtype
):
    engine.require("gate LeakyReLU")
    x = np.array(values, dtype=dtype)
    upstream = parity.rng().standard_normal(x.shape).astype(dtype)
    out, grad, _ = engine_gate(engine, "leaky_relu", [x], upstream, negative_slope=slope)
    torch = torch_gate(torch_ref, parity, "leaky_relu", [x], upstream, dtype, negative_slope=slope)
    parity.check(out_and_grad(out, grad, torch), dtype=dtype, kind="edge")
    ref = torch.at_dtype
    assert_same_signs(out, ref.output, "out")
    assert_same_signs(grad, ref.grads[0], "grad_x")
    at_zero = x == 0
    np.testing.assert_array_equal(grad[at_zero], upstream[at_zero] * dtype(slope))  # the kink takes the slope
