"""NumPy <-> torch conversion at the reference's boundary.

Every public function of `reference` takes plain NumPy arrays (or Python numbers) and a requested dtype,
and returns plain NumPy arrays of that dtype. Conversion goes through a private copy, so an input array is
never aliased or mutated, and widening float32 to float64 is exact.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_dtype(dtype) -> torch.dtype:
    """The torch dtype for `dtype` given as "float32"/"float64", np.float32/np.float64 or a np.dtype."""
    try:
        key = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if key not in _TORCH_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return _TORCH_DTYPES[key]


def to_tensor(x, dtype: torch.dtype, *, requires_grad: bool = False) -> torch.Tensor:
    """A fresh tensor of `dtype` holding `x`: a floating NumPy array, or a Python int/float (-> 0-d tensor).

    Integer, bool, complex and object arrays are refused, as the engine refuses them.
    """
    if isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_, np.generic)):
        array = np.array(float(x), dtype=np.float64)
    else:
        if not isinstance(x, (np.ndarray, np.floating)):
            raise TypeError(f"expected a NumPy array or a Python number, got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"expected a floating array, got dtype {x.dtype}")
        # NOTE: a private, native-byte-order, C-ordered copy: torch.from_numpy shares memory, and
        # .to(float64) of float32 values is exact.
        array = np.array(x, dtype=x.dtype.newbyteorder("="), copy=True, order="C")
    tensor = torch.from_numpy(array).to(dtype)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A NumPy copy of `tensor` in its own dtype (0-d for a scalar), detached from autograd."""
    return np.array(tensor.detach().cpu().numpy(), copy=True)
