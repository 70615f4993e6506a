"""Products and sums in another order than scratch_nn's (BLAS matmul, NumPy's pairwise sum)."""

from __future__ import annotations

import numpy as np


def matmul(a, b, out=None):
    """``a @ b`` through ``np.einsum``'s own multiply-add loop (no BLAS): the same products, another order."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim < 2 or b.ndim < 2:
        return np.matmul(a, b, out=out)
    return np.einsum("...ij,...jk->...ik", a, b, out=out, optimize=False)


def add_reduce(a, axis=0, dtype=None, out=None, keepdims=False, **kwargs):
    """``np.add.reduce`` summing left to right (``np.add.accumulate``'s last element) instead of pairwise."""
    a = np.asarray(a)
    if kwargs or dtype is not None:
        return np.add.reduce(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    axes = tuple(range(a.ndim)) if axis is None else (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(sorted(ax % a.ndim for ax in axes)) if a.ndim else ()
    if not axes or a.size == 0:
        return np.add.reduce(a, axis=axis, out=out, keepdims=keepdims)
    kept = [ax for ax in range(a.ndim) if ax not in axes]
    moved = np.transpose(a, kept + list(axes))
    flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
    total = np.add.accumulate(flat, axis=-1)[..., -1]
    if keepdims:
        total = total.reshape(tuple(1 if ax in axes else n for ax, n in enumerate(a.shape)))
    if out is not None:
        out[...] = total
        return out
    return total.astype(a.dtype, copy=False)[()] if total.ndim == 0 else total


def sum_(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    """``a.sum(...)`` / ``np.sum`` summed sequentially."""
    return add_reduce(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
