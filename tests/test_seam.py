"""The seam: what --parity-engine accepts, how an unusable target is refused (one usage error, exit 4), what
an engine provides, and that whatever an engine does wrong (raises, warns, returns the wrong thing) becomes a
report row rather than a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from parity.seam import CAPABILITIES, EngineError, load_engine

ROOT = Path(__file__).resolve().parents[1]

TWO_GATES = """
import numpy as np

class Add:
    def forward(self, a, b):
        self.shapes = np.shape(a), np.shape(b)
        return np.add(a, b)
    def backward(self, g):
        return g, g
"""


def test_a_module_name_a_file_and_a_package_directory_load(tmp_path):
    (tmp_path / "neighbour.py").write_text(TWO_GATES)
    (tmp_path / "eng_file.py").write_text("from neighbour import Add\n")  # its folder is on the path
    package = tmp_path / "eng_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .gates import Add\n")
    (package / "gates.py").write_text(TWO_GATES)
    for target in (str(tmp_path / "eng_file.py"), str(package)):
        engine = load_engine(target)
        assert engine.provided == {"gate Add": "engine"}, target
        assert engine.missing["gate Multiply"] == "no class Multiply"
        assert engine.missing["gate LeakyReLU"] == "no class LeakyReLU"
    assert set(load_engine("scratch_nn").provided) == set(CAPABILITIES)
    assert set(load_engine("scratch_nn").provided.values()) == {"engine"}


@pytest.mark.parametrize(
    "name, source, cause",
    [
        ("missing.py", None, "no such file"),
        ("syntax.py", "def f(:\n", "syntax error in"),
        ("raises.py", "raise RuntimeError('no GPU found')\n", "RuntimeError: no GPU found (raises.py:1)"),
        ("imports.py", "import not_a_module_anywhere\n", "No module named 'not_a_module_anywhere'"),
        ("nothing.py", "x = 1\n", "provides none of the capabilities"),
    ],
)
def test_an_unusable_target_says_why(tmp_path, name, source, cause):
    if source is not None:
        (tmp_path / name).write_text(source)
    with pytest.raises(EngineError) as error:
        load_engine(str(tmp_path / name))
    assert cause in str(error.value) and f"--parity-engine={tmp_path / name}" in str(error.value)


CONFTEST = """
import pytest
pytest_plugins = ("parity.plugin",)

@pytest.fixture(scope="session")
def torch_ref():
    import reference
    reference.set_threads(1)
    return reference
"""
INI = (
    "[pytest]\nfilterwarnings =\n    error\n    ignore::DeprecationWarning:torch.*\n"
    "    ignore::UserWarning:torch.*\n"
)
SUITE = """
import pytest

@pytest.mark.parity_check
def test_checks_the_engine(engine):
    engine.require("gate Add")

def test_of_the_harness():
    pass
"""


def setup_suite(pytester, suite: str = SUITE) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_suite=suite)


@pytest.mark.parametrize("target", ["no_such_engine_module", "missing.py", "syntax.py", ""])
def test_an_unusable_engine_is_one_usage_error_before_any_test(pytester, target):
    setup_suite(pytester)
    (pytester.path / "syntax.py").write_text("def f(:\n")
    result = pytester.runpytest(f"--parity-engine={target}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "--parity-engine" in line]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --parity-engine")
    assert "passed" not in result.stdout.str() and "error" not in result.stdout.str().lower()


def test_a_foreign_engine_runs_only_the_parity_checks(pytester):
    setup_suite(pytester)
    (pytester.path / "mine.py").write_text(TWO_GATES)
    result = pytester.runpytest("--parity-engine=mine.py", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, deselected=1)
    summary = pd.read_csv(pytester.path / "reports" / "summary.csv")
    status = summary[summary["suite"] == "(engine)"].set_index("capability")["provided"]
    assert status["gate Add"] == "engine" and status["gate Tanh"] == "not provided: no class Tanh"
    result.stdout.fnmatch_lines(["*mine: gate Tanh: not provided: no class Tanh*"])


SLOPED = """
import numpy as np

class LeakyReLU:
    def __init__(self, negative_slope):
        self.slope = negative_slope
    def forward(self, x):
        self.x = x
        return np.where(x > 0, x, self.slope * x)
    def backward(self, g):
        return np.where(self.x > 0, g, self.slope * g)
"""


def test_a_gate_gets_its_constants_positionally_in_catalogue_order(tmp_path):
    (tmp_path / "sloped.py").write_text(SLOPED)
    engine = load_engine(str(tmp_path / "sloped.py"))
    forward, backward = engine.gate("leaky_relu", [np.array([-2.0, 3.0])], np.ones(2), negative_slope=0.25)
    assert forward.ok and backward.ok
    np.testing.assert_array_equal(forward.value, [-0.5, 3.0])
    np.testing.assert_array_equal(backward.value[0], [0.25, 1.0])


BROKEN = """
import warnings
import numpy as np

class Add:  # forward warns (harmless), backward divides by zero
    def forward(self, a, b):
        warnings.warn("overflow encountered in exp", RuntimeWarning)
        return np.add(a, b)
    def backward(self, g):
        return 1 // 0

class Multiply:  # returns one gradient for two inputs
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b
    def backward(self, g):
        return (g * self.b,)

class Exp:  # right, but warns on overflow under filterwarnings = error
    def forward(self, a):
        self.out = np.exp(a)
        return self.out
    def backward(self, g):
        return g * self.out
"""


def test_whatever_the_engine_does_wrong_is_a_row_and_a_warning_never_crashes(pytester):
    setup_suite(pytester, (ROOT / "tests" / "test_gates.py").read_text())
    (pytester.path / "broken.py").write_text(BROKEN)
    result = pytester.runpytest(
        "--parity-engine=broken.py",
        "-p",
        "no:cacheprovider",
        "-k",
        "add-matrix or multiply-matrix or exp-near-overflow-f64",
    )
    result.assert_outcomes(failed=4, passed=2)
    rows = pd.read_csv(
        pytester.path / "reports" / "gradients.csv", dtype={"problem": "string", "warnings": "string"}
    )
    add = rows[rows["case"] == "add-matrix-float64"].set_index("tensor")
    assert add.loc["out", "passed"] and "overflow encountered in exp" in add.loc["out", "warnings"]
    for grad in ("grad_a", "grad_b"):
        assert not add.loc[grad, "passed"]
        assert add.loc[grad, "problem"].startswith(
            "engine raised ZeroDivisionError: integer division or modulo"
        )
    mul = rows[rows["case"] == "multiply-matrix-float64"].set_index("tensor")
    assert mul.loc["out", "passed"]
    assert mul.loc["grad_a", "problem"] == "Multiply.backward returned 1 gradient(s) for 2 input(s)"
    exp = rows[rows["case"] == "exp-near-overflow-f64-float64"]
    assert exp["passed"].all() and exp["warnings"].str.contains("overflow").all()
    result.stdout.fnmatch_lines(["*rerun: pytest *--parity-engine=broken.py*"])


def test_python_number_results_are_taken_at_the_case_dtype():
    from parity.returns import EngineProblem, as_result

    assert as_result(0.5, np.float32, "loss").dtype == np.float32
    with pytest.raises(EngineProblem, match="loss: missing"):
        as_result(None, np.float32, "loss")
    with pytest.raises(EngineProblem, match="dtype <U"):
        as_result(np.array(["a"]), np.float64, "p")
