"""pytest parametrizations the parity suites share, built from the catalogue (``parity.catalogue``)."""

from __future__ import annotations

import numpy as np
import pytest

from parity import catalogue

#: every parity check's dtype, as the NumPy scalar type, with its name as the test id
DTYPES = [pytest.param(np.dtype(name).type, id=name) for name in catalogue.DTYPES]
