"""The one tolerance policy of the parity suite, by dtype.

Every comparison is judged on one number, a *normwise relative error* ``||a - d||_2 / ||d||_2``, against
one bound chosen here; no test body holds a tolerance literal. Where the numbers come from is in
``docs/tolerances.md`` (measured on this project's machines, see also ``shared/NUMERICS.md``).

float64: rounding level. Scratch and torch evaluate the same formulas in a possibly different order, so they
    may differ by a few units of rounding per operation, amplified by the depth of the computation; we
    measured at most ~2e-15 normwise on every tensor. The bound 1e-12 leaves three orders of magnitude for
    larger problems and still catches any bug that changes a gradient by a relative 1e-12 (every bug we
    plant changes them by 1e-4 or more).

float32: no less accurate than torch itself. A float32 result is compared with a float64 torch run of the
    *same float32 inputs* (exactly upcast); torch float32's own error against that run calibrates the bound:
    ``error(scratch32) <= FLOAT32_FACTOR * error(torch32)``, with a floor of a few float32 roundings for
    results that torch happens to compute exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOAT64_NORMWISE = 1e-12
FLOAT32_FACTOR = 4.0
FLOAT32_FLOOR_ULPS = 4.0
FLOAT32_EPS = float(np.finfo(np.float32).eps)

# Trajectories compare losses over thousands of SGD steps. The loss starts near 0.7 and falls to ~1e-5, so a
# relative comparison late in training measures the loss's smallness, not the engine (NUMERICS.md): the
# comparison of a whole curve is absolute, at float64 rounding level for a quantity of order one.
TRAJECTORY_FLOAT64_ABS = 1e-12
# float32 trajectories: scratch's deviation from the float64 torch run is set beside torch float32's own
# deviation from it. Over hundreds of steps a float32 run is chaotic (a rounding difference near a ReLU kink or
# a saddle is amplified by orders of magnitude, on either side, at random), so float32 runs are judged per case,
# symmetrically (parity.trajectory.judge_float32_case): a run is an outlier for one side when that side
# deviates TRAJECTORY_FLOAT32_FACTOR times more than the other; a case fails when scratch has more than
# TRAJECTORY_OUTLIERS_ALLOWED outliers beyond torch's count, or when its median ratio exceeds
# TRAJECTORY_MEDIAN_RATIO. docs/tolerances.md gives the measured distribution behind these numbers.
TRAJECTORY_FLOAT32_FACTOR = 4.0
TRAJECTORY_MEDIAN_RATIO = 2.0
TRAJECTORY_OUTLIERS_ALLOWED = 1


def trajectory_tolerance(dtype, torch_own_deviation: float | None = None) -> Tolerance:
    """The bound on a trajectory's worst absolute loss difference; float32 needs torch float32's own deviation
    from the float64 run."""
    return _by_dtype(
        dtype, Tolerance(TRAJECTORY_FLOAT64_ABS, f"float64 rounding level ({TRAJECTORY_FLOAT64_ABS:g}, absolute)"),
        torch_own_deviation, TRAJECTORY_FLOAT32_FACTOR, "deviation from float64",
    )


@dataclass(frozen=True)
class Tolerance:
    """The bound a comparison is held to, and how it was derived (printed in failure messages)."""

    bound: float
    rule: str


def normwise_tolerance(dtype, torch_own_error: float | None = None) -> Tolerance:
    """The bound on the normwise relative error of a scratch result of ``dtype``.

    ``torch_own_error`` is torch float32's normwise error against the float64 run of the same inputs; it is
    required for float32 and ignored for float64.
    """
    return _by_dtype(dtype, Tolerance(FLOAT64_NORMWISE, f"float64 rounding level ({FLOAT64_NORMWISE:g})"),
                     torch_own_error, FLOAT32_FACTOR, "error against float64")


def _by_dtype(dtype, float64: Tolerance, torch_own: float | None, factor: float, what: str) -> Tolerance:
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return float64
    if dtype == np.float32:
        if torch_own is None:
            raise ValueError(f"a float32 tolerance needs torch float32's own {what}")
        return calibrated_tolerance(torch_own, factor, FLOAT32_FLOOR_ULPS * FLOAT32_EPS)
    raise TypeError(f"no tolerance policy for dtype {dtype}; expected float32 or float64")


def calibrated_tolerance(torch_own_error: float, factor: float, floor: float) -> Tolerance:
    """``max(factor * torch_own_error, floor)``: scratch may be at most ``factor`` times worse than torch."""
    scaled = factor * torch_own_error
    if scaled >= floor:
        return Tolerance(scaled, f"{factor:g} x torch float32's own error {torch_own_error:.3g}")
    return Tolerance(floor, f"floor {floor:.3g} (torch float32's own error {torch_own_error:.3g} is below it)")
