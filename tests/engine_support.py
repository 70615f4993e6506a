"""Shared by the engine's own tests (scratch against hand values, central differences, or itself): not a
parity comparison, so not judged by parity.tolerance, which bounds scratch against torch."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

# Central differences (eps = 1e-6, float64) against the analytic gradient.
GRAD_RTOL = 1e-7
# A few ulps, for results that differ only by the order of operations.
ROUNDING_RTOL = {np.dtype(np.float32): 4e-7, np.dtype(np.float64): 1e-15}


def assert_same(actual, desired, *, rtol=0.0, what=""):
    """Shape, then dtype, then values (exact unless rtol), the stage named on failure."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, f"{what}: shape {actual.shape} != {desired.shape}"
    assert actual.dtype == desired.dtype, f"{what}: dtype {actual.dtype} != {desired.dtype}"
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=0, err_msg=what)


@contextlib.contextmanager
def strict_fp():
    """FP flags raise and warnings are errors: a formula that overflows or makes NaN fails loudly."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
