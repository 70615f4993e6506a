"""The comparison helper: metrics, structure checks, the conditioned bound, and messages that say enough."""

import math

import numpy as np
import pytest

from parity.compare import Case, ParityError, compare, normwise_error, ulp_distance
from reference import Conditioning

CASE = Case(
    suite="unit",
    case="c",
    kind="random",
    seed=7,
    nodeid="tests/x.py::t[c]",
    rerun='pytest "x" --parity-seed=0',
)


def test_identical_float64_passes_with_zero_errors():
    a = np.linspace(-1, 1, 12).reshape(3, 4)
    c = compare(a, a.copy(), tensor="dW1", dtype=np.float64, case=CASE)
    assert c.passed
    assert (c.max_abs_error, c.max_rel_error, c.normwise_error, c.ulp_distance) == (0.0, 0.0, 0.0, 0)


def test_one_ulp_in_float64_passes_and_is_counted():
    d = np.array([1.0, 2.0, 3.0])
    a = d.copy()
    a[1] = np.nextafter(2.0, 3.0)
    c = compare(a, d, tensor="t", dtype=np.float64, case=CASE)
    assert c.passed and c.ulp_distance == 1 and c.worst_index == "(1,)"


def test_planted_relative_error_above_policy_fails_and_names_the_element():
    d = np.arange(1.0, 7.0).reshape(2, 3)
    a = d.copy()
    a[1, 2] *= 1 + 1e-9  # far below any "close enough" check, far above rounding
    c = compare(a, d, tensor="dW2", dtype=np.float64, case=CASE)
    assert not c.passed
    assert c.worst_index == "(1, 2)"
    assert c.actual == a[1, 2] and c.desired == d[1, 2]
    assert c.checked_error > c.tolerance
    text = c.describe()
    for piece in (
        "dW2",
        "float64",
        "seed 7",
        "ACTUAL  (scratch) [(1, 2)]",
        "DESIRED (torch)",
        "rerun: pytest",
    ):
        assert piece in text


@pytest.mark.parametrize(
    "actual, desired, problem",
    [
        (np.zeros((2, 3)), np.zeros((3, 2)), "shape mismatch"),
        (np.zeros(3, np.float32), np.zeros(3), "dtype mismatch"),
        (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "non-finite mismatch"),
        (np.array([np.inf, 1.0]), np.array([-np.inf, 1.0]), "non-finite mismatch"),
        (np.array([1.0, 2.0]), np.array([1.0, np.inf]), "non-finite mismatch"),
    ],
    ids=["shape", "dtype", "nan-where-finite", "inf-sign", "finite-where-inf"],
)
def test_structure_problems_fail_before_values(actual, desired, problem):
    c = compare(actual, desired, tensor="t", dtype=np.float64, case=CASE)
    assert not c.passed and c.problem.startswith(problem)
    assert problem in c.describe()


def test_matching_non_finite_values_pass_and_are_left_out_of_the_errors():
    d = np.array([np.inf, -np.inf, np.nan, 2.0])
    c = compare(d.copy(), d, tensor="t", dtype=np.float64, case=CASE)
    assert c.passed and c.normwise_error == 0.0


def test_zero_desired_accepts_only_zero():
    z = np.zeros(4)
    assert compare(z, z, tensor="t", dtype=np.float64, case=CASE).passed
    c = compare(np.array([0, 0, 1e-300, 0]), z, tensor="t", dtype=np.float64, case=CASE)
    assert not c.passed and math.isinf(c.normwise_error)


def _sums(order):
    """A float32 sum of terms that cancel, in a given order, and its float64 value and magnitude."""
    rng = np.random.default_rng(3)
    terms = rng.standard_normal((4, 512)).astype(np.float32)
    terms[:, -1] -= (terms.astype(np.float64).sum(axis=1) - 0.5).astype(np.float32)  # each row sums to ~0.5
    exact = terms.astype(np.float64).sum(axis=1)
    magnitude = np.abs(terms.astype(np.float64)).sum(axis=1)
    if order == "sequential":
        return np.add.accumulate(terms, axis=1)[:, -1], exact, magnitude
    return terms.sum(axis=1), exact, magnitude


def test_a_cancelling_sum_is_judged_by_its_conditioning():
    pairwise, exact, magnitude = _sums("pairwise")
    sequential, _, _ = _sums("sequential")
    cond = Conditioning(magnitude, 512)
    for actual in (pairwise, sequential):  # two correct orders of the same sum
        c = compare(
            actual, pairwise, tensor="db2", dtype=np.float32, case=CASE, reference=exact, conditioning=cond
        )
        assert c.passed and c.condition > 300 and c.roundings == 512
        assert "kappa" in c.rule and "depth 512" in c.describe()
    # without its conditioning the same correct result is held to a few roundings of itself, and fails
    assert not compare(
        sequential, pairwise, tensor="db2", dtype=np.float32, case=CASE, reference=exact
    ).passed
    # a wrong sum (one term dropped) is still far beyond the conditioned bound
    wrong = (sequential - np.float32(0.1)).astype(np.float32)  # 20% of the result
    c = compare(
        wrong, pairwise, tensor="db2", dtype=np.float32, case=CASE, reference=exact, conditioning=cond
    )
    assert not c.passed and c.checked_error > 10 * c.tolerance


def test_a_reference_zero_by_cancellation_is_judged_relative_to_its_magnitude():
    cond = Conditioning(np.array([2.0, 2.0]), 2)
    ok = compare(
        np.array([1e-16, 0.0]), np.zeros(2), tensor="t", dtype=np.float64, case=CASE, conditioning=cond
    )
    bad = compare(
        np.array([1e-6, 0.0]), np.zeros(2), tensor="t", dtype=np.float64, case=CASE, conditioning=cond
    )
    assert ok.passed and not bad.passed and bad.condition == 1.0


def test_conditioning_of_the_wrong_shape_is_a_usage_error():
    with pytest.raises(ValueError, match="conditioning of 't' has shape"):
        compare(
            np.ones(3),
            np.ones(3),
            tensor="t",
            dtype=np.float64,
            case=CASE,
            conditioning=Conditioning(np.ones(2), 1),
        )


def test_float32_is_judged_against_float64_reference_and_torch32s_own_error_is_reported():
    rng = np.random.default_rng(0)
    exact = rng.standard_normal(100)
    torch32 = exact.astype(np.float32)  # correctly rounded: about half an ulp from exact
    good = torch32.copy()
    c = compare(good, torch32, tensor="t", dtype=np.float32, case=CASE, reference=exact)
    assert c.passed and c.torch_error > 0 and c.checked_error == pytest.approx(c.torch_error)
    bad = (exact * (1 + 1e-5)).astype(np.float32)
    c = compare(bad, torch32, tensor="t", dtype=np.float32, case=CASE, reference=exact)
    assert not c.passed and c.checked_error > c.tolerance
    assert "torch float32" in c.describe()


def test_float32_without_reference_is_a_usage_error():
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="float64 torch reference"):
        compare(x, x, tensor="t", dtype=np.float32, case=CASE)


def test_parity_error_lists_every_failure():
    d = np.ones(3)
    f1 = compare(d * 2, d, tensor="dW1", dtype=np.float64, case=CASE)
    f2 = compare(d * 3, d, tensor="db1", dtype=np.float64, case=CASE)
    msg = str(ParityError([f1, f2]))
    assert msg.startswith("2 tensor(s)") and "'dW1'" in msg and "'db1'" in msg


def test_rows_are_builtin_types_only():
    c = compare(
        np.float32([1, 2]),
        np.float32([1, 2]),
        tensor="t",
        dtype=np.float32,
        case=CASE,
        reference=np.float64([1, 2]),
    )
    for key, value in c.row().items():
        assert value is None or type(value) in (str, int, float, bool), key


def test_normwise_error_handles_huge_values_without_overflow():
    d = np.array([1e300, 1e300])
    assert normwise_error(d * (1 + 1e-15), d) == pytest.approx(1e-15, rel=0.2)


def test_ulp_distance_across_zero_and_in_float32():
    assert ulp_distance(np.float64([-0.0]), np.float64([0.0])) == 0
    tiny = np.nextafter(np.float32(0), np.float32(1))
    assert ulp_distance(np.float32([tiny]), np.float32([-tiny])) == 2
    assert ulp_distance(np.float32([1.0]), np.float32([np.nextafter(np.float32(1), np.float32(2))])) == 1


def test_a_branch_chosen_by_rounding_is_allowed_its_jump_and_no_more():
    r = np.array([1.0, 2.0, 3.0])
    flipped = r + np.array([0.0, 0.5, 0.0])  # one ReLU unit at its kink took the other branch
    cond = Conditioning(np.abs(r), 4, jump=np.array([0.0, 0.5, 0.0]))
    assert compare(flipped, r, tensor="dW1", dtype=np.float64, case=CASE, conditioning=cond).passed
    assert not compare(
        flipped, r, tensor="dW1", dtype=np.float64, case=CASE, conditioning=Conditioning(np.abs(r), 4)
    ).passed
    c = compare(
        r + np.array([0.0, 0.5, 0.1]), r, tensor="dW1", dtype=np.float64, case=CASE, conditioning=cond
    )
    assert not c.passed and "ReLU kink" in c.rule
