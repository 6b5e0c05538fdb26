# Copyright (c) mmkd contributors. All rights reserved.
import io
import random

import numpy as np
import pytest
import torch

from mmkd.utils.random_states import get_random_states, set_random_states


def draws(device='cpu'):
    return (torch.rand(3), torch.randn(4, device=device),
            torch.tensor(np.random.rand(2)), torch.tensor(random.random()),
            torch.nn.functional.dropout(torch.ones(64, device=device), 0.5))


@pytest.mark.parametrize('device', [
    'cpu',
    pytest.param(
        'cuda',
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason='needs a GPU'))
])
def test_states_survive_a_checkpoint(device):
    """Saved, loaded with weights_only (onto the GPU, as MMEngine resumes)
    and restored, the generators draw again what they drew after saving."""
    buffer = io.BytesIO()
    torch.save(get_random_states(), buffer)
    expected = draws(device)
    draws(device)
    buffer.seek(0)
    set_random_states(
        torch.load(buffer, weights_only=True, map_location=device))
    for a, b in zip(expected, draws(device)):
        assert torch.equal(a, b)
