"""The one tolerance policy of the parity suite, by dtype.

Every comparison is judged on one number, a *normwise relative error* ``||a - r||_2 / ||r||_2``, against one
bound chosen here; no test body holds a tolerance literal. The reasoning and the measured distributions are in
``docs/tolerances.md`` (and ``python -m parity.sweep`` remeasures them over many base seeds).

Tensors (gates, worked graphs, the network, clipping): a bound from the conditioning of the result and the
depth of its computation, measured on the float64 reference of the same inputs (``reference.conditioning``):
per element a magnitude ``M`` (for a sum ``sum(|terms|)``, for a product ``|A| @ |B|``) and the number ``D``
of roundings on the longest path. Any correct evaluation, in any order, errs by at most ``D u M`` elementwise
(Higham's gamma_D) and, rounding errors being independent and of either sign, by more than
``lambda sqrt(D) u M`` with probability below ``2 exp(-lambda^2 / 2)`` (Higham & Mary 2019; Hoeffding). So

    normwise error <= sides * LAMBDA * sqrt(D) * u * kappa,     kappa = ||M||_2 / ||r||_2 (>= 1)

float32 results are compared with the float64 torch run of the same float32 inputs (one side errs, u = 2^-24);
float64 results with torch float64 (both sides err, u = 2^-53). kappa is 1 for a well-conditioned result and
grows exactly where the result comes from cancellation, which is where a fixed bound cried wolf.

Trajectories: over hundreds of SGD steps a float32 run is chaotic, so no conditioning bound applies; float64
trajectories stay at rounding level (absolute), float32 ones are judged per case against torch float32's own
deviation (``parity.trajectory``), with the numbers below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Tail parameter: beyond LAMBDA standard scales, the chance for one element is 2 exp(-LAMBDA^2 / 2) = 2.5e-14.
LAMBDA = 8.0
UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
FLOAT32_EPS = float(np.finfo(np.float32).eps)

# Trajectories compare losses over thousands of SGD steps. The loss starts near 0.7 and falls to ~1e-5, so a
# relative comparison late in training measures the loss's smallness, not the engine (NUMERICS.md): the
# comparison of a whole curve is absolute, at float64 rounding level for a quantity of order one.
TRAJECTORY_FLOAT64_ABS = 1e-12
# float64 final parameters and pre-clip norms after a whole run: normwise, at rounding level.
TRAJECTORY_FLOAT64_NORMWISE = 1e-12
# float64 runs are chaotic too, more rarely: over base seeds 0 to 99, a correct engine's XOR tanh run (lr 1.0,
# 10,000 epochs) passes a saddle where a rounding difference grows to 2e-11 in about 1 run in 250, both for
# scratch_nn and for an engine with other roundings, and never in the random cases (docs/tolerances.md). A
# run beyond the bounds above is an outlier; the runs of a case fail together when their outliers are more
# than chance allows at TRAJECTORY_FLOAT64_OUTLIER_RATE (a one-sided binomial test at TRAJECTORY_ALPHA,
# parity.trajectory.judge_case): a 32-run case at 6 outliers, a 4-run case at 3. A wrong engine is beyond
# the bound in every run (the planted trajectory bugs by 8.7e3 times it and more).
TRAJECTORY_FLOAT64_OUTLIER_RATE = 0.01
# float32 trajectories: scratch's deviation from the float64 torch run is set beside torch float32's own
# deviation from it, per run: the ratio r (deviations floored at TRAJECTORY_FLOAT32_FLOOR). Chaos amplifies a
# rounding difference by orders of magnitude on either side, at random, so a run proves nothing alone; the
# runs of a case are judged together by one-sided binomial tests at level TRAJECTORY_ALPHA
# (parity.trajectory.judge_float32_case), each against a chance rate measured over the sweep of correct
# engines and set here with a margin (docs/tolerances.md):
# - outliers, r > TRAJECTORY_FLOAT32_FACTOR (or final parameters that much further): measured 4.7% of random
#   runs, 0.9% of XOR runs, correlated within a case (3 of 4 once in 288 random cases): rate
#   TRAJECTORY_OUTLIER_RATE;
# - gross deviations, r > TRAJECTORY_GROSS_FACTOR, or a loss that is no longer finite: measured once in 2,688
#   runs (r = 5.6e4; 5 runs above 1e3): rate TRAJECTORY_GROSS_RATE, 27 times that;
# - runs worse than torch (r > 1) against 1/2 (a sign test: an engine typically less accurate than torch).
TRAJECTORY_FLOAT32_FACTOR = 4.0
TRAJECTORY_FLOAT32_FLOOR = 4 * FLOAT32_EPS
TRAJECTORY_OUTLIER_RATE = 0.1
TRAJECTORY_GROSS_FACTOR = 1e4
TRAJECTORY_GROSS_RATE = 0.01
TRAJECTORY_ALPHA = 1e-5


@dataclass(frozen=True)
class Tolerance:
    """The bound a comparison is held to, and how it was derived (printed in failure messages)."""

    bound: float
    rule: str


@dataclass(frozen=True)
class Judgement:
    """A result judged by the policy: scratch's error, torch float32's own, and the bound."""

    error: float  # scratch's: against torch float64 (float64), against the float64 torch run (float32)
    torch_error: float  # float32: torch float32's own error against the float64 run; nan for float64
    tolerance: Tolerance
    rule: Callable[[float], Tolerance] = field(repr=False, compare=False)  # torch_error -> the bound

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance.bound

    @property
    def torch_outlier(self) -> bool:
        """float32: torch fails the same test with the roles swapped (its error beyond the bound scratch's
        would set)."""
        return self.rule(self.error).bound < self.torch_error


def judge(dtype, actual, desired, reference, *, error, rule) -> Judgement:
    """The one judgement of a result, for tensors and trajectories alike. float64: scratch (``actual``)
    against torch float64 (``desired``). float32: scratch and torch float32 each against torch's float64 run
    from the same float32 inputs (``reference``, required), so that torch float32's own error is known.

    error: ``error(x, yardstick) -> float``; rule: ``rule(torch_error) -> Tolerance`` (nan for float64).
    """
    if np.dtype(dtype) == np.float64:
        return Judgement(error(actual, desired), math.nan, rule(math.nan), rule)
    if reference is None:
        raise ValueError("a float32 result is judged against the float64 torch run: pass its reference")
    own = error(desired, reference)
    return Judgement(error(actual, reference), own, rule(own), rule)


def unit_roundoff(dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype not in UNIT_ROUNDOFF:
        raise TypeError(f"no tolerance policy for dtype {dtype}; expected float32 or float64")
    return UNIT_ROUNDOFF[dtype]


def conditioned_tolerance(
    dtype, condition: float, depth: int, underflow: float = 0.0, jump: float = 0.0
) -> Tolerance:
    """The bound on the normwise relative error of a result of ``dtype`` whose float64 reference has condition
    ``kappa = ||M|| / ||r||`` and whose computation has ``depth`` roundings on its longest path.

    underflow: ``A sqrt(n) / ||r||`` for the n compared elements (``parity.compare.condition_of``), A the
    largest factor an intermediate result is multiplied by afterwards: each rounding may also lose up to the
    smallest subnormal ``eta`` in absolute terms (the standard model with gradual underflow), which weighs
    ``depth * eta * underflow`` in the relative error.
    jump: ``||J|| / ||r||``, where ``J`` is what branches that rounding may choose either way change (a ReLU
    unit at its kink: ``reference.conditioning``); added as it is, on top of the rounding bound.
    """
    u = unit_roundoff(dtype)
    if not condition >= 0 or not depth >= 1 or not underflow >= 0 or not jump >= 0:
        raise ValueError(
            f"condition and underflow must be >= 0 and depth >= 1, got {condition!r}, "
            f"{underflow!r} and {depth!r}"
        )
    sides = 1 if np.dtype(dtype) == np.float32 else 2
    eta = float(np.finfo(dtype).smallest_subnormal)  # (half of it is not representable in float64)
    bound = sides * (LAMBDA * math.sqrt(depth) * u * condition + depth * eta * underflow) + jump
    who = "vs float64" if sides == 1 else "2 sides"
    kink = f" + ReLU kink {jump:.3g}" if jump else ""
    return Tolerance(bound, f"{who}: {LAMBDA:g} sqrt(D={depth}) u kappa, kappa={condition:.3g}{kink}")


def trajectory_tolerance(
    dtype, torch_own_deviation: float | None = None, loss_scale: float = 1.0
) -> Tolerance:
    """The bound on a trajectory's worst absolute loss difference; float32 needs torch float32's own deviation
    from the float64 run. float64: absolute for losses of order one (the XOR and random runs, whose loss falls
    from ~0.7 towards 0), and relative to ``loss_scale``, the largest loss of the run, where losses grow
    beyond 1 (an exploding network's): rounding level is a relative notion."""
    if np.dtype(dtype) == np.float64 and loss_scale > 1.0:
        bound = TRAJECTORY_FLOAT64_ABS * loss_scale
        return Tolerance(
            bound, f"float64 rounding level ({TRAJECTORY_FLOAT64_ABS:g} x the largest loss {loss_scale:.3g})"
        )
    return _trajectory(
        dtype, TRAJECTORY_FLOAT64_ABS, "absolute", torch_own_deviation, "deviation from float64"
    )


def trajectory_normwise_tolerance(dtype, torch_own_error: float | None = None) -> Tolerance:
    """The bound on the normwise error of a run's final parameters or pre-clip norms; float32 needs torch
    float32's own error against the float64 run."""
    return _trajectory(
        dtype, TRAJECTORY_FLOAT64_NORMWISE, "normwise", torch_own_error, "error against float64"
    )


def _trajectory(dtype, float64: float, how: str, torch_own: float | None, what: str) -> Tolerance:
    dtype = np.dtype(dtype)
    unit_roundoff(dtype)
    if dtype == np.float64:
        return Tolerance(float64, f"float64 rounding level ({float64:g}, {how})")
    if torch_own is None:
        raise ValueError(f"a float32 trajectory tolerance needs torch float32's own {what}")
    return calibrated_tolerance(torch_own, TRAJECTORY_FLOAT32_FACTOR, TRAJECTORY_FLOAT32_FLOOR)


def calibrated_tolerance(torch_own_error: float, factor: float, floor: float) -> Tolerance:
    """``max(factor * torch_own_error, floor)``: scratch may be at most ``factor`` times worse than torch."""
    scaled = factor * torch_own_error
    if scaled >= floor:
        return Tolerance(scaled, f"{factor:g} x torch float32's own deviation {torch_own_error:.3g}")
    return Tolerance(
        floor, f"floor {floor:.3g} (torch float32's own deviation {torch_own_error:.3g} is below it)"
    )
