"""Full-batch SGD epochs in torch: the loop that both training references (two-layer and deep) share.

For momentum 0, no weight decay and CPU tensors, a torch.optim.SGD step is, per parameter,
``param.add_(grad, alpha=-lr)`` (its single-tensor path: foreach is not its default on the CPU), and
``zero_grad(set_to_none=True)`` sets every ``.grad`` to None. The default ``optimizer="inline"`` makes those
calls itself: the same kernel on the same numbers, hence the same bits, without the optimizer's per-step
bookkeeping or the 1.5 s import of torch._dynamo that its constructor costs each process.
``optimizer="torch.optim"`` runs torch.optim.SGD itself; tests/test_reference.py holds the two bitwise equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

OPTIMIZERS = ("inline", "torch.optim")

# loss_of() -> (the loss to record, the scalar to differentiate); clip(params) -> the pre-clip total norm
LossOf = Callable[[], tuple[torch.Tensor, torch.Tensor]]
Clip = Callable[[Sequence[torch.Tensor]], torch.Tensor]


def run(
    params: Sequence[torch.Tensor],
    *,
    epochs: int,
    lr: float,
    loss_of: LossOf,
    clip: Clip | None = None,
    optimizer: str = "inline",
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """``epochs`` steps of: grads cleared, loss (recorded, detached), backward, optional clip (its pre-clip
    total recorded), SGD update. Returns the recorded losses and totals (None without ``clip``)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "torch.optim" else None
    losses: list[torch.Tensor] = []
    norms: list[torch.Tensor] | None = None if clip is None else []
    for _ in range(epochs):
        if opt is None:
            _clear(params)
        else:
            opt.zero_grad(set_to_none=True)
        recorded, objective = loss_of()
        losses.append(recorded.detach())
        objective.backward()
        if norms is not None:
            norms.append(clip(params))
        if opt is None:
            _step(params, lr)
        else:
            opt.step()
    return losses, norms


def _clear(params: Sequence[torch.Tensor]) -> None:
    for p in params:
        p.grad = None


@torch.no_grad()
def _step(params: Sequence[torch.Tensor], lr: float) -> None:
    for p in params:
        p.add_(p.grad, alpha=-lr)
