"""A two-layer network trained by SGD on mean binary cross-entropy: the notebook's derivation, written out.

Layout (docs/engine-api.md), samples are columns:

    X: (n_in, m)    W1: (n_hidden, n_in)    b1: (n_hidden, 1)
    y: (n_out, m)   W2: (n_out, n_hidden)   b2: (n_out, 1)

A stacked network puts a leading run axis R on every parameter (W1: (R, n_hidden, n_in), ...): R independent
networks in one computation, with X and y shared (2-D) or per run (3-D). Every formula below is written once
for both cases: np.matmul, ``swapaxes(-1, -2)`` for a transpose (NumPy 1.26 has no ``.mT``), sums over
``axis=-1``, the loss summed over the last two axes.

forward, loss and backward are the derivation, an operation per line. TwoLayerNet runs them for its one-off
calls (forward, loss, backward, predict); its train() runs network_kernel.Step, the same operations in the
same order with every array allocated once, and tests/test_engine_kernels.py proves the two equal bit for bit.

Like torch and the gates, the arithmetic follows IEEE silently: a diverging run shows inf/NaN in its losses,
with no floating-point warnings (the methods run under np.errstate(all="ignore")). Inputs are validated.

No gradient is computed from values other than those its forward saw (torch's version counters refuse the
same): net.params and net.cache are read-only views, forward keeps its own copy of X and returns a copy of p,
and loss() and backward() refuse a forward made before the parameters last changed (sgd_step, train,
net.params = ...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from . import _checks, _precise
from .clip import clip_in_place
from .network_kernel import Step, packed
from .params import ForwardCache, History, Params, check_grads, check_layout

__all__ = ["Params", "TwoLayerNet", "History", "ForwardCache", "forward", "loss", "backward"]


# -- the derivation ----------------------------------------------------------------------------------------


def forward(P: Params, activation: str, X: np.ndarray) -> ForwardCache:
    """The forward pass: z1 = W1 @ X + b1,  h = act(z1),  z2 = W2 @ h + b2,  p = sigmoid(z2)."""
    z1 = np.matmul(P.W1, X) + P.b1
    h = np.maximum(z1, 0) if activation == "relu" else _precise.tanh(z1)  # maximum: NaN propagates, as torch
    z2 = np.matmul(P.W2, h) + P.b2
    e = _precise.exp(-np.abs(z2))  # in (0, 1]: sigmoid and log_sigmoid share it, and nothing overflows
    p = _precise.exp(np.minimum(z2, 0)) / (e + 1)
    log_p = np.minimum(z2, 0) - _precise.log1p(e)  # log_sigmoid(z2), for the loss
    return ForwardCache(X, h, z2, p, log_p)


def loss(cache: ForwardCache, y: np.ndarray) -> np.ndarray:
    """L = mean((1 - y) * z2 - log_sigmoid(z2)): binary cross-entropy from the logit, finite for any z2
    (torch's binary_cross_entropy_with_logits). 0-d, or (R,) for a stacked network."""
    terms = (1 - y) * cache.z2 - cache.log_p
    return np.add.reduce(terms, axis=(-2, -1)) / n_averaged(y)


def backward(P: Params, activation: str, cache: ForwardCache, y: np.ndarray) -> Params:
    """The gradients of the mean loss, by the chain rule from the output back to the inputs."""
    X, h = cache.X, cache.h
    dz2 = (cache.p - y) / n_averaged(y)  # divided, not multiplied by 1/N: torch's rounding
    dW2 = np.matmul(dz2, h.swapaxes(-1, -2))
    db2 = np.add.reduce(dz2, axis=-1, keepdims=True)
    dh = np.matmul(P.W2.swapaxes(-1, -2), dz2)
    if activation == "relu":
        dz1 = dh * (h > 0)  # relu' from its output: 0 at exactly 0, as torch
    else:
        dz1 = dh * ((1 - h) * (1 + h))  # tanh' = 1 - h^2, in the form that is exact near |h| = 1
    dW1 = np.matmul(dz1, X.swapaxes(-1, -2))
    db1 = np.add.reduce(dz1, axis=-1, keepdims=True)
    return Params(dW1, db1, dW2, db2)


def n_averaged(y: np.ndarray) -> np.ndarray:
    """N, the number of loss terms averaged per run, as a 0-d array of y's dtype (exact)."""
    return np.array(y.shape[-2] * y.shape[-1], y.dtype)


# -- the network ---------------------------------------------------------------------------------------------


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


class NetworkParams(Params):
    """A network's own parameters as net.params gives them: read-only views of its buffer, fields fixed.

    Writing into them (net.params.W2 *= 3) or replacing one (net.params.W1 = a) would change what the last
    forward pass computed from, or leave the network with an array it does not own; net.params = Params(...)
    is the way. copy() and astype() give a plain, writable Params.
    """

    __slots__ = ()

    def __init__(self, *arrays: np.ndarray) -> None:
        for name, a in zip(self.NAMES, arrays, strict=True):
            object.__setattr__(self, name, _read_only(a))

    def __setattr__(self, name, value) -> None:
        raise AttributeError(
            f"net.params.{name} cannot be replaced: net.params holds read-only views of the network's own "
            "buffer. "
            f"Assign a whole Params instead (net.params = Params(...), checked and copied in), e.g. "
            f"p = net.params.copy(); p.{name} = ...; net.params = p"
        )

    __delattr__ = __setattr__

    def __reduce__(self):  # copy.deepcopy and pickle give a plain Params
        return (Params, tuple(self))


class TwoLayerNet:
    """X -> W1 X + b1 -> relu or tanh -> W2 h + b2 -> sigmoid, with mean binary cross-entropy.

    params: a Params in the layout above, float32 or float64. The network keeps its own copy (in one flat
    buffer, so that an SGD step is one NumPy call): the caller's arrays are never modified; read the trained
    values from net.params. activation: "relu" or "tanh".
    """

    _flat = None  # no parameters yet
    _version = 0  # counts the changes of the parameters: a forward pass is stale once it moves on
    _cache_version = None  # the version the saved forward pass was computed at

    def __init__(self, params: Params, activation: str) -> None:
        self.activation = _checks.activation(activation)
        self.params = params

    @property
    def params(self) -> Params:
        """The network's parameters: read-only views into its flat buffer, which sgd_step and train update in
        place (so they show the current values). Their fields cannot be replaced.

        To replace them, assign a Params (net.params = ...): it is checked and copied in.
        """
        return self._params_view

    @params.setter
    def params(self, params: Params) -> None:
        if (
            self._flat is not None
            and isinstance(params, Params)
            and all(
                type(a) is np.ndarray and a.shape == mine.shape and a.dtype == mine.dtype
                for a, mine in zip(params, self._params, strict=True)
            )
        ):
            layout = self._layout  # the arrays of the current, checked layout: nothing to check again
        else:
            layout = check_layout(params)
        if (
            self._flat is None
            or [a.shape for a in params] != [a.shape for a in self._params]
            or (layout.dtype != self._layout.dtype)
        ):
            self._flat, self._params = packed([a.shape for a in params], layout.dtype)
            self._params_view = NetworkParams(*self._params)
        elif any(np.may_share_memory(a, self._flat) for a in params):
            params = params.copy()  # parts of this network's own buffer, which the copy below overwrites
        # the same layout into the same buffer: no fresh pages, and net.params views stay valid
        for mine, theirs in zip(self._params, params, strict=True):
            mine[...] = theirs
        self._layout = layout
        self._version += 1
        self._cache = None

    @property
    def cache(self) -> ForwardCache | None:
        """What the last forward(X) saved for loss and backward (read-only views), or None. After train(), its
        last epoch's forward, stale (the update followed it): loss() and backward() refuse it."""
        return self._cache

    @cache.setter
    def cache(self, value: None) -> None:
        if value is not None:
            raise TypeError("net.cache can only be set to None (to drop it); forward(X) fills it")
        self._cache = None

    @contextlib.contextmanager
    def preserved(self) -> Iterator[TwoLayerNet]:
        """with net.preserved(): ... -- inside, set net.params and run passes freely; on leaving, the
        parameters are as before bit for bit (copied back into the same arrays) and so is the last forward
        pass (still usable by loss and backward if it was). What the gradient checkers probe a network
        with."""
        saved, state = self._params_view.copy(), (self._cache, self._cache_version)
        version = self._version
        try:
            yield self
        finally:
            self.params = saved
            (self._cache, self._cache_version), self._version = state, version

    def _keep(self, cache: ForwardCache, version: int) -> None:
        self._cache = ForwardCache(*(_read_only(a) for a in cache))
        self._cache_version = version

    @property
    def activation(self) -> str:
        """ "relu" or "tanh". Setting it is checked, and makes the last forward pass stale (another
        function)."""
        return self._activation

    @activation.setter
    def activation(self, value: str) -> None:
        self._activation = _checks.activation(value)
        self._version += 1

    @property
    def n_runs(self) -> int | None:
        """R for a stacked network, None for a single one."""
        return self._layout.n_runs

    @property
    def dtype(self) -> np.dtype:
        return self._layout.dtype

    @classmethod
    def init(cls, n_in, n_hidden, n_out=1, *, activation, rng, dtype=np.float64, n_runs=None) -> TwoLayerNet:
        """He initialization: W = N(0, 1) * sqrt(2 / fan_in) drawn from rng (W1, then W2), biases zero.

        n_runs: None for one network, R for a stacked one (W1 for all runs is drawn first, then W2).
        The draws are float64 and rounded once to dtype, so float32 and float64 networks from the same seed
        start from the same point.
        """
        n_in = _checks.positive_int("n_in", n_in)
        n_hidden = _checks.positive_int("n_hidden", n_hidden)
        n_out = _checks.positive_int("n_out", n_out)
        lead = () if n_runs is None else (_checks.positive_int("n_runs", n_runs),)
        activation = _checks.activation(activation)
        rng = _checks.generator("rng", rng)
        dtype = _checks.float_dtype("dtype", dtype)
        try:
            W1 = rng.standard_normal((*lead, n_hidden, n_in)) * np.sqrt(2.0 / n_in)
            W2 = rng.standard_normal((*lead, n_out, n_hidden)) * np.sqrt(2.0 / n_hidden)
            b1 = np.zeros((*lead, n_hidden, 1), dtype)
            b2 = np.zeros((*lead, n_out, 1), dtype)
            return cls(Params(W1.astype(dtype), b1, W2.astype(dtype), b2), activation)
        except (MemoryError, ValueError) as error:  # ValueError: a size beyond what an array can index
            sizes = f"n_in={n_in}, n_hidden={n_hidden}, n_out={n_out}" + (
                f", n_runs={n_runs}" if lead else ""
            )
            raise MemoryError(f"{sizes}: parameters of that size cannot be allocated ({error})") from None

    # -- one step, in pieces ------------------------------------------------------------------------------

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (n_in, m), or (R, n_in, m) per run. Returns p = sigmoid(z2): (n_out, m), or (R, n_out, m).

        Keeps what loss and backward need in self.cache (a ForwardCache).
        """
        X = _checks.inputs(X, self._layout)
        with np.errstate(all="ignore"):
            cache = forward(self._params, self._activation, np.array(X, order="C"))  # its own copy of X
        self._keep(cache, self._version)
        return cache.p.copy()

    def loss(self, y: np.ndarray):
        """y: labels in [0, 1] shaped like the last forward's output (or shared (n_out, m) when stacked).

        Returns the mean binary cross-entropy as a NumPy scalar of the network's dtype (np.float64 is a Python
        float; np.float32 keeps the precision it was computed in), or a (R,) array for a stacked network.
        """
        cache = self._cached("loss")
        y = _checks.targets(y, cache.p.shape, self._layout)
        with np.errstate(all="ignore"):
            mean = loss(cache, y)
        return mean[()] if self._layout.n_runs is None else mean

    def backward(self, y: np.ndarray) -> Params:
        """Gradients of the mean loss of the last forward with respect to every parameter, as a Params."""
        cache = self._cached("backward")
        y = _checks.targets(y, cache.p.shape, self._layout)
        with np.errstate(all="ignore"):
            return backward(self._params, self._activation, cache, y)

    def sgd_step(self, grads: Params, lr: float) -> None:
        """params -= lr * grads, in place (grads is left untouched). The last forward pass is then stale."""
        check_grads(grads, self._params)
        lr = _checks.finite_positive("lr", lr)
        with np.errstate(all="ignore"):
            for p, g in zip(self._params, grads, strict=True):
                p -= lr * g
        self._version += 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities sigmoid(z2) for X, as forward, without touching the cache of the last forward."""
        X = _checks.inputs(X, self._layout)
        with np.errstate(all="ignore"):
            return forward(self._params, self._activation, np.ascontiguousarray(X)).p

    @property
    def _relu(self) -> bool:
        return self._activation == "relu"

    def _cached(self, caller: str) -> ForwardCache:
        if self._cache is None:
            raise RuntimeError(
                f"{caller}() needs the forward pass of the current parameters: call forward(X) first"
            )
        if self._cache_version != self._version:
            raise RuntimeError(
                f"{caller}() needs the forward pass of the current parameters, but they were modified by an "
                "inplace "
                "operation (sgd_step, train, or a new activation) after the last forward(X): its values are "
                "those of the old parameters; call forward(X) again"
            )
        return self._cache

    # -- training -----------------------------------------------------------------------------------------

    def train(self, X, y, epochs, lr, *, max_norm=None, norm_type=2.0) -> History:
        """Full-batch SGD: `epochs` steps of forward, loss, backward, optional clipping, update.

        X: (n_in, m) or (R, n_in, m); y: (n_out, m) or (R, n_out, m); epochs >= 1; lr > 0.
        max_norm: clip the global gradient norm before every update with clip_grad_norm's semantics (each run
        of a stacked network over its own four tensors); norm_type: its p.
        Returns History; afterwards self.cache holds the last epoch's forward (before its update: stale).
        """
        layout = self._layout
        X, y, epochs, lr, max_norm, norm_type = self._training_args(X, y, epochs, lr, max_norm, norm_type)
        clip, per_run = max_norm is not None, layout.n_runs is not None
        shape = (epochs,) if layout.n_runs is None else (epochs, layout.n_runs)
        losses = _checks.allocation(f"epochs={epochs}", shape, layout.dtype)
        total_norms = _checks.allocation(f"epochs={epochs}", losses.shape, layout.dtype) if clip else None
        flat_grads, grads = packed([a.shape for a in self._params], layout.dtype)
        step = Step(self._params, self._relu, X, grads)
        flat, one_minus_y, n, lr_ = self._flat, 1 - y, n_averaged(y), np.array(lr, layout.dtype)
        with np.errstate(all="ignore"):
            for epoch in range(epochs):
                step.forward()
                losses[epoch] = step.loss_sums(one_minus_y)
                step.backward(y, n)
                if clip:
                    total_norms[epoch], _ = clip_in_place(list(grads), max_norm, norm_type, per_run)
                # params -= lr * grads, all four at once through the flat buffers (as sgd_step, op for op)
                np.multiply(flat_grads, lr_, out=flat_grads)
                flat -= flat_grads
            losses /= n  # the mean losses: each epoch's sum divided by N, as loss() divides
        self._keep(step.cache, self._version)  # the forward of the parameters before the last update: stale
        self._version += 1
        return History(losses, total_norms)

    def _training_args(self, X, y, epochs, lr, max_norm, norm_type) -> tuple:
        """train()'s arguments, checked: X, y, epochs, lr, max_norm (None: no clipping), norm_type."""
        layout = self._layout
        X = _checks.inputs(X, layout)
        lead = () if layout.n_runs is None else (layout.n_runs,)
        y = _checks.targets(y, (*lead, layout.n_out, X.shape[-1]), layout)
        epochs = _checks.positive_int("epochs", epochs)
        lr = _checks.finite_positive("lr", lr)
        norm_type = _checks.positive("norm_type", norm_type)
        if max_norm is not None:
            max_norm = _checks.positive("max_norm", max_norm)
        return X, y, epochs, lr, max_norm, norm_type
