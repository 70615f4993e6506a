"""Gates and worked graphs, differentiated by torch.autograd.

`gate` runs one torch primitive, the one `TORCH` maps the catalogue's op to (``parity.catalogue``: arity and
parameters); `graph` evaluates each worked graph as an ordinary torch expression (``reference.graphs``) and
lets autograd accumulate the gradient over every path. Neither computes a derivative by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from parity import catalogue

from . import conditioning as _conditioning
from ._convert import to_numpy, to_tensor, torch_dtype
from .graphs import EXPRESSIONS


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


#: op name (``parity.catalogue.GATES``) -> the torch function; its params follow the inputs positionally
TORCH: dict[str, Callable[..., torch.Tensor]] = {
    "add": torch.add,
    "multiply": torch.mul,
    "power": torch.pow,
    "exp": torch.exp,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "matmul": torch.matmul,
    "leaky_relu": F.leaky_relu,
}
GATES: tuple[str, ...] = tuple(catalogue.GATES)


def _backward(output: torch.Tensor, leaves: Sequence[torch.Tensor], upstream, dtype: torch.dtype):
    """Gradients of `output` w.r.t. `leaves`, seeded with `upstream` (broadcast to the output's shape)."""
    seed = torch.broadcast_to(to_tensor(upstream, dtype), output.shape)
    grads = torch.autograd.grad(output, list(leaves), grad_outputs=seed)
    return tuple(to_numpy(g) for g in grads)


def _params(name: str, n_inputs: int, given: Mapping[str, object]) -> tuple:
    """The op's parameter values in catalogue order, after checking the name, the arity and the parameters."""
    if name not in catalogue.GATES:
        raise ValueError(f"unknown gate {name!r}; expected one of {GATES}")
    op = catalogue.GATES[name]
    if n_inputs != op.arity:
        raise ValueError(f"gate {name!r} takes {op.arity} input(s), got {n_inputs}")
    names = tuple(p.name for p in op.params)
    given = {k: v for k, v in given.items() if v is not None}
    if set(given) != set(names):
        raise ValueError(f"gate {name!r} takes the parameters {names}; got {tuple(given)}")
    return tuple(given[n] for n in names)


def gate(name: str, inputs: Sequence, upstream, *, dtype, **params) -> GateResult:
    """Run one gate forward in torch and back-propagate `upstream` through it with autograd.

    name: one of `GATES`. inputs: arrays or Python numbers (a number becomes a 0-d tensor requiring grad), as
    many as the op's arity. params: the op's constants by name (`power` takes `exponent=`, `leaky_relu`
    `negative_slope=`; a None value counts as not given). upstream: gradient w.r.t. the output, the output's
    shape (or broadcastable to it). Returns output (the broadcast/matmul shape) and one gradient per input,
    shaped like that input: autograd sums a broadcast input's gradient back to its own shape.
    """
    tdtype = torch_dtype(dtype)
    values = _params(name, len(inputs), params)
    leaves = [to_tensor(x, tdtype, requires_grad=True) for x in inputs]
    output = TORCH[name](*leaves, *values)
    cond = _conditioning.gate(name, [to_numpy(x) for x in leaves], upstream, *values)
    return GateResult(
        output=to_numpy(output), grads=_backward(output, leaves, upstream, tdtype), conditioning=cond
    )


GRAPHS: tuple[str, ...] = tuple(catalogue.GRAPHS)


def graph(name: str, inputs: Mapping[str, object], upstream=1.0, *, dtype) -> GraphResult:
    """Evaluate a worked graph in torch and differentiate it with autograd.

    name: one of `GRAPHS` (``parity.catalogue.GRAPHS``: add_mul `(x+y)*z`, sigmoid_mul_add `sigmoid(x*y+z)`,
    chain_square `(3x+1)**2`, two_paths `(x+1)*(2x)`, shared_input `(a+b)*(b+c)`).
    inputs: exactly the graph's input names -> scalars or same-shaped arrays.
    upstream: gradient w.r.t. the value (default 1), the value's shape or broadcastable to it.
    Returns the value (the inputs' shape) and grads keyed by input name, each shaped like its input.
    """
    tdtype = torch_dtype(dtype)
    if name not in catalogue.GRAPHS:
        raise ValueError(f"unknown graph {name!r}; expected one of {GRAPHS}")
    names = catalogue.GRAPHS[name].inputs
    if set(inputs) != set(names):
        raise ValueError(f"graph {name!r} takes inputs {names}, got {tuple(inputs)}")
    leaves = [to_tensor(inputs[n], tdtype, requires_grad=True) for n in names]
    value = EXPRESSIONS[name](*leaves)
    grads = _backward(value, leaves, upstream, tdtype)
    cond_value, cond_grads = _conditioning.graph(
        name, {n: to_numpy(x) for n, x in zip(names, leaves, strict=True)}, upstream
    )
    return GraphResult(
        value=to_numpy(value),
        grads=dict(zip(names, grads, strict=True)),
        conditioning=(cond_value, *(cond_grads[n] for n in names)),
    )
