"""The reports themselves: every row reaches the controller, nothing lost, nothing doubled, files atomic.

These tests run small suites of their own with pytester (in subprocesses, the way users run pytest), so that
xdist's real serialization of reports is what carries the rows.
"""

import dataclasses
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parity import report, tables
from parity.compare import Case, Comparison, compare

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def this_checkout_first(monkeypatch):
    """pytest subprocesses import ``parity`` from this checkout, not from wherever the package is
    installed."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    )


CONFTEST = 'pytest_plugins = ("parity.plugin",)\n'

DEMO = """
import numpy as np
import pytest

@pytest.mark.parametrize("k", range({n}), ids=[f"case{{k:02d}}" for k in range({n})])
def test_cmp(parity, k):
    rng = parity.rng()
    d = rng.standard_normal((3, 2))
    a = d.copy()
    if k in {bad}:
        a[0, 1] += 1e-6  # a planted disagreement
    parity.check({{"W": (a, d), "b": (d[:, :1].copy(), d[:, :1].copy())}}, dtype=np.float64, kind="random")
"""


def make_suite(pytester, n=6, bad=(3,), extra=""):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_demo=DEMO.format(n=n, bad=set(bad) or "()") + extra)


def read(pytester, name):
    return pd.read_csv(pytester.path / "reports" / f"{name}.csv", keep_default_na=False)


def test_failing_run_writes_every_row_with_the_failure(pytester):
    make_suite(pytester, n=6, bad=(3,))
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    rows = read(pytester, "gradients")
    assert len(rows) == 12  # 6 cases x 2 tensors, the failing case included
    failed = rows[rows["passed"].astype(str) == "False"]
    assert list(failed["case"]) == ["case03"] and list(failed["tensor"]) == ["W"]
    assert failed["worst_index"].item() == "(0, 1)"
    assert (rows["seed"] != "").all() and rows["seed"].nunique() == 6
    summary = read(pytester, "summary")
    suite_row = summary[summary["suite"] == "demo"].iloc[0]
    assert (int(suite_row["comparisons"]), int(suite_row["failed"])) == (12, 1)
    run_row = summary[summary["suite"] == "(run)"].iloc[0]
    assert (int(run_row["tests"]), int(run_row["tests_failed"]), int(run_row["missing_tests"])) == (6, 1, 0)
    result.stdout.fnmatch_lines(
        [
            "*ACTUAL  (scratch)*",
            "*DESIRED (torch)*",
            "*rerun: pytest*test_demo.py::test_cmp?case03?*--parity-seed=0*",
            "*= parity =*",
            "*demo*float64*12 compared*1 failed*",
            "reports: *gradients.csv*environment.csv*summary.csv*",
        ]
    )


def test_header_names_seed_engine_and_threads(pytester):
    make_suite(pytester, n=1, bad=())
    result = pytester.runpytest("-p", "no:cacheprovider", "--parity-seed=42")
    result.stdout.fnmatch_lines(["parity: base seed 42, engine scratch_nn*thread*numpy*torch*"])
    env = dict(read(pytester, "environment")[["key", "value"]].values)
    assert env["base_seed"] == "42" and env["threads_per_process"] == "1"
    for key in (
        "python",
        "numpy",
        "torch",
        "pandas",
        "hypothesis",
        "pytest",
        "blas",
        "cpu",
        "start_time",
        "xdist_workers",
        "hypothesis_profile",
    ):
        assert env.get(key), key


def test_xdist_writes_the_same_rows_in_the_same_order_as_one_process(pytester):
    make_suite(pytester, n=24, bad=(5, 17))
    runs = {}
    for workers in ("0", "2", "auto"):
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-n", workers
        )
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        runs[workers] = {
            n: (pytester.path / "reports" / f"{n}.csv").read_bytes() for n in ("gradients", "summary")
        }
        if workers != "0":
            workers_seen = set(read(pytester, "gradients")["worker"])
            assert workers_seen <= {"gw0", "gw1"} and len(workers_seen) == 2
    for workers in ("2", "auto"):
        for name, serial in runs["0"].items():
            assert without_volatile(runs[workers][name]) == without_volatile(serial), (workers, name)
    assert len(pd.read_csv(io.BytesIO(runs["0"]["gradients"]))) == 48


def without_volatile(data: bytes) -> bytes:
    """The file's bytes with the timing and worker columns removed (they differ between runs by design)."""
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    frame = frame.drop(columns=[c for c in report.VOLATILE if c in frame.columns])
    return frame.to_csv(index=False, lineterminator="\n").encode()


def test_a_crashed_worker_is_named_and_fails_the_run(pytester):
    crash = """

def test_crash():
    import os
    os._exit(3)
"""
    make_suite(pytester, n=8, bad=(), extra=crash)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-n", "2")
    assert result.ret != pytest.ExitCode.OK
    summary = read(pytester, "summary")
    run_row = summary[summary["suite"] == "(run)"].iloc[0]
    assert run_row["crashed_workers"] in ("gw0", "gw1")
    assert int(run_row["tests"]) + int(run_row["missing_tests"]) == 9
    rows = read(pytester, "gradients")
    assert len(rows) == 2 * (int(run_row["tests"]) - 1)  # every test that reported, but the crashed one
    result.stdout.fnmatch_lines(["*INCOMPLETE RUN*crashed workers: gw*"])


def test_k_reports_exactly_what_ran_and_leaves_no_stale_rows(pytester):
    make_suite(pytester, n=6, bad=())
    pytester.runpytest("-p", "no:cacheprovider")
    assert len(read(pytester, "gradients")) == 12
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "case01 or case04")
    assert result.ret == pytest.ExitCode.OK
    rows = read(pytester, "gradients")
    assert sorted(set(rows["case"])) == ["case01", "case04"] and len(rows) == 4


def test_report_dir_option(pytester):
    make_suite(pytester, n=1, bad=())
    pytester.runpytest("-p", "no:cacheprovider", "--parity-report-dir", "out/parity")
    assert (pytester.path / "out" / "parity" / "gradients.csv").exists()
    assert not (pytester.path / "reports").exists()


def test_every_registered_table_is_written_even_when_empty(tmp_path):
    paths, _ = report.write_reports(
        [], tmp_path, run={"status": "complete", "tests": 0}, environment=[("python", "3")]
    )
    names = {p.name for p in paths}
    assert {f"{t}.csv" for t in report.TABLES} | {"summary.csv", "environment.csv"} == names
    header = (tmp_path / "gradients.csv").read_text()
    assert header == ",".join(tables.GRADIENTS.columns) + "\n"


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "gradients.csv"
    report.write_csv_atomic(pd.DataFrame({"a": [1]}), target)
    before = target.read_bytes()

    def broken(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        report.write_csv_atomic(pd.DataFrame({"a": [2]}), target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["gradients.csv"]  # no temporary file left behind


def test_rows_must_be_plain_values():
    assert report.plain_row({"x": __import__("numpy").float32(1.5)}) == {"x": 1.5}
    with pytest.raises(TypeError, match="report column 'shape'"):
        report.plain_row({"shape": (3, 4)})


def test_undeclared_columns_are_refused():
    with pytest.raises(ValueError, match="undeclared columns"):
        report.table_frame(tables.GRADIENTS, [{"nodeid": "x", "oops": 1}])


def test_collect_only_passes_and_leaves_the_reports_alone(pytester):
    make_suite(pytester, n=3, bad=())
    pytester.runpytest("-p", "no:cacheprovider")
    before = (pytester.path / "reports" / "gradients.csv").read_bytes()
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "reports" / "gradients.csv").read_bytes() == before
    result.stdout.no_fnmatch_line("*INCOMPLETE RUN*")


# -- README's column tables are the files' columns
# -------------------------------------------------------------


def readme_column_tables() -> dict[str, list[tuple[str, str]]]:
    """README's "#### <heading>" sections that hold a `| column | type | meaning |` table: heading -> rows."""
    tables: dict[str, list[tuple[str, str]]] = {}
    heading = None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().strip("`") if line.startswith("#### ") else None
        elif heading and line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tables.setdefault(heading, []).append((cells[0].strip("`"), cells[1]))
    return tables


def test_readme_documents_every_written_column_with_its_type(tmp_path):
    tables = readme_column_tables()
    core, trailer = tables.pop("Core columns"), tables.pop("Trailer columns")
    assert [c for c, _ in core] == list(report.CORE) and [c for c, _ in trailer] == list(report.TRAILER)
    report.write_reports([], tmp_path, run={"status": "complete"}, environment=[("python", "3")], run_id="r")
    written = {f"reports/{p.name}": p for p in tmp_path.glob("*.csv")}
    assert set(written) == set(tables), "README sections vs files written"
    for name, path in written.items():
        header = path.read_text().splitlines()[0].split(",")
        own = [c for c, _ in tables[name]]
        table = report.TABLES.get(Path(name).stem)
        if table is None:  # summary.csv, environment.csv: the README lists all their columns
            expected = own
        else:
            prefix = report.CORE if table.summarized else report.CORE[: report.CORE.index("checked_error")]
            expected = list(prefix) + own + list(report.TRAILER)
        assert header == expected, name
    for column, kind in core + trailer + [row for rows in tables.values() for row in rows]:
        assert report.COLUMN_TYPES[column] == kind, column


def test_status_values_are_the_documented_ones():
    text = (ROOT / "README.md").read_text()
    block = text[text.index("| `status` | meaning |") :].split("\n\n")[0]
    assert re.findall(r"^\| `(\w+)` \|", block, re.MULTILINE)[1:] == list(report.STATUSES)


def test_a_nan_that_means_not_applicable_is_written_empty(tmp_path):
    nan = float("nan")
    base = {
        "table": "gradients",
        "nodeid": "t::x",
        "suite": "s",
        "case": "c",
        "kind": "random",
        "seed": 1,
        "checked_error": 0.0,
        "tolerance": 1e-12,
        "passed": True,
        "tensor": "W",
        "worker": "main",
    }
    rows = [
        report.mark_not_applicable(
            dict(base, dtype="float64", torch_error=nan, worst_index="(0,)", actual=nan, desired=nan)
        ),
        report.mark_not_applicable(
            dict(base, dtype="float32", torch_error=nan, worst_index="", actual=nan, desired=nan)
        ),
    ]
    report.write_reports(rows, tmp_path, run={"status": "complete"}, environment=[], run_id="r")
    frame = pd.read_csv(tmp_path / "gradients.csv", dtype=str, keep_default_na=False)
    assert list(frame["torch_error"]) == ["", "nan"]  # float64: no torch error; float32: a NaN one
    assert list(frame["actual"]) == ["nan", ""] and list(frame["desired"]) == ["nan", ""]


# -- records define their columns
# ------------------------------------------------------------------------------


def test_every_table_has_its_record_fields_as_columns():
    for table in report.TABLES.values():
        fields = report.columns(table.record)
        assert set(table.columns) == set(fields) | set(report.TRAILER), table.name
        own = [c for c in table.columns if c not in report.CORE + report.TRAILER]
        assert own == [f for f in fields if f not in report.CORE], table.name  # in field order
    assert "rerun" not in tables.GRADIENTS.columns  # a field marked column=False stays out of the files


def test_a_column_name_has_one_type_in_every_record():
    @dataclasses.dataclass(frozen=True)
    class Clash:
        passed: str  # CORE's passed is a bool

    with pytest.raises(TypeError, match="'passed'"):
        report.declare(Clash)


def test_records_are_read_back_as_they_were_written(tmp_path):
    case = Case("gates", "relu-scalar-float64", "edge", 3, nodeid="t.py::x")
    recorded = [
        compare(
            np.float64([1.0, 2.0]), np.float64([1.0, 2.0 + 1e-9]), tensor="out", dtype=np.float64, case=case
        ),
        compare(np.float64([1.0]), np.float64([1.0, 2.0]), tensor="grad_x", dtype=np.float64, case=case),
    ]
    rows = [report.mark_not_applicable(dict(c.row(), table="gradients", worker="main")) for c in recorded]
    report.write_reports(rows, tmp_path, run={"status": "complete"}, environment=[])
    back = report.read_records(tmp_path / "gradients.csv", Comparison)
    for before, after in zip(recorded, back, strict=True):
        assert after.row().keys() == before.row().keys()
        for name, value in before.row().items():
            same = value == after.row()[name] or (value != value and after.row()[name] != after.row()[name])
            assert same, (name, value, after.row()[name])
        assert type(after.seed) is int and type(after.passed) is bool and after.problem == before.problem


def test_the_run_rows_worst_ratio_leaves_out_the_selftest_whose_errors_are_bugs_caught():
    def row(suite, error, tol, passed):
        return dict(
            nodeid="t.py::x",
            suite=suite,
            case="c",
            dtype="float64",
            kind="k",
            seed=1,
            checked_error=error,
            tolerance=tol,
            passed=passed,
        )

    rows = {
        "gradients": [row("network", 1e-15, 1e-12, True)],
        "selftest": [row("selftest", 0.5, 0.0, True)],
    }
    run = report.run_row({}, "r-1", rows_by_table=rows)
    assert run["comparisons"] == 1 and run["worst_ratio"] == pytest.approx(1e-3)
