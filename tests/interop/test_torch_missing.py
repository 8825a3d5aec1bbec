"""Without torch, a torch module cannot be given, and the error says how to install torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import snnc
from snnc.errors import UsageError


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails, as where it is not installed
    with pytest.raises(UsageError, match="pip install torch"):
        snnc.import_torch(object(), np.zeros((1, 3), np.float32))
