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
