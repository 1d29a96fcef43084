"""The NumPy window kernel without Spark: gradients, loss, steps drawn ahead, planted structure."""

import numpy as np
import pytest

from sparkw2v import kernel
from sparkw2v.kernel import KernelParams, KernelStats, cbow_step, skipgram_group_step, skipgram_step, train_shard
from sparkw2v.sampling import keep_probabilities, negative_table


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_loss(w_in, w_out, centre, contexts, valid, negatives, sg, weight=1.0):
    """Binary cross-entropy of one step, written as plain loops (the independent reference).

    ``negatives`` has one row per group of ``ceil(len(centre) / len(negatives))`` consecutive
    centres; each negative term counts ``weight`` times."""
    total = 0.0
    per = -(-len(centre) // len(negatives))
    for m in range(len(centre)):
        ctx = [contexts[m, j] for j in range(contexts.shape[1]) if valid[m, j]]
        outs = [(centre[m], 1.0, 1.0)] + [(n, 0.0, weight) for n in negatives[m // per] if n != centre[m]]
        inputs = [w_in[c] for c in ctx] if sg else [np.mean([w_in[c] for c in ctx], axis=0)]
        for h in inputs:
            for o, label, w in outs:
                p = _sigmoid(h @ w_out[o])
                total -= w * np.log(p if label else 1.0 - p)
    return total


def numeric_gradient(f, w, eps=1e-4):
    grad = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        old = w[idx]
        w[idx] = old + eps
        up = f()
        w[idx] = old - eps
        down = f()
        w[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("sg", [True, False])
def test_step_is_gradient_descent_on_the_loss(sg):
    """One step moves every row by -alpha * dLoss/drow, repeated rows included."""
    rng = np.random.default_rng(0)
    vocab, dim = 7, 4
    w_in = rng.normal(0, 0.5, (vocab, dim))
    w_out = rng.normal(0, 0.5, (vocab, dim))
    centre = np.array([0, 3, 0])                      # word 0 is a centre twice
    contexts = np.array([[1, 2, 3, 1], [4, 0, 5, 6], [2, 2, 6, 5]])  # row 2 repeats a context
    valid = np.array([[True, True, True, False], [True, True, True, True], [True, True, True, False]])
    negatives = np.array([[4, 5], [3, 1], [6, 0]])    # 3 == centre 3: skipped like word2vec.c
    grad_in = numeric_gradient(lambda: reference_loss(w_in, w_out, centre, contexts, valid, negatives, sg), w_in)
    grad_out = numeric_gradient(lambda: reference_loss(w_in, w_out, centre, contexts, valid, negatives, sg), w_out)

    a_in, a_out = w_in.astype(np.float32), w_out.astype(np.float32)
    stats = KernelStats(in_updates=np.zeros(vocab, np.int64), out_updates=np.zeros(vocab, np.int64))
    alpha = np.float32(0.1)
    step = skipgram_step if sg else cbow_step
    step(a_in, a_out, centre, contexts, valid, negatives, alpha, True, stats)
    assert stats.loss_examples == (valid.sum() if sg else len(centre))

    # CBOW adds the error of the mean h to every context row undivided (word2vec.c does), i.e.
    # len(context) times the true gradient of that centre's loss; check it centre by centre.
    expected_in = -alpha * grad_in
    if not sg:
        expected_in = np.zeros_like(grad_in)
        for m in range(len(centre)):
            single = (centre[m:m + 1], contexts[m:m + 1], valid[m:m + 1], negatives[m:m + 1])
            g = numeric_gradient(lambda: reference_loss(w_in, w_out, *single, sg=False), w_in)
            expected_in += -alpha * g * valid[m].sum()
    np.testing.assert_allclose(a_in - w_in, expected_in, atol=2e-5, rtol=1e-3)
    np.testing.assert_allclose(a_out - w_out, -alpha * grad_out, atol=2e-5, rtol=1e-3)
    loss = reference_loss(w_in, w_out, centre, contexts, valid, negatives, sg)
    assert stats.loss_sum == pytest.approx(loss, rel=1e-4)


@pytest.mark.parametrize("sg", [True, False])
def test_step_with_negatives_shared_by_groups_of_centres(sg):
    """Groups of centres sharing S weighted negatives: still exact gradient descent on that loss,
    including a padded last group and a shared negative equal to one of the group's centres."""
    rng = np.random.default_rng(3)
    vocab, dim = 9, 4
    w_in = rng.normal(0, 0.5, (vocab, dim))
    w_out = rng.normal(0, 0.5, (vocab, dim))
    centre = np.array([0, 3, 5, 0, 8])
    contexts = rng.integers(0, vocab, (5, 4))
    valid = rng.random((5, 4)) < 0.8
    valid[:, 0] = True
    negatives = np.array([[4, 3, 6], [1, 0, 7]])      # groups: centres 0-2 and 3-4 (padded)
    weight = 5 / 3
    f = lambda: reference_loss(w_in, w_out, centre, contexts, valid, negatives, sg, weight)  # noqa: E731
    grad_in, grad_out = numeric_gradient(f, w_in), numeric_gradient(f, w_out)
    a_in, a_out = w_in.astype(np.float32), w_out.astype(np.float32)
    stats = KernelStats(in_updates=np.zeros(vocab, np.int64), out_updates=np.zeros(vocab, np.int64))
    alpha = np.float32(0.1)
    (skipgram_group_step if sg else cbow_step)(a_in, a_out, centre, contexts, valid, negatives, alpha, True,
                                               stats, weight=np.float32(weight))
    np.testing.assert_allclose(a_out - w_out, -alpha * grad_out, atol=2e-5, rtol=1e-3)
    if sg:
        np.testing.assert_allclose(a_in - w_in, -alpha * grad_in, atol=2e-5, rtol=1e-3)
    assert stats.loss_sum == pytest.approx(f(), rel=1e-4)


def planted_corpus(rng, groups=2, words_per_group=8, sentences=600, length=8):
    """Sentences drawn from one topic group each; returns (tokens, starts, counts, group of word)."""
    vocab = groups * words_per_group
    group_of = np.repeat(np.arange(groups), words_per_group)
    parts = [rng.integers(0, words_per_group, length) + words_per_group * rng.integers(groups)
             for _ in range(sentences)]
    tokens = np.concatenate(parts).astype(np.int32)
    starts = np.arange(0, tokens.size + 1, length, dtype=np.int64)
    return tokens, starts, np.bincount(tokens, minlength=vocab), group_of


def neighbours_in_own_group(w_in, group_of, k=3):
    normed = w_in / np.linalg.norm(w_in, axis=1, keepdims=True)
    sims = normed @ normed.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]
    return np.mean(group_of[top] == group_of[:, None])


@pytest.mark.parametrize("shared", [(1, 0), (8, 8)], ids=["per-centre", "shared-by-8"])
@pytest.mark.parametrize("sg", [True, False])
def test_loss_goes_down_and_planted_groups_separate(sg, shared):
    rng = np.random.default_rng(1)
    tokens, starts, counts, group_of = planted_corpus(rng)
    dim = 16
    w_in = ((rng.random((counts.size, dim)) - 0.5) / dim).astype(np.float32)
    w_out = np.zeros_like(w_in)
    params = KernelParams(sg=sg, window=3, negative=4, chunk_words=256, shared_by=shared[0],
                          shared_draws=shared[1])
    keep, table = keep_probabilities(counts, 0), negative_table(counts, 0.75, size=10_000)
    losses = []
    for epoch in range(6):
        alpha = 0.025 if sg else 0.05
        stats = train_shard(w_in, w_out, tokens, starts, keep, table, params, alpha, alpha, rng)
        losses.append(stats.mean_loss)
        assert stats.words == tokens.size
    assert losses[-1] < losses[0] - 0.1
    assert np.all(np.isfinite(w_in))
    assert neighbours_in_own_group(w_in, group_of) == 1.0


@pytest.mark.parametrize("sg", [True, False])
def test_steps_drawn_ahead_cover_every_centre_with_its_own_window_and_rate(sg, monkeypatch):
    """With word id = corpus position, every drawn step can be checked against the corpus: each
    word is a centre exactly once, contexts are in-sentence neighbours within the window, and
    each chunk trains at the learning rate of its first word's progress."""
    taken = []
    name = "_train_skipgram_blocks" if sg else "_train_cbow_blocks"
    monkeypatch.setattr(kernel, name, lambda w_in, w_out, blocks, params, stats, steps, rates=None: taken.extend(blocks) or steps)
    lengths = np.array([5, 1, 7, 3, 9, 2, 6, 4, 8, 5, 3, 7] * 3)
    tokens = np.arange(lengths.sum(), dtype=np.int32)
    starts = np.concatenate(([0], np.cumsum(lengths)))
    sentence_of = np.repeat(np.arange(lengths.size), lengths)
    w = np.zeros((tokens.size, 2), np.float32)
    params = KernelParams(sg=sg, window=3, negative=2, chunk_words=12, shared_by=1 if sg else 4,
                          shared_draws=0 if sg else 3)
    train_shard(w, w.copy(), tokens, starts, np.ones(tokens.size, np.float32), np.arange(5, dtype=np.int32),
                params, 0.5, 0.1, np.random.default_rng(0))
    chunk_starts = starts[kernel.chunk_bounds(starts, 12)]
    centres = []
    for block in taken:
        alpha = block[-1]
        if sg:
            outs = block[0]
        else:  # (centres, negatives of each group of 4 centres, context rows, contexts per centre, alpha)
            outs = block[0][:, None]
            assert block[1].shape == (-(-outs.size // 4), 3)
        centres.extend(outs[:, 0])
        if sg:
            contexts, valid = block[1], block[2]
            width = contexts.shape[1] // 2
            offsets = np.concatenate((np.arange(-width, 0), np.arange(1, width + 1)))
            expected = outs[:, :1] + offsets
            inside = (expected >= 0) & (expected < tokens.size)
            inside[inside] = sentence_of[expected[inside]] == np.repeat(sentence_of[outs[:, 0]], 2 * width)[
                inside.ravel()]
            np.testing.assert_array_equal(valid, inside)
            np.testing.assert_array_equal(contexts[valid], expected[valid])
        else:
            ctx, per_centre = block[2], block[3]
            owner = np.repeat(outs[:, 0], per_centre)
            assert np.all(sentence_of[ctx] == sentence_of[owner]) and np.all(ctx != owner)
            assert np.all(np.abs(ctx - owner) <= 3)
        first = chunk_starts[np.searchsorted(chunk_starts, outs[:, 0], side="right") - 1]
        assert np.allclose(alpha, 0.5 + (0.1 - 0.5) * first / tokens.size)
    single = tokens[lengths[sentence_of] == 1]
    np.testing.assert_array_equal(np.sort(centres), np.setdiff1d(tokens, single))


def test_empty_shard_is_a_no_op():
    w_in, w_out = np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)
    stats = train_shard(w_in, w_out, np.zeros(0, np.int32), np.zeros(1, np.int64),
                        np.ones(3, np.float32), np.arange(3, dtype=np.int32), KernelParams(), 0.025, 0.0,
                        np.random.default_rng(0))
    assert stats.words == 0 and stats.examples == 0
    assert np.all(w_in == 1) and np.all(w_out == 0)


def test_same_seed_same_result():
    rng = np.random.default_rng(2)
    tokens, starts, counts, _ = planted_corpus(rng, sentences=50)
    keep, table = keep_probabilities(counts, 1e-2), negative_table(counts, 0.75, size=1000)
    results = []
    for _ in range(2):
        w_in = np.full((counts.size, 4), 0.01, np.float32)
        w_out = np.zeros_like(w_in)
        train_shard(w_in, w_out, tokens, starts, keep, table, KernelParams(window=2), 0.025, 0.001,
                    np.random.default_rng(7))
        results.append(w_in)
    np.testing.assert_array_equal(results[0], results[1])


def test_cbow_step_with_more_groups_than_centres_leaves_the_extra_groups_untouched():
    """Two centres, three groups of negatives: the third group scores padding only and adds nothing."""
    rng = np.random.default_rng(6)
    vocab, dim = 8, 3
    w_in, w_out = rng.normal(0, 0.5, (vocab, dim)), rng.normal(0, 0.5, (vocab, dim))
    centre = np.array([0, 1])
    contexts, valid = np.array([[2, 3], [4, 2]]), np.ones((2, 2), bool)
    negatives = np.array([[5], [6], [7]])
    f = lambda: reference_loss(w_in, w_out, centre, contexts, valid, negatives[:2], False)  # noqa: E731
    grad_out = numeric_gradient(f, w_out)
    a_in, a_out = w_in.astype(np.float32), w_out.astype(np.float32)
    stats = KernelStats(in_updates=np.zeros(vocab, np.int64), out_updates=np.zeros(vocab, np.int64))
    cbow_step(a_in, a_out, centre, contexts, valid, negatives, np.float32(0.1), True, stats)
    np.testing.assert_allclose(a_out - w_out, -0.1 * grad_out, atol=2e-5, rtol=1e-3)
    np.testing.assert_array_equal(a_out[7], w_out[7].astype(np.float32))
    assert stats.loss_sum == pytest.approx(f(), rel=1e-4)


@pytest.mark.parametrize("sg", [True, False])
def test_a_window_far_beyond_the_sentences_trains_every_in_sentence_pair(sg):
    """``window`` of a billion: each centre meets every word of its sentence, in steps as wide as
    the sentences (not a billion), so it trains as fast as a window of their length."""
    lengths = np.array([4, 3, 6, 2] * 20)
    tokens = (np.arange(lengths.sum()) % 7).astype(np.int32)
    starts = np.concatenate(([0], np.cumsum(lengths)))
    w_in = np.full((7, 4), 0.01, np.float32)
    stats = train_shard(w_in, np.zeros_like(w_in), tokens, starts, np.ones(7, np.float32),
                        np.arange(7, dtype=np.int32), KernelParams(sg=sg, window=10 ** 9, negative=2, chunk_words=64),
                        0.025, 0.001, np.random.default_rng(0))
    pairs = int((lengths * (lengths - 1)).sum())
    assert stats.examples == (pairs if sg else lengths.sum()) and np.all(np.isfinite(w_in))


@pytest.mark.parametrize("sg", [True, False])
def test_a_diverging_shard_trains_to_non_finite_values_without_numpy_warnings(sg):
    """At a rate far too high the vectors overflow; the kernel says nothing (the run stops on the
    non-finite loss with one line, training.DivergedError), where NumPy would warn per step."""
    import warnings
    rng = np.random.default_rng(1)
    tokens, starts, counts, _ = planted_corpus(rng)
    w_in = ((rng.random((counts.size, 16)) - 0.5) / 16).astype(np.float32)
    w_out = np.zeros_like(w_in)
    keep, table = keep_probabilities(counts, 0), negative_table(counts, 0.75, size=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            train_shard(w_in, w_out, tokens, starts, keep, table, KernelParams(sg=sg, window=3, chunk_words=256),
                        1e6, 1e6, rng)
    assert not np.all(np.isfinite(w_in))
