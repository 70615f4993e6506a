"""The tolerance policy: a bound from the conditioning and depth of a result, the same rule for both
dtypes."""

import math

import numpy as np
import pytest

from parity.tolerance import (
    LAMBDA,
    TRAJECTORY_FLOAT32_FACTOR,
    TRAJECTORY_FLOAT32_FLOOR,
    TRAJECTORY_FLOAT64_NORMWISE,
    conditioned_tolerance,
    trajectory_normwise_tolerance,
    trajectory_tolerance,
)


def test_float32_is_lambda_sqrt_depth_unit_roundoffs_times_the_condition():
    tol = conditioned_tolerance(np.float32, 3.0, 16)
    assert tol.bound == pytest.approx(LAMBDA * 4 * 2.0**-24 * 3.0)
    assert "kappa=3" in tol.rule and "D=16" in tol.rule


def test_float64_counts_both_sides_at_its_own_unit_roundoff():
    assert conditioned_tolerance(np.float64, 1.0, 4).bound == pytest.approx(2 * LAMBDA * 2 * 2.0**-53)


def test_the_bound_grows_with_conditioning_and_depth_and_stays_at_rounding_level():
    base = conditioned_tolerance(np.float32, 1.0, 1).bound
    assert conditioned_tolerance(np.float32, 100.0, 1).bound == pytest.approx(100 * base)
    assert conditioned_tolerance(np.float32, 1.0, 100).bound == pytest.approx(10 * base)
    assert base < 1e-6 and conditioned_tolerance(np.float64, 1.0, 1000).bound < 1e-13


def test_underflow_adds_an_absolute_share():
    plain = conditioned_tolerance(np.float32, 1.0, 2).bound
    tiny = conditioned_tolerance(np.float32, 1.0, 2, underflow=1e40).bound  # a reference of norm 1e-40
    assert tiny - plain == pytest.approx(2 * float(np.finfo(np.float32).smallest_subnormal) * 1e40)


@pytest.mark.parametrize("condition, depth", [(math.nan, 1), (-1.0, 1), (1.0, 0)])
def test_meaningless_conditioning_is_refused(condition, depth):
    with pytest.raises(ValueError, match="condition"):
        conditioned_tolerance(np.float32, condition, depth)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_other_dtypes_have_no_policy(dtype):
    with pytest.raises(TypeError, match="no tolerance policy"):
        conditioned_tolerance(dtype, 1.0, 1)


def test_trajectories_float64_is_rounding_level_and_float32_is_calibrated_on_torch():
    assert trajectory_normwise_tolerance(np.float64).bound == TRAJECTORY_FLOAT64_NORMWISE <= 1e-12
    assert trajectory_tolerance(np.float32, 1e-5).bound == pytest.approx(TRAJECTORY_FLOAT32_FACTOR * 1e-5)
    floor = trajectory_tolerance(np.float32, 0.0)
    assert floor.bound == TRAJECTORY_FLOAT32_FLOOR and "floor" in floor.rule
    with pytest.raises(ValueError, match="torch float32's own"):
        trajectory_tolerance(np.float32)


def test_float64_trajectory_bound_is_relative_only_where_losses_exceed_one():
    from parity import tolerance

    small = tolerance.trajectory_tolerance(np.float64, loss_scale=0.7)
    assert small.bound == tolerance.TRAJECTORY_FLOAT64_ABS and "absolute" in small.rule
    big = tolerance.trajectory_tolerance(np.float64, loss_scale=250.0)
    assert big.bound == pytest.approx(250.0 * tolerance.TRAJECTORY_FLOAT64_ABS) and "largest loss" in big.rule
