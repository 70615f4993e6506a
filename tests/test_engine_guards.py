"""The probes of issue 11 ("the engine: silently wrong, where torch raises"), each rerun as a test.

Every probe ends one of two ways, named by its id's prefix:
- ``error-``: a clear error that names the argument (torch's version counter says "modified by an inplace
  operation"; so does the engine where it refuses a stale value);
- ``result-``: the misuse is made harmless, and the result is the one of correct use, bit for bit.
A probe that gives a silently wrong number fails. docs/bad-inputs.md lists the classes with these tests.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratch_nn as sn

XOR_X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
XOR_Y = np.array([[0.0, 1.0, 1.0, 0.0]])
INPLACE = "modified by an inplace operation"


def make_net(dtype=np.float64, activation="relu") -> sn.TwoLayerNet:
    return sn.TwoLayerNet.init(2, 4, activation=activation, rng=np.random.default_rng(3), dtype=dtype)


def masked_with_nan(a: np.ndarray) -> np.ma.MaskedArray:
    a = a.copy()
    a.flat[0] = np.nan
    mask = np.zeros(a.shape, bool)
    mask.flat[0] = True
    return np.ma.masked_array(a, mask=mask)


# -- probes that must raise: (call, exception, message regex) ------------------------------------------------


def forward_sgd_backward(method):
    def call():
        net = make_net()
        net.forward(XOR_X)
        grads = net.backward(XOR_Y)
        net.sgd_step(grads, 0.1)
        getattr(net, method)(XOR_Y)

    return call


def train_then(method):
    def call():
        net = make_net()
        net.train(XOR_X, XOR_Y, 2, 0.1)
        getattr(net, method)(XOR_Y)

    return call


def scale_param_in_place():
    net = make_net()
    net.forward(XOR_X)
    net.params.W2 *= 3


def write_cache_in_place():
    net = make_net()
    net.forward(XOR_X)
    net.cache.h[...] = 0


def replace_param_field():
    make_net().params.W1 = np.ones((4, 2))


def set_foreign_cache():
    net, other = make_net(), make_net()
    other.forward(XOR_X)
    net.cache = other.cache


def activation_changed_after_forward():
    net = make_net()
    net.forward(XOR_X)
    net.activation = "tanh"
    net.backward(XOR_Y)


def activation_set_to_unknown():
    make_net().activation = "sigmoid"


def matmul_input_changed():
    a, b = np.ones((2, 3)), np.ones((3, 2))
    gate = sn.MatMul()
    gate.forward(a, b)
    b *= 2
    gate.backward(np.ones((2, 2)))


def init(**change):
    kwargs = {"n_in": 2, "n_hidden": 4, "activation": "relu", "rng": np.random.default_rng(0)} | change
    return lambda: sn.TwoLayerNet.init(**kwargs)


def taylor(steps):
    return lambda: sn.taylor_check(
        make_net(activation="tanh"), XOR_X, XOR_Y, rng=np.random.default_rng(0), steps=steps
    )


DTYPE_MESSAGE = r"^dtype must be np\.float32 or np\.float64 \(or the name 'float32' or 'float64'\); got "
STEPS_MESSAGE = r"^steps must be at least 3 finite steps > 0 in decreasing order"

ERRORS = {
    # dtype arguments other than float32 or float64
    "init-dtype-typo": (init(dtype="flaot32"), TypeError, DTYPE_MESSAGE + "'flaot32'$"),
    "init-dtype-foo": (init(dtype="foo"), TypeError, DTYPE_MESSAGE + "'foo'$"),
    "init-dtype-none": (init(dtype=None), TypeError, DTYPE_MESSAGE + "None$"),
    "init-dtype-python-float": (init(dtype=float), TypeError, DTYPE_MESSAGE + "<class 'float'>$"),
    "init-dtype-float-name": (init(dtype="float"), TypeError, DTYPE_MESSAGE + "'float'$"),
    "init-dtype-big-endian": (init(dtype=np.dtype(">f8")), TypeError, DTYPE_MESSAGE + r"dtype\('>f8'\)$"),
    "astype-bogus": (lambda: make_net().params.astype("bogus"), TypeError, DTYPE_MESSAGE + "'bogus'$"),
    "astype-none": (lambda: make_net().params.copy().astype(None), TypeError, DTYPE_MESSAGE + "None$"),
    # a stale forward pass
    "forward-sgd-backward": (
        forward_sgd_backward("backward"),
        RuntimeError,
        rf"^backward\(\) needs the forward pass of the current parameters, but they were {INPLACE}",
    ),
    "forward-sgd-loss": (forward_sgd_backward("loss"), RuntimeError, rf"^loss\(\) needs .* {INPLACE}"),
    "train-then-backward": (train_then("backward"), RuntimeError, rf"^backward\(\) needs .* {INPLACE}"),
    "train-then-loss": (train_then("loss"), RuntimeError, rf"^loss\(\) needs .* {INPLACE}"),
    # the network's own arrays
    "params-scaled-in-place": (scale_param_in_place, ValueError, "read-only"),
    "cache-written-in-place": (write_cache_in_place, ValueError, "read-only"),
    "params-field-replaced": (
        replace_param_field,
        AttributeError,
        r"^net\.params\.W1 cannot be replaced: .*net\.params = Params\(\.\.\.\)",
    ),
    "cache-replaced": (set_foreign_cache, TypeError, r"^net\.cache can only be set to None"),
    "activation-changed-after-forward": (
        activation_changed_after_forward,
        RuntimeError,
        rf"^backward\(\) needs .* {INPLACE}",
    ),
    "activation-set-to-unknown": (
        activation_set_to_unknown,
        ValueError,
        r"^activation must be one of \('relu', 'tanh'\); got 'sigmoid'$",
    ),
    # a gate's input changed between forward and backward (MatMul keeps the caller's arrays: see gates.py)
    "matmul-input-changed": (
        matmul_input_changed,
        RuntimeError,
        rf"^MatMul\.backward\(\): input b was {INPLACE}",
    ),
    # masked arrays: the mask would be ignored (a masked NaN passed the finiteness check)
    "masked-X": (
        lambda: make_net().forward(masked_with_nan(XOR_X)),
        TypeError,
        r"^X must be a plain NumPy array; got numpy\.ma\.MaskedArray .*pass X\.filled\(fill_value\)$",
    ),
    "masked-y": (
        lambda: make_net().train(XOR_X, masked_with_nan(XOR_Y), 1, 0.1),
        TypeError,
        r"^y must be a plain NumPy array; got numpy\.ma\.MaskedArray",
    ),
    "masked-params": (
        lambda: sn.TwoLayerNet(sn.Params(*(np.ma.masked_array(a) for a in make_net().params)), "relu"),
        TypeError,
        r"^W1 must be a plain NumPy array; got numpy\.ma\.MaskedArray",
    ),
    "masked-gate-input": (
        lambda: sn.Exp().forward(masked_with_nan(np.ones(3))),
        TypeError,
        r"^Exp input x must be a plain NumPy array; got numpy\.ma\.MaskedArray",
    ),
    "masked-clip-grads": (
        lambda: sn.clip_grad_norm([masked_with_nan(np.ones(3))], 1.0),
        TypeError,
        r"^grads\[0\] must be a plain NumPy array; got numpy\.ma\.MaskedArray",
    ),
    "matrix-X": (
        lambda: make_net().forward(XOR_X.view(np.matrix)),
        TypeError,
        r"^X must be a plain NumPy array; got numpy\.matrix.*pass np\.asarray\(X\)$",
    ),
    # Python ints out of every float's (or int64's) range
    "gate-input-10**400": (
        lambda: sn.Add().forward(np.ones(2), 10**400),
        ValueError,
        r"^Add input b must be a number within float64's range .*got an int of about 1e400$",
    ),
    "gate-upstream-10**400": (
        lambda: (g := sn.Exp(), g.forward(np.float64(1.0)), g.backward(10**400)),
        ValueError,
        r"^Exp\.backward upstream must be a number within float64's range",
    ),
    "graph-upstream-10**400": (
        lambda: sn.graphs.add_mul(1.0, 2.0, 3.0, upstream=10**400),
        ValueError,
        r"^upstream must be a number within float64's range",
    ),
    "power-exponent-10**400": (
        lambda: sn.Power(10**400),
        ValueError,
        r"^Power exponent must be an int64 \(\|n\| < 2\*\*63\) or a float; got an int of about 1e400$",
    ),
    "power-exponent-2**63": (lambda: sn.Power(2**63), ValueError, r"^Power exponent must be an int64"),
    "gate-input-10**5000": (
        lambda: sn.Add().forward(np.ones(2), -(10**5000)),
        ValueError,
        r"^Add input b must be a number within float64's range .*got an int of about 1e5000$",
    ),
    "lr-10**400": (
        lambda: make_net().train(XOR_X, XOR_Y, 1, 10**400),
        ValueError,
        r"^lr must be a finite number > 0; got an int of about 1e400$",
    ),
    "max_norm-10**400": (
        lambda: sn.clip_grad_norm([np.ones(2)], -(10**400)),
        ValueError,
        r"^max_norm must be a number > 0 \(inf allowed\); got an int of about 1e400$",
    ),
    # absurd counts
    "epochs-2**63": (
        lambda: make_net().train(XOR_X, XOR_Y, 2**63, 0.1),
        ValueError,
        r"^epochs must be a positive integer up to 2\*\*63 - 1 \(an array size\); got 9223372036854775808$",
    ),
    "epochs-2**62": (
        lambda: make_net().train(XOR_X, XOR_Y, 2**62, 0.1),
        MemoryError,
        r"^epochs=4611686018427387904 asks for an array of shape \(4611686018427387904,\) .*more than can be",
    ),
    "n_hidden-2**70": (
        init(n_hidden=2**70),
        ValueError,
        r"^n_hidden must be a positive integer up to 2\*\*63 - 1",
    ),
    "n_in-2**45": (
        init(n_in=2**45),
        MemoryError,
        r"^n_in=35184372088832, n_hidden=4, n_out=1: parameters of that size cannot be allocated",
    ),
    "n_hidden-n_runs-2**40": (
        init(n_hidden=2**40, n_runs=2**40),
        MemoryError,
        r"^n_in=2, n_hidden=1099511627776, n_out=1, n_runs=1099511627776: parameters of that",
    ),
    "n_directions-2**62": (
        lambda: sn.directional_gradient_check(make_net(), XOR_X, XOR_Y, 2**62, rng=np.random.default_rng(0)),
        MemoryError,
        r"^n_directions=4611686018427387904 asks for an array of shape",
    ),
    # taylor_check's steps
    "taylor-steps-negative": (
        taylor([1e-1, -1e-2, 1e-3, 1e-4]),
        ValueError,
        STEPS_MESSAGE + r".*; steps\[1\] = -0\.01$",
    ),
    "taylor-steps-empty": (taylor([]), ValueError, STEPS_MESSAGE + r".*; got shape \(0,\)"),
    "taylor-steps-too-few": (taylor([1e-1, 1e-2]), ValueError, STEPS_MESSAGE + r".*; got shape \(2,\)"),
    "taylor-steps-zero": (
        taylor(np.array([1e-1, 1e-2, 0.0])),
        ValueError,
        STEPS_MESSAGE + r".*; steps\[2\] = 0\.0$",
    ),
    "taylor-steps-nan": (
        taylor([1e-1, float("nan"), 1e-3]),
        ValueError,
        STEPS_MESSAGE + r".*; steps\[1\] = nan$",
    ),
    "taylor-steps-increasing": (
        taylor([1e-3, 1e-2, 1e-1]),
        ValueError,
        STEPS_MESSAGE + r".*; steps\[0\] = 0\.001 is not above steps\[1\] = 0\.01$",
    ),
    "taylor-steps-2d": (taylor(np.full((3, 3), 0.1)), ValueError, STEPS_MESSAGE + r".*; got shape \(3, 3\)"),
    "taylor-steps-str": (taylor("1e-3"), TypeError, STEPS_MESSAGE + r".*; got str '1e-3'$"),
    "taylor-steps-bools": (taylor([True, True, True]), TypeError, STEPS_MESSAGE),
    "taylor-steps-10**400": (
        taylor([10**400, 1.0, 0.1]),
        ValueError,
        STEPS_MESSAGE + ".*beyond float64's range$",
    ),
    "taylor-tensors-not-a-sequence": (
        lambda: sn.taylor_check(
            make_net(activation="tanh"), XOR_X, XOR_Y, rng=np.random.default_rng(0), tensors=3
        ),
        TypeError,
        r"^tensors must be a list or tuple of names from .*; got int$",
    ),
    # a graph's inputs are named as the graph names them, not as its first gate does
    "graph-input-int-array": (
        lambda: sn.graphs.add_mul(np.ones(3), np.ones(3, np.int64), 1.0),
        TypeError,
        r"^y must be a float32 or float64 array; got int64 \(convert with y\.astype",
    ),
    "graph-inputs-not-broadcastable": (
        lambda: sn.graphs.shared_input(np.ones(3), np.ones(2), 1.0),
        ValueError,
        r"^shared_input inputs must broadcast together; got a \(3,\), b \(2,\), c \(\)$",
    ),
    # numerical_gradient's f must return a number
    "numerical-gradient-f-returns-array": (
        lambda: sn.numerical_gradient(lambda v: v * 2, np.ones(2)),
        TypeError,
        r"^f must return the function's value, a real number; got float64 array",
    ),
    "numerical-gradient-f-returns-str": (
        lambda: sn.numerical_gradient(lambda v: "1", np.ones(2)),
        TypeError,
        r"^f must return the function's value, a real number; got str '1'$",
    ),
}


@pytest.mark.parametrize("call, error, message", ERRORS.values(), ids=[f"error-{k}" for k in ERRORS])
def test_misuse_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- probes that must give the result of correct use -------------------------------------------------------


def assert_params_equal(actual, desired):
    for name, a, d in zip(sn.Params.NAMES, actual, desired, strict=True):
        np.testing.assert_array_equal(a, d, err_msg=name, strict=True)


def caller_X_changed_after_forward():
    net, twin = make_net(), make_net()
    X = XOR_X.copy()
    net.forward(X)
    X *= 2
    assert_params_equal(net.backward(XOR_Y), (twin.forward(XOR_X), twin.backward(XOR_Y))[1])


def returned_p_changed_after_forward():
    net, twin = make_net(), make_net()
    p = net.forward(XOR_X)
    p *= 0
    twin.forward(XOR_X)
    assert_params_equal(net.backward(XOR_Y), twin.backward(XOR_Y))
    assert net.loss(XOR_Y) == twin.loss(XOR_Y)


def params_replaced_then_sgd_step():
    """The issue's `net.params.W1 = arr`, done the supported way: arr is copied in, never written."""
    net = make_net()
    arr = np.full((4, 2), 0.5)
    params = net.params.copy()
    params.W1 = arr
    net.params = params
    net.forward(XOR_X)
    net.sgd_step(net.backward(XOR_Y), 0.1)
    np.testing.assert_array_equal(arr, np.full((4, 2), 0.5))
    assert not np.shares_memory(net.params.W1, arr)


def params_of_the_constructor_never_written():
    params = make_net().params.copy()
    before = params.copy()
    net = sn.TwoLayerNet(params, "relu")
    net.train(XOR_X, XOR_Y, 3, 0.5)
    assert_params_equal(params, before)


def gate_input_changed(make, change, n_inputs=1):
    def probe():
        inputs = [np.array([0.5, -1.5, 2.0]) for _ in range(n_inputs)]
        upstream = np.array([0.3, -0.7, 1.1])
        gate, twin = make(), make()
        gate.forward(*inputs)
        twin.forward(*[x.copy() for x in inputs])
        expected = twin.backward(upstream)
        change(inputs)
        for got, want in zip(gate.backward(upstream), expected, strict=True):
            np.testing.assert_array_equal(got, want, strict=True)

    return probe


def gate_output_changed(make):
    def probe():
        x, upstream = np.array([0.5, -1.5, 2.0]), np.array([0.3, -0.7, 1.1])
        gate, twin = make(), make()
        out = gate.forward(x)
        twin.forward(x)
        out *= 3  # the array forward returned is the caller's: the gate keeps its own
        np.testing.assert_array_equal(gate.backward(upstream)[0], twin.backward(upstream)[0], strict=True)

    return probe


def numerical_gradient_leaves_x():
    x = np.array([1.0, 2.0])
    x.flags.writeable = False
    np.testing.assert_allclose(sn.numerical_gradient(lambda v: float(np.sum(v**2)), x), [2.0, 4.0], rtol=1e-8)


def checkers_leave_the_net_as_it_was():
    net = make_net(activation="tanh")
    before = net.params.copy()
    net.forward(XOR_X)
    cache = net.cache
    sn.gradient_check(net, XOR_X, XOR_Y)
    sn.directional_gradient_check(net, XOR_X, XOR_Y, rng=np.random.default_rng(0))
    sn.taylor_check(net, XOR_X, XOR_Y, rng=np.random.default_rng(0))
    assert_params_equal(net.params, before)
    assert net.cache is cache
    net.backward(XOR_Y)  # still the forward of the current parameters


def relu_keeps_minus_zero(dtype):
    def probe():
        out = sn.ReLU().forward(dtype(-0.0))
        assert out == 0 and np.signbit(out) and out.dtype == dtype
        assert np.isneginf(sn.Power(-1).forward(out))
        assert not np.signbit(sn.ReLU().forward(dtype(-3.0)))  # torch.relu(-3.0) is +0.0

    return probe


def dtype_spellings_accepted():
    for spelling, dtype in (
        ("float32", np.float32),
        ("float64", np.float64),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.dtype("float32"), np.float32),
        (np.dtype("<f8"), np.float64),
    ):
        assert (
            sn.TwoLayerNet.init(2, 3, activation="relu", rng=np.random.default_rng(0), dtype=spelling).dtype
            == dtype
        )
        assert make_net().params.astype(spelling).W1.dtype == dtype


def taylor_tensors_one_name():
    net = make_net(activation="tanh")
    result = sn.taylor_check(net, XOR_X, XOR_Y, rng=np.random.default_rng(0), tensors="W1")
    assert result.tensors == ("W1",)  # one name, not the letters W and 1


def large_python_numbers_within_range():
    out = sn.Add().forward(np.ones(2), 10**300)  # an int that is a float64
    np.testing.assert_array_equal(out, np.full(2, 1e300))
    assert sn.Power(2**62).exponent == 2**62


RESULTS = {
    "caller-X-changed-after-forward": caller_X_changed_after_forward,
    "returned-p-changed-after-forward": returned_p_changed_after_forward,
    "params-replaced-then-sgd-step": params_replaced_then_sgd_step,
    "constructor-params-never-written": params_of_the_constructor_never_written,
    "multiply-input-changed": gate_input_changed(sn.Multiply, lambda xs: xs[1].__imul__(2), n_inputs=2),
    "power-input-changed": gate_input_changed(lambda: sn.Power(3), lambda xs: xs[0].__imul__(2)),
    "exp-output-changed": gate_output_changed(sn.Exp),
    "sigmoid-output-changed": gate_output_changed(sn.Sigmoid),
    "relu-output-changed": gate_output_changed(sn.ReLU),
    "tanh-output-changed": gate_output_changed(sn.Tanh),
    "numerical-gradient-leaves-x": numerical_gradient_leaves_x,
    "checkers-leave-the-net-as-it-was": checkers_leave_the_net_as_it_was,
    "relu-minus-zero-float32": relu_keeps_minus_zero(np.float32),
    "relu-minus-zero-float64": relu_keeps_minus_zero(np.float64),
    "dtype-spellings-accepted": dtype_spellings_accepted,
    "large-python-numbers-within-range": large_python_numbers_within_range,
    "taylor-tensors-one-name": taylor_tensors_one_name,
}


@pytest.mark.parametrize("probe", RESULTS.values(), ids=[f"result-{k}" for k in RESULTS])
def test_misuse_is_made_harmless(probe):
    probe()
