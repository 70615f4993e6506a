"""How much rounding a result can carry: its magnitude array and its depth, for the tolerance policy.

For every tensor the suite compares, a first-order rounding-error analysis of the computation gives, per
element, a *magnitude* ``M`` (float64, the result's shape) and a *depth* ``D``: the number of roundings on the
longest path from the inputs to that element. Any evaluation order of the same formulas in a precision with
unit roundoff ``u`` then satisfies, to first order, ``|computed - exact| <= D u M`` elementwise (Higham's
``gamma_D`` bound), and, with independent rounding errors, about ``sqrt(D) u M`` (Higham & Mary, 2019).

``M`` is the classic componentwise quantity: for a sum ``sum(|terms|)``, for a product ``A @ B`` ``|A| @
|B|``, for an elementwise function of a computed argument ``|f'(x)| M_x + |f(x)|``; it is large against the
result exactly where the result comes from cancellation (``db2 = sum(p - y) / N`` near zero, a broadcast
gradient summed over positive and negative terms). Evaluated in float64 from the same inputs as the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._convert import to_numpy
from .graphs import EXPRESSIONS

# Roundings charged to one elementwise function evaluation: correctly rounded arithmetic is one; exp, tanh,
# log1p and pow of libm/SLEEF are within one or two ulp, and the engine may evaluate them in float64 first.
ELEMENTARY = 2


# A ReLU unit whose pre-activation z1 lies within rounding distance of 0 (|z1| <= KINK_WINDOW (n_in + 1) u
# M_z1, u of float32, the coarser dtype) may take either branch in a correct engine: its derivative jumps from
# 0 to 1.
KINK_WINDOW = 2.0
FLOAT32_UNIT_ROUNDOFF = 2.0**-24


@dataclass(frozen=True)
class Conditioning:
    """magnitude: float64, the result's shape (see the module docstring); depth: roundings on the longest
    path; jump: where a branch may go either way by rounding (a ReLU unit at its kink), the absolute change
    that choice makes to each element (float64, the result's shape), else None."""

    magnitude: np.ndarray
    depth: int
    jump: np.ndarray | None = None
    amplification: float = (
        1.0  # the largest factor an intermediate's underflow can be multiplied by afterwards
    )

    @classmethod
    def of(
        cls, magnitude: torch.Tensor, depth: int, jump: torch.Tensor | None = None, amplification: float = 1.0
    ) -> Conditioning:
        return cls(
            to_numpy(magnitude.detach().to(torch.float64)),
            max(int(depth), 1),
            None if jump is None else to_numpy(jump.detach().to(torch.float64)),
            max(float(amplification), 1.0),
        )


def _f64(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _sum_to(x: torch.Tensor, shape: tuple) -> tuple[torch.Tensor, int]:
    """x summed over the axes broadcasting added to ``shape``, and how many terms each element sums."""
    lead = x.dim() - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1
    )
    if not axes:
        return x, 1
    terms = int(np.prod([x.shape[a] for a in axes]))
    return x.sum(dim=axes, keepdim=True).reshape(shape), terms


def _g_max(upstream) -> float:
    return float(np.max(np.abs(np.asarray(upstream, dtype=np.float64)), initial=0.0))


def _largest(xs) -> float:
    return max([1.0] + [float(x.abs().max()) for x in xs if x.numel()])


# An intermediate that underflows is multiplied afterwards by the upstream (and by n for power, by the other
# operand for multiply): its absolute error grows by that factor, each rule's ``amplification``.


def _matmul(xs, upstream) -> tuple[Conditioning, ...]:
    a, b = xs
    amp = _g_max(upstream) * _largest(xs)
    out = a.abs() @ b.abs()
    g = torch.broadcast_to(_f64(upstream), out.shape).abs()
    k, n, m = a.shape[-1], a.shape[-2], b.shape[-1]
    ga, na = _sum_to(g @ b.abs().transpose(-1, -2), a.shape)
    gb, nb = _sum_to(a.abs().transpose(-1, -2) @ g, b.shape)
    return (
        Conditioning.of(out, k + 1),
        Conditioning.of(ga, m + na + 1, amplification=amp),
        Conditioning.of(gb, n + nb + 1, amplification=amp),
    )


def _broadcast(name: str):
    def rule(xs, upstream) -> tuple[Conditioning, ...]:
        amp = _g_max(upstream) * (_largest(xs) if name == "multiply" else 1.0)
        shape_out = torch.broadcast_shapes(*(x.shape for x in xs))
        g = torch.broadcast_to(_f64(upstream), shape_out).abs()
        a, b = (torch.broadcast_to(x, shape_out) for x in xs)
        if name == "add":
            out, parts = a.abs() + b.abs(), (g, g)
        else:
            out, parts = (a * b).abs(), (g * b.abs(), g * a.abs())
        result = [Conditioning.of(out, 1)]
        for part, x in zip(parts, xs, strict=True):
            summed, n = _sum_to(part, tuple(x.shape))
            result.append(Conditioning.of(summed, n + 1, amplification=amp))
        return tuple(result)

    return rule


def _upstream(x: torch.Tensor, upstream) -> torch.Tensor:
    return torch.broadcast_to(_f64(upstream), x.shape).abs()


def _power(xs, upstream, exponent) -> tuple[Conditioning, ...]:
    (x,), amp = xs, _g_max(upstream) * max(1.0, abs(exponent))
    y = torch.pow(x, exponent).abs()
    d = (exponent * torch.pow(x, exponent - 1)).abs() if exponent != 0 else torch.zeros_like(x)
    g = _upstream(x, upstream)
    return Conditioning.of(y, ELEMENTARY), Conditioning.of(g * d, ELEMENTARY + 2, amplification=amp)


def _relu(xs, upstream) -> tuple[Conditioning, ...]:
    (x,), amp = xs, _g_max(upstream)
    g = _upstream(x, upstream)
    return Conditioning.of(torch.relu(x), 1), Conditioning.of(g * (x > 0), 1, amplification=amp)


def _leaky_relu(xs, upstream, negative_slope) -> tuple[Conditioning, ...]:
    """One product (slope * x) on the negative side, one (g * slope) in the gradient."""
    (x,), amp = xs, _g_max(upstream)
    g = _upstream(x, upstream)
    slope = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, abs(float(negative_slope))))
    return Conditioning.of(x.abs() * slope, 1), Conditioning.of(g * slope, 1, amplification=amp)


def _exp(xs, upstream) -> tuple[Conditioning, ...]:
    (x,), amp = xs, _g_max(upstream)
    e, g = torch.exp(x), _upstream(x, upstream)
    return Conditioning.of(e, ELEMENTARY), Conditioning.of(g * e, ELEMENTARY + 1, amplification=amp)


def _sigmoid(xs, upstream) -> tuple[Conditioning, ...]:
    (x,), amp = xs, _g_max(upstream)
    s, g = torch.sigmoid(x), _upstream(x, upstream)
    return (
        Conditioning.of(s, ELEMENTARY + 2),
        Conditioning.of(g * _sigmoid_backward(s), ELEMENTARY + 5, amplification=amp),
    )


def _tanh(xs, upstream) -> tuple[Conditioning, ...]:
    (x,), amp = xs, _g_max(upstream)
    t, g = torch.tanh(x), _upstream(x, upstream)
    return (
        Conditioning.of(t.abs(), ELEMENTARY),
        Conditioning.of(g * _tanh_backward(t), ELEMENTARY + 3, amplification=amp),
    )


#: op name (``parity.catalogue.GATES``) -> its rounding analysis: rule(inputs as float64, upstream, *params)
GATE_RULES = {
    "add": _broadcast("add"),
    "multiply": _broadcast("multiply"),
    "power": _power,
    "exp": _exp,
    "sigmoid": _sigmoid,
    "relu": _relu,
    "tanh": _tanh,
    "matmul": _matmul,
    "leaky_relu": _leaky_relu,
}


def gate(name: str, inputs, upstream, *params) -> tuple[Conditioning, ...]:
    """(output, grad of each input) for one gate, as in ``reference.gate``; params: the op's constants."""
    if name not in GATE_RULES:
        raise ValueError(f"no conditioning for gate {name!r}")
    return GATE_RULES[name]([_f64(x) for x in inputs], upstream, *params)


def _sigmoid_backward(s: torch.Tensor) -> torch.Tensor:
    """Magnitude of s (1 - s) computed from a computed s (its error ~ u s): s (1 - s) + |1 - 2 s| s."""
    return s * (1 - s) + (1 - 2 * s).abs() * s


def _tanh_backward(t: torch.Tensor) -> torch.Tensor:
    """Magnitude of (1 - t)(1 + t) computed from a computed t (error ~ u |t|): (1 - t^2) + 2 t^2."""
    return (1 - t * t) + 2 * t * t


def graph(name: str, inputs: dict, upstream) -> tuple[Conditioning, dict[str, Conditioning]]:
    """(value, grads by input name) for a worked graph, as in ``reference.graph``.

    The graphs are polynomials in + and * (Higham 3.1: the same expression in the absolute values of its
    operands bounds the error of any evaluation order), except sigmoid_mul_add, derived by hand.
    """
    names = tuple(inputs)
    leaves = [_f64(inputs[n]).abs().requires_grad_(True) for n in names]
    if name == "sigmoid_mul_add":
        x, y, z = (_f64(inputs[n]) for n in names)
        w_mag = (x * y).abs() + z.abs()
        s = torch.sigmoid(x * y + z)
        ds = s * (1 - s)
        g = torch.broadcast_to(_f64(upstream), s.shape).abs()
        local = (
            _sigmoid_backward(s) + ds * (1 - 2 * s).abs() * w_mag
        )  # s (1 - s) and the error of w inside it
        grads = {"x": g * local * y.abs(), "y": g * local * x.abs(), "z": g * local}
        value = Conditioning.of(s + ds * w_mag, ELEMENTARY + 4)
        return value, {n: Conditioning.of(grads[n], ELEMENTARY + 8) for n in names}
    value = EXPRESSIONS[name](*leaves)
    g = torch.broadcast_to(_f64(upstream), value.shape).abs()
    grads = torch.autograd.grad(value, leaves, grad_outputs=g)
    return (
        Conditioning.of(value, 4),
        {n: Conditioning.of(gr, 8) for n, gr in zip(names, grads, strict=True)},
    )


def _output(z2: torch.Tensor, Mz2: torch.Tensor, y: torch.Tensor):
    """(p, M_p, M of the loss terms) of the sigmoid output and its BCE-with-logits loss terms."""
    p = torch.sigmoid(z2)
    Mp = p * (1 - p) * Mz2 + p
    # loss terms max(z, 0) - z y + log1p(exp(-|z|)): their magnitudes, and the error of z2 through
    # dl/dz = p - y
    Mterms = (p - y).abs() * Mz2 + torch.relu(z2) + (z2 * y).abs() + torch.log1p(torch.exp(-z2.abs()))
    return p, Mp, Mterms


def _at_kink(z: torch.Tensor, Mz: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Where a ReLU pre-activation lies within rounding distance of 0 (see KINK_WINDOW)."""
    return (z.abs() <= KINK_WINDOW * (fan_in + 1) * FLOAT32_UNIT_ROUNDOFF * Mz) & (Mz > 0)


def _weight_and_bias(Mdz, a_in: torch.Tensor, jump, depth: int) -> tuple[Conditioning, Conditioning]:
    """dW = dz a_in^T and db = sum(dz) of a layer whose input a_in is exact (the data)."""
    aT = a_in.abs().transpose(-1, -2)
    return (
        Conditioning.of(Mdz @ aT, depth, None if jump is None else jump @ aT),
        Conditioning.of(
            Mdz.sum(dim=-1, keepdim=True), depth, None if jump is None else jump.sum(dim=-1, keepdim=True)
        ),
    )


def network(
    params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor, activation: str
) -> dict[str, Conditioning]:
    """p, loss, dW1, db1, dW2, db2 of the two-layer network with the mean BCE-with-logits loss."""
    W1, b1, W2, b2 = (_f64(t) for t in params)
    X, y = _f64(X), _f64(y)
    n_in, h_units, n_out, m = W1.shape[-1], W1.shape[-2], W2.shape[-2], X.shape[-1]
    N = n_out * m
    z1 = W1 @ X + b1
    Mz1 = W1.abs() @ X.abs() + b1.abs()
    h, dact, Mh, _ = _activation(activation, z1, Mz1)
    z2 = W2 @ h + b2
    Mz2 = W2.abs() @ Mh + b2.abs()
    p, Mp, Mterms = _output(z2, Mz2, y)
    Mloss = Mterms.sum(dim=(-2, -1)) / N
    dz2 = (p - y) / N
    Mdz2 = (Mp + (p - y).abs()) / N
    dh = W2.transpose(-1, -2) @ dz2
    Mdh = W2.abs().transpose(-1, -2) @ Mdz2
    jump_dz1 = None
    if activation == "relu":
        Mdz1 = Mdh * dact
        jump_dz1 = dh.abs() * _at_kink(z1, Mz1, n_in)
    else:
        Mdz1 = Mdh * dact + dh.abs() * 2 * h.abs() * (dact * Mz1 + h.abs())
    forward = n_in + h_units + 2 * ELEMENTARY + 4
    backward = forward + n_out + m + 8
    dW1, db1 = _weight_and_bias(Mdz1, X, jump_dz1, backward)
    return {
        "p": Conditioning.of(Mp, forward),
        "loss": Conditioning.of(Mloss, forward + N + ELEMENTARY + 3),
        "dW1": dW1,
        "db1": db1,
        "dW2": Conditioning.of(Mdz2 @ h.abs().transpose(-1, -2) + dz2.abs() @ Mh.transpose(-1, -2), backward),
        "db2": Conditioning.of(Mdz2.sum(dim=-1, keepdim=True), backward),
    }


def clip(grads: list, total_norm: torch.Tensor, coef: torch.Tensor, norm_type: float) -> dict[str, object]:
    """total_norm, coef and the clipped gradients (a list) of global-norm clipping.

    The norm sums non-negative terms (no cancellation): its magnitude is itself, its depth the number of
    elements; the coefficient and the clipped gradients inherit the norm's relative error, plus a few
    roundings.
    """
    count = sum(int(np.prod(np.shape(g))) for g in grads)
    depth = (1 if norm_type == float("inf") else count + 2) + len(grads)
    total, c = _f64(total_norm).abs(), _f64(coef).abs()
    return {
        "total_norm": Conditioning.of(total, depth),
        "coef": Conditioning.of(c, depth + 3),
        "grads": [Conditioning.of(_f64(g).abs() * c, depth + 4) for g in grads],
    }


def _activation(name: str, z: torch.Tensor, Mz: torch.Tensor):
    """(a, act'(z), M_a, d act'/da magnitude) of one hidden layer: its output, derivative, output magnitude
    (the propagated error of z plus a's own rounding), and how an error in a moves the derivative computed
    from a."""
    if name == "relu":
        a, dact = torch.relu(z), (z > 0).to(torch.float64)
        return a, dact, dact * Mz + a, torch.zeros_like(a)
    if name == "tanh":
        a = torch.tanh(z)
        dact = 1 - a * a
        return a, dact, dact * Mz + a.abs(), 2 * a.abs()
    if name == "sigmoid":
        a = torch.sigmoid(z)
        dact = a * (1 - a)
        return a, dact, dact * Mz + a, (1 - 2 * a).abs()
    raise ValueError(f"no conditioning for activation {name!r}")


def _deep_forward(Ws, bs, X, activations):
    """(per hidden layer: z, M_z, a, act'(z), M_a, d act'/da, activation, fan-in), the output's z and M_z."""
    a, Ma = X, X.abs()
    layers = []
    for W, b, name in zip(Ws[:-1], bs[:-1], activations, strict=True):
        z, Mz = W @ a + b, W.abs() @ Ma + b.abs()
        a, dact, Ma, ddact = _activation(name, z, Mz)
        layers.append((z, Mz, a, dact, Ma, ddact, name, W.shape[-1]))
    return layers, Ws[-1] @ a + bs[-1], Ws[-1].abs() @ Ma + bs[-1].abs()


def _deep_backward_step(W, layer, dz, Mdz, Jdz):
    """dz, M_dz and the kink jump of the hidden layer below ``W``, from those of the layer above."""
    z, Mz, _, dact, Mact, ddact, name, fan_in = layer
    dh, Mdh, Jdh = (
        W.transpose(-1, -2) @ dz,
        W.abs().transpose(-1, -2) @ Mdz,
        W.abs().transpose(-1, -2) @ Jdz,
    )
    dz, Mdz, Jdz = dh * dact, Mdh * dact + dh.abs() * ddact * Mact, Jdh * dact
    if name == "relu":
        Jdz = Jdz + dh.abs() * _at_kink(z, Mz, fan_in)
    return dz, Mdz, Jdz


def deep_network(
    params: list[torch.Tensor], X: torch.Tensor, y: torch.Tensor, activations: list[str]
) -> dict[str, Conditioning]:
    """p, loss, dW1, db1, ..., dW<k>, db<k> of the deep network (k - 1 hidden layers, sigmoid output, mean
    BCE-with-logits): ``network``'s analysis per layer, a ReLU kink's jump carried down the chain."""
    ps = [_f64(t) for t in params]
    Ws, bs = ps[0::2], ps[1::2]
    X, y = _f64(X), _f64(y)
    m, N = X.shape[-1], y.numel()
    layers, z2, Mz2 = _deep_forward(Ws, bs, X, activations)
    p, Mp, Mterms = _output(z2, Mz2, y)
    widths = [W.shape[-1] for W in Ws] + [Ws[-1].shape[-2]]
    forward = sum(widths) + (len(Ws) + 1) * ELEMENTARY + 2 * len(Ws)
    backward = forward + sum(widths[1:]) + m + 4 * len(Ws) + 4
    out = {
        "p": Conditioning.of(Mp, forward),
        "loss": Conditioning.of(Mterms.sum() / N, forward + N + ELEMENTARY + 3),
    }
    dz, Mdz, Jdz = (p - y) / N, (Mp + (p - y).abs()) / N, torch.zeros_like(p)
    for index in range(len(Ws), 0, -1):
        if index > 1:
            a_in, Ma_in = layers[index - 2][2], layers[index - 2][4]
        else:
            a_in, Ma_in = X, torch.zeros_like(X)  # the data are exact
        MdW = Mdz @ a_in.abs().transpose(-1, -2) + dz.abs() @ Ma_in.transpose(-1, -2)
        jump = Jdz @ a_in.abs().transpose(-1, -2)
        any_jump = bool(Jdz.any())
        out[f"dW{index}"] = Conditioning.of(MdW, backward, jump if any_jump else None)
        out[f"db{index}"] = Conditioning.of(
            Mdz.sum(dim=-1, keepdim=True), backward, Jdz.sum(dim=-1, keepdim=True) if any_jump else None
        )
        if index > 1:
            dz, Mdz, Jdz = _deep_backward_step(Ws[index - 1], layers[index - 2], dz, Mdz, Jdz)
    return out
