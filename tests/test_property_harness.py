"""How the property tests run and report (parity/property_harness.py): the profiles are as documented, a
property check fails on a planted wrong gradient and says how to replay it, and a property test records only
the examples a person needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from parity import property_harness as ph
from parity import strategies as hs
from parity.compare import ParityError


def test_profiles_extend_hypothesis_ci_and_load_by_environment():
    before = settings.get_current_profile_name()
    try:
        settings.load_profile("default")
        assert ph.register_profiles() == "dev"
        assert (
            settings.default.max_examples == ph.PROFILES["dev"]["max_examples"]
            and settings.default.deadline is None
        )
        settings.load_profile("ci")  # what hypothesis does at import when CI is set
        assert ph.register_profiles() == "ci"
        ci = settings.default
        assert ci.derandomize and ci.deadline is None and ci.database is None and ci.print_blob
        assert HealthCheck.too_slow in ci.suppress_health_check  # inherited from hypothesis's own "ci"
        assert ci.max_examples == ph.PROFILES["ci"]["max_examples"]
        assert settings.get_profile("thorough").max_examples >= 10 * ci.max_examples
    finally:
        settings.load_profile(before)


def test_a_property_check_fails_on_a_planted_wrong_gradient(engine, torch_ref, parity):
    """Over drawn multiply examples, a grad_b scaled by 1.001 is caught (a check that cannot fail is
    worthless), and the error names the tensor and says how to replay the run."""
    recorder = ph.PropertyRecorder(parity)

    @settings(max_examples=50, database=None, deadline=None, derandomize=True, phases=[Phase.generate])
    @given(hs.gate_examples("multiply", "float64"))
    def planted(ex):
        gate = engine.module.Multiply()
        out = gate.forward(*ex.inputs)
        grad_a, grad_b = gate.backward(ex.upstream)
        ref = torch_ref.gate("multiply", list(ex.inputs), ex.upstream, dtype=np.float64)
        with np.errstate(over="ignore"):
            wrong = grad_b * 1.001
        recorder.check(
            {"out": (out, ref.output), "grad_a": (grad_a, ref.grads[0]), "grad_b": (wrong, ref.grads[1])},
            dtype=np.float64,
            case="planted",
            inputs=ex.summary(),
            record=False,
        )

    with pytest.raises(ParityError) as failure:
        planted()
    message = str(failure.value)
    assert "tensor 'grad_b'" in message and "'grad_a'" not in message
    assert "rerun: pytest" in message and "@example" in message
    assert recorder.examples >= 1


SUITE = """
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import pytest

from parity import strategies as hs
from parity.property_harness import PropertyRecorder

@pytest.fixture
def prop(parity):
    recorder = PropertyRecorder(parity)
    yield recorder
    recorder.finish()

@settings(max_examples=60, database=None, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=hnp.arrays(np.float64, st.integers(1, 6), elements=hs.floats("float64", -9.0, 9.0)))
def test_double(prop, x):
    desired = 2 * x + 1
    actual = desired * 1.001 if x.size >= {planted_from} else desired.copy()  # the planted bug
    prop.check({{"out": (actual, desired)}}, dtype=np.float64, case="double", inputs=repr(x))
"""


def run_suite(pytester, planted_from):
    pytester.makeconftest('pytest_plugins = ("parity.plugin",)\n')
    pytester.makepyfile(test_prop=SUITE.format(planted_from=planted_from))
    result = pytester.runpytest("-p", "no:cacheprovider")
    rows = pd.read_csv(pytester.path / "reports" / "gradients.csv", keep_default_na=False)
    return result, rows


def test_a_failing_property_reports_only_its_shrunk_example_with_its_inputs(pytester):
    result, rows = run_suite(pytester, planted_from=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (
        len(rows) == 1
    )  # the example hypothesis reports, not the ones it tried while searching and shrinking
    row = rows.iloc[0]
    assert str(row["passed"]) == "False" and row["kind"] == "property" and row["case"] == "double"
    assert row["inputs"] == "array([0., 0., 0.])"  # shrunk to the smallest array the planted bug reaches
    result.stdout.fnmatch_lines(
        [
            "*1 tensor(s) differ from torch beyond tolerance*",
            "*rerun: pytest*test_prop.py::test_double*derandomized*@example*",
            "*Failing test case*",
            "*x=array(?0., 0., 0.?)*",
            "*reproduce_failure*",
        ]
    )


def test_a_passing_property_records_one_example(pytester):
    result, rows = run_suite(pytester, planted_from=99)
    assert result.ret == pytest.ExitCode.OK
    assert (
        len(rows) == 1
        and str(rows.iloc[0]["passed"]) == "True"
        and rows.iloc[0]["inputs"].startswith("array(")
    )


def test_examples_compare_cannot_decide_are_rejected_not_failed():
    big = np.full(9, np.finfo(np.float64).max / 2)
    assert not ph.decidable({"g": (big, big)}, np.float64)  # the 2-norm overflows in compare
    assert ph.decidable({"g": (big[:1], big[:1])}, np.float64)
    # float32 exp(2**-24) * (max - 1 ulp): inf from a correctly rounded exp, finite from torch's
    scratch, torch = np.float32([np.inf]), np.float32([3.4028233e38])
    assert not ph.decidable({"grad_x": (scratch, torch, torch.astype(np.float64) * (1 + 2**-24))}, np.float32)
    assert ph.decidable(
        {"grad_x": (np.float32([np.inf, 1e38]), np.float32([np.inf, 1e38]), None)}, np.float32
    )
