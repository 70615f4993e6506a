"""The one seam through which the suite reaches an engine: load it, find what it provides, call it safely.

``--parity-engine=TARGET`` names a module (``scratch_nn``), a ``.py`` file or a package directory anywhere on
disk. :func:`load_engine` imports it and wraps it in an :class:`Engine`, which knows the engine's
*capabilities* (``CAPABILITIES``: each gate, the worked graphs, the network per activation, training, stacked
training, clipping per norm type, ``error_if_nonfinite``) and calls it for the tests. Every call goes through
:meth:`Engine.attempt`, so an exception raised inside the engine, a wrong return type or a missing gradient
becomes a *problem* on the tensor it concerns (a report row), never a bare traceback; floating-point
warnings are recorded, not raised. The contract is ``docs/engine-api.md``.

What the engine does not provide, the harness composes where it can: the worked graphs from the engine's
gates (``parity.compose``), stacked training as one run at a time. The rest is reported as not provided.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from parity import catalogue, compose
from parity.returns import (
    PARAM_NAMES,
    EngineProblem,
    as_layer_dict,
    as_param_dict,
    field_of,
    gradient_tuple,
    unpack,
)

DEFAULT_ENGINE = "scratch_nn"

GATES = tuple(op.engine_class for op in catalogue.GATES.values())
GRAPHS = tuple(catalogue.GRAPHS)
ACTIVATIONS = ("relu", "tanh")
NORM_TYPES = {"l2": 2.0, "l1": 1.0, "linf": math.inf}
DEEP_ACTIVATIONS = ("relu", "tanh", "sigmoid")


def _capabilities() -> dict[str, str]:
    caps = {
        op.capability: f"the {op.engine_class} gate (forward, backward)" for op in catalogue.GATES.values()
    }
    caps["graphs"] = "the notebook's five worked graphs"
    caps.update(
        {
            f"network {a}": f"the 2-layer network's p, loss and gradients, {a} hidden layer"
            for a in ACTIVATIONS
        }
    )
    caps["training"] = "SGD training of one network (loss of every epoch, final parameters)"
    caps["stacked training"] = "R networks trained in one call (else the harness trains them one at a time)"
    caps.update(
        {f"clipping {k}": f"global-norm gradient clipping, norm type {v:g}" for k, v in NORM_TYPES.items()}
    )
    caps["clipping error_if_nonfinite"] = "clipping that raises on a non-finite total norm when asked"
    caps.update(
        {
            f"deep network {a}": f"a network of any depth: p, loss and every layer's gradients, {a} hidden "
            "layers (alone or mixed)"
            for a in DEEP_ACTIVATIONS
        }
    )
    caps["deep training"] = "SGD training of a network of any depth, with optional clipping"
    return caps


CAPABILITIES: dict[str, str] = _capabilities()  # name -> what it is; the one list the suite and reports use


class EngineError(Exception):
    """The target of --parity-engine cannot be loaded, or provides no capability at all."""


@dataclass
class Attempt:
    """One guarded call into the engine: its value, or the problem, and the warnings it emitted."""

    value: object = None
    problem: str = ""
    warnings: list[str] = field(default_factory=list)
    error: Exception | None = None  # what the engine raised, if it raised

    @property
    def ok(self) -> bool:
        return not self.problem

    def get(self, pick: Callable[[object], object] = lambda value: value):
        """``pick(value)`` (a tensor of the result), or the EngineProblem to compare in its place."""
        if not self.ok:
            return EngineProblem(self.problem)
        try:
            return pick(self.value)
        except EngineProblem as exc:
            return exc

    @staticmethod
    def warned(*attempts: Attempt) -> str:
        """The warnings of several attempts, as one report cell."""
        return "; ".join(sorted({w for a in attempts for w in a.warnings}))


# -- loading -------------------------------------------------------------------------------------------------


def load_engine(target: str = DEFAULT_ENGINE) -> Engine:
    """Import ``target`` (module name, .py file or package directory) and wrap it; EngineError says why
    not."""
    module = _import_target(target)
    engine = Engine(module, target)
    if not engine.provided:
        raise EngineError(
            f"--parity-engine={target}: {module.__name__!r} provides none of the capabilities the suite "
            f"checks ({', '.join(CAPABILITIES)}); see docs/engine-api.md"
        )
    return engine


def _import_target(target: str) -> ModuleType:
    if not target:
        raise EngineError("--parity-engine is empty: give a module name, a .py file or a package directory")
    path = Path(target).expanduser()
    looks_like_path = target.endswith(".py") or "/" in target or "\\" in target or path.is_dir()
    try:
        if not looks_like_path:
            return importlib.import_module(target)
        return _import_path(path.resolve(), target)
    except EngineError:
        raise
    except SyntaxError as exc:
        raise EngineError(
            f"--parity-engine={target}: syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}"
        ) from exc
    except ModuleNotFoundError as exc:
        if not looks_like_path and exc.name == target.split(".")[0]:
            raise EngineError(
                f"--parity-engine={target}: no module named {target!r} (give a module on the "
                "path, a .py file or a package directory)"
            ) from exc
        raise EngineError(f"--parity-engine={target}: importing it failed: {_where(exc)}") from exc
    except Exception as exc:
        raise EngineError(f"--parity-engine={target}: importing it failed: {_where(exc)}") from exc


def _import_path(path: Path, target: str) -> ModuleType:
    """A .py file or a package directory, imported as ``python file.py`` would see it: its folder (for a
    package, the folder holding it) goes first on sys.path, so its own imports of neighbours work."""
    if path.is_dir():
        init = path / "__init__.py"
        if not init.is_file():
            raise EngineError(f"--parity-engine={target}: {path} is a directory without __init__.py")
        name, location, search = path.name, init, [str(path)]
    elif path.is_file() and path.suffix == ".py":
        name, location, search = path.stem, path, None
    else:
        raise EngineError(f"--parity-engine={target}: no such file or package directory: {path}")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(location):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, location, submodule_search_locations=search)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _where(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame, for a one-line error."""
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{at}"


# -- the engine ----------------------------------------------------------------------------------------------


class Engine:
    """An engine under validation: its capabilities, and guarded calls for every check."""

    def __init__(self, module: ModuleType, target: str):
        self.module = module
        self.target = target
        self.name = module.__name__
        self.provided: dict[
            str, str
        ] = {}  # capability -> how ("engine", "composed from the engine's gates", ...)
        self.missing: dict[str, str] = {}  # capability -> why not
        self._probe()

    def __repr__(self) -> str:
        return f"Engine({self.target!r}, provides {len(self.provided)} of {len(CAPABILITIES)})"

    # capabilities

    def _probe(self) -> None:
        self._probe_gates()
        self._probe_network()
        self._probe_clipping()
        self._probe_deep()

    def _probe_gates(self) -> None:
        """Each gate of the catalogue, and the worked graphs: the engine's own, or composed from its gates."""
        m = self.module
        for gate in GATES:
            self._set(f"gate {gate}", hasattr(m, gate), f"no class {gate}")
        graphs = getattr(m, "graphs", None)
        if graphs is not None and all(hasattr(graphs, g) for g in GRAPHS):
            self.provided["graphs"] = "engine"
        elif all(f"gate {g}" in self.provided for g in catalogue.GRAPH_GATES):
            self.provided["graphs"] = "composed by the harness from the engine's gates"
        else:
            self.missing["graphs"] = (
                "no `graphs` with the five functions, and not all of "
                f"{', '.join(catalogue.GRAPH_GATES)} to compose them from"
            )

    def _probe_network(self) -> None:
        """The two-layer network per activation, training, and stacked training (else one run at a time)."""
        m = self.module
        self._class_form = hasattr(m, "TwoLayerNet") and hasattr(m, "Params")
        has_network = self._class_form or callable(getattr(m, "network", None))
        activations = tuple(getattr(m, "ACTIVATIONS", ACTIVATIONS))
        for a in ACTIVATIONS:
            why = (
                "no `network` function (nor TwoLayerNet and Params)"
                if not has_network
                else f"ACTIVATIONS = {activations!r} leaves it out"
            )
            self._set(f"network {a}", has_network and a in activations, why)
        has_train = self._class_form or callable(getattr(m, "train", None))
        self._set("training", has_train, "no `train` function (nor TwoLayerNet.train)")
        if has_train and (self._class_form or getattr(m, "STACKED", False)):
            self.provided["stacked training"] = "engine"
        elif has_train:
            self.provided["stacked training"] = "one run at a time, by the harness (STACKED is not set)"
        else:
            self.missing["stacked training"] = "no training"

    def _probe_clipping(self) -> None:
        m = self.module
        has_clip = callable(getattr(m, "clip_grad_norm", None))
        norm_types = tuple(float(t) for t in getattr(m, "CLIP_NORM_TYPES", NORM_TYPES.values()))
        for key, p in NORM_TYPES.items():
            why = "no `clip_grad_norm`" if not has_clip else f"CLIP_NORM_TYPES = {norm_types!r} leaves it out"
            self._set(f"clipping {key}", has_clip and p in norm_types, why)
        flag = has_clip and getattr(m, "CLIP_ERROR_IF_NONFINITE", True)
        self._set(
            "clipping error_if_nonfinite",
            bool(flag),
            "no `clip_grad_norm`" if not has_clip else "CLIP_ERROR_IF_NONFINITE is False",
        )

    def _probe_deep(self) -> None:
        m = self.module
        has_deep = callable(getattr(m, "deep_network", None))
        deep_activations = tuple(getattr(m, "DEEP_ACTIVATIONS", DEEP_ACTIVATIONS))
        for a in DEEP_ACTIVATIONS:
            why = (
                "no `deep_network` function"
                if not has_deep
                else f"DEEP_ACTIVATIONS = {deep_activations!r} leaves it out"
            )
            self._set(f"deep network {a}", has_deep and a in deep_activations, why)
        self._set("deep training", callable(getattr(m, "deep_train", None)), "no `deep_train` function")

    def _set(self, capability: str, ok: bool, why: str) -> None:
        if ok:
            self.provided[capability] = "engine"
        else:
            self.missing[capability] = why

    def require(self, *capabilities: str) -> None:
        """Skip the calling test, with one reason per missing capability, unless the engine provides them."""
        import pytest

        missing = [c for c in capabilities if c not in self.provided]
        for c in missing:
            if c not in CAPABILITIES:
                raise KeyError(f"unknown capability {c!r}; known: {', '.join(CAPABILITIES)}")
        if missing:
            pytest.skip("; ".join(f"not provided by {self.name}: {c} ({self.missing[c]})" for c in missing))

    # guarded calls

    @staticmethod
    def attempt(fn: Callable[[], object]) -> Attempt:
        """Run ``fn``: its value, or the problem it raised, and every warning it emitted (never raised)."""
        result = Attempt()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result.value = fn()
            except EngineProblem as exc:
                result.problem = str(exc)
            except Exception as exc:  # noqa: BLE001 - anything the engine raises becomes a row
                result.problem = f"engine raised {_where(exc)}"
                result.error = exc
        result.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        return result

    def gate(self, name: str, inputs: list, upstream, **params) -> tuple[Attempt, Attempt]:
        """Forward then backward of one gate (``name``: its catalogue or class name; ``params``: its constants
        by name, passed to the constructor in catalogue order): (forward attempt -> output, backward attempt
        -> gradients)."""
        op = catalogue.gate(name)
        cls = getattr(self.module, op.engine_class)
        args = tuple(params[p.name] for p in op.params)
        state = {}

        def forward():
            gate = state["gate"] = cls(*args)
            return gate.forward(*inputs)

        fwd = self.attempt(forward)
        if not fwd.ok:
            return fwd, Attempt(problem="not computed: forward failed", warnings=[])
        bwd = self.attempt(
            lambda: gradient_tuple(
                state["gate"].backward(upstream), len(inputs), f"{op.engine_class}.backward"
            )
        )
        return fwd, bwd

    def graph(self, name: str, arrays: list, upstream, names: tuple[str, ...]) -> Attempt:
        """One worked graph: value and a dict of gradients by input name."""
        if self.provided.get("graphs") == "engine":

            def run():
                result = getattr(self.module.graphs, name)(*arrays, upstream=upstream)
                return field_of(result, "value"), dict(field_of(result, "grads"))
        else:

            def run():
                return compose.GRAPHS[name](self.module, arrays, upstream)

        return self.attempt(run)

    def network(self, params: Mapping[str, np.ndarray], X, y, activation: str) -> Attempt:
        """p, loss and the gradient dict of one network at ``params``."""
        m = self.module
        if self._class_form:

            def run():
                net = m.TwoLayerNet(m.Params(**params), activation)
                p = net.forward(X)
                loss = net.loss(y)
                return p, loss, as_param_dict(net.backward(y), "backward")
        else:

            def run():
                out = m.network(dict(params), X, y, activation=activation)
                p, loss, grads = unpack(out, ("p", "loss", "grads"), "network")
                return p, loss, as_param_dict(grads, "network's grads")

        return self.attempt(run)

    def train(
        self,
        params: Mapping[str, np.ndarray],
        X,
        y,
        *,
        epochs: int,
        lr: float,
        activation: str,
        max_norm=None,
    ) -> Attempt:
        """Train ``params``: one network (2-D W1) or R stacked ones ((R, ...) arrays), as (losses (epochs,) or
        (epochs, R), final params dict, pre-clip total norms like losses or None). An engine without stacked
        training gets the runs one by one, and the results are stacked here."""
        m = self.module
        if self._class_form:

            def one(p):
                net = m.TwoLayerNet(m.Params(**p), activation)
                history = net.train(X, y, epochs, lr, max_norm=max_norm)
                return history.losses, as_param_dict(net.params, "params"), history.total_norms
        else:

            def one(p):
                out = m.train(dict(p), X, y, epochs=epochs, lr=lr, activation=activation, max_norm=max_norm)
                losses, final, norms = unpack(out, ("losses", "params", "total_norms"), "train")
                return losses, as_param_dict(final, "train's params"), norms

        if np.ndim(params["W1"]) == 2 or self.provided.get("stacked training") == "engine":
            return self.attempt(lambda: one(params))

        def run_each():
            runs = [one({n: v[r] for n, v in params.items()}) for r in range(len(params["W1"]))]
            losses = np.stack([np.asarray(r[0]) for r in runs], axis=1)
            final = {n: np.stack([np.asarray(r[1][n]) for r in runs]) for n in PARAM_NAMES}
            norms = None if max_norm is None else np.stack([np.asarray(r[2]) for r in runs], axis=1)
            return losses, final, norms

        return self.attempt(run_each)

    def clip(self, grads: list, *, max_norm: float, norm_type: float, error_if_nonfinite: bool) -> Attempt:
        """(clipped grads, total_norm, coef); an exception raised for a non-finite total stays the problem."""
        kwargs = dict(max_norm=max_norm)
        if norm_type != 2.0 or error_if_nonfinite:
            kwargs["norm_type"] = norm_type
        if error_if_nonfinite:
            kwargs["error_if_nonfinite"] = True

        def run():
            out = self.module.clip_grad_norm(grads, **kwargs)
            clipped, total, coef = unpack(out, ("grads", "total_norm", "coef"), "clip_grad_norm")
            return list(clipped), total, coef

        return self.attempt(run)

    def deep(self, params: Mapping[str, np.ndarray], X, y, activations: tuple[str, ...]) -> Attempt:
        """p, loss and the gradient dict (W1, b1, ..., W<k>, b<k>) of a network of any depth at ``params``."""

        def run():
            out = self.module.deep_network(dict(params), X, y, activations=tuple(activations))
            p, loss, grads = unpack(out, ("p", "loss", "grads"), "deep_network")
            return p, loss, as_layer_dict(grads, tuple(params), "deep_network's grads")

        return self.attempt(run)

    def deep_train(
        self,
        params: Mapping[str, np.ndarray],
        X,
        y,
        *,
        epochs: int,
        lr: float,
        activations: tuple[str, ...],
        max_norm=None,
    ) -> Attempt:
        """(losses (epochs,), final params dict, pre-clip total norms (epochs,) or None) of a network of any
        depth."""

        def run():
            out = self.module.deep_train(
                dict(params), X, y, epochs=epochs, lr=lr, activations=tuple(activations), max_norm=max_norm
            )
            losses, final, norms = unpack(out, ("losses", "params", "total_norms"), "deep_train")
            return losses, as_layer_dict(final, tuple(params), "deep_train's params"), norms

        return self.attempt(run)
