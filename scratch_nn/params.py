"""The two-layer network's named containers: its parameters (or gradients), a forward pass's cache, a training
run's history, and the check of a Params against the layout (docs/engine-api.md).

Samples are columns: W1: (n_hidden, n_in), b1: (n_hidden, 1), W2: (n_out, n_hidden), b2: (n_out, 1), with a
leading run axis R on every array for a stacked network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from . import _checks

__all__ = ["Params", "ForwardCache", "History", "check_layout", "check_grads"]


@dataclass(slots=True)
class Params:
    """The four parameter arrays (or their gradients), in this order; see the module docstring for shapes."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    NAMES: ClassVar[tuple[str, ...]] = ("W1", "b1", "W2", "b2")

    def __iter__(self):
        return iter((self.W1, self.b1, self.W2, self.b2))

    def copy(self) -> Params:
        return Params(*(a.copy() for a in self))

    def astype(self, dtype) -> Params:
        """A copy in dtype (np.float32 or np.float64), always new arrays."""
        dtype = _checks.float_dtype("dtype", dtype)
        return Params(*(a.astype(dtype) for a in self))

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.NAMES, self, strict=True))


class ForwardCache(NamedTuple):
    """What one forward pass leaves for loss and backward. m samples; a leading R for a stacked network.

    X: (n_in, m) or (R, n_in, m), the inputs (a C-contiguous copy if they were not); h: (R?, n_hidden, m) the
    hidden activations; z2, p, log_p: (R?, n_out, m) the logits, sigmoid(z2) and log_sigmoid(z2).
    """

    X: np.ndarray
    h: np.ndarray
    z2: np.ndarray
    p: np.ndarray
    log_p: np.ndarray


@dataclass(frozen=True)
class History:
    """losses: (epochs,) or (epochs, R), losses[e] the loss before epoch e's update.
    total_norms: same shape, the pre-clip global gradient norm of each step; None when training without
    max_norm.
    """

    losses: np.ndarray
    total_norms: np.ndarray | None


def _shape(*parts) -> str:
    return "(" + ", ".join(str(p) for p in parts) + ")"


def check_layout(params) -> _checks.Layout:
    """Check a Params against the layout in docs/engine-api.md and return its sizes."""
    if not isinstance(params, Params):
        raise TypeError(f"params must be a scratch_nn.Params; got {_checks.describe(params)}")
    W1, b1, W2, b2 = (_checks.float_array(n, a) for n, a in zip(Params.NAMES, params, strict=True))
    if W1.ndim not in (2, 3) or 0 in W1.shape:
        raise ValueError(
            f"W1 must have shape (n_hidden, n_in), or (R, n_hidden, n_in) when stacked, with every size > 0; "
            f"got {W1.shape}"
        )
    lead = W1.shape[:-2]
    form = "(R, ...) " if lead else ""
    n_hidden, n_in = W1.shape[-2:]
    if W2.ndim != W1.ndim or W2.shape[:-2] != lead or W2.shape[-1] != n_hidden or W2.shape[-2] == 0:
        raise ValueError(
            f"W2 must have shape {form}(n_out, n_hidden) = {_shape(*lead, 'n_out', n_hidden)} with n_out > 0 "
            f"to match W1 of shape {W1.shape}; got {W2.shape}"
        )
    n_out = W2.shape[-2]
    for name, a, want, wanted_form in (
        ("b1", b1, (*lead, n_hidden, 1), "(n_hidden, 1)"),
        ("b2", b2, (*lead, n_out, 1), "(n_out, 1)"),
    ):
        if a.shape != want:
            raise ValueError(
                f"{name} must have shape {form}{wanted_form} = {want} to match W1 {W1.shape} and W2 "
                f"{W2.shape}; "
                f"got {a.shape}"
            )
    for name, a in (("b1", b1), ("W2", W2), ("b2", b2)):
        _checks.same_dtype(name, a, W1.dtype, "W1 has")
    return _checks.Layout(lead[0] if lead else None, n_in, n_out, W1.dtype, W1.shape)


def check_grads(grads, params) -> None:
    """Gradients for sgd_step: a Params whose arrays match the parameters' shapes and dtype."""
    if not isinstance(grads, Params):
        raise TypeError(
            f"grads must be a scratch_nn.Params (as returned by backward); got {_checks.describe(grads)}"
        )
    for name, g, p in zip(Params.NAMES, grads, params, strict=True):
        _checks.float_array(f"grads.{name}", g)
        if g.shape != p.shape:
            raise ValueError(f"grads.{name} must have the shape of {name} {p.shape}; got {g.shape}")
        _checks.same_dtype(f"grads.{name}", g, p.dtype, f"{name} has")
