"""The page of a real red run, opened in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, which ``.ci/run`` installs) driven by Selenium.

The run: a planted bug (the missing 1/m of the mean loss) through the engine seam, in one pytest subprocess
over a small selection (two network cases, two clipping cases, two short training runs), as the self-test runs
its variants. Its page must show the FAILED verdict and every failing comparison, with no console error, and
every plot must render with a non-zero size. A screenshot of the whole page is saved in this session's
report dir as ``page-red-run.png``, for people to look at. Without a browser the browser test skips and says
why; the page's content is still checked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from parity import mutants

BUG = "missing-1-over-m"
SELECTION = (
    "tests/test_network.py",
    "tests/test_clipping.py",
    "tests/test_training.py",
    "-k",
    "walkthrough-xor-relu or (above and l2 and float64) or random-5x8x16-relu-clip-none",
)
CHROME_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)

SCREENSHOT = "page-red-run.png"

pytestmark = pytest.mark.xdist_group("html-red-run")  # one subprocess run, shared by the tests below


def report_dir(config: pytest.Config) -> Path:
    """This session's report dir (the screenshot goes beside its CSV files)."""
    return config.rootpath / config.getoption("parity_report_dir")  # an absolute option path stays as it is


@pytest.fixture(scope="module")
def red_run(tmp_path_factory, pytestconfig) -> Path:
    """The report dir of a real run of the suite against a planted-bug variant of the engine."""
    work = tmp_path_factory.mktemp("red-run")
    module = mutants.build_variant(mutants.BY_ID[BUG], work / "variant")
    reports = work / "reports"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *SELECTION,
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "-q",
        f"--parity-engine={module}",
        f"--parity-report-dir={reports}",
        "--parity-selftest=off",
    ]
    env = mutants.child_environment(work / "variant")
    # the subprocess imports this checkout's harness (the variant stays first on the path)
    env["PYTHONPATH"] += f":{pytestconfig.rootpath}"
    proc = subprocess.run(
        cmd,
        cwd=pytestconfig.rootpath,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"page: {(reports / 'index.html').as_uri()}" in proc.stdout
    return reports


def failing_rows(reports: Path) -> pd.DataFrame:
    rows = pd.read_csv(reports / "gradients.csv", dtype=str, keep_default_na=False)
    return rows[rows["passed"].astype(str) == "False"]


def test_the_red_runs_page_has_its_failing_tensors(red_run):
    text = (red_run / "index.html").read_text()
    failures = text[text.index('id="failures"') : text.index('id="suites"')]
    failed = failing_rows(red_run)
    assert set(failed["tensor"]) == {"dW1", "db1", "dW2", "db2"}  # what the bug declares
    for _, row in failed.iterrows():
        assert f">{row['tensor']}<" in failures and row["actual"] in failures and row["desired"] in failures


def browser():
    """A headless Chromium through Selenium, or a skip that says what is missing."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (the test extra has it)"
    )
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no Chromium here: apt-get install -y chromium chromium-driver (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver's own path: Selenium Manager would otherwise try to download one
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_the_red_runs_page_in_chromium(red_run, pytestconfig):
    chrome = browser()
    shot = report_dir(pytestconfig) / SCREENSHOT
    shot.parent.mkdir(parents=True, exist_ok=True)
    try:
        chrome.get((red_run / "index.html").as_uri())
        verdict = chrome.find_element("id", "verdict")
        assert verdict.text == "FAILED" and verdict.is_displayed()
        failures = chrome.find_element("css selector", "#failures + p + div table").text
        for _, row in failing_rows(red_run).iterrows():
            assert row["case"] in failures and row["tensor"] in failures and row["actual"] in failures
        sizes = chrome.execute_script(
            "return Array.from(document.images, i => [i.alt, i.naturalWidth, i.getBoundingClientRect().width,"
            " i.getBoundingClientRect().height])"
        )
        assert len(sizes) >= 4  # error/tolerance, representative runs, every run, clipping
        assert all(natural > 0 and width > 0 and height > 0 for _, natural, width, height in sizes), sizes
        errors = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        height = chrome.execute_script("return document.documentElement.scrollHeight")
        chrome.set_window_size(1400, min(height, 12000))
        assert chrome.save_screenshot(str(shot))
    finally:
        chrome.quit()
    assert shot.stat().st_size > 10_000
