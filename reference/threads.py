"""Thread pinning: torch's float results depend on its thread count (reductions split per thread)."""

from __future__ import annotations

import torch


def set_threads(n: int) -> None:
    """Pin torch's intra-op threads to `n`, and its inter-op threads when that is still allowed.

    torch refuses to change the inter-op pool once any parallel work has started; that refusal
    (a RuntimeError) is swallowed, since only the intra-op count affects the numbers.
    """
    torch.set_num_threads(int(n))
    try:
        torch.set_num_interop_threads(int(n))
    except RuntimeError:
        pass
