"""The two-layer network's fast kernel: the computation of network.py, op for op, with every array allocated
once per train() and the elementwise work on hidden activations done in cache-sized blocks.

network.py is the readable version (the notebook's derivation, an op per line); this module computes the same
operations in the same order, so the two give the same bits (tests/test_engine_kernels.py proves it). Why each
trick pays, with the measurements: README, "Performance".

Shapes as in network.py: h and dz1 like the hidden activations (R?, n_hidden, m); z2, p, log_p, dz2 like the
output (R?, n_out, m). Nothing here validates: TwoLayerNet checks every argument before it builds a Step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import _checks, _precise
from .params import ForwardCache, Params

__all__ = ["BLOCK_BYTES", "Step", "blocks", "block_shape", "packed"]

#: bytes of hidden activations per block: small enough to stay in the CPU's cache between two passes
BLOCK_BYTES = 512 * 1024


def packed(shapes, dtype: np.dtype) -> tuple[np.ndarray, Params]:
    """One flat buffer and a Params of views into it, so updating all four tensors is one NumPy call."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = np.empty(sum(sizes), dtype)
    ends = np.cumsum(sizes)
    return flat, Params(
        *(flat[end - size : end].reshape(shape) for shape, size, end in zip(shapes, sizes, ends, strict=True))
    )


def _block_rows(hidden_shape: tuple, dtype: np.dtype) -> int:
    """Hidden units per block: that many rows of all runs together take about BLOCK_BYTES (at least one)."""
    row_bytes = dtype.itemsize * math.prod(hidden_shape) // hidden_shape[-2]
    return max(1, min(hidden_shape[-2], BLOCK_BYTES // max(row_bytes, 1)))


def blocks(*arrays: np.ndarray | None) -> Sequence[tuple[np.ndarray | None, ...]]:
    """Cut arrays (R?, n_hidden, ·) by hidden unit (axis -2) into blocks of rows, a tuple of views per block.

    The first array sets the block size. An array with fewer rows than the first (a scratch buffer of one
    block) gives every block its first rows; None (an unused buffer) stays None. One block (a small network):
    (arrays,). Elementwise operations and per-row sums give the same bits whatever the block size.
    """
    if arrays[0].nbytes <= BLOCK_BYTES:
        return (arrays,)
    n, rows = arrays[0].shape[-2], _block_rows(arrays[0].shape, arrays[0].dtype)

    def block(a, i):
        if a is None:
            return None
        return a[..., i : i + rows, :] if a.shape[-2] == n else a[..., : min(rows, n - i), :]

    return [tuple(block(a, i) for a in arrays) for i in range(0, n, rows)]


def block_shape(hidden_shape: tuple, dtype: np.dtype) -> tuple:
    """The shape of one block of an array of hidden_shape."""
    return (*hidden_shape[:-2], _block_rows(hidden_shape, dtype), hidden_shape[-1])


def _constant(value, dtype) -> np.ndarray:
    a = np.array(value, dtype)
    a.flags.writeable = False
    return a


# 0-d arrays of the network's dtype: NumPy takes them faster than Python scalars (the same values)
_CONSTANTS = {dtype: tuple(_constant(v, dtype) for v in (0, 1, -1)) for dtype in _checks.FLOAT_DTYPES}


def _product(W1: np.ndarray, W2: np.ndarray, m: int):
    """np.dot for one network (matmul's bits at less fixed cost), np.matmul when stacked or when a product is
    1 x 1 x 1 (np.dot multiplies two (1, 1) operands as scalars: a zero product's sign would differ)."""
    n_hidden, n_in = W1.shape[-2:]
    one_by_one = m == 1 and n_hidden == 1 and 1 in (n_in, W2.shape[-2])  # W1 X, dz1 X^T; W2 h, dz2 h^T
    return np.dot if W1.ndim == 2 and not one_by_one else np.matmul


class Step:
    """One step of a network on a batch: the arrays it writes, allocated once, and every view it reads
    through, derived once; running it allocates no array of its own (NumPy still takes buffers for casts and
    reductions).

    P: the parameters, read at every run (train() updates them in place); relu: the activation is ReLU (else
    tanh); X: the inputs. grads: a Params the backward writes into, or None for a step that only runs forward
    and loss. cache: the arrays of an earlier forward to run backward from, or None.
    """

    def __init__(
        self,
        P: Params,
        relu: bool,
        X: np.ndarray,
        grads: Params | None = None,
        cache: ForwardCache | None = None,
    ) -> None:
        dtype = P.W1.dtype
        self.hidden_shape = (*P.W1.shape[:-1], X.shape[-1])  # (R?, n_hidden, m): X's lead is () or W1's (R,)
        self.out_shape = (*P.W2.shape[:-1], X.shape[-1])
        X = np.ascontiguousarray(X)  # BLAS takes it as it is: no copy per product, matmul's own rounding
        self.P, self.relu, self.X = P, relu, X
        self.b2 = P.b2.reshape(()) if P.b2.size == 1 else P.b2  # a 0-d bias skips broadcasting's set-up
        self.zero, self.one, self.minus_one = _CONSTANTS[dtype]
        self.exp, self.tanh, self.log1p = (_precise.into(fn, dtype) for fn in (np.exp, np.tanh, np.log1p))
        self.matmul = _product(P.W1, P.W2, X.shape[-1])
        self._forward_arrays(cache)
        if grads is not None:
            self._backward_arrays(grads)

    def _forward_arrays(self, cache: ForwardCache | None) -> None:
        dtype, out_shape = self.P.W1.dtype, self.out_shape
        if cache is None:
            # the sigmoid's two exponentials in one call over a stacked pair:
            # exponents = (-|z2|, min(z2, 0) -> log_p), exps = (e = exp(-|z2|), exp(min(z2, 0)) = p)
            self.exponents, self.exps = np.empty((2, *out_shape), dtype), np.empty((2, *out_shape), dtype)
            (self.neg_abs, log_p), (self.e, p) = self.exponents, self.exps
            cache = ForwardCache(
                self.X, np.empty(self.hidden_shape, dtype), np.empty(out_shape, dtype), p, log_p
            )
        self.cache = cache
        _, self.h, self.z2, self.p, self.log_p = cache
        self.denominator, self.terms = np.empty(out_shape, dtype), np.empty(out_shape, dtype)
        # np.maximum against an array of zeros takes a SIMD loop that a scalar 0 does not
        zeros = np.zeros(block_shape(self.hidden_shape, dtype), dtype) if self.relu else None
        self.forward_blocks = blocks(self.h, self.P.b1, zeros)

    def _backward_arrays(self, grads: Params) -> None:
        dtype, one_block = self.P.W1.dtype, block_shape(self.hidden_shape, self.P.W1.dtype)
        self.grads = grads
        self.dz2, self.dz1 = np.empty(self.out_shape, dtype), np.empty(self.hidden_shape, dtype)
        self.hT, self.XT, self.W2T = (
            self.h.swapaxes(-1, -2),
            self.X.swapaxes(-1, -2),
            self.P.W2.swapaxes(-1, -2),
        )
        self.one_output = self.out_shape[-2] == 1
        factor = None if self.relu else np.empty(one_block, dtype)
        self.backward_blocks = blocks(
            self.dz1, self.h, self.W2T, grads.b1, np.empty(one_block, dtype), factor
        )

    def forward(self) -> None:
        P, h, z2, e, p, log_p = self.P, self.h, self.z2, self.e, self.p, self.log_p
        self.matmul(P.W1, self.X, out=h)
        for block, b1, zeros in self.forward_blocks:
            block += b1
            if self.relu:
                np.maximum(block, zeros, out=block)  # NaN propagates, as torch.relu
            else:
                self.tanh(block, out=block)
        self.matmul(P.W2, h, out=z2)
        z2 += self.b2
        np.copysign(z2, self.minus_one, out=self.neg_abs)  # -|z2|, the bits of np.negative(np.abs(z2))
        np.minimum(z2, self.zero, out=log_p)
        self.exp(self.exponents, out=self.exps)  # e = exp(-|z2|) and p = exp(min(z2, 0))
        p /= np.add(e, self.one, out=self.denominator)
        self.log1p(e, out=e)
        log_p -= e

    def loss_sums(self, one_minus_y: np.ndarray) -> np.ndarray:
        """Sum over the last two axes of (1 - y) * z2 - log_sigmoid(z2): 0-d, or (R,) for a stacked network.
        The mean loss is this divided by N (the caller's: train() divides all epochs' sums at once)."""
        terms = np.multiply(one_minus_y, self.z2, out=self.terms)
        terms -= self.log_p
        return np.add.reduce(terms, axis=(-2, -1))

    def backward(self, y: np.ndarray, n: np.ndarray) -> None:
        G = self.grads
        dz2 = np.subtract(self.p, y, out=self.dz2)
        dz2 /= n  # divided, not multiplied by 1/N: torch's rounding
        self.matmul(dz2, self.hT, out=G.W2)
        np.add.reduce(dz2, axis=-1, keepdims=True, out=G.b2)
        if not self.one_output:
            self.matmul(self.W2T, dz2, out=self.dz1)
        for dz1, h, W2T_rows, db1, dact, factor in self.backward_blocks:
            if self.one_output:
                np.multiply(W2T_rows, dz2, out=dz1)  # inner size 1: one exact product each, as the matmul's
            if self.relu:
                np.greater(h, self.zero, out=dact)  # 0 at h == 0, as torch; a multiply beats a masked copy
            else:
                # (1 - h)(1 + h): exact near |h| = 1, where 1 - h*h cancels
                np.subtract(self.one, h, out=dact)
                dact *= np.add(self.one, h, out=factor)
            dz1 *= dact
            np.add.reduce(dz1, axis=-1, keepdims=True, out=db1)
        self.matmul(self.dz1, self.XT, out=G.W1)
