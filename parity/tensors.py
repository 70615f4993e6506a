"""torch's runs of a case, and a case's results as the tensors to compare: the engine's beside torch's.

Every parity check compares the engine with torch at the case's dtype and, for float32, with torch float64 on
the same inputs (the tolerance policy's reference). :class:`TorchRuns` holds both runs; the helpers below
build the ``name -> (actual, desired, reference)`` triples of ``parity.check`` for gates, worked graphs and
networks, so that each test body states its case and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np


class TorchRuns(NamedTuple):
    """torch's result at the case's dtype, and at float64 on the same inputs for a float32 case (else
    None)."""

    at_dtype: object
    float64: object | None

    @classmethod
    def of(cls, run: Callable[[object], object], dtype) -> TorchRuns:
        """``run(dtype)``, and ``run(np.float64)`` for a float32 case."""
        return cls(run(dtype), run(np.float64) if np.dtype(dtype) == np.float32 else None)

    def desired(self, pick: Callable[[object], object]) -> tuple:
        """``pick`` of both runs: (torch at the dtype, the float64 reference or None), a triple's last two."""
        return pick(self.at_dtype), None if self.float64 is None else pick(self.float64)

    @property
    def conditioning(self) -> tuple:
        """The result's conditioning (``reference.conditioning``), from the float64 run when there is one."""
        return (self.float64 or self.at_dtype).conditioning


def gate_tensors(forward, backward, torch: TorchRuns, input_names: Iterable[str]) -> dict:
    """``out`` and ``grad_<input>`` of a gate: forward and backward are the engine's ``Attempt``s."""
    tensors = {"out": (forward.get(), *torch.desired(lambda r: r.output))}
    for i, name in enumerate(input_names):
        tensors[f"grad_{name}"] = (
            backward.get(lambda g, i=i: g[i]),
            *torch.desired(lambda r, i=i: r.grads[i]),
        )
    return tensors


def graph_tensors(result, torch: TorchRuns, input_names: Iterable[str], grad_of: Callable) -> dict:
    """``value`` and ``grad_<input>`` of a worked graph: result is the engine's ``Attempt`` of (value, grads
    by name); ``grad_of(grads, name)`` picks one gradient (an EngineProblem when it is missing)."""
    tensors = {"value": (result.get(lambda r: r[0]), *torch.desired(lambda r: r.value))}
    for name in input_names:
        tensors[f"grad_{name}"] = (
            result.get(lambda r, name=name: grad_of(r[1], name)),
            *torch.desired(lambda r, name=name: r.grads[name]),
        )
    return tensors


def network_tensors(result, torch: TorchRuns, names) -> tuple[dict, list]:
    """(tensors, conditioning) for ``parity.check``: ``p``, ``loss`` and ``d<name>`` for every parameter name.

    result: the engine's ``Attempt`` whose value is (p, loss, grads by name); torch: torch's runs, each with
    ``p``, ``loss``, ``grads`` and ``conditioning`` (p's, loss's, then the gradients' in ``grads`` order).
    """
    tensors = {
        "p": (result.get(lambda r: r[0]), *torch.desired(lambda r: r.p)),
        "loss": (result.get(lambda r: r[1]), *torch.desired(lambda r: np.asarray(r.loss))),
    }
    for name in names:
        tensors[f"d{name}"] = (
            result.get(lambda r, name=name: r[2][name]),
            *torch.desired(lambda r, name=name: r.grads[name]),
        )
    grads = torch.at_dtype.grads
    by_name = dict(zip(["p", "loss", *(f"d{n}" for n in grads)], torch.conditioning, strict=True))
    return tensors, [by_name[name] for name in tensors]
