"""The batched echo-state network: init, spectral radius, numpy reference, validation."""

import numpy as np
import pytest
import torch

from metarl_gym.envs.echo_state import EchoStateNetwork
from helpers import esn_row_matrices as row_matrices, esn_update


@pytest.mark.parametrize("sr", [0.05, 0.9, 1.5, 25.0])
def test_spectral_radius(sr):
    esn = EchoStateNetwork(5, 2, units=100, spectral_radius=sr, seed=3)
    rho = torch.linalg.eigvals(esn.recurrent_matrix(0).double()).abs().max().item()
    assert abs(rho - sr) < 1e-3


def test_init_densities_and_seed():
    esn = EchoStateNetwork(7, 1, units=60, rc_connectivity=0.2, input_connectivity=0.3, bias_scaling=0.5, input_scaling=2.0, seed=0)
    assert int((esn.W != 0).sum()) == round(0.2 * 60 * 60)
    assert int((esn.W_in != 0).sum()) == round(0.3 * 60 * 7)
    assert set(esn.W_in.unique().tolist()) == {-1.0, 0.0, 1.0}
    assert set(esn.input_matrix(0).unique().tolist()) == {-2.0, 0.0, 2.0}
    assert set(esn.bias.unique().tolist()) <= {-0.5, 0.0, 0.5}
    assert int((esn.bias != 0).sum()) == round(0.3 * 60)
    same = EchoStateNetwork(7, 1, units=60, rc_connectivity=0.2, input_connectivity=0.3, seed=0)
    other = EchoStateNetwork(7, 1, units=60, rc_connectivity=0.2, input_connectivity=0.3, seed=1)
    assert torch.equal(esn.W, same.W) and torch.equal(esn.W_in, same.W_in)
    assert not torch.equal(esn.W, other.W)


def test_batched_equals_numpy_reference_with_per_row_hyperparameters():
    n, d, units = 5, 4, 30
    sr = torch.tensor([0.1, 0.5, 0.9, 1.2, 2.0])
    lr = torch.tensor([1.0, 0.5, 0.3, 0.1, 0.05])
    iss = torch.tensor([0.1, 1.0, 2.0, 0.5, 5.0])
    esn = EchoStateNetwork(d, n, units=units, spectral_radius=sr, leak_rate=lr, input_scaling=iss, seed=0)
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(60, n, d))
    ref = np.zeros((n, units))
    for t in range(60):
        out = esn.step(torch.as_tensor(inputs[t], dtype=torch.float32)).double().numpy()
        for i in range(n):
            ref[i] = esn_update(ref[i], inputs[t, i], *row_matrices(esn, i))
        np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(units=0), r"units must be a positive integer"),
        (dict(units=-3), r"units must be a positive integer"),
        (dict(spectral_radius=0.0), r"spectral_radius must be in \(0.0, inf\)"),
        (dict(spectral_radius=-1.0), r"spectral_radius must be in \(0.0, inf\)"),
        (dict(leak_rate=0.0), r"leak_rate must be in \(0.0, 1.0\]"),
        (dict(leak_rate=1.5), r"leak_rate must be in \(0.0, 1.0\]"),
        (dict(rc_connectivity=0.0), r"rc_connectivity must be in \(0, 1\]"),
        (dict(rc_connectivity=1.2), r"rc_connectivity must be in \(0, 1\]"),
        (dict(input_connectivity=0.0), r"input_connectivity must be in \(0, 1\]"),
        (dict(input_scaling=-1.0), r"input_scaling must be in \(0.0, inf\)"),
        (dict(spectral_radius=[0.5, 0.5, 0.5]), r"one value per row"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EchoStateNetwork(4, 2, **{"units": 10, **kwargs})

