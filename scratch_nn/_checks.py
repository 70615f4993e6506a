"""Input validation: every bad argument fails here, with its name, what was expected and what came.

Nothing past these checks should ever raise a NumPy error or return a silently wrong number.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
ACTIVATIONS = ("relu", "tanh")


def describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return f"{type(value).__name__} {value!r}"


def _where(name: str, index) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in index)}]"


def _dtype_hint(name: str, dtype: np.dtype) -> str:
    if dtype.kind == "c":
        return "complex values have no order for a loss; pass the real part if that is what you mean"
    return (
        f"convert with {name}.astype(np.float64)"
        if name.isidentifier()
        else "convert with .astype(np.float64)"
    )


def float_array(name: str, value) -> np.ndarray:
    """A float32 or float64 ndarray, else TypeError. Subclasses that change what the values mean are refused:
    a masked array's mask (NumPy's functions would use the values under it), np.matrix's ``*``."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a float32 or float64 NumPy array; got {describe(value)}")
    if type(value) is not np.ndarray and not isinstance(value, np.memmap):
        hint = f"{name}.filled(fill_value)" if isinstance(value, np.ma.MaskedArray) else f"np.asarray({name})"
        raise TypeError(
            f"{name} must be a plain NumPy array; got {type(value).__module__}.{type(value).__name__} "
            f"(its values would be used as they are, ignoring what the subclass adds); pass {hint}"
        )
    if value.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32 or float64 array; got {value.dtype} ({_dtype_hint(name, value.dtype)})"
        )
    return value


def operand(name: str, value):
    """A gate input: a float32/float64 array, or a Python number (kept as a weak scalar, as in NumPy 2).

    NumPy scalars become 0-d arrays, so they keep their own dtype.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a float array or a Python number; got bool {value!r}")
    if isinstance(value, (int, float)):
        return python_float(name, value)
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a float array or a Python number; got {describe(value)}")
    return float_array(name, value)


def big_int(value: int) -> str:
    """How an int too large for a float is shown (str() of an int over 4300 digits is itself an error)."""
    return f"an int of about 1e{math.log10(abs(value)):.0f}"


def python_float(name: str, value: float) -> float:
    """A Python int or float as a float64 value; an int beyond float64's range is a ValueError, not inf."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(
            f"{name} must be a number within float64's range (|x| < 1.8e308); got {big_int(value)}"
        ) from None


def finite(name: str, a: np.ndarray) -> None:
    """ValueError naming the first NaN or inf element of a."""
    # NOTE: one reduction instead of a boolean temporary the size of a; a non-finite sum is only a hint
    # (finite values can overflow the sum), so the full check runs before anything is reported.
    with np.errstate(all="ignore"):
        if np.isfinite(np.add.reduce(a, axis=None)):
            return
    bad = np.argwhere(~np.isfinite(a))
    if bad.size:
        index = tuple(bad[0])
        raise ValueError(f"{name} holds non-finite values: {_where(name, index)} = {a[index]}")


def labels(name: str, y: np.ndarray) -> None:
    """ValueError naming the first label outside [0, 1] (y is already known to be finite)."""
    bad = np.argwhere((y < 0) | (y > 1))
    if bad.size:
        index = tuple(bad[0])
        raise ValueError(f"{name} must hold labels in [0, 1]; {_where(name, index)} = {y[index]}")


#: the largest size or count any argument may have: an array axis (np.intp), what NumPy can index
MAX_COUNT = int(np.iinfo(np.intp).max)


def positive_int(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {describe(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    if value > MAX_COUNT:
        raise ValueError(f"{name} must be a positive integer up to 2**63 - 1 (an array size); got {value}")
    return int(value)


def allocation(what: str, shape: tuple, dtype) -> np.ndarray:
    """np.empty(shape, dtype), or a MemoryError that names the argument behind the size (what)."""
    try:
        return np.empty(shape, dtype)
    except (MemoryError, ValueError):
        size = math.prod(shape) * np.dtype(dtype).itemsize
        raise MemoryError(
            f"{what} asks for an array of shape {shape} ({size / 2**30:.3g} GiB), more than can be allocated"
        ) from None


def _real(name: str, value, expected: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}; got {describe(value)}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} must be {expected}; got {big_int(value)}") from None


def finite_positive(name: str, value) -> float:
    """A finite real number > 0 (a learning rate)."""
    expected = "a finite number > 0"
    value = _real(name, value, expected)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be {expected}; got {value}")
    return value


def positive(name: str, value) -> float:
    """A real number > 0, inf allowed, NaN refused (max_norm, norm_type)."""
    expected = "a number > 0 (inf allowed)"
    value = _real(name, value, expected)
    if not value > 0:  # NaN fails this too
        raise ValueError(f"{name} must be {expected}; got {value}")
    return value


def flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {describe(value)}")
    return bool(value)


def activation(value) -> str:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}; got {value!r}")
    return value


def generator(name: str, value) -> np.random.Generator:
    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name} must be a numpy.random.Generator (e.g. np.random.default_rng(seed)); got "
            f"{describe(value)}"
        )
    return value


def float_dtype(name: str, value) -> np.dtype:
    """np.dtype float32 or float64 from its name, its NumPy type or its dtype; anything else (None, a typo,
    "float", Python's float, "f8", another dtype) is a TypeError: np.dtype(None) and np.dtype(float) are
    float64, "float" is float32 in torch, and a typo must not pass for the default."""
    # NOTE: `np.dtype(value) in FLOAT_DTYPES` let None and typos through: a NumPy dtype compares equal to None
    # (np.dtype(None) is float64). Each kind of spelling is compared on its own.
    if isinstance(value, str):
        ok = value in ("float32", "float64")
    elif isinstance(value, np.dtype):
        ok = value in FLOAT_DTYPES and value.isnative
    else:
        ok = value is np.float32 or value is np.float64
    if not ok:
        raise TypeError(
            f"{name} must be np.float32 or np.float64 (or the name 'float32' or 'float64'); got {value!r}"
        )
    return np.dtype(value)


def same_dtype(name: str, a: np.ndarray, dtype: np.dtype, owner_has: str) -> None:
    """TypeError when a's dtype differs from the dtype it will meet (no silent upcast).

    owner_has: the other side and its verb, e.g. "W1 has", "the network's parameters have".
    """
    if a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but {owner_has} dtype {dtype} (no silent upcast); "
            f"convert it with {name}.astype(np.{dtype})"
        )


def upstream(gate: str, value, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """The gradient arriving at a gate's output: same shape and dtype as that output."""
    name = f"{gate}.backward upstream"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and shape == ():
        return np.asarray(python_float(name, value), dtype=dtype)
    value = operand(name, value)
    if not isinstance(value, np.ndarray) or value.shape != shape:
        got = value.shape if isinstance(value, np.ndarray) else "a Python number"
        raise ValueError(f"{name} must have the output's shape {shape}; got {got}")
    if value.dtype != dtype:
        raise TypeError(f"{name} must have the output's dtype {dtype}; got {value.dtype}")
    return value


def broadcastable(gate: str, shapes: dict[str, tuple]) -> tuple:
    """The broadcast shape of a gate's inputs, or a ValueError naming their shapes."""
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{n} {s}" for n, s in shapes.items())
        raise ValueError(f"{gate} inputs must broadcast together; got {listed}") from None


def matmul_shapes(a: np.ndarray, b: np.ndarray) -> None:
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray) or a.ndim < 2 or b.ndim < 2:
        raise ValueError(
            "MatMul inputs must be arrays with at least 2 dimensions (..., n, k) and (..., k, m); got "
            f"a {np.shape(a)} and b {np.shape(b)}"
        )
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"MatMul needs a.shape[-1] == b.shape[-2]; got a {a.shape} and b {b.shape}")
    broadcastable("MatMul batch axes", {"a": a.shape[:-2], "b": b.shape[:-2]})


# -- a network's layout (docs/engine-api.md); params.layout checks a Params against it ----------------------


class Layout(NamedTuple):
    n_runs: int | None  # None for a single network
    n_in: int
    n_out: int
    dtype: np.dtype
    W1_shape: tuple


def inputs(X, layout: Layout) -> np.ndarray:
    """X: (n_in, m), or per run (R, n_in, m) for a stacked network; finite; the network's dtype."""
    X = float_array("X", X)
    n_runs, n_in = layout.n_runs, layout.n_in
    shared = X.ndim == 2 and X.shape[0] == n_in
    per_run = n_runs is not None and X.ndim == 3 and X.shape[:2] == (n_runs, n_in)
    if not (shared or per_run) or X.shape[-1] == 0:
        want = f"(n_in, m) = ({n_in}, m)"
        if n_runs is not None:
            want += f" or (R, n_in, m) = ({n_runs}, {n_in}, m)"
        raise ValueError(f"X must have shape {want} to match W1 of shape {layout.W1_shape}; got {X.shape}")
    same_dtype("X", X, layout.dtype, "the network's parameters have")
    finite("X", X)
    return X


def targets(y, out_shape: tuple, layout: Layout) -> np.ndarray:
    """y: labels shaped like the output (n_out, m); for a stacked network (R, n_out, m) or shared
    (n_out, m)."""
    y = float_array("y", y)
    if y.shape != out_shape and y.shape != out_shape[-2:]:
        want = f"(n_out, m) = {out_shape[-2:]}"
        if layout.n_runs is not None:
            want += f" or (R, n_out, m) = {out_shape}"
        raise ValueError(
            f"y must have shape {want} to match the output of the last forward(X); got {y.shape}"
        )
    same_dtype("y", y, layout.dtype, "the network's parameters have")
    finite("y", y)
    labels("y", y)
    return y
