"""Every gate of the catalogue (parity/catalogue.py) against torch.autograd: random inputs of several shapes
with a random upstream gradient, and named edge cases, in float32 and float64. Scratch is ACTUAL, torch
DESIRED; the tolerance comes from the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from parity import catalogue
from parity.parametrize import DTYPES
from parity.seam import Attempt
from parity.tensors import gate_tensors

pytestmark = pytest.mark.parity_check


@dataclass(frozen=True)
class GateCase:
    op: catalogue.Op
    name: str
    kind: str
    make: Callable[[np.random.Generator], list[np.ndarray]]  # float64 inputs, cast to the case's dtype later
    params: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.op.name}-{self.name}"

    @property
    def kwargs(self) -> dict:
        return {p.name: v for p, v in zip(self.op.params, self.params, strict=True)}


def draw(shapes, scale: float, lowest: float | None):
    """Standard normal inputs times ``scale``; where the op needs inputs >= 0, |normal| + 0.1."""
    if lowest is None:
        return lambda rng: [rng.standard_normal(s) * scale for s in shapes]
    return lambda rng: [np.abs(rng.standard_normal(s)) + 0.1 for s in shapes]


def random_cases(op: catalogue.Op) -> list[GateCase]:
    """One case per named shape, for each value of the op's parameter if it has one (``n2-matrix``)."""
    sweeps = [((), "")]
    if op.params:
        (param,) = op.params
        sweeps = [((v,), f"{param.tag}{v}-") for v in param.cases]
    return [
        GateCase(op, f"{prefix}{name}", "random", draw(shapes, op.scale, op.lowest(*params)), params)
        for params, prefix in sweeps
        for name, shapes in op.shapes.items()
    ]


def edge_cases(op: catalogue.Op) -> list[GateCase]:
    return [
        GateCase(
            op,
            name,
            "edge",
            lambda rng, e=edge: [np.array(v, dtype=np.float64) for v in e.values],
            edge.params,
        )
        for name, edge in op.edges.items()
    ]


CASES = [case for op in catalogue.GATES.values() for case in (*random_cases(op), *edge_cases(op))]


def output_shape(case: GateCase, inputs: list[np.ndarray]) -> tuple[int, ...]:
    if case.op.shape == "matmul":
        return np.matmul(*inputs).shape
    return np.broadcast_shapes(*(x.shape for x in inputs))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gate_matches_torch(engine, torch_ref, parity, case: GateCase, dtype):
    engine.require(case.op.capability)
    rng = parity.rng()
    inputs = [np.asarray(x, dtype=dtype) for x in case.make(rng)]
    upstream = rng.standard_normal(output_shape(case, inputs)).astype(
        dtype
    )  # never ones: backward must use it
    torch = parity.torch_runs(
        lambda dt: torch_ref.gate(case.op.name, inputs, upstream, dtype=dt, **case.kwargs), dtype
    )
    forward, backward = engine.gate(case.op.name, inputs, upstream, **case.kwargs)
    parity.check(
        gate_tensors(forward, backward, torch, case.op.input_names),
        dtype=dtype,
        kind=case.kind,
        warnings=Attempt.warned(forward, backward),
        conditioning=torch.conditioning,
    )
