"""The trajectory judge: identical runs pass, and a planted difference in the losses, the final parameters or
the pre-clip norms fails, at the epoch where it was planted; float32 is calibrated on torch's own
deviation."""

import numpy as np
import pytest

from parity.tolerance import (
    TRAJECTORY_ALPHA,
    TRAJECTORY_FLOAT32_FACTOR,
    TRAJECTORY_FLOAT32_FLOOR,
)
from parity.trajectory import (
    Side,
    binomial_tail,
    curve_epochs,
    judge_case,
    judge_float32_case,
    judge_run,
)

rng = np.random.default_rng(3)
LOSSES = np.exp(-np.linspace(0, 8, 500)) * 0.7  # a loss curve from 0.7 down to ~2e-4
PARAMS = rng.standard_normal(17)
NORMS = np.abs(rng.standard_normal(500)) + 0.1


def side(losses=LOSSES, params=PARAMS, norms=None):
    return Side(np.array(losses, dtype=np.float64), np.array(params, dtype=np.float64), norms)


def test_identical_float64_runs_pass():
    v = judge_run(np.float64, side(), side())
    assert v.passed and v.checked_error == 0.0 and v.final_param_diff == 0.0


def test_a_planted_loss_difference_fails_at_its_epoch():
    bad = LOSSES.copy()
    bad[321] += 1e-10  # invisible to any "close enough" check of a curve, far above rounding
    v = judge_run(np.float64, side(bad), side())
    assert not v.passed and v.worst_epoch == 321 and v.checked_error == pytest.approx(1e-10)
    assert "epoch 321" in v.describe("case", 7, bad[321], LOSSES[321])


def test_planted_final_parameter_difference_fails():
    v = judge_run(np.float64, side(params=PARAMS * (1 + 1e-9)), side())
    assert not v.passed and v.checked_error == 0.0


def test_planted_norm_difference_fails():
    v = judge_run(np.float64, side(norms=NORMS * (1 + 1e-9)), side(norms=NORMS))
    assert not v.passed and v.norm_diff > 0


def test_float32_is_bounded_by_torch_float32s_own_deviation():
    ref = side()
    torch32 = side(LOSSES + 1e-7)
    ok = judge_run(np.float32, side(LOSSES - 1e-7), torch32, ref)
    assert ok.passed and ok.torch_deviation == pytest.approx(1e-7)
    worse = judge_run(np.float32, side(LOSSES + 1e-7 * (TRAJECTORY_FLOAT32_FACTOR + 1)), torch32, ref)
    assert not worse.passed


def test_float32_floor_when_torch_is_exact():
    v = judge_run(np.float32, side(LOSSES + 1e-9), side(), side())
    assert v.passed and v.tolerance == pytest.approx(TRAJECTORY_FLOAT32_FLOOR)


def test_float32_needs_the_float64_reference():
    with pytest.raises(ValueError, match="float64 torch run"):
        judge_run(np.float32, side(), side())


def test_curve_epochs_are_log_spaced_and_include_the_worst():
    epochs = curve_epochs(10_000, 4321)
    assert epochs[0] == 0 and epochs[-1] == 9_999 and 4321 in epochs and len(epochs) <= 31


def _f32(scratch_dev, torch_dev):
    return judge_run(np.float32, side(LOSSES + scratch_dev), side(LOSSES + torch_dev), side())


def test_float32_case_tolerates_chaotic_outliers_but_not_a_pattern():
    typical = [_f32(1e-7, 1e-7) for _ in range(26)]
    # a few outliers among 32 runs happen by chance, correlated within a case (rate TRAJECTORY_OUTLIER_RATE)
    assert judge_float32_case(typical + [_f32(1e-4, 1e-7)] * 6).passed
    many = typical + [_f32(1e-5, 1e-7)] * 16
    verdict = judge_float32_case(many)
    assert not verdict.passed and verdict.outliers == 16 and "16 of 42" in verdict.describe()
    assert verdict.p_outliers < TRAJECTORY_ALPHA and verdict.gross == 0


def test_float32_case_of_four_runs_fails_on_gross_deviations_only():
    assert judge_float32_case([_f32(1e-4, 1e-7)] * 4).passed  # chaos: 1e3 times torch's deviation
    verdict = judge_float32_case([_f32(1e-1, 1e-7)] * 4)  # lr-applied-twice: 1e6 times
    assert not verdict.passed and verdict.gross == 4 and verdict.p_gross < TRAJECTORY_ALPHA
    diverged = judge_float32_case([_f32(np.nan, 1e-7)] * 4)  # sgd-wrong-sign: the loss overflows
    assert not diverged.passed and diverged.gross == 4


def test_float32_case_fails_when_scratch_is_typically_worse():
    verdict = judge_float32_case([_f32(3e-6, 1e-6) for _ in range(32)])
    assert not verdict.passed and verdict.median_ratio == pytest.approx(3.0) and verdict.outliers == 0
    assert verdict.worse == 32 and verdict.p_worse < TRAJECTORY_ALPHA


def test_binomial_tail():
    assert binomial_tail(4, 0, 0.3) == 1.0 and binomial_tail(4, 4, 0.5) == pytest.approx(1 / 16)
    assert binomial_tail(3, 2, 0.1) == pytest.approx(3 * 0.01 * 0.9 + 0.001)


def _f64(deviation):
    return judge_run(np.float64, side(LOSSES + deviation), side())


def test_float64_case_tolerates_a_chaotic_run_but_not_a_wrong_engine():
    """A chaotic run beyond the rounding bound (seen about 1 run in 250, at 2e-11) is chance; a case fails at
    6 of 32 outliers or 3 of 4, and a wrong engine (lr rounded to float32: 1e-8 off) is beyond it in all."""
    good, chaotic = _f64(1e-15), _f64(2e-11)
    assert judge_case(np.float64, [good] * 31 + [chaotic]).passed
    assert judge_case(np.float64, [good] * 27 + [chaotic] * 5).passed
    six = judge_case(np.float64, [good] * 26 + [chaotic] * 6)
    assert not six.passed and six.outliers == 6 and six.p_outliers < TRAJECTORY_ALPHA
    assert "6 of 32 runs beyond the rounding-level bounds" in six.describe()
    assert judge_case(np.float64, [good] * 2 + [chaotic] * 2).passed
    assert not judge_case(np.float64, [good] + [chaotic] * 3).passed
    assert not judge_case(np.float64, [_f64(1e-8)] * 4).passed
    assert not judge_case(np.float64, [_f64(np.nan)] * 4).passed  # sgd-wrong-sign: the loss overflows


def test_the_case_judge_of_float32_is_judge_float32_case():
    runs = [_f32(1e-7, 1e-7)] * 30 + [_f32(1e-1, 1e-7)] * 2
    assert judge_case(np.float32, runs) == judge_float32_case(runs)
