"""What engines return, made into what the suite compares: tuples or named results, gradient dicts, arrays.

Every shape of answer the contract (docs/engine-api.md) allows is taken here; anything else raises
:class:`EngineProblem`, whose message becomes the ``problem`` of the report rows it affects.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

PARAM_NAMES = ("W1", "b1", "W2", "b2")


class EngineProblem(Exception):
    """What the engine did wrong in one call: raised, returned the wrong type, shape or dtype, or left
    something out. Its message becomes the ``problem`` of the report rows it affects."""


def field_of(result, name: str):
    if isinstance(result, Mapping):
        if name in result:
            return result[name]
    elif hasattr(result, name):
        return getattr(result, name)
    raise EngineProblem(f"returned {type(result).__name__} without {name!r}")


def unpack(result, names: tuple[str, ...], what: str) -> tuple:
    """A tuple of ``len(names)`` values, or an object or mapping with those names."""
    if isinstance(result, tuple) and not hasattr(result, "_fields"):
        if len(result) != len(names):
            raise EngineProblem(f"{what} returned a tuple of {len(result)}, expected ({', '.join(names)})")
        return result
    try:
        return tuple(field_of(result, n) for n in names)
    except EngineProblem as exc:
        raise EngineProblem(f"{what} {exc}; expected ({', '.join(names)})") from None


def as_param_dict(grads, what: str) -> dict:
    """W1, b1, W2, b2 from a mapping (``W1`` or ``dW1`` keys), an object with those attributes, or a
    4-sequence. A missing one becomes a problem of that tensor only (None in the dict)."""
    if hasattr(grads, "as_dict"):
        grads = grads.as_dict()
    if isinstance(grads, Mapping):
        return {n: grads.get(n, grads.get(f"d{n}")) for n in PARAM_NAMES}
    if isinstance(grads, (list, tuple)) and len(grads) == 4:
        return dict(zip(PARAM_NAMES, grads, strict=True))
    if all(hasattr(grads, n) for n in PARAM_NAMES):
        return {n: getattr(grads, n) for n in PARAM_NAMES}
    raise EngineProblem(f"{what} returned {type(grads).__name__}; expected a dict of W1, b1, W2, b2")


def as_layer_dict(grads, names: tuple[str, ...], what: str) -> dict:
    """A network of any depth's tensors by name (``W1`` or ``dW1`` keys, an ``as_dict()`` or a sequence in
    ``names`` order). A missing one becomes a problem of that tensor only (None in the dict)."""
    if hasattr(grads, "as_dict"):
        grads = grads.as_dict()
    if isinstance(grads, Mapping):
        return {n: grads.get(n, grads.get(f"d{n}")) for n in names}
    if isinstance(grads, (list, tuple)) and len(grads) == len(names):
        return dict(zip(names, grads, strict=True))
    raise EngineProblem(f"{what} returned {type(grads).__name__}; expected a dict of {', '.join(names)}")


def gradient_tuple(grads, n_inputs: int, what: str) -> tuple:
    """One gradient per input; a unary gate may return its gradient bare instead of a 1-tuple."""
    if n_inputs == 1 and not isinstance(grads, (tuple, list)):
        return (grads,)
    if not isinstance(grads, (tuple, list)):
        raise EngineProblem(
            f"{what} returned {type(grads).__name__}; expected a tuple of {n_inputs} gradients"
        )
    if len(grads) != n_inputs:
        raise EngineProblem(f"{what} returned {len(grads)} gradient(s) for {n_inputs} input(s)")
    return tuple(grads)


def as_result(value, dtype, what: str) -> np.ndarray:
    """An engine's returned value as an array to compare. A Python number is taken at the case's dtype (a
    float32 loss returned as a Python float is exact in float32); anything else must be an array-like of
    numbers."""
    if value is None:
        raise EngineProblem(f"{what}: missing (None)")
    if isinstance(value, (bool, np.bool_)):
        raise EngineProblem(f"{what}: returned a bool")
    if isinstance(value, (int, float)):
        return np.asarray(value, dtype=dtype)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001
        raise EngineProblem(f"{what}: returned {type(value).__name__}, not an array ({exc})") from None
    if arr.dtype.kind not in "fc":
        raise EngineProblem(
            f"{what}: returned {type(value).__name__} of dtype {arr.dtype}, expected {np.dtype(dtype)}"
        )
    return arr
