"""Gates: the primitive operations of backpropagation, each with its local gradient.

Every gate has one shape. ``forward(*inputs)`` returns the output and keeps, as named attributes, what
``backward`` needs. ``backward(upstream)`` takes dL/d(output), an array of the output's shape and dtype, and
returns a tuple with one gradient per input, in input order, each of its input's shape and dtype (an input
that was broadcast gets its gradient summed back by ``_unbroadcast``).

Inputs are float32/float64 arrays or Python numbers; a Python number is a weak scalar, as in NumPy 2, so
``Multiply().forward(x32, 3.0)`` stays float32. Non-finite inputs are accepted, and results follow IEEE
arithmetic silently, as in torch: ``Exp`` overflows to inf, ``0 ** -1`` is inf, ``inf * 0`` is NaN, and no
floating-point warning is raised (``_silent``). The one exception is ``Sigmoid.forward``, which is stable by
construction and only lets exp underflow to 0, so that a test under ``np.errstate(all="raise")`` proves it.

What backward reads cannot change behind its back (torch refuses the same with its version counters): the
elementwise gates keep copies of the inputs they need, the output-saving gates return a copy of their output,
and MatMul, whose products round by the operands' memory layout, keeps the caller's arrays and refuses a
backward after either was modified in place.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np

from . import _checks, _precise

__all__ = ["Add", "Multiply", "Power", "Exp", "Sigmoid", "ReLU", "LeakyReLU", "Tanh", "MatMul"]


def _unbroadcast(grad, shape: tuple, dtype: np.dtype | None = None) -> np.ndarray:
    """Sum grad over the axes broadcasting added to an input of this shape, and cast it to the input's dtype.

    grad: (*batch, *shape') where shape' broadcasts to ... from shape; returns an array of `shape`.
    dtype None means the input was a Python number (weak), so the gradient keeps grad's dtype.
    """
    grad = np.asarray(grad)
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True).reshape(shape)
    if dtype is not None and grad.dtype != dtype:
        grad = grad.astype(dtype)
    return grad


class _Gate:
    """Bookkeeping shared by the gates: input shapes/dtypes for the gradients, output shape/dtype for
    upstream."""

    _out_shape = None  # set by forward; None means backward has nothing to work from

    def _record(self, out, *inputs) -> np.ndarray:
        self._inputs_meta = tuple(
            (np.shape(x), x.dtype if isinstance(x, np.ndarray) else None) for x in inputs
        )
        out = np.asarray(out)
        self._out_shape, self._out_dtype = out.shape, out.dtype
        return out

    def _upstream(self, upstream) -> np.ndarray:
        name = type(self).__name__
        if self._out_shape is None:
            raise RuntimeError(f"{name}.backward() called before {name}.forward(): call forward first")
        return _checks.upstream(name, upstream, self._out_shape, self._out_dtype)

    def _grads(self, *grads) -> tuple[np.ndarray, ...]:
        return tuple(
            _unbroadcast(g, shape, dtype) for g, (shape, dtype) in zip(grads, self._inputs_meta, strict=True)
        )


def _silent(method):
    """Run a gate method with floating-point flags silenced: inf and NaN are results here, as in torch."""

    @functools.wraps(method)
    def silenced(*args, **kwargs):
        with np.errstate(all="ignore"):
            return method(*args, **kwargs)

    return silenced


def _binary(gate: str, a, b):
    a = _checks.operand(f"{gate} input a", a)
    b = _checks.operand(f"{gate} input b", b)
    _checks.broadcastable(gate, {"a": np.shape(a), "b": np.shape(b)})
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        a = np.asarray(a)  # two Python numbers: compute in float64 NumPy, not Python arithmetic
    return a, b


def _own(x):
    """A copy of an array input that backward will read (a Python number is immutable already)."""
    return x.copy() if isinstance(x, np.ndarray) else x


def _unary(gate: str, x) -> np.ndarray:
    # NOTE: a Python number becomes a float64 0-d array; Python arithmetic would raise on 0.0 ** -1
    # and return a complex number for (-8.0) ** (1 / 3) where NumPy (and torch) give inf and nan.
    return np.asarray(_checks.operand(f"{gate} input x", x))


class Add(_Gate):
    """out = a + b (broadcasting). backward: (g, g), each summed back to its input's shape."""

    @_silent
    def forward(self, a, b) -> np.ndarray:
        a, b = _binary("Add", a, b)
        return self._record(a + b, a, b)

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray, np.ndarray]:
        g = self._upstream(upstream)
        return self._grads(g, g)


class Multiply(_Gate):
    """out = a * b (broadcasting). backward: (g * b, g * a), each summed back to its input's shape."""

    @_silent
    def forward(self, a, b) -> np.ndarray:
        self.a, self.b = (_own(v) for v in _binary("Multiply", a, b))
        return self._record(self.a * self.b, self.a, self.b)

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray, np.ndarray]:
        g = self._upstream(upstream)
        return self._grads(g * self.b, g * self.a)


class Power(_Gate):
    """out = x ** exponent for a constant exponent (int or float).

    backward: g * (n * x ** (n - 1)); for n == 0 exactly 0 everywhere, as torch's pow_backward (the formula
    would give 0 * inf = nan at x == 0). Negative bases with integer exponents work; 0 ** negative is inf.
    """

    def __init__(self, exponent) -> None:
        if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, numbers.Real):
            raise TypeError(
                f"Power exponent must be an int or a float; got {type(exponent).__name__} {exponent!r}"
            )
        if not isinstance(exponent, numbers.Integral):
            self.exponent = _checks.python_float("Power exponent", exponent)
        elif -(2**63) <= exponent < 2**63:
            self.exponent = int(exponent)
        else:  # NumPy (and torch) take an integer exponent as a C int64
            raise ValueError(
                f"Power exponent must be an int64 (|n| < 2**63) or a float; got {_checks.big_int(exponent)}"
            )

    @_silent
    def forward(self, x) -> np.ndarray:
        self.x = _unary("Power", x).copy()
        return self._record(_precise.power(self.x, self.exponent), self.x)

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        g = self._upstream(upstream)
        n = self.exponent
        if n == 0:
            return self._grads(np.zeros_like(g))
        return self._grads(g * (n * _precise.power(self.x, n - 1)))


class Exp(_Gate):
    """out = exp(x). backward: g * out, from the saved output; overflows to inf like torch (no clipping)."""

    @_silent
    def forward(self, x) -> np.ndarray:
        x = _unary("Exp", x)
        self.out = self._record(_precise.exp(x), x)
        return self.out.copy()

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        return self._grads(self._upstream(upstream) * self.out)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # NOTE: exp(-|x|) lies in (0, 1], so nothing overflows for any finite x and the result is never NaN;
    # it underflows to 0 past |x| ~ 745 (~ 104 in float32), which is the exact limit. exp(min(x, 0)) is 1 for
    # x >= 0 and exp(x) below, so this is 1 / (1 + exp(-x)) and exp(x) / (1 + exp(x)) without a branch.
    # TwoLayerNet's forward computes these same operations (sharing exp(-|z|) with the loss).
    with np.errstate(under="ignore"):
        e = _precise.exp(-np.abs(x))
        return _precise.exp(np.minimum(x, 0)) / (1 + e)


class Sigmoid(_Gate):
    """out = 1 / (1 + exp(-x)), computed stably. backward: g * (1 - out) * out from the saved output
    (torch's sigmoid_backward, in its order of operations)."""

    def forward(self, x) -> np.ndarray:
        x = _unary("Sigmoid", x)
        self.out = self._record(_sigmoid(x), x)
        return self.out.copy()

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        g = self._upstream(upstream)
        return self._grads(g * (1 - self.out) * self.out)


class ReLU(_Gate):
    """out = x where x < 0 is false, else 0: max(x, 0) keeping NaN and -0.0, as torch.relu. backward: g where
    out > 0, else 0.

    NOTE: the derivative at exactly 0 is 0, as torch's threshold_backward(g, out, 0) which zeroes where
    out <= 0; a NaN output passes g through, also as torch.
    """

    @_silent
    def forward(self, x) -> np.ndarray:
        x = _unary("ReLU", x)
        # NOTE: np.where, not np.maximum(x, 0), which returns +0.0 for -0.0 (then Power(-1) gives +inf where
        # torch gives -inf); NaN < 0 is false, so NaN propagates (np.fmax would drop it)
        self.out = self._record(np.where(x < 0, 0, x), x)
        return self.out.copy()

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        g = self._upstream(upstream)
        return self._grads(np.where(self.out <= 0, 0, g))


class LeakyReLU(_Gate):
    """out = x where x > 0, else negative_slope * x, as torch.nn.functional.leaky_relu. backward: g where
    x > 0, else g * negative_slope, from the saved input (the output's sign is the slope's business).

    NOTE: the derivative at exactly 0 is the slope, as torch's leaky_relu_backward (x > 0 is false there);
    -0.0 * slope keeps its sign and NaN propagates, as in torch. The slope is rounded to the input's dtype,
    as torch rounds it to the tensor's.
    """

    def __init__(self, negative_slope=0.01) -> None:
        if isinstance(negative_slope, (bool, np.bool_)) or not isinstance(negative_slope, numbers.Real):
            raise TypeError(
                "LeakyReLU negative_slope must be an int or a float; got "
                f"{type(negative_slope).__name__} {negative_slope!r}"
            )
        self.negative_slope = _checks.python_float("LeakyReLU negative_slope", negative_slope)

    @_silent
    def forward(self, x) -> np.ndarray:
        self.x = _unary("LeakyReLU", x).copy()
        slope = self.x.dtype.type(self.negative_slope)
        return self._record(np.where(self.x > 0, self.x, self.x * slope), self.x)

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        g = self._upstream(upstream)
        return self._grads(np.where(self.x > 0, g, g * g.dtype.type(self.negative_slope)))


class Tanh(_Gate):
    """out = tanh(x). backward: g * (1 - out**2) from the saved output, as torch's tanh_backward, computed
    as (1 - out) * (1 + out) to be as accurate as torch's."""

    @_silent
    def forward(self, x) -> np.ndarray:
        x = _unary("Tanh", x)
        self.out = self._record(_precise.tanh(x), x)
        return self.out.copy()

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray]:
        g = self._upstream(upstream)
        # NOTE: (1 - t)(1 + t), not 1 - t*t: the latter cancels near |t| = 1 (1e-4 relative error in float32)
        # the factor first: g * (1 - t) could overflow or round into a subnormal before the product with
        # (1 + t)
        return self._grads(g * ((1 - self.out) * (1 + self.out)))


class MatMul(_Gate):
    """out = a @ b for a (..., n, k) and b (..., k, m) -> (..., n, m); leading batch axes broadcast.

    backward: (g @ b^T, a^T @ g) with ^T swapping the last two axes, each summed over the batch axes its input
    was broadcast along (a shared X under stacked weights gets the sum over runs).
    """

    @_silent
    def forward(self, a, b) -> np.ndarray:
        a = _checks.operand("MatMul input a", a)
        b = _checks.operand("MatMul input b", b)
        _checks.matmul_shapes(a, b)
        # NOTE: the caller's arrays, not copies: matmul rounds by memory layout (BLAS for C- or F-ordered
        # operands, its own loop for others), and a copy would change the layout. The copies only witness the
        # values.
        self.a, self.b = a, b
        self._seen = (a.copy(), b.copy())
        return self._record(a @ b, a, b)

    @_silent
    def backward(self, upstream) -> tuple[np.ndarray, np.ndarray]:
        g = self._upstream(upstream)
        for name, now, seen in zip("ab", (self.a, self.b), self._seen, strict=True):
            if not _same_bits(now, seen):
                raise RuntimeError(
                    f"MatMul.backward(): input {name} was modified by an inplace operation after forward() "
                    "(torch refuses this too: 'one of the variables needed for gradient computation has been "
                    "modified by an inplace operation'); call forward() again with the new values"
                )
        return self._grads(g @ self.b.swapaxes(-1, -2), self.a.swapaxes(-1, -2) @ g)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (so -0.0 differs from 0.0, and a NaN equals itself)."""
    unsigned = f"u{a.itemsize}"
    return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))
