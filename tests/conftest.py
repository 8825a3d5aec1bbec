import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("SNNC_VERIFY", "1")
# Object code compiled by tests goes to a private cache, shared by the whole session.
os.environ.setdefault("SNNC_CACHE_DIR", tempfile.mkdtemp(prefix="snnc-test-cache-"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def family_data() -> np.ndarray:
    """Inputs for the small accel-family networks (tests/targets/accel/conftest.py)."""
    return np.random.default_rng(1).uniform(0, 1, (24, 3, 9, 9)).astype(np.float32)
