"""The notebook-style example engine (examples/notebook_engine) with its loss made exact.

The example keeps the notebook's ``-mean(y log(p + 1e-7) + (1 - y) log(1 - p + 1e-7))``, which the suite flags
(docs/tolerances.md). Here the same engine computes the mean BCE from its cached logit instead, as
``mean(logaddexp(0, z) - y z)``: everything else (gates, the 1/m products, the clipping rule, one run at a
time) is the notebook's. A correct engine whose roundings are not torch's, for the false-fail sweep.

The example's two files are loaded as private copies, so patching this copy leaves the example alone.
"""

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "notebook_engine"


def _load(name: str, path: Path):
    spec = spec_from_file_location(name, path)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exact_loss(self, y_pred, y_true):
    z = self.cache["z2"]
    return np.mean(np.logaddexp(np.zeros((), z.dtype), z) - y_true * z)


_nn = _load("notebook_exact_nn", EXAMPLE / "notebook_nn.py")
_nn.NeuralNetwork.compute_loss = _exact_loss
_saved = sys.modules.get("notebook_nn")
sys.modules["notebook_nn"] = _nn  # what the adapter's `from notebook_nn import ...` binds to
try:
    _adapter = _load("notebook_exact_adapter", EXAMPLE / "adapter.py")
finally:
    if _saved is None:
        del sys.modules["notebook_nn"]
    else:
        sys.modules["notebook_nn"] = _saved

globals().update({k: v for k, v in vars(_adapter).items() if not k.startswith("__")})
