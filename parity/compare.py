"""The one comparison helper: a scratch array (ACTUAL) against a torch array (DESIRED).

``compare`` checks shape, then dtype, then the pattern of non-finite values, then the values, computes every
error metric, judges the result by the tolerance policy and returns a :class:`Comparison`: one record, made of
plain Python values, that becomes one report row and, on failure, one paragraph of the failure message.

Float32 results are judged against a float64 torch run of the same float32 inputs (``reference``); the
metrics against torch float32 (``desired``) are reported beside it so that a person sees both. The bound comes
from the result's conditioning (``conditioning``: the magnitude array and depth of
``reference.conditioning``), by the policy in ``parity.tolerance``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from parity.returns import EngineProblem, as_result
from parity.tolerance import Judgement, conditioned_tolerance, judge


@dataclass(frozen=True)
class Case:
    """Where a comparison comes from: everything needed to find, read and rerun it."""

    suite: str
    case: str
    kind: str  # xor, random, edge, property, ...
    seed: int | None
    nodeid: str = ""
    rerun: str = ""

    def columns(self, dtype) -> dict:
        """The core columns a record of this case carries but its verdict: where it comes from, its dtype."""
        return dict(
            nodeid=self.nodeid,
            suite=self.suite,
            case=self.case,
            dtype=np.dtype(dtype).name,
            kind=self.kind,
            seed=self.seed,
        )


@dataclass(frozen=True)
class Comparison:
    """One compared tensor. Every field is a builtin type, so that it can travel to the xdist controller."""

    suite: str
    case: str
    tensor: str
    dtype: str
    kind: str
    seed: int | None
    shape: str
    max_abs_error: float
    max_rel_error: float
    normwise_error: float
    ulp_distance: float  # an integer count, typed float in the files: up to 2**64 - 2 fits no Int64
    worst_index: str
    actual: float  # scratch at worst_index
    desired: float  # torch (same dtype) at worst_index
    torch_error: float  # float32: torch32's normwise error against the float64 run; nan for float64
    checked_error: float  # the error the tolerance judges
    condition: float  # kappa = ||magnitude|| / ||reference||, from the float64 reference
    roundings: int  # the computation's depth: roundings on its longest path
    tolerance: float
    rule: str
    passed: bool
    problem: str = ""  # what the engine did wrong (raised, returned nothing, ...) or a shape, dtype or
    # non-finite mismatch, when there is one
    warnings: str = ""  # floating-point (or other) warnings the engine emitted computing it; not judged
    inputs: str = ""  # property-based cases: the (shrunk) example that produced the inputs
    nodeid: str = ""
    rerun: str = field(default="", compare=False, metadata={"column": False})  # in messages, not in files

    def row(self) -> dict:
        """The gradients.csv row: every field but ``rerun``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("column", True)}

    def verdicts(self) -> list[tuple[str, float, float, bool, str]]:
        """(tensor, error, bound, passed, detail): this comparison as the self-test and the sweep read it."""
        where = (
            self.problem or f"worst element {self.worst_index}: scratch {self.actual}, torch {self.desired}"
        )
        detail = (
            f"{self.tensor} ({self.dtype}, {self.case}): checked error {self.checked_error:.3g} vs tolerance "
            f"{self.tolerance:.3g}; {where}"
        )
        return [(self.tensor, self.checked_error, self.tolerance, self.passed, detail)]

    def describe(self) -> str:
        """A paragraph a person can act on: what, where, both values, the errors, the bound, the rerun."""
        verdict = "ok" if self.passed else "FAILED"
        lines = [
            f"{verdict}: {self.suite} / {self.case} / tensor {self.tensor!r} "
            f"({self.dtype}, shape {self.shape}, {self.kind}, seed {self.seed})",
        ]
        if self.warnings:
            lines.append(f"  engine warnings (recorded, not judged): {self.warnings}")
        if self.problem:
            lines.append(f"  {self.problem}")
        else:
            lines += [
                f"  ACTUAL  (scratch) [{self.worst_index}] = {self.actual!r}",
                f"  DESIRED (torch)   [{self.worst_index}] = {self.desired!r}",
                f"  max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}, "
                f"{self.ulp_distance} ULP, normwise {self.normwise_error:.3g}",
            ]
            if self.dtype == "float32":
                lines.append(
                    f"  vs torch float64 on the same inputs: scratch {self.checked_error:.3g}, "
                    f"torch float32 {self.torch_error:.3g}"
                )
            lines.append(
                f"  condition kappa {self.condition:.3g} (magnitude / result, float64), "
                f"depth {self.roundings}"
            )
            relation = "<=" if self.passed else ">"
            lines.append(
                f"  checked error {self.checked_error:.3g} {relation} tolerance {self.tolerance:.3g}"
                f" [{self.rule}]"
            )
        if self.rerun:
            lines.append(f"  rerun: {self.rerun}")
        return "\n".join(lines)


class ParityError(AssertionError):
    """Raised when one or more comparisons of a case fail; its message describes each failure."""

    def __init__(self, failures: list[Comparison]):
        self.failures = failures
        head = (
            f"{len(failures)} tensor(s) differ from torch beyond tolerance (scratch is ACTUAL, torch DESIRED)"
        )
        super().__init__("\n".join([head] + [f.describe() for f in failures]))


def compare(
    actual, desired, *, tensor: str, dtype, case: Case, reference=None, conditioning=None, warnings: str = ""
) -> Comparison:
    """Compare one scratch array with torch's, by the tolerance policy for ``dtype``.

    actual: the scratch result, or the :class:`EngineProblem` that kept the engine from producing it.
    desired: torch's result at the same dtype. reference: for float32, torch's float64 result from the same
    float32 inputs (required); ignored for float64. conditioning: the result's
    ``reference.conditioning.Conditioning`` (``magnitude``: float64 array of the result's shape, ``depth``);
    without it the result is taken as elementwise and well conditioned (magnitude = |result|, depth 1).
    warnings: what the engine warned, recorded only.
    """
    dtype = np.dtype(dtype)
    d = np.asarray(desired)
    a, problem = _engine_result(actual, d, dtype, tensor)
    if problem:
        metrics, condition = _FAILED_METRICS, 1.0
        depth = _conditioning(conditioning, d, tensor)[1]
        tol = conditioned_tolerance(dtype, condition, depth)
        judged = Judgement(metrics["normwise_error"], math.nan, tol, lambda _: tol)
    else:
        metrics = _metrics(a, d)
        r = _reference(d, reference, dtype, tensor)
        judged, condition, depth = _judge(a, d, dtype, r, conditioning, tensor)
    return Comparison(
        suite=case.suite,
        case=case.case,
        tensor=tensor,
        dtype=str(dtype),
        kind=case.kind,
        seed=case.seed,
        shape=str(tuple(d.shape)),
        torch_error=judged.torch_error,
        checked_error=float(judged.error),
        condition=float(condition),
        roundings=int(depth),
        tolerance=judged.tolerance.bound,
        rule=judged.tolerance.rule,
        passed=bool(not problem and judged.passed),
        problem=problem,
        warnings=warnings,
        nodeid=case.nodeid,
        rerun=case.rerun,
        **metrics,
    )


def _engine_result(actual, d: np.ndarray, dtype: np.dtype, tensor: str) -> tuple[np.ndarray, str]:
    """(scratch's array, "") when its shape, dtype and non-finite values agree with torch's; else (torch's
    array, what is wrong)."""
    try:
        if isinstance(actual, EngineProblem):
            raise actual
        a = as_result(actual, dtype, tensor)
        return a, _structure_problem(a, d, dtype)
    except EngineProblem as exc:
        return d, str(exc)


def _reference(d: np.ndarray, reference, dtype: np.dtype, tensor: str) -> np.ndarray | None:
    """The float64 torch result a float32 one is judged against (None for float64), checked."""
    if dtype != np.float32:
        return None
    if reference is None:
        raise ValueError(f"float32 comparison of {tensor!r} needs the float64 torch reference")
    r = np.asarray(reference, dtype=np.float64)
    if r.shape != d.shape:
        raise ValueError(f"reference for {tensor!r} has shape {r.shape}, torch result {d.shape}")
    return r


def _judge(a, d, dtype, reference, conditioning, tensor) -> tuple[Judgement, float, int]:
    """(the judgement, kappa, depth) of a result whose structure agrees with torch's: the normwise error
    relative to the float64 result, held to the bound its conditioning sets (``parity.tolerance``)."""
    r = d if reference is None else reference
    magnitude, depth, jump = _conditioning(conditioning, r, tensor)
    finite = np.isfinite(a) & np.isfinite(d) & np.isfinite(r) & np.isfinite(magnitude) & np.isfinite(jump)
    condition, underflow, jumps = condition_of(r[finite], magnitude[finite], jump[finite])
    underflow *= float(getattr(conditioning, "amplification", 1.0))
    tol = conditioned_tolerance(dtype, condition, depth, underflow=underflow, jump=jumps)
    judged = judge(
        dtype,
        a,
        d,
        reference,
        error=lambda x, y: conditioned_error(x[finite], y[finite], magnitude[finite]),
        rule=lambda _: tol,
    )
    return judged, condition, depth


def _conditioning(conditioning, r: np.ndarray, tensor: str) -> tuple[np.ndarray, int, np.ndarray]:
    if conditioning is None:
        return np.abs(np.asarray(r, dtype=np.float64)), 1, np.zeros(r.shape)
    magnitude = np.asarray(conditioning.magnitude, dtype=np.float64)
    jump = getattr(conditioning, "jump", None)
    jump = np.zeros(r.shape) if jump is None else np.asarray(jump, dtype=np.float64)
    if magnitude.shape != r.shape or jump.shape != r.shape:
        raise ValueError(f"conditioning of {tensor!r} has shape {magnitude.shape}, the result {r.shape}")
    return magnitude, int(conditioning.depth), jump


def _ravel64(*arrays) -> list[np.ndarray]:
    return [np.asarray(x, dtype=np.float64).ravel() for x in arrays]


def _largest(*arrays) -> float:
    return float(np.max(np.abs(np.concatenate(arrays)), initial=0.0))


def conditioned_error(actual, reference, magnitude) -> float:
    """The normwise error ``||a - r|| / S`` of ``actual`` against the float64 ``reference``, ``S = ||r||``;
    when the reference is exactly zero (complete cancellation, or all zeros) S is ``||magnitude||``, and the
    error absolute when that is zero too."""
    a, r, m = _ravel64(actual, reference, magnitude)
    scale = _largest(r, m)
    if scale == 0.0:  # all zero: any difference is an absolute one
        return _norm(a - r)
    return normwise_error(a, r, scale=r if float(np.linalg.norm(r / scale)) > 0.0 else m)


def condition_of(reference, magnitude, jump=None) -> tuple[float, float, float]:
    """(condition kappa, underflow share, jump share) of a float64 ``reference`` result.

    kappa is ``||magnitude|| / S`` (S as in :func:`conditioned_error`; 1 where the reference is zero, 0 where
    all is). The underflow share is ``sqrt(n) / S``: what n absolute losses of one unit each weigh in the
    relative error; the jump share ``||jump|| / S``: what branches chosen by rounding may change.
    """
    r, m = _ravel64(reference, magnitude)
    j = np.zeros(r.shape) if jump is None else _ravel64(jump)[0]
    scale = _largest(r, m)
    if scale == 0.0:
        return 0.0, math.sqrt(max(r.size, 1)), _norm(j)
    r_rel, m_rel = float(np.linalg.norm(r / scale)), float(np.linalg.norm(m / scale))
    s = (r_rel if r_rel > 0.0 else m_rel) * scale
    kappa = max(m_rel / r_rel, 1.0) if r_rel > 0.0 else 1.0
    return kappa, math.sqrt(r.size) / s, _norm(j) / s


def _norm(x: np.ndarray) -> float:
    scale = float(np.max(np.abs(x), initial=0.0))
    return 0.0 if scale == 0.0 else float(np.linalg.norm(x / scale)) * scale


_FAILED_METRICS = dict(
    max_abs_error=math.inf,
    max_rel_error=math.inf,
    normwise_error=math.inf,
    ulp_distance=-1,
    worst_index="",
    actual=math.nan,
    desired=math.nan,
)


def _structure_problem(a: np.ndarray, d: np.ndarray, dtype: np.dtype) -> str:
    """Shape, then dtype, then where the non-finite values are: '' when all agree."""
    if a.shape != d.shape:
        return f"shape mismatch: scratch {a.shape}, torch {d.shape}"
    if a.dtype != dtype or d.dtype != dtype:
        return f"dtype mismatch: scratch {a.dtype}, torch {d.dtype}, case {dtype}"
    a_nan, d_nan = np.isnan(a), np.isnan(d)
    a_inf, d_inf = np.isinf(a), np.isinf(d)
    bad = (a_nan != d_nan) | (a_inf != d_inf) | (a_inf & d_inf & (np.sign(a) != np.sign(d)))
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return (
            f"non-finite mismatch at {bad.sum()} element(s), first [{_index_str(index)}]: "
            f"scratch {a[index]!r}, torch {d[index]!r}"
        )
    return ""


def _metrics(a: np.ndarray, d: np.ndarray) -> dict:
    finite = np.isfinite(d)  # the structure check made a's non-finite values match d's
    a64 = np.where(finite, a, 0).astype(np.float64)
    d64 = np.where(finite, d, 0).astype(np.float64)
    diff = np.abs(a64 - d64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(d64))
    if diff.size == 0:
        return dict(
            max_abs_error=0.0,
            max_rel_error=0.0,
            normwise_error=0.0,
            ulp_distance=0,
            worst_index="",
            actual=math.nan,
            desired=math.nan,
        )
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    worst = tuple(int(i) for i in worst)
    return dict(
        max_abs_error=float(diff.max()),
        max_rel_error=float(rel.max()),
        normwise_error=normwise_error(a64[finite], d64[finite]),
        ulp_distance=ulp_distance(a[finite], d[finite]),
        worst_index=_index_str(worst),
        actual=float(a64[worst]),
        desired=float(d64[worst]),
    )


def normwise_error(actual, desired, scale=None) -> float:
    """``||a - d||_2 / ||d||_2`` (or ``/ ||scale||_2``); 0 when ``a == d``, inf when only the divisor is
    zero."""
    a = np.asarray(actual, dtype=np.float64).ravel()
    d = np.asarray(desired, dtype=np.float64).ravel()
    s = d if scale is None else np.asarray(scale, dtype=np.float64).ravel()
    err_scale = float(np.max(np.abs(a - d), initial=0.0))
    if err_scale == 0.0:
        return 0.0
    divisor = _norm(s)
    if divisor == 0.0:
        return math.inf
    # scaled so that neither the squares nor the norms overflow for values near the float64 range
    return float(np.linalg.norm((a - d) / err_scale) * (err_scale / divisor))


def ulp_distance(actual, desired) -> int:
    """The largest number of representable values of ``actual``'s dtype between the two, elementwise."""
    a = np.asarray(actual)
    d = np.asarray(desired).astype(a.dtype)
    if a.size == 0:
        return 0
    int_type = {4: np.int32, 8: np.int64}[a.dtype.itemsize]
    oa, od = _ordered(a, int_type), _ordered(d, int_type)
    # |oa - od| without overflow: magnitudes add when the signs differ (at most 2**64 - 2, fits uint64)
    same_sign = (oa >= 0) == (od >= 0)
    dist = np.where(
        same_sign,
        np.abs(oa - np.where(same_sign, od, 0)).astype(np.uint64),
        np.abs(oa).astype(np.uint64) + np.abs(od).astype(np.uint64),
    )
    return int(dist.max())


def _ordered(x: np.ndarray, int_type) -> np.ndarray:
    """Map floats to integers so that adjacent floats differ by 1 (sign-magnitude to two's complement)."""
    bits = x.view(int_type).astype(np.int64)
    magnitude = bits & np.int64(np.iinfo(int_type).max)
    return np.where(bits < 0, -magnitude, magnitude)


def _index_str(index: tuple) -> str:
    return "(" + ", ".join(str(i) for i in index) + ("," if len(index) == 1 else "") + ")"
