import numpy as np
import pytest

from sklearn_contig.data import from_arrays


def toy_cohort(n=96, size=16, eyes=1, seed=0, missing_burden=0.3):
    """Images whose mean colour follows the first PGS: enough structure to learn."""
    rng = np.random.default_rng(seed)
    n_ind = n // eyes
    pgs = rng.normal(size=(n_ind, 6)).astype(np.float32)
    burden = rng.poisson(1.0, size=(n_ind, 4)).astype(np.float32)
    burden[rng.random(n_ind) < missing_burden] = np.nan
    base = 127 + 40 * np.tanh(pgs[:, :3])  # (n_ind, 3) channel means
    ind = np.repeat(np.arange(n_ind), eyes)
    img = base[ind][:, :, None, None] + rng.normal(0, 20, size=(n, 3, size, size))
    img = np.clip(img, 0, 255).astype(np.uint8)
    ids = np.array([f"p{i}" for i in ind])
    sample_ids = ids if eyes == 1 else np.array([f"p{i}_{'LR'[k % 2]}" for k, i in enumerate(ind)])
    return from_arrays(img, pgs=pgs[ind], burden=burden[ind], sample_ids=sample_ids, individual_ids=ids)


FAST = dict(image_encoder="resnet18", batch_size=16, max_epochs=2, hidden_dim=32, projection_dim=8,
            verbose=0, random_state=0)


@pytest.fixture(scope="session")
def cohort():
    return toy_cohort()


@pytest.fixture(scope="session")
def make_toy():
    return toy_cohort


@pytest.fixture(scope="session")
def fast():
    return dict(FAST)
