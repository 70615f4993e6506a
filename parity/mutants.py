"""Planted bugs: a catalogue of small, realistic variants of the engine, and the runner that proves the parity
suite catches each one on the tensor it touches.

A bug is a text patch (file, exact old snippet, new snippet; every snippet must occur exactly once in the
current source) applied to a copy of the engine package placed in a temporary directory under a new name,
``scratch_nn_bug_<id>``. The suite reaches the variant through its one seam, in a pytest subprocess:

    PYTHONPATH=<tmp> pytest <the bug's selection> --parity-engine=scratch_nn_bug_<id>
    --parity-report-dir=<tmp>

and the runner reads back the verdicts that run's tests recorded (gradients, clipping, trajectories, through
``report.read_records``; nothing is judged again) to find the first failing comparison on one of the tensors
the bug declares. A bug counts as caught only that way: a crash, or a failure on some other tensor, is
reported but is not enough.

Tensor names are those of the reports: gradients.csv's ``tensor`` column (``out``, ``grad_x``, ``p``,
``loss``, ``dW1``, ...); for clipping.csv, which has one row per case, ``total_norm``, ``coef``, the row's
``worst_tensor`` (``clipped_W1``, ...) or ``raised``, each with its own error and bound; for trajectories.csv
``losses``, ``final_params`` and ``total_norms`` (the pre-clip norms). A tensor failed when the row's
``failed_tensors`` names it.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from parity import catalogue, report
from parity.clipping import ClipRecord
from parity.compare import Case, Comparison
from parity.trajectory import TrajectoryRecord

ENGINE = "scratch_nn"
PREFIX = f"{ENGINE}_bug_"
FORMS = ("off", "quick", "full")
_ABSOLUTE_IMPORT = re.compile(rf"^\s*(from|import)\s+{ENGINE}\b", re.MULTILINE)
_SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$", re.MULTILINE)


class PatchError(ValueError):
    """A planted bug's patch does not apply exactly once to the engine's current source."""


class RunError(RuntimeError):
    """The suite could not be run against a variant (bad selection, usage error, timeout)."""


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (which must occur exactly once in ``file``) by ``new``.

    line: replace the whole line holding ``old`` instead, by the lines of ``new`` at that line's indentation
    (``{line}`` in ``new`` stands for the original line; an empty ``new`` deletes it). This keeps the anchor
    small when the rest of the line is not what the bug is about.
    """

    file: str  # relative to the package, e.g. "network.py"
    old: str
    new: str
    line: bool = False

    def apply(self, text: str) -> str:
        if not self.line:
            return text.replace(self.old, self.new)
        at = text.index(self.old)
        start, end = text.rfind("\n", 0, at) + 1, text.find("\n", at)
        end = len(text) if end < 0 else end + 1
        original = text[start:end].rstrip("\n")
        indent = original[: len(original) - len(original.lstrip())]
        body = self.new.replace("{line}", original.strip())
        lines = "".join(indent + ln + "\n" for ln in body.split("\n")) if body else ""
        return text[:start] + lines + text[end:]


@dataclass(frozen=True)
class Bug:
    """One planted bug.

    expected: the report tensors the bug changes (at least one must fail). selection: pytest arguments (paths,
    node ids, ``-k``) choosing the CI tests that should catch it, tight enough to be cheap. quick: part of the
    default (quick) self-test.
    """

    id: str
    description: str
    edits: tuple[Edit, ...]
    expected: tuple[str, ...]
    selection: tuple[str, ...]
    quick: bool = False

    @property
    def module(self) -> str:
        """The package name of the variant: ``scratch_nn_bug_<id>`` with ``-`` as ``_``."""
        return PREFIX + self.id.replace("-", "_")

    @property
    def files(self) -> str:
        return ";".join(dict.fromkeys(e.file for e in self.edits))


def _bug(id, description, edits, expected, selection, quick=False) -> Bug:
    if isinstance(edits, Edit):
        edits = (edits,)
    return Bug(id, description, tuple(edits), tuple(expected), tuple(selection), quick)


GATES, GRAPHS, NETWORK = "tests/test_gates.py", "tests/test_graphs.py", "tests/test_network.py"
SIGN_OF_ZERO = "tests/test_sign_of_zero.py"


def op_cases(*ops: str) -> str:
    """A ``-k`` expression for the cases of these catalogue ops (a case id begins ``<op>-``), leaving out the
    ops whose names contain one of them (``relu-`` is in ``leaky_relu-``)."""
    for op in ops:
        catalogue.gate(op)  # a name the catalogue does not know is a mistake here, not an empty selection
    terms = []
    for op in ops:
        longer = [o for o in catalogue.GATES if o != op and op in o]
        terms.append(" and ".join([f"{op}-", *(f"not {o}" for o in longer)]))
    return " or ".join(f"({t})" if len(terms) > 1 and " and " in t else t for t in terms)


CLIPPING, TRAINING = "tests/test_clipping.py", "tests/test_training.py"
# 3x5x7 has a non-square W1 and m > 1; walkthrough-xor the notebook's weights on XOR: both dtypes, both
# activations
NET_CASES = "3x5x7 or walkthrough-xor"
CLIP_CASES = "l2-float64 and (above or at- or below or within-eps)"
CLIP_COEF = "coef = np.minimum(max_norm / (total + 1e-6)"
TRAIN_CASE = "random-5x8x16-relu-clip-none or random-5x8x16-tanh-clip-none"
DEEP = "tests/test_deep.py"
# four square 32-wide hidden layers (tanh, sigmoid, relu, tanh): a wrong chain still runs, only its numbers
# differ
DEEP_CASE = "d4-square-w32 and float64"
DEEP_BACKWARD_MATMUL = "da = np.matmul(W[i].swapaxes(-1, -2), dz)"

CATALOGUE: tuple[Bug, ...] = (
    # -- gates -----------------------------------------------------------------------------------------------
    _bug(
        "relu-mask-ge",
        "ReLU backward masks at >= 0 instead of > 0 (passes the gradient at exactly 0)",
        Edit("gates.py", "np.where(self.out <= 0, 0, g)", "np.where(self.out < 0, 0, g)"),
        ("grad_x",),
        (GATES, "-k", op_cases("relu")),
        quick=True,
    ),
    _bug(
        "sigmoid-derivative-of-input",
        "Sigmoid backward takes x (1 - x) of the input instead of the output",
        (
            Edit(
                "gates.py",
                "self.out = self._record(_sigmoid(x), x)",
                "self.x = x\n        self.out = self._record(_sigmoid(x), x)",
            ),
            Edit("gates.py", "g * (1 - self.out) * self.out", "g * (1 - self.x) * self.x"),
        ),
        ("grad_x",),
        (GATES, GRAPHS, "-k", f"{op_cases('sigmoid')} or sigmoid_mul_add"),
    ),
    _bug(
        "tanh-derivative-1-minus-h",
        "Tanh backward uses 1 - h instead of 1 - h**2",
        Edit("gates.py", "(1 - self.out) * (1 + self.out)", "(1 - self.out)"),
        ("grad_x",),
        (GATES, "-k", op_cases("tanh")),
    ),
    _bug(
        "exp-ignores-upstream",
        "Exp backward ignores its upstream gradient (as if it were ones)",
        Edit(
            "gates.py",
            "self._grads(self._upstream(upstream) * self.out)",
            "self._grads(np.ones_like(self._upstream(upstream)) * self.out)",
        ),
        ("grad_x",),
        (GATES, "-k", op_cases("exp")),
    ),
    _bug(
        "power-exponent-not-decremented",
        "Power backward n * x**n instead of n * x**(n - 1)",
        Edit("gates.py", "g * (n * _precise.power(self.x, n - 1))", "g * (n * _precise.power(self.x, n))"),
        ("grad_x",),
        (GATES, GRAPHS, "-k", f"{op_cases('power')} or chain_square"),
    ),
    _bug(
        "multiply-swapped-operands",
        "Multiply backward returns (g * a, g * b): each input gets its own value",
        Edit("gates.py", "self._grads(g * self.b, g * self.a)", "self._grads(g * self.a, g * self.b)"),
        ("grad_a", "grad_b", "grad_x", "grad_y", "grad_z", "grad_c"),
        (GATES, GRAPHS, "-k", f"{op_cases('multiply')} or add_mul or shared_input"),
    ),
    _bug(
        "leaky-relu-slope-on-positive-side",
        "LeakyReLU backward passes g where x <= 0 and scales by the slope where x > 0 (the sides swapped)",
        Edit("gates.py", "np.where(self.x > 0, g, g * g.dtype", "np.where(self.x <= 0, g, g * g.dtype"),
        ("grad_x",),
        (GATES, SIGN_OF_ZERO, "-k", "leaky_relu"),
    ),
    _bug(
        "broadcast-not-summed",
        "a broadcast input's gradient is not summed back to its own shape",
        Edit("gates.py", "grad = grad.sum(axis=axes, keepdims=True).reshape(shape)", "grad = grad"),
        ("grad_a", "grad_b"),
        (GATES, "-k", "broadcast"),
    ),
    _bug(
        "broadcast-averaged",
        "a broadcast input's gradient is averaged instead of summed over the broadcast axes",
        Edit("gates.py", "grad.sum(axis=axes, keepdims=True)", "grad.mean(axis=axes, keepdims=True)"),
        ("grad_a", "grad_b"),
        (GATES, "-k", "broadcast"),
    ),
    # -- worked graphs ---------------------------------------------------------------------------------------
    _bug(
        "paths-overwritten",
        "an input reached along two paths keeps the last path's gradient (= not +=)",
        Edit("graphs.py", "np.asarray(sum(path_grads[1:], path_grads[0]))", "np.asarray(path_grads[-1])"),
        ("grad_x", "grad_b"),
        (GRAPHS, "-k", "two_paths or shared_input"),
    ),
    _bug(
        "graph-ignores-upstream",
        "the worked graphs seed backward with ones, ignoring the upstream gradient",
        Edit(
            "graphs.py",
            'upstream = _checks.operand("upstream", upstream)',
            'upstream = np.ones_like(_checks.operand("upstream", upstream))',
        ),
        ("grad_x", "grad_y", "grad_z", "grad_a", "grad_b", "grad_c"),
        (GRAPHS,),
    ),
    # -- the network -----------------------------------------------------------------------------------------
    _bug(
        "missing-1-over-m",
        "backward forgets the 1/m of the mean loss",
        Edit("network.py", "dz2 = (cache.p - y) / n_averaged(y)", "dz2 = cache.p - y"),
        ("dW1", "db1", "dW2", "db2"),
        (NETWORK, "-k", NET_CASES),
        quick=True,
    ),
    _bug(
        "dz2-sign-flip",
        "backward starts from y - p instead of p - y",
        Edit("network.py", "dz2 = (cache.p - y)", "dz2 = (y - cache.p)"),
        ("dW1", "db1", "dW2", "db2"),
        (NETWORK, "-k", NET_CASES),
    ),
    _bug(
        "net-relu-mask-ge",
        "the network's ReLU derivative is 1 at h == 0 (mask h >= 0 instead of h > 0)",
        Edit("network.py", "dz1 = dh * (h > 0)", "dz1 = dh * (h >= 0)"),
        ("dW1", "db1"),
        (NETWORK, "-k", "3x5x7 and relu"),
    ),
    _bug(
        "net-tanh-derivative-1-minus-h",
        "the network's tanh derivative is 1 - h instead of 1 - h**2",
        Edit("network.py", "dz1 = dh * ((1 - h) * (1 + h))", "dz1 = dh * (1 - h)"),
        ("dW1", "db1"),
        (NETWORK, "-k", "3x5x7 and tanh"),
    ),
    _bug(
        "dW1-transposed",
        "dW1 is the transpose (X @ dz1^T), reshaped into W1's non-square shape (a square W1 takes it as is)",
        Edit(
            "network.py",
            "dW1 = np.matmul(dz1, X.swapaxes(-1, -2))",
            "{line}\ndW1 = dW1.swapaxes(-1, -2).reshape(dW1.shape).copy()",
            line=True,
        ),
        ("dW1",),
        (NETWORK, "-k", NET_CASES),
    ),
    _bug(
        "db1-summed-over-all-axes",
        "db1 summed over the hidden axis as well as the samples (np.sum(dz1) in every element)",
        Edit(
            "network.py",
            "db1 = np.add.reduce(dz1, axis=-1, keepdims=True)",
            "{line}\ndb1[...] = np.add.reduce(db1, axis=-2, keepdims=True)",
            line=True,
        ),
        ("db1",),
        (NETWORK, "-k", NET_CASES),
    ),
    _bug(
        "forward-drops-b2",
        "forward forgets the output layer's bias",
        Edit("network.py", "z2 = np.matmul(P.W2, h) + P.b2", "z2 = np.matmul(P.W2, h)"),
        ("p", "loss", "dW1", "db1", "dW2", "db2"),
        (NETWORK, "-k", NET_CASES),
    ),
    _bug(
        "notebook-loss-1e-7",
        "the notebook's loss -mean(y log(p + 1e-7) + (1 - y) log(1 - p + 1e-7))",
        Edit(
            "network.py",
            "terms = (1 - y) * cache.z2 - cache.log_p",
            "terms = -(y * np.log(cache.p + 1e-7) + (1 - y) * np.log(1 - cache.p + 1e-7))",
        ),
        ("loss",),
        (NETWORK, "-k", NET_CASES),
    ),
    # -- networks of any depth ------------------------------------------------------------------------------
    _bug(
        "deep-missing-activation-derivative",
        "the top hidden layer's gradient misses its activation derivative (dz = W^T dz, no act')",
        Edit(
            "deep.py",
            "dz = da * _derivative(self.activations[i - 1], a)",
            "dz = da if i == len(W) - 1 else da * _derivative(self.activations[i - 1], a)",
        ),
        ("dW1", "db1", "dW2", "db2", "dW3", "db3", "dW4", "db4"),
        (DEEP, "-k", DEEP_CASE),
    ),
    _bug(
        "deep-skipped-layer",
        "the backward chain skips layer 3: its W^T is never applied, dz passes through",
        Edit("deep.py", DEEP_BACKWARD_MATMUL, "da = dz if i == 2 else np.matmul(W[i].swapaxes(-1, -2), dz)"),
        ("dW1", "db1", "dW2", "db2"),
        (DEEP, "-k", DEEP_CASE),
    ),
    _bug(
        "deep-transposed-middle-weight",
        "layer 3's backward multiplies by W instead of W^T (a square W runs)",
        Edit(
            "deep.py", DEEP_BACKWARD_MATMUL, "da = np.matmul(W[i] if i == 2 else W[i].swapaxes(-1, -2), dz)"
        ),
        ("dW1", "db1", "dW2", "db2"),
        (DEEP, "-k", DEEP_CASE),
    ),
    # -- clipping --------------------------------------------------------------------------------------------
    _bug(
        "clip-without-eps",
        "clip coefficient max_norm / total instead of max_norm / (total + 1e-6)",
        Edit("clip.py", CLIP_COEF, "coef = np.minimum(max_norm / total, 1.0)", line=True),
        ("coef", "clipped_W1", "clipped_b1", "clipped_W2", "clipped_b2"),
        (CLIPPING, "-k", CLIP_CASES),
        quick=True,
    ),
    _bug(
        "clip-only-above",
        "clips only when total > max_norm (torch scales by min(1, max_norm / (total + 1e-6)) always)",
        Edit(
            "clip.py",
            CLIP_COEF,
            "coef = np.where(total > max_norm, max_norm / (total + 1e-6), 1.0)",
            line=True,
        ),
        ("coef", "clipped_W1", "clipped_b1", "clipped_W2", "clipped_b2"),
        (CLIPPING, "-k", CLIP_CASES),
    ),
    _bug(
        "clip-if-above-wrong-coef",
        "a common hand-written rule, `if total > max_norm: g *= max_norm / total` (branch, no eps)",
        Edit("clip.py", CLIP_COEF, "coef = np.where(total > max_norm, max_norm / total, 1.0)", line=True),
        ("coef", "clipped_W1", "clipped_b1", "clipped_W2", "clipped_b2"),
        (CLIPPING, "-k", CLIP_CASES),
    ),
    _bug(
        "clip-per-tensor",
        "each tensor clipped by its own norm instead of the global norm",
        Edit(
            "clip.py",
            "coef.reshape((-1,) + (1,) * (g.ndim - 1)) if per_run else coef",
            "np.minimum(max_norm / (_norm(g, norm_type, None) + 1e-6), 1.0)",
        ),
        ("clipped_W1", "clipped_b1", "clipped_W2", "clipped_b2"),
        (CLIPPING, "-k", CLIP_CASES),
    ),
    _bug(
        "clip-total-is-sum-of-norms",
        "the global norm is the sum of the per-tensor norms, not their norm",
        Edit(
            "clip.py",
            "total = _norm(np.stack(norms), norm_type, 0)",
            "total = np.add.reduce(np.stack(norms), axis=0)",
        ),
        ("total_norm", "coef", "clipped_W1", "clipped_b1", "clipped_W2", "clipped_b2"),
        (CLIPPING, "-k", CLIP_CASES),
    ),
    # -- training --------------------------------------------------------------------------------------------
    _bug(
        "sgd-wrong-sign",
        "the SGD step adds lr * grad (gradient ascent)",
        Edit("network.py", "flat -= flat_grads", "flat += flat_grads"),
        ("losses", "final_params"),
        (TRAINING, "-k", f"({TRAIN_CASE}) and float64"),
    ),
    _bug(
        "lr-applied-twice",
        "the SGD step scales by lr twice (lr**2: invisible at XOR's lr = 1)",
        Edit(
            "network.py",
            "np.multiply(flat_grads, lr_, out=flat_grads)",
            "np.multiply(flat_grads, lr_ * lr_, out=flat_grads)",
        ),
        ("losses", "final_params"),
        (TRAINING, "-k", f"({TRAIN_CASE}) and float64"),
    ),
    _bug(
        "lr-rounded-to-float32",
        "the SGD step uses lr rounded to float32 whatever the dtype (a relative 1e-8 in float64)",
        Edit("network.py", "np.array(lr, layout.dtype)", "np.array(np.float32(lr), layout.dtype)"),
        ("losses", "final_params"),
        (TRAINING, "-k", f"({TRAIN_CASE}) and float64"),
    ),
)

BY_ID = {bug.id: bug for bug in CATALOGUE}


def bugs_for(form: str) -> tuple[Bug, ...]:
    """The bugs of a self-test form, in catalogue order: none (off), the quick ones, or all (full)."""
    if form not in FORMS:
        raise ValueError(f"self-test form must be one of {FORMS}; got {form!r}")
    if form == "off":
        return ()
    return tuple(b for b in CATALOGUE if form == "full" or b.quick)


# -- building a variant
# ---------------------------------------------------------------------------------------


def source_dir() -> Path:
    """The directory of the engine package (found without importing it)."""
    spec = find_spec(ENGINE)
    if spec is None or not spec.submodule_search_locations:
        raise RunError(f"cannot find the {ENGINE} package")
    return Path(next(iter(spec.submodule_search_locations)))


def patched_sources(bug: Bug, source: Path | None = None) -> dict[str, str]:
    """The text of every file the bug changes, patched; PatchError unless each snippet occurs exactly once."""
    source = source or source_dir()
    texts: dict[str, str] = {}
    for edit in bug.edits:
        path = source / edit.file
        if edit.file not in texts:
            if not path.is_file():
                raise PatchError(f"bug {bug.id!r}: {path} does not exist")
            texts[edit.file] = path.read_text()
        count = texts[edit.file].count(edit.old)
        if count != 1:
            raise PatchError(
                f"bug {bug.id!r}: the snippet {edit.old!r} occurs {count} times in {edit.file} (must be "
                "exactly once); the engine changed: re-anchor the patch on a small distinctive snippet"
            )
        texts[edit.file] = edit.apply(texts[edit.file])
    return texts


def build_variant(bug: Bug, root: Path, source: Path | None = None) -> str:
    """Copy the engine package to ``root/<bug.module>``, apply the bug, and return the module name."""
    source = source or source_dir()
    patched = patched_sources(bug, source)
    dest = Path(root) / bug.module
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(dest.rglob("*.py")):
        if _ABSOLUTE_IMPORT.search(path.read_text()):
            raise PatchError(
                f"{path.relative_to(dest)} imports {ENGINE} absolutely: a copy would test the original"
            )
    for name, text in patched.items():
        (dest / name).write_text(text)
    return bug.module


# -- what a run showed
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """One judged tensor read from a report of the run."""

    table: str
    nodeid: str
    case: str
    tensor: str
    dtype: str
    kind: str
    checked_error: float
    tolerance: float
    passed: bool
    detail: str


@dataclass(frozen=True)
class SelftestRecord:
    """A row of selftest.csv: one planted bug, whether the suite caught it, where, and with what error."""

    nodeid: str
    suite: str
    case: str
    dtype: str  # of the comparison that caught it (or the closest miss); "" when there is none
    kind: str
    seed: int | None
    checked_error: float
    tolerance: float
    passed: bool  # caught on its tensor
    bug: str
    description: str
    module: str
    expected_tensors: str
    caught: bool
    caught_on_tensor: bool
    first_failing_test: str
    tensor: str
    error_seen: str
    tests_run: int
    tests_failed: int
    seconds: float

    @classmethod
    def of(cls, case: Case, bug: Bug, where: Observation | None, **outcome) -> SelftestRecord:
        """The row of ``bug``, its error and bound those of the observation ``where`` (if any)."""
        return cls(
            nodeid=case.nodeid,
            suite=case.suite,
            case=case.case,
            seed=case.seed,
            dtype=where.dtype if where else "",
            kind=where.kind if where else "",
            checked_error=where.checked_error if where else math.nan,
            tolerance=where.tolerance if where else math.nan,
            passed=outcome["caught_on_tensor"],
            bug=bug.id,
            description=bug.description,
            module=bug.files,
            expected_tensors=";".join(bug.expected),
            **outcome,
        )


@dataclass(frozen=True)
class Outcome:
    """What the suite did with one variant."""

    bug: Bug
    returncode: int
    tests_run: int
    tests_failed: int
    failed_tests: tuple[tuple[str, str], ...]  # (node id, short message) in run order
    observations: tuple[Observation, ...]
    seconds: float
    output: str = field(repr=False, default="")

    @property
    def caught(self) -> bool:
        return self.tests_failed > 0

    @property
    def catch(self) -> Observation | None:
        """The first failing comparison on an expected tensor, in run order."""
        failed = [n for n, _ in self.failed_tests]
        hits = [
            o
            for o in self.observations
            if not o.passed and o.tensor in self.bug.expected and o.nodeid in failed
        ]
        return min(hits, key=lambda o: failed.index(o.nodeid), default=None)

    @property
    def caught_on_tensor(self) -> bool:
        return self.catch is not None

    def record(self, case: Case) -> SelftestRecord:
        """The selftest report row: where the bug was caught, or the closest miss on an expected tensor."""
        catch = self.catch
        if catch is None:  # not caught where it should be: show the closest miss on an expected tensor
            misses = [o for o in self.observations if o.tensor in self.bug.expected]
            closest = max(misses, key=lambda o: _ratio(o), default=None)
            first = self.failed_tests[0] if self.failed_tests else ("", "")
            wrong = next((o for o in self.observations if not o.passed), None)
            seen = wrong.detail if wrong else first[1]
            where = closest or wrong
        else:
            first, seen, where = (catch.nodeid, ""), catch.detail, catch
        return SelftestRecord.of(
            case,
            self.bug,
            where,
            caught=self.caught,
            caught_on_tensor=self.caught_on_tensor,
            first_failing_test=first[0],
            tensor=(catch or wrong).tensor if (catch or wrong) else "",
            error_seen=seen,
            tests_run=self.tests_run,
            tests_failed=self.tests_failed,
            seconds=round(self.seconds, 2),
        )

    def explain(self) -> str:
        lines = [
            f"planted bug {self.bug.id!r} ({self.bug.description}), "
            f"expected on {', '.join(self.bug.expected)}:",
            f"  {self.tests_failed} of {self.tests_run} selected tests failed (exit code {self.returncode})",
        ]
        lines += [f"  FAILED {n}: {m}" for n, m in self.failed_tests[:5]]
        lines += [
            f"  failing comparison: {o.nodeid} / {o.tensor}: {o.detail}"
            for o in self.observations
            if not o.passed
        ][:5]
        if not self.tests_run:
            lines.append(self.output[-3000:])
        return "\n".join(lines)


def _ratio(o: Observation) -> float:
    if o.checked_error == 0:
        return 0.0
    return o.checked_error / o.tolerance if o.tolerance and not math.isnan(o.tolerance) else math.inf


# The tables whose rows hold verdicts, and the record type each is read back as.
JUDGED_TABLES = (("gradients", Comparison), ("clipping", ClipRecord), ("trajectories", TrajectoryRecord))


def read_observations(report_dir: Path) -> list[Observation]:
    """Every tensor the run's tests judged, as they recorded it (see the module docstring for the names)."""
    out = []
    for table, record_type in JUDGED_TABLES:
        path = report_dir / f"{table}.csv"
        for record in report.read_records(path, record_type) if path.is_file() else ():
            for tensor, error, bound, passed, detail in record.verdicts():
                out.append(
                    Observation(
                        table,
                        record.nodeid,
                        record.case,
                        tensor,
                        record.dtype,
                        record.kind,
                        error,
                        bound,
                        passed,
                        detail,
                    )
                )
    return out


def _run_counts(report_dir: Path) -> tuple[int, int]:
    path = report_dir / report.SUMMARY_FILE
    for r in report.read_records(path, report.SummaryRecord) if path.is_file() else ():
        if r.suite == "(run)":
            return r.tests or 0, r.tests_failed or 0
    return 0, 0


def error_record(case: Case, bug: Bug, error: Exception, seconds: float = math.nan) -> SelftestRecord:
    """The selftest row of a bug whose run said nothing about it (a patch that no longer applies, a selection
    that collects nothing, a child pytest that could not start): not caught, with the reason."""
    return SelftestRecord.of(
        case,
        bug,
        None,
        caught=False,
        caught_on_tensor=False,
        first_failing_test="",
        tensor="",
        error_seen=f"{type(error).__name__}: {str(error)[:500]}",
        tests_run=0,
        tests_failed=0,
        seconds=seconds,
    )


# -- running the suite against a variant
# ----------------------------------------------------------------------


def command(bug: Bug, report_dir: Path, *, base_seed: int = 0, python: str = sys.executable) -> list[str]:
    """The pytest command that runs the bug's selection against its variant (one process: never mixes
    engines)."""
    return [
        python,
        "-m",
        "pytest",
        *bug.selection,
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "-q",
        f"--parity-engine={bug.module}",
        f"--parity-report-dir={report_dir}",
        f"--parity-seed={base_seed}",
        "--parity-selftest=off",
        "--parity-html=off",
    ]


def child_environment(variant_root: Path) -> dict[str, str]:
    """This environment, with the variant's directory first on PYTHONPATH and pytest/xdist state removed (a
    worker's PYTEST_XDIST_* must not leak into the child, nor PYTEST_ADDOPTS change what it runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(variant_root)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run(bug: Bug, workdir: Path, *, rootdir: Path, base_seed: int = 0, timeout: float = 900.0) -> Outcome:
    """Build the bug's variant under ``workdir``, run its selection of the suite against it, read the reports.

    rootdir: the project's root (the subprocess runs there, so the project's conftest and config apply).
    RunError when the run says nothing about the bug: no test selected, a usage error, a timeout.
    """
    workdir = Path(workdir)
    variant_root, report_dir = workdir / "variant", workdir / "reports"
    build_variant(bug, variant_root)
    cmd = command(bug, report_dir, base_seed=base_seed)
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=rootdir,
            env=child_environment(variant_root),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise RunError(
            f"bug {bug.id!r}: the suite did not finish in {timeout:.0f} s: {' '.join(cmd)}"
        ) from exc
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    tests_run, tests_failed = _run_counts(report_dir)
    if proc.returncode not in (0, 1) or tests_run == 0:
        raise RunError(
            f"bug {bug.id!r}: pytest exited {proc.returncode} after {tests_run} tests "
            f"({' '.join(cmd)}):\n{output[-4000:]}"
        )
    failed = tuple((m.group(2), (m.group(3) or "").strip()) for m in _SUMMARY_LINE.finditer(proc.stdout))
    return Outcome(
        bug,
        proc.returncode,
        tests_run,
        tests_failed,
        tuple(dict.fromkeys(failed)),
        tuple(read_observations(report_dir)),
        seconds,
        output,
    )
