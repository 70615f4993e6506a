"""The verdict on one gradient-clipping case: a row of clipping.csv, built from the case's compared tensors.

A case compares the total norm, the clip coefficient and every clipped tensor (``parity.compare``); its row
keeps the scalars of both sides, the worst comparison's error and bound, and each judged tensor's error and
bound, so that what was judged can be read back (``verdicts``) without judging anything again. A case where
either side raises is judged on that alone: both must raise the same error.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from parity.compare import Case, Comparison


@dataclass(frozen=True)
class ClipSetting:
    """What a clipping case asks: ``clip_grad_norm_(grads, max_norm, norm_type, error_if_nonfinite)``."""

    norm_type: str
    max_norm: float
    error_if_nonfinite: bool
    n_tensors: int


@dataclass(frozen=True)
class ClipRecord:
    """A row of clipping.csv. The scalars are None where a side raised (nothing to compare)."""

    nodeid: str
    suite: str
    case: str
    dtype: str
    kind: str
    seed: int | None
    checked_error: float  # the worst comparison's (by error / bound), or 0 / inf for raised errors
    tolerance: float
    passed: bool
    norm_type: str
    max_norm: float
    error_if_nonfinite: bool
    n_tensors: int
    total_norm: float | None = None
    torch_total_norm: float | None = None
    coef: float | None = None
    torch_coef: float | None = None
    worst_tensor: str | None = None  # the clipped tensor furthest from torch
    worst_tensor_error: float | None = None
    torch_error: float | None = None  # float32: torch float32's own error on the worst comparison
    raised: str = ""
    torch_raised: str = ""
    rule: str = ""
    failed_tensors: str = ""
    problem: str = ""
    warnings: str = ""
    total_norm_error: float | None = None
    total_norm_tolerance: float | None = None
    coef_error: float | None = None
    coef_tolerance: float | None = None
    worst_tensor_tolerance: float | None = None

    @classmethod
    def judged(
        cls, case: Case, setting: ClipSetting, results: list[Comparison], scalars: dict, warnings: str = ""
    ) -> ClipRecord:
        """The row of a case whose tensors were compared: ``results`` holds ``total_norm``, ``coef`` and
        ``clipped_*``; ``scalars`` both sides' total_norm and coef (``total_norm``, ``torch_total_norm``,
        ``coef``, ``torch_coef``)."""
        by_name = {r.tensor: r for r in results}
        worst = max(results, key=lambda r: (not r.passed, _ratio(r)))
        clipped = [r for r in results if r.tensor.startswith("clipped_")]
        worst_tensor = max(clipped, key=lambda r: (not r.passed, r.checked_error))
        return cls(
            **case.columns(results[0].dtype),
            **asdict(setting),
            **scalars,
            checked_error=worst.checked_error,
            tolerance=worst.tolerance,
            passed=all(r.passed for r in results),
            worst_tensor=worst_tensor.tensor,
            worst_tensor_error=worst_tensor.checked_error,
            torch_error=worst.torch_error,
            rule=worst.rule,
            failed_tensors=";".join(r.tensor for r in results if not r.passed),
            problem="; ".join(sorted({r.problem for r in results if r.problem})),
            warnings=warnings,
            total_norm_error=by_name["total_norm"].checked_error,
            total_norm_tolerance=by_name["total_norm"].tolerance,
            coef_error=by_name["coef"].checked_error,
            coef_tolerance=by_name["coef"].tolerance,
            worst_tensor_tolerance=worst_tensor.tolerance,
        )

    @classmethod
    def raising(
        cls, case: Case, setting: ClipSetting, dtype, raised, torch_raised, problem: str, warnings: str = ""
    ) -> ClipRecord:
        """The row of a case where either side raised (``raised``, ``torch_raised``: the exceptions, or
        None): it passes when both raised the same type of error. problem: what the engine did instead."""
        same = type(raised) is type(torch_raised)
        return cls(
            **case.columns(dtype),
            **asdict(setting),
            checked_error=0.0 if same else math.inf,
            tolerance=0.0,
            passed=same,
            raised=type(raised).__name__ if raised else "",
            torch_raised=type(torch_raised).__name__ if torch_raised else "",
            rule="both raise the same error",
            failed_tensors="" if same else "raised",
            problem="" if same else f"{problem or 'engine did not raise'}; torch raised {torch_raised!r}",
            warnings=warnings,
        )

    def verdicts(self) -> list[tuple[str, float, float, bool, str]]:
        """(tensor, error, bound, passed, detail) of every tensor this row judged: ``raised``, or the total
        norm, the coefficient and the worst clipped tensor."""
        failed = self.failed_tensors.split(";")
        where = f"({self.dtype}, {self.case})"
        if self.raised or self.torch_raised:
            detail = (
                f"scratch raised {self.raised or 'nothing'}, torch raised {self.torch_raised or 'nothing'}"
            )
            return [("raised", self.checked_error, self.tolerance, "raised" not in failed, detail)]
        out = []
        for name, mine, theirs, error, bound in (
            (
                "total_norm",
                self.total_norm,
                self.torch_total_norm,
                self.total_norm_error,
                self.total_norm_tolerance,
            ),
            ("coef", self.coef, self.torch_coef, self.coef_error, self.coef_tolerance),
        ):
            detail = (
                f"{name} {where}: scratch {mine}, torch {theirs}, checked error {error:.3g} "
                f"vs tolerance {bound:.3g}"
            )
            out.append((name, error, bound, name not in failed, detail))
        error, bound = self.worst_tensor_error, self.worst_tensor_tolerance
        detail = f"{self.worst_tensor} {where}: checked error {error:.3g} vs tolerance {bound:.3g}"
        out.append((self.worst_tensor, error, bound, self.worst_tensor not in failed, detail))
        return out


def _ratio(result: Comparison) -> float:
    return result.checked_error / result.tolerance if result.tolerance else math.inf
