"""Global-norm gradient clipping against ``torch.nn.utils.clip_grad_norm_`` itself, in every regime: below, at
and above ``max_norm``, all-zero gradients, one huge tensor among small ones, a tiny ``max_norm``, infinite
and NaN gradients with ``error_if_nonfinite`` on and off, and the norm types 2, 1 and inf; float32 and
float64. The returned total norm, the clip coefficient and every clipped tensor are compared; one row per case
goes to reports/clipping.csv."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parity.clipping import ClipRecord, ClipSetting
from parity.parametrize import DTYPES
from parity.plugin import raise_failures
from parity.returns import EngineProblem
from parity.tensors import TorchRuns

pytestmark = pytest.mark.parity_check

NORM_TYPES = [pytest.param(2.0, id="l2"), pytest.param(1.0, id="l1"), pytest.param(math.inf, id="linf")]
SHAPES = [(4, 2), (4, 1), (1, 4), (1, 1)]  # the network's W1, b1, W2, b2 at XOR size


def grads_for(regime, rng):
    """(float64 gradients, how max_norm relates to their total) for a named regime."""
    grads = [rng.standard_normal(s) for s in SHAPES]
    if regime == "zeros":
        grads = [np.zeros(s) for s in SHAPES]
    elif regime == "one-huge":
        grads[0] *= 1e6
        grads[1:] = [g * 1e-3 for g in grads[1:]]
    elif regime == "inf":
        grads[1][2, 0] = np.inf
    elif regime == "nan":
        grads[2][0, 1] = np.nan
    elif regime == "neg-inf":
        grads[0][0, 0] = -np.inf
    return grads


REGIMES = {  # regime -> max_norm as a function of the true total (computed in float64)
    "below": lambda total: 2.0 * total,
    "at": lambda total: total,
    # above the total by less than torch's 1e-6: torch still scales (by just under 1), whatever the rounding
    # of either side's total; a rule that scales only when total > max_norm does not
    "within-eps": lambda total: total * (1 + 1e-9),
    "above": lambda total: 0.25 * total,
    "zeros": lambda total: 1.0,
    "one-huge": lambda total: 5.0,
    "tiny-max-norm": lambda total: 1e-8,
    "inf": lambda total: 1.0,
    "neg-inf": lambda total: 1.0,
    "nan": lambda total: 1.0,
}


def float64_total(grads, norm_type):
    flat = np.concatenate([g.ravel() for g in grads])
    return float(np.linalg.norm(flat, ord=norm_type)) if np.all(np.isfinite(flat)) else 1.0


NONFINITE = ("inf", "neg-inf", "nan")


def clip_cases():
    """regime x norm type x dtype x error_if_nonfinite; error_if_nonfinite only matters for non-finite
    gradients, so finite regimes take it on only in 'above' and 'zeros' (to show it changes nothing there)."""
    for regime in REGIMES:
        for norm_type in NORM_TYPES:
            for dtype in DTYPES:
                for flag, flag_id in ((False, "nonfinite-ok"), (True, "nonfinite-error")):
                    if flag and regime not in NONFINITE + ("above", "zeros"):
                        continue
                    yield pytest.param(
                        regime,
                        norm_type.values[0],
                        dtype.values[0],
                        flag,
                        id=f"{regime}-{norm_type.id}-{dtype.id}-{flag_id}",
                    )


@pytest.mark.parametrize("regime, norm_type, dtype, error_if_nonfinite", list(clip_cases()))
def test_clip_matches_torch(engine, torch_ref, parity, regime, norm_type, dtype, error_if_nonfinite):
    norm_id = {2.0: "l2", 1.0: "l1", math.inf: "linf"}[norm_type]
    engine.require(f"clipping {norm_id}", *(["clipping error_if_nonfinite"] if error_if_nonfinite else []))
    rng = parity.rng()
    grads64 = grads_for(regime, rng)
    grads = [g.astype(dtype) for g in grads64]
    max_norm = REGIMES[regime](float64_total(grads64, norm_type))
    kwargs = dict(max_norm=max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite)
    kind = "edge" if regime not in ("below", "at", "within-eps", "above") else "random"

    scratch = engine.clip([g.copy() for g in grads], **kwargs)
    torch, torch_error = _call(lambda: torch_ref.clip(grads, dtype=dtype, **kwargs))
    setting = ClipSetting(str(norm_type), max_norm, error_if_nonfinite, len(grads))
    warnings = scratch.warned(scratch)
    if torch_error is not None or scratch.error is not None:
        record = ClipRecord.raising(
            parity.case(kind), setting, dtype, scratch.error, torch_error, scratch.problem, warnings
        )
        parity.record(record)
        assert record.passed, (
            f"torch raised {torch_error!r}; the engine: {scratch.problem or 'returned normally'}"
        )
        return

    runs = TorchRuns(
        torch, torch_ref.clip(grads, dtype=np.float64, **kwargs) if dtype == np.float32 else None
    )
    tensors = {
        "total_norm": (scratch.get(lambda r: r[1]), *runs.desired(lambda r: np.asarray(r.total_norm))),
        "coef": (scratch.get(lambda r: r[2]), *runs.desired(lambda r: np.asarray(r.coef))),
    }
    for i, name in enumerate(("W1", "b1", "W2", "b2")):
        tensors[f"clipped_{name}"] = (
            scratch.get(lambda r, i=i: clipped(r[0], i)),
            *runs.desired(lambda r, i=i: r.grads[i]),
        )
    results = parity.evaluate(tensors, dtype=dtype, kind=kind, conditioning=runs.conditioning)
    scalars = dict(
        total_norm=_scalar(scratch.get(lambda r: r[1])),
        torch_total_norm=float(torch.total_norm),
        coef=_scalar(scratch.get(lambda r: r[2])),
        torch_coef=float(torch.coef),
    )
    parity.record(ClipRecord.judged(parity.case(kind), setting, results, scalars, warnings))
    raise_failures(results)


def clipped(grads: list, i: int):
    if len(grads) != 4:
        raise EngineProblem(f"clip_grad_norm returned {len(grads)} gradients for 4")
    return grads[i]


def _scalar(value) -> float:
    """A returned total norm or coefficient for the row; nan where the engine gave none (its row says why)."""
    try:
        return float(np.asarray(value, dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        return math.nan


def _call(fn):
    try:
        return fn(), None
    except (RuntimeError, ValueError) as exc:
        return None, exc
