"""A network case's results as the tensors to compare: the engine's p, loss and gradients beside torch's.

One helper for every network-shaped check (the two-layer network, its properties, the deep network), so that
each test body states its case and nothing more.
"""

from __future__ import annotations

import numpy as np


def network_tensors(result, ref, ref64, names) -> tuple[dict, list]:
    """(tensors, conditioning) for ``parity.check``: ``p``, ``loss`` and ``d<name>`` for every parameter name.

    result: the engine's ``Attempt`` whose value is (p, loss, grads by name); ref, ref64: torch's results at the
    case's dtype and, for float32, at float64 (None for float64), each with ``p``, ``loss``, ``grads`` and
    ``conditioning`` (p's, loss's, then the gradients' in ``ref.grads`` order).
    """
    tensors = {
        "p": (result.get(lambda r: r[0]), ref.p, ref64.p if ref64 else None),
        "loss": (result.get(lambda r: r[1]), np.asarray(ref.loss), np.asarray(ref64.loss) if ref64 else None),
    }
    for name in names:
        tensors[f"d{name}"] = (
            result.get(lambda r, name=name: r[2][name]),
            ref.grads[name],
            ref64.grads[name] if ref64 else None,
        )
    by_name = dict(
        zip(["p", "loss", *(f"d{n}" for n in ref.grads)], (ref64 or ref).conditioning, strict=True)
    )
    return tensors, [by_name[name] for name in tensors]
