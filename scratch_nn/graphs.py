"""The spec notebook's worked graphs, built from the gates.

Each function takes its inputs (Python numbers or arrays that broadcast together) and ``upstream``, the
gradient of some final result with respect to the graph's output (default 1: the graph's output is the
result). It runs the gates forward, then backward in reverse order, and where an input reaches the output
along several paths its gradient is the sum of the paths' gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from .gates import Add, Multiply, Power, Sigmoid

__all__ = ["GraphResult", "add_mul", "sigmoid_mul_add", "chain_square", "two_paths", "shared_input", "GRAPHS"]


@dataclass(frozen=True)
class GraphResult:
    """value: the graph's output; grads: d(result)/d(input) per input name, each shaped like its input."""

    value: np.ndarray
    grads: dict[str, np.ndarray]


def _seed(value: np.ndarray, upstream) -> np.ndarray:
    """A Python number upstream fills the output's shape and dtype; an array must match it (the gate
    checks)."""
    if isinstance(upstream, (int, float)) and not isinstance(upstream, bool):
        return np.full(value.shape, _checks.python_float("upstream", upstream), dtype=value.dtype)
    upstream = _checks.operand("upstream", upstream)
    if upstream.shape != value.shape:
        raise ValueError(f"upstream must have the graph output's shape {value.shape}; got {upstream.shape}")
    return upstream


def _inputs(graph: str, **inputs):
    """The graph's inputs, each checked under its own name (not the name it has in its first gate), and their
    shapes checked to broadcast together."""
    checked = {name: _checks.operand(name, value) for name, value in inputs.items()}
    _checks.broadcastable(graph, {name: np.shape(value) for name, value in checked.items()})
    return tuple(checked.values())


def _accumulate(*path_grads: np.ndarray) -> np.ndarray:
    """The gradient of an input that reaches the output along several paths: the sum over the paths."""
    return np.asarray(sum(path_grads[1:], path_grads[0]))


def add_mul(x, y, z, *, upstream=1.0) -> GraphResult:
    """f = (x + y) * z. At (2, 3, 4): f = 20, grads (4, 4, 5)."""
    x, y, z = _inputs("add_mul", x=x, y=y, z=z)
    add, mul = Add(), Multiply()
    q = add.forward(x, y)
    f = mul.forward(q, z)
    dq, dz = mul.backward(_seed(f, upstream))
    dx, dy = add.backward(dq)
    return GraphResult(f, {"x": dx, "y": dy, "z": dz})


def sigmoid_mul_add(x, y, z, *, upstream=1.0) -> GraphResult:
    """f = sigmoid(x * y + z). At (2, -3, 1): f = sigmoid(-5), df/dz = f (1 - f), df/dx = y df/dz."""
    x, y, z = _inputs("sigmoid_mul_add", x=x, y=y, z=z)
    mul, add, sig = Multiply(), Add(), Sigmoid()
    f = sig.forward(add.forward(mul.forward(x, y), z))
    (ds,) = sig.backward(_seed(f, upstream))
    dxy, dz = add.backward(ds)
    dx, dy = mul.backward(dxy)
    return GraphResult(f, {"x": dx, "y": dy, "z": dz})


def chain_square(x, *, upstream=1.0) -> GraphResult:
    """f = (3x + 1) ** 2 = g(x) ** 2 with g = 3x + 1; df/dx = 2g * 3 = 6(3x + 1)."""
    (x,) = _inputs("chain_square", x=x)
    mul, add, square = Multiply(), Add(), Power(2)
    f = square.forward(add.forward(mul.forward(x, 3.0), 1.0))
    (dg,) = square.backward(_seed(f, upstream))
    d3x, _ = add.backward(dg)
    dx, _ = mul.backward(d3x)
    return GraphResult(f, {"x": dx})


def two_paths(x, *, upstream=1.0) -> GraphResult:
    """f = (x + 1) * (2x): x reaches f along two paths, so df/dx = (2x) * 1 + (x + 1) * 2.
    At x = 3: f = 24 and df/dx = 14."""
    (x,) = _inputs("two_paths", x=x)
    add, double, mul = Add(), Multiply(), Multiply()
    f = mul.forward(add.forward(x, 1.0), double.forward(x, 2.0))
    da, db = mul.backward(_seed(f, upstream))
    dx_via_a, _ = add.backward(da)
    dx_via_b, _ = double.backward(db)
    return GraphResult(f, {"x": _accumulate(dx_via_a, dx_via_b)})


def shared_input(a, b, c, *, upstream=1.0) -> GraphResult:
    """f = (a + b) * (b + c): b feeds both factors. At (1, 2, 3): f = 15, grads (5, 8, 3)."""
    a, b, c = _inputs("shared_input", a=a, b=b, c=c)
    left, right, mul = Add(), Add(), Multiply()
    f = mul.forward(left.forward(a, b), right.forward(b, c))
    dp, dq = mul.backward(_seed(f, upstream))
    da, db_via_p = left.backward(dp)
    db_via_q, dc = right.backward(dq)
    return GraphResult(f, {"a": da, "b": _accumulate(db_via_p, db_via_q), "c": dc})


#: name -> (function, input names), in a fixed order for parametrizing tests
GRAPHS = {
    "add_mul": (add_mul, ("x", "y", "z")),
    "sigmoid_mul_add": (sigmoid_mul_add, ("x", "y", "z")),
    "chain_square": (chain_square, ("x",)),
    "two_paths": (two_paths, ("x",)),
    "shared_input": (shared_input, ("a", "b", "c")),
}
