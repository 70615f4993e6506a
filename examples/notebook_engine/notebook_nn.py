"""A backpropagation engine written the way a reader of the notebook writes one.

Gate classes with forward and backward, a NeuralNetwork class (ReLU hidden layer, sigmoid output) with the
notebook's epsilon loss, and the notebook's gradient clipping rule. Samples are columns: X is (n_in, m).

It is deliberately the notebook's code style, not scratch_nn's: it is the kind of engine the parity suite is
meant to judge from outside (see adapter.py beside it, and README "Validate your own engine"). Where it
follows the notebook's inexact math (the loss's 1e-7 inside the logs, clipping only when the factor is below
1), the suite says so.
"""

import numpy as np


def unbroadcast(grad, shape):
    """Sum a gradient back to the shape of an input that was broadcast."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class AddGate:
    """c = a + b"""

    def forward(self, a, b):
        self.a, self.b = np.asarray(a), np.asarray(b)
        return self.a + self.b

    def backward(self, grad_output):
        # local gradients are both 1
        return unbroadcast(grad_output, self.a.shape), unbroadcast(grad_output, self.b.shape)


class MultiplyGate:
    """c = a * b"""

    def forward(self, a, b):
        self.a, self.b = np.asarray(a), np.asarray(b)
        return self.a * self.b

    def backward(self, grad_output):
        # local gradients are the OTHER input
        return unbroadcast(grad_output * self.b, self.a.shape), unbroadcast(
            grad_output * self.a, self.b.shape
        )


class PowerGate:
    """c = a ** n"""

    def __init__(self, n):
        self.n = n

    def forward(self, a):
        self.a = np.asarray(a)
        return self.a**self.n

    def backward(self, grad_output):
        if self.n == 0:
            return grad_output * 0
        return grad_output * self.n * self.a ** (self.n - 1)


class ExpGate:
    """c = exp(a)"""

    def forward(self, a):
        self.output = np.exp(a)
        return self.output

    def backward(self, grad_output):
        return grad_output * self.output


class SigmoidGate:
    """c = 1 / (1 + exp(-a))"""

    def forward(self, a):
        self.output = 1 / (1 + np.exp(-np.asarray(a)))
        return self.output

    def backward(self, grad_output):
        # sigmoid derivative: sigma(x) * (1 - sigma(x))
        return grad_output * self.output * (1 - self.output)


class ReLUGate:
    """c = max(0, a)"""

    def forward(self, a):
        self.a = np.asarray(a)
        return np.maximum(self.a, 0)

    def backward(self, grad_output):
        return grad_output * (self.a > 0)


class TanhGate:
    """c = tanh(a)"""

    def forward(self, a):
        self.output = np.tanh(a)
        return self.output

    def backward(self, grad_output):
        return grad_output * (1 - self.output**2)


class MatMulGate:
    """c = a @ b"""

    def forward(self, a, b):
        self.a, self.b = np.asarray(a), np.asarray(b)
        return self.a @ self.b

    def backward(self, grad_output):
        grad_a = grad_output @ np.swapaxes(self.b, -1, -2)
        grad_b = np.swapaxes(self.a, -1, -2) @ grad_output
        return unbroadcast(grad_a, self.a.shape), unbroadcast(grad_b, self.b.shape)


class NeuralNetwork:
    """A 2-layer network: Input -> Hidden (ReLU) -> Output (Sigmoid)."""

    def __init__(self, input_size, hidden_size, output_size, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        # He initialization (the notebook calls it Xavier)
        self.W1 = rng.standard_normal((hidden_size, input_size)) * np.sqrt(2.0 / input_size)
        self.b1 = np.zeros((hidden_size, 1))
        self.W2 = rng.standard_normal((output_size, hidden_size)) * np.sqrt(2.0 / hidden_size)
        self.b2 = np.zeros((output_size, 1))
        self.cache = {}

    def relu(self, z):
        return np.maximum(0, z)

    def relu_derivative(self, z):
        return (z > 0).astype(z.dtype)

    def sigmoid(self, z):
        return 1 / (1 + np.exp(-np.clip(z, -500, 500)))

    def forward(self, X):
        self.cache["X"] = X
        self.cache["z1"] = self.W1 @ X + self.b1
        self.cache["h"] = self.relu(self.cache["z1"])
        self.cache["z2"] = self.W2 @ self.cache["h"] + self.b2
        self.cache["y_pred"] = self.sigmoid(self.cache["z2"])
        return self.cache["y_pred"]

    def compute_loss(self, y_pred, y_true):
        """Binary cross-entropy, with the notebook's 1e-7 inside the logs."""
        epsilon = 1e-7
        return -np.mean(y_true * np.log(y_pred + epsilon) + (1 - y_true) * np.log(1 - y_pred + epsilon))

    def backward(self, y_true):
        m = y_true.shape[1]
        y_pred, h, z1, X = (self.cache[k] for k in ("y_pred", "h", "z1", "X"))
        dz2 = y_pred - y_true  # for BCE + sigmoid: dL/dz2 = y_pred - y_true
        dW2 = (1 / m) * dz2 @ h.T
        db2 = (1 / m) * np.sum(dz2, axis=1, keepdims=True)
        dh = self.W2.T @ dz2
        dz1 = dh * self.relu_derivative(z1)
        dW1 = (1 / m) * dz1 @ X.T
        db1 = (1 / m) * np.sum(dz1, axis=1, keepdims=True)
        return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}

    def update_parameters(self, gradients, learning_rate):
        self.W1 -= learning_rate * gradients["dW1"]
        self.b1 -= learning_rate * gradients["db1"]
        self.W2 -= learning_rate * gradients["dW2"]
        self.b2 -= learning_rate * gradients["db2"]

    def train(self, X, y, epochs, learning_rate, max_norm=None):
        """Returns the loss of every epoch (and the pre-clip gradient norms when clipping)."""
        losses, norms = [], []
        for _ in range(epochs):
            y_pred = self.forward(X)
            losses.append(self.compute_loss(y_pred, y))
            gradients = self.backward(y)
            if max_norm is not None:
                names = list(gradients)
                clipped, total_norm, _ = gradient_clip([gradients[k] for k in names], max_norm)
                gradients = dict(zip(names, clipped, strict=True))
                norms.append(total_norm)
            self.update_parameters(gradients, learning_rate)
        return losses, norms

    def predict(self, X):
        return self.forward(X)


def gradient_clip(gradients, max_norm):
    """The notebook's rule: scale every gradient by max_norm / (total + 1e-6) when that factor is below 1.

    Returns the gradients, the total norm before clipping and the factor applied.
    """
    total_norm = np.sqrt(sum(np.sum(g**2) for g in gradients))
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1:
        return [g * clip_coef for g in gradients], total_norm, clip_coef
    return gradients, total_norm, 1.0
