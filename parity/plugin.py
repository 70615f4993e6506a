"""pytest hooks of the parity harness: options, seeds, the ``parity`` fixture, and report rows that reach the
controller with their test reports.

Rows are recorded on whichever process runs the test, attached to that test's report in
``pytest_runtest_makereport`` (plain Python values only), and collected in ``pytest_runtest_logreport`` on the
controller, which alone writes the files. With ``-n 0`` the same code runs in one process. Rows are sorted by
(collection index, order within the test), so that ``-n 0`` and ``-n 2`` write the same rows in the same order.
"""

from __future__ import annotations

import datetime as _dt
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from parity import environment, report
from parity.compare import Case, Comparison, ParityError, compare
from parity.seam import DEFAULT_ENGINE

ROWS_KEY = pytest.StashKey[list]()
INDEX_KEY = pytest.StashKey[int]()
STATE_KEY = pytest.StashKey["RunState"]()
REPORT_ATTR = "parity_rows"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "PyTorch parity harness")
    group.addoption("--parity-report-dir", default="reports", metavar="DIR",
                    help="where the CSV reports go, relative to the rootdir unless absolute (default: reports)")
    group.addoption("--parity-seed", type=int, default=0, metavar="N",
                    help="base seed; every case derives its own seed from it and its node id (default: 0)")
    group.addoption("--parity-engine", default=DEFAULT_ENGINE, metavar="MODULE",
                    help=f"the engine module validated against torch (default: {DEFAULT_ENGINE})")
    group.addoption("--parity-selftest", default="quick", choices=("off", "quick", "full"),
                    help="planted-bug self-test: a few bugs (quick, default), the whole catalogue (full), or none")


@dataclass
class RunState:
    """What the controller gathers during a run."""

    base_seed: int
    engine: str
    report_dir: Path
    start_time: str
    is_controller: bool
    rows: list[dict] = field(default_factory=list)
    expected_tests: int | None = None
    workers: set[str] = field(default_factory=set)
    crashed_workers: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    written: list[Path] = field(default_factory=list)
    run: dict = field(default_factory=dict)
    summary: object = None
    incomplete: bool = False


def pytest_configure(config: pytest.Config) -> None:
    report_dir = Path(config.getoption("parity_report_dir"))
    if not report_dir.is_absolute():
        report_dir = config.rootpath / report_dir
    state = RunState(
        base_seed=config.getoption("parity_seed"),
        engine=config.getoption("parity_engine"),
        report_dir=report_dir,
        start_time=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        is_controller=not hasattr(config, "workerinput"),
    )
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(ParityHooks(config, state), "parity-hooks")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(state), "parity-xdist")


def case_seed(base_seed: int, nodeid: str) -> int:
    """A stable 32-bit seed for one test case: the same for every process and every run with this base."""
    return zlib.crc32(f"{base_seed}:{nodeid}".encode())


def rerun_command(config: pytest.Config, nodeid: str) -> str:
    state = config.stash[STATE_KEY]
    cmd = f'pytest "{nodeid}" --parity-seed={state.base_seed}'
    if state.engine != DEFAULT_ENGINE:
        cmd += f" --parity-engine={state.engine}"
    return cmd


def suite_of(item: pytest.Item) -> str:
    stem = item.path.stem
    return stem[len("test_"):] if stem.startswith("test_") else stem


class Recorder:
    """The ``parity`` fixture: seeds, comparisons and report rows for one test."""

    def __init__(self, item: pytest.Item):
        self._item = item
        state = item.config.stash[STATE_KEY]
        self.nodeid = item.nodeid
        self.suite = suite_of(item)
        self.case_id = item.callspec.id if hasattr(item, "callspec") else item.name
        self.base_seed = state.base_seed
        self.seed = case_seed(state.base_seed, item.nodeid)
        self.rerun = rerun_command(item.config, item.nodeid)
        self._rows = item.stash.setdefault(ROWS_KEY, [])

    def rng(self) -> np.random.Generator:
        """A fresh Generator seeded with this case's seed (call once per independent stream of data)."""
        return np.random.default_rng(self.seed)

    def case(self, kind: str, case: str | None = None, seed: int | None = None) -> Case:
        return Case(suite=self.suite, case=case or self.case_id, kind=kind,
                    seed=self.seed if seed is None else seed, nodeid=self.nodeid, rerun=self.rerun)

    def record(self, table: str, row: dict) -> None:
        """Add one row to report table ``table``; context columns not in ``row`` are filled in."""
        full = dict(nodeid=self.nodeid, suite=self.suite, case=self.case_id, seed=self.seed)
        full.update(row)
        full["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "main")
        full["table"] = table
        self._rows.append(report.plain_row(full))

    def evaluate(self, tensors: dict, *, dtype, kind: str, case: str | None = None,
                 seed: int | None = None, conditioning=None) -> list[Comparison]:
        """Compare every tensor of a case; records nothing and raises nothing.

        tensors: name -> (actual, desired) or (actual, desired, reference); float32 needs the reference.
        conditioning: the reference result's ``conditioning``, one per tensor in the order of ``tensors``
        (``reference.conditioning``); it sets each tensor's bound (``parity.tolerance``).
        """
        conditioning = [None] * len(tensors) if conditioning is None else list(conditioning)
        if len(conditioning) != len(tensors):
            raise ValueError(f"{len(conditioning)} conditionings for {len(tensors)} tensors ({', '.join(tensors)})")
        results = []
        for (name, arrays), cond in zip(tensors.items(), conditioning):
            actual, desired, *rest = arrays
            results.append(compare(actual, desired, tensor=name, dtype=dtype, case=self.case(kind, case, seed),
                                   reference=rest[0] if rest else None, conditioning=cond))
        return results

    def check(self, tensors: dict, *, dtype, kind: str, case: str | None = None,
              seed: int | None = None, conditioning=None) -> list[Comparison]:
        """Compare every tensor of a case, record a gradients.csv row for each, then raise one ParityError
        naming every failure (so that one bad tensor does not hide the others)."""
        results = self.evaluate(tensors, dtype=dtype, kind=kind, case=case, seed=seed, conditioning=conditioning)
        for result in results:
            row = result.row()
            row.pop("rerun")
            self.record(report.GRADIENTS.name, row)
        raise_failures(results)
        return results


def raise_failures(results: list[Comparison]) -> None:
    failures = [r for r in results if not r.passed]
    if failures:
        raise ParityError(failures)


@pytest.fixture(scope="session")
def parity_seed(pytestconfig: pytest.Config):
    """``seed(key)``: a stable seed derived from the base seed and ``key``, for data shared across tests."""
    base = pytestconfig.stash[STATE_KEY].base_seed
    return lambda key: case_seed(base, key)


@pytest.fixture
def parity(request: pytest.FixtureRequest) -> Recorder:
    """Seeds, comparisons against torch, and report rows for this test."""
    return Recorder(request.node)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    rep = yield
    rows = item.stash.get(ROWS_KEY, None)
    if rows:
        index = item.stash.get(INDEX_KEY, -1)
        for seq, row in enumerate(rows):
            row["_order"] = [index, seq]
        setattr(rep, REPORT_ATTR, list(rows))
        rows.clear()
    return rep


class ParityHooks:
    """The hooks that need the run's state: header, collection count, row gathering, writing, summary."""

    def __init__(self, config: pytest.Config, state: RunState):
        self.config = config
        self.state = state

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._limiter = environment.pin_threads()

    def pytest_report_header(self, config: pytest.Config) -> str:
        workers = str(config.getoption("numprocesses", None) or 0)
        header = environment.header_line(self.state.base_seed, self.state.engine, workers)
        return header + f"; reports -> {self.state.report_dir}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items) -> None:
        for index, item in enumerate(items):
            item.stash[INDEX_KEY] = index
        if self.state.is_controller:
            self.state.expected_tests = len(items)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        state = self.state
        if not state.is_controller:
            return
        state.seen.add(report.nodeid)
        if report.failed:
            state.failed.add(report.nodeid)
        state.rows.extend(getattr(report, REPORT_ATTR, None) or ())

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus) -> None:
        state = self.state
        # --collect-only runs nothing: it leaves the reports of the last run as they are and judges nothing
        if not state.is_controller or session.config.option.collectonly:
            return
        rows = sorted(state.rows, key=lambda r: tuple(r["_order"]))
        for row in rows:
            row.pop("_order")
        missing = max(0, (state.expected_tests or 0) - len(state.seen))
        # -x, --maxfail and Ctrl-C leave tests unrun on purpose; a crash or a lost report does not
        stopped = bool(session.shouldstop or session.shouldfail) or exitstatus == pytest.ExitCode.INTERRUPTED
        state.incomplete = bool(state.crashed_workers) or (missing > 0 and not stopped)
        state.run = dict(tests=len(state.seen), tests_failed=len(state.failed), missing_tests=missing,
                         crashed_workers=";".join(state.crashed_workers))
        env = environment.environment_rows(
            base_seed=state.base_seed, engine=state.engine, workers=len(state.workers),
            hypothesis_profile=_hypothesis_profile(), start_time=state.start_time,
            report_dir=str(state.report_dir),
        )
        state.written, state.summary = report.write_reports(rows, state.report_dir, run=state.run, environment=env)
        if state.incomplete and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config: pytest.Config) -> None:
        state = self.state
        if not state.is_controller or not state.written:
            return
        tr = terminalreporter
        tr.section("parity")
        if len(state.summary):
            for _, r in state.summary.iterrows():
                tr.write_line(
                    f"{r['suite']:>14} {r['dtype']:>8}: {r['comparisons']:5d} compared, {r['failed']:3d} failed;"
                    f" worst error {r['worst_error']:.3g} at {r['worst_error_case']};"
                    f" worst error/tolerance {r['worst_ratio']:.3g}"
                )
        else:
            tr.write_line("no comparisons ran")
        run = state.run
        if state.incomplete:
            tr.write_line(
                f"INCOMPLETE RUN: {run['missing_tests']} test(s) never reported; crashed workers: "
                f"{run['crashed_workers'] or 'none'}", red=True,
            )
        tr.write_line("reports: " + ", ".join(str(p) for p in state.written))


class _XdistHooks:
    """Hooks that exist only with pytest-xdist (registered only then, so hook validation passes without it)."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_xdist_node_collection_finished(self, node, ids):
        self.state.workers.add(node.gateway.id)
        self.state.expected_tests = len(ids)

    def pytest_testnodedown(self, node, error):
        if error:
            self.state.crashed_workers.append(node.gateway.id)


def _hypothesis_profile() -> str:
    try:
        from hypothesis import settings
    except ImportError:
        return "not installed"
    return getattr(settings, "_current_profile", None) or "default"
