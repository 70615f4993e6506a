"""The notebook's "Common Issues" measured in real networks: the norm of every layer's weight gradient, by the
engine and by torch, for relu, tanh and sigmoid stacks of depth 10 and 20 at 0.5, 1, 1.5 and 2 times the He
(relu) or Xavier (tanh, sigmoid) scale, on a batch of random inputs. One row per layer in
``reports/gradient_flow.csv``; each layer's whole gradient is compared with torch's by the tolerance policy.
README ("Vanishing and exploding gradients, measured") states what the rows show.
"""

from __future__ import annotations

import numpy as np
import pytest

from parity.compare import ParityError
from parity.datasets import deep_init
from parity.tables import FlowRecord

pytestmark = pytest.mark.parity_check

ACTIVATIONS = ("sigmoid", "tanh", "relu")
DEPTHS = (10, 20)
SCALES = (0.5, 1.0, 1.5, 2.0)  # times He (relu) or Xavier (tanh, sigmoid)
N_IN, WIDTH, M = 16, 64, 128


@pytest.mark.parametrize("scale", SCALES, ids=[f"scale{s:g}" for s in SCALES])
@pytest.mark.parametrize("depth", DEPTHS, ids=[f"depth{d}" for d in DEPTHS])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_flow(engine, torch_ref, parity, parity_seed, activation, depth, scale):
    engine.require(f"deep network {activation}")
    # the same inputs for every configuration, and the same weight draws up to scale: only scale differs
    X = np.random.default_rng(parity_seed("gradient_flow/data")).standard_normal((N_IN, M))
    y = (np.random.default_rng(parity_seed("gradient_flow/labels")).uniform(size=(1, M)) < 0.5).astype(
        np.float64
    )
    widths = (N_IN, *[WIDTH] * depth, 1)
    params = deep_init(
        np.random.default_rng(parity_seed(f"gradient_flow/{depth}")), widths, activation, scale=scale
    )
    acts = (activation,) * depth
    ref = torch_ref.deep_network(params, X, y, activations=acts, dtype=np.float64)
    result = engine.deep(params, X, y, acts)
    names = [f"W{layer}" for layer in range(1, depth + 2)]
    conditioning = dict(zip(["p", "loss", *(f"d{n}" for n in ref.grads)], ref.conditioning, strict=True))
    comparisons = parity.evaluate(
        {f"d{n}": (result.get(lambda r, n=n: r[2][n]), ref.grads[n]) for n in names},
        dtype=np.float64,
        kind="random",
        conditioning=[conditioning[f"d{n}"] for n in names],
    )
    for layer, (name, c) in enumerate(zip(names, comparisons, strict=True), start=1):
        mine = result.get(lambda r, name=name: r[2][name])
        parity.record(
            FlowRecord.of(
                c,
                activation=activation,
                depth=depth,
                layer=layer,
                weight_scale=scale,
                grad_norm=float(np.linalg.norm(mine)) if not c.problem else float("nan"),
                torch_grad_norm=float(np.linalg.norm(ref.grads[name])),
                warnings=result.warned(result),
            )
        )
    failures = [c for c in comparisons if not c.passed]
    if failures:
        raise ParityError(failures)
