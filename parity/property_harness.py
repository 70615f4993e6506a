"""How the property-based parity tests run: their hypothesis settings profiles, and the bounded recording of
their examples through the ``parity`` fixture (``PropertyRecorder``).

Profiles (``register_profiles``, called by the root conftest): ``dev`` by default, ``ci`` when hypothesis
detects a CI (``CI`` set), ``thorough`` with ``--hypothesis-profile=thorough``. What the tests draw is in
``parity/strategies.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import assume, currently_in_test_context, settings
from hypothesis.control import current_build_context

from parity.compare import Comparison, ParityError

# -- profiles
# -------------------------------------------------------------------------------------------------

# Hypothesis's own "ci" (derandomize, no deadline, no database, print_blob), captured before we extend it.
_BUILTIN_CI = settings.get_profile("ci")
# No deadline anywhere: torch's first call in a process takes far longer than the next ones.
PROFILES = {
    "dev": dict(max_examples=20, deadline=None, print_blob=True),
    "ci": dict(max_examples=20),
    "thorough": dict(max_examples=1000, deadline=None, print_blob=True),
}


def register_profiles() -> str:
    """Register ``dev``, ``ci`` (on top of hypothesis's built-in one) and ``thorough``; load ``ci`` if
    hypothesis loaded its own at import (it does when ``CI`` is set), else ``dev``. Returns the name loaded.

    ``--hypothesis-profile=NAME`` still wins: hypothesis's pytest plugin applies it after the root conftest.
    """
    in_ci = settings.get_current_profile_name() == "ci"
    for name, kwargs in PROFILES.items():
        settings.register_profile(name, parent=_BUILTIN_CI if name == "ci" else None, **kwargs)
    name = "ci" if in_ci else "dev"
    settings.load_profile(name)
    return name


# -- recording
# ------------------------------------------------------------------------------------------------


def is_final_example() -> bool:
    """True for an example hypothesis reports (its last replay of a shrunk failure, or an explicit example),
    and outside any hypothesis test; False while it generates and shrinks."""
    return not currently_in_test_context() or current_build_context().is_final


def replay_hint(rerun: str) -> str:
    """How to replay this hypothesis run, given the parity rerun command ``pytest "<nodeid>"
    --parity-seed=N``."""
    if not currently_in_test_context():
        return rerun
    keep = "; hypothesis's 'Failing test case' below is the shrunk example: keep it as an @example"
    wrapped = current_build_context().wrapped_test
    test_settings = getattr(wrapped, "_hypothesis_internal_use_settings", settings.default)
    seed = getattr(wrapped, "_hypothesis_internal_use_generated_seed", None)
    if seed is not None:
        return f"{rerun} --hypothesis-seed={seed}{keep}"
    if test_settings.derandomize:
        profile = settings.get_current_profile_name()
        if settings.get_profile(profile).derandomize:
            rerun += f" --hypothesis-profile={profile}"
        return f"{rerun} (derandomized: the same examples every run){keep}"
    return f"{rerun} with the same --hypothesis-seed, or the @reproduce_failure blob (print_blob){keep}"


def _norm_overflows(x) -> bool:
    """Whether the 2-norm of x's finite elements exceeds the float64 range.

    NOTE: parity.compare.normwise_error then overflows in ``norm(d / scale) * scale`` and NumPy warns (an
    error under pytest): such examples are rejected until the helper computes the ratio of the scaled norms.
    """
    x = np.asarray(x, dtype=np.float64)
    x = np.abs(x[np.isfinite(x)])
    scale = float(x.max(initial=0.0))
    if scale == 0.0:
        return False
    return float(np.linalg.norm(x / scale)) > float(np.finfo(np.float64).max) / scale


def _at_overflow_threshold(x, dtype) -> bool:
    """Whether a finite element of x lies within 4 ulps of ``dtype``'s overflow threshold (x may be the
    float64 reference of a float32 result): there one ulp of difference anywhere upstream, between two correct
    engines, decides between a finite result and inf, and the comparison's non-finite check cannot decide.
    (Found: float32 exp(2**-24) * (max - 1 ulp) is inf from a correctly rounded exp, finite from torch's.)"""
    info = np.finfo(dtype)
    x = np.abs(np.asarray(x, dtype=np.float64))
    band = 4 * float(info.eps) * float(info.max)
    return bool(np.any(np.isfinite(x) & (x > float(info.max) - band) & (x < float(info.max) + band)))


def decidable(tensors: dict, dtype) -> bool:
    """Whether ``compare`` can decide every tensor of an example: no element at the overflow threshold, no
    tensor whose norm overflows."""
    arrays = [
        array
        for arrays in tensors.values()
        for array in arrays
        if array is not None and not isinstance(array, Exception)
    ]  # an engine's problem is decided
    return not any(_at_overflow_threshold(array, dtype) or _norm_overflows(array) for array in arrays)


def _ratio(result: Comparison) -> float:
    if not result.passed:
        return float("inf")
    return result.checked_error / result.tolerance if result.checked_error else 0.0


class PropertyRecorder:
    """Checks the examples of one property test through the ``parity`` fixture, keeping the report bounded.

    Each example's tensors are compared with ``parity.evaluate``; a failure raises one ParityError (hypothesis
    then shrinks it). Rows are recorded only for the examples a person needs: each example hypothesis reports
    (its final replay of a shrunk failure, or an explicit ``@example``) when it fails, and, when none failed,
    the passing example closest to its tolerance, at ``finish()``: at most a few rows per test.
    """

    def __init__(self, parity):
        self._parity = parity
        self._worst: list[Comparison] = []
        self._worst_ratio = -1.0
        self._reported = False
        self.examples = 0

    def torch_runs(self, run, dtype):
        """The torch runs of one example: at its dtype, and the float64 reference for float32."""
        return self._parity.torch_runs(run, dtype)

    def check(
        self, tensors: dict, *, dtype, case: str, inputs: str, record: bool = True, conditioning=None
    ) -> list[Comparison]:
        """Compare one example's tensors, ``name -> (actual, desired[, float64 reference])``, by the policy;
        ``inputs`` (the example, compact) goes into the report rows and ``case`` names it. ``record=False``
        for an expected failure (a known bug's xfail example): it raises but leaves no row. ``conditioning``:
        the reference result's, one per tensor (``parity.plugin.Recorder.evaluate``)."""
        self.examples += 1
        if currently_in_test_context():
            assume(decidable(tensors, dtype))
        results = [
            dataclasses.replace(r, inputs=inputs, rerun=replay_hint(r.rerun))
            for r in self._parity.evaluate(
                tensors, dtype=dtype, kind="property", case=case, conditioning=conditioning
            )
        ]
        failures = [r for r in results if not r.passed]
        if failures:
            if record and is_final_example():
                self._record(results)
                self._reported = True
            raise ParityError(failures)
        ratio = max((_ratio(r) for r in results), default=0.0)
        if record and ratio > self._worst_ratio:
            self._worst, self._worst_ratio = results, ratio
        return results

    def finish(self) -> None:
        """Record the passing example closest to its tolerance, unless a failing one was recorded."""
        if not self._reported:
            self._record(self._worst)

    def _record(self, results: list[Comparison]) -> None:
        for result in results:
            self._parity.record(result)
