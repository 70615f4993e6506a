"""The notebook's worked graphs, built from the engine's gates, against the same expressions in torch.autograd:
gradients that accumulate over several paths, at the notebook's values and on random arrays, with a random
upstream gradient. (The hand-computed values of the notebook are checked in test_engine_graphs.py.)"""

import numpy as np
import pytest

from parity.returns import EngineProblem

pytestmark = pytest.mark.parity_check

DTYPES = [pytest.param(np.float32, id="float32"), pytest.param(np.float64, id="float64")]

GRAPHS = {  # name -> (input names, the notebook's values)
    "add_mul": (("x", "y", "z"), (2.0, 3.0, 4.0)),
    "sigmoid_mul_add": (("x", "y", "z"), (2.0, -3.0, 1.0)),
    "chain_square": (("x",), (0.5,)),
    "two_paths": (("x",), (3.0,)),
    "shared_input": (("a", "b", "c"), (1.0, 2.0, 3.0)),
}
INPUTS = {
    "notebook": ("edge", lambda rng, values: [np.array(v) for v in values]),
    "random-scalar": ("random", lambda rng, values: [np.array(rng.standard_normal()) for _ in values]),
    "random-matrix": ("random", lambda rng, values: [rng.standard_normal((4, 5)) for _ in values]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("inputs", list(INPUTS))
@pytest.mark.parametrize("graph", list(GRAPHS))
def test_graph_matches_torch(engine, torch_ref, parity, graph, inputs, dtype):
    engine.require("graphs")
    names, values = GRAPHS[graph]
    kind, make = INPUTS[inputs]
    rng = parity.rng()
    arrays = [x.astype(dtype) for x in make(rng, values)]
    upstream = rng.standard_normal(arrays[0].shape).astype(dtype)
    named = dict(zip(names, arrays, strict=True))
    ref, ref64 = parity.torch_runs(lambda dt: torch_ref.graph(graph, named, upstream, dtype=dt), dtype)
    result = engine.graph(graph, arrays, upstream, names)
    tensors = {"value": (result.get(lambda r: r[0]), ref.value, ref64.value if ref64 else None)}
    for name in names:
        tensors[f"grad_{name}"] = (
            result.get(lambda r, name=name: grad_of(r[1], name)),
            ref.grads[name],
            ref64.grads[name] if ref64 else None,
        )
    parity.check(
        tensors,
        dtype=dtype,
        kind=kind,
        warnings=result.warned(result),
        conditioning=(ref64 or ref).conditioning,
    )


def grad_of(grads: dict, name: str):
    if name not in grads:
        raise EngineProblem(f"no gradient for input {name!r} (got {sorted(grads)})")
    return grads[name]
