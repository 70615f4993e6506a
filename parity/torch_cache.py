"""torch's training runs kept on disk for runs that repeat them: ``--parity-torch-cache=DIR``.

The sweep (``python -m parity.sweep``) runs the same torch trainings for every engine and every planted bug
at a seed, and a person iterating on an engine reruns the same torch trainings after every edit. With a
cache directory, ``reference.train`` and ``reference.deep_train`` are memoized by ``joblib.Memory``: the key
is every argument (arrays by their bytes, dtype and shape) plus a fingerprint of everything that can change
torch's numbers: the source of the ``reference`` package, torch's version and build configuration, the CPU
capability it dispatches to, its thread count and the machine. A changed input or reference, another torch,
another thread count is a miss and runs torch. Off by default: CI and the default run always compute torch
afresh. ``pytest --cache-clear`` does not touch it; delete the directory to drop it.
"""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from types import ModuleType

CACHED = ("train", "deep_train")  # the reference's expensive calls; everything else is passed through


def fingerprint(reference: ModuleType) -> str:
    """A digest of what decides torch's numbers besides the arguments."""
    import torch

    digest = hashlib.sha256()
    for path in sorted(Path(reference.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for part in (
        torch.__version__,
        torch.__config__.show(),
        torch.backends.cpu.get_cpu_capability(),
        str(torch.get_num_threads()),
        platform.machine(),
    ):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


class CachedReference:
    """The reference module, with ``CACHED`` calls memoized in ``directory``."""

    def __init__(self, reference: ModuleType, directory: str | Path):
        import joblib

        self._reference = reference
        self._fingerprint = fingerprint(reference)
        self._run = joblib.Memory(Path(directory), verbose=0).cache(_run)
        self.directory = Path(directory)

    def __getattr__(self, name: str):
        value = getattr(self._reference, name)
        if name not in CACHED:
            return value

        def cached(*args, **kwargs):
            return self._run(self._reference.__name__, name, self._fingerprint, args, kwargs)

        cached.__doc__ = value.__doc__
        return cached


def _run(module: str, name: str, fingerprint: str, args: tuple, kwargs: dict):
    """The memoized call (``fingerprint`` is part of the key only)."""
    import importlib

    return getattr(importlib.import_module(module), name)(*args, **kwargs)


def wrap(reference: ModuleType, directory: str | Path | None):
    """``reference`` itself without a directory, else its cached form."""
    return CachedReference(reference, directory) if directory else reference
