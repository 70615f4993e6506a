"""Gradient clipping by global norm, with torch.nn.utils.clip_grad_norm_'s semantics.

total = the p-norm of the per-tensor p-norms, in the gradients' dtype;
coef  = min(max_norm / (total + 1e-6), 1), applied to every gradient always (no branch), so a NaN total gives
        NaN gradients and an inf total gives coef 0 (and inf * 0 = NaN elements), exactly as torch;
total is the norm before clipping. A non-finite total raises only with error_if_nonfinite=True.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks

__all__ = ["ClipResult", "clip_grad_norm", "clip_grad_norm_per_run", "clip_in_place"]


@dataclass(frozen=True)
class ClipResult:
    """grads: the clipped gradients (new arrays); total_norm: the norm before clipping; coef: the factor
    applied.

    total_norm and coef are 0-d for clip_grad_norm and (R,) for clip_grad_norm_per_run.
    """

    grads: list[np.ndarray]
    total_norm: np.ndarray
    coef: np.ndarray


def _norm(a: np.ndarray, p: float, axis) -> np.ndarray:
    """The p-norm of a over axis (None: all elements), computed in a's dtype, without rescaling (as torch)."""
    if p == 2:
        return np.sqrt(np.add.reduce(a * a, axis=axis))
    if p == 1:
        return np.add.reduce(np.abs(a), axis=axis)
    if p == np.inf:
        return np.maximum.reduce(np.abs(a), axis=axis, initial=0)  # initial: an empty tensor has norm 0
    return np.add.reduce(np.abs(a) ** p, axis=axis) ** (1 / p)


def clip_in_place(
    grads: list[np.ndarray],
    max_norm: float,
    norm_type: float,
    per_run: bool,
    error_if_nonfinite: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale grads in place; return (total_norm, coef). per_run: axis 0 of every gradient indexes runs,
    and each run is clipped over its own slices."""
    if per_run:
        norms = [_norm(g, norm_type, tuple(range(1, g.ndim))) for g in grads]
    else:
        norms = [_norm(g, norm_type, None) for g in grads]
    total = _norm(np.stack(norms), norm_type, 0)
    if error_if_nonfinite and not np.isfinite(total).all():
        which = f" of run {int(np.argmin(np.isfinite(total)))}" if per_run else ""
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients{which} is non-finite ({total}), so it cannot "
            "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "error_if_nonfinite=False"
        )
    coef = np.minimum(max_norm / (total + 1e-6), 1.0)  # np.minimum propagates NaN, as torch.clamp
    for g in grads:
        np.multiply(g, coef.reshape((-1,) + (1,) * (g.ndim - 1)) if per_run else coef, out=g)
    return total, coef


def _grad_list(grads, per_run: bool) -> list[np.ndarray]:
    if isinstance(grads, np.ndarray) or not hasattr(grads, "__iter__"):
        raise TypeError(
            f"grads must be a list (or tuple, or Params) of float arrays; got {type(grads).__name__}"
        )
    grads = [_checks.float_array(f"grads[{i}]", g) for i, g in enumerate(grads)]
    for i, g in enumerate(grads[1:], start=1):
        if g.dtype != grads[0].dtype:
            raise TypeError(
                f"grads must share one dtype; grads[0] is {grads[0].dtype}, grads[{i}] is {g.dtype}"
            )
    if per_run:
        for i, g in enumerate(grads):
            if g.ndim == 0 or g.shape[0] != grads[0].shape[0]:
                raise ValueError(
                    f"grads[{i}] must have the leading run axis R = "
                    f"{grads[0].shape[0] if grads[0].ndim else '?'} of grads[0] {grads[0].shape}; "
                    f"got {g.shape}"
                )
    return grads


def _clip(grads, max_norm, norm_type, error_if_nonfinite, per_run: bool) -> ClipResult:
    grads = _grad_list(grads, per_run)
    max_norm = _checks.positive("max_norm", max_norm)
    norm_type = _checks.positive("norm_type", norm_type)
    error_if_nonfinite = _checks.flag("error_if_nonfinite", error_if_nonfinite)
    if not grads:
        total = np.asarray(0.0)
        return ClipResult([], total, np.minimum(max_norm / (total + 1e-6), 1.0))
    clipped = [g.copy() for g in grads]
    # NOTE: silent like torch: a non-finite norm propagates as the semantics above say, it is not an error
    with np.errstate(all="ignore"):
        total, coef = clip_in_place(clipped, max_norm, norm_type, per_run, error_if_nonfinite)
    return ClipResult(clipped, total, coef)


def clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False) -> ClipResult:
    """Clip a list of gradients by their global p-norm, without mutating them.

    grads: list of float arrays of one dtype, any shapes (a Params works too).
    max_norm: > 0 (inf allowed); norm_type: p > 0, inf for the max-norm.
    Returns ClipResult(grads, total_norm, coef) with 0-d total_norm and coef in the gradients' dtype.
    """
    return _clip(grads, max_norm, norm_type, error_if_nonfinite, per_run=False)


def clip_grad_norm_per_run(grads, max_norm, norm_type=2.0, error_if_nonfinite=False) -> ClipResult:
    """clip_grad_norm for R independent runs stacked on axis 0 (a stacked network's gradients).

    grads: list of float arrays (R, ...) of one dtype; run r is clipped by the norm over grads[i][r] for all
    i, exactly as clip_grad_norm on that run's slices would. Returns total_norm and coef of shape (R,).
    """
    return _clip(grads, max_norm, norm_type, error_if_nonfinite, per_run=True)
