# Copyright (c) mmkd contributors. All rights reserved.
"""The random generators a training process draws from, as checkpointable
data (ints, tuples and tensors, which ``torch.load(weights_only=True)``
reads)."""
import random
from typing import Dict

import numpy as np
import torch

__all__ = ['get_random_states', 'set_random_states']


def get_random_states() -> Dict:
    """The states of Python's ``random``, NumPy's global generator, torch's
    CPU generator and, when CUDA is available, the current CUDA device's.

    Returns:
        dict: ``python``, ``numpy``, ``torch`` and maybe ``cuda``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = dict(
        python=random.getstate(),
        numpy=dict(
            kind=kind,
            keys=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state()
    return states


def set_random_states(states: Dict) -> None:
    """Restore what :func:`get_random_states` returned.

    A ``cuda`` state is restored only where CUDA is available. The tensors
    may be on any device (MMEngine resumes with ``map_location`` set to the
    GPU); generators take CPU tensors.
    """
    version, internal, gauss = states['python']
    random.setstate((version, tuple(internal), gauss))
    np_state = states['numpy']
    np.random.set_state(
        (np_state['kind'], np_state['keys'].cpu().numpy().astype(np.uint32),
         np_state['pos'], np_state['has_gauss'],
         np_state['cached_gaussian']))
    torch.set_rng_state(states['torch'].cpu())
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state(states['cuda'].cpu())
