"""Report writing: rows collected from the tests become pandas CSV files in the report directory.

A table is declared from the record type of its rows (:func:`register_table`, in ``parity.tables``): its
columns are the record's dataclass fields, typed by their annotations (``COLUMN_TYPES`` is derived from them,
never written by hand). A test records a verdict through the ``parity`` fixture. Every table shares the
columns in ``CORE``, so that one summary covers all of them, and ends with ``TRAILER`` (the worker, the run's
id). Files are written by the controller only, atomically (beside the target, then renamed), with the umask's
mode, ``\\n`` line ends, repr-exact floats, ``nan`` for a NaN and an empty cell for "not applicable", so that
two runs of the same tests give the same bytes apart from the ``VOLATILE`` columns. ``ReportDir`` holds the
directory for one run at a time and marks how the run ended; ``read_report`` reads any file back with its
documented dtypes, ``read_records`` as the records it was written from.
"""

from __future__ import annotations

import dataclasses
import fcntl
import math
import os
import secrets
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# The type of every column any file holds, by name (a name means the same thing in every file): what
# ``read_report`` (pandas' ``read_csv`` with these dtypes) gives. An empty cell is "not applicable" (<NA>, or
# NaN in a float column); ``nan`` is a NaN value. Filled from the record types (``declare``), never by hand.
PANDAS_DTYPES = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean"}
COLUMN_TYPES: dict[str, str] = {}
_KINDS = {str: "str", int: "int", float: "float", bool: "bool"}


def columns(record: type) -> tuple[str, ...]:
    """The report columns of a record dataclass: its fields, in order, but those marked ``column=False``."""
    return tuple(f.name for f in dataclasses.fields(record) if f.metadata.get("column", True))


def column_kinds(record: type) -> dict[str, str]:
    """Column -> "str", "int", "float" or "bool", from the field annotations (``X | None`` is X's kind)."""
    hints = typing.get_type_hints(record)
    kinds = {}
    for name in columns(record):
        hint = hints[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        if len(args) != 1 or args[0] not in _KINDS:
            raise TypeError(f"{record.__name__}.{name}: a report column must be str, int, float or bool")
        kinds[name] = _KINDS[args[0]]
    return kinds


def declare(record: type) -> tuple[str, ...]:
    """Add a record type's columns to ``COLUMN_TYPES``; a name already typed otherwise is refused."""
    for name, kind in column_kinds(record).items():
        if COLUMN_TYPES.setdefault(name, kind) != kind:
            raise TypeError(
                f"column {name!r} of {record.__name__} is {kind}, elsewhere {COLUMN_TYPES[name]}: "
                "a column name means one thing in every file"
            )
    return columns(record)


@dataclass(frozen=True)
class Trailer:
    """The columns every table ends with: who ran the row's test, and the id of the run that wrote the
    file."""

    worker: str
    run_id: str


# Columns every table carries, first, in this order (each record type has them as fields).
CORE = ("nodeid", "suite", "case", "dtype", "kind", "seed", "checked_error", "tolerance", "passed")
TRAILER = declare(Trailer)
# Columns that may differ between two runs of the same tests (excluded when runs are compared): who ran a
# test, how long it took, and which run it was.
VOLATILE = ("worker", "seconds", "run_id")


@dataclass(frozen=True)
class Table:
    name: str
    record: type  # the dataclass whose fields are the table's columns
    doc: str
    summarized: bool = True  # its rows carry a verdict (CORE) and count in summary.csv
    # its error/tolerance measures the engine against torch; False for the self-test, where an error beyond
    # the tolerance is a planted bug caught: its rows stay out of the (run) row's worst error and ratio
    engine_parity: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        """``CORE`` (only its identifying columns for a table without a verdict), the record's other
        columns in field order, then ``TRAILER``."""
        core = CORE if self.summarized else CORE[: CORE.index("checked_error")]
        return core + tuple(c for c in columns(self.record) if c not in core) + TRAILER

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


TABLES: dict[str, Table] = {}


def register_table(
    name: str, record: type, doc: str, *, summarized: bool = True, engine_parity: bool = True
) -> Table:
    """Declare a report file ``<name>.csv`` whose rows are ``record``s (a dataclass with a field per column,
    ``CORE``'s among them). Register at import of a module the plugin imports (``parity.tables``), not in a
    test module: under xdist the controller never imports test modules, yet writes every table."""
    own = declare(record)
    core = CORE if summarized else CORE[: CORE.index("checked_error")]
    missing = [c for c in core if c not in own]
    if missing:
        raise ValueError(
            f"report table {name!r}: {record.__name__} has no field for the core columns {missing}"
        )
    table = Table(name, record, doc, summarized, engine_parity)
    if name in TABLES and TABLES[name] != table:
        raise ValueError(f"report table {name!r} is already registered with another record type")
    TABLES[name] = table
    return table


def table_of(record) -> Table:
    """The table whose rows are records of ``record``'s type."""
    for table in TABLES.values():
        if isinstance(record, table.record):
            return table
    raise ValueError(f"no report table holds {type(record).__name__} records")


def row_of(record) -> dict:
    """A record as a report row: its column fields, by name."""
    return {name: getattr(record, name) for name in columns(type(record))}


@dataclass(frozen=True)
class SummaryRecord:
    """A row of summary.csv: per suite and dtype the comparisons; first the (run) row, how the run ended and
    what it lost; last one (engine) row per capability of the contract (``parity.seam.CAPABILITIES``): how it
    was checked ("engine", or how the harness composed it) or "not provided: <why>"."""

    suite: str
    dtype: str | None = None
    comparisons: int | None = None
    failed: int | None = None
    worst_error: float | None = None
    worst_error_case: str | None = None
    worst_ratio: float | None = None
    worst_ratio_case: str | None = None
    status: str | None = None
    tests: int | None = None
    tests_failed: int | None = None
    missing_tests: int | None = None
    collection_errors: int | None = None
    crashed_workers: str | None = None
    crashed_tests: str | None = None
    capability: str | None = None
    provided: str | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class EnvironmentRecord:
    key: str
    value: str
    run_id: str


SUMMARY_FILE, ENVIRONMENT_FILE = "summary.csv", "environment.csv"
SUMMARY_TABLE_COLUMNS = declare(SummaryRecord)
ENVIRONMENT_COLUMNS = declare(EnvironmentRecord)
SUMMARY_COLUMNS = SUMMARY_TABLE_COLUMNS[: SUMMARY_TABLE_COLUMNS.index("status")]
RUN_COLUMNS = SUMMARY_TABLE_COLUMNS[len(SUMMARY_COLUMNS) : SUMMARY_TABLE_COLUMNS.index("capability")]
CAPABILITY_COLUMNS = ("capability", "provided")
# How a run ended, as summary.csv's (run) row says: every status but "complete" means tests were not all run.
STATUSES = {
    "running": "the run is still going, or was killed (SIGKILL, power loss) before it could write",
    "complete": "every collected test reported (passed or failed); no crash, no collection error",
    "incomplete": "a worker crashed, a module failed to collect, or tests never reported: the run fails",
    "stopped": "-x or --maxfail stopped the run on purpose: the tests after the stop did not run",
    "interrupted": "Ctrl-C or SIGTERM: the rows of the tests that finished are written",
    "aborted": "the run ended before its tests ran (an error after the reports were claimed)",
}

# Files this harness writes in the report directory besides the tables (a later step may add its own, e.g. a
# page built from the CSVs, with ``register_output``): all of them are moved into ``previous/`` when a run
# starts, so that nothing of an older run stays beside a newer run's files.
EXTRA_OUTPUTS: list[str] = [SUMMARY_FILE, ENVIRONMENT_FILE]
PREVIOUS_DIR = "previous"
LOCK_FILE = ".parity.lock"


def register_output(filename: str) -> None:
    """Declare one more file the harness writes into the report directory (moved aside when a run starts)."""
    if filename not in EXTRA_OUTPUTS:
        EXTRA_OUTPUTS.append(filename)


def output_files() -> list[str]:
    return [t.filename for t in TABLES.values()] + EXTRA_OUTPUTS


# Columns whose producers hold a NaN for "does not apply" (a float field of a dataclass, e.g. torch_error of a
# float64 comparison), and when it does not: such a NaN is written as an empty cell. A NaN anywhere else is a
# NaN value, written ``nan``.
NOT_APPLICABLE_WHEN = {
    "torch_error": lambda row: row.get("dtype") != "float32",  # float32 only
    "torch_deviation": lambda row: row.get("dtype") != "float32",  # float32 only
    "worst_norm_diff": lambda row: row.get("max_norm") is None,  # with clipping only
    "norm_tolerance": lambda row: row.get("max_norm") is None,
    "actual": lambda row: row.get("worst_index") == "",  # no element to show (a shape or dtype mismatch)
    "desired": lambda row: row.get("worst_index") == "",
}


def mark_not_applicable(row: dict) -> dict:
    """The row with each NaN that means "does not apply" (``NOT_APPLICABLE_WHEN``) replaced by None."""
    for column, applies_not in NOT_APPLICABLE_WHEN.items():
        value = row.get(column)
        if isinstance(value, float) and math.isnan(value) and applies_not(row):
            row[column] = None
    return row


_PLAIN = (str, int, float, bool, type(None))


def plain_row(row: dict) -> dict:
    """The row with NumPy scalars turned into Python ones; anything else that is not a builtin scalar is
    refused here, with its column named, rather than by execnet's serializer on the way to the controller."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()
        if not isinstance(value, _PLAIN):
            raise TypeError(
                f"report column {key!r} must hold a str, int, float, bool or None; "
                f"got {type(value).__name__} {value!r}"
            )
        out[key] = value
    return out


def frame(columns, rows: list[dict]) -> pd.DataFrame:
    """Rows as a frame of Python values (object columns): None stays None (an empty cell: not applicable)
    and a float NaN stays a NaN (written ``nan``), which a typed column would merge."""
    return pd.DataFrame(
        {c: pd.Series([r.get(c) for r in rows], dtype=object) for c in columns}, columns=list(columns)
    )


def table_frame(table: Table, rows: list[dict]) -> pd.DataFrame:
    """The rows of one table as a frame with exactly its columns, in its order."""
    unknown = sorted({k for r in rows for k in r} - set(table.columns))
    if unknown:
        raise ValueError(f"rows for report table {table.name!r} have undeclared columns {unknown}")
    return frame(table.columns, rows)


def summarize(rows_by_table: dict[str, list[dict]]) -> pd.DataFrame:
    """Per suite and dtype: comparisons run and failed, the worst error and worst error/tolerance, and
    where."""
    frames = [
        pd.DataFrame.from_records(rows, columns=list(CORE))
        for name, rows in rows_by_table.items()
        if rows and TABLES[name].summarized
    ]
    if not frames:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    df = pd.concat(frames, ignore_index=True)
    out = [
        _worst(g, suite=suite, dtype=dtype)
        for (suite, dtype), g in df.groupby(["suite", "dtype"], sort=True, dropna=False)
    ]
    return pd.DataFrame.from_records(out, columns=list(SUMMARY_COLUMNS))


def _worst(g: pd.DataFrame, **key) -> dict:
    g = g.copy()
    g["checked_error"] = g["checked_error"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g["checked_error"] / g["tolerance"].astype(float)
    g["ratio"] = ratio.where(g["checked_error"] != 0, 0.0)
    worst = g.loc[g["checked_error"].fillna(float("inf")).idxmax()]
    worst_ratio = g.loc[g["ratio"].fillna(float("inf")).idxmax()]
    return dict(
        key,
        comparisons=len(g),
        failed=int((~g["passed"].astype(bool)).sum()),
        worst_error=float(worst["checked_error"]),
        worst_error_case=_where(worst),
        worst_ratio=float(worst_ratio["ratio"]),
        worst_ratio_case=_where(worst_ratio),
    )


def _where(row) -> str:
    return f"{row['case']} (seed {row['seed']})"


def write_csv_atomic(table: pd.DataFrame, path: Path) -> Path:
    """Write ``table`` to ``path`` so that a reader sees the old file or the new one, never half of one. The
    file gets the mode a plain ``open`` would (0644 under umask 022). A float NaN is written ``nan``; None
    (and pandas' NA) an empty cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    out = pd.DataFrame(
        {c: pd.Series([_cell(v) for v in table[c]], dtype=object) for c in table.columns},
        columns=table.columns,
    )
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        with os.fdopen(fd, "w", newline="") as fh:
            out.to_csv(fh, index=False, lineterminator="\n", na_rep="")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _cell(value):
    """A NaN as the text ``nan`` (pandas would write it as an empty cell, the mark of "not applicable")."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return None if value is pd.NA else value


def run_row(
    run: dict,
    run_id: str,
    per_suite: pd.DataFrame | None = None,
    rows_by_table: dict[str, list[dict]] | None = None,
) -> dict:
    """summary.csv's (run) row: the run's status and counts, and, over every suite, the comparisons, failures
    and worst errors."""
    row = dict(suite="(run)", dtype=None, run_id=run_id, **{k: run.get(k) for k in RUN_COLUMNS})
    frames = [
        pd.DataFrame.from_records(rows, columns=list(CORE))
        for name, rows in (rows_by_table or {}).items()
        if rows and TABLES[name].summarized and TABLES[name].engine_parity
    ]
    if frames:
        row.update({k: v for k, v in _worst(pd.concat(frames, ignore_index=True)).items()})
    elif per_suite is not None:
        row.update(comparisons=0, failed=0)
    return row


def write_reports(
    rows: list[dict],
    directory: Path,
    *,
    run: dict,
    environment: list[tuple[str, str]],
    run_id: str = "",
    capabilities: list[tuple[str, str]] = (),
) -> tuple[list[Path], pd.DataFrame]:
    """Write every registered table (header only when this run produced no rows for it), the environment and,
    last, the summary (its (run) row first). ``rows`` are dicts with a ``table`` key, already in report order.
    ``run`` holds the (run) row's ``RUN_COLUMNS``; ``capabilities`` the (engine) rows, (capability, provided).
    Every file carries ``run_id``. Returns the paths written and the per-suite summary."""
    by_table: dict[str, list[dict]] = {name: [] for name in TABLES}
    for row in rows:
        row = dict(row, run_id=run_id)
        name = row.pop("table")
        if name not in by_table:
            raise ValueError(f"row for unregistered report table {name!r}")
        by_table[name].append(row)
    paths = [
        write_csv_atomic(table_frame(TABLES[n], r), directory / TABLES[n].filename)
        for n, r in by_table.items()
    ]
    env = [{"key": k, "value": v, "run_id": run_id} for k, v in environment]
    paths.append(write_csv_atomic(frame(ENVIRONMENT_COLUMNS, env), directory / ENVIRONMENT_FILE))
    per_suite = summarize(by_table)
    summary_rows = (
        [run_row(run, run_id, per_suite, by_table)]
        + [dict(r, run_id=run_id) for r in per_suite.to_dict("records")]
        + [dict(suite="(engine)", capability=c, provided=how, run_id=run_id) for c, how in capabilities]
    )
    paths.append(write_csv_atomic(frame(SUMMARY_TABLE_COLUMNS, summary_rows), directory / SUMMARY_FILE))
    return paths, per_suite


def read_report(path) -> pd.DataFrame:
    """A report file as a frame with its documented dtypes (``COLUMN_TYPES``): strings, nullable integers and
    booleans, float64. An empty cell reads as <NA> (NaN in a float column); ``nan`` as NaN."""
    header = pd.read_csv(path, nrows=0).columns
    unknown = [c for c in header if c not in COLUMN_TYPES]
    if unknown:
        raise ValueError(f"{path}: columns {unknown} have no documented type (import parity.tables first)")
    return pd.read_csv(path, dtype={c: PANDAS_DTYPES[COLUMN_TYPES[c]] for c in header})


_CAST = {"str": str, "int": int, "float": float, "bool": lambda text: {"True": True, "False": False}[text]}


def read_records(path, record: type) -> list:
    """The rows of a report file as ``record``s, each column typed by its field: the one way back from a file
    to the verdicts it holds. An empty cell ("not applicable") is None where the field allows it, else "" for
    a string and NaN for a float; ``nan`` is NaN. Columns the record has no field for (the trailer) are
    left out."""
    kinds = column_kinds(record)
    optional = {n for n, h in typing.get_type_hints(record).items() if type(None) in typing.get_args(h)}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    header = [c for c in frame.columns if c in kinds]
    empty = {"str": "", "float": math.nan}

    def value(column: str, text: str):
        if text:
            return _CAST[kinds[column]](text)
        return None if column in optional else empty.get(kinds[column])

    return [
        record(**{c: value(c, text) for c, text in zip(header, row, strict=True)})
        for row in frame[header].itertuples(index=False, name=None)
    ]


# -- the report directory: one run at a time, one set of files ---------------------------------------------


class ReportDirError(Exception):
    """The report directory cannot be used: the message is one line naming it and the cause."""


class ReportDir:
    """The report directory, held by one run from start to end.

    ``claim`` checks that the directory can be written (creating it), and takes an exclusive lock on its
    ``.parity.lock`` for the life of the process (the kernel drops it when the process ends, however it ends),
    so that a second run into the same directory is refused instead of mixing its files with this run's.
    ``begin`` moves the previous run's files into ``previous/`` and writes a summary.csv whose (run) row says
    ``running``; ``write`` writes the run's files, summary.csv last; ``finish`` replaces a ``running`` summary
    that was never completed (an error after ``begin``) by one that says how the run ended.
    """

    def __init__(self, path: Path, run_id: str, lock_fd: int):
        self.path, self.run_id, self._lock_fd = path, run_id, lock_fd
        self.begun = self.written = False

    @classmethod
    def claim(cls, path: Path, run_id: str, *, owner: str) -> ReportDir:
        def refuse(cause: str):
            raise ReportDirError(f"cannot write reports to {path} (--parity-report-dir): {cause}")

        if path.exists() and not path.is_dir():
            refuse("it exists and is not a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            refuse(f"cannot create it: {exc.strerror or exc}")
        try:
            fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            refuse(f"cannot create a file in it: {exc.strerror or exc}")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            refuse(
                f"another run is writing reports there ({holder}); wait for it, or choose another directory"
            )
        except OSError as exc:  # a file system without locks: one run at a time could not be ensured
            os.close(fd)
            refuse(f"cannot lock {LOCK_FILE} in it: {exc.strerror or exc}")
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{owner}\n".encode(), 0)
            probe = path / f".probe.{os.getpid()}.{secrets.token_hex(4)}"
            probe.write_bytes(b"probe")
            os.replace(probe, probe.with_suffix(".done"))
            probe.with_suffix(".done").unlink()
        except OSError as exc:
            os.close(fd)
            refuse(f"cannot write a file in it: {exc.strerror or exc}")
        return cls(path, run_id, fd)

    def begin(self, run: dict) -> None:
        """Move the previous run's files aside, then say that this run is going."""
        previous = self.path / PREVIOUS_DIR
        old = [self.path / name for name in output_files() if (self.path / name).exists()]
        if old:
            previous.mkdir(exist_ok=True)
            for f in previous.iterdir():
                if f.name in output_files():
                    f.unlink()
            for f in old:
                os.replace(f, previous / f.name)
        self._write_status(dict(run, status="running"))
        self.begun = True

    def write(self, rows, *, run: dict, environment, capabilities=()) -> tuple[list[Path], pd.DataFrame]:
        result = write_reports(
            rows, self.path, run=run, environment=environment, run_id=self.run_id, capabilities=capabilities
        )
        self.written = True
        return result

    def finish(self, status: str) -> None:
        """If this run said ``running`` and never wrote its files: a summary that says how it ended."""
        if self.begun and not self.written:
            self._write_status({"status": status})
            self.written = True

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _write_status(self, run: dict) -> None:
        write_csv_atomic(frame(SUMMARY_TABLE_COLUMNS, [run_row(run, self.run_id)]), self.path / SUMMARY_FILE)
