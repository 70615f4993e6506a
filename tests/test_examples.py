"""The notebook-style example engine (examples/notebook_engine), validated through the seam as any user's
engine is: `--parity-engine=<path to its adapter>`, in a pytest subprocess, then its verdicts read from the
reports.

It computes the notebook's epsilon loss, `-mean(y log(p + 1e-7) + (1 - y) log(1 - p + 1e-7))`, whose gradient
is not the `p - y` its backward uses, and its clipping rule scales only when `max_norm / (total + 1e-6) < 1`.
So in float64 the suite must flag its loss in every network and trajectory case and nothing else: every
gradient and final parameter agrees with torch at rounding level; its NaN clipping case differs from torch's
(which scales by a NaN factor) and is flagged; nothing crashes; what it does not provide is reported.
Trajectories run in float64 only here (the float32 runs add time and no assertion).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from parity.seam import CAPABILITIES

# one worker runs them all, so that the subprocess run (about a minute of CPU) happens once, not per worker
pytestmark = pytest.mark.xdist_group("notebook-engine")

ADAPTER = "examples/notebook_engine/adapter.py"
SELECTION = [
    "tests/test_gates.py",
    "tests/test_graphs.py",
    "tests/test_network.py",
    "tests/test_clipping.py",
    "tests/test_training.py",
    "-k",
    "not (training and float32)",
]


@pytest.fixture(scope="module")
def notebook_run(pytestconfig, tmp_path_factory):
    reports = tmp_path_factory.mktemp("notebook-engine-reports")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *SELECTION,
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--parity-engine={ADAPTER}",
        f"--parity-report-dir={reports}",
        f"--parity-seed={pytestconfig.getoption('parity_seed')}",
        "--parity-html=off",
    ]
    proc = subprocess.run(
        cmd,
        cwd=pytestconfig.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    text = {c: "string" for c in ("problem", "failed_tensors", "warnings", "crashed_workers", "provided")}
    tables = {
        name: pd.read_csv(reports / f"{name}.csv", dtype=text)
        for name in ("gradients", "clipping", "trajectories", "summary")
    }
    return proc, tables


def test_the_run_ends_red_without_a_crash(notebook_run):
    proc, tables = notebook_run
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tables["summary"][tables["summary"]["suite"] == "(run)"].iloc[0]
    assert run["missing_tests"] == 0 and pd.isna(run["crashed_workers"])
    for name in ("gradients", "clipping", "trajectories"):
        problems = tables[name]["problem"].fillna("")
        assert not problems.str.contains("engine raised").any(), problems[problems != ""].tolist()


def test_float64_flags_the_loss_of_every_network_case_and_nothing_else(notebook_run):
    g = notebook_run[1]["gradients"]
    net = g[(g["suite"] == "network") & (g["dtype"] == "float64")]
    assert len(net) and (~net[net["tensor"] == "loss"]["passed"]).all()
    others = g[(g["dtype"] == "float64") & (g["tensor"] != "loss")]
    assert others["passed"].all(), others[~others["passed"]][["case", "tensor", "checked_error"]]
    assert set(others["suite"]) == {"gates", "graphs", "network"}
    assert (others["checked_error"] < 1e-13).all()  # rounding level, not merely within the bound


def test_float64_flags_the_loss_of_every_trajectory_and_no_final_parameter(notebook_run):
    t = notebook_run[1]["trajectories"]
    runs = t[(t["dtype"] == "float64") & ~t["case"].str.startswith("one-run-vs-stacked")]
    assert len(runs) >= 32 + 6 * 4
    failed = runs["failed_tensors"].fillna("")
    assert failed.str.contains("losses").all() and not failed.str.contains("final_params").any()
    assert (runs["final_param_diff"] < 1e-13).all()


def test_its_nonfinite_clipping_difference_is_flagged(notebook_run):
    c = notebook_run[1]["clipping"]
    nan_cases = c[c["case"].str.startswith("nan-")]
    assert len(nan_cases) and (~nan_cases["passed"]).all()
    assert nan_cases["failed_tensors"].str.contains("coef").all()
    assert c[~c["case"].str.startswith("nan-")]["passed"].all()


def test_what_it_does_not_provide_is_reported_not_silently_green(notebook_run):
    proc, tables = notebook_run
    caps = tables["summary"][tables["summary"]["suite"] == "(engine)"].set_index("capability")["provided"]
    assert list(caps.index) == list(CAPABILITIES)
    for capability in (
        "gate LeakyReLU",
        "network tanh",
        "clipping l1",
        "clipping linf",
        "clipping error_if_nonfinite",
    ):
        assert caps[capability].startswith("not provided"), capability
        assert f"{capability}: not provided" in proc.stdout
    assert caps["graphs"].startswith("composed") and caps["stacked training"].startswith("one run at a time")
    assert "not provided by adapter: network tanh" in proc.stdout
