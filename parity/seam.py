"""The one seam through which the suite reaches an engine.

An engine is an importable module that provides the names in ``REQUIRED`` with the semantics of
``docs/engine-api.md``. The suite never imports ``scratch_nn`` directly: it asks for ``load_engine(name)``
(``--parity-engine``), so that a planted-bug variant, or another engine, is validated by the same tests.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEFAULT_ENGINE = "scratch_nn"

GATES = ("Add", "Multiply", "Power", "Exp", "Sigmoid", "ReLU", "Tanh", "MatMul")
REQUIRED = GATES + ("graphs", "Params", "TwoLayerNet", "clip_grad_norm", "gradient_check")


class EngineError(ImportError):
    """The named engine cannot be imported or lacks part of the contract."""


def load_engine(name: str = DEFAULT_ENGINE) -> ModuleType:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise EngineError(f"--parity-engine={name}: cannot import {name!r}: {exc}") from exc
    missing = [attr for attr in REQUIRED if not hasattr(module, attr)]
    if missing:
        raise EngineError(
            f"--parity-engine={name}: module {module.__name__!r} lacks {', '.join(missing)} "
            "(see docs/engine-api.md for the contract)"
        )
    return module
