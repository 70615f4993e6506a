"""Judging one training run against torch: the loss at every epoch, the final parameters, the pre-clip norms.

float64: scratch against torch float64 from the same initial parameters. float32: scratch float32 and torch
float32 against a float64 torch run from the same (float32) initial parameters, the bound calibrated on torch
float32's own deviation (``parity.tolerance.trajectory_tolerance``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity import tolerance
from parity.compare import normwise_error


@dataclass(frozen=True)
class Side:
    """One side of one run: the loss of every epoch (epochs,), the final parameters flattened into one vector,
    and the pre-clip total norm of every step (epochs,) when clipping, else None."""

    losses: np.ndarray
    params: np.ndarray
    norms: np.ndarray | None = None


@dataclass(frozen=True)
class RunVerdict:
    worst_loss_diff: float  # max over epochs of |scratch - torch|, same dtype
    worst_epoch: int
    checked_error: float  # the loss error the tolerance judges (float32: against the float64 run)
    tolerance: float
    rule: str
    torch_deviation: float  # float32: torch float32's own max deviation from the float64 run; nan for float64
    final_param_diff: float
    final_param_tolerance: float
    norm_diff: float  # nan without clipping
    norm_tolerance: float
    passed: bool  # float64: the run's verdict; float32: this run is not a scratch outlier (see judge_float32_case)
    torch_outlier: bool = False  # float32: torch deviates TRAJECTORY_FLOAT32_FACTOR times more than scratch

    @property
    def ratio(self) -> float:
        """float32: scratch's deviation over torch's (floored at a few float32 roundings)."""
        if math.isnan(self.checked_error):  # scratch's loss is no longer finite where float64's is
            return math.inf
        floor = tolerance.TRAJECTORY_FLOAT32_FLOOR
        return self.checked_error / max(self.torch_deviation, floor)

    def describe(self, case: str, seed: int, scratch_loss: float, torch_loss: float) -> str:
        return (
            f"{case} (seed {seed}): worst loss difference {self.checked_error:.3g} at epoch {self.worst_epoch} "
            f"(tolerance {self.tolerance:.3g}, {self.rule}); loss there: scratch {scratch_loss!r}, "
            f"torch {torch_loss!r}; final parameters {self.final_param_diff:.3g} "
            f"(tolerance {self.final_param_tolerance:.3g}); pre-clip norms {self.norm_diff:.3g} "
            f"(tolerance {self.norm_tolerance:.3g})"
        )


def judge_run(dtype, scratch: Side, torch: Side, reference: Side | None = None) -> RunVerdict:
    """Judge one run. reference: the float64 torch run from the same initial parameters (float32 only)."""
    dtype = np.dtype(dtype)
    diff = np.abs(scratch.losses - torch.losses)
    worst_epoch = int(np.argmax(diff))
    if dtype == np.float64:
        checked = float(diff.max())
        torch_dev = math.nan
        finite = np.abs(torch.losses[np.isfinite(torch.losses)])
        tol = tolerance.trajectory_tolerance(dtype, loss_scale=float(finite.max(initial=1.0)))
        param_err = normwise_error(scratch.params, torch.params)
        param_tol = tolerance.trajectory_normwise_tolerance(dtype)
    else:
        if reference is None:
            raise ValueError("a float32 run is judged against the float64 torch run: pass reference")
        checked = float(np.abs(scratch.losses - reference.losses).max())
        torch_dev = float(np.abs(torch.losses - reference.losses).max())
        tol = tolerance.trajectory_tolerance(dtype, torch_dev)
        param_err = normwise_error(scratch.params, reference.params)
        torch_param_err = normwise_error(torch.params, reference.params)
        param_tol = tolerance.trajectory_normwise_tolerance(dtype, torch_param_err)
    norm_err, norm_bound = math.nan, math.nan
    if scratch.norms is not None:
        if dtype == np.float64:
            norm_err = normwise_error(scratch.norms, torch.norms)
            norm_bound = tolerance.trajectory_normwise_tolerance(dtype).bound
        else:
            norm_err = normwise_error(scratch.norms, reference.norms)
            norm_bound = tolerance.trajectory_normwise_tolerance(
                dtype, normwise_error(torch.norms, reference.norms)
            ).bound
    passed = (
        checked <= tol.bound
        and param_err <= param_tol.bound
        and (scratch.norms is None or norm_err <= norm_bound)
    )
    torch_outlier = False
    if dtype == np.float32:  # the same test with the roles swapped
        torch_outlier = (
            tolerance.trajectory_tolerance(dtype, checked).bound < torch_dev
            or tolerance.trajectory_normwise_tolerance(dtype, param_err).bound < torch_param_err
        )
    return RunVerdict(
        worst_loss_diff=float(diff.max()),
        worst_epoch=worst_epoch,
        checked_error=checked,
        tolerance=tol.bound,
        rule=tol.rule,
        torch_deviation=torch_dev,
        final_param_diff=param_err,
        final_param_tolerance=param_tol.bound,
        norm_diff=norm_err,
        norm_tolerance=norm_bound,
        passed=bool(passed),
        torch_outlier=bool(torch_outlier),
    )


@dataclass(frozen=True)
class CaseVerdict:
    """float32 runs of one case judged together: chaos makes single float32 runs diverge at random, on both sides."""

    passed: bool
    runs: int
    outliers: int  # runs where scratch deviates TRAJECTORY_FLOAT32_FACTOR x more than torch
    torch_outliers: int  # runs where torch deviates that much more than scratch
    median_ratio: float
    gross: int = 0  # runs where scratch deviates TRAJECTORY_GROSS_FACTOR x more than torch, or is not finite
    worse: int = 0  # runs where scratch deviates more than torch (ratio > 1)
    p_outliers: float = 1.0  # P(Binomial(runs, TRAJECTORY_OUTLIER_RATE) >= outliers)
    p_gross: float = 1.0  # P(Binomial(runs, TRAJECTORY_GROSS_RATE) >= gross)
    p_worse: float = 1.0  # P(Binomial(runs, 1/2) >= worse)

    def describe(self) -> str:
        t = tolerance
        return (
            f"float32 case verdict (fails below p = {t.TRAJECTORY_ALPHA:g}): scratch is the "
            f"{t.TRAJECTORY_FLOAT32_FACTOR:g}x outlier in {self.outliers} of {self.runs} runs (torch in "
            f"{self.torch_outliers}), p = {self.p_outliers:.2g} at chance rate {t.TRAJECTORY_OUTLIER_RATE:g}; "
            f"{t.TRAJECTORY_GROSS_FACTOR:g}x off in {self.gross}, p = {self.p_gross:.2g} at rate "
            f"{t.TRAJECTORY_GROSS_RATE:g}; worse than torch in {self.worse}, p = {self.p_worse:.2g} at 1/2; "
            f"median deviation ratio scratch/torch {self.median_ratio:.3g}"
        )


def binomial_tail(n: int, k: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q)."""
    if k <= 0:
        return 1.0
    return float(min(1.0, sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k, n + 1))))


def judge_float32_case(verdicts: list[RunVerdict]) -> CaseVerdict:
    """Scratch float32 must not deviate from float64 more often, more grossly, or more typically than chance
    allows a correct engine (one-sided binomial tests, see parity.tolerance)."""
    t = tolerance
    n = len(verdicts)
    outliers = sum(not v.passed for v in verdicts)
    torch_outliers = sum(v.torch_outlier for v in verdicts)
    ratios = [v.ratio for v in verdicts]
    gross = sum(r > t.TRAJECTORY_GROSS_FACTOR for r in ratios)
    worse = sum(r > 1 for r in ratios)
    p_outliers = binomial_tail(n, outliers, t.TRAJECTORY_OUTLIER_RATE)
    p_gross = binomial_tail(n, gross, t.TRAJECTORY_GROSS_RATE)
    p_worse = binomial_tail(n, worse, 0.5)
    passed = min(p_outliers, p_gross, p_worse) >= t.TRAJECTORY_ALPHA
    return CaseVerdict(
        bool(passed),
        n,
        outliers,
        torch_outliers,
        float(np.median(ratios)),
        gross,
        worse,
        p_outliers,
        p_gross,
        p_worse,
    )


def curve_epochs(epochs: int, worst: int, points: int = 30) -> list[int]:
    """About ``points`` log-spaced epochs from the first to the last, plus the epoch of the worst difference."""
    spaced = np.unique(np.geomspace(1, epochs, points).astype(int) - 1)
    return sorted(set(spaced.tolist()) | {worst})
