"""pytest hooks of the parity harness: options, seeds, the ``parity`` fixture, and report rows that reach the
controller with their test reports.

Rows are recorded on whichever process runs the test, attached to that test's report in
``pytest_runtest_makereport`` (plain Python values only), and collected in ``pytest_runtest_logreport`` on the
controller, which alone writes the files. With ``-n 0`` the same code runs in one process. Rows are sorted by
(collection index, order within the test), so that ``-n 0`` and ``-n 2`` write the same rows in the same
order.

The controller holds the report directory for the whole run (``report.ReportDir``): a directory it cannot
write, or one another run holds, is a usage error before any test runs. SIGTERM ends a run as Ctrl-C does, so
that the rows computed so far are written and summary.csv says ``interrupted``.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
import shlex
import signal
import socket
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from parity import environment, report, tables  # noqa: F401 (tables: every report table declared)
from parity.compare import Case, Comparison, ParityError, compare
from parity.seam import CAPABILITIES, DEFAULT_ENGINE, Engine, EngineError, load_engine
from parity.tensors import TorchRuns

ROWS_KEY = pytest.StashKey[list]()
INDEX_KEY = pytest.StashKey[int]()
STATE_KEY = pytest.StashKey["RunState"]()
REPORT_ATTR = "parity_rows"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "PyTorch parity harness")
    group.addoption(
        "--parity-report-dir",
        default="reports",
        metavar="DIR",
        help="where the CSV reports go, relative to the rootdir unless absolute (default: reports)",
    )
    group.addoption(
        "--parity-seed",
        type=int,
        default=0,
        metavar="N",
        help="base seed; every case derives its own seed from it and its node id (default: 0)",
    )
    group.addoption(
        "--parity-engine",
        default=DEFAULT_ENGINE,
        metavar="TARGET",
        help="the engine validated against torch: a module name, or a path to a .py file or a package "
        f"directory (default: {DEFAULT_ENGINE}); see docs/engine-api.md",
    )
    group.addoption(
        "--parity-selftest",
        default="quick",
        choices=("off", "quick", "full"),
        help="planted-bug self-test: a few bugs (quick, default), the whole catalogue (full), or none",
    )
    group.addoption(
        "--parity-torch-cache",
        default="",
        metavar="DIR",
        help="keep torch's training runs in DIR and reuse them when every input, the reference and torch "
        "are the same (parity/torch_cache.py); for repeated runs and the sweep (default: off)",
    )
    group.addoption(
        "--parity-html",
        default="on",
        choices=("on", "off"),
        help="write index.html, the run's page, into the report dir after the CSVs (default: on)",
    )


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
    crashed_tests: list[str] = field(default_factory=list)
    collection_errors: dict[str, None] = field(default_factory=dict)
    expected: list[str] = field(default_factory=list)
    worker_blas: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    directory: report.ReportDir | None = None
    status: str = ""
    previous_sigterm: object = None
    seen: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    written: list[Path] = field(default_factory=list)
    run: dict = field(default_factory=dict)
    summary: object = None
    incomplete: bool = False
    loaded: Engine | None = None


# xdist schedulers that send the tests of a group, scope or file to one worker: after a worker crash, xdist
# 3.8 may requeue work that never comes and hang the run (pytest-xdist #1323, #1327, #1378), unless a crash
# ends the run (--max-worker-restart=0, the project's default).
GROUPED_SCHEDULERS = ("loadgroup", "loadscope", "loadfile")
# pytest options that run no test: such a run leaves the report directory alone
INFORMATIONAL_OPTIONS = (
    "collectonly",
    "help",
    "version",
    "markers",
    "showfixtures",
    "show_fixtures_per_test",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "parity_check: a check of the engine against torch (the only tests that "
        "run against a foreign --parity-engine)",
    )
    option = config.getoption("parity_report_dir")
    if not option.strip():
        raise pytest.UsageError("--parity-report-dir is empty: name a directory (default: reports)")
    report_dir = Path(option)
    if not report_dir.is_absolute():
        report_dir = config.rootpath / report_dir
    now = _dt.datetime.now(_dt.timezone.utc)
    state = RunState(
        base_seed=config.getoption("parity_seed"),
        engine=config.getoption("parity_engine"),
        report_dir=report_dir,
        start_time=now.isoformat(timespec="seconds"),
        is_controller=not hasattr(config, "workerinput"),
        run_id=f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
    )
    config.stash[STATE_KEY] = state
    state.loaded = _load(config, state.engine)
    config.pluginmanager.register(ParityHooks(config, state), "parity-hooks")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(state), "parity-xdist")
    if not state.is_controller or any(getattr(config.option, name, False) for name in INFORMATIONAL_OPTIONS):
        return  # workers never write; --collect-only, --help, --fixtures, ... leave the reports alone
    refuse_hanging_crash_handling(config)
    owner = f"run {state.run_id}, pid {os.getpid()} on {socket.gethostname()}, started {state.start_time}"
    try:
        state.directory = report.ReportDir.claim(report_dir, state.run_id, owner=owner)
    except report.ReportDirError as exc:
        raise pytest.UsageError(str(exc)) from None


def refuse_hanging_crash_handling(config: pytest.Config) -> None:
    """A usage error for a grouped xdist scheduler that replaces crashed workers: a crash could hang the
    run."""
    dist = getattr(config.option, "dist", "no")
    if not getattr(config.option, "numprocesses", None) or dist not in GROUPED_SCHEDULERS:
        return
    restarts = getattr(config.option, "maxworkerrestart", None)
    if restarts is None or int(restarts) != 0:
        raise pytest.UsageError(
            f"--dist={dist} with --max-worker-restart={restarts if restarts is not None else 'default'}: a "
            f"worker crash can hang the run (pytest-xdist #1323); use --max-worker-restart=0 (the project's "
            f"default) or --dist=load"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.directory is None:
        return
    if state.previous_sigterm is not None:
        signal.signal(signal.SIGTERM, state.previous_sigterm)
    try:
        state.directory.finish("aborted")  # only if this run said "running" and never wrote its files
    finally:
        state.directory.close()


def _sigterm(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _load(config: pytest.Config, target: str) -> Engine:
    """The engine, loaded once per process; a target that cannot be used is one usage error (exit 4)."""
    path = Path(target).expanduser()
    if target and not path.is_absolute() and (target.endswith(".py") or "/" in target or path.is_dir()):
        target_path = str(Path(config.invocation_params.dir) / path)  # relative to where pytest was started
    else:
        target_path = target
    try:
        return load_engine(target_path)
    except EngineError as exc:
        raise pytest.UsageError(str(exc).replace(f"={target_path}", f"={target}")) from None


def is_foreign(config: pytest.Config) -> bool:
    """Another engine than the one this project ships: only the parity checks run against it."""
    return config.stash[STATE_KEY].engine != DEFAULT_ENGINE


def case_seed(base_seed: int, nodeid: str) -> int:
    """A stable 32-bit seed for one test case: the same for every process and every run with this base."""
    return zlib.crc32(f"{base_seed}:{nodeid}".encode())


def rerun_command(config: pytest.Config, nodeid: str) -> str:
    state = config.stash[STATE_KEY]
    cmd = f'pytest "{nodeid}" --parity-seed={state.base_seed}'
    if state.engine != DEFAULT_ENGINE:
        cmd += f" --parity-engine={shlex.quote(state.engine)}"
    return cmd


def suite_of(item: pytest.Item) -> str:
    return item.path.stem.removeprefix("test_")


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
        return Case(
            suite=self.suite,
            case=case or self.case_id,
            kind=kind,
            seed=self.seed if seed is None else seed,
            nodeid=self.nodeid,
            rerun=self.rerun,
        )

    def record(self, record) -> None:
        """Add one row to the report: a record of a registered table (``parity.tables``), its columns its
        fields."""
        row = dict(report.row_of(record), worker=os.environ.get("PYTEST_XDIST_WORKER", "main"))
        row["table"] = report.table_of(record).name
        self._rows.append(report.mark_not_applicable(report.plain_row(row)))

    def evaluate(
        self,
        tensors: dict,
        *,
        dtype,
        kind: str,
        case: str | None = None,
        seed: int | None = None,
        conditioning=None,
        warnings: str = "",
    ) -> list[Comparison]:
        """Compare every tensor of a case; records nothing and raises nothing.

        tensors: name -> (actual, desired) or (actual, desired, reference); float32 needs the reference.
        actual may be the EngineProblem that kept the engine from producing it (a failing row).
        conditioning: the reference result's ``conditioning``, one per tensor in the order of ``tensors``
        (``reference.conditioning``); it sets each tensor's bound (``parity.tolerance``).
        """
        conditioning = [None] * len(tensors) if conditioning is None else list(conditioning)
        if len(conditioning) != len(tensors):
            raise ValueError(
                f"{len(conditioning)} conditionings for {len(tensors)} tensors ({', '.join(tensors)})"
            )
        results = []
        for (name, arrays), cond in zip(tensors.items(), conditioning, strict=True):
            actual, desired, *rest = arrays
            results.append(
                compare(
                    actual,
                    desired,
                    tensor=name,
                    dtype=dtype,
                    case=self.case(kind, case, seed),
                    reference=rest[0] if rest else None,
                    conditioning=cond,
                    warnings=warnings,
                )
            )
        return results

    @staticmethod
    def torch_runs(run, dtype) -> TorchRuns:
        """``run(dtype)`` at the case's dtype, and at float64 for a float32 case (its reference), else None
        (``parity.tensors.TorchRuns``)."""
        return TorchRuns.of(run, dtype)

    def check(
        self,
        tensors: dict,
        *,
        dtype,
        kind: str,
        case: str | None = None,
        seed: int | None = None,
        conditioning=None,
        warnings: str = "",
    ) -> list[Comparison]:
        """Compare every tensor of a case, record a gradients.csv row for each, then raise one ParityError
        naming every failure (so that one bad tensor does not hide the others)."""
        results = self.evaluate(
            tensors,
            dtype=dtype,
            kind=kind,
            case=case,
            seed=seed,
            conditioning=conditioning,
            warnings=warnings,
        )
        for result in results:
            self.record(result)
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


@pytest.fixture(scope="session")
def engine(pytestconfig: pytest.Config) -> Engine:
    """The engine under validation (``--parity-engine``), reached only through the seam."""
    return pytestconfig.stash[STATE_KEY].loaded


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
        state = self.state
        if state.directory is not None and session.config.getoption("parity_html") == "on":
            # the page's imports (about 1 s) while the tests run, not after them; a failure shows at build
            # time
            threading.Thread(target=_warm_up_page, name="parity-page-imports", daemon=True).start()
        if state.directory is not None:
            # (only over the default handler, and only in the main thread, where Python lets a handler be set)
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL and _in_main_thread():
                state.previous_sigterm = signal.signal(signal.SIGTERM, _sigterm)
            state.directory.begin({})

    def pytest_report_header(self, config: pytest.Config) -> str:
        workers = str(config.getoption("numprocesses", None) or 0)
        header = environment.header_line(self.state.base_seed, self.state.engine, workers)
        run = f" (run {self.state.run_id})" if self.state.directory is not None else ""
        return header + f"; reports -> {self.state.report_dir}{run}"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items) -> None:
        if is_foreign(config):  # only the parity checks run against a foreign engine (README)
            dropped = [item for item in items if not item.get_closest_marker("parity_check")]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                items[:] = [item for item in items if item.get_closest_marker("parity_check")]
        for index, item in enumerate(items):
            item.stash[INDEX_KEY] = index
        if self.state.is_controller:
            self.state.expected_tests = len(items)
            self.state.expected = [item.nodeid for item in items]

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.state.is_controller and report.failed:
            self.state.collection_errors[report.nodeid] = None

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
        if not state.is_controller:
            if hasattr(
                self.config, "workeroutput"
            ):  # the BLAS this worker's tests ran on, for environment.csv
                self.config.workeroutput["parity_blas"] = environment.blas_libraries()
            return
        # --collect-only runs nothing: it leaves the reports of the last run as they are and judges nothing
        if state.directory is None:
            return
        rows = sorted(state.rows, key=lambda r: tuple(r["_order"]))
        for row in rows:
            row.pop("_order")
        missing = max(0, (state.expected_tests or 0) - len(state.seen))
        state.status = run_status(state, session, exitstatus, missing)
        state.incomplete = state.status == "incomplete"
        state.run = {
            "status": state.status,
            "tests": len(state.seen),
            "tests_failed": len(state.failed),
            "missing_tests": missing,
            "collection_errors": len(state.collection_errors),
            "crashed_workers": ";".join(state.crashed_workers),
            "crashed_tests": ";".join(state.crashed_tests),
        }
        blas = sorted(set(state.worker_blas.values()))
        env = environment.environment_rows(
            base_seed=state.base_seed,
            engine=state.engine,
            workers=len(state.workers),
            hypothesis_profile=_hypothesis_profile(),
            start_time=state.start_time,
            report_dir=str(state.report_dir),
            run_id=state.run_id,
            blas=None if not state.workers else "; ".join(blas) or "unknown (no worker finished)",
        )
        state.written, state.summary = state.directory.write(
            rows, run=state.run, environment=env, capabilities=capability_rows(state.loaded)
        )
        if state.incomplete and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        build_page(session.config, state.report_dir)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config: pytest.Config) -> None:
        state = self.state
        if not state.is_controller or not state.written:
            return
        tr = terminalreporter
        tr.section("parity")
        if len(state.summary):
            for _, r in state.summary.iterrows():
                tr.write_line(
                    f"{r['suite']:>14} {r['dtype']:>8}: {r['comparisons']:5d} compared, "
                    f"{r['failed']:3d} failed;"
                    f" worst error {r['worst_error']:.3g} at {r['worst_error_case']};"
                    f" worst error/tolerance {r['worst_ratio']:.3g}"
                )
        else:
            tr.write_line("no comparisons ran")
        for capability, status in capability_rows(state.loaded):
            if status != "engine":
                tr.write_line(f"{state.loaded.name}: {capability}: {status}", yellow=True)
        run = state.run
        tr.write_line(
            f"run {state.run_id}: {state.status}; {run['tests']} tests reported, {run['tests_failed']} "
            f"failed",
            red=state.status != "complete",
        )
        if state.incomplete:
            lost = [n for n in state.expected if n not in state.seen]
            tr.write_line(
                f"INCOMPLETE RUN: {run['missing_tests']} test(s) never reported; "
                f"{run['collection_errors']} collection error(s); crashed workers: "
                f"{run['crashed_workers'] or 'none'}"
                + (f" (while running {run['crashed_tests']})" if run["crashed_tests"] else ""),
                red=True,
            )
            for nodeid in list(state.collection_errors)[:10]:
                tr.write_line(f"  collection error: {nodeid}", red=True)
            for nodeid in lost[:10]:
                tr.write_line(f"  never reported: {nodeid}", red=True)
            if len(lost) > 10:
                tr.write_line(f"  ... and {len(lost) - 10} more", red=True)
        tr.write_line("reports: " + ", ".join(str(p) for p in state.written))
        tr.write_line(config.stash.get(PAGE_KEY, "page: off (--parity-html=off)"))


PAGE_KEY = pytest.StashKey[str]()


report.register_output(
    "index.html"
)  # the page is one of the run's files: moved aside when the next run starts
report.register_output(
    "page-red-run.png"
)  # the browser test's screenshot of a page (tests/test_html_browser.py)


def _warm_up_page() -> None:
    try:
        from parity import html_report

        html_report.warm_up()
    except Exception:  # noqa: BLE001 - the build itself reports any problem, in one line
        pass


def build_page(config: pytest.Config, report_dir: Path) -> None:
    """The run's page, from the CSV files just written (``python -m parity.html_report`` rebuilds it alike).
    Its one-line outcome goes to the terminal summary; a failure to build it changes no verdict."""
    if config.getoption("parity_html") == "on":
        from parity import html_report

        config.stash[PAGE_KEY] = html_report.build_line(report_dir)


def run_status(state: RunState, session: pytest.Session, exitstatus, missing: int) -> str:
    """How the run ended (``report.STATUSES``)."""
    if state.collection_errors:  # (with -n 0, pytest itself interrupts a run whose collection failed)
        return "incomplete"
    if exitstatus == pytest.ExitCode.INTERRUPTED:  # Ctrl-C or SIGTERM (to a process group: workers die too)
        return "interrupted"
    if state.crashed_workers:
        return "incomplete"
    # -x and --maxfail leave tests unrun on purpose; a crash or a lost report does not
    if missing and (session.shouldstop or session.shouldfail):
        return "stopped"
    return "incomplete" if missing else "complete"


class _XdistHooks:
    """Hooks that exist only with pytest-xdist (registered only then, so hook validation passes without
    it)."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_xdist_node_collection_finished(self, node, ids):
        self.state.workers.add(node.gateway.id)
        self.state.expected_tests = len(ids)
        self.state.expected = list(ids)

    def pytest_testnodedown(self, node, error):
        if error:
            self.state.crashed_workers.append(node.gateway.id)
        blas = getattr(node, "workeroutput", {}).get("parity_blas")  # a crashed worker has no workeroutput
        if blas:
            self.state.worker_blas[node.gateway.id] = blas

    def pytest_handlecrashitem(self, crashitem, report, sched):
        self.state.crashed_tests.append(crashitem)


def capability_rows(engine: Engine | None) -> list[tuple[str, str]]:
    """(capability, how it is checked) for every capability: "engine", how the harness composes it, or
    "not provided: <why>"."""
    if engine is None:
        return []
    return [(c, engine.provided.get(c) or f"not provided: {engine.missing[c]}") for c in CAPABILITIES]


def _hypothesis_profile() -> str:
    try:
        from hypothesis import settings
    except ImportError:
        return "not installed"
    return getattr(settings, "_current_profile", None) or "default"
