"""metarl_gym.keys: the counter-based generator behind one-answer-per-individual evaluations."""

import math

import pytest
import torch

from metarl_gym import keys as rk

MASK64 = 2**64 - 1


def splitmix64(state: int) -> int:
    """Steele, Lea & Flood's SplitMix64 output for a state (pure Python reference)."""
    z = (state + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def test_bits_are_splitmix64_streams():
    keys = torch.tensor([0, 1, -5, 2**62 + 7])
    got = rk.bits(keys, 4)
    for i, k in enumerate(keys.tolist()):
        expected = [splitmix64((k + c * 0x9E3779B97F4A7C15) & MASK64) for c in range(4)]
        assert [int(v) & MASK64 for v in got[i]] == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_uniform_layout_range_and_moments(dtype):
    keys = rk.row_keys(3, 5000)
    u = rk.uniform(keys, (3, 7), dtype)
    assert u.shape == (5000, 3, 7) and u.dtype == dtype
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.002
    bits = rk.bits(keys, 21 if dtype == torch.float64 else 11)
    flat = u.reshape(5000, 21)
    if dtype == torch.float64:
        torch.testing.assert_close(flat, rk._shr(bits, 11).double() * 2.0**-53, rtol=0, atol=0)
    else:  # two numbers per hash: the high 24 bits, then the low-middle 24 bits
        torch.testing.assert_close(flat[:, :11], rk._shr(bits, 40).float() * 2.0**-24, rtol=0, atol=0)
        torch.testing.assert_close(flat[:, 11:], (rk._shr(bits, 8) & 0xFFFFFF)[:, :10].float() * 2.0**-24, rtol=0, atol=0)


def test_a_row_draws_the_same_in_any_batch():
    """Chunking (CPU_CHUNK hashes at a time) never changes a row's numbers."""
    keys = rk.row_keys(1, 3000)
    big = rk.uniform(keys, 40)
    for i in (0, 409, 410, 2999):  # rows on both sides of a chunk boundary (16,384 // 20 hashes = 819 rows)
        assert torch.equal(rk.uniform(keys[i : i + 1], 40)[0], big[i])
    assert torch.equal(rk.normal(keys[5:6], 9)[0], rk.normal(keys, 9)[5])


def test_normal_moments_and_key_order():
    z = rk.normal(rk.row_keys(0, 20000), 10)
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01 and torch.isfinite(z).all()
    assert not torch.equal(rk.key(1, 2), rk.key(2, 1))
    assert len(set(rk.key(torch.arange(3), torch.arange(3)).tolist())) == 3  # key(a, a) is no fixed point
    assert rk.key(7, torch.arange(4)).shape == (4,)


def test_row_keys_slices_agree():
    """Individuals keyed by a tensor give the rows an int seed gives: the slicing of a population is irrelevant."""
    whole = rk.row_keys(11, 6, copies=3)
    individuals = rk.key(11, torch.arange(6))
    assert torch.equal(rk.row_keys(individuals[2:5], 3, copies=3), whole[6:15])
    with pytest.raises(ValueError, match="one int64 key per individual"):
        rk.row_keys(torch.zeros(2), 2)
    assert math.isfinite(float(rk.uniform(rk.random_keys(3), 2).sum()))
