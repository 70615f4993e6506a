"""The two-layer network, forward in torch, gradients from torch.autograd.

Layout (samples are columns, as in docs/engine-api.md):
    W1 (h, n_in), b1 (h, 1), W2 (n_out, h), b2 (n_out, 1), X (n_in, m), y (n_out, m)
    z1 = W1 @ X + b1;  a1 = relu(z1) or tanh(z1);  z2 = W2 @ a1 + b2;  p = sigmoid(z2)
    loss = binary_cross_entropy_with_logits(z2, y), the mean over all n_out * m elements.
Stacked: every parameter carries a leading run axis R; X, y are shared 2-D or per run (R, ., m); the loss
is the per-run mean, shape (R,), and back-propagating its sum gives each run its own gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import conditioning as _conditioning
from ._convert import to_numpy, to_tensor, torch_dtype

PARAM_NAMES: tuple[str, ...] = ("W1", "b1", "W2", "b2")
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


@dataclass(frozen=True)
class NetResult:
    """p, z2: (n_out, m), or (R, n_out, m) stacked. loss: 0-d, or (R,) per-run means stacked.
    grads: "W1", "b1", "W2", "b2" -> gradient of the (per-run) mean loss, shaped like that parameter.
    conditioning: p's, loss's, then dW1's, db1's, dW2's, db2's (``reference.conditioning``)."""

    p: np.ndarray
    z2: np.ndarray
    loss: np.ndarray
    grads: dict[str, np.ndarray]
    conditioning: tuple[_conditioning.Conditioning, ...] = ()


def activation_fn(activation: str):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def param_tensors(params: Mapping[str, np.ndarray], dtype: torch.dtype) -> list[torch.Tensor]:
    """Fresh tensors W1, b1, W2, b2 (in that order) after checking keys and the layout's shapes."""
    if not isinstance(params, Mapping) or set(params) != set(PARAM_NAMES):
        raise ValueError(f"params must be a mapping with exactly the keys {PARAM_NAMES}")
    W1, b1, W2, b2 = (to_tensor(params[n], dtype) for n in PARAM_NAMES)
    lead = W1.shape[:-2]
    if W1.dim() not in (2, 3) or any(t.dim() != W1.dim() or t.shape[:-2] != lead for t in (b1, W2, b2)):
        raise ValueError("W1, b1, W2, b2 must all be 2-D, or all 3-D with the same leading run axis R")
    h, n_out = W1.shape[-2], W2.shape[-2]
    if b1.shape[-2:] != (h, 1) or W2.shape[-1] != h or b2.shape[-2:] != (n_out, 1):
        raise ValueError(
            "inconsistent shapes: expected W1 (h, n_in), b1 (h, 1), W2 (n_out, h), b2 (n_out, 1), got "
            + ", ".join(f"{n} {tuple(t.shape)}" for n, t in zip(PARAM_NAMES, (W1, b1, W2, b2), strict=True))
        )
    return [W1, b1, W2, b2]


def data_tensors(X, y, params: list[torch.Tensor], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """X, y as tensors, checked against the parameters; a shared y is expanded to the stacked z2 shape."""
    W1, _, W2, _ = params
    Xt, yt = to_tensor(X, dtype), to_tensor(y, dtype)
    stacked = W1.dim() == 3
    allowed = (2, 3) if stacked else (2,)
    if Xt.dim() not in allowed or yt.dim() not in allowed:
        raise ValueError(f"X and y must have {' or '.join(map(str, allowed))} dimensions")
    if Xt.shape[-2] != W1.shape[-1] or yt.shape[-2] != W2.shape[-2] or Xt.shape[-1] != yt.shape[-1]:
        raise ValueError(
            f"X {tuple(Xt.shape)} / y {tuple(yt.shape)} do not fit W1 {tuple(W1.shape)}, W2 {tuple(W2.shape)}"
        )
    for t in (Xt, yt):
        if t.dim() == 3 and t.shape[0] != W1.shape[0]:
            raise ValueError(f"per-run data has {t.shape[0]} runs, parameters have {W1.shape[0]}")
    if stacked:
        # binary_cross_entropy_with_logits does not broadcast its target.
        yt = yt.expand(W1.shape[0], *yt.shape[-2:])
    return Xt, yt


def logits(params: list[torch.Tensor], X: torch.Tensor, act) -> torch.Tensor:
    """z2 = W2 @ act(W1 @ X + b1) + b2: (n_out, m), or (R, n_out, m) stacked."""
    W1, b1, W2, b2 = params
    return torch.matmul(W2, act(torch.matmul(W1, X) + b1)) + b2


def mean_bce(z2: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean BCE from the logit: 0-d for (n_out, m), per-run (R,) for (R, n_out, m)."""
    if z2.dim() == 2:
        return F.binary_cross_entropy_with_logits(z2, y)
    return F.binary_cross_entropy_with_logits(z2, y, reduction="none").mean(dim=(-2, -1))


def network(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, *, activation: str, dtype
) -> NetResult:
    """Forward pass, mean BCE-with-logits loss, and its parameter gradients by torch.autograd.

    params: "W1" (h, n_in), "b1" (h, 1), "W2" (n_out, h), "b2" (n_out, 1), or each with a leading run axis R.
    X: (n_in, m) [or (R, n_in, m) stacked]; y: (n_out, m) [or (R, n_out, m) stacked], labels in [0, 1].
    activation: "relu" or "tanh". dtype: float32 or float64, the compute and result dtype.
    """
    tdtype = torch_dtype(dtype)
    act = activation_fn(activation)
    ps = param_tensors(params, tdtype)
    Xt, yt = data_tensors(X, y, ps, tdtype)
    for t in ps:
        t.requires_grad_(True)
    z2 = logits(ps, Xt, act)
    loss = mean_bce(z2, yt)
    # Stacked: runs do not interact, so d(sum of per-run losses)/d(run r's params) is run r's own gradient.
    grads = torch.autograd.grad(loss.sum() if loss.dim() else loss, ps)
    cond = _conditioning.network(ps, Xt, yt, activation)
    return NetResult(
        p=to_numpy(torch.sigmoid(z2)),
        z2=to_numpy(z2),
        loss=to_numpy(loss),
        grads={n: to_numpy(g) for n, g in zip(PARAM_NAMES, grads, strict=True)},
        conditioning=tuple(cond[k] for k in ("p", "loss", "dW1", "db1", "dW2", "db2")),
    )
