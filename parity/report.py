"""Report writing: rows collected from the tests become pandas CSV files in the report directory.

A suite declares a :class:`Table` (its file name and columns) with :func:`register_table`; a test records rows
into it through the ``parity`` fixture. Every table shares the columns in ``CORE``, so that one summary covers
all of them. Files are written by the controller only, atomically (beside the target, then renamed), with
``\\n`` line ends and repr-exact floats, so that two runs of the same tests give the same bytes apart from the
timing and worker columns.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

# Columns every table carries, first, in this order.
CORE = ("nodeid", "suite", "case", "dtype", "kind", "seed", "checked_error", "tolerance", "passed")
# Columns that may differ between two runs of the same tests (excluded when runs are compared): who ran a
# test, and how long it took.
VOLATILE = ("worker", "seconds")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    doc: str
    summarized: bool = True  # its rows carry a verdict (CORE) and count in summary.csv

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


TABLES: dict[str, Table] = {}


def register_table(name: str, columns: tuple[str, ...], doc: str, *, summarized: bool = True) -> Table:
    """Declare a report file ``<name>.csv``: ``CORE`` columns (only the identifying ones for a table that
    carries no verdict), then ``columns``, then ``worker``. Register at import of this module's package, not in
    a test module: under xdist the controller never imports test modules, yet writes every table."""
    core = CORE if summarized else CORE[:CORE.index("checked_error")]
    extra = tuple(c for c in columns if c not in core + ("worker",))
    table = Table(name, core + extra + ("worker",), doc, summarized)
    if name in TABLES and TABLES[name] != table:
        raise ValueError(f"report table {name!r} is already registered with other columns")
    TABLES[name] = table
    return table


GRADIENTS = register_table(
    "gradients",
    ("tensor", "shape", "max_abs_error", "max_rel_error", "normwise_error", "ulp_distance", "worst_index",
     "actual", "desired", "torch_error", "condition", "depth", "rule", "problem", "inputs"),
    "one row per compared tensor: gates, worked graphs, the network, properties",
)

CLIPPING = register_table(
    "clipping",
    ("norm_type", "max_norm", "error_if_nonfinite", "n_tensors", "total_norm", "torch_total_norm", "coef",
     "torch_coef", "worst_tensor", "worst_tensor_error", "torch_error", "raised", "torch_raised", "rule"),
    "one row per clipping case: totals, coefficients, the worst clipped-tensor error",
)

TRAJECTORIES = register_table(
    "trajectories",
    ("activation", "dataset", "n_in", "n_hidden", "m", "epochs", "lr", "max_norm", "worst_loss_diff",
     "worst_epoch", "final_param_diff", "final_param_tolerance", "worst_norm_diff", "torch_deviation", "final_loss", "torch_final_loss",
     "accuracy", "torch_accuracy", "converged", "torch_converged", "outlier", "torch_outlier", "rule"),
    "one row per training run: the worst loss difference over all epochs and its epoch, final parameters",
)

TRAJECTORY_CURVES = register_table(
    "trajectory_curves",
    ("activation", "dataset", "max_norm", "epoch", "loss", "torch_loss", "abs_diff", "is_worst"),
    "the loss of both sides at log-spaced epochs, plus the epoch of the worst difference",
    summarized=False,
)

SELFTEST = register_table(
    "selftest",
    ("bug", "description", "module", "expected_tensors", "caught", "caught_on_tensor", "first_failing_test",
     "tensor", "error_seen", "tests_run", "tests_failed", "seconds"),
    "one row per planted bug: what it is, whether the suite caught it, where and with what error",
)

SUMMARY_COLUMNS = (
    "suite", "dtype", "comparisons", "failed", "worst_error", "worst_error_case", "worst_ratio",
    "worst_ratio_case",
)
RUN_COLUMNS = ("tests", "tests_failed", "missing_tests", "crashed_workers")


_PLAIN = (str, int, float, bool, type(None))


def plain_row(row: dict) -> dict:
    """The row with NumPy scalars turned into Python ones; anything else that is not a builtin scalar is
    refused here, with its column named, rather than by execnet's serializer on the way to the controller."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            value = value.item()
        if not isinstance(value, _PLAIN):
            raise TypeError(f"report column {key!r} must hold a str, int, float, bool or None; "
                            f"got {type(value).__name__} {value!r}")
        out[key] = value
    return out


def table_frame(table: Table, rows: list[dict]) -> pd.DataFrame:
    """The rows of one table as a frame with exactly its columns, in its order."""
    unknown = sorted({k for r in rows for k in r} - set(table.columns))
    if unknown:
        raise ValueError(f"rows for report table {table.name!r} have undeclared columns {unknown}")
    return pd.DataFrame.from_records(rows, columns=list(table.columns))


def summarize(rows_by_table: dict[str, list[dict]]) -> pd.DataFrame:
    """Per suite and dtype: comparisons run and failed, the worst error and worst error/tolerance, and where."""
    frames = [pd.DataFrame.from_records(rows, columns=list(CORE))
              for name, rows in rows_by_table.items() if rows and TABLES[name].summarized]
    if not frames:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    df = pd.concat(frames, ignore_index=True)
    df["checked_error"] = df["checked_error"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = df["checked_error"] / df["tolerance"].astype(float)
    df["ratio"] = ratio.where(df["checked_error"] != 0, 0.0)
    out = []
    for (suite, dtype), g in df.groupby(["suite", "dtype"], sort=True, dropna=False):
        worst = g.loc[g["checked_error"].fillna(float("inf")).idxmax()]
        worst_ratio = g.loc[g["ratio"].fillna(float("inf")).idxmax()]
        out.append(dict(
            suite=suite, dtype=dtype, comparisons=len(g), failed=int((~g["passed"].astype(bool)).sum()),
            worst_error=float(worst["checked_error"]), worst_error_case=_where(worst),
            worst_ratio=float(worst_ratio["ratio"]), worst_ratio_case=_where(worst_ratio),
        ))
    return pd.DataFrame.from_records(out, columns=list(SUMMARY_COLUMNS))


def _where(row) -> str:
    return f"{row['case']} (seed {row['seed']})"


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` so that a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            frame.to_csv(fh, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_reports(rows: list[dict], directory: Path, *, run: dict,
                  environment: list[tuple[str, str]]) -> tuple[list[Path], pd.DataFrame]:
    """Write every registered table (header only when this run produced no rows for it), the summary and the
    environment. ``rows`` are dicts with a ``table`` key, already in report order. ``run`` holds the counts of
    the run row of the summary (``RUN_COLUMNS``). Returns the paths written and the per-suite summary."""
    by_table: dict[str, list[dict]] = {name: [] for name in TABLES}
    for row in rows:
        row = dict(row)
        name = row.pop("table")
        if name not in by_table:
            raise ValueError(f"row for unregistered report table {name!r}")
        by_table[name].append(row)
    paths = [write_csv_atomic(table_frame(TABLES[n], r), directory / TABLES[n].filename) for n, r in by_table.items()]
    summary = per_suite = summarize(by_table)
    run_row = pd.DataFrame.from_records([dict(suite="(run)", **run)])
    summary = pd.concat([summary, run_row], ignore_index=True) if len(summary) else run_row
    summary = summary.reindex(columns=list(SUMMARY_COLUMNS + RUN_COLUMNS))
    counts = ["comparisons", "failed", "tests", "tests_failed", "missing_tests"]
    summary[counts] = summary[counts].astype("Int64")  # integers, blank where a row has none
    paths.append(write_csv_atomic(summary, directory / "summary.csv"))
    env = pd.DataFrame.from_records(environment, columns=["key", "value"])
    paths.append(write_csv_atomic(env, directory / "environment.csv"))
    return paths, per_suite
