from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These models are tiny: intra-op threads buy nothing, and two threads per process under
    pytest-xdist (or beside other jobs) oversubscribe the cores and slow torch many times over."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def quiet():
    from netc.train.progress import Progress

    return Progress(enabled=False)
