"""The gates' numerics (edge values, dtypes, broadcasting, random-upstream gradients) and gradient
clipping."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from engine_support import GRAD_RTOL, ROUNDING_RTOL, assert_same, strict_fp

import scratch_nn as sn

# -- Sigmoid ---------------------------------------------------------------------------------------------

SATURATING = {
    "float64-1000": (np.float64, 1000.0),
    "float64-745": (np.float64, 745.2),
    "float64-710": (np.float64, 710.0),
    "float32-1000": (np.float32, 1000.0),
    "float32-104": (np.float32, 104.0),
    "float32-89": (np.float32, 89.0),
}


@pytest.mark.parametrize("dtype, x", SATURATING.values(), ids=SATURATING.keys())
def test_sigmoid_saturates_without_overflow_warning_or_nan(dtype, x):
    gate = sn.Sigmoid()
    with strict_fp():
        p = gate.forward(np.array([-x, x], dtype))
        (grad,) = gate.backward(np.ones(2, dtype))
    assert p.dtype == dtype and grad.dtype == dtype
    assert p[1] == 1.0
    assert 0.0 <= p[0] < 1e-30 and np.isfinite(p).all()
    assert np.isfinite(grad).all() and (grad >= 0).all()


def test_sigmoid_is_accurate_in_both_tails():
    x = np.array([-700.0, -40.0, -5.0, -1e-8, 0.0, 1e-8, 5.0, 40.0, 700.0])
    # reference: exp(x) / (1 + exp(x)) for x < 0 and 1 / (1 + exp(-x)) for x >= 0, each exact to ~1 ulp
    desired = np.where(
        x < 0, np.exp(np.minimum(x, 0)) / (1 + np.exp(np.minimum(x, 0))), 1 / (1 + np.exp(-np.maximum(x, 0)))
    )
    assert_same(sn.Sigmoid().forward(x), desired, rtol=ROUNDING_RTOL[np.dtype(np.float64)], what="sigmoid")
    assert sn.Sigmoid().forward(np.array(0.0)) == 0.5


def test_sigmoid_backward_is_torchs_formula_from_the_saved_output():
    rng = np.random.default_rng(1)
    gate = sn.Sigmoid()
    p = gate.forward(rng.standard_normal(5))
    g = rng.standard_normal(5)
    assert_same(gate.backward(g)[0], g * (1 - p) * p, what="sigmoid backward")


# -- ReLU ------------------------------------------------------------------------------------------------

RELU_POINTS = {
    "negative": (-2.0, 0.0, 0.0),
    "zero": (0.0, 0.0, 0.0),
    "negative-zero": (-0.0, 0.0, 0.0),
    "positive": (3.0, 3.0, 1.0),
    "tiny-positive": (5e-324, 5e-324, 1.0),
}


@pytest.mark.parametrize("x, out, derivative", RELU_POINTS.values(), ids=RELU_POINTS.keys())
def test_relu_value_and_derivative(x, out, derivative):
    gate = sn.ReLU()
    assert gate.forward(np.array([x]))[0] == out
    upstream = np.array([-1.5])
    assert gate.backward(upstream)[0][0] == derivative * -1.5


def test_relu_derivative_at_exactly_zero_is_zero_even_mixed_in():
    gate = sn.ReLU()
    gate.forward(np.array([-1.0, 0.0, 1.0]))
    (grad,) = gate.backward(np.array([7.0, 7.0, 7.0]))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 7.0])


def test_relu_propagates_nan_like_torch():
    gate = sn.ReLU()
    out = gate.forward(np.array([np.nan, -1.0]))
    assert np.isnan(out[0]) and out[1] == 0.0
    (grad,) = gate.backward(np.array([2.0, 2.0]))
    assert grad[0] == 2.0  # torch's threshold_backward zeroes only where out <= 0, which NaN is not


# -- Exp -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, x", [(np.float64, 1000.0), (np.float32, 200.0)], ids=["float64-1000", "float32-200"]
)
def test_exp_overflows_to_inf_without_clipping_or_warning(dtype, x):
    gate = sn.Exp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = gate.forward(np.array([x, -x, 0.0], dtype))
    assert out[0] == np.inf and out[1] == 0.0 and out[2] == 1.0
    (grad,) = gate.backward(np.array([2.0, 2.0, 2.0], dtype))
    assert grad[0] == np.inf and grad[2] == 2.0


SILENT_IEEE = {
    # name: (gate factory, inputs, upstream): results that are inf or NaN by IEEE rules, as torch returns them
    "Exp-backward-overflow": (sn.Exp, (np.array([88.0], np.float32),), np.array([3.0], np.float32)),
    "Multiply-overflow": (sn.Multiply, (np.array([1e308]), 10.0), np.array([1.0])),
    "Add-inf-minus-inf": (sn.Add, (np.array([np.inf]), -np.inf), np.array([1.0])),
    "Tanh-backward-inf-times-0": (sn.Tanh, (np.array([50.0]),), np.array([np.inf])),
    "MatMul-overflow": (sn.MatMul, (np.full((1, 2), 1e308), np.full((2, 1), 1e308)), np.ones((1, 1))),
}


@pytest.mark.parametrize("make, inputs, upstream", SILENT_IEEE.values(), ids=SILENT_IEEE.keys())
def test_gates_return_ieee_results_without_warnings(make, inputs, upstream):
    gate = make()
    with strict_fp():
        out = gate.forward(*inputs)
        grads = gate.backward(upstream)
    assert not (np.isfinite(out).all() and all(np.isfinite(g).all() for g in grads))


# -- Power -----------------------------------------------------------------------------------------------

POWER_POINTS = {
    # name: (exponent, x, out, derivative)
    "square-at-0": (2, 0.0, 0.0, 0.0),
    "square-negative-base": (2, -3.0, 9.0, -6.0),
    "cube-negative-base": (3, -2.0, -8.0, 12.0),
    "cube-float-exponent-negative-base": (3.0, -2.0, -8.0, 12.0),
    "exponent-0-at-0": (0, 0.0, 1.0, 0.0),
    "exponent-0-at-negative": (0, -5.0, 1.0, 0.0),
    "exponent-0-at-inf": (0, np.inf, 1.0, 0.0),
    "exponent-0-at-nan": (0, np.nan, 1.0, 0.0),
    "exponent-1-at-0": (1, 0.0, 0.0, 1.0),
    "reciprocal-at-0": (-1, 0.0, np.inf, -np.inf),
    "reciprocal-at-negative-0": (-1, -0.0, -np.inf, -np.inf),
    "inverse-square-at-0": (-2, 0.0, np.inf, -np.inf),
    "sqrt-at-4": (0.5, 4.0, 2.0, 0.25),
    "sqrt-at-negative": (0.5, -4.0, np.nan, np.nan),
}


@pytest.mark.parametrize("exponent, x, out, derivative", POWER_POINTS.values(), ids=POWER_POINTS.keys())
def test_power_edge_values(exponent, x, out, derivative):
    gate = sn.Power(exponent)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 ** negative and negative ** 0.5 are IEEE results, silently
        got = gate.forward(np.array([x]))
        (grad,) = gate.backward(np.array([1.0]))
    np.testing.assert_array_equal(got, [out])
    np.testing.assert_array_equal(grad, [derivative])


def test_power_gradient_of_exponent_zero_is_exactly_zero_for_any_upstream():
    gate = sn.Power(0)
    gate.forward(np.array([0.0, 2.0, -np.inf]))
    (grad,) = gate.backward(np.array([np.inf, np.nan, 3.0]))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])


def test_power_of_a_python_number_is_a_float64_array():
    gate = sn.Power(-1)
    out = gate.forward(0.0)  # Python arithmetic would raise ZeroDivisionError here
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out == np.inf


# -- dtypes and broadcasting -----------------------------------------------------------------------------

GATE_CALLS = {
    # name: (gate factory, inputs as functions of a float32 array x)
    "Add-scalar": (sn.Add, lambda x: (x, 1.0)),
    "Multiply-scalar": (sn.Multiply, lambda x: (3.0, x)),
    "Power": (lambda: sn.Power(3), lambda x: (x,)),
    "Exp": (sn.Exp, lambda x: (x,)),
    "Sigmoid": (sn.Sigmoid, lambda x: (x,)),
    "ReLU": (sn.ReLU, lambda x: (x,)),
    "Tanh": (sn.Tanh, lambda x: (x,)),
    "MatMul": (sn.MatMul, lambda x: (x, x.T.copy())),
}


@pytest.mark.parametrize("make, inputs", GATE_CALLS.values(), ids=GATE_CALLS.keys())
def test_float32_stays_float32_with_python_scalars(make, inputs):
    x = np.random.default_rng(2).standard_normal((3, 3)).astype(np.float32)
    gate = make()
    args = inputs(x)
    out = gate.forward(*args)
    assert out.dtype == np.float32
    grads = gate.backward(np.ones_like(out))
    assert len(grads) == len(args)
    for arg, grad in zip(args, grads, strict=True):
        assert grad.shape == np.shape(arg)
        assert grad.dtype == np.float32


def test_mixed_precision_gradients_come_back_in_each_inputs_dtype():
    gate = sn.Multiply()
    a, b = np.ones(3, np.float32), np.full(3, 2.0)
    out = gate.forward(a, b)
    assert out.dtype == np.float64  # NumPy promotion, as torch's
    da, db = gate.backward(np.ones(3))
    assert da.dtype == np.float32 and db.dtype == np.float64


def test_broadcast_bias_gradient_is_summed_to_its_shape():
    rng = np.random.default_rng(3)
    z, b = rng.standard_normal((4, 6)), rng.standard_normal((4, 1))
    gate = sn.Add()
    gate.forward(z, b)
    g = rng.standard_normal((4, 6))
    dz, db = gate.backward(g)
    assert db.shape == (4, 1)
    assert_same(db, g.sum(axis=1, keepdims=True), what="db")
    assert_same(dz, g, what="dz")


def test_scalar_input_gradient_is_the_sum_over_everything():
    gate = sn.Add()
    gate.forward(np.ones((2, 3)), 5.0)
    g = np.arange(6.0).reshape(2, 3)
    _, d_scalar = gate.backward(g)
    assert d_scalar.shape == () and d_scalar == 15.0


def test_stacked_matmul_sums_the_shared_operands_gradient_over_runs():
    rng = np.random.default_rng(4)
    W, X = rng.standard_normal((3, 4, 2)), rng.standard_normal((2, 5))  # R = 3 runs share X
    gate = sn.MatMul()
    out = gate.forward(W, X)
    assert out.shape == (3, 4, 5)
    g = rng.standard_normal((3, 4, 5))
    dW, dX = gate.backward(g)
    assert dW.shape == W.shape and dX.shape == X.shape
    for r in range(3):
        assert_same(dW[r], g[r] @ X.T, what=f"dW[{r}]")
    assert_same(dX, sum(W[r].T @ g[r] for r in range(3)), rtol=ROUNDING_RTOL[np.dtype(np.float64)], what="dX")


def test_matmul_broadcasts_batch_axes_of_both_inputs():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))
    gate = sn.MatMul()
    out = gate.forward(a, b)
    assert out.shape == (2, 5, 3, 2)
    da, db = gate.backward(rng.standard_normal(out.shape))
    assert da.shape == a.shape and db.shape == b.shape


# -- every gate's backward against central differences, with a random upstream ---------------------------

NUMERIC_CASES = {
    # name: (gate factory, input shapes, input transform keeping away from kinks and domain edges)
    "Add-broadcast": (sn.Add, [(3, 4), (3, 1)], None),
    "Multiply-broadcast": (sn.Multiply, [(1, 4), (3, 4)], None),
    "Power-3": (lambda: sn.Power(3), [(3, 4)], None),
    "Power-negative-half": (lambda: sn.Power(-0.5), [(3, 4)], lambda x: np.abs(x) + 0.5),
    "Power-0": (lambda: sn.Power(0), [(3, 4)], None),
    "Exp": (sn.Exp, [(3, 4)], None),
    "Sigmoid": (sn.Sigmoid, [(3, 4)], lambda x: 4 * x),
    "ReLU": (sn.ReLU, [(3, 4)], lambda x: np.where(np.abs(x) < 0.1, 0.5, x)),
    "Tanh": (sn.Tanh, [(3, 4)], None),
    "MatMul": (sn.MatMul, [(3, 2), (2, 4)], None),
    "MatMul-stacked-shared": (sn.MatMul, [(2, 3, 2), (2, 4)], None),
}


@pytest.mark.parametrize("make, shapes, transform", NUMERIC_CASES.values(), ids=NUMERIC_CASES.keys())
def test_gate_backward_matches_central_differences(make, shapes, transform):
    rng = np.random.default_rng(6)
    inputs = [rng.standard_normal(s) for s in shapes]
    if transform is not None:
        inputs = [transform(x) for x in inputs]
    gate = make()
    out = gate.forward(*inputs)
    upstream = rng.standard_normal(out.shape)  # a backward that ignored its upstream would fail here
    analytic = gate.backward(upstream)

    for i, x in enumerate(inputs):

        def weighted_output(xi, i=i):
            return float(np.sum(upstream * make().forward(*inputs[:i], xi, *inputs[i + 1 :])))

        numeric = sn.numerical_gradient(weighted_output, x)
        np.testing.assert_allclose(analytic[i], numeric, rtol=GRAD_RTOL, atol=1e-9, err_msg=f"input {i}")


# -- clipping --------------------------------------------------------------------------------------------


def three_four_twelve(dtype=np.float64):
    """Two tensors whose global 2-norm is 13 (3-4-12-13)."""
    return [np.array([3.0, 4.0], dtype), np.array([[12.0]], dtype)]


def test_clip_below_threshold_leaves_gradients_alone():
    result = sn.clip_grad_norm(three_four_twelve(), max_norm=100.0)
    assert result.total_norm == 13.0 and result.coef == 1.0
    for got, want in zip(result.grads, three_four_twelve(), strict=True):
        assert_same(got, want)


def test_clip_above_threshold_scales_by_max_norm_over_total_plus_eps():
    grads = three_four_twelve()
    result = sn.clip_grad_norm(grads, max_norm=1.0)
    assert result.total_norm == 13.0
    assert result.coef == 1.0 / (13.0 + 1e-6)
    for got, g in zip(result.grads, grads, strict=True):
        assert_same(got, g * (1.0 / (13.0 + 1e-6)))
    assert not np.shares_memory(result.grads[0], grads[0])
    np.testing.assert_array_equal(grads[0], [3.0, 4.0])  # the argument is not mutated


NORMS = {
    "l1": (1.0, 3 + 4 + 12),
    "l2": (2.0, 13.0),
    "linf": (np.inf, 12.0),
    "l3": (3.0, (27 + 64 + 1728) ** (1 / 3)),
}


@pytest.mark.parametrize("norm_type, total", NORMS.values(), ids=NORMS.keys())
def test_clip_norm_types(norm_type, total):
    result = sn.clip_grad_norm(three_four_twelve(), max_norm=1.0, norm_type=norm_type)
    np.testing.assert_allclose(result.total_norm, total, rtol=ROUNDING_RTOL[np.dtype(np.float64)])
    np.testing.assert_allclose(result.coef, 1.0 / (total + 1e-6), rtol=ROUNDING_RTOL[np.dtype(np.float64)])


def test_clip_computes_in_float32_for_float32_gradients():
    result = sn.clip_grad_norm(three_four_twelve(np.float32), max_norm=1.0)
    assert result.total_norm.dtype == np.float32 and result.coef.dtype == np.float32
    assert all(g.dtype == np.float32 for g in result.grads)
    assert result.coef == np.float32(1.0) / (np.float32(13.0) + np.float32(1e-6))


def test_clip_nan_gradient_makes_everything_nan_like_torch():
    result = sn.clip_grad_norm([np.array([1.0, np.nan]), np.array([2.0])], max_norm=1.0)
    assert np.isnan(result.total_norm) and np.isnan(result.coef)
    assert all(np.isnan(g).all() for g in result.grads)


def test_clip_inf_gradient_gives_coef_zero_and_nan_where_inf_like_torch():
    result = sn.clip_grad_norm([np.array([1.0, np.inf]), np.array([2.0])], max_norm=1.0)
    assert result.total_norm == np.inf and result.coef == 0.0
    np.testing.assert_array_equal(result.grads[0], [0.0, np.nan])
    np.testing.assert_array_equal(result.grads[1], [0.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
def test_clip_error_if_nonfinite_raises(bad):
    with pytest.raises(
        RuntimeError,
        match=r"The total norm of order 2\.0 for gradients is non-finite .*error_if_nonfinite=False",
    ):
        sn.clip_grad_norm([np.array([1.0, bad])], max_norm=1.0, error_if_nonfinite=True)


def test_clip_empty_list_has_total_zero():
    result = sn.clip_grad_norm([], max_norm=1.0)
    assert result.grads == [] and result.total_norm == 0.0 and result.coef == 1.0


def test_clip_infinite_max_norm_never_scales():
    result = sn.clip_grad_norm(three_four_twelve(), max_norm=np.inf)
    assert result.coef == 1.0


def test_clip_accepts_params():
    grads = sn.Params(np.ones((2, 2)), np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1)))
    assert sn.clip_grad_norm(grads, max_norm=1.0).total_norm == 3.0


@pytest.mark.parametrize("norm_type", [1.0, 2.0, np.inf], ids=["l1", "l2", "linf"])
def test_clip_per_run_equals_clipping_each_run_alone(norm_type):
    rng = np.random.default_rng(7)
    grads = [
        rng.standard_normal((3, 4, 2)) * 5,
        rng.standard_normal((3, 4, 1)),
        rng.standard_normal((3, 1, 4)),
    ]
    grads[0][1] *= 1e-3  # run 1 stays below the threshold
    result = sn.clip_grad_norm_per_run(grads, max_norm=2.0, norm_type=norm_type)
    assert result.total_norm.shape == (3,) and result.coef.shape == (3,)
    for r in range(3):
        alone = sn.clip_grad_norm([g[r] for g in grads], max_norm=2.0, norm_type=norm_type)
        assert result.total_norm[r] == alone.total_norm
        assert result.coef[r] == alone.coef
        for got, want in zip(result.grads, alone.grads, strict=True):
            np.testing.assert_array_equal(got[r], want)


def test_clip_per_run_error_names_the_run():
    grads = [np.array([[1.0], [np.inf]])]
    with pytest.raises(RuntimeError, match=r"for gradients of run 1 is non-finite"):
        sn.clip_grad_norm_per_run(grads, max_norm=1.0, error_if_nonfinite=True)
