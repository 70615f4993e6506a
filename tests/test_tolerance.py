"""The tolerance policy: one bound per dtype, and the float32 bound calibrated on torch's own error."""

import numpy as np
import pytest

from parity.tolerance import FLOAT32_EPS, FLOAT32_FACTOR, FLOAT32_FLOOR_ULPS, FLOAT64_NORMWISE, normwise_tolerance


def test_float64_is_rounding_level():
    assert normwise_tolerance(np.float64).bound == FLOAT64_NORMWISE <= 1e-12


def test_float32_scales_torch_own_error():
    assert normwise_tolerance(np.float32, 1e-6).bound == pytest.approx(FLOAT32_FACTOR * 1e-6)


def test_float32_floor_applies_when_torch_is_exact():
    tol = normwise_tolerance(np.float32, 0.0)
    assert tol.bound == pytest.approx(FLOAT32_FLOOR_ULPS * FLOAT32_EPS) and "floor" in tol.rule


def test_float32_needs_torch_error():
    with pytest.raises(ValueError, match="torch float32's own error"):
        normwise_tolerance(np.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_other_dtypes_have_no_policy(dtype):
    with pytest.raises(TypeError, match="no tolerance policy"):
        normwise_tolerance(dtype)
