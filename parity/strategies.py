"""Hypothesis strategies for the property-based parity tests.

Strategies draw complete, self-describing examples (:class:`GateExample`, :class:`NetworkExample`): the dtype,
the shapes (scalars, size-1 and broadcast axes), the values and the upstream gradient. Values are finite and
never subnormal (``allow_subnormal=False``: flush-to-zero would change them), drawn at the example's width
(``width=32`` for float32, so that a float32 case holds exactly the values hypothesis drew). An example's
``repr`` is Python that rebuilds it exactly, so that a falsifying example pastes into an ``@example``.

Ill-conditioned examples are drawn: the tolerance policy scales each bound with the conditioning of the result
(``parity.tolerance``), so cancellation is no reason to look away. Not drawn are only the examples on which
parity is undecidable for another reason (``well_posed``, ``network_well_posed`` and the element filter below,
each with its reason): a sum that overflows in one order only, a ReLU branch chosen by rounding, torch's own
underflow.
How the property tests run and report (profiles, recording) is in ``parity/property_harness.py``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity import catalogue
from parity.catalogue import DTYPES

# -- where parity is decidable -------------------------------------------------------------------------------

GATES = tuple(catalogue.GATES)
ACTIVATIONS = ("relu", "tanh")

MAX_SIDE = 4  # every axis of a gate input: enough for broadcasting and reductions, small enough to stay quick

_U64 = float(np.finfo(np.float64).eps) / 2  # unit roundoff

# torch's float64 sigmoid, 1 / (1 + exp(-x)), returns 0 once exp(-x) overflows (x < -709.78), where the exact
# result is a subnormal down to x = -745.13; the engine returns that subnormal. A scalar there compares 0 with
# 1e-310: torch's inaccuracy, not a parity question. (Also seen, not filtered: float64 power backward at
# x ~ 1e154, n = -1, where torch gives -0.0 for the subnormal -5.6e-309; the thorough profile can draw it.)
SIGMOID_TORCH_UNDERFLOW = (-746.0, -float(np.log(np.finfo(np.float64).max)))


def _outside(lo: float, hi: float):
    return lambda v: not lo < v < hi


def _decidable(total: np.ndarray, magnitude: np.ndarray, n: int, dtype: np.dtype) -> bool:
    """Whether a sum of ``n`` terms per element (``magnitude``: the sum of the terms' magnitudes, float64) has
    one answer in ``dtype``: no summation order can overflow. (Cancellation is no reason: the tolerance scales
    with ``magnitude / |total|``.)"""
    return bool(np.all(magnitude <= float(np.finfo(dtype).max) / 2))


def _sum_to(x: np.ndarray, shape: tuple) -> np.ndarray:
    """x summed over the axes that broadcasting added to ``shape`` (as autograd sums a broadcast input's
    grad)."""
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    return x.sum(axis=axes).reshape(shape) if axes else x


def _gate_sums(ex: GateExample) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Every sum the gate computes, as (sum, sum of magnitudes, terms per element), in float64."""
    g = ex.upstream.astype(np.float64)
    xs = [np.asarray(x, dtype=np.float64) for x in ex.inputs]
    sums = []
    shape = catalogue.GATES[ex.gate].shape
    if shape == "broadcast":
        for i, x in enumerate(xs):
            if x.shape != g.shape:  # a broadcast input: its gradient sums over the broadcast axes
                terms = g if ex.gate == "add" else g * xs[1 - i]
                sums.append((_sum_to(terms, x.shape), _sum_to(np.abs(terms), x.shape), g.size // x.size))
    elif shape == "matmul":
        a, b = xs
        mT = lambda t: t.swapaxes(-1, -2)  # noqa: E731
        sums.append((a @ b, np.abs(a) @ np.abs(b), a.shape[-1]))
        # every product of g with b (or a) that lands on one element, broadcast batch axes included
        sums.append(
            (
                _sum_to(g @ mT(b), a.shape),
                _sum_to(np.abs(g) @ mT(np.abs(b)), a.shape),
                g.size * a.shape[-1] // a.size,
            )
        )
        sums.append(
            (
                _sum_to(mT(a) @ g, b.shape),
                _sum_to(mT(np.abs(a)) @ np.abs(g), b.shape),
                g.size * a.shape[-2] // b.size,
            )
        )
    return sums


def well_posed(ex: GateExample) -> bool:
    """Whether every sum in ``ex`` (broadcast gradients, matmul products) is :func:`_decidable`: no
    overflow."""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum is inf here, and rejected
        return _all_decidable(np.dtype(ex.dtype), _gate_sums(ex))


def network_well_posed(ex: NetworkExample) -> bool:
    """Whether parity is decidable on ``ex``: no ReLU pre-activation within rounding distance of the kink,
    where the order of its sum chooses the branch (a jump, not a rounding error: no bound covers it).
    Ill-conditioned networks are drawn: the policy's bound scales with each result's conditioning."""
    dtype = np.dtype(ex.dtype)
    u = float(np.finfo(dtype).eps) / 2
    W1, b1, X = (np.asarray(v, dtype=np.float64) for v in (ex.W1, ex.b1, ex.X))
    z1, z1_magnitude = W1 @ X + b1, np.abs(W1) @ np.abs(X) + np.abs(b1)
    return not (
        ex.activation == "relu"
        and np.any((np.abs(z1) <= 2 * (W1.shape[1] + 1) * u * z1_magnitude) & (z1_magnitude > 0))
    )


def _all_decidable(dtype: np.dtype, sums) -> bool:
    return all(_decidable(total, mag, n, dtype) for total, mag, n in sums)


# -- values --------------------------------------------------------------------------------------------------


def _width(dtype) -> int:
    return np.dtype(dtype).itemsize * 8


def floats(dtype, min_value: float | None = None, max_value: float | None = None) -> st.SearchStrategy[float]:
    """Finite, non-subnormal floats exactly representable in ``dtype``, by default across its whole range
    (every order of magnitude from the smallest normal number to the largest finite one)."""
    info = np.finfo(dtype)
    return st.floats(
        min_value=-float(info.max) if min_value is None else min_value,
        max_value=float(info.max) if max_value is None else max_value,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
        width=_width(dtype),
    )


def arrays(dtype, shape, elements: st.SearchStrategy | None = None) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``dtype`` and ``shape`` (``()`` is a 0-d array) with ``elements`` (default:
    :func:`floats`)."""
    return hnp.arrays(np.dtype(dtype), shape, elements=floats(dtype) if elements is None else elements)


def upstreams(dtype, shape, magnitudes: tuple[float, float] | None = None) -> st.SearchStrategy[np.ndarray]:
    """An upstream gradient for an output of ``shape``: signed values across every order of magnitude, or
    zeros and values whose magnitude lies in ``magnitudes`` (lo, hi)."""
    if magnitudes is None:
        return arrays(dtype, shape)
    lo, hi = magnitudes
    values = floats(dtype, -hi, hi)
    return arrays(dtype, shape, values.filter(lambda v: v == 0 or abs(v) >= lo) if lo > 0 else values)


def labels(dtype, shape) -> st.SearchStrategy[np.ndarray]:
    """Labels in [0, 1]: hard 0/1 labels mixed with soft ones."""
    return arrays(dtype, shape, st.one_of(st.sampled_from([0.0, 1.0]), floats(dtype, 0.0, 1.0)))


def param_values(param: catalogue.Param, dtype) -> st.SearchStrategy[int | float]:
    """A value of an op's constant (``power``'s exponent, ``leaky_relu``'s slope) in its range: a float
    representable in dtype, or with ``integers`` a whole number (int) or a non-integer float."""
    values = floats(dtype, param.low, param.high)
    if not param.integers:
        return values
    return st.one_of(
        st.integers(int(param.low), int(param.high)), values.filter(lambda e: not e.is_integer())
    )


# -- examples ------------------------------------------------------------------------------------------------


def _code(value, threshold: int = sys.maxsize) -> str:
    """Python source for ``value`` (a Python number or an array), exact, unless it has more than ``threshold``
    elements: then a one-line summary."""
    if not isinstance(value, np.ndarray):
        return repr(value)
    if value.size > threshold:
        return f"<{value.dtype} {value.shape} in [{float(value.min()):.3g}, {float(value.max()):.3g}]>"
    with np.printoptions(floatmode="unique", threshold=sys.maxsize, linewidth=sys.maxsize):
        body = np.array2string(value, separator=", ").replace("\n", "")
    return f"np.array({body}, dtype=np.{value.dtype})"


class _Replayable:
    """``repr`` is Python that rebuilds the example exactly (hypothesis prints it as the falsifying example);
    ``summary()`` is the one-line form a report row holds."""

    def _fields(self, threshold: int) -> str:
        def code(value) -> str:
            if isinstance(value, tuple):
                return "(" + ", ".join(code(v) for v in value) + ("," if len(value) == 1 else "") + ")"
            return _code(value, threshold)

        return ", ".join(f"{f.name}={code(getattr(self, f.name))}" for f in dataclasses.fields(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._fields(sys.maxsize)})"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self))

    def summary(self, threshold: int = 24) -> str:
        return f"{type(self).__name__}({self._fields(threshold)})"


@dataclass(frozen=True, eq=False, repr=False)
class GateExample(_Replayable):
    """One gate call: ``inputs`` (arrays of ``dtype``, or a Python float for one operand of add/multiply),
    ``upstream`` (the output's shape and dtype), and ``params``, the op's constants by name (power's
    ``exponent``, leaky_relu's ``negative_slope``; empty for the others)."""

    gate: str
    dtype: str
    inputs: tuple
    upstream: np.ndarray
    params: dict = dataclasses.field(default_factory=dict)

    @property
    def input_names(self) -> tuple[str, ...]:
        return catalogue.GATES[self.gate].input_names

    @property
    def case(self) -> str:
        return f"{self.gate}-{self.dtype}"


@dataclass(frozen=True, eq=False, repr=False)
class NetworkExample(_Replayable):
    """One two-layer network and a batch (docs/engine-api.md layout, samples are columns):
    W1 (h, n_in), b1 (h, 1), W2 (n_out, h), b2 (n_out, 1), X (n_in, m), y (n_out, m) with labels in [0, 1]."""

    activation: str
    dtype: str
    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray
    X: np.ndarray
    y: np.ndarray

    @property
    def params(self) -> dict[str, np.ndarray]:
        return dict(W1=self.W1, b1=self.b1, W2=self.W2, b2=self.b2)

    @property
    def case(self) -> str:
        return f"network-{self.activation}-{self.dtype}"


# -- strategies ----------------------------------------------------------------------------------------------


def _dtype(draw, dtype: str | None) -> str:
    return draw(st.sampled_from(DTYPES)) if dtype is None else np.dtype(dtype).name


def _shapes() -> st.SearchStrategy[tuple]:
    return hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=MAX_SIDE)


@st.composite
def _scalar_operand(draw, x: np.ndarray):
    """A 0-d operand as itself or as a Python float (a weak scalar: the result keeps the array's dtype)."""
    return float(x) if x.ndim == 0 and draw(st.booleans()) else x


def gate_examples(gate: str, dtype: str | None = None) -> st.SearchStrategy[GateExample]:
    """Inputs and an upstream gradient for ``gate``; ``dtype`` is drawn when not given. Only examples whose
    sums are :func:`well_posed`."""
    if gate not in GATES:
        raise ValueError(f"unknown gate {gate!r}; expected one of {GATES}")
    return _gate_examples(gate, dtype).filter(well_posed)


@st.composite
def _elementwise(draw, op: catalogue.Op, dt: str) -> tuple[tuple, tuple, dict]:
    """(inputs, output shape, params) of a one-input op, its params drawn first (they may set the domain)."""
    params = {p.name: draw(param_values(p, dt)) for p in op.params}
    # A negative base with a non-integer exponent has no real power (NaN on both sides): not compared.
    values = floats(dt, min_value=op.lowest(*params.values()))
    if op.name == "sigmoid" and dt == "float64":
        values = values.filter(_outside(*SIGMOID_TORCH_UNDERFLOW))
    shape = draw(_shapes())
    return (draw(arrays(dt, shape, values)),), shape, params


@st.composite
def _broadcast(draw, dt: str) -> tuple[tuple, tuple]:
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=MAX_SIDE))
    a, b = (draw(arrays(dt, s)) for s in shapes.input_shapes)
    # At most one Python number: with two, the engine computes in float64 whatever the case's dtype.
    if draw(st.booleans()):
        a = draw(_scalar_operand(a))
    else:
        b = draw(_scalar_operand(b))
    return (a, b), shapes.result_shape


@st.composite
def _matmul(draw, dt: str, bound: float) -> tuple[tuple, tuple]:
    """(..., n, k) @ (..., k, m), the leading batch axes broadcast; every value within ``bound``."""
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3))
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    sa, sb = batch.input_shapes
    values = floats(dt, -bound, bound)
    inputs = (draw(arrays(dt, (*sa, n, k), values)), draw(arrays(dt, (*sb, k, m), values)))
    return inputs, (*batch.result_shape, n, m)


@st.composite
def _gate_examples(draw, gate: str, dtype: str | None) -> GateExample:
    dt = _dtype(draw, dtype)
    op = catalogue.GATES[gate]
    params, upstream_magnitudes = {}, None
    if op.shape == "elementwise":
        inputs, out_shape, params = draw(_elementwise(op, dt))
    elif op.shape == "broadcast":
        inputs, out_shape = draw(_broadcast(dt))
    else:
        # Every value of a, b and the upstream below sqrt(max / 128): no sum of up to 64 products of two of
        # them can overflow, so that (almost) every draw is well posed; still 30+ orders of magnitude wide.
        bound = float(np.sqrt(np.finfo(dt).max / 128))
        inputs, out_shape = draw(_matmul(dt, bound))
        upstream_magnitudes = (0.0, bound)
    return GateExample(
        gate=gate,
        dtype=dt,
        inputs=inputs,
        upstream=draw(upstreams(dt, out_shape, upstream_magnitudes)),
        params=params,
    )


def network_examples(
    activation: str | None = None, dtype: str | None = None
) -> st.SearchStrategy[NetworkExample]:
    """A network, a batch and labels (n_in, n_hidden, m in 1..6, n_out in 1..2); ``activation`` and ``dtype``
    are drawn when not given. Only examples that are :func:`network_well_posed`."""
    return _network_examples(activation, dtype).filter(network_well_posed)


@st.composite
def _network_examples(draw, activation: str | None, dtype: str | None) -> NetworkExample:
    dt = _dtype(draw, dtype)
    act = draw(st.sampled_from(ACTIVATIONS)) if activation is None else activation
    n_in, n_hidden, m = (draw(st.integers(1, 6)) for _ in range(3))
    n_out = draw(st.integers(1, 2))
    weights, data = floats(dt, -2.0, 2.0), floats(dt, -4.0, 4.0)
    return NetworkExample(
        activation=act,
        dtype=dt,
        W1=draw(arrays(dt, (n_hidden, n_in), weights)),
        b1=draw(arrays(dt, (n_hidden, 1), weights)),
        W2=draw(arrays(dt, (n_out, n_hidden), weights)),
        b2=draw(arrays(dt, (n_out, 1), weights)),
        X=draw(arrays(dt, (n_in, m), data)),
        y=draw(labels(dt, (n_out, m))),
    )
