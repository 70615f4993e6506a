"""Full-batch SGD training in torch (``reference.sgd``: torch.optim.SGD's step), the reference trajectory
for the engine's `train`.

Shapes as in `reference.network`: params W1 (h, n_in), b1 (h, 1), W2 (n_out, h), b2 (n_out, 1); X (n_in, m),
y (n_out, m). Stacked params (leading run axis R, X/y shared or per run) train the R networks in one
computation: the loss minimised is the sum of the per-run means, so every run gets its own gradient and SGD,
being elementwise, updates it as per-run training would. With max_norm, each run is clipped by its own total
norm: torch.nn.utils.get_total_norm on that run's views, then the coefficient of `clip_coef` (bitwise what
clip_grad_norm_ does to that run alone).

Stacked equals per-run training to rounding, not bitwise: torch's CPU sigmoid can round an element
differently inside a longer tensor, and a per-run mean over a count that is not a power of two is scaled by
1/N where the unstacked BCE mean divides by N. Cost per epoch, XOR, float32, 1 thread: one run 62 us (92 us
through torch.optim), 32 stacked runs 109 us (152 us); per-run clipping adds ~0.75 ms at R=32 (a
get_total_norm per run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from . import sgd
from ._convert import to_numpy, torch_dtype
from .clip import clip_coef
from .network import PARAM_NAMES, activation_fn, data_tensors, logits, mean_bce, param_tensors


@dataclass(frozen=True)
class TrainResult:
    """losses: (epochs,) float64, or (epochs, R) stacked: the loss before epoch e's update.
    total_norms: same shape, the pre-clip global gradient norm of each epoch, or None without max_norm.
    params: "W1", "b1", "W2", "b2" -> final parameters in the compute dtype."""

    losses: np.ndarray
    total_norms: np.ndarray | None
    params: dict[str, np.ndarray]


def train(
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    activation: str,
    dtype,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    optimizer: str = "inline",
) -> TrainResult:
    """Train from a copy of `params` (never mutated) for `epochs` full-batch SGD steps in torch: per epoch,
    grads cleared, forward, mean BCE-with-logits loss (recorded), backward, optional
    clip_grad_norm_(max_norm, norm_type) (its pre-clip total recorded), SGD(lr) step (``reference.sgd``:
    `optimizer` "inline" or "torch.optim", bitwise equal). Stacked runs as in the module docstring.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    tdtype = torch_dtype(dtype)
    act = activation_fn(activation)
    tensors = param_tensors(params, tdtype)
    Xt, yt = data_tensors(X, y, tensors, tdtype)
    ps = [torch.nn.Parameter(t) for t in tensors]
    stacked = ps[0].dim() == 3
    runs = (ps[0].shape[0],) if stacked else ()

    def loss_of():
        loss = mean_bce(logits(ps, Xt, act), yt)
        return loss, (loss.sum() if stacked else loss)

    clipper = clip_per_run if stacked else torch.nn.utils.clip_grad_norm_  # each run by its own norm
    clip = None if max_norm is None else partial(clipper, max_norm=max_norm, norm_type=norm_type)
    losses, norms = sgd.run(ps, epochs=epochs, lr=lr, loss_of=loss_of, clip=clip, optimizer=optimizer)
    return TrainResult(
        losses=_stack(losses, (epochs, *runs), tdtype),
        total_norms=None if norms is None else _stack(norms, (epochs, *runs), tdtype),
        params={n: to_numpy(p) for n, p in zip(PARAM_NAMES, ps, strict=True)},
    )


def _stack(values: list[torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
    """The recorded per-epoch values as one float64 array of `shape` (exact: widened from `dtype`)."""
    stacked = torch.stack(values) if values else torch.empty(shape, dtype=dtype)
    return to_numpy(stacked).astype(np.float64)


@torch.no_grad()
def clip_per_run(ps: list[torch.nn.Parameter], max_norm: float, norm_type: float) -> torch.Tensor:
    """Clip each run's gradients by that run's own global norm, in place; returns the (R,) pre-clip totals.

    The totals come from torch.nn.utils.get_total_norm on each run's (contiguous) gradient views, the very
    call clip_grad_norm_ makes for one unstacked run. Scaling then multiplies by the coefficient computed as
    clip_grad_norm_ computes it; an elementwise product is correctly rounded, so the result is the same.
    """
    per_run = zip(*(p.grad.unbind(0) for p in ps), strict=True)
    totals = torch.stack([torch.nn.utils.get_total_norm(views, norm_type) for views in per_run])
    coef = clip_coef(max_norm, totals)
    for p in ps:
        p.grad.mul_(coef.view(-1, *(1,) * (p.dim() - 1)))
    return totals
