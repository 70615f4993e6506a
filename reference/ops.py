"""Gates and worked graphs, differentiated by torch.autograd.

`gate` runs one torch primitive; `graph` writes each worked graph as an ordinary torch expression and lets
autograd accumulate the gradient over every path. Neither computes a derivative by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import conditioning as _conditioning
from ._convert import to_numpy, to_tensor, torch_dtype


@dataclass(frozen=True)
class GateResult:
    """`output`: the gate's output; `grads`: one gradient per input, in input order, each shaped like it;
    `conditioning`: output's then each gradient's (``reference.conditioning``), for the tolerance policy."""

    output: np.ndarray
    grads: tuple[np.ndarray, ...]
    conditioning: tuple[_conditioning.Conditioning, ...] = ()


@dataclass(frozen=True)
class GraphResult:
    """`value`: the graph's output; `grads`: input name -> gradient, each shaped like that input;
    `conditioning`: the value's then each gradient's in input order (``reference.conditioning``)."""

    value: np.ndarray
    grads: dict[str, np.ndarray]
    conditioning: tuple[_conditioning.Conditioning, ...] = ()


_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
}
_BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "add": torch.add,
    "multiply": torch.mul,
    "matmul": torch.matmul,
}
GATES: tuple[str, ...] = ("add", "multiply", "power", "exp", "sigmoid", "relu", "tanh", "matmul")


def _backward(output: torch.Tensor, leaves: Sequence[torch.Tensor], upstream, dtype: torch.dtype):
    """Gradients of `output` w.r.t. `leaves`, seeded with `upstream` (broadcast to the output's shape)."""
    seed = torch.broadcast_to(to_tensor(upstream, dtype), output.shape)
    grads = torch.autograd.grad(output, list(leaves), grad_outputs=seed)
    return tuple(to_numpy(g) for g in grads)


def gate(name: str, inputs: Sequence, upstream, *, exponent: float | None = None, dtype) -> GateResult:
    """Run one gate forward in torch and back-propagate `upstream` through it with autograd.

    name: one of `GATES`. inputs: arrays or Python numbers (a number becomes a 0-d tensor requiring grad);
    two for add/multiply/matmul, one for the others. `power` takes its exponent as `exponent=` (a constant,
    not an input). upstream: gradient w.r.t. the output, the output's shape (or broadcastable to it).
    Returns output (the broadcast/matmul shape) and one gradient per input, shaped like that input:
    autograd sums a broadcast input's gradient back to its own shape.
    """
    tdtype = torch_dtype(dtype)
    if name not in GATES:
        raise ValueError(f"unknown gate {name!r}; expected one of {GATES}")
    if (name == "power") != (exponent is not None):
        raise ValueError("`exponent` is required for 'power' and only for 'power'")
    arity = 2 if name in _BINARY else 1
    if len(inputs) != arity:
        raise ValueError(f"gate {name!r} takes {arity} input(s), got {len(inputs)}")
    leaves = [to_tensor(x, tdtype, requires_grad=True) for x in inputs]
    if name == "power":
        output = torch.pow(leaves[0], exponent)
    elif name in _UNARY:
        output = _UNARY[name](leaves[0])
    else:
        output = _BINARY[name](leaves[0], leaves[1])
    cond = _conditioning.gate(name, [to_numpy(x) for x in leaves], upstream, exponent=exponent)
    return GateResult(
        output=to_numpy(output), grads=_backward(output, leaves, upstream, tdtype), conditioning=cond
    )


_GRAPHS: dict[str, tuple[tuple[str, ...], Callable[..., torch.Tensor]]] = {
    "add_mul": (("x", "y", "z"), lambda x, y, z: (x + y) * z),
    "sigmoid_mul_add": (("x", "y", "z"), lambda x, y, z: torch.sigmoid(x * y + z)),
    "chain_square": (("x",), lambda x: (3 * x + 1) ** 2),
    "two_paths": (("x",), lambda x: (x + 1) * (2 * x)),
    "shared_input": (("a", "b", "c"), lambda a, b, c: (a + b) * (b + c)),
}
GRAPHS: tuple[str, ...] = tuple(_GRAPHS)


def graph(name: str, inputs: Mapping[str, object], upstream=1.0, *, dtype) -> GraphResult:
    """Evaluate a worked graph in torch and differentiate it with autograd.

    name: add_mul `(x+y)*z`, sigmoid_mul_add `sigmoid(x*y+z)`, chain_square `(3x+1)**2`,
    two_paths `(x+1)*(2x)`, shared_input `(a+b)*(b+c)`.
    inputs: exactly the graph's input names -> scalars or same-shaped arrays.
    upstream: gradient w.r.t. the value (default 1), the value's shape or broadcastable to it.
    Returns the value (the inputs' shape) and grads keyed by input name, each shaped like its input.
    """
    tdtype = torch_dtype(dtype)
    if name not in _GRAPHS:
        raise ValueError(f"unknown graph {name!r}; expected one of {GRAPHS}")
    names, expression = _GRAPHS[name]
    if set(inputs) != set(names):
        raise ValueError(f"graph {name!r} takes inputs {names}, got {tuple(inputs)}")
    leaves = [to_tensor(inputs[n], tdtype, requires_grad=True) for n in names]
    value = expression(*leaves)
    grads = _backward(value, leaves, upstream, tdtype)
    cond_value, cond_grads = _conditioning.graph(
        name, {n: to_numpy(x) for n, x in zip(names, leaves, strict=True)}, upstream
    )
    return GraphResult(
        value=to_numpy(value),
        grads=dict(zip(names, grads, strict=True)),
        conditioning=(cond_value, *(cond_grads[n] for n in names)),
    )
