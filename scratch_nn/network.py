"""A two-layer network trained by SGD on mean binary cross-entropy, with an explicit backward pass.

Layout (docs/engine-api.md), samples are columns:

    X: (n_in, m)   y: (n_out, m)   W1: (n_hidden, n_in)   b1: (n_hidden, 1)   W2: (n_out, n_hidden)   b2: (n_out, 1)

A stacked network puts a leading run axis R on every parameter (W1: (R, n_hidden, n_in), ...): R independent
networks in one computation, with X and y shared (2-D) or per run (3-D). Every formula is written once for
both cases: matrix products (np.matmul, or np.dot with the same bits for one network) and ``swapaxes(-1, -2)``
(not ``.mT``, which NumPy 1.26 lacks), sums over ``axis=-1``, the loss averaged over the last two axes.

    forward   z1 = W1 @ X + b1,  h = act(z1),  z2 = W2 @ h + b2,  p = sigmoid(z2)
    loss      L = mean((1 - y) * z2 - log_sigmoid(z2)),  log_sigmoid(z) = min(z, 0) - log1p(exp(-|z|))
              (torch's binary_cross_entropy_with_logits: finite for every finite logit)
    backward  dz2 = (p - y) / N          N = n_out * m, the number of elements averaged
              dW2 = dz2 @ h^T,  db2 = sum over samples of dz2,  dh = W2^T @ dz2
              dz1 = dh * act'(z1)   relu: dh where h > 0 else 0;  tanh: dh * (1 - h * h)
              dW1 = dz1 @ X^T,  db1 = sum over samples of dz1

The backward is this derivation written out, not a chain of gate objects, for speed; the test suite proves it
equal to chaining the gates' backwards (MatMul, Add, ReLU/Tanh, Sigmoid): it computes the same operations in
the same order as those gates, so the two agree bit for bit on finite values (given inputs that BLAS takes as they
are, C- or F-contiguous: for others NumPy's matmul runs its own loop, which rounds differently; the network
makes X C-contiguous).

Like torch and the gates, the arithmetic follows IEEE silently: a diverging run shows inf/NaN in its losses,
with no floating-point warnings (the methods run under np.errstate(all="ignore")). Inputs are validated.

No gradient is computed from values other than those its forward saw (torch's version counters refuse the same):
net.params and net.cache are read-only views, forward keeps its own copy of X and returns a copy of p, and
loss() and backward() refuse a forward made before the parameters last changed (sgd_step, train, net.params = ...).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from . import _checks, _precise
from .clip import _clip_in_place

__all__ = ["Params", "TwoLayerNet", "History", "ForwardCache"]


@dataclass(slots=True)
class Params:
    """The four parameter arrays (or their gradients), in this order; see the module docstring for shapes."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    NAMES: ClassVar[tuple[str, ...]] = ("W1", "b1", "W2", "b2")

    def __iter__(self):
        return iter((self.W1, self.b1, self.W2, self.b2))

    def copy(self) -> Params:
        return Params(*(a.copy() for a in self))

    def astype(self, dtype) -> Params:
        """A copy in dtype (np.float32 or np.float64), always new arrays."""
        dtype = _checks.float_dtype("dtype", dtype)
        return Params(*(a.astype(dtype) for a in self))

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self.NAMES, self, strict=True))


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


class NetworkParams(Params):
    """A network's own parameters as net.params gives them: read-only views of its buffer, fields fixed.

    Writing into them (net.params.W2 *= 3) or replacing one (net.params.W1 = a) would change what the last forward
    pass computed from, or leave the network with an array it does not own; net.params = Params(...) is the way.
    copy() and astype() give a plain, writable Params.
    """

    __slots__ = ()

    def __init__(self, *arrays: np.ndarray) -> None:
        for name, a in zip(self.NAMES, arrays, strict=True):
            object.__setattr__(self, name, _read_only(a))

    def __setattr__(self, name, value) -> None:
        raise AttributeError(
            f"net.params.{name} cannot be replaced: net.params holds read-only views of the network's own buffer. "
            f"Assign a whole Params instead (net.params = Params(...), checked and copied in), e.g. "
            f"p = net.params.copy(); p.{name} = ...; net.params = p"
        )

    __delattr__ = __setattr__

    def __reduce__(self):  # copy.deepcopy and pickle give a plain Params
        return (Params, tuple(self))


@dataclass(frozen=True)
class History:
    """losses: (epochs,) or (epochs, R), losses[e] the loss before epoch e's update.
    total_norms: same shape, the pre-clip global gradient norm of each step; None when training without max_norm.
    """

    losses: np.ndarray
    total_norms: np.ndarray | None


class ForwardCache(NamedTuple):
    """What one forward pass leaves for loss and backward. m samples; a leading R for a stacked network.

    X: (n_in, m) or (R, n_in, m), the inputs (a C-contiguous copy if they were not); h: (R?, n_hidden, m) the
    hidden activations; z2, p, log_p: (R?, n_out, m) the logits, sigmoid(z2) and log_sigmoid(z2).
    """

    X: np.ndarray
    h: np.ndarray
    z2: np.ndarray
    p: np.ndarray
    log_p: np.ndarray


def _packed(shapes, dtype: np.dtype) -> tuple[np.ndarray, Params]:
    """One flat buffer and a Params of views into it, so updating all four tensors is one NumPy call."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = np.empty(sum(sizes), dtype)
    ends = np.cumsum(sizes)
    return flat, Params(
        *(flat[end - size : end].reshape(shape) for shape, size, end in zip(shapes, sizes, ends, strict=True))
    )


# NOTE: the elementwise work on the hidden activations runs on blocks of rows (hidden units) that stay in the
# CPU's cache from one operation to the next: at (n_hidden, m) = (1024, 4096) the arrays take 16-32 MB, and each
# whole-array pass went to main memory. The operations are elementwise and the sums are per row, so the results
# are the same bits whatever the block size.
_BLOCK_BYTES = 512 * 1024


def _block_rows(hidden_shape: tuple, dtype: np.dtype) -> int:
    """Hidden units per block: that many rows of all runs together take about _BLOCK_BYTES (at least one)."""
    row_bytes = dtype.itemsize * math.prod(hidden_shape) // hidden_shape[-2]
    return max(1, min(hidden_shape[-2], _BLOCK_BYTES // max(row_bytes, 1)))


def _blocks(*arrays: np.ndarray | None) -> Sequence[tuple[np.ndarray | None, ...]]:
    """Cut arrays (R?, n_hidden, ·) by hidden unit (axis -2) into blocks of rows, a tuple of views per block.

    The first array sets the block size. An array with fewer rows than the first (a scratch buffer of one block)
    gives every block its first rows; None (an unused buffer) stays None. One block (a small network): (arrays,).
    """
    if arrays[0].nbytes <= _BLOCK_BYTES:
        return (arrays,)
    n, rows = arrays[0].shape[-2], _block_rows(arrays[0].shape, arrays[0].dtype)

    def block(a, i):
        if a is None:
            return None
        return a[..., i : i + rows, :] if a.shape[-2] == n else a[..., : min(rows, n - i), :]

    return [tuple(block(a, i) for a in arrays) for i in range(0, n, rows)]


def _block_shape(hidden_shape: tuple, dtype: np.dtype) -> tuple:
    """The shape of one block of an array of hidden_shape."""
    return (*hidden_shape[:-2], _block_rows(hidden_shape, dtype), hidden_shape[-1])


def _constant(value, dtype) -> np.ndarray:
    a = np.array(value, dtype)
    a.flags.writeable = False
    return a


_CONSTANTS = {dtype: tuple(_constant(v, dtype) for v in (0, 1, -1)) for dtype in _checks.FLOAT_DTYPES}


class _Step:
    """One step of a network on a batch: the arrays it writes, allocated once, and every view it reads through,
    derived once. Running it allocates no array of its own (NumPy still takes buffers for casts and reductions).

    NOTE: at XOR size a step is 26 NumPy calls of 0.5 to 1.5 us each, and the Python work between them (views,
    tuples, lists of blocks, temporaries, lookups) had cost as much again. train() builds one _Step and runs it
    every epoch; the one-off methods (forward, loss, backward, predict) build one per call, so they run the same
    code and give the same bits.

    P: the parameters, read at every run (train() updates them in place); relu: the activation is ReLU (else
    tanh); X: the inputs. grads: a Params the backward writes into, or None for a step that only runs forward
    and loss. cache: the arrays of an earlier forward to run backward from (the one-off backward), or None.
    Arrays: h and dz1 like the hidden activations (R?, n_hidden, m); zeros (ReLU), factor (tanh) and dact one
    block of their rows (see _blocks), zeros all 0; exponents and exps pairs of output-sized arrays (2, R?, n_out,
    m); the others like the output (R?, n_out, m).
    """

    def __init__(
        self,
        P: Params,
        relu: bool,
        X: np.ndarray,
        grads: Params | None = None,
        cache: ForwardCache | None = None,
    ) -> None:
        dtype = P.W1.dtype
        hidden_shape = (*P.W1.shape[:-1], X.shape[-1])  # (R?, n_hidden, m): X's lead is () or W1's (R,)
        out_shape = (*P.W2.shape[:-1], X.shape[-1])
        block_shape = _block_shape(hidden_shape, dtype)
        # NOTE: BLAS takes a C-contiguous X as it is; a strided one np.dot would copy at every product, and
        # np.matmul (the gate chain's, the stacked network's) would multiply with its own loop, rounding otherwise.
        X = np.ascontiguousarray(X)
        self.P, self.relu, self.X = P, relu, X
        # NOTE: a bias of one element (one output) is added as a 0-d view of it: the same value, without NumPy's
        # broadcasting machinery (0.45 instead of 1.1 us at XOR size)
        self.b2 = P.b2.reshape(()) if P.b2.size == 1 else P.b2
        # NOTE: NumPy takes 0-d arrays of the network's dtype about twice as fast as Python scalars (same
        # values: a Python scalar is cast to the array's dtype anyway).
        self.zero, self.one, self.minus_one = _CONSTANTS[dtype]
        self.exp, self.tanh, self.log1p = (_precise.into(fn, dtype) for fn in (np.exp, np.tanh, np.log1p))
        # NOTE: np.dot takes 0.7 us at XOR size where np.matmul takes 1.3 to 2 us (gufunc machinery), and for 2-D
        # operands BLAS takes as they are, both call the same BLAS routine: the same bits. But np.dot multiplies
        # two (1, 1) operands as scalars, x * y where BLAS sums 0 + x * y (the sign of a zero product differs),
        # so a network with a 1 x 1 x 1 product keeps matmul, as a stacked network must.
        n_hidden, n_in = P.W1.shape[-2:]
        n_out, m = P.W2.shape[-2], X.shape[-1]
        one_by_one = m == 1 and n_hidden == 1 and 1 in (n_in, n_out)  # W1 X, dz1 X^T; W2 h, dz2 h^T
        self.matmul = np.dot if P.W1.ndim == 2 and not one_by_one else np.matmul
        if cache is None:
            # NOTE: the sigmoid's two exponentials, of -|z2| and of min(z2, 0), run as one call over a stacked
            # pair (elementwise: the bits of two calls); at XOR size a call costs more than its arithmetic, and
            # float32's, through the float64 loop, twice that. So log_p and p are halves of the pairs:
            # exponents = (-|z2|, min(z2, 0), which becomes log_p), exps = (e = exp(-|z2|), exp(min(z2, 0)) -> p).
            self.exponents, self.exps = np.empty((2, *out_shape), dtype), np.empty((2, *out_shape), dtype)
            (self.neg_abs, log_p), (self.e, p) = self.exponents, self.exps
            cache = ForwardCache(X, np.empty(hidden_shape, dtype), np.empty(out_shape, dtype), p, log_p)
        self.cache = cache
        _, self.h, self.z2, self.p, self.log_p = cache
        self.denominator, self.terms = np.empty(out_shape, dtype), np.empty(out_shape, dtype)
        # NOTE: np.maximum is 2 to 4 times faster against an array of zeros than against a scalar 0 (SIMD loop)
        zeros = np.zeros(block_shape, dtype) if relu else None
        self.forward_blocks = _blocks(self.h, P.b1, zeros)
        if grads is None:
            return
        self.grads = grads
        self.dz2, self.dz1 = np.empty(out_shape, dtype), np.empty(hidden_shape, dtype)
        self.hT, self.XT, self.W2T = self.h.swapaxes(-1, -2), X.swapaxes(-1, -2), P.W2.swapaxes(-1, -2)
        self.one_output = out_shape[-2] == 1
        factor = None if relu else np.empty(block_shape, dtype)
        self.backward_blocks = _blocks(
            self.dz1, self.h, self.W2T, grads.b1, np.empty(block_shape, dtype), factor
        )

    def forward(self) -> None:
        P, h, z2, e, p, log_p = self.P, self.h, self.z2, self.e, self.p, self.log_p
        self.matmul(P.W1, self.X, out=h)
        for block, b1, zeros in self.forward_blocks:
            block += b1
            if self.relu:
                np.maximum(block, zeros, out=block)  # the ReLU gate's op: NaN propagates, as torch.relu
            else:
                self.tanh(block, out=block)
        self.matmul(P.W2, h, out=z2)
        z2 += self.b2
        # NOTE: the Sigmoid gate's stable formula, op for op, sharing exp(-|z2|) (in (0, 1]: no overflow) with
        # log_sigmoid. Underflow of exp to 0 past |z2| ~ 745 is the exact limit.
        np.copysign(
            z2, self.minus_one, out=self.neg_abs
        )  # -|z2|: the bits of np.negative(np.abs(z2)), one call
        np.minimum(z2, self.zero, out=log_p)
        self.exp(self.exponents, out=self.exps)  # e = exp(-|z2|) and p = exp(min(z2, 0))
        p /= np.add(e, self.one, out=self.denominator)
        self.log1p(e, out=e)
        log_p -= e

    def loss_sums(self, one_minus_y: np.ndarray) -> np.ndarray:
        """Sum over the last two axes of (1 - y) * z2 - log_sigmoid(z2): 0-d, or (R,) for a stacked network.
        The mean loss is this divided by N (the caller's: train() divides all epochs' sums at once)."""
        terms = np.multiply(one_minus_y, self.z2, out=self.terms)
        terms -= self.log_p
        return np.add.reduce(terms, axis=(-2, -1))

    def backward(self, y: np.ndarray, n: np.ndarray) -> None:
        G = self.grads
        # NOTE: divide by N, not multiply by 1/N: torch's binary_cross_entropy_with_logits_backward computes
        # (sigmoid(z) - y) * grad / numel, and the two round differently.
        dz2 = np.subtract(self.p, y, out=self.dz2)
        dz2 /= n
        self.matmul(dz2, self.hT, out=G.W2)
        np.add.reduce(dz2, axis=-1, keepdims=True, out=G.b2)
        if not self.one_output:
            self.matmul(self.W2T, dz2, out=self.dz1)
        for dz1, h, W2T_rows, db1, dact, factor in self.backward_blocks:
            if self.one_output:
                # NOTE: with one output the product has inner size 1: each element is one exact product, so a
                # broadcast multiply gives the same bits as the matmul, and BLAS is ~10x slower at outer products.
                np.multiply(W2T_rows, dz2, out=dz1)
            if self.relu:
                # NOTE: (h > 0) is 1 where h > 0 and 0 where h == 0 (h = relu(z1) >= 0), so the derivative at
                # exactly 0 is 0, as torch and the ReLU gate, and one multiply is much cheaper than a masked copy.
                # This differs from torch's where(h <= 0, 0, g) only on non-finite values (g = inf at h == 0; a
                # NaN in h has made its whole column of dz2, hence of dz1, NaN already). The comparison is ~2.5x
                # faster per element than sign(h), the same values here.
                np.greater(h, self.zero, out=dact)
            else:
                # NOTE: 1 - h*h as (1 - h) * (1 + h): near |h| = 1 the naive form cancels and is off by up to
                # 1e-4 relative in float32, where torch's tanh_backward is correctly rounded; 1 - h is exact
                # there. The factor first, then the product with dz1: (dz1 * (1 - h)) * (1 + h) could overflow,
                # or round into a subnormal, where torch rounds once.
                np.subtract(self.one, h, out=dact)
                dact *= np.add(self.one, h, out=factor)
            dz1 *= dact
            np.add.reduce(dz1, axis=-1, keepdims=True, out=db1)
        self.matmul(self.dz1, self.XT, out=G.W1)


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
            layout = _checks.params_layout(params)
        if (
            self._flat is None
            or [a.shape for a in params] != [a.shape for a in self._params]
            or (layout.dtype != self._layout.dtype)
        ):
            self._flat, self._params = _packed([a.shape for a in params], layout.dtype)
            self._params_view = NetworkParams(*self._params)
        elif any(np.may_share_memory(a, self._flat) for a in params):
            params = params.copy()  # parts of this network's own buffer, which the copy below overwrites
        # NOTE: the same layout is copied into the same buffer: no fresh pages, and net.params views stay valid
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
        """with net.preserved(): ... -- inside, set net.params and run passes freely; on leaving, the parameters
        are as before bit for bit (copied back into the same arrays) and so is the last forward pass (still usable
        by loss and backward if it was). What the gradient checkers probe a network with."""
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
        """ "relu" or "tanh". Setting it is checked, and makes the last forward pass stale (another function)."""
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
        # NOTE: its own C-ordered copy, so that the caller changing X before backward changes nothing (the layout
        # _Step would make of X anyway: the same products, the same bits)
        step = _Step(self._params, self._relu, np.array(X, order="C"))
        with np.errstate(all="ignore"):
            step.forward()
        self._keep(step.cache, self._version)
        return step.p.copy()

    def loss(self, y: np.ndarray):
        """y: labels in [0, 1] shaped like the last forward's output (or shared (n_out, m) when stacked).

        Returns the mean binary cross-entropy as a NumPy scalar of the network's dtype (np.float64 is a Python
        float; np.float32 keeps the precision it was computed in), or a (R,) array for a stacked network.
        """
        cache = self._cached("loss")
        y = _checks.targets(y, cache.p.shape, self._layout)
        with np.errstate(all="ignore"):
            loss = _Step(self._params, self._relu, cache.X, cache=cache).loss_sums(1 - y) / self._n_averaged(
                y
            )
        return loss[()] if self._layout.n_runs is None else loss

    def backward(self, y: np.ndarray) -> Params:
        """Gradients of the mean loss of the last forward with respect to every parameter, as a Params."""
        cache = self._cached("backward")
        y = _checks.targets(y, cache.p.shape, self._layout)
        _, grads = _packed([a.shape for a in self._params], self.dtype)
        with np.errstate(all="ignore"):
            _Step(self._params, self._relu, cache.X, grads, cache).backward(y, self._n_averaged(y))
        return grads

    def sgd_step(self, grads: Params, lr: float) -> None:
        """params -= lr * grads, in place (grads is left untouched). The last forward pass is then stale."""
        _checks.grads_like(grads, self._params)
        lr = _checks.finite_positive("lr", lr)
        with np.errstate(all="ignore"):
            for p, g in zip(self._params, grads, strict=True):
                p -= lr * g
        self._version += 1

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities sigmoid(z2) for X, as forward, without touching the cache of the last forward."""
        X = _checks.inputs(X, self._layout)
        step = _Step(self._params, self._relu, X)
        with np.errstate(all="ignore"):
            step.forward()
        return step.p

    @property
    def _relu(self) -> bool:
        return self._activation == "relu"

    def _n_averaged(self, y: np.ndarray) -> np.ndarray:
        """N, the number of loss terms averaged per run, as a 0-d array of the network's dtype (exact)."""
        return np.array(y.shape[-2] * y.shape[-1], self.dtype)

    def _cached(self, caller: str) -> ForwardCache:
        if self._cache is None:
            raise RuntimeError(
                f"{caller}() needs the forward pass of the current parameters: call forward(X) first"
            )
        if self._cache_version != self._version:
            raise RuntimeError(
                f"{caller}() needs the forward pass of the current parameters, but they were modified by an inplace "
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
        X = _checks.inputs(X, layout)
        lead = () if layout.n_runs is None else (layout.n_runs,)
        m = X.shape[-1]
        y = _checks.targets(y, (*lead, layout.n_out, m), layout)
        epochs = _checks.positive_int("epochs", epochs)
        lr = _checks.finite_positive("lr", lr)
        norm_type = _checks.positive("norm_type", norm_type)
        clip = max_norm is not None
        if clip:
            max_norm = _checks.positive("max_norm", max_norm)

        losses = _checks.allocation(f"epochs={epochs}", (epochs, *lead), layout.dtype)  # the losses
        total_norms = _checks.allocation(f"epochs={epochs}", losses.shape, layout.dtype) if clip else None
        flat_grads, grads = _packed([a.shape for a in self._params], layout.dtype)
        step = _Step(self._params, self._relu, X, grads)
        flat, one_minus_y, n, lr_ = self._flat, 1 - y, self._n_averaged(y), np.array(lr, layout.dtype)
        per_run = layout.n_runs is not None
        with np.errstate(all="ignore"):
            for epoch in range(epochs):
                step.forward()
                losses[epoch] = step.loss_sums(one_minus_y)
                step.backward(y, n)
                if clip:
                    total_norms[epoch], _ = _clip_in_place(list(grads), max_norm, norm_type, per_run)
                # params -= lr * grads, all four at once through the flat buffers (as sgd_step, op for op)
                np.multiply(flat_grads, lr_, out=flat_grads)
                flat -= flat_grads
            losses /= n  # the mean losses: each epoch's sum divided by N, as loss() divides
        self._keep(
            step.cache, self._version
        )  # the forward of the parameters before the last update: stale now
        self._version += 1
        return History(losses, total_norms)
