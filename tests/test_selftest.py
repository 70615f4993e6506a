"""The planted-bug self-test: the parity suite must catch every bug of the catalogue in ``parity/mutants.py``,
each by a failing comparison on a tensor the bug touches, when it validates a patched copy of the engine
through its one seam (``--parity-engine``). One row per bug goes to reports/selftest.csv.

``--parity-selftest=quick`` (the default) runs the bugs marked quick, ``full`` the whole catalogue, ``off``
none; the others are not generated. The fast tests below, that every patch still applies exactly once to the
current engine and that the runner reads reports correctly, run in every form.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from parity import mutants, report
from parity.clipping import ClipRecord, ClipSetting
from parity.compare import Case, compare
from parity.trajectory import Final, Run, Side, judge_run

CATALOGUE_IDS = [b.id for b in mutants.CATALOGUE]
CASE = Case("selftest", "demo", "", 1, nodeid="tests/test_selftest.py::demo")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "planted_bug" in metafunc.fixturenames:
        bugs = mutants.bugs_for(metafunc.config.getoption("parity_selftest"))
        params = [pytest.param(b, id=b.id, marks=() if b.quick else pytest.mark.selftest_full) for b in bugs]
        if not params:  # one skip that says why, not pytest's "got empty parameter set"
            skip = pytest.mark.skip(reason="planted bugs not run: --parity-selftest=off")
            params = [pytest.param(None, id="off", marks=skip)]
        metafunc.parametrize("planted_bug", params)


def test_planted_bug_is_caught_on_its_tensor(planted_bug: mutants.Bug, parity, tmp_path, pytestconfig):
    try:
        outcome = mutants.run(
            planted_bug, tmp_path, rootdir=pytestconfig.rootpath, base_seed=parity.base_seed
        )
    except (mutants.PatchError, mutants.RunError) as exc:
        parity.record(mutants.error_record(parity.case(""), planted_bug, exc))  # the row says why, then fail
        raise
    parity.record(outcome.record(parity.case("")))
    assert outcome.caught, "the suite did not catch this bug at all\n" + outcome.explain()
    assert outcome.caught_on_tensor, (
        "the suite failed, but not by a comparison on a tensor the bug touches\n" + outcome.explain()
    )


# -- the catalogue, against the engine's current source
# ----------------------------------------------------------


@pytest.mark.parametrize("bug", mutants.CATALOGUE, ids=CATALOGUE_IDS)
def test_patch_applies_exactly_once_to_the_current_engine(bug: mutants.Bug):
    source = mutants.source_dir()
    patched = mutants.patched_sources(bug, source)
    for name, text in patched.items():
        assert text != (source / name).read_text(), f"{bug.id}: the patch of {name} changes nothing"
        compile(text, f"{bug.module}/{name}", "exec")  # a variant that does not even parse is no bug


def test_catalogue_is_large_varied_and_consistent():
    bugs = mutants.CATALOGUE
    assert len(bugs) >= 20
    assert len(set(CATALOGUE_IDS)) == len(bugs), "bug ids must be unique"
    assert len({b.module for b in bugs}) == len(bugs), "variant module names must be unique"
    assert 3 <= len(mutants.bugs_for("quick")) <= 4
    assert {f for b in bugs for f in b.files.split(";")} >= {"gates.py", "graphs.py", "network.py", "clip.py"}
    for bug in bugs:
        assert bug.expected and bug.selection and bug.description, bug.id
        paths = [a.split("::")[0] for a in bug.selection if a.startswith("tests/")]
        assert paths and all(Path(mutants.source_dir().parent, p).is_file() for p in paths), bug.id
        assert "tests/test_selftest.py" not in paths, bug.id


def test_forms_select_in_catalogue_order():
    assert mutants.bugs_for("off") == ()
    assert mutants.bugs_for("full") == mutants.CATALOGUE
    quick = mutants.bugs_for("quick")
    assert list(quick) == [b for b in mutants.CATALOGUE if b.quick]
    with pytest.raises(ValueError, match="form"):
        mutants.bugs_for("some")


def test_variant_is_a_renamed_copy_differing_only_by_the_patch(tmp_path):
    bug = mutants.BY_ID["missing-1-over-m"]
    name = mutants.build_variant(bug, tmp_path)
    assert name == "scratch_nn_bug_missing_1_over_m"
    source, copy = mutants.source_dir(), tmp_path / name
    originals = sorted(p.name for p in source.glob("*.py"))
    assert sorted(p.name for p in copy.glob("*.py")) == originals
    changed = [n for n in originals if (copy / n).read_text() != (source / n).read_text()]
    assert changed == ["network.py"]
    assert not list(copy.rglob("__pycache__"))


def engine_like(tmp_path, text: str) -> Path:
    pkg = tmp_path / "scratch_nn"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import mod\n")
    (pkg / "mod.py").write_text(text)
    return pkg


@pytest.mark.parametrize("text, count", [("x = 1\n", 0), ("y = 2\ny = 2\n", 2)], ids=["missing", "twice"])
def test_a_patch_that_does_not_apply_exactly_once_is_an_error(tmp_path, text, count):
    source = engine_like(tmp_path, text)
    bug = mutants.Bug("demo", "demo", (mutants.Edit("mod.py", "y = 2", "y = 3"),), ("t",), ("tests/x.py",))
    with pytest.raises(mutants.PatchError, match=f"occurs {count} times in mod.py"):
        mutants.patched_sources(bug, source)


def test_an_engine_importing_itself_absolutely_is_refused(tmp_path):
    source = engine_like(tmp_path, "from scratch_nn import gates\ny = 2\n")
    bug = mutants.Bug("demo", "demo", (mutants.Edit("mod.py", "y = 2", "y = 3"),), ("t",), ("tests/x.py",))
    with pytest.raises(mutants.PatchError, match="absolutely"):
        mutants.build_variant(bug, tmp_path / "out", source)


@pytest.mark.parametrize(
    "new, expected",
    [
        ("", "def f(a):\n    return a\n"),
        ("a = -a", "def f(a):\n    a = -a\n    return a\n"),
        ("{line}\na = 0 * a", "def f(a):\n    a *= 2  # double\n    a = 0 * a\n    return a\n"),
    ],
    ids=["delete", "replace", "keep-and-add"],
)
def test_line_edits_keep_the_indentation(new, expected):
    text = "def f(a):\n    a *= 2  # double\n    return a\n"
    assert mutants.Edit("m.py", "a *= 2", new, line=True).apply(text) == expected


# -- reading what a run showed
# -------------------------------------------------------------------------------------


def write_records(directory: Path, records: list) -> None:
    rows = [dict(report.row_of(r), table=report.table_of(r).name, worker="main") for r in records]
    rows = [report.mark_not_applicable(r) for r in rows]
    report.write_reports(rows, directory, run={"status": "complete"}, environment=[])


def judged(actual, desired, tensor, case):
    return compare(np.float64(actual), np.float64(desired), tensor=tensor, dtype=np.float64, case=case)


def test_reports_are_read_back_into_the_verdicts_the_tests_recorded(tmp_path):
    net = Case("network", "1", "random", 7, nodeid="t.py::a[1]")
    clip, raised = (Case("clipping", c, "random", 8, nodeid=f"t.py::{c}") for c in ("c1", "c2"))
    setting = ClipSetting("2.0", 1.0, False, 4)
    results = [
        judged(2.0, 2.0, "total_norm", clip),
        judged(0.5, 0.49999995, "coef", clip),
        judged([[1.0]], [[1.0 + 1e-7]], "clipped_W1", clip),
    ]
    scalars = dict(total_norm=2.0, torch_total_norm=2.0, coef=0.5, torch_coef=0.49999995)
    losses, params, norms = np.linspace(0.7, 0.1, 10), np.ones(5), np.full(10, 3.0)
    verdict = judge_run(np.float64, Side(losses, params, norms * (1 + 1e-9)), Side(losses, params, norms))
    run = Run("relu", "d", epochs=10, lr=0.5, max_norm=3.0)
    write_records(
        tmp_path,
        [
            judged([0.2, 0.1], [0.1, 0.1], "dW1", net),
            judged([0.1], [0.1], "db1", net),
            ClipRecord.judged(clip, setting, results, scalars),
            ClipRecord.raising(raised, setting, np.float64, None, RuntimeError("no"), ""),
            verdict.record(Case("training", "r1", "random", 5, nodeid="t.py::r1"), run, np.float64, Final()),
        ],
    )
    seen = {(o.nodeid, o.tensor): o for o in mutants.read_observations(tmp_path)}
    assert not seen["t.py::a[1]", "dW1"].passed and seen["t.py::a[1]", "db1"].passed
    assert "scratch 0.2, torch 0.1" in seen["t.py::a[1]", "dW1"].detail
    assert seen["t.py::c1", "total_norm"].passed
    coef = seen["t.py::c1", "coef"]
    assert not coef.passed and math.isclose(coef.checked_error, 1e-7, rel_tol=1e-6)
    assert coef.tolerance == results[1].tolerance  # the coefficient's own bound, as its comparison judged it
    assert not seen["t.py::c1", "clipped_W1"].passed
    assert (
        not seen["t.py::c2", "raised"].passed
        and "torch raised RuntimeError" in seen["t.py::c2", "raised"].detail
    )
    # losses and parameters within bounds, the pre-clip norms not
    assert seen["t.py::r1", "losses"].passed and seen["t.py::r1", "final_params"].passed
    norms_seen = seen["t.py::r1", "total_norms"]
    assert not norms_seen.passed and norms_seen.tolerance == verdict.norm_tolerance


def outcome(failed, observations, expected=("dW1",)) -> mutants.Outcome:
    bug = mutants.Bug("demo", "a demo bug", (), expected, ("tests/x.py",))
    return mutants.Outcome(
        bug, 1 if failed else 0, 3, len(failed), tuple((n, "boom") for n in failed), tuple(observations), 1.5
    )


def obs(nodeid, tensor, passed, error=0.5):
    return mutants.Observation(
        "gradients", nodeid, "c", tensor, "float64", "random", error, 1e-12, passed, f"{tensor} off"
    )


def test_caught_on_its_tensor_means_a_failing_comparison_on_an_expected_tensor_in_a_failed_test():
    hit = outcome(["a", "b"], [obs("a", "p", False), obs("b", "dW1", False)])
    assert hit.caught and hit.caught_on_tensor and hit.catch.nodeid == "b"
    row = hit.record(CASE)
    assert (row.passed, row.first_failing_test, row.tensor, row.error_seen) == (True, "b", "dW1", "dW1 off")
    assert row.checked_error == 0.5 and row.tolerance == 1e-12 and row.dtype == "float64"

    elsewhere = outcome(["a"], [obs("a", "p", False), obs("a", "dW1", True, error=1e-15)])
    assert elsewhere.caught and not elsewhere.caught_on_tensor
    row = elsewhere.record(CASE)
    assert (row.passed, row.first_failing_test, row.tensor) == (False, "a", "p")
    assert row.checked_error == 1e-15  # the closest miss on the expected tensor

    crash = outcome(["a"], [])
    assert crash.caught and not crash.caught_on_tensor and crash.record(CASE).error_seen == "boom"

    missed = outcome([], [obs("a", "dW1", True, error=1e-15)])
    assert not missed.caught and not missed.record(CASE).caught


def test_a_run_that_says_nothing_is_a_row_that_says_why():
    bug = mutants.BY_ID["relu-mask-ge"]
    row = mutants.error_record(CASE, bug, mutants.RunError("pytest exited 4 after 0 tests"))
    assert (row.caught, row.passed, row.tests_run) == (False, False, 0)
    assert row.error_seen == "RunError: pytest exited 4 after 0 tests" and row.expected_tensors == "grad_x"


def test_the_child_runs_one_engine_without_the_parents_xdist_state(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = mutants.child_environment(tmp_path)
    assert not any(k.startswith("PYTEST_") for k in env)
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path) and "/elsewhere" in env["PYTHONPATH"]
    bug = mutants.BY_ID["relu-mask-ge"]
    cmd = mutants.command(bug, tmp_path / "r", base_seed=5)
    assert cmd.count("--parity-engine=scratch_nn_bug_relu_mask_ge") == 1
    assert "--parity-selftest=off" in cmd and "--parity-seed=5" in cmd
    assert not any(re.match(r"tests/test_selftest", a) for a in cmd)


def test_the_taylor_check_calls_a_planted_variant_a_wrong_gradient(tmp_path, monkeypatch):
    """The missing-1/m variant, imported from its copy: scratch_nn's eps-free Taylor check calls its gradient
    wrong (slope 1) where the real engine's is correct (slope 2), at the same point."""
    import numpy as np

    import scratch_nn as sn

    monkeypatch.syspath_prepend(str(tmp_path))
    variant = __import__(mutants.build_variant(mutants.BY_ID["missing-1-over-m"], tmp_path))
    rng = np.random.default_rng(13)
    net = sn.TwoLayerNet.init(4, 6, activation="relu", rng=rng)
    X, y = rng.standard_normal((4, 8)), (rng.random((1, 8)) < 0.5) * 1.0
    buggy = variant.TwoLayerNet(variant.Params(*net.params.copy()), "relu")
    buggy.forward(X)
    wrong = sn.Params(*buggy.backward(y))
    assert sn.taylor_check(net, X, y, rng=np.random.default_rng(0), grads=wrong).verdict == "wrong gradient"
    assert sn.taylor_check(net, X, y, rng=np.random.default_rng(0)).verdict == "correct"
