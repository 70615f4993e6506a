"""The run's page (reports/index.html): built from the CSV files, tolerant of missing tables and extra
columns, self-contained; built by the plugin at the end of a run, switched off by --parity-html=off, and a
failure to build it is one line, never a traceback or a changed verdict.

The browser half (a real run's page opened in headless Chromium) is in tests/test_html_browser.py.
"""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path

import pytest

from parity import html_report

GRADIENTS = """
nodeid,suite,case,dtype,kind,seed,checked_error,tolerance,passed,tensor,shape,max_abs_error,max_rel_error,normwise_error,ulp_distance,worst_index,actual,desired,torch_error,rule,problem,inputs,worker,run_id
t.py::net[a],network,a,float64,random,7,0.5,1e-12,False,dW1,"(2, 3)",0.1,0.5,0.5,99,"(0, 1)",0.2000000000000001,0.1,nan,float64 rounding level (1e-12),,,main,r-42
t.py::net[a],network,a,float64,random,7,0.0,1e-12,True,db1,"(2, 1)",0,0,0,0,"(0, 0)",0.1,0.1,nan,float64 rounding level (1e-12),,,main,r-42
t.py::net[b],network,b,float32,random,8,1e-08,4.7e-07,True,dW1,"(2, 3)",0,1e-8,1e-8,1,"(0, 0)",0.5,0.5,1e-8,floor,,,main,r-42
"""  # noqa: E501  (CSV rows as written)
SUMMARY = """
suite,dtype,comparisons,failed,worst_error,worst_error_case,worst_ratio,worst_ratio_case,tests,tests_failed,missing_tests,crashed_workers,run_id
network,float32,1,0,1e-08,b (seed 8),0.02,b (seed 8),,,,,r-42
network,float64,2,1,0.5,a (seed 7),5e+11,a (seed 7),,,,,r-42
(not provided),engine capability,,,,,,,,,,,r-42
(run),,,,,,,,2,1,0,,r-42
"""
ENVIRONMENT = """
key,value
python,3.11.7
numpy,2.4.6
torch,2.13.0+cpu
engine,scratch_nn
base_seed,5
start_time,2026-12-02T10:00:00+00:00
run_id,r-42
"""
TRAJECTORIES = """
nodeid,suite,case,dtype,kind,seed,checked_error,tolerance,passed,activation,dataset,n_in,n_hidden,m,epochs,lr,max_norm,worst_loss_diff,worst_epoch,final_param_diff,final_param_tolerance,worst_norm_diff,torch_deviation,final_loss,torch_final_loss,accuracy,torch_accuracy,converged,torch_converged,rule,problem,warnings,worker
t.py::tr[x],training,x-run00,float64,xor,5,1e-15,1e-12,True,relu,xor,2,4,4,10,1.0,,1e-15,4,1e-15,1e-12,,nan,0.1,0.1,1,1,True,True,r,,,main
t.py::tr[x],training,x-run01,float64,xor,6,2e-13,1e-12,True,tanh,xor,2,4,4,10,1.0,,2e-13,3,1e-15,1e-12,,nan,0.2,0.2,1,1,True,True,r,,,main
"""
CURVES = (
    "nodeid,suite,case,dtype,kind,seed,activation,dataset,max_norm,epoch,loss,torch_loss,abs_diff,is_worst,worker\n"
    + "".join(
        f"t.py::tr[x],training,x-run0{r},float64,xor,5,relu,xor,,{e},"
        f"{0.7 / (e + 1)},{0.7 / (e + 1) + d},{d},False,main\n"
        for r in (0, 1)
        for e, d in ((0, 0.0), (1, 1e-16), (3, 2e-13 * r), (9, 1e-15))
    )
)


def write_dir(path: Path, **tables: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (path / f"{name}.csv").write_text(textwrap.dedent(text).lstrip())
    return path


def test_a_red_directory_gives_a_failed_verdict_and_its_failure_with_both_values_and_the_rerun(tmp_path):
    d = write_dir(tmp_path, gradients=GRADIENTS, summary=SUMMARY, environment=ENVIRONMENT)
    page = html_report.build(d)
    text = page.read_text()
    assert page == d / "index.html"
    assert re.search(r'id="verdict" class="verdict fail">FAILED', text)
    failures = html.unescape(text[text.index('id="failures"') : text.index('id="suites"')])
    # the failing tensor, both values as written (repr-exact), error, tolerance, the rerun with the base seed
    for expected in (
        "dW1",
        "0.2000000000000001",
        "0.1",
        "0.5",
        "1e-12",
        "5e+11",
        'pytest "t.py::net[a]" --parity-seed=5',
    ):
        assert expected in failures, expected
    assert "db1" not in failures  # a passing tensor is no failure
    assert "r-42" in text  # the run id, from environment.csv
    assert "(not provided)" in text  # a capability row of summary.csv is shown as it is


def test_a_green_directory_passes_and_tolerates_missing_tables_and_extra_columns(tmp_path):
    green = GRADIENTS.replace("0.5,1e-12,False", "0.0,1e-12,True")
    summary = SUMMARY.replace("network,float64,2,1", "network,float64,2,0").replace(
        "(run),,,,,,,,2,1", "(run),,,,,,,,2,0"
    )
    d = write_dir(
        tmp_path,
        gradients=green,
        summary=summary,
        environment=ENVIRONMENT,
        trajectories=TRAJECTORIES,
        trajectory_curves=CURVES,
    )
    (d / "clipping.csv").write_text("")  # an empty file is a missing table
    text = html_report.build(d).read_text()
    assert 'class="verdict pass">PASSED' in text
    assert "No failing comparison." in text
    assert "No clipping.csv" in text and "No planted bug ran" in text
    assert (
        text.count("<img ") == 3
    )  # error/tolerance, representative runs, every run (no clipping, no self-test)


def test_the_page_is_self_contained(tmp_path):
    d = write_dir(
        tmp_path,
        gradients=GRADIENTS,
        summary=SUMMARY,
        environment=ENVIRONMENT,
        trajectories=TRAJECTORIES,
        trajectory_curves=CURVES,
    )
    text = html_report.build(d).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", text)
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert all(
        src.startswith("data:image/svg+xml;base64,") for src in re.findall(r'<img [^>]*src="([^"]+)"', text)
    )


def test_representative_runs_are_the_worst_per_activation_and_dtype_and_a_typical_one():
    import pandas as pd

    runs = pd.DataFrame(
        {
            "nodeid": ["n"] * 5,
            "case": list("abcde"),
            "activation": ["relu"] * 4 + ["tanh"],
            "dtype": ["float64"] * 5,
            "checked_error": ["1", "5", "2", "3", "0"],
            "tolerance": ["10"] * 5,
        }
    )
    picked = html_report.representative_runs(runs)
    assert list(zip(picked["case"], picked["pick"], strict=True)) == [
        ("b", "worst"),
        ("e", "worst"),
        ("c", "typical"),
    ]


def test_no_report_is_one_line_and_exit_1(tmp_path, capsys):
    assert html_report.build_line(tmp_path / "nowhere").startswith("page: not written: FileNotFoundError")
    assert html_report.main([str(tmp_path)]) == 1
    assert capsys.readouterr().out.startswith("page: not written: FileNotFoundError: no CSV report in")
    assert not (tmp_path / "index.html").exists()


def test_the_command_rebuilds_the_page_from_a_directory(tmp_path, capsys):
    d = write_dir(tmp_path, gradients=GRADIENTS, summary=SUMMARY, environment=ENVIRONMENT)
    assert html_report.main([str(d)]) == 0
    assert capsys.readouterr().out.startswith(f"page: {(d / 'index.html').resolve().as_uri()} (")


# -- the plugin: built at the end of a run, or not -----------------------------------------------------------

DEMO = """
import numpy as np
import pytest

@pytest.mark.parametrize("k", range(3))
def test_cmp(parity, k):
    d = parity.rng().standard_normal((2, 2))
    a = d.copy()
    if k == 1:
        a[1, 0] += 1e-6  # a planted disagreement
    parity.check({"W": (a, d)}, dtype=np.float64, kind="random")
"""


@pytest.fixture
def demo(pytester, pytestconfig, monkeypatch):
    # the subprocess imports this checkout's parity package, whatever the environment installed
    monkeypatch.setenv("PYTHONPATH", str(pytestconfig.rootpath), prepend=":")
    pytester.makeconftest('pytest_plugins = ("parity.plugin",)\n')
    pytester.makepyfile(test_demo=DEMO)
    return pytester


def test_every_run_ends_with_the_page_linked_from_the_summary(demo):
    result = demo.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    page = demo.path / "reports" / "index.html"
    result.stdout.fnmatch_lines([f"page: {page.as_uri()} (*s)"])
    text = page.read_text()
    assert "FAILED" in text and "test_cmp[1]" in text and ">W<" in text


def test_parity_html_off_writes_no_page(demo):
    result = demo.runpytest_subprocess("-p", "no:cacheprovider", "--parity-html=off")
    result.stdout.fnmatch_lines(["page: off (--parity-html=off)"])
    assert (demo.path / "reports" / "gradients.csv").exists()
    assert not (demo.path / "reports" / "index.html").exists()


def test_a_page_that_cannot_be_built_is_one_line_and_leaves_a_green_run_green(demo):
    demo.makepyfile(test_demo=DEMO.replace("if k == 1:", "if False:"))
    demo.makeconftest(
        'pytest_plugins = ("parity.plugin",)\nimport parity.html_report as h\n'
        'def broken(report_dir):\n    raise RuntimeError("disk on fire\\nsecond line")\n'
        "h.build = broken\n"
    )
    result = demo.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["page: not written: RuntimeError: disk on fire"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "second line" not in result.stdout.str()


def test_runs_without_curves_or_with_no_positive_difference_still_draw(tmp_path):
    """A stacked-vs-one-run row has no curve rows, and a run may agree exactly at every epoch: neither may
    break a log axis (a real run's page once failed on 'Data cannot be log-scaled')."""
    extra = (
        "t.py::one[x],training,one-run-vs-stacked-scratch-relu-run0,float64,xor,5,0.0,1e-12,True,relu,xor,"
        ",,,1000,1.0,,0.0,0,,,,,,,,,,,r,,,main\n"
    )
    exact = CURVES.replace("{0.7", "{0.7").replace(",1e-16,", ",0.0,").replace(",1e-15,False", ",0.0,False")
    exact = "\n".join(line for line in exact.splitlines() if ",2e-13," not in line) + "\n"
    d = write_dir(
        tmp_path,
        gradients=GRADIENTS,
        summary=SUMMARY,
        environment=ENVIRONMENT,
        trajectories=textwrap.dedent(TRAJECTORIES).lstrip() + extra,
        trajectory_curves=exact,
    )
    text = html_report.build(d).read_text()
    assert 'id="training"' in text and "one-run-vs-stacked" in text
