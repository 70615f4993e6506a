"""The notebook's worked graphs (parity/catalogue.py), built from the engine's gates, against the same
expressions in torch.autograd: gradients that accumulate over several paths, at the notebook's values and on
random arrays, with a random upstream gradient. (The hand-computed values of the notebook are checked in
test_engine_graphs.py.)"""

import numpy as np
import pytest

from parity import catalogue
from parity.parametrize import DTYPES
from parity.returns import EngineProblem
from parity.tensors import graph_tensors

pytestmark = pytest.mark.parity_check


INPUTS = {
    "notebook": ("edge", lambda rng, values: [np.array(v) for v in values]),
    "random-scalar": ("random", lambda rng, values: [np.array(rng.standard_normal()) for _ in values]),
    "random-matrix": ("random", lambda rng, values: [rng.standard_normal((4, 5)) for _ in values]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("inputs", list(INPUTS))
@pytest.mark.parametrize("graph", list(catalogue.GRAPHS))
def test_graph_matches_torch(engine, torch_ref, parity, graph, inputs, dtype):
    engine.require("graphs")
    names = catalogue.GRAPHS[graph].inputs
    kind, make = INPUTS[inputs]
    rng = parity.rng()
    arrays = [x.astype(dtype) for x in make(rng, catalogue.GRAPHS[graph].notebook_values)]
    upstream = rng.standard_normal(arrays[0].shape).astype(dtype)
    named = dict(zip(names, arrays, strict=True))
    torch = parity.torch_runs(lambda dt: torch_ref.graph(graph, named, upstream, dtype=dt), dtype)
    result = engine.graph(graph, arrays, upstream, names)
    parity.check(
        graph_tensors(result, torch, names, grad_of),
        dtype=dtype,
        kind=kind,
        warnings=result.warned(result),
        conditioning=torch.conditioning,
    )


def grad_of(grads: dict, name: str):
    if name not in grads:
        raise EngineProblem(f"no gradient for input {name!r} (got {sorted(grads)})")
    return grads[name]
