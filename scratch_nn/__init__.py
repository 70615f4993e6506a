"""scratch_nn: backpropagation from scratch in NumPy, the engine that the parity suite checks against torch.

The contract (names, signatures, array layout) is docs/engine-api.md. Samples are columns: X is (n_in, m).
"""

from . import graphs
from .clip import ClipResult, clip_grad_norm, clip_grad_norm_per_run
from .deep import HIDDEN_ACTIVATIONS, DeepNet, Layers, deep_network, deep_train
from .gates import Add, Exp, LeakyReLU, MatMul, Multiply, Power, ReLU, Sigmoid, Tanh
from .gradcheck import (
    DirectionalCheckResult,
    GradCheckResult,
    TensorCheck,
    directional_gradient_check,
    gradient_check,
    numerical_gradient,
)
from .graphs import GraphResult
from .network import TwoLayerNet
from .params import History, Params
from .taylor import TaylorResult, taylor_check

__all__ = [
    "Add",
    "Multiply",
    "Power",
    "Exp",
    "Sigmoid",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "MatMul",
    "graphs",
    "GraphResult",
    "Params",
    "TwoLayerNet",
    "History",
    "DeepNet",
    "Layers",
    "HIDDEN_ACTIVATIONS",
    "deep_network",
    "deep_train",
    "clip_grad_norm",
    "clip_grad_norm_per_run",
    "ClipResult",
    "gradient_check",
    "numerical_gradient",
    "GradCheckResult",
    "TensorCheck",
    "directional_gradient_check",
    "DirectionalCheckResult",
    "taylor_check",
    "TaylorResult",
]
