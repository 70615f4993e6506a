"""Whole training runs against torch: the loss at every epoch and the final parameters, from identical initial
parameters, torch training with torch.autograd and torch.optim.SGD.

XOR in the notebook's setting (4 hidden units, lr 1.0, 10,000 epochs), 32 seeds x {relu, tanh} x {float32,
float64}; random data sets of other sizes; and training with clipping at several max_norms, where the pre-clip
total norm of every step is compared too. The runs of a case are trained as one stacked computation on both
sides (R networks with a leading run axis; torch minimizes the sum of the per-run losses, so every run gets
its own gradient): test_stacked_equals_one_run shows this fast path gives the numbers of one-run training.

float32 is judged against a float64 torch run from the same (float32) initial parameters: scratch float32 may
deviate from it at most a stated factor more than torch float32 does. To make that one float64 torch run serve
both dtypes, float64 runs start from the same float32-representable parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from parity.datasets import he_init
from parity.parametrize import DTYPES
from parity.returns import EngineProblem, as_result
from parity.trajectory import (
    Final,
    Run,
    Side,
    TrajectoryRecord,
    curve_points,
    judge_case,
    judge_run,
    losses_agree,
)

pytestmark = pytest.mark.parity_check

NAMES = ("W1", "b1", "W2", "b2")
X_XOR = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
Y_XOR = np.array([[0.0, 1.0, 1.0, 0.0]])
CONVERGED_LOSS = 0.1


def initial_params(seeds, n_in, n_hidden):
    """Stacked (R, ...) He-initialized float32 parameters, one run per seed, as a float64-exact dict."""
    runs = [
        {n: v.astype(np.float32) for n, v in he_init(np.random.default_rng(s), n_in, n_hidden).items()}
        for s in seeds
    ]
    return {n: np.stack([r[n] for r in runs]) for n in NAMES}


def trained(attempt, dtype, epochs: int, params: dict, clip: bool):
    """(losses (epochs, R) float64, final params dict, total norms (epochs, R) or None) from the engine's
    answer, each checked for shape and dtype; EngineProblem names the one that is wrong."""
    losses, final, norms = attempt.value
    runs = len(params["W1"])
    losses = _shaped(losses, (epochs, runs), "losses", None)
    final = {n: _shaped(final[n], params[n].shape, f"final {n}", dtype) for n in NAMES}
    norms = _shaped(norms, (epochs, runs), "total_norms", None) if clip else None
    return losses, final, norms


def _shaped(value, shape, what, dtype):
    arr = as_result(value, dtype or np.float64, what)
    if arr.shape != shape:
        raise EngineProblem(f"{what} has shape {arr.shape}, expected {shape}")
    if dtype is not None and arr.dtype != dtype:
        raise EngineProblem(f"{what} has dtype {arr.dtype}, expected {np.dtype(dtype)}")
    return arr.astype(np.float64)


# A module fixture's value can be torn down between the two dtypes' tests of one group: an xdist worker
# with no next test queued tears down everything. The latest Setting per case is kept here, so that its
# torch runs (seconds) are computed once per base seed; its key holds the seeds (another base seed rebuilds).
_KEPT: dict = {}


def kept(case, seeds, build) -> Setting:
    held = _KEPT.get(case)
    if held is None or held[0] != tuple(seeds):
        _KEPT[case] = held = (tuple(seeds), build())
    return held[1]


class Setting:
    """One stacked case: data, initial parameters, the torch float32 and float64 runs (computed once)."""

    def __init__(
        self, engine, torch_ref, *, dataset, X, y, seeds, n_hidden, activation, epochs, lr, max_norm=None
    ):
        self.dataset, self.X, self.y, self.seeds = dataset, X, y, list(seeds)
        self.activation, self.epochs, self.lr, self.max_norm = activation, epochs, lr, max_norm
        self.n_in, self.n_hidden, self.m = X.shape[0], n_hidden, X.shape[1]
        self.params = initial_params(self.seeds, self.n_in, n_hidden)
        self.torch = {
            np.dtype(dt): torch_ref.train(
                {n: v.astype(dt) for n, v in self.params.items()},
                X.astype(dt),
                y.astype(dt),
                epochs=epochs,
                lr=lr,
                activation=activation,
                dtype=dt,
                max_norm=max_norm,
            )
            for dt in (np.float32, np.float64)
        }

    def check(self, engine, parity, dtype, kind):
        """Train the engine at dtype, record a trajectories row and curve rows per run, raise on any
        failure."""
        dtype = np.dtype(dtype)
        engine.require(f"network {self.activation}", "training", "stacked training")
        start = {n: v.astype(dtype) for n, v in self.params.items()}
        attempt = engine.train(
            start,
            self.X.astype(dtype),
            self.y.astype(dtype),
            epochs=self.epochs,
            lr=self.lr,
            activation=self.activation,
            max_norm=self.max_norm,
        )
        try:
            if not attempt.ok:
                raise EngineProblem(attempt.problem)
            mine, final, norms = trained(attempt, dtype, self.epochs, start, self.max_norm is not None)
        except EngineProblem as exc:
            self.record_problem(parity, dtype, kind, str(exc), attempt.warned(attempt))
            where = f"{self.dataset}-{self.activation}-{dtype.name}"
            raise AssertionError(f"{where}: {exc}\nrerun: {parity.rerun}") from None
        t, t64 = self.torch[dtype], self.torch[np.dtype(np.float64)]
        verdicts = []
        for r in range(len(self.seeds)):
            sides = [
                Side(mine[:, r], flat(final, r), None if norms is None else norms[:, r]),
                Side(
                    t.losses[:, r], flat(t.params, r), None if t.total_norms is None else t.total_norms[:, r]
                ),
                Side(
                    t64.losses[:, r],
                    flat(t64.params, r),
                    None if t64.total_norms is None else t64.total_norms[:, r],
                ),
            ]
            verdicts.append(judge_run(dtype, sides[0], sides[1], sides[2] if dtype == np.float32 else None))
        case_verdict = judge_case(dtype, verdicts)
        failures = []
        for r, (seed, verdict) in enumerate(zip(self.seeds, verdicts, strict=True)):
            case = parity.case(kind, f"{self.dataset}-{self.activation}-{dtype.name}-run{r:02d}", seed)
            ended = self.final(r, final, mine, t)
            warned = attempt.warned(attempt)
            parity.record(
                verdict.record(case, self.run, dtype, ended, case_verdict=case_verdict, warnings=warned)
            )
            for point in curve_points(case, self.run, dtype, mine[:, r], t.losses[:, r], verdict.worst_epoch):
                parity.record(point)
            if not verdict.passed:
                e = verdict.worst_epoch
                failures.append(verdict.describe(case.case, seed, float(mine[e, r]), float(t.losses[e, r])))
        assert case_verdict.passed, (
            f"{case_verdict.describe()}\nscratch outlier runs (scratch ACTUAL, torch DESIRED):\n"
            + "\n".join(failures)
            + f"\nrerun: {parity.rerun}"
        )

    @property
    def run(self) -> Run:
        return Run(
            activation=self.activation,
            dataset=self.dataset,
            epochs=self.epochs,
            lr=self.lr,
            n_in=self.n_in,
            n_hidden=self.n_hidden,
            m=self.m,
            max_norm=self.max_norm,
        )

    def final(self, r: int, params: dict, losses, torch) -> Final:
        """Run r's last loss, accuracy and convergence, the engine's (``params``, ``losses``) and torch's."""
        acc = _accuracy(params, r, self.X, self.y, self.activation)
        torch_acc = _accuracy(torch.params, r, self.X, self.y, self.activation)
        return Final(
            final_loss=float(losses[-1, r]),
            torch_final_loss=float(torch.losses[-1, r]),
            accuracy=acc,
            torch_accuracy=torch_acc,
            converged=bool(acc == 1.0 and losses[-1, r] < CONVERGED_LOSS),
            torch_converged=bool(torch_acc == 1.0 and torch.losses[-1, r] < CONVERGED_LOSS),
        )

    def record_problem(self, parity, dtype, kind, problem: str, warned: str) -> None:
        """One failing row per run when the engine's training gave nothing to compare."""
        for r, seed in enumerate(self.seeds):
            case = parity.case(kind, f"{self.dataset}-{self.activation}-{dtype.name}-run{r:02d}", seed)
            parity.record(TrajectoryRecord.untrained(case, self.run, dtype, problem, warnings=warned))


def flat(params, r):
    return np.concatenate([np.asarray(params[n][r], dtype=np.float64).ravel() for n in NAMES])


def _accuracy(params, r, X, y, activation):
    """Accuracy of run r's final parameters, evaluated in float64 by the harness for both sides alike."""
    W1, b1, W2, b2 = (params[n][r].astype(np.float64) for n in NAMES)
    z1 = W1 @ X + b1
    h = np.maximum(z1, 0) if activation == "relu" else np.tanh(z1)
    return float(np.mean(((W2 @ h + b2) > 0) == (y > 0.5)))


# -- XOR, the notebook's setting
# ------------------------------------------------------------------------------

XOR_RUNS, XOR_EPOCHS, XOR_LR, XOR_HIDDEN = 32, 10_000, 1.0, 4


@pytest.fixture(scope="module")
def xor_setting(request, engine, torch_ref, parity_seed):
    activation = request.param
    engine.require(f"network {activation}", "training", "stacked training")  # before torch trains
    seeds = [parity_seed(f"training/xor/{r}") for r in range(XOR_RUNS)]
    return kept(
        ("xor", activation),
        seeds,
        lambda: Setting(
            engine,
            torch_ref,
            dataset="xor",
            X=X_XOR,
            y=Y_XOR,
            seeds=seeds,
            n_hidden=XOR_HIDDEN,
            activation=activation,
            epochs=XOR_EPOCHS,
            lr=XOR_LR,
        ),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "xor_setting",
    [
        pytest.param("relu", marks=pytest.mark.xdist_group("training-xor-relu"), id="relu"),
        pytest.param("tanh", marks=pytest.mark.xdist_group("training-xor-tanh"), id="tanh"),
    ],
    indirect=True,
)
def test_xor_trajectories_match_torch(engine, parity, xor_setting, dtype):
    xor_setting.check(engine, parity, dtype, kind="xor")


# -- random data sets, and clipping
# ---------------------------------------------------------------------------

RANDOM_SETS = {  # (n_in, n_hidden, m)
    "random-5x8x16": (5, 8, 16),
    "random-20x32x64": (20, 32, 64),
    "random-3x16x100": (3, 16, 100),
}
RANDOM_RUNS, RANDOM_EPOCHS, RANDOM_LR = 4, 1_000, 0.3  # 0.3: not a float32 number (lr-rounded-to-float32)
# max_norm as a multiple of the median pre-clip norm of an unclipped run: some steps clip, some do not
CLIP_FRACTIONS = {"clip-none": None, "clip-2x-median": 2.0, "clip-median": 1.0, "clip-quarter-median": 0.25}


def random_data(parity_seed, dataset):
    n_in, n_hidden, m = RANDOM_SETS[dataset]
    rng = np.random.default_rng(parity_seed(f"training/{dataset}/data"))
    X = rng.standard_normal((n_in, m))
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    return X, y, n_hidden


@pytest.fixture(scope="module")
def random_setting(request, engine, torch_ref, parity_seed):
    dataset, activation, clip = request.param
    engine.require(f"network {activation}", "training", "stacked training")  # before torch trains
    X, y, n_hidden = random_data(parity_seed, dataset)
    seeds = [parity_seed(f"training/{dataset}/{r}") for r in range(RANDOM_RUNS)]
    return kept(
        request.param,
        seeds,
        lambda: clipped_setting(engine, torch_ref, (X, y, n_hidden), seeds, request.param),
    )


def clipped_setting(engine, torch_ref, data, seeds, case) -> Setting:
    """A random case's Setting; with clipping, max_norm is a fraction of an unclipped run's median norm."""
    (X, y, n_hidden), (dataset, activation, clip) = data, case
    max_norm = None
    if CLIP_FRACTIONS[clip] is not None:
        params = initial_params(seeds[:1], X.shape[0], n_hidden)
        probe = torch_ref.train(
            {n: v[0].astype(np.float64) for n, v in params.items()},
            X,
            y,
            epochs=RANDOM_EPOCHS,
            lr=RANDOM_LR,
            activation=activation,
            dtype=np.float64,
            max_norm=1e300,
        )
        max_norm = CLIP_FRACTIONS[clip] * float(np.median(probe.total_norms))
    return Setting(
        engine,
        torch_ref,
        dataset=dataset,
        X=X,
        y=y,
        seeds=seeds,
        n_hidden=n_hidden,
        activation=activation,
        epochs=RANDOM_EPOCHS,
        lr=RANDOM_LR,
        max_norm=max_norm,
    )


RANDOM_CASES = [(d, a, "clip-none") for d in RANDOM_SETS for a in ("relu", "tanh")] + [
    ("random-5x8x16", a, c) for a in ("relu", "tanh") for c in CLIP_FRACTIONS if c != "clip-none"
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "random_setting",
    [
        pytest.param(c, marks=pytest.mark.xdist_group("training-" + "-".join(c)), id="-".join(c))
        for c in RANDOM_CASES
    ],
    indirect=True,
)
def test_random_trajectories_match_torch(engine, parity, random_setting, dtype):
    random_setting.check(engine, parity, dtype, kind="random")


# -- the fast path is the one-run path
# ------------------------------------------------------------------------

ONE_RUN_EPOCHS = 1_000


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_stacked_equals_one_run(engine, torch_ref, parity, parity_seed, activation):
    """Stacked training, on both sides, gives the losses and parameters of training each run alone (float64,
    to rounding: torch's sigmoid may round an element differently inside a longer tensor)."""
    engine.require(f"network {activation}", "training", "stacked training")
    seeds = [parity_seed(f"training/xor/{r}") for r in range(3)]
    params = initial_params(seeds, 2, XOR_HIDDEN)
    p64 = {n: v.astype(np.float64) for n, v in params.items()}
    kw = dict(epochs=ONE_RUN_EPOCHS, lr=XOR_LR, activation=activation)
    stacked_torch = torch_ref.train(p64, X_XOR, Y_XOR, dtype=np.float64, **kw)
    stacked_scratch = engine_losses(engine.train(p64, X_XOR, Y_XOR, **kw), runs=len(seeds))
    problems = []
    for r, seed in enumerate(seeds):
        single = {n: v[r] for n, v in p64.items()}
        one_torch = torch_ref.train(single, X_XOR, Y_XOR, dtype=np.float64, **kw)
        one_scratch = engine_losses(engine.train(single, X_XOR, Y_XOR, **kw), runs=1)
        for side, stacked, one in (
            ("torch", stacked_torch.losses[:, r], one_torch.losses),
            ("scratch", stacked_scratch[:, r], one_scratch[:, 0]),
        ):
            case = parity.case("xor", f"one-run-vs-stacked-{side}-{activation}-run{r}", seed)
            run = Run(activation=activation, dataset="xor", epochs=ONE_RUN_EPOCHS, lr=XOR_LR)
            record = losses_agree(case, run, stacked, one, "stacked vs one run")
            parity.record(record)
            if not record.passed:
                problems.append(
                    f"{side} run {r} (seed {seed}): stacked and one-run losses differ by "
                    f"{record.checked_error:.3g}"
                )
    assert not problems, "\n".join(problems)


def engine_losses(attempt, runs: int) -> np.ndarray:
    """The (epochs, runs) losses of an engine's training, or the failure that kept it from training."""
    if not attempt.ok:
        raise AssertionError(attempt.problem)
    return np.asarray(attempt.value[0], dtype=np.float64).reshape(ONE_RUN_EPOCHS, runs)
