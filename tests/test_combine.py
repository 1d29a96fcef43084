"""Combining shards: packing, partition-order sums on the driver or the executors, and the combine
rules (Spark for the last test only)."""

import numpy as np
import pytest

from sparkw2v import combine


def test_shipped_blocks_carry_only_updated_rows_as_float16():
    """A packed block unpacks to count x change on updated rows (float16 times a per-row scale:
    within 1/2048 of the row's largest change), zeros elsewhere, and the touched flags; "sum"
    unpacks the plain change."""
    rng = np.random.default_rng(0)
    n_in = np.array([0, 3, 0, 1], np.float32)
    n_out = np.array([2, 0, 0, 5], np.float32)
    d_in, d_out = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)
    d_in[3] *= 1e-6                       # a rare word's tiny change: scaled, not lost to subnormals
    packed = combine.pack_block(n_in, n_out, d_in, d_out, weighted=True)
    assert packed.delta_in.dtype == np.float16 and packed.delta_in.shape == (2, 3)
    got_n_in, got_n_out, touched, w_in, w_out = combine.unpack_block(packed)
    np.testing.assert_array_equal(touched, [[0, 1, 0, 1], [1, 0, 0, 1]])
    row_max = np.abs(d_in).max(axis=1, keepdims=True)
    assert np.all(np.abs(w_in - d_in * n_in[:, None]) <= row_max * n_in[:, None] / 2048)
    row_max = np.abs(d_out).max(axis=1, keepdims=True)
    assert np.all(np.abs(w_out - d_out * n_out[:, None]) <= row_max * n_out[:, None] / 2048)
    assert np.all(w_in[[0, 2]] == 0) and np.all(w_out[[1, 2]] == 0)
    plain = combine.unpack_block(combine.pack_block(n_in, n_out, d_in, d_out, weighted=False))
    np.testing.assert_allclose(plain[3][1], d_in[1], atol=np.abs(d_in[1]).max() / 2048)
    stats = combine.SyncStats(words=3)
    assert combine.unpack_block(stats) is stats


def test_partition_sums_do_not_depend_on_arrival_order():
    rng = np.random.default_rng(0)
    records = [(i, rng.normal(size=1000).astype(np.float32) * 10.0 ** (3 * i)) for i in range(5)]
    first = combine.sum_in_partition_order(records)
    np.testing.assert_array_equal(first, (((records[0][1] + records[1][1]) + records[2][1]) + records[3][1])
                                  + records[4][1])
    assert not np.array_equal(first, (((records[4][1] + records[3][1]) + records[2][1]) + records[1][1])
                              + records[0][1])   # float addition is not associative here
    for _ in range(5):
        shuffled = [records[i] for i in rng.permutation(5)]
        np.testing.assert_array_equal(combine.sum_in_partition_order(shuffled), first)


def test_combine_is_the_update_count_weighted_mean():
    """A row one partition trained keeps that partition's update; a shared row gets the
    mean weighted by each partition's update count; untouched rows stay as they were."""
    base = np.zeros((3, 2), np.float32)
    deltas = {"a": np.array([[1, 1], [2, 2], [0, 0]], np.float32), "b": np.array([[0, 0], [5, 5], [0, 0]], np.float32)}
    counts = {"a": np.array([4, 1, 0], np.float32), "b": np.array([0, 3, 0], np.float32)}
    weighted = deltas["a"] * counts["a"][:, None] + deltas["b"] * counts["b"][:, None]
    total = counts["a"] + counts["b"]
    combine.apply_mean(base, total, weighted, np.ones(3, np.float32))
    np.testing.assert_allclose(base, [[1, 1], [(2 * 1 + 5 * 3) / 4] * 2, [0, 0]])


def test_combine_takes_the_same_mean_when_few_rows_were_updated():
    """Few rows updated: they are selected rather than adding zeros everywhere; same result."""
    rng = np.random.default_rng(5)
    counts = np.array([0, 3, 0, 0, 1], np.float32)
    weighted = rng.normal(size=(5, 2)).astype(np.float32) * counts[:, None]
    factor = np.array([1, 2, 1, 1, 0.5], np.float32)
    base = rng.normal(size=(5, 2)).astype(np.float32)
    got = base.copy()
    combine.apply_mean(got, counts, weighted.copy(), factor)
    expected = base.copy()
    expected[[1, 4]] += weighted[[1, 4]] * (factor[[1, 4]] / counts[[1, 4]])[:, None]
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[[0, 2, 3]], base[[0, 2, 3]])


def _summed(n, delta):
    """One matrix's summed block as the rules receive it: counts, touched partitions, count-weighted sum."""
    n = np.asarray(n, np.float32)
    return n, (n > 0).astype(np.float32), np.asarray(delta, np.float32) * n[:, None]


def test_every_rule_has_a_name_and_a_test():
    assert set(combine.RULES) == {"mean", "spread", "rescaled", "sum"}


def test_rule_scales_default_to_the_rules_choice_and_yield_to_the_users():
    assert combine.make_rule("mean", 8).scale == 4 and combine.make_rule("mean", 2).scale == 2
    assert combine.make_rule("sum", 8).scale == 1
    assert combine.make_rule("mean", 8, alpha_scale=2.5).scale == 2.5


def test_mean_rule_applies_the_weighted_mean():
    target = np.zeros((2, 2), np.float32)
    n, touched, weighted = _summed([2, 0], [[3, 3], [0, 0]])
    combine.make_rule("mean", 2).apply(target, n, touched, weighted)
    np.testing.assert_allclose(target, [[3, 3], [0, 0]])


def test_rescaled_rule_multiplies_the_mean_by_touched_partitions_over_the_scale():
    target = np.zeros((1, 2), np.float32)
    n = np.array([4], np.float32)
    combine.make_rule("rescaled", 4, alpha_scale=2).apply(target, n, np.array([3], np.float32),
                                                         np.array([[8, 8]], np.float32))
    np.testing.assert_allclose(target, [[2 * 3 / 2] * 2])       # mean 8/4 = 2, times 3 / 2


def test_sum_rule_adds_plain_changes():
    rule = combine.make_rule("sum", 3)
    assert not rule.weighted
    target = np.ones((1, 2), np.float32)
    rule.apply(target, np.array([5], np.float32), np.array([2], np.float32),
               np.array([[0.5, -1]], np.float32))
    np.testing.assert_allclose(target, [[1.5, 0]])


def test_spread_rule_raises_input_rates_by_spread_except_for_frequent_words():
    from sparkw2v.config import TrainConfig
    from sparkw2v.vocabulary import Vocabulary
    vocab = Vocabulary(("the", "cat", "dog", "rare"), np.array([1_000_000, 50, 40, 5]))
    rule = combine.make_rule("spread", 8)
    rate_in, rate_out = rule.row_rates(lambda: np.array([8.0, 6.0, 0.5, 1.0]), vocab, TrainConfig(sample=0), 2048)
    # "the" repeats in every step: it keeps the rule's scale (4); others get their spread, at least 1,
    # relative to the scale the task's learning rate already carries.
    np.testing.assert_allclose(rate_in * rule.scale, [4, 6, 1, 1])
    np.testing.assert_allclose(rate_out, 1)
    assert combine.make_rule("mean", 8).row_rates(None, vocab, TrainConfig(), 2048) is None
    # No row's rate goes past 0.4: skip-gram (alpha 0.025) up to 16x, CBOW (0.05) up to 8x.
    wide = combine.make_rule("spread", 64)
    rates = wide.row_rates(lambda: np.array([64.0, 64, 64, 64]), vocab, TrainConfig(sample=0, sg=False), 2048)[0]
    np.testing.assert_allclose(rates * wide.scale, [4, 8, 8, 8])


def test_spread_rule_syncs_more_often_as_shards_grow_but_not_below_its_words_per_sync():
    assert combine.make_rule("spread", 4).default_syncs(250_000) == 1
    assert combine.make_rule("spread", 8).default_syncs(120_000) == 16
    assert combine.make_rule("spread", 32).default_syncs(30_000) == 29      # 30,000 words // 1,024
    assert combine.make_rule("spread", 64).default_syncs(500) == 1
    assert combine.make_rule("mean", 64).default_syncs(1e9) == 1
    # CBOW syncs 128 times per epoch from 8 shards, while shards train 128 words per sync.
    assert combine.make_rule("spread", 4, sg=False).default_syncs(250_000) == 1
    assert combine.make_rule("spread", 8, sg=False).default_syncs(120_000) == 128
    assert combine.make_rule("spread", 64, sg=False).default_syncs(15_000) == 117     # 15,000 // 128
    # ... with every shard's rate raised 2x, not min(P, 4)x, from 8 to 31 shards, unless the user says otherwise.
    assert combine.make_rule("spread", 8, sg=False).scale == 2 and combine.make_rule("spread", 8).scale == 4
    assert combine.make_rule("spread", 16, sg=False).scale == 2
    assert combine.make_rule("spread", 4, sg=False).scale == 4 and combine.make_rule("spread", 32, sg=False).scale == 4
    assert combine.make_rule("spread", 8, alpha_scale=3, sg=False).scale == 3


def test_reducers_ship_only_changed_rows_and_the_driver_gets_the_same_sums():
    """Sorted by (block, partition), the executors' sums equal the driver's; what a reducer ships
    holds the changed rows only and expands back to the same arrays, bit for bit."""
    rng = np.random.default_rng(1)
    records = []
    for partition in range(3):
        for block in range(2):
            n_in = np.where(rng.random(6) < 0.4, rng.integers(1, 4, 6), 0).astype(np.float32)
            n_out = np.where(rng.random(6) < 0.4, rng.integers(1, 4, 6), 0).astype(np.float32)
            d_in, d_out = rng.normal(size=(2, 6, 3)).astype(np.float32)
            records.append((block, (partition, combine.pack_block(n_in, n_out, d_in, d_out, weighted=True))))
    records.append((combine.STATS_KEY, (0, combine.SyncStats(words=5))))
    on_driver = dict(combine.sum_records_by_key(list(records)))
    ordered = sorted((combine.key_by_block_and_partition(r) for r in records), key=lambda kv: kv[0])
    shipped = dict(map(combine.compact_sum, combine.sum_sorted_blocks(ordered)))
    assert shipped[combine.STATS_KEY] == on_driver[combine.STATS_KEY]
    for block in (0, 1):
        small = shipped[block]
        assert isinstance(small, combine.SummedRows) and 0 < small.rows_in.size < 6
        for got, want in zip(combine.expand_sum((block, small))[1], on_driver[block]):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_rows_summed_in_partition_order_by_their_share_equal_the_drivers_sum_rule_bit_for_bit():
    """What an epoch in one barrier stage does (sparkw2v.allgather): each partition's records as
    changed rows (shipped_rows), the sum over partitions added in partition order per share of
    the rows (add_in_order); the model equals the driver's sum_records_by_key + SumRule, bit for bit."""
    rng = np.random.default_rng(2)
    block_rows, vocab, dim = 6, 12, 3
    per_partition = []
    for partition in range(3):
        mine = []
        for block in range(2):
            n_in = np.where(rng.random(6) < 0.5, rng.integers(1, 4, 6), 0).astype(np.float32)
            n_out = np.where(rng.random(6) < 0.5, rng.integers(1, 4, 6), 0).astype(np.float32)
            d_in, d_out = rng.normal(size=(2, 6, dim)).astype(np.float32)
            mine.append((block, (partition, combine.pack_block(n_in, n_out, d_in, d_out, weighted=False))))
        mine.append((combine.STATS_KEY, (partition, combine.SyncStats(words=partition + 1))))
        per_partition.append(mine)
    start = rng.normal(size=(2, vocab, dim)).astype(np.float32)
    driver = start.copy()
    stats = combine.apply_summed(combine.sum_records_by_key([r for mine in per_partition for r in mine]),
                                 driver[0], driver[1], combine.SumRule(3), block_rows)
    shipped = [combine.shipped_rows(mine, block_rows) for mine in per_partition]
    assert stats.words == sum(s.words for s, _, _ in shipped) == 6
    shares = [(0, 5), (5, 12)]   # two tasks' shares of the rows, each summed on its own
    replica = start.copy()
    for lo, hi in shares:
        for m in (0, 1):
            pieces = [(rows[(rows >= lo) & (rows < hi)], change[(rows >= lo) & (rows < hi)])
                      for rows, change in (s[1 + m] for s in shipped)]
            changed = combine.add_in_order(replica[m], pieces)
            assert ((changed >= lo) & (changed < hi)).all()
    np.testing.assert_array_equal(replica, driver)
    assert not np.array_equal(replica, start)


def test_summing_on_the_executors_trains_the_same_vectors_as_on_the_driver(spark, monkeypatch, caplog):
    import logging

    from sparkw2v import Word2Vec, training

    from .test_training import PLANTED, planted_lines, text_frame

    frame = text_frame(spark, planted_lines(seed=4, sentences=300))
    settings = dict(PLANTED, num_partitions=3, concurrent_shards=3, epochs=2, syncs_per_epoch=2, strategy="average")
    monkeypatch.setattr(training, "BLOCK_BYTES", 4 * (2 * 16 * 4 + 8))      # 4-row blocks: 4 of 16 words
    on_driver = Word2Vec(**settings).fit(frame)
    monkeypatch.setattr(training, "sums_on_driver", lambda *args: False)
    with caplog.at_level(logging.DEBUG, logger="sparkw2v"):
        on_executors = Word2Vec(**settings).fit(frame)
    assert "summing partition updates on the executors" in caplog.messages
    assert len(on_executors.wv.words) == 16
    np.testing.assert_array_equal(on_driver.wv.vectors, on_executors.wv.vectors)


def test_a_packed_change_is_half_the_bytes_and_within_1_2048_of_each_rows_largest_entry():
    from sparkw2v.combine import pack_change, unpack_change
    rng = np.random.default_rng(5)
    delta = rng.normal(0, 1, (50, 12)).astype(np.float32) * np.logspace(-9, 1, 50, dtype=np.float32)[:, None]
    delta[7] = 0.0                                          # an untouched row
    packed = pack_change(delta)
    assert len(packed) == 50 * (4 + 2 * 12) and len(packed) < 0.6 * delta.nbytes
    back = unpack_change(packed, 12)
    assert back.dtype == np.float32 and back.shape == delta.shape and not back[7].any()
    bound = np.abs(delta).max(axis=1, keepdims=True) / 2048
    assert np.all(np.abs(back - delta) <= bound)            # tiny rows too: scaled out of float16's subnormals
    assert unpack_change(pack_change(np.zeros((0, 12), np.float32)), 12).shape == (0, 12)   # an empty block
    bad = delta.copy()
    bad[3, 5] = np.nan
    assert not np.isfinite(unpack_change(pack_change(bad), 12)[3]).all()   # a diverged row stays non-finite
    with pytest.raises(ValueError, match="whole rows"):
        unpack_change(packed[:-2], 12)


def test_stats_add_up_over_syncs_and_take_the_slowest_of_tasks_run_at_once():
    a = combine.SyncStats(words=10, task_seconds=2.0, slowest_task_seconds=2.0)
    b = combine.SyncStats(words=5, task_seconds=3.0, slowest_task_seconds=3.0)
    at_once = a.alongside(b)      # two tasks of one sync
    assert (at_once.words, at_once.task_seconds, at_once.slowest_task_seconds) == (15, 5.0, 3.0)
    epoch = at_once + at_once     # two syncs, one after the other: the waits add up
    assert (epoch.words, epoch.task_seconds, epoch.slowest_task_seconds) == (30, 10.0, 6.0)
    # Summing a sync's records merges its tasks' stats as tasks run at once.
    assert combine.add_into(a, b).slowest_task_seconds == 3.0
