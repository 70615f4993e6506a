"""Wiring only: thread pinning before numpy loads, the parity plugin, and the project's fixtures.

The logic lives in ``parity/`` (comparison, tolerance, reports, seam), each with tests of its own.
"""

import pytest

from parity.environment import pin_thread_variables

pin_thread_variables()  # must precede the first numpy import of any test module

from parity.property_harness import register_profiles  # noqa: E402  (imports numpy: after the pinning)

# hypothesis: dev, or ci when CI is set; --hypothesis-profile=thorough for many more examples
register_profiles()

pytest_plugins = ("parity.plugin", "pytester")


@pytest.fixture(scope="session")
def torch_ref(pytestconfig):
    """The torch reference, with torch pinned to the harness's thread count (its training runs kept in
    --parity-torch-cache when given)."""
    import reference
    from parity import torch_cache
    from parity.environment import THREADS

    reference.set_threads(THREADS)
    cache = pytestconfig.getoption("--parity-torch-cache")
    return torch_cache.wrap(reference, cache and pytestconfig.invocation_params.dir / cache)
