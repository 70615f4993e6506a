"""Judging one training run against torch: the loss at every epoch, the final parameters, the pre-clip norms.

float64: scratch against torch float64 from the same initial parameters. float32: scratch float32 and torch
float32 against a float64 torch run from the same (float32) initial parameters, the bound calibrated on torch
float32's own deviation (``parity.tolerance.judge``, ``trajectory_tolerance``). The verdicts build the rows of
trajectories.csv and trajectory_curves.csv (``TrajectoryRecord``, ``CurvePoint``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from parity import tolerance
from parity.compare import Case, normwise_error
from parity.tolerance import judge


@dataclass(frozen=True)
class Side:
    """One side of one run: the loss of every epoch (epochs,), the final parameters flattened into one vector,
    and the pre-clip total norm of every step (epochs,) when clipping, else None."""

    losses: np.ndarray
    params: np.ndarray
    norms: np.ndarray | None = None


@dataclass(frozen=True)
class Run:
    """What a trajectories row says about the run itself (sizes are None where a check does not name them)."""

    activation: str
    dataset: str
    epochs: int
    lr: float
    n_in: int | None = None
    n_hidden: int | None = None
    m: int | None = None
    max_norm: float | None = None


@dataclass(frozen=True)
class Final:
    """How a run ended, on both sides: the last loss, and (XOR and random data) accuracy and convergence."""

    final_loss: float | None = None
    torch_final_loss: float | None = None
    accuracy: float | None = None
    torch_accuracy: float | None = None
    converged: bool | None = None
    torch_converged: bool | None = None


@dataclass(frozen=True)
class TrajectoryRecord:
    """A row of trajectories.csv: one training run (or one stacked-against-one-run check)."""

    nodeid: str
    suite: str
    case: str
    dtype: str
    kind: str
    seed: int | None
    checked_error: float  # the loss error the tolerance judges (float32: against the float64 run)
    tolerance: float
    passed: bool  # the case's verdict (judge_case)
    activation: str
    dataset: str
    n_in: int | None
    n_hidden: int | None
    m: int | None
    epochs: int
    lr: float
    max_norm: float | None
    worst_loss_diff: float | None = None  # max over epochs of |scratch - torch|, same dtype
    worst_epoch: int | None = None
    final_param_diff: float | None = None
    final_param_tolerance: float | None = None
    worst_norm_diff: float | None = None  # the pre-clip norms' normwise error; with clipping only
    norm_tolerance: float | None = None
    torch_deviation: float | None = None
    final_loss: float | None = None
    torch_final_loss: float | None = None
    accuracy: float | None = None
    torch_accuracy: float | None = None
    converged: bool | None = None
    torch_converged: bool | None = None
    outlier: bool | None = None
    torch_outlier: bool | None = None
    rule: str = ""
    failed_tensors: str = ""
    problem: str = ""
    warnings: str = ""

    @classmethod
    def untrained(cls, case: Case, run: Run, dtype, problem: str, **extra) -> TrajectoryRecord:
        """The failing row of a run the engine's training gave nothing to compare for."""
        return cls(
            **case.columns(dtype),
            **asdict(run),
            checked_error=math.inf,
            tolerance=math.nan,
            passed=False,
            rule="the engine must train",
            failed_tensors="losses;final_params",
            problem=problem,
            **extra,
        )

    def verdicts(self) -> list[tuple[str, float, float, bool, str]]:
        """(tensor, error, bound, passed, detail) of every tensor this row judged: losses, final_params, and
        the pre-clip total_norms with clipping."""
        failed = self.failed_tensors.split(";")
        where = f"({self.dtype}, {self.case})"
        out = [
            (
                "losses",
                self.checked_error,
                self.tolerance,
                "losses" not in failed,
                f"losses {where}: worst loss difference {self.checked_error:.3g} at epoch "
                f"{_text(self.worst_epoch)} vs tolerance {self.tolerance:.3g}; final loss scratch "
                f"{_text(self.final_loss)}, torch {_text(self.torch_final_loss)}",
            )
        ]
        if self.final_param_diff is not None:
            out.append(
                _normwise("final_params", self.final_param_diff, self.final_param_tolerance, failed, where)
            )
        if self.max_norm is not None and self.worst_norm_diff is not None:
            out.append(_normwise("total_norms", self.worst_norm_diff, self.norm_tolerance, failed, where))
        return out


def _normwise(tensor, error, bound, failed, where) -> tuple[str, float, float, bool, str]:
    bound = math.nan if bound is None else bound
    detail = f"{tensor} {where}: normwise error {error:.3g} vs tolerance {bound:.3g}"
    return tensor, error, bound, tensor not in failed, detail


def _text(value) -> str:
    """A value as the report file shows it: empty where it does not apply."""
    return "" if value is None else str(value)


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
    # this run is not an outlier (see judge_case)
    passed: bool
    torch_outlier: bool = False  # float32: torch deviates TRAJECTORY_FLOAT32_FACTOR times more than scratch

    @property
    def ratio(self) -> float:
        """float32: scratch's deviation over torch's (floored at a few float32 roundings)."""
        if math.isnan(self.checked_error):  # scratch's loss is no longer finite where float64's is
            return math.inf
        floor = tolerance.TRAJECTORY_FLOAT32_FLOOR
        return self.checked_error / max(self.torch_deviation, floor)

    def failed_tensors(self) -> list[str]:
        checks = (
            ("losses", self.checked_error, self.tolerance),
            ("final_params", self.final_param_diff, self.final_param_tolerance),
            ("total_norms", self.norm_diff, self.norm_tolerance),
        )
        return [name for name, error, bound in checks if error > bound]

    def describe(self, case: str, seed: int, scratch_loss: float, torch_loss: float) -> str:
        return (
            f"{case} (seed {seed}): worst loss difference {self.checked_error:.3g} "
            f"at epoch {self.worst_epoch} "
            f"(tolerance {self.tolerance:.3g}, {self.rule}); loss there: scratch {scratch_loss!r}, "
            f"torch {torch_loss!r}; final parameters {self.final_param_diff:.3g} "
            f"(tolerance {self.final_param_tolerance:.3g}); pre-clip norms {self.norm_diff:.3g} "
            f"(tolerance {self.norm_tolerance:.3g})"
        )

    def record(
        self,
        case: Case,
        run: Run,
        dtype,
        final: Final,
        *,
        case_verdict: CaseVerdict | None = None,
        alone: bool = False,
        problem: str = "",
        warnings: str = "",
    ) -> TrajectoryRecord:
        """This run's trajectories row. case_verdict: the case's (judge_case), which the row's ``passed`` is.
        alone: a run judged by itself, not among the runs of a case (no outlier columns). problem: what
        fails the run besides its tensors."""
        return TrajectoryRecord(
            **case.columns(dtype),
            **asdict(run),
            **asdict(final),
            checked_error=self.checked_error,
            tolerance=self.tolerance,
            passed=(case_verdict.passed if case_verdict else self.passed) and not problem,
            worst_loss_diff=self.worst_loss_diff,
            worst_epoch=self.worst_epoch,
            final_param_diff=self.final_param_diff,
            final_param_tolerance=self.final_param_tolerance,
            worst_norm_diff=self.norm_diff,
            norm_tolerance=self.norm_tolerance,
            torch_deviation=self.torch_deviation,
            outlier=None if alone else bool(case_verdict is not None and not self.passed),
            torch_outlier=None if alone else self.torch_outlier,
            rule=self.rule,
            failed_tensors=";".join(self.failed_tensors()),
            problem=problem,
            warnings=warnings,
        )


def _max_abs(x, y) -> float:
    return float(np.abs(x - y).max())


def judge_run(dtype, scratch: Side, torch: Side, reference: Side | None = None) -> RunVerdict:
    """Judge one run. reference: the float64 torch run from the same initial parameters (float32 only)."""
    dtype = np.dtype(dtype)
    diff = np.abs(scratch.losses - torch.losses)
    loss_scale = float(np.abs(torch.losses[np.isfinite(torch.losses)]).max(initial=1.0))

    def judged(part: str, error, rule):
        theirs = None if reference is None else getattr(reference, part)
        return judge(dtype, getattr(scratch, part), getattr(torch, part), theirs, error=error, rule=rule)

    losses = judged("losses", _max_abs, lambda own: tolerance.trajectory_tolerance(dtype, own, loss_scale))
    normwise = partial(tolerance.trajectory_normwise_tolerance, dtype)
    params = judged("params", normwise_error, normwise)
    norms = None if scratch.norms is None else judged("norms", normwise_error, normwise)
    return RunVerdict(
        worst_loss_diff=float(diff.max()),
        worst_epoch=int(np.argmax(diff)),
        checked_error=losses.error,
        tolerance=losses.tolerance.bound,
        rule=losses.tolerance.rule,
        torch_deviation=losses.torch_error,
        final_param_diff=params.error,
        final_param_tolerance=params.tolerance.bound,
        norm_diff=norms.error if norms else math.nan,
        norm_tolerance=norms.tolerance.bound if norms else math.nan,
        passed=bool(losses.passed and params.passed and (norms is None or norms.passed)),
        torch_outlier=bool(losses.torch_outlier or params.torch_outlier),
    )


def losses_agree(case: Case, run: Run, losses, other, what: str) -> TrajectoryRecord:
    """Two float64 loss curves that must be the same computation (stacked runs against one run), to
    rounding: a trajectories row named ``what``."""
    diff = np.abs(np.asarray(losses) - np.asarray(other))
    tol = tolerance.trajectory_tolerance(np.float64)
    worst = float(diff.max())
    return TrajectoryRecord(
        **case.columns(np.float64),
        **asdict(run),
        worst_loss_diff=worst,
        worst_epoch=int(np.argmax(diff)),
        checked_error=worst,
        tolerance=tol.bound,
        passed=worst <= tol.bound,
        rule=f"{what}, {tol.rule}",
    )


def first_nonfinite(losses: np.ndarray) -> int | None:
    bad = ~np.isfinite(losses)
    return int(np.argmax(bad)) if bad.any() else None


def judge_diverging(
    case: Case, run: Run, losses, torch_losses, final: Final, warnings: str = ""
) -> TrajectoryRecord:
    """A float64 run torch's side of which turns non-finite: scratch's must too, at the same epoch, and its
    finite losses before that agree normwise (they grow past 1e80: an absolute bound means nothing there)."""
    diverged, torch_diverged = first_nonfinite(losses), first_nonfinite(torch_losses)
    before = min(torch_diverged, diverged if diverged is not None else torch_diverged)
    bound = tolerance.trajectory_normwise_tolerance(np.float64)
    error = normwise_error(losses[:before], torch_losses[:before])
    failed = ["losses"] if diverged != torch_diverged or not error <= bound.bound else []
    problem = ""
    if diverged != torch_diverged:
        problem = f"non-finite loss from epoch {diverged} in scratch, {torch_diverged} in torch"
    return TrajectoryRecord(
        **case.columns(np.float64),
        **asdict(run),
        **asdict(final),
        worst_loss_diff=float(np.max(np.abs(losses[:before] - torch_losses[:before]), initial=0.0)),
        worst_epoch=before,
        checked_error=error,
        tolerance=bound.bound,
        passed=not failed and not problem,
        rule=f"diverges at the same epoch; finite losses normwise, {bound.rule}",
        failed_tensors=";".join(failed),
        problem=problem,
        warnings=warnings,
    )


@dataclass(frozen=True)
class CaseVerdict:
    """The runs of one case judged together: chaos makes single runs diverge at random, on both sides (float32
    often, float64 rarely)."""

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
    dtype: str = "float32"

    def describe(self) -> str:
        t = tolerance
        if self.dtype == "float64":
            return (
                f"float64 case verdict (fails below p = {t.TRAJECTORY_ALPHA:g}): {self.outliers} of "
                f"{self.runs} runs beyond the rounding-level bounds, p = {self.p_outliers:.2g} at chance "
                f"rate {t.TRAJECTORY_FLOAT64_OUTLIER_RATE:g} (a chaotic run amplifies roundings)"
            )
        return (
            f"float32 case verdict (fails below p = {t.TRAJECTORY_ALPHA:g}): scratch is the "
            f"{t.TRAJECTORY_FLOAT32_FACTOR:g}x outlier in {self.outliers} of {self.runs} runs (torch in "
            f"{self.torch_outliers}), p = {self.p_outliers:.2g} "
            f"at chance rate {t.TRAJECTORY_OUTLIER_RATE:g}; "
            f"{t.TRAJECTORY_GROSS_FACTOR:g}x off in {self.gross}, p = {self.p_gross:.2g} at rate "
            f"{t.TRAJECTORY_GROSS_RATE:g}; worse than torch in {self.worse}, p = {self.p_worse:.2g} at 1/2; "
            f"median deviation ratio scratch/torch {self.median_ratio:.3g}"
        )


def binomial_tail(n: int, k: int, q: float) -> float:
    """P(X >= k) for X ~ Binomial(n, q)."""
    if k <= 0:
        return 1.0
    return float(min(1.0, sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k, n + 1))))


def judge_case(dtype, verdicts: list[RunVerdict]) -> CaseVerdict:
    """The runs of one case together: float32 by judge_float32_case; float64 fails when more runs are beyond
    the rounding-level bounds than chance allows a correct engine (TRAJECTORY_FLOAT64_OUTLIER_RATE)."""
    if np.dtype(dtype) == np.float32:
        return judge_float32_case(verdicts)
    n, outliers = len(verdicts), sum(not v.passed for v in verdicts)
    p = binomial_tail(n, outliers, tolerance.TRAJECTORY_FLOAT64_OUTLIER_RATE)
    return CaseVerdict(
        passed=bool(p >= tolerance.TRAJECTORY_ALPHA),
        runs=n,
        outliers=outliers,
        torch_outliers=0,
        median_ratio=float(np.median([v.checked_error / v.tolerance for v in verdicts])),
        p_outliers=p,
        dtype="float64",
    )


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
    """About ``points`` log-spaced epochs from the first to the last, plus the epoch of the worst
    difference."""
    spaced = np.unique(np.geomspace(1, epochs, points).astype(int) - 1)
    return sorted(set(spaced.tolist()) | {worst})


@dataclass(frozen=True)
class CurvePoint:
    """A row of trajectory_curves.csv: both sides' loss at one epoch of a run."""

    nodeid: str
    suite: str
    case: str
    dtype: str
    kind: str
    seed: int | None
    activation: str
    dataset: str
    max_norm: float | None
    epoch: int
    loss: float
    torch_loss: float
    abs_diff: float
    is_worst: bool


def curve_points(case: Case, run: Run, dtype, losses, torch_losses, worst: int) -> list[CurvePoint]:
    """The loss of both sides at about 30 log-spaced epochs and at the worst one (``curve_epochs``)."""
    return [
        CurvePoint(
            **case.columns(dtype),
            activation=run.activation,
            dataset=run.dataset,
            max_norm=run.max_norm,
            epoch=epoch,
            loss=float(losses[epoch]),
            torch_loss=float(torch_losses[epoch]),
            abs_diff=abs(float(losses[epoch] - torch_losses[epoch])),
            is_worst=epoch == worst,
        )
        for epoch in curve_epochs(run.epochs, worst)
    ]
