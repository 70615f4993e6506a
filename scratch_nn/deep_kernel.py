"""DeepNet's fast kernel for train(): the readable chain rule of deep.py, op for op, with every array
allocated once per train() and every elementwise operation written into its own buffer.

deep.py is the readable version; this module computes the same operations in the same order, so the two give
the same bits (tests/test_engine_kernels.py proves it). Nothing here validates: DeepNet checks every argument
before it builds a DeepStep. Why it pays: README, "Performance".
"""

from __future__ import annotations

import numpy as np

from . import _checks, _precise

__all__ = ["DeepStep"]

# 0-d arrays of the network's dtype (the values of Python's 0, 1 and -1, cast as NumPy would cast them)
_CONSTANTS = {dtype: tuple(np.array(v, dtype) for v in (0, 1, -1)) for dtype in _checks.FLOAT_DTYPES}


class DeepStep:
    """One SGD step of a network of any depth on a batch, in buffers allocated once.

    weights, biases: the parameters (read at every run; update() changes them in place); activations: one name
    per hidden layer; X: the inputs, C-contiguous. After forward(): hidden (a_1 .. a_L), z, p, log_p; after
    backward(): dW, db, the gradients.
    """

    def __init__(self, weights: list, biases: list, activations: tuple[str, ...], X: np.ndarray) -> None:
        dtype, m = weights[0].dtype, X.shape[-1]
        self.weights, self.biases, self.activations, self.X = weights, biases, activations, X
        self.zero, self.one, self.minus_one = _CONSTANTS[dtype]
        self.tanh, self.exp, self.log1p = (_precise.into(fn, dtype) for fn in (np.tanh, np.exp, np.log1p))
        self.hidden = [np.empty((*W.shape[:-1], m), dtype) for W in weights[:-1]]
        # working arrays shared by the layers of one shape: dz_l alternates between two (dz_(l-1) is computed
        # from dz_l), act'(a_l) takes one; a sigmoid layer is evaluated in float64 (x and exp(min(x, 0))) and
        # rounded once; tanh' takes (1 + a) in one more
        shared: dict = {}

        def buffer(*key) -> np.ndarray:
            shape, buffer_dtype = key[0], key[1]
            if key not in shared:
                shared[key] = np.empty(shape, buffer_dtype)
            return shared[key]

        self.dz = [buffer(a.shape, dtype, "dz", i % 2) for i, a in enumerate(self.hidden)]  # dz_1 .. dz_L
        self.dact = [buffer(a.shape, dtype, "dact") for a in self.hidden]
        wide = {"relu": (), "tanh": (dtype,), "sigmoid": (np.float64, np.float64)}
        self.scratch = [
            [buffer(a.shape, w, "scratch", j) for j, w in enumerate(wide[act])]
            for a, act in zip(self.hidden, activations, strict=True)
        ]
        self.z = np.empty((*weights[-1].shape[:-1], m), dtype)
        # the output's two exponentials in one call: exponents = (-|z|, min(z, 0) -> log_p), exps = (e, p)
        self.exponents, self.exps = np.empty((2, *self.z.shape), dtype), np.empty((2, *self.z.shape), dtype)
        (self.neg_abs, self.log_p), (self.e, self.p) = self.exponents, self.exps
        self.terms, self.denominator, self.dz_out = (np.empty_like(self.z) for _ in range(3))
        self.dW, self.db = [np.empty_like(W) for W in weights], [np.empty_like(b) for b in biases]

    def forward(self) -> None:
        below = self.X
        for i, (W, b, a) in enumerate(zip(self.weights, self.biases, self.hidden, strict=False)):
            np.matmul(W, below, out=a)
            a += b
            self._activate(i, a)
            below = a
        z = self.z
        np.matmul(self.weights[-1], below, out=z)
        z += self.biases[-1]
        np.copysign(z, self.minus_one, out=self.neg_abs)  # -|z|
        np.minimum(z, self.zero, out=self.log_p)
        self.exp(self.exponents, out=self.exps)  # e = exp(-|z|) and p = exp(min(z, 0))
        self.p /= np.add(self.e, self.one, out=self.denominator)
        self.log1p(self.e, out=self.e)
        self.log_p -= self.e

    def _activate(self, i: int, a: np.ndarray) -> None:
        """a = act_i(a) in place, as deep.py's activation computes it."""
        activation = self.activations[i]
        if activation == "relu":
            np.maximum(a, 0, out=a)
        elif activation == "tanh":
            self.tanh(a, out=a)
        else:  # exp(min(x, 0)) / (1 + exp(-|x|)), x = a in float64
            x, t = self.scratch[i]
            x[...] = a
            np.exp(np.minimum(x, 0, out=t), out=t)
            np.negative(np.abs(x, out=x), out=x)
            np.add(1, np.exp(x, out=x), out=x)
            np.divide(t, x, out=a)

    def loss_sums(self, one_minus_y: np.ndarray) -> np.ndarray:
        """Sum over the last two axes of (1 - y) * z - log_sigmoid(z): 0-d, or (R,) stacked."""
        terms = np.multiply(one_minus_y, self.z, out=self.terms)
        terms -= self.log_p
        return np.add.reduce(terms, axis=(-2, -1))

    def backward(self, y: np.ndarray, n: np.ndarray) -> None:
        dz = np.subtract(self.p, y, out=self.dz_out)
        dz /= n
        below = [self.X, *self.hidden]
        for i in reversed(range(len(self.weights))):
            np.matmul(dz, below[i].swapaxes(-1, -2), out=self.dW[i])
            np.add.reduce(dz, axis=-1, keepdims=True, out=self.db[i])
            if i > 0:
                da = np.matmul(self.weights[i].swapaxes(-1, -2), dz, out=self.dz[i - 1])
                da *= self._derivative(i - 1, below[i])
                dz = da

    def _derivative(self, i: int, a: np.ndarray) -> np.ndarray:
        """act_i'(z) from the saved output a, into dact[i]: deep.py's derivative, op for op."""
        dact, activation = self.dact[i], self.activations[i]
        if activation == "relu":
            return np.greater(a, self.zero, out=dact)
        np.subtract(self.one, a, out=dact)
        if activation == "tanh":
            dact *= np.add(self.one, a, out=self.scratch[i][0])
        else:
            dact *= a
        return dact

    def update(self, lr: np.ndarray) -> None:
        """params -= lr * grads, every tensor in place (the gradients are overwritten)."""
        for p, g in zip([*self.weights, *self.biases], [*self.dW, *self.db], strict=True):
            p -= np.multiply(g, lr, out=g)
