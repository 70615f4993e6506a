"""The seed sweep's pieces (parity/sweep.py) and the fixture engine it validates beside scratch_nn."""

import math
import sys

import numpy as np
import pandas as pd
import pytest

from parity import sweep
from parity.seam import load_engine


def test_seeds_parse_as_range_list_or_one():
    assert sweep.parse_seeds("0:4") == [0, 1, 2, 3]
    assert sweep.parse_seeds("3,5,8") == [3, 5, 8] and sweep.parse_seeds("7") == [7]


def row(**kw):
    base = dict(
        seed=0,
        engine="scratch_nn",
        bug="",
        suite="gradients",
        case="c",
        tensor="t",
        dtype="float32",
        checked_error=1e-8,
        tolerance=1e-6,
        ratio=0.01,
        passed=True,
        test_failed=False,
        caught_on_tensor=math.nan,
        margin=math.nan,
        nodeid="n",
    )
    base.update(kw)
    return base


def test_summary_gives_the_two_rates():
    frame = pd.DataFrame(
        [
            row(),
            row(seed=1, ratio=2.0, passed=False, test_failed=True, checked_error=2e-6),
            row(
                engine="scratch_nn_bug_x",
                bug="x",
                dtype="any",
                caught_on_tensor=True,
                margin=50.0,
                passed=False,
            ),
            row(
                engine="scratch_nn_bug_x",
                bug="x",
                dtype="float32",
                caught_on_tensor=True,
                margin=50.0,
                passed=False,
            ),
            row(seed=1, engine="scratch_nn_bug_x", bug="x", dtype="any", caught_on_tensor=False, margin=0.0),
            row(
                seed=1,
                engine="scratch_nn_bug_x",
                bug="x",
                dtype="float32",
                caught_on_tensor=False,
                margin=0.0,
            ),
        ]
    )
    text = "\n".join(sweep.summarize(frame))
    assert "1 of 2 test runs failed" in text and "red at 1 of 2 seeds" in text
    assert "1 of 2 (bug, seed) pairs caught" in text and "smallest margin" in text and "50" in text


def test_ratio_has_no_value_without_a_bound():
    assert math.isnan(sweep.error_ratio(1.0, math.nan))
    assert sweep.error_ratio(0.0, 1e-6) == 0.0 and sweep.error_ratio(2e-6, 1e-6) == pytest.approx(2.0)


@pytest.fixture
def reordered(monkeypatch):
    monkeypatch.syspath_prepend(str(sweep.FIXTURE_ENGINES))
    yield load_engine("scratch_nn_reordered")
    for name in [m for m in sys.modules if m.startswith("scratch_nn_reordered")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_reordered_engine_is_scratch_nn_up_to_rounding(engine, reordered):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((33, 100)).astype(np.float32)
    y = (rng.uniform(size=(1, 100)) < 0.5).astype(np.float32)
    grads = []
    for e in (engine.module, reordered.module):
        net = e.TwoLayerNet.init(33, 64, activation="tanh", rng=np.random.default_rng(1), dtype=np.float32)
        net.forward(X)
        grads.append(net.backward(y).as_dict())
    assert reordered.module.TwoLayerNet.__module__ == "scratch_nn_reordered.network"
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)
    assert any(
        not np.array_equal(grads[1][n], grads[0][n]) for n in ("W1", "b1", "W2", "b2")
    )  # other roundings


def test_bugs_are_a_form_or_a_list_of_ids():
    from parity import mutants

    assert sweep.select_bugs("quick") == mutants.bugs_for("quick")
    assert [b.id for b in sweep.select_bugs("sgd-wrong-sign,lr-applied-twice")] == [
        "sgd-wrong-sign",
        "lr-applied-twice",
    ]
    with pytest.raises(SystemExit, match="unknown bug id.*no-such-bug"):
        sweep.select_bugs("sgd-wrong-sign,no-such-bug")
