"""--parity-torch-cache: a repeated torch training is read back bit for bit, and anything that could change
torch's numbers (an argument, the reference's source, torch's threads) is a miss."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import reference
from parity import torch_cache

X = np.array([[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]])
Y = np.array([[0.0, 1.0, 1.0, 0.0]])


def params(seed):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((4, 2)),
        "b1": np.zeros((4, 1)),
        "W2": rng.standard_normal((1, 4)),
        "b2": np.zeros((1, 1)),
    }


def train(ref, seed=0, **kw):
    kw = dict(dict(epochs=20, lr=1.0, activation="relu", dtype="float32", max_norm=0.5), **kw)
    return ref.train(params(seed), X, Y, **kw)


def assert_same(actual, desired):
    np.testing.assert_array_equal(actual.losses, desired.losses, strict=True)
    np.testing.assert_array_equal(actual.total_norms, desired.total_norms, strict=True)
    for name, value in desired.params.items():
        np.testing.assert_array_equal(actual.params[name], value, strict=True)


@pytest.fixture
def refusing_torch(monkeypatch):
    """After this, a call that reaches torch's training raises: only a cache hit still answers."""

    def refuse(*args, **kwargs):
        raise AssertionError("torch ran: not a cache hit")

    def arm():
        monkeypatch.setattr(reference, "train", refuse)

    return arm


def test_a_repeated_training_is_read_back_bit_for_bit(tmp_path, refusing_torch):
    cached = torch_cache.wrap(reference, tmp_path)
    first = train(cached)
    assert_same(first, train(reference))
    refusing_torch()
    assert_same(train(cached), first)
    assert_same(train(torch_cache.wrap(reference, tmp_path)), first)  # another process's cache object


@pytest.mark.parametrize(
    "change", [dict(seed=1), dict(lr=0.5), dict(dtype="float64"), dict(max_norm=None), dict(epochs=21)]
)
def test_any_other_argument_is_a_miss(tmp_path, refusing_torch, change):
    cached = torch_cache.wrap(reference, tmp_path)
    train(cached)
    refusing_torch()
    with pytest.raises(AssertionError, match="torch ran"):
        train(cached, **change)


def test_the_fingerprint_follows_the_reference_source_and_torch_threads(tmp_path, monkeypatch):
    import torch

    package = tmp_path / "fake_reference"
    package.mkdir()
    (package / "__init__.py").write_text("def train(): return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_reference

    before = torch_cache.fingerprint(fake_reference)
    assert torch_cache.fingerprint(fake_reference) == before
    (package / "__init__.py").write_text("def train(): return 2\n")
    assert torch_cache.fingerprint(fake_reference) != before
    edited = torch_cache.fingerprint(fake_reference)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert torch_cache.fingerprint(fake_reference) != edited
    finally:
        torch.set_num_threads(threads)
    sys.modules.pop("fake_reference", None)


def test_off_is_the_reference_itself_and_other_calls_pass_through(tmp_path):
    assert torch_cache.wrap(reference, "") is reference
    assert torch_cache.wrap(reference, None) is reference
    cached = torch_cache.wrap(reference, tmp_path)
    assert cached.network is reference.network
    assert cached.PARAM_NAMES == reference.PARAM_NAMES


def test_an_error_is_raised_every_time_and_never_kept(tmp_path):
    cached = torch_cache.wrap(reference, tmp_path)
    for _ in range(2):
        with pytest.raises(ValueError, match="epochs must be >= 0"):
            train(cached, epochs=-1)
