"""The harness as a CI gate: a crash never hangs the run, misuse of the report directory is refused before any
test runs, and the reports are one set from one run that says how it ended.

Each test runs a small suite of its own in a pytest subprocess (pytester), under the project's own
``[tool.pytest.ini_options]`` where the defaults matter (``-c pyproject.toml``). The suites use NumPy only: no
subprocess here imports torch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from parity import report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def this_checkout_first(monkeypatch):
    """pytest subprocesses import ``parity`` from this checkout, not from wherever the package is
    installed."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    )


PROJECT_CONFIG = ROOT / "pyproject.toml"
CONFTEST = 'pytest_plugins = ("parity.plugin",)\n'
# a hard bound: a run that takes longer than this hangs (the crash runs below take 3 to 6 s)
CRASH_TIMEOUT = 90

# A suite shaped like tests/test_training.py: module-scoped settings shared by the tests of an xdist group,
# plus plain parity tests around them.
GROUPED = """
import os
import signal

import numpy as np
import pytest


@pytest.fixture(scope="module")
def setting(request):
    return request.param


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("setting", [
    pytest.param(name, marks=pytest.mark.xdist_group(f"g-{{name}}"), id=name) for name in ("a", "b", "c", "d")
], indirect=True)
def test_grouped(parity, setting, dtype):
    if setting == "c" and dtype == "float64":
        {crash}
    d = parity.rng().standard_normal(3)
    parity.check({{"x": (d.copy(), d)}}, dtype=np.float64, kind="random")


@pytest.mark.parametrize("k", range(12))
def test_plain(parity, k):
    d = parity.rng().standard_normal(3)
    parity.check({{"x": (d.copy(), d)}}, dtype=np.float64, kind="random")
"""
# kill -9 of the worker (os._exit ends a worker the same way: tests/test_report.py has it under --dist=load)
CRASH = "os.kill(os.getpid(), signal.SIGKILL)"
N_GROUPED, N_PLAIN = 8, 12
BROKEN = "def test_broken(:\n    pass\n"
# plugins these suites do not need (hypothesis's costs 0.6 s of CPU in every process)
NO_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")


def default_run(pytester, *args, timeout=CRASH_TIMEOUT, inline=False):
    """pytest under the project's own configuration (addopts included), on the test files of the pytester
    directory (the project's testpaths do not exist there): in a subprocess, or ``inline`` in this one."""
    args = (
        "-c",
        str(PROJECT_CONFIG),
        "--rootdir",
        str(pytester.path),
        *NO_PLUGINS,
        *args,
        str(pytester.path),
    )
    return pytester.runpytest(*args) if inline else pytester.runpytest_subprocess(*args, timeout=timeout)


def read(pytester, name, directory="reports"):
    return report.read_report(pytester.path / directory / f"{name}.csv")


def run_row(pytester, directory="reports"):
    summary = read(pytester, "summary", directory)
    assert summary["suite"].iloc[0] == "(run)"  # the first row, where a reader looks first
    return summary.iloc[0]


def test_a_worker_crash_under_the_default_options_ends_the_run_and_is_reported(pytester):
    """kill -9 of a worker, under the project's options, in a suite with a module that does not collect: the
    run ends within a bound, fails, and writes one set of files (umask respected) that counts all of it."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_grouped=GROUPED.format(crash=CRASH), test_broken=BROKEN)
    old = os.umask(0o022)
    start = time.monotonic()
    try:
        result = default_run(pytester, "-n", "2")  # raises pytester's TimeoutExpired if the run hangs
    finally:
        os.umask(old)
    seconds = time.monotonic() - start
    print(f"kill -9 of a worker: the run ended {seconds:.1f} s after it started")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = run_row(pytester)
    assert run["status"] == "incomplete"
    assert run["crashed_workers"] in ("gw0", "gw1")
    assert run["crashed_tests"] == "test_grouped.py::test_grouped[c-float64]"
    assert run["collection_errors"] == 1
    assert run["tests"] + run["missing_tests"] == N_GROUPED + N_PLAIN
    assert run["tests_failed"] >= 1  # the crashed test
    rows = read(pytester, "gradients")
    assert len(rows) == run["tests"] - 1  # every test that reported wrote its row; the crashed one none
    result.stdout.fnmatch_lines(
        [
            "*worker 'gw?' crashed while running 'test_grouped.py::test_grouped?c-float64?'*",
            (
                "*INCOMPLETE RUN*1 collection error(s); crashed workers: gw? "
                "(while running test_grouped.py::test_grouped?c-float64?)*"
            ),
        ]
    )
    files = all_files(pytester)
    assert set(files) == csv_outputs()
    for name in files:
        path = pytester.path / "reports" / name
        assert path.stat().st_mode & 0o777 == 0o644, name
        assert set(report.read_report(path)["run_id"]) <= {run["run_id"]}, name  # (a table with no rows: {})
    env = dict(read(pytester, "environment")[["key", "value"]].values)
    assert (
        "1 threads" in env["blas"] and env["xdist_workers"] == "2"
    )  # pinned: the workers', not the controller's


def test_a_grouped_scheduler_that_replaces_crashed_workers_is_refused(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_grouped=GROUPED.format(crash="pass"))
    result = default_run(pytester, "-n", "2", "--max-worker-restart=2", inline=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --dist=loadgroup with --max-worker-restart=2: a worker crash can hang*"]
    )
    assert not (pytester.path / "reports").exists()


@pytest.mark.parametrize("workers", ["0"])  # -n 2: in the crash test above
def test_a_collection_error_fails_the_run_and_is_counted(pytester, workers):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_grouped=GROUPED.format(crash="pass"), test_broken=BROKEN)
    result = default_run(pytester, "-n", workers, inline=True)
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.USAGE_ERROR)
    run = run_row(pytester)
    assert run["status"] == "incomplete"
    assert run["collection_errors"] == 1
    result.stdout.fnmatch_lines(
        ["*INCOMPLETE RUN*1 collection error(s)*", "*collection error: test_broken.py*"]
    )


# -- the report directory ----------------------------------------------------------------------------------


def simple_suite(pytester, extra=""):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_simple="""
import numpy as np

def test_one(parity, tmp_path_factory):
    open("test-ran", "w").close()
    d = parity.rng().standard_normal(3)
    parity.check({"x": (d.copy(), d)}, dtype=np.float64, kind="random")
"""
        + extra
    )


@pytest.mark.parametrize(
    "where, cause",
    [
        ("a-file", "it exists and is not a directory"),
        ("a-file/sub", "cannot create it: Not a directory"),
        ("/proc/parity-reports", "cannot create it: *"),
        ("/proc", "cannot create a file in it: *"),
        ("", None),
    ],
)
def test_an_unusable_report_dir_is_a_usage_error_before_any_test_runs(pytester, where, cause):
    simple_suite(pytester)
    (pytester.path / "a-file").write_text("not a directory")
    result = pytester.runpytest("-p", "no:cacheprovider", f"--parity-report-dir={where}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    if cause is None:
        assert errors == ["ERROR: --parity-report-dir is empty: name a directory (default: reports)"]
    else:
        target = where if where.startswith("/") else str(pytester.path / where)
        result.stderr.fnmatch_lines(
            [f"ERROR: cannot write reports to {target} (--parity-report-dir): {cause}"]
        )
    assert not (pytester.path / "test-ran").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into any directory")
def test_a_read_only_report_dir_is_a_usage_error(pytester):
    simple_suite(pytester)
    (pytester.path / "ro").mkdir(mode=0o555)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-report-dir=ro")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: cannot write reports to *ro (--parity-report-dir): *ermission denied*"]
    )


def test_a_second_run_into_a_directory_in_use_is_refused(pytester):
    simple_suite(pytester)
    held = report.ReportDir.claim(
        pytester.path / "reports", "the-first-run", owner="run the-first-run, pid 1"
    )
    try:
        result = pytester.runpytest("-p", "no:cacheprovider")
    finally:
        held.close()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: cannot write reports to * another run is writing reports there (run the-first-run, pid 1)*"]
    )
    assert not (pytester.path / "test-ran").exists()
    assert pytester.runpytest("-p", "no:cacheprovider").ret == pytest.ExitCode.OK  # the lock is released


# -- one set, one run, and how it ended ---------------------------------------------------------------------


def csv_outputs() -> set[str]:
    return {name for name in report.output_files() if name.endswith(".csv")}


def all_files(pytester, directory="reports"):
    return sorted(p.name for p in (pytester.path / directory).glob("*.csv"))


def test_every_file_carries_the_run_id_and_respects_the_umask(pytester):
    simple_suite(pytester)
    old = os.umask(0o027)
    try:
        result = pytester.runpytest("-p", "no:cacheprovider")
    finally:
        os.umask(old)
    assert result.ret == pytest.ExitCode.OK
    files = all_files(pytester)
    assert set(files) == {name for name in report.output_files() if name.endswith(".csv")}
    page = pytester.path / "reports" / "index.html"
    assert page.stat().st_mode & 0o777 == 0o640 and "index.html" in report.output_files()
    run = run_row(pytester)
    for name in files:
        path = pytester.path / "reports" / name
        assert path.stat().st_mode & 0o777 == 0o640, name
        frame = report.read_report(path)
        assert list(frame.columns)[-1] == "run_id", name
        assert set(frame["run_id"]) == ({run["run_id"]} if len(frame) else set()), name
    assert run["status"] == "complete"
    result.stdout.fnmatch_lines([f"run {run['run_id']}: complete; 1 tests reported, 0 failed"])


SLOW = """

def test_slow():
    import pathlib, time
    pathlib.Path("slow-started").touch()
    time.sleep(120)
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_running_then_terminated_run_says_so_and_keeps_its_rows(pytester, workers):
    simple_suite(pytester, extra=SLOW)
    first = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_one")
    assert first.ret == pytest.ExitCode.OK
    first_id = run_row(pytester)["run_id"]
    cmd = [sys.executable, "-m", "pytest", *NO_PLUGINS, "-n", workers]
    proc = subprocess.Popen(
        cmd, cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not (pytester.path / "slow-started").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.1)
        # while it runs: the previous run's files are aside, and summary.csv says this run is going
        run = run_row(pytester)
        assert run["status"] == "running" and run["run_id"] != first_id
        assert all_files(pytester) == ["summary.csv"]
        assert run_row(pytester, "reports/previous")["run_id"] == first_id
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    run = run_row(pytester)
    assert run["status"] == "interrupted" and run["run_id"] != first_id
    assert set(all_files(pytester)) == csv_outputs()
    rows = read(pytester, "gradients")
    assert list(rows["case"]) == ["test_one"] and set(rows["run_id"]) == {run["run_id"]}


def test_collect_only_leaves_the_reports_and_the_directory_alone(pytester):
    simple_suite(pytester)
    result = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "--parity-report-dir=/proc")
    assert result.ret == pytest.ExitCode.OK
    assert not (pytester.path / "reports").exists()


def test_nan_is_written_nan_and_not_applicable_empty(tmp_path):
    row = {
        "table": "trajectories",
        "nodeid": "t::x",
        "suite": "s",
        "case": "c",
        "dtype": "float64",
        "kind": "xor",
        "seed": 1,
        "checked_error": float("nan"),
        "tolerance": 1e-12,
        "passed": False,
        "worst_epoch": None,
        "max_norm": None,
        "n_in": 2,
        "worker": "main",
    }
    report.write_reports([row], tmp_path, run={"status": "complete"}, environment=[], run_id="r1")
    text = (tmp_path / "trajectories.csv").read_text().splitlines()
    cells = dict(zip(text[0].split(","), text[1].split(","), strict=True))
    assert (cells["checked_error"], cells["tolerance"], cells["worst_epoch"], cells["max_norm"]) == (
        "nan",
        "1e-12",
        "",
        "",
    )
    frame = report.read_report(tmp_path / "trajectories.csv")
    assert str(frame["n_in"].dtype) == "Int64" and str(frame["passed"].dtype) == "boolean"
    assert pd.isna(frame["worst_epoch"].iloc[0]) and frame["n_in"].iloc[0] == 2


def test_a_run_stopped_by_x_says_stopped_and_one_aborted_before_its_tests_says_aborted(pytester):
    simple_suite(pytester, extra="\n\ndef test_two():\n    assert False\n\n\ndef test_three():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-x", "-k", "two or three")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = run_row(pytester)
    assert (run["status"], run["tests"], run["missing_tests"]) == ("stopped", 1, 1)
    pytester.makeconftest(
        CONFTEST
        + """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    raise pytest.UsageError("the engine cannot be loaded")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert run_row(pytester)["status"] == "aborted"
    assert all_files(pytester) == ["summary.csv"]
