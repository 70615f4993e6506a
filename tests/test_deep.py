"""Networks of any depth against torch.autograd: probabilities, loss and every layer's weight and bias
gradient, for every depth from 1 to 12, relu, tanh and sigmoid alone and mixed, widths from 1 to 256, float32
and float64; and the notebook's exploding gradients trained with and without clipping, both sides diverging
(or not) alike.

The initial parameters are the harness's (``parity.datasets.deep_init``: He before a ReLU, Xavier before tanh
and sigmoid), with non-zero biases so that every bias path carries information.
"""

from __future__ import annotations

import numpy as np
import pytest

from parity.datasets import deep_init
from parity.parametrize import DTYPES
from parity.returns import EngineProblem, as_result
from parity.tensors import network_tensors
from parity.trajectory import Final, Run, Side, TrajectoryRecord, first_nonfinite, judge_diverging, judge_run

pytestmark = pytest.mark.parity_check

ACTS = ("relu", "tanh", "sigmoid")
N_IN, M = 6, 64
# hidden widths, taken in turn: 1 and 256 included; a ReLU never gets a width-1 layer (it would be dead for
# every sample, and every gradient below it 0)
WIDTHS = (7, 1, 32, 256, 3, 64, 16, 2, 128, 5, 48, 9)


def _stack(depth: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    acts = tuple(ACTS[(depth + i) % 3] for i in range(depth))
    hidden = [WIDTHS[(depth + i) % len(WIDTHS)] for i in range(depth)]
    hidden = [2 if w == 1 and a == "relu" else w for w, a in zip(hidden, acts, strict=True)]
    return (N_IN, *hidden, 1), acts


CASES = {f"d1-{a}": ((N_IN, 5, 1), (a,)) for a in ACTS}
CASES.update({f"d{d}-mixed": _stack(d) for d in range(2, 13)})
# four square middle layers: a transposed weight or a skipped layer still runs, and only the numbers show it
CASES["d4-square-w32"] = ((N_IN, 32, 32, 32, 32, 1), ("tanh", "sigmoid", "relu", "tanh"))


def case_data(rng, widths, acts):
    params = deep_init(rng, widths, acts, bias=0.1)
    X = rng.standard_normal((widths[0], M))
    y = (rng.uniform(size=(1, M)) < 0.5).astype(np.float64)
    return params, X, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_deep_matches_torch(engine, torch_ref, parity, case, dtype):
    widths, acts = CASES[case]
    engine.require(*(f"deep network {a}" for a in dict.fromkeys(acts)))
    params, X, y = case_data(parity.rng(), widths, acts)
    params = {k: v.astype(dtype) for k, v in params.items()}
    X, y = X.astype(dtype), y.astype(dtype)
    torch = parity.torch_runs(
        lambda dt: torch_ref.deep_network(params, X, y, activations=acts, dtype=dt), dtype
    )
    result = engine.deep(params, X, y, acts)
    tensors, conditioning = network_tensors(result, torch, params)
    parity.check(
        tensors, dtype=dtype, kind="random", warnings=result.warned(result), conditioning=conditioning
    )


# -- exploding gradients, trained with and without clipping
# ---------------------------------------------------

# ReLU at 1.5 times the He scale, 10 hidden layers of 32: every layer's gradient ~100 times the He network's
# (gradient_flow.csv). At lr 0.1 the unclipped run overflows within a few steps; clipped at max_norm 1 it
# trains.
EXPLODING_WIDTHS, EXPLODING_SCALE, EXPLODING_LR, EXPLODING_EPOCHS, EXPLODING_M = (
    (8, *[32] * 10, 1),
    1.5,
    0.1,
    12,
    64,
)
MAX_NORMS = {"unclipped": None, "clipped": 1.0}


@pytest.mark.parametrize("clip", MAX_NORMS)
def test_exploding_training_against_torch(engine, torch_ref, parity, parity_seed, clip):
    """float64, both sides from the same parameters: a finite run is judged as every trajectory
    (parity.trajectory.judge_run); a diverging one must turn non-finite at the same epoch on both sides, its
    finite losses before that within the float64 normwise bound (they grow past 1e80: an absolute bound means
    nothing there)."""
    engine.require("deep network relu", "deep training")
    rng = np.random.default_rng(parity_seed("deep/exploding"))
    depth = len(EXPLODING_WIDTHS) - 2
    acts = ("relu",) * depth
    params = deep_init(rng, EXPLODING_WIDTHS, "relu", scale=EXPLODING_SCALE)
    X = rng.standard_normal((EXPLODING_WIDTHS[0], EXPLODING_M))
    y = (rng.uniform(size=(1, EXPLODING_M)) < 0.5).astype(np.float64)
    max_norm = MAX_NORMS[clip]
    kw = dict(epochs=EXPLODING_EPOCHS, lr=EXPLODING_LR, activations=acts, max_norm=max_norm)
    t = torch_ref.deep_train(params, X, y, dtype=np.float64, **kw)
    attempt = engine.deep_train(params, X, y, **kw)
    case = parity.case("random", f"deep-exploding-relu-{clip}")
    run = Run(
        activation="relu",
        dataset=f"deep-{depth}x{EXPLODING_WIDTHS[1]}-he{EXPLODING_SCALE:g}",
        epochs=EXPLODING_EPOCHS,
        lr=EXPLODING_LR,
        n_in=EXPLODING_WIDTHS[0],
        n_hidden=EXPLODING_WIDTHS[1],
        m=EXPLODING_M,
        max_norm=max_norm,
    )
    warned = attempt.warned(attempt)
    try:
        if not attempt.ok:
            raise EngineProblem(attempt.problem)
        losses, final, norms = attempt.value
        losses = as_result(losses, np.float64, "losses").astype(np.float64).reshape(-1)
        if losses.shape != t.losses.shape:
            raise EngineProblem(f"losses has shape {losses.shape}, expected {t.losses.shape}")
        mine = np.concatenate([as_result(final[n], np.float64, n).ravel() for n in params])
        norms = None if max_norm is None else as_result(norms, np.float64, "total_norms").reshape(-1)
    except EngineProblem as exc:
        parity.record(
            TrajectoryRecord.untrained(
                case, run, np.float64, str(exc), torch_final_loss=float(t.losses[-1]), warnings=warned
            )
        )
        raise AssertionError(f"{case.case}: {exc}\nrerun: {parity.rerun}") from None
    theirs = np.concatenate([t.params[n].ravel() for n in params])
    diverged, torch_diverged = first_nonfinite(losses), first_nonfinite(t.losses)
    ended = Final(final_loss=float(losses[-1]), torch_final_loss=float(t.losses[-1]))
    if torch_diverged is None:
        verdict = judge_run(np.float64, Side(losses, mine, norms), Side(t.losses, theirs, t.total_norms))
        problem = "" if diverged is None else f"scratch diverges at epoch {diverged}, torch stays finite"
        record = verdict.record(case, run, np.float64, ended, alone=True, problem=problem, warnings=warned)
    else:
        record = judge_diverging(case, run, losses, t.losses, ended, warnings=warned)
    parity.record(record)
    assert record.passed, (
        f"{case.case} (seed {parity_seed('deep/exploding')}): {record.problem or 'differs from torch'} on "
        f"{record.failed_tensors.replace(';', ', ') or 'losses'}; checked error {record.checked_error:.3g} > "
        f"tolerance {record.tolerance:.3g} [{record.rule}]\nrerun: {parity.rerun}"
    )
    # the experiment itself: the configuration explodes without clipping and trains with it, on torch's side
    if max_norm is None:
        assert torch_diverged is not None, "the exploding configuration no longer diverges without clipping"
    else:
        assert torch_diverged is None, "the clipped run diverges"
