"""Networks of any depth against torch.autograd: probabilities, loss and every layer's weight and bias gradient,
for every depth from 1 to 12, relu, tanh and sigmoid alone and mixed, widths from 1 to 256, float32 and float64;
and the notebook's exploding gradients trained with and without clipping, both sides diverging (or not) alike.

The initial parameters are the harness's (``parity.datasets.deep_init``: He before a ReLU, Xavier before tanh
and sigmoid), with non-zero biases so that every bias path carries information.
"""

from __future__ import annotations

import numpy as np
import pytest

from parity.datasets import deep_init
from parity.trajectory import Side, judge_run

pytestmark = pytest.mark.parity_check

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]
ACTS = ("relu", "tanh", "sigmoid")
N_IN, M = 6, 64
# hidden widths, taken in turn: 1 and 256 included; a ReLU never gets a width-1 layer (it would be dead for every
# sample, and every gradient below it 0)
WIDTHS = (7, 1, 32, 256, 3, 64, 16, 2, 128, 5, 48, 9)


def _stack(depth: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    acts = tuple(ACTS[(depth + i) % 3] for i in range(depth))
    hidden = [WIDTHS[(depth + i) % len(WIDTHS)] for i in range(depth)]
    hidden = [2 if w == 1 and a == "relu" else w for w, a in zip(hidden, acts)]
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
    ref, ref64 = parity.torch_runs(lambda dt: torch_ref.deep_network(params, X, y, activations=acts, dtype=dt),
                                   dtype)
    result = engine.deep(params, X, y, acts)
    tensors = {
        "p": (result.get(lambda r: r[0]), ref.p, ref64.p if ref64 else None),
        "loss": (result.get(lambda r: r[1]), np.asarray(ref.loss), np.asarray(ref64.loss) if ref64 else None),
    }
    for name in params:
        tensors[f"d{name}"] = (result.get(lambda r, name=name: r[2][name]), ref.grads[name],
                               ref64.grads[name] if ref64 else None)
    parity.check(tensors, dtype=dtype, kind="random", warnings=result.warned(result))
