"""The worked graphs (``parity.catalogue.GRAPHS``) as ordinary torch expressions.

One table, read by ``reference.ops.graph`` (autograd differentiates it) and by ``reference.conditioning``
(the same expression in the absolute values of its operands bounds its rounding).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

EXPRESSIONS: dict[str, Callable[..., torch.Tensor]] = {
    "add_mul": lambda x, y, z: (x + y) * z,
    "sigmoid_mul_add": lambda x, y, z: torch.sigmoid(x * y + z),
    "chain_square": lambda x: (3 * x + 1) ** 2,
    "two_paths": lambda x: (x + 1) * (2 * x),
    "shared_input": lambda a, b, c: (a + b) * (b + c),
}
