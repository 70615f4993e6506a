"""Adapter: the notebook-style engine (notebook_nn.py) as the parity suite's contract (docs/engine-api.md).

pytest -n auto --parity-engine=examples/notebook_engine/adapter.py
"""

from notebook_nn import (
    AddGate,
    ExpGate,
    MatMulGate,
    MultiplyGate,
    NeuralNetwork,
    PowerGate,
    ReLUGate,
    SigmoidGate,
    TanhGate,
    gradient_clip,
)

# the gates, under the contract's names
Add, Multiply, Power, Exp = AddGate, MultiplyGate, PowerGate, ExpGate
Sigmoid, ReLU, Tanh, MatMul = SigmoidGate, ReLUGate, TanhGate, MatMulGate

ACTIVATIONS = ("relu",)  # the notebook's network has a ReLU hidden layer only
CLIP_NORM_TYPES = (2.0,)  # its clipping rule knows the 2-norm only...
CLIP_ERROR_IF_NONFINITE = False  # ...and never raises


def _network(params, X):
    n_hidden, n_in = params["W1"].shape
    net = NeuralNetwork(n_in, n_hidden, params["W2"].shape[0])
    for name in ("W1", "b1", "W2", "b2"):
        setattr(net, name, params[name].copy())
    return net


def network(params, X, y, *, activation):
    net = _network(params, X)
    p = net.forward(X)
    loss = net.compute_loss(p, y)
    return p, loss, net.backward(y)


def train(params, X, y, *, epochs, lr, activation, max_norm=None):
    net = _network(params, X)
    losses, norms = net.train(X, y, epochs, lr, max_norm=max_norm)
    final = {name: getattr(net, name) for name in ("W1", "b1", "W2", "b2")}
    return losses, final, norms if max_norm is not None else None


def clip_grad_norm(grads, max_norm):
    clipped, total_norm, coef = gradient_clip(grads, max_norm)
    return list(clipped), total_norm, coef


# No `graphs`: the notebook works its graphs by hand, and the harness composes them from the gates above.
