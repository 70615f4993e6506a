"""The run's page: ``index.html`` in the report directory, one self-contained file built from the CSV files
there.

The plugin builds it at the end of every run, after the CSV files are written; the same code rebuilds it from
an existing report directory::

    python -m parity.html_report [REPORT_DIR]     # default: reports

Columns are read by name and every table is optional, so a directory from an older or newer harness still
gives a page (with a note where a table is missing). Tables are pandas' ``Styler``, plots matplotlib's PNG
output inlined as data URIs: the page fetches nothing.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PAGE = "index.html"
DEFAULT_ENGINE = "scratch_nn"
# Tables the page knows how to read; any other CSV with a ``passed`` column still has its failures listed.
NOT_COMPARISONS = ("summary", "environment", "trajectory_curves")
RATIO_FLOOR = 1e-6  # an exact comparison (error 0) is drawn here on the log axis of error / tolerance
SCRATCH, TORCH, FAIL = "tab:blue", "tab:orange", "tab:red"
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "svg.fonttype": "none",  # text as SVG text, drawn by the browser: smaller and faster than glyph outlines
}
CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em;
  color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
.verdict { font-size: 1.4em; font-weight: bold; padding: .4em .8em; border-radius: 4px;
  display: inline-block; }
.pass { background: #dfd; color: #060; } .fail { background: #fdd; color: #900; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
td { font-family: ui-monospace, monospace; white-space: nowrap; } th { background: #f4f4f4; }
table.wrap td { white-space: normal; } table.wrap td:last-child { min-width: 24em; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
img.plot { max-width: 100%; height: auto; display: block; margin: .5em 0; }
.note { color: #555; } details { margin: .5em 0; } summary { cursor: pointer; }
"""


# -- reading
# ---------------------------------------------------------------------------------------------------


def read_reports(report_dir: Path) -> dict[str, pd.DataFrame]:
    """Every ``*.csv`` of the directory, as text exactly as written (numbers are parsed where plotted)."""
    tables = {}
    for path in sorted(Path(report_dir).glob("*.csv")):
        try:
            tables[path.stem] = pd.read_csv(path, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            continue
    return tables


def num(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as floats (``nan`` for a blank or missing cell); an absent column is all ``nan``."""
    if column not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[column], errors="coerce").astype(float)


def flag(df: pd.DataFrame, column: str, value: bool) -> pd.Series:
    """True where the column holds ``value`` as written (``True``/``False``); blanks are neither."""
    if column not in df:
        return pd.Series(False, index=df.index)
    return df[column].str.strip().str.lower() == str(value).lower()


def ratio(df: pd.DataFrame) -> pd.Series:
    """checked_error / tolerance; 0 where the error is exactly 0."""
    err, tol = num(df, "checked_error"), num(df, "tolerance")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (err / tol).where(err != 0, 0.0)


def environment(tables: dict) -> dict[str, str]:
    env = tables.get("environment")
    if env is None or not {"key", "value"} <= set(env.columns):
        return {}
    return dict(zip(env["key"], env["value"], strict=True))


def run_id(tables: dict, env: dict) -> str:
    if env.get("run_id"):
        return env["run_id"]
    for df in tables.values():
        if "run_id" in df and len(df) and df["run_id"].iloc[0]:
            return df["run_id"].iloc[0]
    return ""


def rerun(nodeid: str, env: dict) -> str:
    cmd = f'pytest "{nodeid}" --parity-seed={env.get("base_seed", 0)}'
    engine = env.get("engine", DEFAULT_ENGINE)
    return cmd if engine == DEFAULT_ENGINE else cmd + f" --parity-engine={engine}"


# -- what failed
# -----------------------------------------------------------------------------------------------


def _values(r, names: tuple[str, ...]) -> str:
    return "; ".join(f"{n} {r[n]}" for n in names if n in r and r[n] != "")


def failures(tables: dict, env: dict) -> pd.DataFrame:
    """One row per failing comparison of any table: where, which tensor, both values, error and bound,
    rerun."""
    rows = []
    for name, df in tables.items():
        if name in NOT_COMPARISONS or "passed" not in df:
            continue
        bad = df[flag(df, "passed", False)]
        for (_, r), q in zip(bad.iterrows(), ratio(bad), strict=True):
            r = r.to_dict()
            tensor, actual, desired = _failure_values(name, r)
            note = "; ".join(x for x in (r.get("rule", ""), r.get("problem", ""), r.get("warnings", "")) if x)
            rows.append(
                {
                    "table": name,
                    "case": r.get("case", ""),
                    "dtype": r.get("dtype", ""),
                    "seed": r.get("seed", ""),
                    "tensor": tensor,
                    "ACTUAL (scratch)": actual,
                    "DESIRED (torch)": desired,
                    "checked error": r.get("checked_error", ""),
                    "tolerance": r.get("tolerance", ""),
                    "error / tolerance": f"{q:.3g}",
                    "rule / problem": note,
                    "rerun": rerun(r.get("nodeid", ""), env),
                }
            )
    return pd.DataFrame(rows)


def _failure_values(name: str, r: dict) -> tuple[str, str, str]:
    """(what failed, scratch's values, torch's) of a failing row of table ``name``."""
    if name == "gradients":
        at = f"[{r.get('worst_index', '')}] "
        return r.get("tensor", ""), at + r.get("actual", ""), at + r.get("desired", "")
    if name == "clipping":
        return (
            "total_norm, coef, " + r.get("worst_tensor", ""),
            _values(r, ("total_norm", "coef", "worst_tensor_error", "raised")),
            _values(r, ("torch_total_norm", "torch_coef", "torch_raised")),
        )
    if name == "trajectories":
        return (
            "losses, final_params",
            _values(r, ("final_loss", "worst_loss_diff", "worst_epoch", "final_param_diff")),
            _values(r, ("torch_final_loss", "final_param_tolerance")),
        )
    if name == "selftest":
        return (
            f"{r.get('bug', '')}: {r.get('tensor', '')} (not caught on its tensor)",
            r.get("error_seen", ""),
            "",
        )
    return r.get("tensor", r.get("worst_tensor", "")), r.get("actual", ""), r.get("desired", "")


def verdict(tables: dict, failed: pd.DataFrame) -> tuple[bool, str]:
    summary = tables.get("summary")
    run = summary[summary["suite"] == "(run)"] if summary is not None and "suite" in summary else None
    if run is None or not len(run):
        return len(failed) == 0, f"{len(failed)} failing comparison(s); no run row in summary.csv"
    run = run.iloc[0]
    tests, tests_failed = run.get("tests", ""), run.get("tests_failed", "")
    missing, crashed = run.get("missing_tests", "") or "0", run.get("crashed_workers", "")
    ok = len(failed) == 0 and tests_failed in ("0", "") and missing == "0" and not crashed
    text = f"{tests} tests, {tests_failed or 0} failed, {len(failed)} failing comparison(s)"
    if missing != "0":
        text += f", {missing} test(s) never reported"
    if crashed:
        text += f", crashed workers: {crashed}"
    return ok, text


# -- plots
# -----------------------------------------------------------------------------------------------------


def _log(ax, axis: str = "y") -> None:
    """A log axis with a few decades labelled as plain text (1e-05) and no minor ticks: each tick is an artist
    and each mathtext label a parse, and they are most of a page's build time."""
    from matplotlib.ticker import LogFormatter, LogLocator, NullLocator

    low, high = ax.dataLim.intervaly if axis == "y" else ax.dataLim.intervalx
    if not (np.isfinite(high) and high > 0):
        return  # nothing positive to draw (a run without curve rows, an all-exact or all-NaN difference)
    getattr(ax, f"set_{axis}scale")("log")
    which = getattr(ax, f"{axis}axis")
    which.set_major_locator(LogLocator(numticks=7))
    which.set_major_formatter(LogFormatter())
    which.set_minor_locator(NullLocator())


def _img(fig, alt: str) -> str:
    """The figure as an SVG data URI (an ``img`` keeps each figure's SVG ids to itself)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}">'


def ratio_plot(tables: dict):
    """Every comparison's error / tolerance, a column of points per suite and dtype, log scale, line at 1."""
    from matplotlib.figure import Figure

    frames = [
        df.assign(_ratio=ratio(df), _failed=flag(df, "passed", False))
        for name, df in tables.items()
        if name not in NOT_COMPARISONS + ("selftest",) and {"suite", "dtype", "checked_error"} <= set(df)
    ]
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    groups = sorted(df.groupby(["suite", "dtype"]).groups)
    x = df.groupby(["suite", "dtype"]).ngroup().to_numpy() + np.random.default_rng(0).uniform(
        -0.3, 0.3, len(df)
    )
    q = df["_ratio"].to_numpy(dtype=float)
    top = max(1.0, np.nanmax(np.where(np.isfinite(q), q, 0), initial=0)) * 10  # where non-finite ratios go
    y = np.clip(np.nan_to_num(q, nan=top, posinf=top), RATIO_FLOOR, top)
    bad = df["_failed"].to_numpy()
    fig = Figure(figsize=(14, 4.5))
    fig.subplots_adjust(left=0.06, right=0.99, top=0.92, bottom=0.16)
    ax = fig.subplots()
    ax.scatter(x[~bad], y[~bad], s=6, color=SCRATCH, alpha=0.5, linewidths=0, label="passed")
    ax.scatter(x[bad], y[bad], s=30, color=FAIL, marker="x", label="failed")
    ax.axhline(1.0, color=FAIL, lw=1.2, ls="--", label="error = tolerance")
    _log(ax)
    ax.set_xticks(range(len(groups)), [f"{s}\n{d}" for s, d in groups])
    ax.set_xlabel("suite and dtype")
    ax.set_ylabel("checked error / tolerance (1 = the bound)")
    ax.set_title(
        f"every comparison ({len(df)}); exact agreement drawn at {RATIO_FLOOR:g}, "
        "non-finite errors at the top"
    )
    ax.legend(loc="upper right")
    return fig


def _family(df: pd.DataFrame) -> pd.Series:
    """The dataset family of a run: ``xor`` or ``random`` (``random-5x8x16`` without its sizes)."""
    return df["dataset"].str.split("-").str[0] if "dataset" in df else pd.Series("", index=df.index)


def representative_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs plotted: the worst (largest error / tolerance) of each activation and dtype, then the one
    nearest the median of each dtype (a typical run)."""
    runs = runs.assign(_ratio=ratio(runs))
    keys = [k for k in ("activation", "dtype") if k in runs]
    picked = runs.loc[runs.groupby(keys, sort=True)["_ratio"].idxmax().dropna()].assign(pick="worst")
    typical = []
    for _, g in runs.drop(index=picked.index).groupby("dtype", sort=True):
        typical.append(g.loc[[(g["_ratio"] - g["_ratio"].median()).abs().idxmin()]].assign(pick="typical"))
    return pd.concat([picked, *typical])


def worst_per_case(runs: pd.DataFrame) -> pd.DataFrame:
    """The worst run of every test case (node id), in report order."""
    runs = runs.assign(_ratio=ratio(runs), _n=runs.groupby("nodeid")["case"].transform("size"))
    return runs.loc[sorted(runs.groupby("nodeid", sort=False)["_ratio"].idxmax().dropna())]


def training_plot(picked: pd.DataFrame, curves: pd.DataFrame):
    """For each picked run: both loss curves overlaid, and below them |scratch - torch| on a log axis (an
    exact difference, 0, as a triangle at the bottom)."""
    from matplotlib.figure import Figure

    cols = 3
    rows = -(-len(picked) // cols)
    height = 5.0 * rows
    fig = Figure(figsize=(14, height))
    gs = fig.add_gridspec(
        3 * rows - 1,
        cols,
        height_ratios=([1.3, 1, 0.5] * rows)[:-1],
        left=0.06,
        right=0.99,
        top=1 - 0.5 / height,
        bottom=0.45 / height,
        wspace=0.22,
        hspace=0.12,
    )
    for i, (_, run) in enumerate(picked.iterrows()):
        bottom = fig.add_subplot(gs[3 * (i // cols) + 1, i % cols])
        top = fig.add_subplot(gs[3 * (i // cols), i % cols], sharex=bottom)
        _draw_run(
            top, bottom, run, curves[(curves["nodeid"] == run["nodeid"]) & (curves["case"] == run["case"])]
        )
        if i == 0:
            top.legend(loc="upper right")
            bottom.legend(loc="upper left", fontsize=8)
    return fig


def _draw_run(top, bottom, run, c: pd.DataFrame) -> None:
    """One run's loss curves (top) and |scratch - torch| (bottom) from its curve rows ``c``."""
    epoch, diff = num(c, "epoch") + 1, num(c, "abs_diff")
    top.plot(epoch, num(c, "loss"), color=SCRATCH, lw=2, label="scratch")
    top.plot(epoch, num(c, "torch_loss"), color=TORCH, lw=1.2, ls="--", label="torch")
    top.tick_params(labelbottom=False)
    top.set_ylabel("loss (BCE, nats)")
    top.set_title(
        f"{run['pick']} of {run.get('activation', '')} {run['dtype']}: {run['case']}\n"
        f"error / tolerance {run['_ratio']:.3g}",
        fontsize=9,
    )
    _, floor = _exact_at_floor(diff)
    bottom.plot(epoch, diff.where(diff > 0), color="black", lw=1, marker=".", ms=3, label="|difference|")
    bottom.plot(
        epoch[diff == 0],
        np.full(int((diff == 0).sum()), floor),
        "v",
        color="tab:green",
        ms=4,
        label="exact (0)",
    )
    _log(bottom, "x"), _log(bottom)
    bottom.set_xlabel("epoch + 1")
    bottom.set_ylabel("|scratch - torch| (nats)")


def all_runs_plot(runs: pd.DataFrame, curves: pd.DataFrame):
    """Every run's |scratch - torch| loss difference, one line per run, a panel per dataset family and
    dtype."""
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    curves = curves.assign(
        _family=_family(curves), _epoch=num(curves, "epoch") + 1, _diff=num(curves, "abs_diff")
    )
    panels = sorted(curves.groupby(["_family", "dtype"]), key=lambda g: g[0])
    if not panels:
        return None
    fig = Figure(figsize=(14, 3.6))
    axes = fig.subplots(
        1,
        len(panels),
        squeeze=False,
        gridspec_kw={"left": 0.06, "right": 0.99, "top": 0.9, "bottom": 0.15, "wspace": 0.25},
    )[0]
    bad = runs[flag(runs, "passed", False)]
    failed = set(zip(bad["nodeid"], bad["case"], strict=True))
    for ax, ((family, dtype), g) in zip(axes, panels, strict=True):
        lines = {True: [], False: []}
        for key, c in g.groupby(["nodeid", "case"], sort=False):
            lines[key in failed].append(np.column_stack([c["_epoch"], c["_diff"].where(c["_diff"] > 0)]))
        ax.add_collection(
            LineCollection(lines[False], colors="black", linewidths=0.6, alpha=0.3, label="passed")
        )
        if lines[True]:
            ax.add_collection(LineCollection(lines[True], colors=FAIL, linewidths=1.5, label="failed"))
        ax.autoscale()
        _log(ax, "x"), _log(ax)
        ax.set_title(f"{family} {dtype}: {sum(map(len, lines.values()))} runs", fontsize=9)
        ax.set_xlabel("epoch + 1")
    axes[0].set_ylabel("|scratch - torch| loss (nats)")
    return fig


def _exact_at_floor(values: pd.Series) -> tuple[pd.Series, float]:
    """Values for a log axis: exact zeros moved to a floor a decade below the smallest non-zero value."""
    positive = values[values > 0]
    floor = positive.min() / 10 if len(positive) else 1e-20
    return values.where(values != 0, floor), floor


def clipping_frame(clip: pd.DataFrame) -> pd.DataFrame:
    """Per case: regime (the case id's first word), norm type, and how far scratch is from torch."""
    p = num(clip, "norm_type")
    return clip.assign(
        regime=clip["case"].str.split("-").str[0],
        norm=p.map(lambda v: "l-inf" if v == np.inf else f"l{v:g}"),
        total_norm_rel_diff=(num(clip, "total_norm") - num(clip, "torch_total_norm")).abs()
        / num(clip, "torch_total_norm").abs(),
        coef_diff=(num(clip, "coef") - num(clip, "torch_coef")).abs(),
    )


def clipping_plot(clip: pd.DataFrame):
    """Per regime, norm type and dtype: how far scratch's pre-clip total norm and coefficient are from
    torch's."""
    from matplotlib.figure import Figure

    regimes = list(dict.fromkeys(clip["regime"]))
    kinds = sorted(set(zip(clip["norm"], clip["dtype"], strict=True)))
    fig = Figure(figsize=(14, 4.6))
    axes = fig.subplots(
        1, 2, gridspec_kw={"left": 0.07, "right": 0.99, "top": 0.82, "bottom": 0.12, "wspace": 0.18}
    )
    for ax, col, label in (
        (axes[0], "total_norm_rel_diff", "|scratch - torch| / torch"),
        (axes[1], "coef_diff", "|scratch - torch|"),
    ):
        values, floor = _exact_at_floor(clip[col])
        for k, (norm, dtype) in enumerate(kinds):
            g = clip[(clip["norm"] == norm) & (clip["dtype"] == dtype)]
            x = g["regime"].map(regimes.index) + (k - (len(kinds) - 1) / 2) * 0.12
            ax.scatter(
                x,
                values[g.index],
                s=22,
                marker="os"[dtype == "float64"],
                color=f"C{sorted(set(clip['norm'])).index(norm)}",
                label=f"{norm} {dtype}",
                alpha=0.8,
            )
        _log(ax)
        ax.set_xticks(range(len(regimes)), regimes)
        ax.set_xlabel("regime (nan and inf totals: judged by the exception both sides raise)")
        ax.set_ylabel(label)
        ax.set_title(
            f"{'pre-clip total norm' if col.startswith('total') else 'clip coefficient'}; exact (0) "
            f"drawn at {floor:.0e}"
        )
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncols=len(kinds))
    return fig


def selftest_plot(st: pd.DataFrame):
    """How far each planted bug's catching comparison exceeded its bound (the farther, the more visible)."""
    from matplotlib.figure import Figure

    q = ratio(st).to_numpy(dtype=float)
    finite = q[np.isfinite(q) & (q > 0)]
    cap = max(finite.max() * 100 if len(finite) else 1e3, 10)
    height = 0.35 * len(st) + 1.2
    fig = Figure(figsize=(14, height))
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - 0.2 / height, bottom=0.7 / height)
    ax = fig.subplots()
    caught = flag(st, "passed", True).to_numpy()
    y = np.arange(len(st))
    ax.barh(
        y,
        np.clip(np.nan_to_num(q, nan=RATIO_FLOOR, posinf=cap), RATIO_FLOOR, cap),
        color=np.where(caught, SCRATCH, FAIL),
    )
    for yi, qi in zip(y, q, strict=True):
        if qi == np.inf:
            ax.text(cap, yi, " inf", va="center")
    ax.axvline(1.0, color=FAIL, ls="--", lw=1.2, label="error = tolerance")
    _log(ax, "x")
    ax.set_yticks(y, st.get("bug", st.get("case")))
    ax.invert_yaxis()
    ax.set_xlabel("checked error / tolerance of the comparison that caught the bug (> 1: caught)")
    ax.legend(loc="lower right")
    return fig


# -- the page
# --------------------------------------------------------------------------------------------------


def _short(value) -> str:
    """A float as 4 significant digits; integers and text as written."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return text if text.lstrip("-").isdigit() else f"{number:.4g}"


def table_html(df: pd.DataFrame, highlight: pd.Series | None = None, *, exact: bool = False) -> str:
    """A table through pandas' Styler: no index, failing rows (``highlight``) in red, floats to 4 digits or
    (``exact``) as written and in wrapping cells; scrolled sideways when wider than the page."""
    styler = df.style.hide(axis="index")
    styler = (
        styler.set_table_attributes('class="wrap"').format(escape="html")
        if exact
        else styler.format(_short, escape="html")
    )
    if highlight is not None:
        mask = highlight.to_numpy()
        styler = styler.apply(lambda col: np.where(mask, "background-color: #fdd", ""), axis=0)
    return f'<div class="scroll">{styler.to_html()}</div>'


def details_html(summary: str, df: pd.DataFrame) -> str:
    """A long table, folded: pandas' plain ``to_html`` (a few times faster than Styler's), floats to 4
    digits."""
    table = df.map(_short).to_html(index=False, border=0)
    return f'<details><summary>{html.escape(summary)}</summary><div class="scroll">{table}</div></details>'


def _pick(df: pd.DataFrame, columns) -> pd.DataFrame:
    return df[[c for c in columns if c in df]]


def _missing(name: str) -> str:
    return f'<p class="note">No {name}.csv in this report directory: nothing to show here.</p>'


def render(tables: dict, report_dir: Path) -> str:
    import matplotlib

    env = environment(tables)
    failed = failures(tables, env)
    ok, counts = verdict(tables, failed)
    rid = run_id(tables, env)
    parts = [
        f"<h1>Parity report: {html.escape(env.get('engine', '?'))} against torch</h1>",
        (
            f'<p><span id="verdict" class="verdict {"pass" if ok else "fail"}">{"PASSED" if ok else "FAILED"}'
            f"</span> {html.escape(counts)}</p>"
        ),
        _facts(env, rid, report_dir),
        _failures(failed),
        _suites(tables.get("summary")),
        _capabilities(tables.get("summary")),
    ]
    with matplotlib.rc_context(STYLE):
        parts.append('<h2 id="ratios">Error / tolerance of every comparison</h2>')
        fig = ratio_plot(tables)
        parts.append(_img(fig, "error over tolerance per suite and dtype") if fig else _missing("gradients"))
        parts.append(_training(tables))
        parts.append(_clipping(tables))
        parts.append(_gradient_flow(tables))
        parts.append(_selftest(tables))

    parts.append('<h2 id="environment">Environment</h2>')
    env_df = tables.get("environment")
    parts.append(table_html(env_df, exact=True) if env_df is not None else _missing("environment"))
    title = f"parity {'PASSED' if ok else 'FAILED'} {rid}".strip()
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _facts(env: dict, rid: str, report_dir: Path) -> str:
    facts = {
        "run id": rid or "(not recorded)",
        "engine": env.get("engine", ""),
        "base seed": env.get("base_seed", ""),
        "started": env.get("start_time", ""),
        "hypothesis profile": env.get("hypothesis_profile", ""),
        "xdist workers": env.get("xdist_workers", ""),
        "versions": ", ".join(f"{k} {env[k]}" for k in ("python", "numpy", "torch", "pandas") if k in env),
        "report directory": str(report_dir),
    }
    return table_html(pd.DataFrame(list(facts.items()), columns=["", "value"]), exact=True)


def _failures(failed: pd.DataFrame) -> str:
    if not len(failed):
        return '<h2 id="failures">Failures</h2>\n<p>No failing comparison.</p>'
    return "\n".join(
        [
            '<h2 id="failures">Failures</h2>',
            f"<p>{len(failed)} failing comparison(s). Scratch is ACTUAL, torch is DESIRED.</p>",
            table_html(failed, exact=True),
        ]
    )


def _suites(summary: pd.DataFrame | None) -> str:
    head = '<h2 id="suites">Per suite and dtype</h2>'
    if summary is None or "suite" not in summary:
        return head + "\n" + _missing("summary")
    per_suite = summary[~summary["suite"].isin(["(run)", "(engine)"])].drop(
        columns=[
            "tests",
            "tests_failed",
            "missing_tests",
            "crashed_workers",
            "run_id",
            "capability",
            "status",
        ],
        errors="ignore",
    )
    bad = (num(per_suite, "failed").fillna(0) > 0) | (num(per_suite, "worst_ratio") > 1)
    if "selftest" in set(per_suite["suite"]):
        bad &= per_suite["suite"] != "selftest"  # there error > tolerance is the success
    note = (
        '<p class="note">worst_ratio: the largest checked error / tolerance (above 1 fails; for '
        "the selftest suite it is how far the least visible planted bug exceeded its bound).</p>"
    )
    return "\n".join([head, table_html(per_suite, bad), note])


def _capabilities(summary: pd.DataFrame | None) -> str:
    """What the engine provides, how each capability was checked, and what could not be (never a silent
    green)."""
    head = '<h2 id="capabilities">What was checked</h2>'
    if summary is None or "capability" not in summary:
        return head + _missing("summary (engine capabilities)")
    caps = summary[summary["suite"] == "(engine)"][["capability", "status"]].fillna("")
    missing = caps["status"].str.startswith("not provided")
    note = (
        f"<p>{int(missing.sum())} of {len(caps)} capabilities not provided: their checks were skipped, "
        "not passed.</p>"
        if missing.any()
        else f"<p>All {len(caps)} capabilities of the contract were checked.</p>"
    )
    return "\n".join([head, note, table_html(caps.reset_index(drop=True), missing.reset_index(drop=True))])


def _training(tables: dict) -> str:
    parts = ['<h2 id="training">Training</h2>']
    runs, curves = tables.get("trajectories"), tables.get("trajectory_curves")
    if runs is None or not len(runs):
        return parts[0] + _missing("trajectories")
    parts += (
        _training_plots(runs, curves)
        if curves is not None and len(curves)
        else [_missing("trajectory_curves")]
    )
    columns = (
        "case",
        "dtype",
        "activation",
        "dataset",
        "max_norm",
        "epochs",
        "worst_loss_diff",
        "worst_epoch",
        "final_param_diff",
        "final_loss",
        "torch_final_loss",
        "checked_error",
        "tolerance",
        "passed",
    )
    worst = worst_per_case(runs)
    parts.append(f"<p>The worst run of each of the {len(worst)} test cases (of how many runs):</p>")
    worst = worst.assign(test=worst["nodeid"].str.split("::").str[-1]).rename(columns={"_n": "runs"})
    parts.append(
        table_html(_pick(worst, ("test", "runs", "case") + columns[4:]), flag(worst, "passed", False))
    )
    parts.append(details_html(f"All {len(runs)} runs", _pick(runs, columns)))
    return "\n".join(parts)


def _training_plots(runs: pd.DataFrame, curves: pd.DataFrame) -> list[str]:
    parts = [
        "<p>Representative runs: the worst (largest error / tolerance) of each activation and dtype, "
        "and a typical one per dtype (nearest the median), at log-spaced epochs.</p>"
    ]
    with_curves = runs[
        runs.set_index(["nodeid", "case"]).index.isin(curves.set_index(["nodeid", "case"]).index)
    ]
    parts.append(
        _img(training_plot(representative_runs(with_curves), curves), "loss curves of representative runs")
    )
    fig = all_runs_plot(runs, curves)
    if fig is not None:
        parts.append(
            "<p>Every run: |scratch - torch| loss over epochs, one line per run, failing runs in red; "
            "epochs where the two agree exactly (0) are gaps.</p>"
        )
        parts.append(_img(fig, "loss difference of every run"))
    return parts


def _clipping(tables: dict) -> str:
    clip = tables.get("clipping")
    head = '<h2 id="clipping">Clipping</h2>'
    if clip is None or not len(clip):
        return head + _missing("clipping")
    clip = clipping_frame(clip)
    per = (
        clip.assign(failed=flag(clip, "passed", False))
        .groupby(["regime", "norm"], sort=False)
        .agg(
            cases=("case", "size"),
            failed=("failed", "sum"),
            max_total_norm_rel_diff=("total_norm_rel_diff", "max"),
            max_coef_diff=("coef_diff", "max"),
        )
        .reset_index()
    )
    columns = (
        "case",
        "dtype",
        "norm_type",
        "max_norm",
        "total_norm",
        "torch_total_norm",
        "coef",
        "torch_coef",
        "raised",
        "torch_raised",
        "checked_error",
        "tolerance",
        "passed",
    )
    return "\n".join(
        [
            head,
            _img(clipping_plot(clip), "clipping total norm and coefficient differences"),
            table_html(per, per["failed"] > 0),
            details_html(f"All {len(clip)} cases, engine against torch", _pick(clip, columns)),
        ]
    )


def gradient_flow_plot(gf: pd.DataFrame):
    """The notebook's two figures, measured: weight-gradient norm against layer, per activation at the He /
    Xavier scale (vanishing), and per weight scale for ReLU (exploding), at the deepest depth recorded; torch
    dashed."""
    from matplotlib.figure import Figure

    gf = gf.assign(
        **{c: num(gf, c) for c in ("depth", "layer", "weight_scale", "grad_norm", "torch_grad_norm")}
    )
    depth = gf["depth"].max()
    gf = gf[gf["depth"] == depth]
    fig = Figure(figsize=(14, 4.6))
    axes = fig.subplots(
        1, 2, gridspec_kw={"left": 0.07, "right": 0.99, "top": 0.88, "bottom": 0.12, "wspace": 0.18}
    )
    panels = (
        (
            axes[0],
            gf[gf["weight_scale"] == 1.0],
            "activation",
            "vanishing: each activation at 1 x He / Xavier",
        ),
        (axes[1], gf[gf["activation"] == "relu"], "weight_scale", "exploding: ReLU at k x He"),
    )
    for ax, rows, by, title in panels:
        for k, (key, g) in enumerate(rows.groupby(by, sort=True)):
            g = g.sort_values("layer")
            ax.plot(
                g["layer"],
                g["grad_norm"],
                marker="o",
                ms=3,
                color=f"C{k}",
                label=f"{by} {key:g}" if by == "weight_scale" else str(key),
            )
            ax.plot(g["layer"], g["torch_grad_norm"], ls="--", color=f"C{k}", alpha=0.6)
        _log(ax)
        ax.set_xlabel(f"layer (1 = first hidden; {int(depth) + 1} = output), depth {int(depth)}")
        ax.set_ylabel("||dW|| (engine solid, torch dashed)")
        ax.set_title(title)
        ax.legend(fontsize="small")
    return fig


def _gradient_flow(tables: dict) -> str:
    gf = tables.get("gradient_flow")
    head = '<h2 id="gradient-flow">Gradient flow in deep networks</h2>'
    if gf is None or not len(gf):
        return head + _missing("gradient_flow")
    columns = (
        "case",
        "activation",
        "depth",
        "layer",
        "weight_scale",
        "grad_norm",
        "torch_grad_norm",
        "checked_error",
        "tolerance",
        "passed",
    )
    return "\n".join(
        [
            head,
            _img(gradient_flow_plot(gf), "gradient norm against layer"),
            details_html(f"All {len(gf)} layers, engine against torch", _pick(gf, columns)),
        ]
    )


def _selftest(tables: dict) -> str:
    st = tables.get("selftest")
    head = '<h2 id="selftest">Planted-bug self-test</h2>'
    if st is None or not len(st):
        return head + '<p class="note">No planted bug ran (--parity-selftest=off, or not selected).</p>'
    view = _pick(st, ("bug", "description", "caught_on_tensor", "tensor", "checked_error", "tolerance"))
    view = view.assign(
        **{"exceeded the bound by": ratio(st).map(lambda q: f"{q:.3g} x")},
        **({"error_seen": st["error_seen"]} if "error_seen" in st else {}),
    )
    return "\n".join(
        [
            head,
            _img(selftest_plot(st), "planted bugs and how far they exceeded the bound"),
            table_html(view, ~flag(st, "passed", True)),
        ]
    )


def warm_up() -> None:
    """Import what a page build needs (matplotlib's figure and SVG backend, pandas' Styler and its templates),
    so that a run can do it while its tests run instead of after them."""
    import matplotlib.backends.backend_svg  # noqa: F401
    import matplotlib.collections  # noqa: F401
    import matplotlib.figure  # noqa: F401
    import matplotlib.ticker  # noqa: F401
    import pandas.io.formats.style  # noqa: F401


def _write_atomic(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def build(report_dir: Path | str) -> Path:
    """Write ``index.html`` into ``report_dir`` from the CSV files there; returns its path."""
    report_dir = Path(report_dir)
    if not report_dir.is_dir():
        raise FileNotFoundError(f"report directory {report_dir} does not exist")
    tables = read_reports(report_dir)
    if not tables:
        raise FileNotFoundError(f"no CSV report in {report_dir}")
    path = report_dir / PAGE
    _write_atomic(render(tables, report_dir.resolve()), path)
    return path


def build_line(report_dir: Path | str) -> str:
    """Build the page and say so in one line; a failure is that line too, never an exception."""
    start = time.perf_counter()
    try:
        path = build(report_dir)
    except ImportError as exc:
        return f'page: not written: {exc} (install the test extra: pip install -e ".[test]")'
    except Exception as exc:  # noqa: BLE001 (the run's verdict is the CSVs'; the page must never crash it)
        return f"page: not written: {type(exc).__name__}: {exc}".splitlines()[0]
    return f"page: {path.resolve().as_uri()} ({time.perf_counter() - start:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.html_report", description=__doc__.split("\n")[0])
    parser.add_argument(
        "report_dir", nargs="?", default="reports", help="the report directory (default: reports)"
    )
    line = build_line(parser.parse_args(argv).report_dir)
    print(line)
    return 0 if line.startswith("page: file") else 1


if __name__ == "__main__":
    sys.exit(main())
