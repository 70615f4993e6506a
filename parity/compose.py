"""The notebook's five worked graphs, composed by the harness from an engine's own gates.

For an engine without a ``graphs`` module: each graph runs the engine's gates forward in order, then backward
in reverse, and where an input reaches the output along two paths its gradient is the sum over the paths,
as the notebook works them by hand. The engine's gates are what is checked; this wiring is the harness's.
Constants (3, 1, 2) are 0-d arrays of the input's dtype, so that no engine sees a Python float.
"""

from __future__ import annotations

import numpy as np

from parity.returns import gradient_tuple


def _c(like, value) -> np.ndarray:
    return np.asarray(value, dtype=np.asarray(like).dtype)


def _back(gate, upstream, n: int, name: str) -> tuple:
    return gradient_tuple(gate.backward(upstream), n, f"{name}.backward")


def add_mul(e, x, y, z, g):
    """(x + y) * z"""
    add, mul = e.Add(), e.Multiply()
    f = mul.forward(add.forward(x, y), z)
    dq, dz = _back(mul, g, 2, "Multiply")
    dx, dy = _back(add, dq, 2, "Add")
    return f, {"x": dx, "y": dy, "z": dz}


def sigmoid_mul_add(e, x, y, z, g):
    """sigmoid(x * y + z)"""
    mul, add, sig = e.Multiply(), e.Add(), e.Sigmoid()
    f = sig.forward(add.forward(mul.forward(x, y), z))
    (ds,) = _back(sig, g, 1, "Sigmoid")
    dxy, dz = _back(add, ds, 2, "Add")
    dx, dy = _back(mul, dxy, 2, "Multiply")
    return f, {"x": dx, "y": dy, "z": dz}


def chain_square(e, x, g):
    """(3x + 1) ** 2"""
    mul, add, square = e.Multiply(), e.Add(), e.Power(2)
    f = square.forward(add.forward(mul.forward(x, _c(x, 3.0)), _c(x, 1.0)))
    (dg,) = _back(square, g, 1, "Power")
    d3x, _ = _back(add, dg, 2, "Add")
    dx, _ = _back(mul, d3x, 2, "Multiply")
    return f, {"x": dx}


def two_paths(e, x, g):
    """(x + 1) * (2x): x reaches the output along two paths"""
    add, double, mul = e.Add(), e.Multiply(), e.Multiply()
    f = mul.forward(add.forward(x, _c(x, 1.0)), double.forward(x, _c(x, 2.0)))
    da, db = _back(mul, g, 2, "Multiply")
    dx_a, _ = _back(add, da, 2, "Add")
    dx_b, _ = _back(double, db, 2, "Multiply")
    return f, {"x": dx_a + dx_b}


def shared_input(e, a, b, c, g):
    """(a + b) * (b + c): b feeds both factors"""
    left, right, mul = e.Add(), e.Add(), e.Multiply()
    f = mul.forward(left.forward(a, b), right.forward(b, c))
    dp, dq = _back(mul, g, 2, "Multiply")
    da, db_p = _back(left, dp, 2, "Add")
    db_q, dc = _back(right, dq, 2, "Add")
    return f, {"a": da, "b": db_p + db_q, "c": dc}


_FUNCTIONS = (add_mul, sigmoid_mul_add, chain_square, two_paths, shared_input)

#: name -> fn(engine module, arrays, upstream) -> (value, grads by input name)
GRAPHS = {
    fn.__name__: (lambda module, arrays, upstream, fn=fn: fn(module, *arrays, upstream)) for fn in _FUNCTIONS
}
