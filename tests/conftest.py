import os

import numpy as np
import pytest
import torch

# Two cores: keep torch from oversubscribing them.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _doctest_tmpdir(request, tmp_path, monkeypatch):
    """Doctests run in a temporary working directory."""
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(tmp_path)
    yield
