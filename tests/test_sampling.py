"""Subsampling and negative-sampling tables against their formulas."""

import numpy as np
import pytest

from sparkw2v.kernel import KernelParams, train_shard
from sparkw2v.sampling import keep_probabilities, negative_distribution, negative_table


def test_keep_probability_formula():
    counts = np.array([10_000, 1_000, 100, 1])
    total = counts.sum()
    t = 1e-3 * total
    expected = np.minimum((np.sqrt(counts / t) + 1) * t / counts, 1.0)
    np.testing.assert_allclose(keep_probabilities(counts, 1e-3), expected, rtol=1e-6)
    assert keep_probabilities(counts, 1e-3)[-1] == 1.0
    np.testing.assert_array_equal(keep_probabilities(counts, 0), 1.0)


def test_negative_table_follows_count_power():
    counts = np.array([1000, 200, 50, 5, 1])
    p = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(negative_distribution(counts, 0.75), p)
    table = negative_table(counts, 0.75, size=100_000)
    assert table.size == 100_000
    np.testing.assert_allclose(np.bincount(table, minlength=5) / table.size, p, atol=1e-5)
    # Drawing uniformly from the table: empirical frequencies within 4 standard errors.
    draws = table[np.random.default_rng(0).integers(0, table.size, 200_000)]
    freq = np.bincount(draws, minlength=5) / draws.size
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / draws.size) + 1e-12)


def test_every_word_keeps_a_slot_and_exponent_zero_is_uniform():
    counts = np.array([10**9, 1, 1])
    table = negative_table(counts, 0.75, size=1000)
    assert set(np.unique(table)) == {0, 1, 2}
    uniform = negative_table(np.array([100, 10, 1]), 0.0, size=300)
    assert list(np.bincount(uniform)) == [100, 100, 100]


def test_kernel_subsamples_at_the_formula_rate():
    """Words kept by the kernel match keep_probabilities (binomial tolerance)."""
    counts = np.array([50_000, 5_000, 500])
    tokens = np.repeat(np.arange(3, dtype=np.int32), counts)
    np.random.default_rng(0).shuffle(tokens)
    starts = np.arange(0, tokens.size + 1, 100, dtype=np.int64)
    keep = keep_probabilities(counts, 1e-3)
    w = np.zeros((3, 2), np.float32)
    stats = train_shard(w, w.copy(), tokens, starts, keep, negative_table(counts, 0.75, 1000),
                        KernelParams(window=1, negative=1), 0.0, 0.0, np.random.default_rng(3))
    expected = float((keep * counts).sum())
    sd = float(np.sqrt((keep * (1 - keep) * counts).sum()))
    assert stats.kept_words == pytest.approx(expected, abs=4 * sd)


def test_a_large_exponent_gives_a_finite_distribution():
    from sparkw2v.sampling import negative_distribution
    p = negative_distribution(np.array([10**9, 10**6, 5]), 10.0)          # 1e90: past float64 at 100
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0) and p[0] > 0.999
    p = negative_distribution(np.array([10**9, 10**6, 5]), 100.0)
    assert np.isfinite(p).all() and p[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="finite exponent"):
        negative_distribution(np.array([3, 2]), float("inf"))
