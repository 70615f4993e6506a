"""Self-tests of `reference`, the torch.autograd side of the parity harness.

These check the reference's wiring (hand formulas at a few points, the notebook's worked values, shapes,
dtypes, no mutation) and its stacked-run machinery; they never import the engine under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference
from reference.training import clip_per_run

# One computation against a hand formula (float64 formula, result in the named dtype): (rtol, atol).
ROUNDING = {"float32": (1.3e-6, 1e-6), "float64": (1e-13, 1e-13)}
# Two computations of the same quantity that round differently, followed through 200 SGD epochs.
DRIFT = {"float32": (1e-5, 1e-5), "float64": (1e-12, 1e-12)}
DTYPES = ("float32", "float64")
ACTIVATIONS = ("relu", "tanh")

XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def assert_close(actual, desired, dtype, table=ROUNDING, what="", compute_dtype=None):
    """Reference result is ACTUAL, the independent expectation is DESIRED; shape and dtype first.

    dtype: the dtype `actual` must have; the tolerance is `table[compute_dtype or dtype]`.
    """
    actual = np.asarray(actual)
    assert actual.shape == np.shape(desired), f"{what}: shape {actual.shape} != {np.shape(desired)}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype} != {dtype}"
    rtol, atol = table[compute_dtype or dtype]
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol, err_msg=f"{what} ({dtype})")


def random_params(rng, n_in=2, n_hidden=4, n_out=1, runs=None):
    lead = () if runs is None else (runs,)
    return {
        "W1": rng.standard_normal((*lead, n_hidden, n_in)),
        "b1": 0.1 * rng.standard_normal((*lead, n_hidden, 1)),
        "W2": rng.standard_normal((*lead, n_out, n_hidden)) * np.sqrt(2 / n_hidden),
        "b2": 0.1 * rng.standard_normal((*lead, n_out, 1)),
    }


def run(params, r):
    return {k: v[r] for k, v in params.items()}


# --- conversion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    ["float32", np.float32, np.dtype("float64"), "float64", np.float64],
    ids=["str32", "np32", "npdtype64", "str64", "np64"],
)
def test_dtype_spellings_accepted(dtype):
    out = reference.gate("exp", [np.zeros(2)], np.ones(2), dtype=dtype)
    assert out.output.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", ["float16", "int64", np.int32, "complex128", "nonsense"])
def test_non_float32_64_dtype_refused(dtype):
    with pytest.raises(ValueError, match="float32 or float64"):
        reference.gate("exp", [np.zeros(2)], np.ones(2), dtype=dtype)


@pytest.mark.parametrize("bad", [np.arange(3), np.array([True, False]), np.ones(2, complex), [1.0, 2.0]])
def test_non_floating_input_refused(bad):
    with pytest.raises(TypeError):
        reference.gate("exp", [bad], np.ones(len(bad)), dtype="float64")


def test_float64_of_float32_input_is_exact():
    x32 = np.random.default_rng(1).standard_normal(7).astype(np.float32)
    res = reference.gate("multiply", [x32, 1.0], np.ones(7), dtype="float64")
    assert res.output.dtype == np.float64
    np.testing.assert_array_equal(res.output, x32.astype(np.float64))


def test_float32_in_float32_out():
    rng = np.random.default_rng(2)
    params = {k: v.astype(np.float32) for k, v in random_params(rng).items()}
    res = reference.network(
        params, XOR_X.astype(np.float32), XOR_Y.astype(np.float32), activation="tanh", dtype="float32"
    )
    for arr in (res.p, res.z2, res.loss, *res.grads.values()):
        assert arr.dtype == np.float32


# --- gates ----------------------------------------------------------------------------------------

_up = np.array([0.7, -1.3, 2.1])  # a drawn-looking upstream, never ones


def _gate_cases():
    x = np.array([-1.5, 0.0, 2.0])
    y = np.array([0.5, 3.0, -2.0])
    A = np.arange(6.0).reshape(2, 3) / 4 - 0.5
    B = np.arange(6.0).reshape(3, 2) / 3 - 1.0
    U = np.array([[0.3, -1.1], [2.0, 0.7]])
    V = np.array([[0.4, -0.9, 1.7], [-2.2, 0.6, 1.1]])
    sig = 1 / (1 + np.exp(-x))
    return {
        "add": ("add", [x, y], None, _up, x + y, [_up, _up]),
        "add_python_number": ("add", [x, 3.0], None, _up, x + 3, [_up, np.array(_up.sum())]),
        "add_broadcast_row": ("add", [A, x], None, V, A + x, [V, V.sum(0)]),
        "multiply": ("multiply", [x, y], None, _up, x * y, [_up * y, _up * x]),
        "power_3": ("power", [x], 3, _up, x**3, [_up * 3 * x**2]),
        "power_0_grad_is_0": ("power", [x], 0, _up, np.ones(3), [np.zeros(3)]),
        "exp": ("exp", [x], None, _up, np.exp(x), [_up * np.exp(x)]),
        "sigmoid": ("sigmoid", [x], None, _up, sig, [_up * sig * (1 - sig)]),
        "relu_grad_0_at_0": ("relu", [x], None, _up, np.maximum(x, 0), [_up * np.array([0.0, 0.0, 1.0])]),
        "tanh": ("tanh", [x], None, _up, np.tanh(x), [_up * (1 - np.tanh(x) ** 2)]),
        "matmul": ("matmul", [A, B], None, U, A @ B, [U @ B.T, A.T @ U]),
    }


GATE_CASES = _gate_cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GATE_CASES.values(), ids=GATE_CASES.keys())
def test_gate_matches_hand_formula(case, dtype):
    name, inputs, exponent, upstream, out, grads = case
    res = reference.gate(name, inputs, upstream, exponent=exponent, dtype=dtype)
    assert_close(res.output, out, dtype, what=f"{name} output")
    assert isinstance(res.grads, tuple) and len(res.grads) == len(inputs)
    for i, (g, want) in enumerate(zip(res.grads, grads, strict=True)):
        assert_close(g, want, dtype, what=f"{name} grad {i}")


def test_gate_relu_at_zero_has_zero_gradient_exactly():
    res = reference.gate("relu", [np.array([0.0, -0.0])], np.array([5.0, 5.0]), dtype="float64")
    np.testing.assert_array_equal(res.grads[0], [0.0, 0.0])


def test_gate_exp_overflows_to_inf():
    res = reference.gate("exp", [np.array([1000.0])], np.array([1.0]), dtype="float64")
    assert np.isinf(res.output[0]) and np.isinf(res.grads[0][0])


@pytest.mark.parametrize(
    "name, inputs, exponent",
    [
        ("sqrt", [np.ones(2)], None),
        ("add", [np.ones(2)], None),
        ("exp", [np.ones(2), np.ones(2)], None),
        ("power", [np.ones(2)], None),
        ("exp", [np.ones(2)], 2),
    ],
    ids=["unknown", "add_one_input", "exp_two_inputs", "power_no_exponent", "exp_with_exponent"],
)
def test_gate_misuse_refused(name, inputs, exponent):
    with pytest.raises(ValueError):
        reference.gate(name, inputs, np.ones(2), exponent=exponent, dtype="float64")


# --- worked graphs (the notebook's values) --------------------------------------------------------

NOTEBOOK_GRAPHS = {
    "add_mul": ({"x": 2.0, "y": 3.0, "z": 4.0}, 20.0, {"x": 4.0, "y": 4.0, "z": 5.0}),
    "shared_input": ({"a": 1.0, "b": 2.0, "c": 3.0}, 15.0, {"a": 5.0, "b": 8.0, "c": 3.0}),
    "two_paths": ({"x": 3.0}, 24.0, {"x": 14.0}),
    "chain_square": ({"x": 1.0}, 16.0, {"x": 24.0}),
    "sigmoid_mul_add": ({"x": 1.0, "y": 2.0, "z": -2.0}, 0.5, {"x": 0.5, "y": 0.25, "z": 0.25}),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NOTEBOOK_GRAPHS)
def test_graph_notebook_values(name, dtype):
    inputs, value, grads = NOTEBOOK_GRAPHS[name]
    res = reference.graph(name, inputs, dtype=dtype)
    assert_close(res.value, np.array(value), dtype, what=f"{name} value")
    assert set(res.grads) == set(inputs)
    for k, want in grads.items():
        assert_close(res.grads[k], np.array(want), dtype, what=f"{name} d/d{k}")


def test_graph_arrays_with_drawn_upstream():
    rng = np.random.default_rng(3)
    a, b, c, up = rng.standard_normal((4, 5))
    res = reference.graph("shared_input", {"a": a, "b": b, "c": c}, up, dtype="float64")
    assert_close(res.value, (a + b) * (b + c), "float64", what="value")
    assert_close(res.grads["a"], up * (b + c), "float64", what="d/da")
    assert_close(res.grads["b"], up * (a + 2 * b + c), "float64", what="d/db")
    assert_close(res.grads["c"], up * (a + b), "float64", what="d/dc")


@pytest.mark.parametrize(
    "inputs", [{"x": 1.0}, {"x": 1.0, "y": 2.0, "z": 3.0, "w": 4.0}], ids=["missing", "extra"]
)
def test_graph_wrong_inputs_refused(inputs):
    with pytest.raises(ValueError, match="takes inputs"):
        reference.graph("add_mul", inputs, dtype="float64")


# --- network --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_network_shapes_finite_and_loss_formula(activation, dtype):
    rng = np.random.default_rng(4)
    params = random_params(rng, n_in=3, n_hidden=5, n_out=2)
    X, y = rng.standard_normal((3, 6)), (rng.random((2, 6)) > 0.5).astype(float)
    res = reference.network(params, X, y, activation=activation, dtype=dtype)
    z1 = params["W1"] @ X + params["b1"]
    a1 = np.maximum(z1, 0) if activation == "relu" else np.tanh(z1)
    z2 = params["W2"] @ a1 + params["b2"]
    p = 1 / (1 + np.exp(-z2))
    assert_close(res.z2, z2, dtype, table=DRIFT, what="z2")
    assert_close(res.p, p, dtype, table=DRIFT, what="p")
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert_close(res.loss, np.array(bce), dtype, table=DRIFT, what="loss")
    assert set(res.grads) == set(reference.PARAM_NAMES)
    for k, g in res.grads.items():
        assert g.shape == params[k].shape and g.dtype == np.dtype(dtype) and np.all(np.isfinite(g)), k


def test_network_float64_of_float32_params_is_exact():
    rng = np.random.default_rng(5)
    p32 = {k: v.astype(np.float32) for k, v in random_params(rng).items()}
    a = reference.network(p32, XOR_X.astype(np.float32), XOR_Y, activation="tanh", dtype="float64")
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    b = reference.network(p64, XOR_X, XOR_Y, activation="tanh", dtype="float64")
    for k in reference.PARAM_NAMES:
        np.testing.assert_array_equal(a.grads[k], b.grads[k])


@pytest.mark.parametrize(
    "mutate",
    [lambda p: p.pop("b2"), lambda p: p.update(b1=p["b1"][:3]), lambda p: p.update(W2=p["W2"][None])],
    ids=["missing_key", "b1_shape", "mixed_stacking"],
)
def test_network_bad_params_refused(mutate):
    params = random_params(np.random.default_rng(6))
    mutate(params)
    with pytest.raises(ValueError):
        reference.network(params, XOR_X, XOR_Y, activation="relu", dtype="float64")


def test_network_bad_activation_refused():
    with pytest.raises(ValueError, match="activation"):
        params = random_params(np.random.default_rng(6))
        reference.network(params, XOR_X, XOR_Y, activation="gelu", dtype="float64")


# NOTE: stacked and per-run results agree to rounding, not bitwise in general: torch's CPU sigmoid (used in
# the BCE-with-logits backward) rounds an element differently depending on the tensor's length (vector
# body vs tail), and a mean whose element count is not a power of two is scaled by 1/N in one path and
# divided by N in the other.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shared", [True, False], ids=["shared_data", "per_run_data"])
def test_stacked_network_equals_single_networks(shared, activation, dtype):
    rng = np.random.default_rng(7)
    R, n_in, m = 4, 3, 5
    params = random_params(rng, n_in=n_in, n_hidden=6, n_out=2, runs=R)
    X = rng.standard_normal((n_in, m) if shared else (R, n_in, m))
    y = (rng.random((2, m) if shared else (R, 2, m)) > 0.5).astype(float)
    stacked = reference.network(params, X, y, activation=activation, dtype=dtype)
    assert stacked.loss.shape == (R,)
    for r in range(R):
        one = reference.network(
            run(params, r), X if shared else X[r], y if shared else y[r], activation=activation, dtype=dtype
        )
        assert_close(stacked.loss[r], one.loss, dtype, table=DRIFT, what=f"run {r} loss")
        assert_close(stacked.z2[r], one.z2, dtype, table=DRIFT, what=f"run {r} z2")
        for k in reference.PARAM_NAMES:
            assert_close(stacked.grads[k][r], one.grads[k], dtype, table=DRIFT, what=f"run {r} d{k}")


# --- clipping -------------------------------------------------------------------------------------

GRADS = [np.array([3.0, 4.0]), np.array([[12.0]])]  # global 2-norm 13, inf-norm 12


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "max_norm, norm_type, total",
    [(26.0, 2.0, 13.0), (6.5, 2.0, 13.0), (3.0, float("inf"), 12.0)],
    ids=["below_max", "above_max", "inf_norm"],
)
def test_clip_hand_values(max_norm, norm_type, total, dtype):
    before = [g.copy() for g in GRADS]
    res = reference.clip(GRADS, max_norm, norm_type=norm_type, dtype=dtype)
    coef = min(1.0, max_norm / (total + 1e-6))
    assert_close(res.total_norm, np.array(total), dtype, what="total_norm")
    assert_close(res.coef, np.array(coef), dtype, what="coef")
    for g, g0 in zip(res.grads, GRADS, strict=True):
        assert_close(g, g0 * coef, dtype, what="clipped grad")
    for g, g0 in zip(GRADS, before, strict=True):
        np.testing.assert_array_equal(g, g0)


def test_clip_below_max_still_scales_by_coef():
    # coef = clamp(max/(total+1e-6), max=1) is applied always; here it is exactly 1.
    res = reference.clip(GRADS, 26.0, dtype="float64")
    assert res.coef == 1.0
    np.testing.assert_array_equal(res.grads[0], GRADS[0])


@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_clip_nonfinite_raises_only_when_asked(bad):
    grads = [np.array([1.0, bad])]
    with pytest.raises(RuntimeError, match="non-finite"):
        reference.clip(grads, 1.0, error_if_nonfinite=True, dtype="float64")
    res = reference.clip(grads, 1.0, dtype="float64")
    assert not np.isfinite(res.total_norm)


def test_clip_no_grads_total_is_zero():
    res = reference.clip([], 1.0, dtype="float64")
    assert res.grads == [] and res.total_norm == 0.0 and res.total_norm.dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_per_run_clipping_is_bitwise_clip_grad_norm_per_run(dtype):
    rng = np.random.default_rng(8)
    tdtype = getattr(torch, dtype)
    grads = random_params(rng, n_in=3, n_hidden=5, runs=6)
    grads["W1"][2] *= 100  # some runs clipped, some not
    ps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=tdtype)) for g in grads.values()]
    for p, g in zip(ps, grads.values(), strict=True):
        p.grad = torch.from_numpy(g.copy()).to(tdtype)
    totals = clip_per_run(ps, 2.0, 2.0)
    for r in range(6):
        one = reference.clip([g[r] for g in grads.values()], 2.0, dtype=dtype)
        assert totals[r].item() == one.total_norm
        for p, g in zip(ps, one.grads, strict=True):
            np.testing.assert_array_equal(p.grad[r].numpy(), g)


# --- training -------------------------------------------------------------------------------------


def test_train_first_loss_and_step_match_network():
    rng = np.random.default_rng(9)
    params = random_params(rng)
    before = {k: v.copy() for k, v in params.items()}
    X, y = XOR_X.copy(), XOR_Y.copy()
    res = reference.train(params, X, y, epochs=1, lr=0.5, activation="relu", dtype="float64")
    net = reference.network(before, XOR_X, XOR_Y, activation="relu", dtype="float64")
    assert res.losses.shape == (1,) and res.losses.dtype == np.float64 and res.total_norms is None
    assert res.losses[0] == net.loss
    for k in reference.PARAM_NAMES:
        np.testing.assert_array_equal(res.params[k], before[k] - 0.5 * net.grads[k])  # lr = 2**-1: exact
        np.testing.assert_array_equal(params[k], before[k])
    np.testing.assert_array_equal(X, XOR_X)
    np.testing.assert_array_equal(y, XOR_Y)


def test_train_float32_and_clipping_records():
    params = random_params(np.random.default_rng(10))
    res = reference.train(
        params, XOR_X, XOR_Y, epochs=5, lr=1.0, activation="tanh", dtype="float32", max_norm=0.1
    )
    assert res.losses.dtype == np.float64 and res.total_norms.shape == (5,)
    assert all(v.dtype == np.float32 for v in res.params.values())
    # losses are float32 values widened exactly
    np.testing.assert_array_equal(res.losses, res.losses.astype(np.float32).astype(np.float64))


def test_train_learns_xor():
    params = random_params(np.random.default_rng(0))
    res = reference.train(params, XOR_X, XOR_Y, epochs=300, lr=1.0, activation="tanh", dtype="float64")
    assert res.losses[-1] < 0.5 * res.losses[0]


STACKED_TRAIN = {
    f"{act}-{dt}-{'shared' if shared else 'per_run'}-{'clip' if clip else 'noclip'}": (act, dt, shared, clip)
    for act, dt, shared, clip in [
        ("relu", "float32", True, False),
        ("tanh", "float64", True, False),
        ("tanh", "float32", False, True),
        ("relu", "float64", True, True),
    ]
}


# Agreement to rounding (see the NOTE above test_stacked_network_equals_single_networks): measured on XOR,
# max |loss difference| over 10,000 epochs is ~4e-7 (float32) and ~4e-16 (float64). Per-run clipping
# itself is exact (test_per_run_clipping_is_bitwise_clip_grad_norm_per_run).
@pytest.mark.parametrize("case", STACKED_TRAIN.values(), ids=STACKED_TRAIN.keys())
def test_stacked_train_equals_single_trains(case):
    activation, dtype, shared, clip = case
    rng = np.random.default_rng(11)
    R, epochs, max_norm = 3, 200, (0.5 if clip else None)
    params = random_params(rng, runs=R)
    X = XOR_X if shared else XOR_X + 0.1 * rng.standard_normal((R, 2, 4))
    before = {k: v.copy() for k, v in params.items()}
    stacked = reference.train(
        params, X, XOR_Y, epochs=epochs, lr=1.0, activation=activation, dtype=dtype, max_norm=max_norm
    )
    assert stacked.losses.shape == (epochs, R)
    for k in reference.PARAM_NAMES:
        np.testing.assert_array_equal(params[k], before[k])
    for r in range(R):
        one = reference.train(
            run(params, r),
            X if shared else X[r],
            XOR_Y,
            epochs=epochs,
            lr=1.0,
            activation=activation,
            dtype=dtype,
            max_norm=max_norm,
        )
        assert_close(stacked.losses[:, r], one.losses, "float64", DRIFT, f"run {r} losses", dtype)
        if clip:
            assert stacked.total_norms.shape == (epochs, R)
            assert_close(
                stacked.total_norms[:, r], one.total_norms, "float64", DRIFT, f"run {r} norms", dtype
            )
        for k in reference.PARAM_NAMES:
            assert_close(stacked.params[k][r], one.params[k], dtype, table=DRIFT, what=f"run {r} {k}")


def test_set_threads_is_repeatable():
    before = torch.get_num_threads()
    reference.set_threads(1)
    reference.set_threads(1)
    assert torch.get_num_threads() == 1
    reference.set_threads(before)
