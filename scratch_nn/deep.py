"""A network of any depth, trained by SGD on mean binary cross-entropy: the notebook's chain rule per layer.

Layout (docs/engine-api.md), samples are columns. L hidden layers (L >= 1), layer l = 1 .. L + 1:

    X: (n_0, m)   W_l: (n_l, n_(l-1))   b_l: (n_l, 1)   y: (n_out, m) with n_out = n_(L+1)

A stacked network puts a leading run axis R on every parameter: R independent networks in one computation,
X and y shared (2-D) or per run (3-D).

    forward   a_0 = X;  z_l = W_l @ a_(l-1) + b_l;  a_l = act_l(z_l) for l <= L;  p = sigmoid(z_(L+1))
    loss      L = mean((1 - y) * z - log_sigmoid(z)),  z = z_(L+1)  (as TwoLayerNet: finite for every logit)
    backward  dz_(L+1) = (p - y) / N,  N = n_out * m
              for l = L + 1 .. 1:   dW_l = dz_l @ a_(l-1)^T;   db_l = sum over samples of dz_l
                                    dz_(l-1) = (W_l^T @ dz_l) * act'_(l-1)(a_(l-1))   (while l > 1)
              act' from the saved output a:  relu (a > 0);  tanh (1 - a)(1 + a);  sigmoid (1 - a) a

Every line is one operation of the derivation; no gate objects and no autograd machinery. With one hidden
layer this is TwoLayerNet's computation, operation for operation: tests/test_engine_deep.py proves the two
equal bit for bit. As TwoLayerNet, the arithmetic is silent IEEE (a diverging run shows inf/NaN), inputs are
validated, and float32 transcendentals are evaluated in float64 and rounded once (``_precise``).

DeepNet runs this readable code for its one-off calls (forward, loss, backward, predict); its train() runs
deep_kernel.DeepStep, the same operations in the same order in buffers allocated once, and
tests/test_engine_kernels.py proves the two equal bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import _checks, _precise
from .clip import clip_in_place
from .deep_kernel import DeepStep
from .params import History

__all__ = ["HIDDEN_ACTIVATIONS", "DeepNet", "Layers", "deep_network", "deep_train"]

HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid")


@dataclass(slots=True)
class Layers:
    """The parameters of every layer (or their gradients): weights[l - 1] is W_l, biases[l - 1] is b_l."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @property
    def names(self) -> tuple[str, ...]:
        """W1, b1, W2, b2, ...: the order of iteration, of clipping's norm, and of the dict form."""
        return tuple(n for i in range(1, len(self.weights) + 1) for n in (f"W{i}", f"b{i}"))

    def __iter__(self):
        return (a for pair in zip(self.weights, self.biases, strict=True) for a in pair)

    def copy(self) -> Layers:
        return Layers([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    def astype(self, dtype) -> Layers:
        dtype = _checks.float_dtype("dtype", dtype)
        return Layers([w.astype(dtype) for w in self.weights], [b.astype(dtype) for b in self.biases])

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self, strict=True))

    @classmethod
    def from_dict(cls, params: Mapping[str, np.ndarray]) -> Layers:
        """From W1, b1, ..., W<k>, b<k> (k >= 2): the contract's dict form; ValueError names what is
        missing."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a mapping W1, b1, W2, b2, ...; got {type(params).__name__}")
        k = sum(1 for name in params if name.startswith("W"))
        expected = [n for i in range(1, k + 1) for n in (f"W{i}", f"b{i}")]
        if k < 2 or sorted(params) != sorted(expected):
            raise ValueError(
                f"params must have exactly the keys W1, b1, ..., W<k>, b<k> with k >= 2 layers; "
                f"got {sorted(params)}"
            )
        return cls([params[f"W{i}"] for i in range(1, k + 1)], [params[f"b{i}"] for i in range(1, k + 1)])


def _activations(activations, n_hidden: int) -> tuple[str, ...]:
    """One activation per hidden layer: a name for all of them, or a sequence of n_hidden names."""
    names = (activations,) * n_hidden if isinstance(activations, str) else activations
    if not isinstance(names, Sequence) or len(names) != n_hidden:
        raise ValueError(
            f"activations must be one name or a sequence of {n_hidden} (one per hidden layer, "
            f"as the {n_hidden + 1} weights give); got {activations!r}"
        )
    for i, a in enumerate(names):
        if not isinstance(a, str) or a not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activations[{i}] must be one of {HIDDEN_ACTIVATIONS}; got {a!r}")
    return tuple(names)


def _layout(params: Layers) -> _checks.Layout:
    """Check every layer's shapes and dtype against its neighbours; the network's sizes as TwoLayerNet's
    Layout."""
    if not isinstance(params, Layers):
        raise TypeError(f"params must be a scratch_nn.Layers; got {type(params).__name__}")
    weights, biases = list(params.weights), list(params.biases)
    if len(weights) != len(biases):
        raise ValueError(
            f"params must have one bias per weight; got {len(weights)} weights and {len(biases)} biases"
        )
    if len(weights) < 2:
        raise ValueError(
            f"a network needs at least one hidden layer (2 weights); got {len(weights)} weight(s)"
        )
    W1 = _checks.float_array("W1", weights[0])
    if W1.ndim not in (2, 3) or 0 in W1.shape:
        raise ValueError(
            f"W1 must have shape (n_1, n_in), or (R, n_1, n_in) when stacked, with every size > 0; "
            f"got {W1.shape}"
        )
    lead = W1.shape[:-2]
    for i, (W, b) in enumerate(zip(weights, biases, strict=True), start=1):
        W, b = _checks.float_array(f"W{i}", W), _checks.float_array(f"b{i}", b)
        fan_in = W1.shape[-1] if i == 1 else weights[i - 2].shape[-2]
        if W.ndim != W1.ndim or W.shape[:-2] != lead or W.shape[-1] != fan_in or W.shape[-2] == 0:
            raise ValueError(
                f"W{i} must have shape {(*lead, 'n_' + str(i), fan_in)} (its columns the width of the "
                f"layer below, n_{i} > 0); got {W.shape}"
            )
        if b.shape != (*lead, W.shape[-2], 1):
            raise ValueError(
                f"b{i} must have shape {(*lead, W.shape[-2], 1)} to match W{i} {W.shape}; got {b.shape}"
            )
        _checks.same_dtype(f"W{i}", W, W1.dtype, "W1 has")
        _checks.same_dtype(f"b{i}", b, W1.dtype, "W1 has")
    return _checks.Layout(lead[0] if lead else None, W1.shape[-1], weights[-1].shape[-2], W1.dtype, W1.shape)


# -- the operations, each as torch computes it ---------------------------------------------------------------


def _relu(z):
    return np.maximum(z, 0)  # NaN propagates, as torch.relu


def _sigmoid(z):
    # the Sigmoid gate's stable form, in float64 for a float32 z and rounded once, as torch's (README: "Deep
    # networks"); exp(-|z|) is in (0, 1]: nothing overflows for a finite z
    x = z.astype(np.float64) if z.dtype == np.float32 else z
    return (np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))).astype(z.dtype, copy=False)


_ACTIVATE = {"relu": _relu, "tanh": _precise.tanh, "sigmoid": _sigmoid}


def _derivative(activation: str, a: np.ndarray) -> np.ndarray:
    """act'(z) from the saved output a = act(z)."""
    if activation == "relu":
        return a > 0  # 0 at exactly 0, as torch; a bool array multiplies as 1 and 0
    if activation == "tanh":
        return (1 - a) * (1 + a)  # 1 - a*a would cancel near |a| = 1; this form is exact there
    return (1 - a) * a  # torch's sigmoid_backward order


def _sigmoid_and_log(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p = sigmoid(z) and log_sigmoid(z) = min(z, 0) - log1p(exp(-|z|)), sharing exp(-|z|): TwoLayerNet's
    ops."""
    e = _precise.exp(-np.abs(z))
    p = _precise.exp(np.minimum(z, 0)) / (e + 1)
    log_p = np.minimum(z, 0) - _precise.into(np.log1p, z.dtype)(e, out=e)
    return p, log_p


def _n_averaged(y: np.ndarray) -> np.ndarray:
    """N, the number of loss terms averaged per run, as a 0-d array of y's dtype (exact)."""
    return np.array(y.shape[-2] * y.shape[-1], y.dtype)


@dataclass(frozen=True)
class DeepCache:
    """What a forward pass leaves for loss and backward: X (R?, n_0, m) C-contiguous; hidden, a_1 .. a_L;
    z (R?, n_out, m) the logits; p and log_p their sigmoid and log-sigmoid."""

    X: np.ndarray
    hidden: list[np.ndarray]
    z: np.ndarray
    p: np.ndarray
    log_p: np.ndarray


class DeepNet:
    """X -> [W_l a + b_l -> act_l] for l = 1 .. L -> W_(L+1) a + b_(L+1) -> sigmoid, mean binary
    cross-entropy.

    params: a Layers (float32 or float64, one dtype), copied in; read trained values from net.params.
    activations: one of HIDDEN_ACTIVATIONS for every hidden layer, or a sequence of L of them.
    """

    def __init__(self, params: Layers, activations) -> None:
        self.params = params
        self.activations = _activations(activations, self.depth)

    @property
    def params(self) -> Layers:
        return self._params

    @params.setter
    def params(self, params: Layers) -> None:
        self._layout = _layout(params)
        self._params = params.copy()
        self.cache: DeepCache | None = None

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self._params.weights) - 1

    @property
    def dtype(self) -> np.dtype:
        return self._layout.dtype

    # -- one step, in pieces ---------------------------------------------------------------------------------

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (n_0, m), or (R, n_0, m) per run. Returns p: (n_out, m), or (R, n_out, m); keeps self.cache."""
        X = np.ascontiguousarray(_checks.inputs(X, self._layout))
        with np.errstate(all="ignore"):
            self.cache = self._forward(X)
        return self.cache.p

    def _forward(self, X: np.ndarray) -> DeepCache:
        P, a, hidden = self._params, X, []
        for W, b, activation in zip(P.weights[:-1], P.biases[:-1], self.activations, strict=True):
            a = _ACTIVATE[activation](np.matmul(W, a) + b)
            hidden.append(a)
        z = np.matmul(P.weights[-1], a) + P.biases[-1]
        return DeepCache(X, hidden, z, *_sigmoid_and_log(z))

    def loss(self, y: np.ndarray):
        """Mean BCE of the last forward: a NumPy scalar of the network's dtype, or (R,) stacked."""
        cache = self._cached("loss")
        y = _checks.targets(y, cache.p.shape, self._layout)
        with np.errstate(all="ignore"):
            loss = self._loss(cache, y)
        return loss[()] if self._layout.n_runs is None else loss

    @staticmethod
    def _loss(cache: DeepCache, y: np.ndarray) -> np.ndarray:
        return np.add.reduce((1 - y) * cache.z - cache.log_p, axis=(-2, -1)) / _n_averaged(y)

    def backward(self, y: np.ndarray) -> Layers:
        """Gradients of the mean loss of the last forward with respect to every parameter, as Layers."""
        cache = self._cached("backward")
        y = _checks.targets(y, cache.p.shape, self._layout)
        with np.errstate(all="ignore"):
            return self._backward(cache, y)

    def _backward(self, cache: DeepCache, y: np.ndarray) -> Layers:
        W, below = self._params.weights, [cache.X, *cache.hidden]  # below[i]: a_i, the input of layer i + 1
        dW, db = [None] * len(W), [None] * len(W)
        dz = (cache.p - y) / _n_averaged(y)  # dz_(L+1); divided, not multiplied by 1/N: torch's rounding
        for i in reversed(range(len(W))):  # layer i + 1, from the output down
            a = below[i]
            dW[i] = np.matmul(dz, a.swapaxes(-1, -2))
            db[i] = np.add.reduce(dz, axis=-1, keepdims=True)
            if i > 0:
                da = np.matmul(W[i].swapaxes(-1, -2), dz)
                dz = da * _derivative(self.activations[i - 1], a)
        return Layers(dW, db)

    def sgd_step(self, grads: Layers, lr: float) -> None:
        """params -= lr * grads, in place (grads is left untouched)."""
        if not isinstance(grads, Layers) or len(grads.weights) != len(self._params.weights):
            raise TypeError(
                f"grads must be a Layers of {len(self._params.weights)} layers (as backward returns)"
            )
        for name, g, p in zip(self._params.names, grads, self._params, strict=True):
            _checks.float_array(f"grads.{name}", g)
            if g.shape != p.shape:
                raise ValueError(f"grads.{name} must have the shape of {name} {p.shape}; got {g.shape}")
            _checks.same_dtype(f"grads.{name}", g, p.dtype, f"{name} has")
        lr = _checks.finite_positive("lr", lr)
        with np.errstate(all="ignore"):
            self._update(grads, lr)

    def _update(self, grads: Layers, lr: float) -> None:
        for p, g in zip(self._params, grads, strict=True):
            p -= lr * g

    def predict(self, X: np.ndarray) -> np.ndarray:
        """sigmoid(z) for X, as forward, leaving the cache alone."""
        X = np.ascontiguousarray(_checks.inputs(X, self._layout))
        with np.errstate(all="ignore"):
            return self._forward(X).p

    def _cached(self, caller: str) -> DeepCache:
        if self.cache is None:
            raise RuntimeError(
                f"{caller}() needs the forward pass of the current parameters: call forward(X) first"
            )
        return self.cache

    # -- training --------------------------------------------------------------------------------------------

    def train(self, X, y, epochs, lr, *, max_norm=None, norm_type=2.0) -> History:
        """Full-batch SGD: `epochs` steps of forward, loss, backward, optional clipping, update.

        X: (n_0, m) or (R, n_0, m); y: (n_out, m) or (R, n_out, m); epochs >= 1; lr > 0. max_norm: clip the
        global norm of all 2 (L + 1) gradients before each update, clip_grad_norm's semantics (each run of a
        stacked network by its own norm); norm_type: its p. Returns History (losses, pre-clip norms).
        """
        layout = self._layout
        X = np.ascontiguousarray(_checks.inputs(X, layout))
        lead = () if layout.n_runs is None else (layout.n_runs,)
        y = _checks.targets(y, (*lead, layout.n_out, X.shape[-1]), layout)
        epochs = _checks.positive_int("epochs", epochs)
        lr = _checks.finite_positive("lr", lr)
        norm_type = _checks.positive("norm_type", norm_type)
        if max_norm is not None:
            max_norm = _checks.positive("max_norm", max_norm)
        losses = np.empty((epochs, *lead), layout.dtype)
        total_norms = None if max_norm is None else np.empty_like(losses)
        # the kernel: deep.py's step, op for op, in buffers allocated once (tests/test_engine_kernels.py)
        step = DeepStep(self._params.weights, self._params.biases, self.activations, X)
        one_minus_y, n, lr_ = 1 - y, _n_averaged(y), np.array(lr, layout.dtype)
        with np.errstate(all="ignore"):
            for epoch in range(epochs):
                step.forward()
                losses[epoch] = step.loss_sums(one_minus_y)
                step.backward(y, n)
                if max_norm is not None:
                    grads = [a for pair in zip(step.dW, step.db, strict=True) for a in pair]
                    total_norms[epoch], _ = clip_in_place(grads, max_norm, norm_type, bool(lead))
                step.update(lr_)
            losses /= n  # each epoch's sum divided by N, as loss() divides
        self.cache = DeepCache(X, step.hidden, step.z, step.p, step.log_p)  # before the last update
        return History(losses, total_norms)


# -- the contract's function form (docs/engine-api.md, "Deep networks") --------------------------------------


def deep_network(params: Mapping[str, np.ndarray], X, y, *, activations):
    """p, mean loss and the gradient dict (W1, b1, ..., W<L+1>, b<L+1>) of the network at params."""
    net = DeepNet(Layers.from_dict(params), activations)
    p = net.forward(X)
    return p, net.loss(y), net.backward(y).as_dict()


def deep_train(params: Mapping[str, np.ndarray], X, y, *, epochs, lr, activations, max_norm=None):
    """(losses, final params dict, pre-clip total norms or None) of SGD training from params."""
    net = DeepNet(Layers.from_dict(params), activations)
    history = net.train(X, y, epochs, lr, max_norm=max_norm)
    return history.losses, net.params.as_dict(), history.total_norms
