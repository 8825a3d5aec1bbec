import os

import numpy as np
import pytest

os.environ.setdefault("SNNC_VERIFY", "1")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
