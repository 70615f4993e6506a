"""Gradient checking: a network's analytic gradients against central differences of its loss.

Per element, relative error = |a - n| / max(|a|, |n|, tiny), so an exact zero matched by an exact zero scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import _checks
from .network import Params, TwoLayerNet

__all__ = ["TensorCheck", "GradCheckResult", "numerical_gradient", "gradient_check"]

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


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f at x, one element at a time.

    f: f(x) -> float, reading x. x: a float64 array of any shape; each element is set to x_i + eps and
    x_i - eps in place and then restored bit for bit (also when f raises).
    Returns an array shaped like x: (f(x_i + eps) - f(x_i - eps)) / (actual step), the actual step being the
    difference of the two perturbed values as stored, which is 2 eps up to the rounding of x_i +- eps.
    """
    x = _float64("x", x)
    eps = _checks.finite_positive("eps", eps)
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        try:
            x[index] = old + eps
            up, f_up = x[index], float(f(x))
            x[index] = old - eps
            down, f_down = x[index], float(f(x))
        finally:
            x[index] = old
        grad[index] = (f_up - f_down) / (up - down)
    return grad


def gradient_check(net: TwoLayerNet, X: np.ndarray, y: np.ndarray, eps: float = 1e-6) -> GradCheckResult:
    """Compare net.backward(y) after net.forward(X) with central differences of net.loss, for every element of
    every parameter. The net must be float64 (refused otherwise); X, y as for net.forward and net.loss.

    A stacked network is checked run by run, each run's elements against that run's loss.
    The parameters and the net's forward cache are as before when this returns.
    """
    if not isinstance(net, TwoLayerNet):
        raise TypeError(f"net must be a scratch_nn.TwoLayerNet; got {type(net).__name__}")
    eps = _checks.finite_positive("eps", eps)
    if net.dtype != np.float64:
        raise TypeError(
            f"gradient_check needs a float64 network (float32 rounding swamps a step of {eps}); got {net.dtype}: "
            "cast with TwoLayerNet(net.params.astype(np.float64), net.activation) and X, y with .astype(np.float64)"
        )
    net.forward(X)
    analytic = net.backward(y)
    cache = net.cache

    def loss_of_run(run):
        def f(_):
            net.forward(X)
            loss = net.loss(y)
            return loss if run is None else loss[run]

        return f

    checks = []
    try:
        for name, param, a in zip(Params.NAMES, net.params, analytic):
            numeric = np.empty_like(param)
            if net.n_runs is None:
                numeric[...] = numerical_gradient(loss_of_run(None), param, eps)
            else:
                for run in range(net.n_runs):
                    numeric[run] = numerical_gradient(loss_of_run(run), param[run], eps)
            checks.append(_compare(name, a, numeric))
    finally:
        net.cache = cache
    return GradCheckResult(tuple(checks), eps)


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
