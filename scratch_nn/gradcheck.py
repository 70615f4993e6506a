"""Gradient checking: a network's analytic gradients against central differences of its loss.

gradient_check differences every parameter element: two forward passes per element, for small networks.
directional_gradient_check differences along a few random directions of the whole parameter space (as
torch.autograd.gradcheck's fast_mode): two forward passes per direction, whatever the network's size.

Relative error = |a - n| / max(|a|, |n|, tiny), so an exact zero matched by an exact zero scores 0.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _checks
from .network import TwoLayerNet
from .params import Params

__all__ = [
    "TensorCheck",
    "GradCheckResult",
    "numerical_gradient",
    "gradient_check",
    "DirectionalCheckResult",
    "directional_gradient_check",
]

_TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True)
class TensorCheck:
    """One parameter tensor: the worst absolute and relative errors, the index of the worst relative one,
    and both gradients (shaped like the parameter)."""

    name: str
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray


@dataclass(frozen=True)
class GradCheckResult:
    """tensors: one TensorCheck per parameter, in Params.NAMES order; eps: the step used."""

    tensors: tuple[TensorCheck, ...]
    eps: float

    @property
    def worst_rel_error(self) -> float:
        return float(np.max([t.max_rel_error for t in self.tensors]))  # np.max: a NaN is the worst

    def passed(self, rtol: float = 1e-6) -> bool:
        return self.worst_rel_error <= rtol

    def __getitem__(self, name: str) -> TensorCheck:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor named {name!r}; the tensors are {[t.name for t in self.tensors]}")


def _float64(name: str, x) -> np.ndarray:
    x = _checks.float_array(name, x)
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be float64 for central differences (float32 rounding swamps a step of 1e-6); "
            f"got {x.dtype} (cast with .astype(np.float64))"
        )
    return x


def _value(value) -> float:
    """f's result as a float: a real number, or a float array with one element (a 0-d loss)."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind == "f":
        return float(value.reshape(()))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"f must return the function's value, a real number; got {_checks.describe(value)}")
    return _checks.python_float("f's value", value)


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f at x, one element at a time.

    f: f(x) -> float, reading its argument: a copy of x with one element set to x_i + eps, then to x_i - eps
    (x itself is never written). x: a float64 array of any shape.
    Returns an array shaped like x: (f(x_i + eps) - f(x_i - eps)) / (actual step), the actual step being the
    difference of the two perturbed values as stored, which is 2 eps up to the rounding of x_i +- eps.
    """
    x = _float64("x", x).copy()
    eps = _checks.finite_positive("eps", eps)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        try:
            x[index] = old + eps
            up, f_up = x[index], _value(f(x))
            x[index] = old - eps
            down, f_down = x[index], _value(f(x))
        finally:
            x[index] = old
        grad[index] = (f_up - f_down) / (up - down)
    return grad


def gradient_check(net: TwoLayerNet, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> GradCheckResult:
    """Compare net.backward(y) after net.forward(X) with central differences of net.loss, for every element of
    every parameter. The net must be float64 (refused otherwise); X, y as for net.forward and net.loss.

    A stacked network is checked run by run, each run's elements against that run's loss.
    The parameters and the net's forward cache are as before when this returns (net.preserved()).
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a scratch_nn.TwoLayerNet; got {type(net).__name__}")
    eps = _checks.finite_positive("eps", eps)
    if net.dtype != np.float64:
        raise TypeError(
            f"gradient_check needs a float64 network (float32 rounding swamps a step of {eps}); got "
            f"{net.dtype}: cast with TwoLayerNet(net.params.astype(np.float64), net.activation) and X, y "
            "with .astype(np.float64)"
        )
    with net.preserved():
        return _gradient_check(net, X, y, eps)


def _gradient_check(net: TwoLayerNet, X: np.ndarray, y: np.ndarray, eps: float) -> GradCheckResult:
    net.forward(X)
    analytic = net.backward(y)
    theta = net.params.copy()

    def loss_of(i: int, run):
        """The loss (of one run) as a function of tensor i (of that run), the others at theta."""

        def f(part):
            arrays = list(theta)
            if run is None:
                arrays[i] = part
            else:
                arrays[i] = arrays[i].copy()
                arrays[i][run] = part
            net.params = Params(*arrays)
            net.forward(X)
            loss = net.loss(y)
            return loss if run is None else loss[run]

        return f

    checks = []
    for i, (name, param, a) in enumerate(zip(Params.NAMES, theta, analytic, strict=True)):
        numeric = np.empty_like(param)
        if net.n_runs is None:
            numeric[...] = numerical_gradient(loss_of(i, None), param, eps)
        else:
            for run in range(net.n_runs):
                numeric[run] = numerical_gradient(loss_of(i, run), param[run], eps)
        checks.append(_compare(name, a, numeric))
    return GradCheckResult(tuple(checks), eps)


@dataclass(frozen=True)
class DirectionalCheckResult:
    """One entry per random direction u, a unit vector over all parameter elements at once:

    analytic: (n,) the backprop gradient's directional derivative <grad, u>; numeric: (n,) the central
    difference (L(theta + eps u) - L(theta - eps u)) / (2 eps); both over the step actually stored (see
    directional_gradient_check). rounding: (n,) what rounding alone can make of the numeric value, 8 ulp of
    the loss over the step: a difference below it says nothing. kinks: (n,) for a ReLU network, how many
    hidden pre-activations change sign between the two probes (0 for tanh): the loss has a kink inside that
    step, and a central difference across a kink can miss by far more than rounding, so a failure with kinks >
    0 is not evidence against the gradient (retry with a smaller eps). eps: the step.
    """

    analytic: np.ndarray
    numeric: np.ndarray
    rounding: np.ndarray
    kinks: np.ndarray
    eps: float

    @property
    def abs_errors(self) -> np.ndarray:
        return np.abs(self.analytic - self.numeric)

    @property
    def rel_errors(self) -> np.ndarray:
        return self.abs_errors / np.maximum(np.maximum(np.abs(self.analytic), np.abs(self.numeric)), _TINY)

    @property
    def worst_rel_error(self) -> float:
        return float(np.max(self.rel_errors))  # np.max: a NaN is the worst

    def passed(self, rtol: float = 1e-6) -> bool:
        """Every direction within rtol (relative) plus the rounding allowance; a NaN fails."""
        scale = np.maximum(np.abs(self.analytic), np.abs(self.numeric))
        return bool(np.all(self.abs_errors <= rtol * scale + self.rounding))


def directional_gradient_check(
    net: TwoLayerNet,
    X: np.ndarray,
    y: np.ndarray,
    n_directions: int = 4,
    *,
    rng: np.random.Generator,
    eps: float = 1e-6,
) -> DirectionalCheckResult:
    """Compare net.backward(y) after net.forward(X) with central differences of the loss along n_directions
    random unit directions of the whole parameter space, drawn from rng (standard normal, normalized over the
    four tensors together). Costs one backward and 2 * n_directions forward passes, at any size.

    The net must be float64 (refused otherwise); X, y as for net.forward and net.loss. A stacked network is
    checked on the sum of its runs' losses (whose gradient is every run's own gradient). Like
    numerical_gradient, the step is the one actually stored: theta +- eps u rounded to float64 moves the
    parameters by d = theta_plus - theta_minus, and the result compares (L(theta_plus) - L(theta_minus)) / (2
    eps) with <grad, d> / (2 eps). The parameters and the net's forward cache are as before when this returns.

    NOTE: with ReLU and many samples a step of 1e-6 can move a pre-activation across 0 (at (784, 1024) and
    m = 4096, for about one draw in three): see DirectionalCheckResult.kinks.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a scratch_nn.TwoLayerNet; got {type(net).__name__}")
    n_directions = _checks.positive_int("n_directions", n_directions)
    rng = _checks.generator("rng", rng)
    eps = _checks.finite_positive("eps", eps)
    if net.dtype != np.float64:
        raise TypeError(
            f"directional_gradient_check needs a float64 network (float32 rounding swamps a step of {eps}); "
            f"got {net.dtype}: cast with TwoLayerNet(net.params.astype(np.float64), net.activation) and X, y "
            "with .astype(np.float64)"
        )
    with net.preserved():
        return _directional(net, X, y, n_directions, rng, eps)


def _directional(net: TwoLayerNet, X, y, n_directions: int, rng: np.random.Generator, eps: float):
    net.forward(X)
    grads = net.backward(y)
    saved = net.params.copy()
    analytic, numeric, rounding = (
        _checks.allocation(f"n_directions={n_directions}", (n_directions,), np.float64) for _ in range(3)
    )
    kinks = _checks.allocation(f"n_directions={n_directions}", (n_directions,), np.int64)
    kinks[...] = 0
    relu = net.activation == "relu"
    for k in range(n_directions):
        u = [rng.standard_normal(a.shape) for a in saved]
        norm = np.sqrt(sum(np.vdot(d, d) for d in u))
        losses, moved, active = [], [], []
        for sign in (1.0, -1.0):
            moved.append([theta + (sign * eps / norm) * d for theta, d in zip(saved, u, strict=True)])
            net.params = Params(*moved[-1])
            net.forward(X)
            losses.append(float(np.sum(net.loss(y))))
            if relu:
                active.append(net.cache.h > 0)
        step = [plus - minus for plus, minus in zip(*moved, strict=True)]
        analytic[k] = sum(np.vdot(g, d) for g, d in zip(grads, step, strict=True)) / (2 * eps)
        numeric[k] = (losses[0] - losses[1]) / (2 * eps)
        rounding[k] = 8 * np.spacing(max(abs(losses[0]), abs(losses[1]))) / (2 * eps)
        if relu:
            kinks[k] = np.count_nonzero(active[0] != active[1])
    return DirectionalCheckResult(analytic, numeric, rounding, kinks, eps)


def _compare(name: str, analytic: np.ndarray, numeric: np.ndarray) -> TensorCheck:
    abs_error = np.abs(analytic - numeric)
    rel_error = abs_error / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), _TINY)
    worst = np.unravel_index(np.argmax(rel_error), rel_error.shape)  # argmax: the first NaN, if any
    return TensorCheck(
        name=name,
        max_abs_error=float(np.max(abs_error)),
        max_rel_error=float(rel_error[worst]),
        worst_index=tuple(int(i) for i in worst),
        analytic=analytic,
        numeric=numeric,
    )
