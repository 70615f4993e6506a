"""Global-norm gradient clipping by torch.nn.utils.clip_grad_norm_ itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import conditioning as _conditioning
from ._convert import to_numpy, to_tensor, torch_dtype


@dataclass(frozen=True)
class ClipResult:
    """grads: the clipped gradients, each shaped like its input; total_norm: the norm before clipping (0-d);
    coef: the factor every gradient was multiplied by (0-d), at most 1. conditioning: total_norm's, coef's,
    then each clipped gradient's (``reference.conditioning``)."""

    grads: list[np.ndarray]
    total_norm: np.ndarray
    coef: np.ndarray
    conditioning: tuple[_conditioning.Conditioning, ...] = ()


def clip_coef(max_norm: float, total_norm: torch.Tensor) -> torch.Tensor:
    """The factor clip_grad_norm_ multiplies every gradient by, in the total norm's dtype.

    NOTE: this line mirrors torch.nn.utils.clip_grad._clip_grads_with_norm_ (torch 2.13) verbatim, because
    clip_grad_norm_ returns only the total norm, not the factor it applied. Works elementwise on a (R,) total.
    """
    return torch.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)


def clip(
    grads: Sequence[np.ndarray],
    max_norm: float,
    *,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    dtype,
) -> ClipResult:
    """Clip `grads` (any shapes) to global `norm_type`-norm `max_norm` with torch.nn.utils.clip_grad_norm_.

    The arrays become the `.grad` of fresh parameters (the inputs are never mutated) and clip_grad_norm_
    runs with its default foreach choice. With error_if_nonfinite=True and a non-finite total, torch's
    RuntimeError propagates unchanged. With no gradients torch returns a float32 0; it is cast to `dtype`.
    """
    tdtype = torch_dtype(dtype)
    params = []
    for g in grads:
        grad = to_tensor(g, tdtype)
        param = torch.nn.Parameter(torch.zeros_like(grad))
        param.grad = grad
        params.append(param)
    total = torch.nn.utils.clip_grad_norm_(
        params, max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite
    ).to(tdtype)
    coef = clip_coef(max_norm, total)
    inputs = [to_numpy(to_tensor(g, tdtype)) for g in grads]
    cond = _conditioning.clip(inputs, total, coef, norm_type)
    return ClipResult(
        grads=[to_numpy(p.grad) for p in params],
        total_norm=to_numpy(total),
        coef=to_numpy(coef),
        conditioning=(cond["total_norm"], cond["coef"], *cond["grads"]),
    )
