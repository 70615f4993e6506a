"""The numbers every engine is fed: the harness's own initial parameters, so that no engine's init is
trusted."""

from __future__ import annotations

import itertools

import numpy as np


def he_init(
    rng: np.random.Generator, n_in: int, n_hidden: int, n_out: int = 1, n_runs: int | None = None
) -> dict:
    """The harness's own initial parameters (float64), so that every engine starts from the same numbers:
    He initialization, W = N(0, 1) * sqrt(2 / fan_in) drawn from ``rng`` (W1, then W2), zero biases; with
    ``n_runs``, (R, ...) arrays (W1 of every run drawn first, then W2)."""
    lead = () if n_runs is None else (n_runs,)
    W1 = rng.standard_normal((*lead, n_hidden, n_in)) * np.sqrt(2.0 / n_in)
    W2 = rng.standard_normal((*lead, n_out, n_hidden)) * np.sqrt(2.0 / n_hidden)
    return dict(W1=W1, b1=np.zeros((*lead, n_hidden, 1)), W2=W2, b2=np.zeros((*lead, n_out, 1)))


def deep_init(
    rng: np.random.Generator, widths, activations, *, scale: float = 1.0, bias: float = 0.0
) -> dict:
    """Initial parameters (float64) of a network of any depth: W1, b1, ..., W<k>, b<k> for ``widths``
    (n_0, n_1, ..., n_k). Each W_l is drawn from ``rng`` in layer order, N(0, 1) times ``scale`` times the
    scale its layer's activation calls for: He, sqrt(2 / fan_in), before a ReLU; Xavier, sqrt(2 / (fan_in +
    fan_out)), before tanh or sigmoid (and for the output layer, before its sigmoid). ``activations``: one
    name or one per hidden layer. Biases are ``bias`` times N(0, 1) draws (taken after all weights), zero when
    0."""
    widths = list(widths)
    acts = [activations] * (len(widths) - 2) if isinstance(activations, str) else list(activations)
    params = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths), start=1):
        after = acts[i - 1] if i <= len(acts) else "sigmoid"
        std = np.sqrt(2.0 / fan_in) if after == "relu" else np.sqrt(2.0 / (fan_in + fan_out))
        params[f"W{i}"] = rng.standard_normal((fan_out, fan_in)) * (scale * std)
    for i, fan_out in enumerate(widths[1:], start=1):
        params[f"b{i}"] = rng.standard_normal((fan_out, 1)) * bias if bias else np.zeros((fan_out, 1))
    return params
