"""torch.autograd reference for the scratch_nn parity harness.

Takes plain NumPy arrays and a dtype ("float32"/"float64"), computes with torch's own library functions,
differentiates with torch.autograd, and returns NumPy arrays of that dtype. Independent of the engine it
judges: never imports scratch_nn (nor pytest). Layout as in docs/engine-api.md (samples are columns).
"""

from .clip import ClipResult, clip
from .conditioning import Conditioning
from .deep import deep_network, deep_train
from .network import PARAM_NAMES, NetResult, network
from .ops import GATES, GRAPHS, GateResult, GraphResult, gate, graph
from .threads import set_threads
from .training import TrainResult, train

__all__ = [
    "GATES",
    "GRAPHS",
    "PARAM_NAMES",
    "ClipResult",
    "Conditioning",
    "GateResult",
    "GraphResult",
    "NetResult",
    "TrainResult",
    "clip",
    "deep_network",
    "deep_train",
    "gate",
    "graph",
    "network",
    "set_threads",
    "train",
]
