"""The Taylor test: a derivative check with no finite-difference step to choose.

For a smooth loss L and its true gradient g, the first-order Taylor remainder along a direction v

    r(h) = |L(theta + h v) - L(theta) - h <g, v>|  =  h**2 |v^T H v| / 2 + O(h**3)

shrinks as h**2; if the gradient used is wrong by d, r(h) = |h <d, v>| + O(h**2) shrinks only as h. So the
slope of log r against log h, as h goes to 0, is 2 for a correct gradient and 1 for a wrong one, whatever the
size of the error. The check measures r over a range of h in float64, keeps the points that stand clear of the
rounding noise of L (measured, not assumed: the remainder at steps so small that the true remainder is
negligible), and fits the slope over the smallest such steps:

    "correct"         slope within 0.3 of 2
    "wrong gradient"  slope within 0.3 of 1
    "noisy"           fewer than 3 steps clear of the noise: the remainder is at rounding level
    "inconclusive"    any other slope (a kink of ReLU between the steps, an exactly quadratic direction, ...)

Use it beside central differences (gradcheck.py): when those fail only by rounding noise (a loss large beside
its gradient, a step too small), the Taylor test still says "correct"; a truly wrong gradient gives slope 1.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _checks
from .network import TwoLayerNet
from .params import Params, check_grads

__all__ = ["TaylorResult", "taylor_remainders", "taylor_check", "fit_slope", "STEPS"]

#: the steps h, from 1e-1 down to 1e-9, two a decade (v has unit 2-norm)
STEPS = np.logspace(-1, -9, 17)
#: tiny steps at which the true remainder (~1e-25) is far below rounding: what is left there is noise
NOISE_PROBES = np.array([1e-12, 2e-12, 5e-12, 1e-11])
MARGIN = 100.0  # a step is judged only when its remainder is this many times the noise floor
FIT_POINTS = 4  # the slope is fitted over this many of the smallest judged steps
MIN_POINTS = 3
SLOPE_TOLERANCE = 0.3


@dataclass(frozen=True)
class TaylorResult:
    """steps: (k,) the h used; remainders: (k,) r(h); judged: (k,) bool, the steps clear of the noise floor;
    fitted: (k,) bool, the steps the slope was fitted over; floor: the measured rounding level of r;
    slope: d log r / d log h over the fitted steps (nan when noisy); verdict: see the module docstring;
    directional: <g, v>; direction: v, flat over W1, b1, W2, b2 in that order (unit 2-norm, zero outside the
    chosen tensors); tensors: the parameter tensors v spans."""

    steps: np.ndarray
    remainders: np.ndarray
    judged: np.ndarray
    fitted: np.ndarray
    floor: float
    slope: float
    verdict: str
    directional: float
    direction: np.ndarray
    tensors: tuple[str, ...]

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def taylor_remainders(
    f: Callable[[np.ndarray], float], x: np.ndarray, g: np.ndarray, v: np.ndarray, steps
) -> tuple[np.ndarray, float]:
    """r(h) = |f(x + h v) - f(x) - <g, x + h v - x>| for every h in steps, and the rounding floor of r.

    f: f(x) -> float for a float64 array x (not modified). g, v: arrays shaped like x. The linear term uses
    the step actually taken, (x + h v) - x as stored, so the rounding of x + h v is no error of g's. The floor
    is the largest remainder at NOISE_PROBES, at least one rounding of f(x).
    """
    x = np.asarray(x, dtype=np.float64)
    f0 = float(f(x))

    def remainder(h: float) -> float:
        moved = x + h * v
        return abs(float(f(moved)) - f0 - float(np.vdot(g, moved - x)))

    remainders = np.array([remainder(float(h)) for h in steps])
    floor = max([remainder(h) for h in NOISE_PROBES] + [np.finfo(np.float64).eps * abs(f0)])
    return remainders, float(floor)


def fit_slope(
    steps: np.ndarray, remainders: np.ndarray, floor: float
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(judged, fitted, slope, verdict): the steps whose remainder clears MARGIN times the rounding floor, the
    smallest FIT_POINTS of them that the log-log line is fitted to, its slope, and the verdict it gives."""
    judged = remainders > MARGIN * floor
    fitted = np.zeros_like(judged)
    if judged.sum() < MIN_POINTS:
        return judged, fitted, float("nan"), "noisy"
    # the smallest judged steps: the asymptotic regime h -> 0, where the lowest-order term dominates
    fitted[np.flatnonzero(judged)[-FIT_POINTS:]] = True
    slope = float(np.polyfit(np.log(steps[fitted]), np.log(remainders[fitted]), 1)[0])
    if abs(slope - 2) <= SLOPE_TOLERANCE:
        verdict = "correct"
    elif abs(slope - 1) <= SLOPE_TOLERANCE:
        verdict = "wrong gradient"
    else:
        verdict = "inconclusive"
    return judged, fitted, slope, verdict


def _steps(steps) -> np.ndarray:
    """The steps argument as a float64 array: 1-d, at least MIN_POINTS finite values > 0, decreasing."""
    expected = f"at least {MIN_POINTS} finite steps > 0 in decreasing order (a 1-d sequence of numbers)"
    if isinstance(steps, np.ndarray):
        steps = _checks.float_array("steps", steps)
    elif isinstance(steps, (str, bytes)) or not isinstance(steps, (list, tuple)):
        raise TypeError(f"steps must be {expected}; got {type(steps).__name__} {steps!r}")
    elif any(isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Real) for h in steps):
        raise TypeError(f"steps must be {expected}; got {steps!r}")
    try:
        steps = np.array(steps, dtype=np.float64)
    except OverflowError:
        raise ValueError(f"steps must be {expected}; got a value beyond float64's range") from None
    if steps.ndim != 1 or steps.size < MIN_POINTS:
        raise ValueError(
            f"steps must be {expected}; got shape {steps.shape} (fewer steps can only say 'noisy')"
        )
    bad = np.flatnonzero(~(np.isfinite(steps) & (steps > 0)))
    if bad.size:
        raise ValueError(f"steps must be {expected}; steps[{bad[0]}] = {steps[bad[0]]}")
    unsorted = np.flatnonzero(np.diff(steps) >= 0)
    if unsorted.size:
        i = unsorted[0]
        raise ValueError(
            f"steps must be {expected}; steps[{i}] = {steps[i]} is not above steps[{i + 1}] = {steps[i + 1]}"
        )
    return steps


def _tensors(tensors) -> tuple[str, ...]:
    """The tensors argument as a tuple of names from Params.NAMES (None: all four; one name: that one)."""
    if isinstance(tensors, str):
        tensors = (tensors,)  # one name, not its letters
    elif tensors is None:
        tensors = Params.NAMES
    elif not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"tensors must be a list or tuple of names from {Params.NAMES}; got {type(tensors).__name__}"
        )
    tensors = tuple(tensors)
    unknown = [t for t in tensors if t not in Params.NAMES]
    if unknown or not tensors:
        raise ValueError(f"tensors must be names from {Params.NAMES}; got {tensors}")
    return tensors


def _direction(theta: Params, tensors: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """A random direction of unit 2-norm in the flat parameter space, spanning the named tensors only."""
    v = np.concatenate(
        [rng.standard_normal(a.size) * (name in tensors) for name, a in zip(Params.NAMES, theta, strict=True)]
    )
    return v / np.linalg.norm(v)


def _flat_loss(probe: TwoLayerNet, X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], float]:
    """The summed loss of probe's network at a flat parameter vector (probe's parameters are overwritten)."""
    shapes = [a.shape for a in probe.params]
    ends = np.cumsum([a.size for a in probe.params])[:-1]

    def loss(flat: np.ndarray) -> float:
        parts = np.split(flat, ends)
        probe.params = Params(*(part.reshape(shape) for part, shape in zip(parts, shapes, strict=True)))
        probe.forward(X)
        return float(np.sum(probe.loss(y)))

    return loss


def taylor_check(
    net: TwoLayerNet,
    X: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    grads: Params | None = None,
    tensors=None,
    steps=STEPS,
) -> TaylorResult:
    """The Taylor test of a network's gradient (net.backward(y) after net.forward(X), unless ``grads`` is
    given) along one random direction v drawn from rng, of unit 2-norm over the chosen tensors.

    net: a float64 TwoLayerNet (a stacked one is judged on the sum of its runs' losses). X, y: as for forward
    and loss. tensors: names from Params.NAMES that v spans (default all four), to tell which one is wrong.
    steps: the h to measure, at least MIN_POINTS finite values > 0 in decreasing order (default STEPS).
    The network (parameters and forward cache) is left as it was.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a scratch_nn.TwoLayerNet; got {type(net).__name__}")
    if net.dtype != np.float64:
        raise TypeError(
            f"taylor_check needs a float64 network (float32 rounding hides h**2); got {net.dtype}"
        )
    rng = _checks.generator("rng", rng)
    tensors, steps = _tensors(tensors), _steps(steps)
    if grads is None:
        with net.preserved():
            net.forward(X)
            grads = net.backward(y)
    else:
        check_grads(grads, net.params)

    theta = net.params.copy()
    flat_theta = np.concatenate([a.ravel() for a in theta])
    flat_g = np.concatenate(
        [a.ravel() for a in grads]
    )  # float64: check_grads holds them to the params' dtype
    v = _direction(theta, tensors, rng)
    loss = _flat_loss(TwoLayerNet(theta, net.activation), X, y)
    remainders, floor = taylor_remainders(loss, flat_theta, flat_g, v, steps)
    judged, fitted, slope, verdict = fit_slope(steps, remainders, floor)
    return TaylorResult(
        steps, remainders, judged, fitted, floor, slope, verdict, float(np.vdot(flat_g, v)), v, tensors
    )
