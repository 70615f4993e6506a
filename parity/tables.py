"""Every report table the suite writes, each declared from the record type of its rows.

A table's columns are its record's fields (``report.register_table``): a new column is a new field. The plugin
imports this module, so that every process (the xdist controller too, which imports no test module) knows
every table.
"""

from __future__ import annotations

from dataclasses import dataclass

from parity.clipping import ClipRecord
from parity.compare import Comparison
from parity.mutants import SelftestRecord
from parity.report import register_table
from parity.trajectory import CurvePoint, TrajectoryRecord


@dataclass(frozen=True)
class FlowRecord:
    """A row of gradient_flow.csv: one layer's weight gradient of a deep network, its norm on both sides."""

    nodeid: str
    suite: str
    case: str
    dtype: str
    kind: str
    seed: int | None
    checked_error: float
    tolerance: float
    passed: bool
    activation: str
    depth: int
    layer: int
    weight_scale: float
    grad_norm: float
    torch_grad_norm: float
    rule: str
    problem: str
    warnings: str

    @classmethod
    def of(cls, comparison: Comparison, *, warnings: str = "", **layer) -> FlowRecord:
        """The row of one layer's compared weight gradient; ``layer``: activation, depth, layer,
        weight_scale, grad_norm, torch_grad_norm."""
        c = comparison
        return cls(
            nodeid=c.nodeid,
            suite=c.suite,
            case=c.case,
            dtype=c.dtype,
            kind=c.kind,
            seed=c.seed,
            checked_error=c.checked_error,
            tolerance=c.tolerance,
            passed=c.passed,
            rule=c.rule,
            problem=c.problem,
            warnings=warnings,
            **layer,
        )


GRADIENTS = register_table(
    "gradients", Comparison, "one row per compared tensor: gates, worked graphs, the network, properties"
)
CLIPPING = register_table(
    "clipping", ClipRecord, "one row per clipping case: totals, coefficients, the worst clipped-tensor error"
)
TRAJECTORIES = register_table(
    "trajectories",
    TrajectoryRecord,
    "one row per training run: the worst loss difference over all epochs and its epoch, final parameters",
)
TRAJECTORY_CURVES = register_table(
    "trajectory_curves",
    CurvePoint,
    "the loss of both sides at log-spaced epochs, plus the epoch of the worst difference",
    summarized=False,
)
GRADIENT_FLOW = register_table(
    "gradient_flow",
    FlowRecord,
    "one row per (activation, depth, weight scale, layer) of a deep network: the norm of that layer's weight "
    "gradient, the engine's and torch's, and their agreement",
)
SELFTEST = register_table(
    "selftest",
    SelftestRecord,
    "one row per planted bug: what it is, whether the suite caught it, where and with what error",
    engine_parity=False,
)
