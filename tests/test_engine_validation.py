"""Every bad input to the engine fails early with a TypeError/ValueError/RuntimeError that names the argument,
says what was expected and what came. Each case is one named parametrized test."""

from __future__ import annotations

import re

import numpy as np
import pytest

import scratch_nn as sn
from parity import catalogue
from scratch_nn import graphs

XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def make_net(activation="relu", *, dtype=np.float64, n_runs=None, n_out=1) -> sn.TwoLayerNet:
    return sn.TwoLayerNet.init(
        2, 4, n_out, activation=activation, rng=np.random.default_rng(0), dtype=dtype, n_runs=n_runs
    )


def with_element(a: np.ndarray, index: tuple, value) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


# -- X and y ---------------------------------------------------------------------------------------------

BAD_X = {
    "transposed": (
        XOR_X.T.copy(),
        ValueError,
        r"X must have shape \(n_in, m\) = \(2, m\) to match W1 of shape \(4, 2\); got \(4, 2\)",
    ),
    "1-d": (XOR_X[0].copy(), ValueError, r"X must have shape \(n_in, m\) = \(2, m\) .*got \(4,\)"),
    "3-d-for-single-net": (XOR_X[None], ValueError, r"X must have shape \(n_in, m\) .*got \(1, 2, 4\)"),
    "no-samples": (np.empty((2, 0)), ValueError, r"X must have shape .*got \(2, 0\)"),
    "int64": (
        XOR_X.astype(np.int64),
        TypeError,
        r"X must be a float32 or float64 array; got int64 \(convert with X\.astype\(np\.float64\)\)",
    ),
    "bool": (XOR_X.astype(bool), TypeError, r"X must be a float32 or float64 array; got bool"),
    "object": (XOR_X.astype(object), TypeError, r"X must be a float32 or float64 array; got object"),
    "complex": (XOR_X.astype(complex), TypeError, r"X must be a float32 or float64 array; got complex128"),
    "float16": (XOR_X.astype(np.float16), TypeError, r"X must be a float32 or float64 array; got float16"),
    "list": (XOR_X.tolist(), TypeError, r"X must be a float32 or float64 NumPy array; got list"),
    "nan": (with_element(XOR_X, (1, 0), np.nan), ValueError, r"X holds non-finite values: X\[1, 0\] = nan"),
    "inf": (with_element(XOR_X, (0, 3), -np.inf), ValueError, r"X holds non-finite values: X\[0, 3\] = -inf"),
    "float32-for-float64-net": (
        XOR_X.astype(np.float32),
        TypeError,
        r"X has dtype float32 but the network's parameters have dtype float64",
    ),
}


@pytest.mark.parametrize("X, error, message", BAD_X.values(), ids=BAD_X.keys())
def test_forward_rejects_bad_X(X, error, message):
    with pytest.raises(error, match=message):
        make_net().forward(X)


@pytest.mark.parametrize("method", ["predict", "train"])
def test_predict_and_train_check_X_too(method):
    net = make_net()
    call = net.predict if method == "predict" else (lambda X: net.train(X, XOR_Y, 1, 0.1))
    with pytest.raises(ValueError, match=r"X holds non-finite values: X\[1, 0\] = nan"):
        call(with_element(XOR_X, (1, 0), np.nan))


BAD_Y = {
    "too-few-samples": (
        XOR_Y[:, :3],
        ValueError,
        r"y must have shape \(n_out, m\) = \(1, 4\) to match the output of the last forward\(X\); "
        r"got \(1, 3\)",
    ),
    "too-many-outputs": (
        np.vstack([XOR_Y, XOR_Y]),
        ValueError,
        r"y must have shape \(n_out, m\) = \(1, 4\) .*got \(2, 4\)",
    ),
    "1-d": (XOR_Y[0].copy(), ValueError, r"y must have shape .*got \(4,\)"),
    "int64": (
        XOR_Y.astype(np.int64),
        TypeError,
        r"y must be a float32 or float64 array; got int64 \(convert with y\.astype\(np\.float64\)\)",
    ),
    "bool": (XOR_Y.astype(bool), TypeError, r"y must be a float32 or float64 array; got bool"),
    "complex": (
        XOR_Y.astype(np.complex64),
        TypeError,
        r"y must be a float32 or float64 array; got complex64",
    ),
    "label-above-1": (
        with_element(XOR_Y, (0, 3), 1.5),
        ValueError,
        r"y must hold labels in \[0, 1\]; y\[0, 3\] = 1\.5",
    ),
    "label-below-0": (
        with_element(XOR_Y, (0, 1), -0.25),
        ValueError,
        r"y must hold labels in \[0, 1\]; y\[0, 1\] = -0\.25",
    ),
    "nan": (with_element(XOR_Y, (0, 2), np.nan), ValueError, r"y holds non-finite values: y\[0, 2\] = nan"),
    "inf": (with_element(XOR_Y, (0, 2), np.inf), ValueError, r"y holds non-finite values: y\[0, 2\] = inf"),
    "float32-for-float64-net": (
        XOR_Y.astype(np.float32),
        TypeError,
        r"y has dtype float32 but the network's parameters have dtype float64",
    ),
}


@pytest.mark.parametrize("method", ["loss", "backward", "train"])
@pytest.mark.parametrize("y, error, message", BAD_Y.values(), ids=BAD_Y.keys())
def test_loss_backward_and_train_reject_bad_y(method, y, error, message):
    net = make_net()
    net.forward(XOR_X)
    call = (lambda y: net.train(XOR_X, y, 1, 0.1)) if method == "train" else getattr(net, method)
    message = message.replace("the output of the last forward\\(X\\)", ".*") if method == "train" else message
    with pytest.raises(error, match=message):
        call(y)


def test_stacked_net_names_both_accepted_layouts():
    net = make_net(n_runs=3)
    with pytest.raises(
        ValueError, match=r"X must have shape \(n_in, m\) = \(2, m\) or \(R, n_in, m\) = \(3, 2, m\)"
    ):
        net.forward(np.zeros((2, 2, 4)))
    net.forward(XOR_X)
    with pytest.raises(
        ValueError, match=r"y must have shape \(n_out, m\) = \(1, 4\) or \(R, n_out, m\) = \(3, 1, 4\)"
    ):
        net.loss(np.zeros((2, 1, 4)))


def test_float32_network_refuses_float64_data():
    net = make_net(dtype=np.float32)
    with pytest.raises(TypeError, match=r"X has dtype float64 .* float32 .*X\.astype\(np\.float32\)"):
        net.forward(XOR_X)


# -- network construction --------------------------------------------------------------------------------


def good_params() -> sn.Params:
    return make_net().params.copy()


def replaced(**arrays) -> sn.Params:
    params = good_params()
    for name, a in arrays.items():
        setattr(params, name, a)
    return params


BAD_PARAMS = {
    "not-params": (good_params().as_dict(), TypeError, r"params must be a scratch_nn\.Params; got dict"),
    "W1-int": (
        replaced(W1=np.ones((4, 2), np.int64)),
        TypeError,
        r"W1 must be a float32 or float64 array; got int64",
    ),
    "W1-1d": (replaced(W1=np.ones(4)), ValueError, r"W1 must have shape \(n_hidden, n_in\)"),
    "W1-4d": (replaced(W1=np.ones((1, 1, 4, 2))), ValueError, r"W1 must have shape .*got \(1, 1, 4, 2\)"),
    "W1-empty": (
        replaced(W1=np.ones((0, 2))),
        ValueError,
        r"W1 must have shape .*every size > 0; got \(0, 2\)",
    ),
    "b1-row": (
        replaced(b1=np.zeros((1, 4))),
        ValueError,
        r"b1 must have shape \(n_hidden, 1\) = \(4, 1\) to match W1 \(4, 2\)",
    ),
    "W2-wrong-hidden": (
        replaced(W2=np.ones((1, 3))),
        ValueError,
        r"W2 must have shape \(n_out, n_hidden\) = \(n_out, 4\) .*got \(1, 3\)",
    ),
    "b2-wrong": (
        replaced(b2=np.zeros((2, 1))),
        ValueError,
        r"b2 must have shape \(n_out, 1\) = \(1, 1\) .*got \(2, 1\)",
    ),
    "b1-float32": (
        replaced(b1=np.zeros((4, 1), np.float32)),
        TypeError,
        r"b1 has dtype float32 but W1 has dtype float64",
    ),
    "stacked-W2-unstacked": (
        sn.Params(np.ones((3, 4, 2)), np.zeros((3, 4, 1)), np.ones((1, 4)), np.zeros((3, 1, 1))),
        ValueError,
        r"W2 must have shape \(R, \.\.\.\) \(n_out, n_hidden\) = \(3, n_out, 4\)",
    ),
}


@pytest.mark.parametrize("params, error, message", BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_constructor_rejects_bad_params(params, error, message):
    with pytest.raises(error, match=message):
        sn.TwoLayerNet(params, "relu")


BAD_INIT = {
    "n_in-zero": ({"n_in": 0}, ValueError, r"n_in must be a positive integer; got 0"),
    "n_hidden-negative": ({"n_hidden": -3}, ValueError, r"n_hidden must be a positive integer; got -3"),
    "n_out-zero": ({"n_out": 0}, ValueError, r"n_out must be a positive integer; got 0"),
    "n_runs-zero": ({"n_runs": 0}, ValueError, r"n_runs must be a positive integer; got 0"),
    "n_in-float": ({"n_in": 2.0}, TypeError, r"n_in must be a positive integer; got float 2\.0"),
    "n_hidden-bool": ({"n_hidden": True}, TypeError, r"n_hidden must be a positive integer; got bool True"),
    "activation-unknown": (
        {"activation": "sigmoid"},
        ValueError,
        r"activation must be one of \('relu', 'tanh'\); got 'sigmoid'",
    ),
    "activation-case": ({"activation": "ReLU"}, ValueError, r"activation must be one of .*got 'ReLU'"),
    "activation-none": ({"activation": None}, ValueError, r"activation must be one of .*got None"),
    "rng-legacy": (
        {"rng": np.random.RandomState(0)},
        TypeError,
        r"rng must be a numpy\.random\.Generator .*got RandomState",
    ),
    "rng-seed": ({"rng": 42}, TypeError, r"rng must be a numpy\.random\.Generator .*got int 42"),
    "dtype-int": ({"dtype": np.int32}, TypeError, r"dtype must be np\.float32 or np\.float64"),
    "dtype-half": (
        {"dtype": "float16"},
        TypeError,
        r"dtype must be np\.float32 or np\.float64 .*; got 'float16'",
    ),
}


@pytest.mark.parametrize("change, error, message", BAD_INIT.values(), ids=BAD_INIT.keys())
def test_init_rejects_bad_arguments(change, error, message):
    kwargs = {
        "n_in": 2,
        "n_hidden": 4,
        "n_out": 1,
        "activation": "relu",
        "rng": np.random.default_rng(0),
    } | change
    with pytest.raises(error, match=message):
        sn.TwoLayerNet.init(**kwargs)


def test_constructor_rejects_unknown_activation():
    with pytest.raises(ValueError, match=r"activation must be one of .*got 'gelu'"):
        sn.TwoLayerNet(good_params(), "gelu")


# -- training arguments ----------------------------------------------------------------------------------

BAD_TRAIN = {
    "epochs-zero": ({"epochs": 0}, ValueError, r"epochs must be a positive integer; got 0"),
    "epochs-negative": ({"epochs": -5}, ValueError, r"epochs must be a positive integer; got -5"),
    "epochs-float": ({"epochs": 10.0}, TypeError, r"epochs must be a positive integer; got float 10\.0"),
    "epochs-bool": ({"epochs": True}, TypeError, r"epochs must be a positive integer; got bool True"),
    "epochs-str": ({"epochs": "10"}, TypeError, r"epochs must be a positive integer; got str '10'"),
    "lr-negative": ({"lr": -0.1}, ValueError, r"lr must be a finite number > 0; got -0\.1"),
    "lr-zero": ({"lr": 0}, ValueError, r"lr must be a finite number > 0; got 0\.0"),
    "lr-nan": ({"lr": float("nan")}, ValueError, r"lr must be a finite number > 0; got nan"),
    "lr-inf": ({"lr": float("inf")}, ValueError, r"lr must be a finite number > 0; got inf"),
    "lr-str": ({"lr": "0.1"}, TypeError, r"lr must be a finite number > 0; got str '0\.1'"),
    "lr-bool": ({"lr": True}, TypeError, r"lr must be a finite number > 0; got bool True"),
    "max_norm-zero": (
        {"max_norm": 0.0},
        ValueError,
        r"max_norm must be a number > 0 \(inf allowed\); got 0\.0",
    ),
    "max_norm-negative": (
        {"max_norm": -1},
        ValueError,
        r"max_norm must be a number > 0 \(inf allowed\); got -1\.0",
    ),
    "max_norm-nan": (
        {"max_norm": float("nan")},
        ValueError,
        r"max_norm must be a number > 0 \(inf allowed\); got nan",
    ),
    "max_norm-str": ({"max_norm": "1"}, TypeError, r"max_norm must be a number > 0"),
    "norm_type-zero": (
        {"max_norm": 1.0, "norm_type": 0},
        ValueError,
        r"norm_type must be a number > 0 \(inf allowed\); got 0\.0",
    ),
    "norm_type-nan": (
        {"max_norm": 1.0, "norm_type": float("nan")},
        ValueError,
        r"norm_type must be a number > 0",
    ),
    "norm_type-negative-inf": (
        {"max_norm": 1.0, "norm_type": -np.inf},
        ValueError,
        r"norm_type must be a number > 0 .*got -inf",
    ),
}


@pytest.mark.parametrize("change, error, message", BAD_TRAIN.values(), ids=BAD_TRAIN.keys())
def test_train_rejects_bad_arguments(change, error, message):
    kwargs = {"epochs": 2, "lr": 0.1} | change
    with pytest.raises(error, match=message):
        make_net().train(XOR_X, XOR_Y, **kwargs)


@pytest.mark.parametrize("method", ["loss", "backward"])
def test_loss_and_backward_before_forward_say_call_forward_first(method):
    with pytest.raises(RuntimeError, match=rf"{method}\(\) needs the forward pass .*call forward\(X\) first"):
        getattr(make_net(), method)(XOR_Y)


BAD_SGD = {
    "dict": (lambda g: g.as_dict(), 0.1, TypeError, r"grads must be a scratch_nn\.Params"),
    "shape": (
        lambda g: sn.Params(g.W1.T.copy(), g.b1, g.W2, g.b2),
        0.1,
        ValueError,
        r"grads\.W1 must have the shape of W1 \(4, 2\); got \(2, 4\)",
    ),
    "dtype": (
        lambda g: g.astype(np.float32),
        0.1,
        TypeError,
        r"grads\.W1 has dtype float32 but W1 has dtype float64",
    ),
    "lr": (lambda g: g, -1.0, ValueError, r"lr must be a finite number > 0; got -1\.0"),
}


@pytest.mark.parametrize("mangle, lr, error, message", BAD_SGD.values(), ids=BAD_SGD.keys())
def test_sgd_step_rejects_bad_arguments(mangle, lr, error, message):
    net = make_net()
    net.forward(XOR_X)
    grads = net.backward(XOR_Y)
    with pytest.raises(error, match=message):
        net.sgd_step(mangle(grads), lr)


# -- gates -----------------------------------------------------------------------------------------------


def gate_maker(op: catalogue.Op):
    """The op's engine class, built with the first value of each constant its gate tests sweep."""
    return lambda: getattr(sn, op.engine_class)(*(p.cases[0] for p in op.params))


ALL_GATES = {op.engine_class: gate_maker(op) for op in catalogue.GATES.values()}
UNARY_GATES = {op.engine_class: gate_maker(op) for op in catalogue.GATES.values() if op.arity == 1}


@pytest.mark.parametrize("make", ALL_GATES.values(), ids=ALL_GATES.keys())
def test_gate_backward_before_forward_says_call_forward_first(make):
    gate = make()
    name = type(gate).__name__
    with pytest.raises(
        RuntimeError, match=rf"{name}\.backward\(\) called before {name}\.forward\(\): call forward first"
    ):
        gate.backward(np.ones((2, 2)))


@pytest.mark.parametrize("make", UNARY_GATES.values(), ids=UNARY_GATES.keys())
def test_unary_gate_upstream_must_match_output(make):
    gate = make()
    gate.forward(np.ones((2, 3)))
    name = type(gate).__name__
    with pytest.raises(
        ValueError, match=rf"{name}\.backward upstream must have the output's shape \(2, 3\); got \(3, 2\)"
    ):
        gate.backward(np.ones((3, 2)))
    with pytest.raises(
        ValueError,
        match=rf"{name}\.backward upstream must have the output's shape \(2, 3\); got a Python number",
    ):
        gate.backward(1.0)
    with pytest.raises(
        TypeError, match=rf"{name}\.backward upstream must have the output's dtype float64; got float32"
    ):
        gate.backward(np.ones((2, 3), np.float32))
    with pytest.raises(
        TypeError, match=rf"{name}\.backward upstream must be a float32 or float64 array; got int64"
    ):
        gate.backward(np.ones((2, 3), np.int64))


def test_binary_gate_upstream_shape_is_the_broadcast_output():
    gate = sn.Add()
    gate.forward(np.ones((2, 1)), np.ones((1, 3)))
    with pytest.raises(
        ValueError, match=r"Add\.backward upstream must have the output's shape \(2, 3\); got \(2, 1\)"
    ):
        gate.backward(np.ones((2, 1)))


BAD_GATE_INPUTS = {
    "int-array": (
        sn.Exp,
        (np.arange(3),),
        TypeError,
        r"Exp input x must be a float32 or float64 array; got int64 \(convert with",
    ),
    "bool-array": (
        sn.ReLU,
        (np.ones(3, bool),),
        TypeError,
        r"ReLU input x must be a float32 or float64 array; got bool",
    ),
    "complex-array": (
        sn.Tanh,
        (np.ones(3, complex),),
        TypeError,
        r"Tanh input x must be a float32 or float64 array; got complex128",
    ),
    "object-array": (
        sn.Sigmoid,
        (np.ones(3, object),),
        TypeError,
        r"Sigmoid input x must be a float32 or float64 array; got object",
    ),
    "python-bool": (
        sn.Add,
        (True, 1.0),
        TypeError,
        r"Add input a must be a float array or a Python number; got bool True",
    ),
    "list": (
        sn.Multiply,
        (np.ones(2), [1.0, 2.0]),
        TypeError,
        r"Multiply input b must be a float array or a Python number; got list",
    ),
    "numpy-int-scalar": (
        sn.Add,
        (np.int64(1), 1.0),
        TypeError,
        r"Add input a must be a float32 or float64 array; got int64",
    ),
    "not-broadcastable": (
        sn.Add,
        (np.ones((2, 3)), np.ones((4,))),
        ValueError,
        r"Add inputs must broadcast together; got a \(2, 3\), b \(4,\)",
    ),
    "matmul-inner": (
        sn.MatMul,
        (np.ones((4, 2)), np.ones((3, 5))),
        ValueError,
        r"MatMul needs a\.shape\[-1\] == b\.shape\[-2\]; got a \(4, 2\) and b \(3, 5\)",
    ),
    "matmul-1d": (
        sn.MatMul,
        (np.ones(3), np.ones((3, 2))),
        ValueError,
        r"MatMul inputs must be arrays with at least 2 dimensions .*got a \(3,\) and b \(3, 2\)",
    ),
    "matmul-scalar": (
        sn.MatMul,
        (2.0, np.ones((3, 2))),
        ValueError,
        r"MatMul inputs must be arrays with at least 2 dimensions",
    ),
    "matmul-batch": (
        sn.MatMul,
        (np.ones((2, 4, 3)), np.ones((5, 3, 2))),
        ValueError,
        r"MatMul batch axes inputs must broadcast together; got a \(2,\), b \(5,\)",
    ),
}


@pytest.mark.parametrize("make, inputs, error, message", BAD_GATE_INPUTS.values(), ids=BAD_GATE_INPUTS.keys())
def test_gate_rejects_bad_inputs(make, inputs, error, message):
    with pytest.raises(error, match=message):
        make().forward(*inputs)


@pytest.mark.parametrize("exponent", ["2", True, np.ones(2), None], ids=["str", "bool", "array", "none"])
def test_power_exponent_must_be_a_real_number(exponent):
    with pytest.raises(TypeError, match=r"Power exponent must be an int or a float; got"):
        sn.Power(exponent)


@pytest.mark.parametrize("slope", ["0.1", False, np.ones(2), None], ids=["str", "bool", "array", "none"])
def test_leaky_relu_slope_must_be_a_real_number(slope):
    with pytest.raises(TypeError, match=r"LeakyReLU negative_slope must be an int or a float; got"):
        sn.LeakyReLU(slope)


def test_leaky_relu_slope_beyond_float64_is_refused_and_its_default_is_torchs():
    with pytest.raises(ValueError, match=r"LeakyReLU negative_slope must be a number within float64's range"):
        sn.LeakyReLU(10**400)
    assert sn.LeakyReLU().negative_slope == 0.01 and type(sn.LeakyReLU(1).negative_slope) is float


def test_leaky_relu_backward_reads_its_own_copy_of_the_input():
    x = np.array([-2.0, 3.0])
    gate = sn.LeakyReLU(0.5)
    gate.forward(x)
    x *= -1  # the caller's array changes after forward
    np.testing.assert_array_equal(gate.backward(np.ones(2))[0], [0.5, 1.0])


def test_graph_upstream_must_match_output():
    with pytest.raises(
        ValueError, match=re.escape("upstream must have the graph output's shape (3,); got (2,)")
    ):
        graphs.add_mul(np.ones(3), np.ones(3), np.ones(3), upstream=np.ones(2))
    with pytest.raises(TypeError, match=r"upstream must be a float32 or float64 array; got int64"):
        graphs.add_mul(np.ones(3), np.ones(3), np.ones(3), upstream=np.ones(3, np.int64))


# -- clipping --------------------------------------------------------------------------------------------

BAD_CLIP = {
    "array-not-list": (
        (np.ones(3), 1.0),
        {},
        TypeError,
        r"grads must be a list \(or tuple, or Params\) of float arrays; got ndarray",
    ),
    "int-grad": (
        ([np.ones(2), np.ones(2, np.int64)], 1.0),
        {},
        TypeError,
        r"grads\[1\] must be a float32 or float64 array; got int64",
    ),
    "mixed-dtypes": (
        ([np.ones(2), np.ones(2, np.float32)], 1.0),
        {},
        TypeError,
        r"grads must share one dtype; grads\[0\] is float64, grads\[1\] is float32",
    ),
    "max_norm-zero": (
        ([np.ones(2)], 0.0),
        {},
        ValueError,
        r"max_norm must be a number > 0 \(inf allowed\); got 0\.0",
    ),
    "max_norm-nan": (
        ([np.ones(2)], float("nan")),
        {},
        ValueError,
        r"max_norm must be a number > 0 \(inf allowed\); got nan",
    ),
    "norm_type-negative": (
        ([np.ones(2)], 1.0),
        {"norm_type": -1.0},
        ValueError,
        r"norm_type must be a number > 0",
    ),
    "error_if_nonfinite-str": (
        ([np.ones(2)], 1.0),
        {"error_if_nonfinite": "yes"},
        TypeError,
        r"error_if_nonfinite must be True or False; got str",
    ),
}


@pytest.mark.parametrize("args, kwargs, error, message", BAD_CLIP.values(), ids=BAD_CLIP.keys())
def test_clip_rejects_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        sn.clip_grad_norm(*args, **kwargs)


def test_clip_per_run_needs_one_leading_run_axis():
    with pytest.raises(
        ValueError,
        match=r"grads\[1\] must have the leading run axis R = 3 of grads\[0\] \(3, 2\); got \(2, 2\)",
    ):
        sn.clip_grad_norm_per_run([np.ones((3, 2)), np.ones((2, 2))], 1.0)


# -- gradient checking -----------------------------------------------------------------------------------


def test_gradient_check_refuses_float32_network():
    net = make_net(dtype=np.float32)
    with pytest.raises(
        TypeError, match=r"gradient_check needs a float64 network .*got float32.*\.astype\(np\.float64\)"
    ):
        sn.gradient_check(net, XOR_X.astype(np.float32), XOR_Y.astype(np.float32))


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan")], ids=["zero", "negative", "nan"])
def test_gradient_check_rejects_bad_eps(eps):
    with pytest.raises(ValueError, match=r"eps must be a finite number > 0"):
        sn.gradient_check(make_net(), XOR_X, XOR_Y, eps=eps)


def test_gradient_check_needs_a_network():
    with pytest.raises(TypeError, match=r"net must be a scratch_nn\.TwoLayerNet; got Params"):
        sn.gradient_check(make_net().params.copy(), XOR_X, XOR_Y)


def test_numerical_gradient_refuses_float32():
    with pytest.raises(
        TypeError, match=r"x must be float64 for central differences .*\.astype\(np\.float64\)"
    ):
        sn.numerical_gradient(lambda x: float(x.sum()), np.ones(3, np.float32))
