"""The numbers every engine is fed: the harness's own initial parameters, so that no engine's init is trusted."""

from __future__ import annotations

import numpy as np


def he_init(rng: np.random.Generator, n_in: int, n_hidden: int, n_out: int = 1, n_runs: int | None = None) -> dict:
    """The harness's own initial parameters (float64), so that every engine starts from the same numbers:
    He initialization, W = N(0, 1) * sqrt(2 / fan_in) drawn from ``rng`` (W1, then W2), zero biases; with
    ``n_runs``, (R, ...) arrays (W1 of every run drawn first, then W2)."""
    lead = () if n_runs is None else (n_runs,)
    W1 = rng.standard_normal((*lead, n_hidden, n_in)) * np.sqrt(2.0 / n_in)
    W2 = rng.standard_normal((*lead, n_out, n_hidden)) * np.sqrt(2.0 / n_hidden)
    return dict(W1=W1, b1=np.zeros((*lead, n_hidden, 1)), W2=W2, b2=np.zeros((*lead, n_out, 1)))
