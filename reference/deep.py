"""A network of any depth in torch: forward with torch's own functions, gradients from torch.autograd,
training by torch.optim.SGD's step (``reference.sgd``) and clip_grad_norm_.

Layout (samples are columns, as in docs/engine-api.md): params "W1", "b1", ..., "W<k>", "b<k>"
(k >= 2 layers), W_l (n_l, n_(l-1)), b_l (n_l, 1); X (n_0, m), y (n_out, m). ``activations``: one of relu,
tanh, sigmoid per hidden layer (k - 1 of them).
    a_0 = X;  a_l = act_l(W_l @ a_(l-1) + b_l);  z = W_k @ a_(k-1) + b_k;  p = sigmoid(z)
    loss = binary_cross_entropy_with_logits(z, y), the mean over all n_out * m elements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import conditioning as _conditioning
from . import sgd
from ._convert import to_numpy, to_tensor, torch_dtype
from .network import NetResult
from .training import TrainResult

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def param_names(params: Mapping[str, np.ndarray]) -> list[str]:
    """W1, b1, ..., W<k>, b<k> in order, after checking that those are exactly the keys."""
    k = sum(1 for n in params if n.startswith("W"))
    names = [n for i in range(1, k + 1) for n in (f"W{i}", f"b{i}")]
    if k < 2 or sorted(params) != sorted(names):
        raise ValueError(
            f"params must have exactly the keys W1, b1, ..., W<k>, b<k> (k >= 2); got {sorted(params)}"
        )
    return names


def _acts(activations: str | Sequence[str], n_hidden: int) -> list:
    names = [activations] * n_hidden if isinstance(activations, str) else list(activations)
    if len(names) != n_hidden or any(a not in ACTIVATIONS for a in names):
        raise ValueError(f"activations must be {n_hidden} of {tuple(ACTIVATIONS)}; got {activations!r}")
    return [ACTIVATIONS[a] for a in names]


def logits(ps: list[torch.Tensor], X: torch.Tensor, acts: list) -> torch.Tensor:
    a = X
    for W, b, act in zip(ps[0:-2:2], ps[1:-2:2], acts, strict=True):
        a = act(torch.matmul(W, a) + b)
    return torch.matmul(ps[-2], a) + ps[-1]


def deep_network(
    params: Mapping[str, np.ndarray], X: np.ndarray, y: np.ndarray, *, activations, dtype
) -> NetResult:
    """p, z, the mean BCE-with-logits loss and torch.autograd's gradient of every parameter (W1, b1, ...)."""
    tdtype = torch_dtype(dtype)
    names = param_names(params)
    acts = _acts(activations, len(names) // 2 - 1)
    ps = [to_tensor(params[n], tdtype, requires_grad=True) for n in names]
    Xt, yt = to_tensor(X, tdtype), to_tensor(y, tdtype)
    z = logits(ps, Xt, acts)
    loss = F.binary_cross_entropy_with_logits(z, yt)
    grads = torch.autograd.grad(loss, ps)
    names_of = [activations] * (len(names) // 2 - 1) if isinstance(activations, str) else list(activations)
    cond = _conditioning.deep_network(ps, Xt, yt, names_of)
    return NetResult(
        p=to_numpy(torch.sigmoid(z)),
        z2=to_numpy(z),
        loss=to_numpy(loss),
        grads={n: to_numpy(g) for n, g in zip(names, grads, strict=True)},
        conditioning=tuple(cond[k] for k in ["p", "loss", *(f"d{n}" for n in names)]),
    )


def deep_train(
    params: Mapping[str, np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    lr: float,
    activations,
    dtype,
    max_norm: float | None = None,
    optimizer: str = "inline",
) -> TrainResult:
    """``epochs`` full-batch SGD steps (zero_grad, forward, loss recorded, backward, optional
    clip_grad_norm_(max_norm) over W1, b1, ... in that order, its pre-clip total recorded, SGD(lr) step;
    `optimizer` as in ``reference.sgd``).
    Losses and norms as float64 (epochs,); params the final parameters in the compute dtype."""
    tdtype = torch_dtype(dtype)
    names = param_names(params)
    acts = _acts(activations, len(names) // 2 - 1)
    ps = [torch.nn.Parameter(to_tensor(params[n], tdtype)) for n in names]
    Xt, yt = to_tensor(X, tdtype), to_tensor(y, tdtype)

    def loss_of():
        loss = F.binary_cross_entropy_with_logits(logits(ps, Xt, acts), yt)
        return loss, loss

    losses, norms = sgd.run(
        ps,
        epochs=epochs,
        lr=lr,
        loss_of=loss_of,
        clip=None if max_norm is None else lambda params: torch.nn.utils.clip_grad_norm_(params, max_norm),
        optimizer=optimizer,
    )
    return TrainResult(
        losses=to_numpy(torch.stack(losses)).astype(np.float64),
        total_norms=None if norms is None else to_numpy(torch.stack(norms)).astype(np.float64),
        params={n: to_numpy(p) for n, p in zip(names, ps, strict=True)},
    )
