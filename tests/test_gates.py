"""Every gate against torch.autograd: random inputs of several shapes with a random upstream gradient, and named
edge cases, in float32 and float64. Scratch is ACTUAL, torch DESIRED; the tolerance comes from the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from parity.seam import Attempt

pytestmark = pytest.mark.parity_check

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]

UNARY = ("exp", "sigmoid", "relu", "tanh")
BINARY = ("add", "multiply")
CLASS = {
    "add": "Add",
    "multiply": "Multiply",
    "power": "Power",
    "exp": "Exp",
    "sigmoid": "Sigmoid",
    "relu": "ReLU",
    "tanh": "Tanh",
    "matmul": "MatMul",
}


@dataclass(frozen=True)
class GateCase:
    gate: str
    name: str
    kind: str
    make: Callable[[np.random.Generator], list[np.ndarray]]  # float64 inputs, cast to the case's dtype later
    exponent: float | None = None
    input_names: tuple[str, ...] = field(default=("x",))

    @property
    def id(self) -> str:
        return f"{self.gate}-{self.name}"


def fixed(*values):
    return lambda rng: [np.array(v, dtype=np.float64) for v in values]


SHAPES = {"scalar": (), "vector": (7,), "matrix": (3, 4), "tall": (64, 9)}
BROADCASTS = {  # binary gates: (a shape, b shape); the gradient of the broadcast input is summed back
    "bias-column": ((4, 6), (4, 1)),
    "row": ((4, 6), (6,)),
    "scalar-matrix": ((), (3, 5)),
    "both": ((3, 1), (1, 5)),
}


def cases() -> list[GateCase]:
    out = []
    for gate in UNARY:
        for name, shape in SHAPES.items():
            out.append(GateCase(gate, name, "random", lambda rng, s=shape: [rng.standard_normal(s) * 2]))
    for gate in BINARY:
        for name, shape in SHAPES.items():
            out.append(
                GateCase(
                    gate,
                    name,
                    "random",
                    lambda rng, s=shape: [rng.standard_normal(s), rng.standard_normal(s)],
                    None,
                    ("a", "b"),
                )
            )
        for name, (sa, sb) in BROADCASTS.items():
            out.append(
                GateCase(
                    gate,
                    f"broadcast-{name}",
                    "random",
                    lambda rng, sa=sa, sb=sb: [rng.standard_normal(sa), rng.standard_normal(sb)],
                    None,
                    ("a", "b"),
                )
            )
    for exponent in (2, 3, -1, 0.5, 1.7, 0, 1):
        positive = lambda rng: [np.abs(rng.standard_normal((3, 4))) + 0.1]  # noqa: E731
        signed = lambda rng: [rng.standard_normal((3, 4))]  # noqa: E731
        out.append(
            GateCase(
                "power",
                f"n{exponent}-matrix",
                "random",
                signed if float(exponent).is_integer() else positive,
                exponent,
            )
        )
    matmuls = {
        "2d": ((3, 4), (4, 5)),
        "vector-out": ((1, 6), (6, 1)),
        "stacked": ((2, 3, 4), (4, 5)),
        "stacked-both": ((2, 3, 4), (2, 4, 5)),
    }
    for name, (sa, sb) in matmuls.items():
        out.append(
            GateCase(
                "matmul",
                name,
                "random",
                lambda rng, sa=sa, sb=sb: [rng.standard_normal(sa), rng.standard_normal(sb)],
                None,
                ("a", "b"),
            )
        )
    # named edge cases: kinks, saturation, overflow bounds
    out += [
        GateCase("relu", "at-zero", "edge", fixed([-1.0, -0.0, 0.0, 1e-300, -1e-300, 2.0])),
        GateCase("sigmoid", "pm40", "edge", fixed([-40.0, 40.0, -36.0, 36.0, 0.0])),
        GateCase("sigmoid", "pm800", "edge", fixed([-800.0, 800.0, -1000.0, 1000.0])),
        GateCase("tanh", "pm20", "edge", fixed([-20.0, 20.0, -9.0, 9.0, 0.0])),
        GateCase("exp", "near-overflow-f32", "edge", fixed([88.0, 88.7, 89.0, -103.0, -88.0])),
        GateCase("exp", "near-overflow-f64", "edge", fixed([709.0, 709.78, 710.0, -745.0, -708.0])),
        GateCase("power", "n2-zero-negative", "edge", fixed([-3.0, -1.5, 0.0, -0.0, 2.0]), 2),
        GateCase("power", "n3-zero-negative", "edge", fixed([-3.0, -1.5, 0.0, 2.0]), 3),
        GateCase("power", "n0-zero-negative", "edge", fixed([-3.0, 0.0, 2.0]), 0),
        GateCase("power", "n-1-zero", "edge", fixed([0.0, -2.0, 0.5]), -1),
        GateCase("power", "n0.5-zero", "edge", fixed([0.0, 4.0, 1e-8]), 0.5),
        GateCase(
            "multiply",
            "zeros-and-infs",
            "edge",
            fixed([0.0, 1.0, -2.0, np.inf], [3.0, 0.0, 1e30, 0.0]),
            None,
            ("a", "b"),
        ),
        GateCase(
            "add", "opposite", "edge", fixed([1e16, -1.0, 1e-300], [-1e16, 1.0, 1e-300]), None, ("a", "b")
        ),
    ]
    return out


CASES = cases()


def output_shape(case: GateCase, inputs: list[np.ndarray]) -> tuple[int, ...]:
    if case.gate == "matmul":
        return np.matmul(*inputs).shape
    return np.broadcast_shapes(*(x.shape for x in inputs))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_matches_torch(engine, torch_ref, parity, case: GateCase, dtype):
    engine.require(f"gate {CLASS[case.gate]}")
    rng = parity.rng()
    inputs = [np.asarray(x, dtype=dtype) for x in case.make(rng)]
    upstream = rng.standard_normal(output_shape(case, inputs)).astype(
        dtype
    )  # never ones: backward must use it
    ref, ref64 = parity.torch_runs(
        lambda dt: torch_ref.gate(case.gate, inputs, upstream, exponent=case.exponent, dtype=dt), dtype
    )
    forward, backward = engine.gate(CLASS[case.gate], inputs, upstream, exponent=case.exponent)
    tensors = {"out": (forward.get(), ref.output, ref64.output if ref64 else None)}
    for i, name in enumerate(case.input_names):
        tensors[f"grad_{name}"] = (
            backward.get(lambda g, i=i: g[i]),
            ref.grads[i],
            ref64.grads[i] if ref64 else None,
        )
    parity.check(
        tensors,
        dtype=dtype,
        kind=case.kind,
        warnings=Attempt.warned(forward, backward),
        conditioning=(ref64 or ref).conditioning,
    )
