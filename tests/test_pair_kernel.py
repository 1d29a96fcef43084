"""The stratified strategy's pair kernel without Spark: pairs as word2vec.c forms them,
gradient checks, the repeat cap, and planted structure."""

import numpy as np

from sparkw2v.pair_kernel import skipgram_pairs, train_pairs
from sparkw2v.sampling import negative_table

from .test_kernel import neighbours_in_own_group, numeric_gradient, planted_corpus


def test_pairs_are_in_sentence_neighbours_centre_by_centre():
    tokens = np.arange(7, dtype=np.int32)
    starts = np.array([0, 4, 7])
    x, y, kept = skipgram_pairs(tokens, starts, np.ones(7, np.float32), 1, np.random.default_rng(0))
    assert kept == 7
    assert list(zip(x, y)) == [(1, 0), (0, 1), (2, 1), (1, 2), (3, 2), (2, 3),
                               (5, 4), (4, 5), (6, 5), (5, 6)]
    x, y, kept = skipgram_pairs(tokens, starts, np.zeros(7, np.float32), 3, np.random.default_rng(0))
    assert x.size == 0 and kept == 0


def test_pair_step_is_gradient_ascent_on_the_log_likelihood():
    rng = np.random.default_rng(3)
    w_in = rng.normal(0, 0.3, (4, 5)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (4, 5)).astype(np.float32)
    x, y, table = np.array([1], np.int32), np.array([2], np.int32), np.array([0, 3], np.int32)
    negs = table[np.random.default_rng(9).integers(0, 2, size=(1, 2))][0]

    def loss():  # the pair's negative log-likelihood with the negatives the kernel will draw
        h, o = w_in[1].astype(np.float64), w_out.astype(np.float64)
        return -(np.log(1 / (1 + np.exp(-h @ o[2]))) + sum(np.log(1 / (1 + np.exp(h @ o[n]))) for n in negs))
    grad_in, grad_out = numeric_gradient(loss, w_in), numeric_gradient(loss, w_out)
    before_in, before_out = w_in.copy(), w_out.copy()
    alpha = 0.01
    train_pairs(w_in, w_out, x, y, table, 2, alpha, alpha, np.random.default_rng(9))
    np.testing.assert_allclose(w_in - before_in, -alpha * grad_in, atol=1e-6)
    np.testing.assert_allclose(w_out - before_out, -alpha * grad_out, atol=1e-6)


def test_pair_kernel_repeat_cap_scales_a_rows_summed_updates_to_cap_over_repeats():
    """Eight pairs of one step share their input row: capped at 2, that row moves by 2/8 of the
    plain sum, and a row below the cap (each output) moves as without one."""
    rng = np.random.default_rng(5)
    w_in = rng.normal(0, 0.3, (10, 4)).astype(np.float32)
    w_out = rng.normal(0, 0.3, (10, 4)).astype(np.float32)
    x, y = np.full(8, 1, np.int32), np.arange(2, 10, dtype=np.int32)
    table = np.array([0], np.int32)  # every negative is row 0, repeated 8 times too
    moved = []
    for cap in (0, 2):
        a, b = w_in.copy(), w_out.copy()
        train_pairs(a, b, x, y, table, 1, 0.05, 0.05, np.random.default_rng(2), step_pairs=8, repeat_cap=cap)
        moved.append((a - w_in, b - w_out))
    (in_sum, out_sum), (in_cap, out_cap) = moved
    np.testing.assert_allclose(in_cap[1], in_sum[1] * 2 / 8, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out_cap[0], out_sum[0] * 2 / 8, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out_cap[2:], out_sum[2:], rtol=1e-6)
    assert np.abs(in_sum[1]).max() > 0


def test_pair_kernel_lowers_the_loss_and_separates_planted_groups():
    rng = np.random.default_rng(1)
    tokens, starts, counts, group_of = planted_corpus(rng)
    w_in = ((rng.random((counts.size, 16)) - 0.5) / 16).astype(np.float32)
    w_out = np.zeros_like(w_in)
    table = negative_table(counts, 0.75, size=10_000)
    losses = []
    for _ in range(6):
        x, y, _ = skipgram_pairs(tokens, starts, np.ones(counts.size, np.float32), 3, rng)
        stats = train_pairs(w_in, w_out, x, y, table, 4, 0.025, 0.025, rng, step_pairs=16)
        assert stats.examples == x.size
        losses.append(stats.mean_loss)
    assert losses[-1] < losses[0] - 0.1
    assert neighbours_in_own_group(w_in, group_of) == 1.0


def test_a_window_far_beyond_the_sentences_takes_every_in_sentence_pair_at_once():
    """A window of a billion costs what the sentences' lengths do: every word pairs with every
    other word of its sentence (a reduced window below a sentence's reach is drawn once in 10^8)."""
    tokens = np.arange(7, dtype=np.int32)
    starts = np.array([0, 4, 7])
    x, y, _ = skipgram_pairs(tokens, starts, np.ones(7, np.float32), 10 ** 9, np.random.default_rng(0))
    every = [(c, w) for sentence in ([0, 1, 2, 3], [4, 5, 6]) for w in sentence for c in sentence if c != w]
    assert sorted(zip(x.tolist(), y.tolist())) == sorted(every)
