"""The seed sweep: a suite selection over many base seeds, for correct engines and for planted bugs.

    python -m parity.sweep --seeds 0:100 --workers 2                       # float32 gates, network, clipping
    python -m parity.sweep --seeds 0:100 --select "tests/test_training.py -k float32" --bugs off
    python -m parity.sweep --seeds 0:20 --bugs full --engines scratch_nn   # the two rates together

Every (seed, engine) pair runs the selection through ``pytest.main`` *inside* one long-lived process per
worker (torch and the test modules import once), with ``--parity-seed``, ``--parity-engine`` and a private
report directory; the rows of that run's reports (gradients, clipping, trajectories) become rows of
``reports/sweep.csv``: seed, engine, suite, case, tensor, dtype, checked error, bound, error/bound and
verdict.

Correct engines are ``scratch_nn`` and the fixture engines of ``tests/engines`` (put on ``sys.path``), e.g.
``scratch_nn_reordered``. Planted bugs (``--bugs quick|full``, the catalogue of :mod:`parity.mutants`) run
their own selection at every seed; a bug's row is the comparison that caught it on one of its tensors, and its
``margin`` is error/bound there (the largest over its failing expected tensors): how far beyond the bound the
bug lands. The summary printed at the end, and written to ``reports/sweep_summary.csv``, is the two rates: the
false-fail rate of the correct engines, and the caught-on-tensor rate of the bugs with the smallest margin.
Not part of the default run; CI runs seed 0 only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_ENGINES = ROOT / "tests" / "engines"
DEFAULT_SELECTION = "tests/test_gates.py tests/test_network.py tests/test_clipping.py -k float32"
DEFAULT_ENGINES = "scratch_nn,scratch_nn_reordered"
COLUMNS = (
    "seed",
    "engine",
    "bug",
    "suite",
    "case",
    "tensor",
    "dtype",
    "checked_error",
    "tolerance",
    "ratio",
    "passed",
    "test_failed",
    "caught_on_tensor",
    "margin",
    "nodeid",
)


def parse_seeds(text: str) -> list[int]:
    """``"0:100"`` (a range), ``"3,5,8"`` or ``"7"``."""
    if ":" in text:
        lo, hi = text.split(":")
        return list(range(int(lo), int(hi)))
    return [int(s) for s in text.split(",") if s.strip()]


class _Failures:
    """A pytest plugin that notes the node ids of failed tests."""

    def __init__(self):
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)


def run_once(
    selection: list[str], *, seed: int, engine: str, report_dir: Path, torch_cache: str = ""
) -> tuple[list, list[str], int]:
    """One in-process pytest run; returns (observations of its reports, failed node ids, exit code)."""
    import pytest

    from parity import mutants

    plugin = _Failures()
    args = [
        *selection,
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "-q",
        "--no-header",
        "-p",
        "no:randomly",
        f"--parity-engine={engine}",
        f"--parity-report-dir={report_dir}",
        f"--parity-seed={seed}",
        f"--parity-torch-cache={torch_cache}",
        "--parity-selftest=off",
        "--rootdir",
        str(ROOT),
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        code = pytest.main(args, plugins=[plugin])
    return mutants.read_observations(report_dir), plugin.failed, int(code)


def error_ratio(err: float, tol: float) -> float:
    """error / bound; nan for a row without a bound of its own (the pre-clip norms of a trajectory)."""
    if math.isnan(tol):
        return math.nan
    if err == 0:
        return 0.0
    return err / tol if tol else math.inf


def select_bugs(bugs: str) -> tuple:
    """A self-test form (off, quick, full) or a comma-separated list of bug ids from the catalogue."""
    from parity import mutants

    if bugs in mutants.FORMS:
        return mutants.bugs_for(bugs)
    ids = [b for b in bugs.split(",") if b]
    unknown = [b for b in ids if b not in mutants.BY_ID]
    if unknown:
        raise SystemExit(f"--bugs: unknown bug id(s) {', '.join(unknown)}; see parity/mutants.py")
    return tuple(mutants.BY_ID[b] for b in ids)


def correct_rows(seed: int, engine: str, observations, failed: list[str]) -> list[dict]:
    """A correct engine's rows: every judged tensor of the run."""
    return [
        dict(
            seed=seed,
            engine=engine,
            bug="",
            suite=o.table,
            case=o.case,
            tensor=o.tensor,
            dtype=o.dtype,
            checked_error=o.checked_error,
            tolerance=o.tolerance,
            ratio=error_ratio(o.checked_error, o.tolerance),
            passed=o.passed,
            test_failed=o.nodeid in failed,
            caught_on_tensor=math.nan,
            margin=math.nan,
            nodeid=o.nodeid,
        )
        for o in observations
    ]


def bug_rows(seed: int, bug, observations, failed: list[str]) -> list[dict]:
    """A planted bug's two rows: the comparison that caught it on one of its tensors with the largest
    error/bound, over any dtype and over float32 alone (empty when none did)."""
    hits = [o for o in observations if not o.passed and o.tensor in bug.expected and o.nodeid in failed]
    rows = []
    for what in ("any", "float32"):
        some = [o for o in hits if what == "any" or o.dtype == what]
        o = max(some, key=lambda o: error_ratio(o.checked_error, o.tolerance), default=None)
        ratio = error_ratio(o.checked_error, o.tolerance) if o else math.nan
        rows.append(
            dict(
                seed=seed,
                engine=bug.module,
                bug=bug.id,
                suite=o.table if o else "",
                case=o.case if o else "",
                tensor=o.tensor if o else "",
                dtype=what,
                checked_error=o.checked_error if o else math.nan,
                tolerance=o.tolerance if o else math.nan,
                ratio=ratio,
                passed=o is None,
                test_failed=bool(failed),
                caught_on_tensor=o is not None,
                margin=ratio if o else 0.0,
                nodeid=o.nodeid if o else "",
            )
        )
    return rows


def worker(
    seeds: list[int],
    engines: list[str],
    selection: list[str],
    bugs: str,
    out: Path,
    torch_cache: str = "",
    bug_selection: list[str] | None = None,
) -> None:
    """Run every (seed, engine) and (seed, bug) of this shard in this process; write its rows to ``out``."""
    import pandas as pd

    from parity import mutants

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(FIXTURE_ENGINES))
    rows = []
    with tempfile.TemporaryDirectory(prefix="parity-sweep-") as tmp:
        tmp = Path(tmp)
        catalogue = select_bugs(bugs)
        if catalogue:
            for bug in catalogue:
                mutants.build_variant(bug, tmp / "variants")
            sys.path.insert(0, str(tmp / "variants"))
        for seed in seeds:
            run = functools.partial(run_once, seed=seed, report_dir=tmp / "r", torch_cache=torch_cache)
            for engine in engines:
                obs, failed, code = run(selection, engine=engine)
                if code not in (0, 1):
                    raise RuntimeError(f"pytest exited {code} for engine {engine} at seed {seed}")
                rows += correct_rows(seed, engine, obs, failed)
            for bug in catalogue:
                obs, failed, _ = run(bug_selection or list(bug.selection), engine=bug.module)
                rows += bug_rows(seed, bug, obs, failed)
            # after every seed: usable if stopped
            pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(out, index=False)
            print(f"seed {seed} done", file=sys.stderr, flush=True)
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(out, index=False)


def summarize(frame) -> list[str]:
    """The two rates: false fails of the correct engines, bugs caught on their tensor (with the smallest
    margin)."""
    frame = frame.reset_index(drop=True)
    planted = frame["bug"].notna() & (frame["bug"] != "")
    return summarize_correct(frame[~planted]) + summarize_bugs(frame[planted])


def summarize_correct(correct) -> list[str]:
    if not len(correct):
        return []
    tests = correct.groupby(["seed", "engine", "nodeid"])["test_failed"].any()
    bad = correct[~correct["passed"].astype(bool)]
    seeds = correct["seed"].nunique()
    lines = [
        f"correct engines ({', '.join(sorted(correct['engine'].unique()))}), {seeds} seeds: "
        f"{int(tests.sum())} of {len(tests)} test runs failed, {len(bad)} of {len(correct)} comparisons "
        f"beyond their bound; worst error/bound {correct['ratio'].max():.3g}"
    ]
    for dtype, part in correct.groupby("dtype"):
        worst = part.loc[part["ratio"].idxmax()]
        lines.append(
            f"  {dtype}: worst error/bound {worst['ratio']:.3g} ({worst['suite']} / {worst['case']} / "
            f"{worst['tensor']}, seed {worst['seed']}, {worst['engine']}); "
            f"99th percentile {part['ratio'].quantile(0.99):.3g}"
        )
    seeds_failing = correct[correct["test_failed"].astype(bool)].groupby("engine")["seed"].nunique()
    return lines + [f"  {engine}: red at {n} of {seeds} seeds" for engine, n in seeds_failing.items()]


def summarize_bugs(planted) -> list[str]:
    bugs = planted[planted["dtype"] == "any"]
    if not len(bugs):
        return []
    caught = bugs["caught_on_tensor"].astype(bool)
    lines = [
        f"planted bugs: {int(caught.sum())} of {len(bugs)} (bug, seed) pairs caught on their tensor "
        f"({bugs['bug'].nunique()} bugs x {bugs['seed'].nunique()} seeds)"
    ]
    if caught.any():
        hit = bugs[caught]
        worst = hit.loc[hit["margin"].idxmin()]
        lines.append(
            f"  smallest margin (error/bound on the catching tensor) {worst['margin']:.3g}: "
            f"{worst['bug']} on {worst['tensor']} at seed {worst['seed']}"
        )
    f32 = planted[planted["dtype"] == "float32"]
    by_bug = f32.groupby("bug")["caught_on_tensor"].agg(lambda s: s.astype(bool).mean())
    lines.append(
        "  caught by float32 checks alone (fraction of seeds): "
        + ", ".join(f"{b} {v:.2f}" for b, v in by_bug.items())
    )
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m parity.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0:100", help="base seeds: 0:100, or 3,5,8 (default 0:100)")
    p.add_argument(
        "--select", default=DEFAULT_SELECTION, help=f"pytest selection (default: {DEFAULT_SELECTION!r})"
    )
    p.add_argument("--engines", default=DEFAULT_ENGINES, help=f"correct engines (default: {DEFAULT_ENGINES})")
    p.add_argument(
        "--bugs",
        default="full",
        help="planted bugs: off, quick, full (default) or a comma-separated list of bug ids",
    )
    p.add_argument(
        "--bug-select",
        default="",
        help="a pytest selection run for every bug instead of the bug's own (e.g. both dtypes of a case)",
    )
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--out", default="reports/sweep.csv", help="the CSV written (default reports/sweep.csv)")
    p.add_argument(
        "--torch-cache",
        default="",
        metavar="DIR",
        help="torch's training runs, shared by every engine and bug at a seed (--parity-torch-cache); "
        "default: a temporary directory removed at the end",
    )
    p.add_argument("--shard", default=None, help=argparse.SUPPRESS)  # k/N: run as worker k of N
    return p.parse_args(argv)


def start_shards(
    args: argparse.Namespace, out: Path, torch_cache: str
) -> list[tuple[Path, subprocess.Popen]]:
    """One ``--shard k/N`` process per worker, each writing its part of the rows."""
    shards = []
    for k in range(args.workers):
        part = out.with_name(f".{out.stem}-part{k}.csv")
        cmd = [sys.executable, "-m", "parity.sweep", "--seeds", args.seeds, "--select", args.select]
        cmd += [
            "--engines",
            args.engines,
            "--bugs",
            args.bugs,
            "--bug-select",
            args.bug_select,
            "--out",
            str(part),
            "--torch-cache",
            torch_cache,
            "--shard",
            f"{k}/{args.workers}",
        ]
        shards.append((part, subprocess.Popen(cmd, cwd=ROOT)))
    return shards


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    select_bugs(args.bugs)  # an unknown id stops here, before any worker starts
    seeds = parse_seeds(args.seeds)
    out = Path(args.out) if Path(args.out).is_absolute() else ROOT / args.out
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        engines = [e for e in args.engines.split(",") if e]
        bug_selection = shlex.split(args.bug_select) or None
        worker(
            seeds[k::n], engines, shlex.split(args.select), args.bugs, out, args.torch_cache, bug_selection
        )
        return 0

    out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        cache = args.torch_cache or stack.enter_context(tempfile.TemporaryDirectory(prefix="parity-torch-"))
        return _run_workers(args, seeds, out, str(Path(cache).resolve()))


def _run_workers(args, seeds: list[int], out: Path, torch_cache: str) -> int:
    """Start the worker processes, then gather, summarize and write their rows."""
    import pandas as pd

    start = time.perf_counter()
    shards = start_shards(args, out, torch_cache)
    codes = [proc.wait() for _, proc in shards]
    frames = [pd.read_csv(p) for (p, _), c in zip(shards, codes, strict=True) if c == 0 and p.exists()]
    if not frames:
        print("every worker failed", file=sys.stderr)
        return 2
    frame = pd.concat(frames, ignore_index=True).sort_values(["seed", "engine"], kind="stable")
    frame.to_csv(out, index=False)
    for part, _ in shards:
        part.unlink(missing_ok=True)
    lines = [
        *summarize(frame),
        f"{len(seeds)} seeds, {args.workers} workers, {time.perf_counter() - start:.0f} s; rows in {out}",
    ]
    out.with_name(out.stem + "_summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(c == 0 for c in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
