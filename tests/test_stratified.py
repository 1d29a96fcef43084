"""Stratified row ownership: blocks, pairs, routing, and training on Spark (the pair kernel: test_pair_kernel.py)."""

import dataclasses
import functools
import json
import logging
import re
import time
from collections import Counter

import numpy as np
import pytest

from sparkw2v import TrainConfig, Word2Vec, integrity, progress, stratified
from sparkw2v.combine import pack_change, unpack_change
from sparkw2v.config import ConfigError
from sparkw2v.sampling import negative_table
from sparkw2v.stratified import (INPUT, OUTPUT, CellTask, PairTask, assign_blocks, cell_pairs, deal_blocks,
                                 group_pairs, group_records, rounds_per_epoch, route_pairs, step_pairs,
                                 train_sub_epoch)
from sparkw2v.vocabulary import Vocabulary

from .conftest import checkpoint_dir
from .test_exchange import _run_tasks, unreachable_port
from .test_kernel import planted_corpus
from .test_training import PLANTED, planted_lines, text_frame


class Held:
    def __init__(self, value):
        self.value = value


def test_blocks_cover_every_row_with_near_equal_load():
    rng = np.random.default_rng(0)
    load = rng.zipf(1.5, 1000).astype(float)
    owner = assign_blocks(load, 7, rng)
    assert owner.min() == 0 and owner.max() == 6
    totals = np.bincount(owner, weights=load, minlength=7)
    assert totals.max() - totals.min() <= load.max()      # heaviest first, into the lightest block
    assert totals.sum() == pytest.approx(load.sum())
    big = rng.zipf(1.3, 200_000).astype(float)          # past HEAVY_ROWS, light rows are dealt in turn
    totals = np.bincount(assign_blocks(big, 64, rng), weights=big, minlength=64)
    assert totals.max() - totals.min() <= big.max()


def test_steps_shrink_as_blocks_do():
    assert [step_pairs(k) for k in (1, 8, 16, 32, 64, 128)] == [256, 256, 128, 64, 32, 32]


def test_large_rounds_are_cached_in_groups_of_about_sqrt_k_sub_epochs():
    assert stratified.sub_epochs_per_group(32, stratified.GROUP_BYTES) == 32          # small: no groups
    assert stratified.sub_epochs_per_group(32, 2 * stratified.GROUP_BYTES) == 6       # 6 groups of <= 6
    assert stratified.sub_epochs_per_group(128, 1e12) == 12


def test_a_group_keeps_exactly_its_sub_epochs_cells():
    k = 4
    owners, routed, _, _ = _routed(k, 1)
    table = stratified.pairing(1, 0, 0, k)
    for p in range(k):
        sources = [value for _, value in routed[p]]
        for first in (0, 2):
            grouped = [v for record in routed[p] for _, v in group_pairs(record, first, 2, table)]
            for s in range(k):
                q = table[s, p]
                expected = cell_pairs(sources, q)
                got = cell_pairs(grouped, q)
                kept = first <= s < first + 2
                assert np.array_equal(got[0], expected[0] if kept else []), (p, s, first)
                assert np.array_equal(got[1], expected[1] if kept else [])
                assert got[2] == (expected[2] if first == 0 else (0, 0))


def test_the_layout_keys_each_group_of_each_round_for_its_task():
    k, rounds = 4, 2
    _, routed, _, _ = _routed(k, rounds)
    schedule = np.stack([stratified.pairing(1, 0, r, k) for r in range(rounds)])
    for p in range(k):
        for record in routed[p]:
            r = record[1][2]
            assert list(group_records(record, per_group=k, blocks=k, groups=1, schedule=schedule)) == \
                [(r * k + p, record[1])]
            keyed = list(group_records(record, per_group=2, blocks=k, groups=2, schedule=schedule))
            assert [key for key, _ in keyed] == [(r * 2 + g) * k + p for g in range(2)]
            assert [v for _, v in keyed] == [v for g in range(2) for _, v in group_pairs(record, 2 * g, 2, schedule[r])]


def test_each_round_pairs_the_blocks_in_a_fresh_latin_square():
    """In every sub-epoch each output block has one task (G of them), over a round each task meets
    every output block once, and the pairing changes from round to round and epoch to epoch."""
    g = 8
    tables = [stratified.pairing(3, e, r, g) for e in (0, 1) for r in range(4)]
    for table in tables:
        assert all(sorted(row) == list(range(g)) for row in table)          # a sub-epoch: disjoint blocks
        assert all(sorted(col) == list(range(g)) for col in table.T)        # a round: every block once
    assert len({table.tobytes() for table in tables}) == len(tables)
    assert np.array_equal(stratified.pairing(3, 1, 2, g), tables[6])       # a function of its coordinates
    # the next holders of every block: within a round, across rounds, and into the next epoch's first
    for (r, s), (epoch, nr, ns) in {(0, 2): (0, 0, 3), (0, g - 1): (0, 1, 0), (3, g - 1): (1, 0, 0)}.items():
        holders = stratified.next_holders(3, 0, r, s, 4, g)
        nxt = stratified.pairing(3, epoch, nr, g)[ns]
        assert [nxt[holders[q]] for q in range(g)] == list(range(g))


def test_pruned_keeps_only_the_named_partitions_in_order(spark):
    rdd = spark.sparkContext.parallelize(range(12), 6)
    part = stratified.pruned(spark.sparkContext, rdd, range(2, 4))
    assert part.getNumPartitions() == 2 and part.glom().collect() == [[4, 5], [6, 7]]


def test_rounds_default_to_about_128_sub_epochs_or_follow_the_user():
    big = 10 ** 9
    assert [rounds_per_epoch(k, big) for k in (1, 4, 8, 48, 64, 200)] == [128, 32, 16, 3, 2, 1]
    assert rounds_per_epoch(64, 955_000) == 2 and rounds_per_epoch(64, 400_000) == 1   # cells of >= 64 words
    assert rounds_per_epoch(4, 4800) == 4
    assert rounds_per_epoch(8, big, syncs_per_epoch=24) == 3 and rounds_per_epoch(8, big, syncs_per_epoch=3) == 1


def _routed(k, rounds, seed=0, g=None):
    rng = np.random.default_rng(seed)
    tokens, starts, counts, _ = planted_corpus(rng, sentences=90)
    owners = Held((counts, assign_blocks(counts.astype(float), k, rng), assign_blocks(counts.astype(float), g or k, rng)))
    task = PairTask(seed=1, epoch=0, window=2, sample=0.0, blocks=k, rounds=rounds, out_blocks=g or 0)
    # Three source partitions, one of them empty.
    thirds = [(0, 240), (240, 240), (240, 720)]
    records = [[((i, i, 0), (tokens[a:b], np.full((b - a) // 8, 8)))] if b > a else [] for i, (a, b) in
               enumerate(thirds)]
    routed = {p: [] for p in range(k)}
    formed = Counter()
    for index, recs in enumerate(records):
        for p, value in route_pairs(index, recs, task, owners):
            routed[p].append((p, value))
            formed.update(zip(np.frombuffer(value[3], np.int32), np.frombuffer(value[4], np.int32)))
    return owners, routed, formed, counts


def test_every_pair_is_trained_once_per_epoch_in_a_cell_that_owns_its_rows():
    k, rounds = 3, 2
    owners, routed, formed, counts = _routed(k, rounds)
    _, owner_in, owner_out = owners.value
    sources = {(p, r): [value for _, value in routed[p] if value[2] == r] for p in range(k) for r in range(rounds)}
    words = [cell_pairs(sources[p, r], 0)[2] for p in range(k) for r in range(rounds)]
    assert words[0][0] == 720 and set(words[1:]) == {(0, 0)}                   # words, reported once
    seen = Counter()
    for r in range(rounds):
        table = stratified.pairing(1, 0, r, k)
        for s in range(k):
            cells = set()
            for p in range(k):
                q = table[s, p]
                cells.add(q)
                xs, ys, _ = cell_pairs(sources[p, r], q)
                assert np.all(owner_in[xs] == p) and np.all(owner_out[ys] == q)
                seen.update(zip(xs, ys))
            assert cells == set(range(k))      # a sub-epoch's cells own disjoint rows
    assert seen == formed and sum(formed.values()) > 1000


def test_a_sub_epoch_task_changes_only_its_cell_and_passes_the_output_block_on():
    k = 3
    owners, routed, _, counts = _routed(k, 1)
    _, owner_in, owner_out = owners.value
    rng = np.random.default_rng(2)
    w_in, w_out = rng.normal(0, 0.1, (2, counts.size, 8)).astype(np.float32)
    model = Held((w_in, w_out))
    holders = stratified.next_holders(1, 0, 0, 1, 1, k)   # after sub-epoch 1 of the epoch's only round
    cell = CellTask(seed=1, epoch=0, round=0, sub_epoch=1, blocks=k, rounds=1, negative=3, ns_exponent=0.75,
                    alpha_start=0.05, alpha_end=0.04, step_pairs=step_pairs(k), vector_size=8, holders=holders)
    # Task 2 holds its input block and output block 0 (here dealt straight to it).
    source = iter([2])   # the parallelize partition deal_blocks runs over: read to its end (worker reuse)
    held = [*routed[2], *(r for r in deal_blocks(2, source, owners, model, (1, 2, 0)) if r[1][0] == INPUT),
            *(r for r in deal_blocks(2, (), owners, model, (1, 2, 0)) if r[1][0] == OUTPUT)]
    assert next(source, None) is None
    (to_in, (kind_in, p, block_in, stats)), (to_out, (kind_out, q, block_out, _, _)) = \
        train_sub_epoch(2, iter(held), cell, owners)
    # the input block stays; output block 0 goes to the task the next sub-epoch pairs with it
    assert (to_in, to_out) == (2, holders[0]) and stratified.pairing(1, 0, 0, k)[2, holders[0]] == 0
    assert (kind_in, p, kind_out, q) == (INPUT, 2, OUTPUT, 0) and stats.examples > 0
    new_in = np.frombuffer(block_in, np.float32).reshape(-1, 8)
    new_out = np.frombuffer(block_out, np.float32).reshape(-1, 8)
    assert new_in.shape[0] == np.sum(owner_in == 2) and new_out.shape[0] == np.sum(owner_out == 0)
    assert not np.allclose(new_in, w_in[owner_in == 2]) and not np.allclose(new_out, w_out[owner_out == 0])
    # A task with no pairs passes its blocks on unchanged.
    empty = list(train_sub_epoch(1, iter([*deal_blocks(1, (), owners, model, (0, 2, 1))]), cell, owners))
    assert [key for key, _ in empty] == [1, holders[2]]
    assert np.array_equal(np.frombuffer(empty[0][1][2], np.float32), w_in[owner_in == 1].ravel())
    assert np.array_equal(np.frombuffer(empty[1][1][2], np.float32), w_out[owner_out == 2].ravel())


def test_output_blocks_are_shared_by_two_tasks_from_16_shards():
    assert [stratified.output_blocks(k) for k in (4, 8, 15, 16, 32, 63, 64)] == [4, 8, 15, 8, 16, 63, 32]
    assert rounds_per_epoch(64, 10**9, per_round=32) == 4 and rounds_per_epoch(64, 10**9) == 2


def test_with_shared_output_blocks_every_pair_is_trained_once_and_input_rows_keep_one_owner():
    k, g, rounds = 4, 2, 2
    owners, routed, formed, _ = _routed(k, rounds, g=g)
    _, owner_in, owner_out = owners.value
    sources = {(p, r): [value for _, value in routed[p] if value[2] == r] for p in range(k) for r in range(rounds)}
    seen = Counter()
    for r in range(rounds):
        table = stratified.pairing(1, 0, r, g)
        for s in range(g):   # a round is G sub-epochs
            trained = Counter()
            for p in range(k):
                q = table[s, p % g]
                trained[q] += 1
                xs, ys, _ = cell_pairs(sources[p, r], q)
                assert np.all(owner_in[xs] == p) and np.all(owner_out[ys] == q)
                seen.update(zip(xs, ys))
            assert trained == {0: 2, 1: 2}     # two tasks at once against each output block
    assert seen == formed and sum(formed.values()) > 1000


def test_a_shared_output_block_gets_the_sum_of_its_sharers_changes(monkeypatch):
    k, g = 4, 2
    packed = []   # the float32 changes the sharers pack, in the order they pack them
    monkeypatch.setattr(stratified, "pack_change", lambda delta: packed.append(delta.copy()) or pack_change(delta))
    owners, routed, _, counts = _routed(k, 1, g=g)
    _, owner_in, owner_out = owners.value
    rng = np.random.default_rng(3)
    w_in, w_out = rng.normal(0, 0.1, (2, counts.size, 8)).astype(np.float32)
    model = Held((w_in, w_out))
    cell = CellTask(seed=1, epoch=0, round=0, sub_epoch=0, blocks=k, rounds=1, negative=3, ns_exponent=0.75,
                    alpha_start=0.05, alpha_end=0.04, step_pairs=step_pairs(k), vector_size=8, out_blocks=g,
                    holders=(1, 0))
    # Tasks 1 and 3 both hold output block 1 in sub-epoch 0; each sends it to tasks 0 and 2, which
    # train against it next (holders[1] = 0, and its sharer 0 + G).
    sent = {p: list(train_sub_epoch(p, iter([*routed[p], *deal_blocks(p, (), owners, model, (0, 1))]), cell, owners))
            for p in (1, 3)}
    to = {p: {receiver: record for receiver, record in sent[p] if record[0] == OUTPUT} for p in (1, 3)}
    assert set(to[1]) == set(to[3]) == {0, 2} and [to[1][0][4], to[3][0][4]] == [0, 1]   # sharers 0 and 1
    rows = np.flatnonzero(owner_out == 1)
    before = w_out[rows]
    n = rows.size
    half = n // 2    # sharer 0 ships rows [0, half) whole, sharer 1 rows [half, n)
    own = [np.frombuffer(to[p][0][2][0], np.float32).reshape(-1, 8) for p in (1, 3)]
    changes = [unpack_change(to[p][0][2][1], 8) for p in (1, 3)]   # each sharer's change to the other part
    assert [o.shape[0] for o in own] == [half, n - half] and [c.shape[0] for c in changes] == [n - half, half]
    assert not np.allclose(own[0], before[:half]) and not np.allclose(own[1], before[half:])
    assert np.abs(changes[0]).max() > 0 and np.abs(changes[1]).max() > 0
    # What each sharer shipped of the other part is its trained rows less the rows it started
    # from, within float16's 1/2048 of each row's largest change.
    assert len(packed) == 2 and [c.shape[0] for c in packed] == [n - half, half]
    for delta, change, p in zip(packed, changes, (1, 3)):
        np.testing.assert_array_equal(pack_change(delta), to[p][0][2][1])
        assert np.all(np.abs(change - delta) <= np.abs(delta).max(axis=1, keepdims=True) / 2048)
    # Both sharers ship the same bytes: half the rows as float32, half as a scale and 8 float16s.
    assert [len(to[p][0][2][0]) + len(to[p][0][2][1]) for p in (1, 3)] == \
        [half * 32 + (n - half) * (4 + 2 * 8), (n - half) * 32 + half * (4 + 2 * 8)]
    expected = np.concatenate((own[0] + changes[1], own[1] + changes[0]))
    for receiver in (0, 2):
        parts = [to[3][receiver], to[1][receiver]]
        np.testing.assert_array_equal(stratified.output_rows(parts, 8), expected)
    # At the epoch's end the driver takes the same sum, once per block.
    w_in2, w_out2 = w_in.copy(), w_out.copy()
    stratified.collect_blocks([(r, rec) for p in (1, 3) for r, rec in sent[p]], w_in2, w_out2, owner_in, owner_out)
    np.testing.assert_array_equal(w_out2[rows], expected)
    for p in (1, 3):
        assert not np.allclose(w_in2[owner_in == p], w_in[owner_in == p])


def test_a_kept_blocks_summary_finds_non_finite_rows_and_changes():
    """An epoch that keeps its rows on the executors checks them there: a NaN in a block's rows or
    in a sharer's change to the other parts is found, as the driver's sum finds it in the matrices."""
    rows = np.ones((6, 4), np.float32)
    assert stratified.block_summary((0, (INPUT, 0, rows.tobytes(), stratified.SyncStats())), 4)[1]
    bad = rows.copy()
    bad[2, 1] = np.nan
    assert not stratified.block_summary((0, (INPUT, 0, bad.tobytes(), stratified.SyncStats())), 4)[1]
    assert not stratified.block_summary((0, (OUTPUT, 1, bad.tobytes(), stratified.SyncStats(), 0)), 4)[1]
    shared = (rows[:3].tobytes(), pack_change(rows[3:] * 0.5))
    assert stratified.block_summary((0, (OUTPUT, 1, shared, stratified.SyncStats(), 0)), 4)[1]
    shared = (rows[:3].tobytes(), pack_change(bad[:3]))
    assert not stratified.block_summary((0, (OUTPUT, 1, shared, stratified.SyncStats(), 1)), 4)[1]
    # a record and its row in a checkpoint's blocks table are the same thing
    for record in ((3, (INPUT, 3, rows.tobytes(), stratified.SyncStats())),
                   (3, (OUTPUT, 1, (rows[:3].tobytes(), pack_change(rows[3:])), stratified.SyncStats(), 1))):
        again = stratified.block_record(*stratified.block_row(record))
        assert again[0] == record[0] and again[1][:3] == record[1][:3] and again[1][4:] == record[1][4:]


def _records_equal(a, b):
    """Two task records alike: their keys, kinds, blocks and sharers, and their rows to the bit."""
    flat = lambda rec: [x if not isinstance(x, tuple) else tuple(map(bytes, x)) for x in rec[1][:3]] + \
        ([rec[1][4]] if rec[1][0] == OUTPUT else [])
    return a[0] == b[0] and [bytes(x) if isinstance(x, (bytes, bytearray)) else x for x in flat(a)] == \
        [bytes(x) if isinstance(x, (bytes, bytearray)) else x for x in flat(b)]


def test_a_barrier_group_handing_blocks_on_directly_gives_a_stage_per_sub_epoch_s_rows(monkeypatch):
    """Shared output blocks (4 tasks, 2 output blocks): a round of 2 sub-epochs trained by
    train_group in 4 threads, the output blocks sent task to task, leaves what two
    train_sub_epoch stages with a shuffle between them leave, bit for bit."""
    import secrets
    import threading

    from sparkw2v import exchange
    from sparkw2v.stratified import train_group
    k, g = 4, 2
    owners, routed, _, counts = _routed(k, 1, g=g)
    rng = np.random.default_rng(5)
    model = Held(tuple(rng.normal(0, 0.1, (2, counts.size, 8)).astype(np.float32)))
    first = tuple(stratified.pairing(1, 0, 0, g)[0].tolist())
    cells = tuple(CellTask(seed=1, epoch=0, round=0, sub_epoch=s, blocks=k, rounds=1, negative=3, ns_exponent=0.75,
                           alpha_start=0.05 - 0.01 * s, alpha_end=0.04 - 0.01 * s, step_pairs=step_pairs(k),
                           vector_size=8, out_blocks=g, holders=stratified.next_holders(1, 0, 0, s, 1, g))
                  for s in range(g))
    dealt = {p: list(deal_blocks(p, (), owners, model, first)) for p in range(k)}
    # Through a shuffle: each sub-epoch's records regrouped by the task they go to.
    held = {p: routed[p] + dealt[p] for p in range(k)}
    for cell in cells:
        state = {p: [] for p in range(k)}
        for p in range(k):
            for to, record in train_sub_epoch(p, iter(held[p]), cell, owners):
                state[to].append((to, record))
        held = {p: routed[p] + state[p] for p in range(k)}
    expected = sorted((r for p in range(k) for r in state[p]), key=lambda r: (r[0], r[1][0], r[1][-1]))
    # Directly: one thread per task, each its own partition index.
    meeting, token = exchange.Rendezvous("127.0.0.1", "127.0.0.1"), secrets.token_bytes(exchange.TOKEN_BYTES)
    meeting.expect(token, k)
    local = threading.local()
    monkeypatch.setattr(stratified, "Peers", lambda where, tok: exchange.Peers(where, tok, local.index, "127.0.0.1"))

    def task(p):
        local.index = p
        return list(train_group(p, iter(routed[p] + dealt[p]), cells, owners, meeting.address, token))

    out = _run_tasks(k, task)
    got = sorted((r for p in range(k) for r in out[p]), key=lambda r: (r[0], r[1][0], r[1][-1]))
    assert len(got) == len(expected) == 3 * k        # each task: its input block, its output part to 2 tasks
    assert all(_records_equal(a, b) for a, b in zip(got, expected))
    assert [r[1][3].examples for r in got if r[1][0] == INPUT] == [r[1][3].examples for r in expected
                                                                    if r[1][0] == INPUT]


def test_auto_picks_stratified_from_three_shards():
    with pytest.raises(ConfigError, match="strategy"):
        TrainConfig(strategy="ring").validate(require_io=False)
    TrainConfig(sg=False, strategy="stratified").validate(require_io=False)   # CBOW: output rows owned
    for sg in (True, False):
        assert TrainConfig(sg=sg).strategy_for(2) == "average" and TrainConfig(sg=sg).strategy_for(3) == "stratified"
    assert TrainConfig(strategy="average").strategy_for(64) == "average"


def _owned_task(sync, blocks, rounds, kernel, key):
    """A stratified CBOW task; ``key`` names the run (workers keep its tables under it)."""
    from sparkw2v.executor import TrainTask
    return TrainTask(kernel=kernel, seed=4, epoch=1, sync=sync, syncs_per_epoch=rounds * blocks, alpha_start=0.05,
                     alpha_end=0.04, sample=0.0, ns_exponent=0.75, block_rows=1 << 20, weighted=False,
                     tables_key=key, owned_blocks=blocks)


def test_owned_cbow_sub_epochs_write_disjoint_output_rows_and_train_each_centre_once_per_round():
    """CBOW stratified: in a sub-epoch every partition writes only its output block's rows, and over
    a round's K sub-epochs a partition trains each centre of the round's text exactly once."""
    from sparkw2v.combine import STATS_KEY
    from sparkw2v.executor import shard_rng, sync_slice, train_partition
    from sparkw2v.kernel import KernelParams, train_shard
    from sparkw2v.shard_records import shard_arrays
    rng = np.random.default_rng(0)
    tokens, _, counts, _ = planted_corpus(rng, words_per_group=12, sentences=300)
    k, rounds = 3, 2
    owner = stratified.output_owners(counts, 0.0, k, seed=4, epoch=1)
    parts = np.array_split(np.arange(300), k)
    records = [[((p, p, 0), (tokens[8 * part[0]:8 * (part[-1] + 1)], np.full(part.size, 8)))] for p, part in
               enumerate(parts)]
    kernel = KernelParams(sg=False, window=3, negative=4, chunk_words=256, shared_by=4, shared_draws=4)
    w_in = ((rng.random((counts.size, 8)) - 0.5) / 8).astype(np.float32)
    w_out = (rng.random((counts.size, 8)) / 8).astype(np.float32)
    model, tables, owners = Held((w_in, w_out)), Held((counts, None)), Held(owner)
    words = np.zeros(k, int)
    for r in range(rounds):
        centres = np.zeros(k, int)
        for s in range(k):
            written = []
            for p in range(k):
                out = dict(train_partition(p, records[p], _owned_task(r * k + s, k, rounds, kernel, "disjoint"), model, tables,
                                           owners))
                rows = np.flatnonzero(out[0][1].n_out)
                assert rows.size and np.all(owner[rows] == stratified.pairing(4, 1, r, k)[s, p]), (r, s, p)
                written.append(set(rows))
                stats = out[STATS_KEY][1]
                centres[p] += stats.examples
                words[p] += stats.words
            assert not set.intersection(*written)
        for p in range(k):  # the round's slice trained with no mask: the same centres
            shard, starts = shard_arrays(records[p])
            lo, hi = sync_slice(starts, r, rounds)
            base = int(starts[lo])
            plain = train_shard(w_in.copy(), w_out.copy(), shard[base:int(starts[hi])], starts[lo:hi + 1] - base,
                                np.ones(counts.size, np.float32), negative_table(counts, 0.75), kernel, 0.05, 0.04,
                                shard_rng(4, 1, r, p))
            assert centres[p] == plain.examples > 0
    assert list(words) == [8 * part.size for part in parts]   # a round's words count in one sub-epoch
    from sparkw2v import executor
    assert executor._TABLES.of("disjoint")["negatives"] is None   # block tables only: no whole-vocabulary table built


@pytest.mark.parametrize("compact_share", [1.0, 0.0])
def test_owned_cbow_task_trains_only_the_rows_it_can_change_and_ships_what_a_whole_copy_would(
        monkeypatch, compact_share):
    """A stratified CBOW task trains a renumbered copy of its slice's words and its output block's
    rows alone (or, when they are most of the model, a copy of all of it); what it ships is bit
    for bit what training a copy of the whole model gives."""
    from sparkw2v import executor
    from sparkw2v.combine import pack_block
    monkeypatch.setattr(executor, "COMPACT_SHARE", compact_share)
    from sparkw2v.executor import owned_block, owned_negative_rng, shard_rng, sync_slice, train_partition
    from sparkw2v.kernel import KernelParams, train_shard
    from sparkw2v.sampling import keep_probabilities
    from sparkw2v.shard_records import shard_arrays
    rng = np.random.default_rng(5)
    tokens = np.minimum(rng.zipf(1.3, 800), 300).astype(np.int32) - 1   # 300 words, most unseen in a slice
    counts = np.bincount(tokens, minlength=300) + 1
    k, rounds, p, sync = 4, 2, 1, 5
    owner = stratified.output_owners(counts, 1e-2, k, seed=4, epoch=1)
    records = [((p, p, 0), (tokens[:800], np.full(100, 8)))]
    kernel = KernelParams(sg=False, window=3, negative=4, chunk_words=128, shared_by=4, shared_draws=4)
    w_in = ((rng.random((counts.size, 8)) - 0.5) / 8).astype(np.float32)
    w_out = (rng.random((counts.size, 8)) / 8).astype(np.float32)
    task = dataclasses.replace(_owned_task(sync, k, rounds, kernel, "compact"), sample=1e-2, block_rows=7)
    shipped = [record for block, (_, record) in train_partition(p, records, task, Held((w_in, w_out)),
                                                                Held((counts, None)), Held(owner)) if block >= 0]
    # The same task on a copy of the whole model, with vocabulary ids.
    piece, q = owned_block(p, sync, k, 4, 1)
    shard, starts = shard_arrays(records)
    lo, hi = sync_slice(starts, piece, rounds)
    base = int(starts[lo])
    mask, table = stratified.owned_negatives(q, counts, owner, 0.75)
    a_in, a_out = w_in.copy(), w_out.copy()
    stats = train_shard(a_in, a_out, shard[base:int(starts[hi])], starts[lo:hi + 1] - base,
                        keep_probabilities(counts, 1e-2), table, kernel, 0.05, 0.04, shard_rng(4, 1, piece, p),
                        None, mask, owned_negative_rng(4, 1, sync, k, p))
    a_in -= w_in
    a_out -= w_out
    assert 0 < np.count_nonzero(stats.in_updates) < counts.size and np.count_nonzero(stats.out_updates)
    assert len(shipped) == -(-counts.size // 7)
    for b, got in enumerate(shipped):
        rows = slice(7 * b, 7 * b + 7)
        want = pack_block(stats.in_updates[rows].astype(np.float32), stats.out_updates[rows].astype(np.float32),
                          a_in[rows], a_out[rows], False)
        for name in want._fields:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=f"block {b} {name}")


@pytest.mark.parametrize("compact_share, sg", [(1.0, False), (0.0, False), (1.0, True)])
def test_rows_read_are_all_a_task_owning_output_rows_reads(monkeypatch, compact_share, sg):
    """``rows_read`` names every row whose value a sync of output rows owned depends on: with every
    other row of both matrices set to NaN the task ships the same bytes (the direct exchange sends
    a task only those rows). It reads its slice's words and its output block, not the vocabulary."""
    from sparkw2v import executor
    from sparkw2v.executor import rows_read, train_partition
    from sparkw2v.kernel import KernelParams
    from sparkw2v.shard_records import corpus_order, shard_arrays
    monkeypatch.setattr(executor, "COMPACT_SHARE", compact_share)
    rng = np.random.default_rng(9)
    tokens = np.minimum(rng.zipf(1.3, 800), 300).astype(np.int32) - 1
    counts = np.bincount(tokens, minlength=300) + 1
    k, rounds, p = 4, 2, 2
    owner = stratified.output_owners(counts, 1e-2, k, seed=4, epoch=1)
    records = [((p, p, 0), (tokens, np.full(100, 8)))]
    kernel = KernelParams(sg=sg, window=3, negative=4, chunk_words=128, shared_by=1 if sg else 4,
                          shared_draws=4)
    w_in = ((rng.random((counts.size, 8)) - 0.5) / 8).astype(np.float32)
    w_out = (rng.random((counts.size, 8)) / 8).astype(np.float32)
    tables, owners = Held((counts, None)), Held(owner)
    text, starts = shard_arrays(sorted(records, key=corpus_order))
    for sync in (0, 5):
        task = dataclasses.replace(_owned_task(sync, k, rounds, kernel, f"read-{compact_share}-{sg}"), sample=1e-2,
                                   block_rows=7)
        read_in, read_out = rows_read(p, text, starts, task, tables, owners)
        assert 0 < read_in.size < counts.size and 0 < read_out.size < counts.size
        assert np.all(owner[read_out] == stratified.owned_block(p, sync, k, 4, 1)[1])
        stale_in, stale_out = np.full_like(w_in, np.nan), np.full_like(w_out, np.nan)
        stale_in[read_in], stale_out[read_out] = w_in[read_in], w_out[read_out]
        whole = list(train_partition(p, records, task, Held((w_in, w_out)), tables, owners))
        part = list(train_partition(p, records, task, Held((stale_in, stale_out)), tables, owners))
        assert len(whole) == len(part) > 1
        for (key, (_, a)), (key_b, (_, b)) in zip(whole, part):
            assert key == key_b
            if key >= 0:
                for name in a._fields:
                    np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=f"{sync} {key} {name}")


def test_owned_cbow_shared_output_blocks_pair_partitions_and_train_each_centre_once_per_round(monkeypatch):
    """From SHARE_OUTPUT_FROM partitions CBOW deals its output rows into K/2 blocks: partitions p and
    p + K/2 train against the same block in each sub-epoch, their changes are summed, and a
    round (K/2 sub-epochs) still trains each centre of a partition's text once."""
    from sparkw2v.combine import STATS_KEY
    from sparkw2v.executor import train_partition
    from sparkw2v.training import averaging_schedule
    monkeypatch.setattr(stratified, "SHARE_OUTPUT_FROM", 4)
    rng = np.random.default_rng(3)
    tokens, _, counts, _ = planted_corpus(rng, words_per_group=12, sentences=400)
    vocab = Vocabulary(tuple(f"w{i}" for i in range(counts.size)), np.asarray(counts))
    cfg = TrainConfig(sg=False, window=3, negative=4, sample=0.0, min_count=1, syncs_per_epoch=8)
    schedule = averaging_schedule(vocab, cfg, 4, tokens.size, 4, lambda: None, owned=True)
    k, blocks = 4, schedule.owned_blocks
    assert (blocks, schedule.syncs, schedule.rule.name) == (2, 8, "sum")   # 4 rounds of 2 sub-epochs
    rounds = schedule.syncs // blocks
    owner = stratified.output_owners(counts, 0.0, blocks, seed=4, epoch=1)
    parts = np.array_split(np.arange(400), k)
    records = [[((p, p, 0), (tokens[8 * part[0]:8 * (part[-1] + 1)], np.full(part.size, 8)))] for p, part in
               enumerate(parts)]
    model = Held((((rng.random((counts.size, 8)) - 0.5) / 8).astype(np.float32),
                  (rng.random((counts.size, 8)) / 8).astype(np.float32)))
    centres, words = np.zeros(k, int), np.zeros(k, int)
    for sync in range(schedule.syncs):
        task = _owned_task(sync, blocks, rounds, schedule.kernel, "shared")
        written = {}
        for p in range(k):
            out = dict(train_partition(p, records[p], task, model, Held((counts, None)), Held(owner)))
            rows = np.flatnonzero(out[0][1].n_out)
            r, s = divmod(sync, blocks)
            assert rows.size and np.all(owner[rows] == stratified.pairing(4, 1, r, blocks)[s, p % blocks]), (sync, p)
            written[p] = set(rows.tolist())
            centres[p] += out[STATS_KEY][1].examples
            words[p] += out[STATS_KEY][1].words
        assert not written[0] & written[1] and not written[2] & written[3]   # the two blocks of a sub-epoch
        assert written[0] & written[2] and written[1] & written[3]           # each block's two sharers
    assert list(words) == [8 * part.size for part in parts]
    # every centre of the text once per round: as many examples as one unmasked pass per round
    plain = [sum(dict(train_partition(p, records[p], _owned_task(r, 1, rounds, schedule.kernel, "one"), model,
                                      Held((counts, None)), Held(np.zeros(counts.size, np.int64))))[STATS_KEY][1].examples
                 for r in range(rounds)) for p in range(k)]
    assert list(centres) == plain


def _fit_with_progress(frame, settings, monkeypatch, caplog):
    """Train on Spark; returns the model, the tasks progress announced for each round's job, and
    the tasks each such job ran (from the log)."""
    phases = {}
    begin = progress.begin
    monkeypatch.setattr(progress, "begin", lambda sc, label, words=None, tasks=None, part_of=None, collect_tasks=0: (
        phases.__setitem__(label, tasks), begin(sc, label, words, tasks, part_of, collect_tasks)))
    with caplog.at_level(logging.DEBUG, logger="sparkw2v"):
        model = Word2Vec(**settings).fit(frame)
    done = dict(m.groups() for m in map(re.compile(r"(epoch \d/\d (?:round|collecting).*) done: (\d+) tasks").match, caplog.messages)
                if m)
    return model, phases, done


STRATIFIED_ON_SPARK = dict(PLANTED, num_partitions=4, concurrent_shards=4, epochs=2, syncs_per_epoch=8,
                           strategy="stratified", owned_rows="both")


def test_stratified_training_on_spark(spark, monkeypatch, caplog):
    frame = text_frame(spark, planted_lines(seed=2, sentences=600))
    settings = STRATIFIED_ON_SPARK
    monkeypatch.setattr(stratified, "JOB_SUB_EPOCHS", 4)   # a Spark job per round: 2 per epoch
    monkeypatch.setattr(stratified, "GROUP_BYTES", 0)      # rounds' pairs cached in 2 groups of 2 sub-epochs
    model, phases, done = _fit_with_progress(frame, settings, monkeypatch, caplog)
    # Progress knows each job's tasks beforehand (its lineage also lists stages it skips).
    assert set(done) == {f"epoch {e}/2 round {r} of 2" for e in (1, 2) for r in (1, 2)}
    assert all(phases[label] == int(tasks) for label, tasks in done.items()), (phases, done)
    # Each epoch's clock starts before its broadcasts, with a phase that is none of its share.
    assert all(f"epoch {e}/2 preparing" in phases for e in (1, 2)), phases
    info, history = model.result.info, model.result.history
    assert (info["strategy"], info["syncs_per_epoch"], info["concurrent_shards"]) == ("stratified", 8, 4)
    assert [h["words"] for h in history] == [4800] * 2 and history[-1]["loss"] < history[0]["loss"]
    assert all(h["examples"] > 4800 for h in history)     # pairs: about 2 x 2 per word at window 3
    for word in model.wv.words:
        assert all(n[:2] == word[:2] for n, _ in model.most_similar(word, topn=5)), word
    monkeypatch.setattr(stratified, "GROUP_BYTES", 1 << 40)  # no groups: the same vectors
    again = Word2Vec(**settings).fit(frame)
    np.testing.assert_array_equal(model.wv.vectors, again.wv.vectors)


def test_stratified_training_on_spark_with_shared_output_blocks(spark, monkeypatch, caplog):
    frame = text_frame(spark, planted_lines(seed=2, sentences=600))
    monkeypatch.setattr(stratified, "SHARE_OUTPUT_FROM", 4)       # 4 tasks, 2 output blocks: rounds of 2 sub-epochs
    monkeypatch.setattr(stratified, "JOB_SUB_EPOCHS", 4)   # a Spark job per 2 rounds
    model, phases, done = _fit_with_progress(frame, STRATIFIED_ON_SPARK, monkeypatch, caplog)
    assert set(done) == {f"epoch {e}/2 rounds {r} of 4" for e in (1, 2) for r in ("1-2", "3-4")}
    assert all(phases[label] == int(tasks) for label, tasks in done.items()), (phases, done)
    # Each epoch's clock starts before its broadcasts, with a phase that is none of its share.
    assert all(f"epoch {e}/2 preparing" in phases for e in (1, 2)), phases
    info, history = model.result.info, model.result.history
    assert (info["strategy"], info["syncs_per_epoch"], info["concurrent_shards"]) == ("stratified", 8, 4)
    assert [h["words"] for h in history] == [4800] * 2 and history[-1]["loss"] < history[0]["loss"]
    for word in model.wv.words:
        assert all(n[:2] == word[:2] for n, _ in model.most_similar(word, topn=5)), word


def test_stratified_tasks_hand_blocks_on_directly_when_every_shard_has_a_slot(spark, monkeypatch, caplog):
    """2 shards on local[2]: 'auto' trains each job's rounds (2 of 2 sub-epochs) as one barrier
    stage whose tasks send the output blocks to each other; progress knows each job's tasks, and
    the vectors are the shuffle's bit for bit, also when the blocks come to the driver a task at
    a time (as a large model's do). 'direct' with more shards than task slots is refused, naming
    both."""
    from sparkw2v import session
    frame = text_frame(spark, planted_lines(seed=3, sentences=300))
    settings = dict(PLANTED, num_partitions=2, concurrent_shards=2, epochs=2, syncs_per_epoch=8,
                    strategy="stratified", owned_rows="both")
    direct, phases, done = _fit_with_progress(frame, settings, monkeypatch, caplog)   # an epoch a stage
    assert set(done) == {f"epoch {e}/2 rounds 1-4 of 4" for e in (1, 2)}
    assert all(phases[label] == int(tasks) for label, tasks in done.items()), (phases, done)
    monkeypatch.setattr(stratified, "JOB_SUB_EPOCHS", 4)   # 4 rounds an epoch, 2 a job, and
    round_bytes = stratified.PAIR_BYTES_PER_WORD * direct.result.info["train_words"] / 2 / 4   # a task's
    for group_bytes in (int(2.5 * round_bytes), 0):   # a job's 2 rounds one barrier stage; each round one
        monkeypatch.setattr(stratified, "GROUP_BYTES", group_bytes)
        monkeypatch.setattr(session, "COLLECT_AT_ONCE_BYTES", 64 << 20 if group_bytes else 0)
        caplog.clear()
        again, phases, done = _fit_with_progress(frame, settings, monkeypatch, caplog)
        jobs = {f"epoch {e}/2 rounds {r} of 4" for e in (1, 2) for r in ("1-2", "3-4")}
        if not group_bytes:   # the second block's rows come in a job of their own, a phase of its own
            jobs |= {"epoch 1/2 collecting the model"}
            assert phases["epoch 1/2 collecting the model"] == 1
        assert jobs <= set(done)    # (the last fit's progress thread may log its last lines late)
        assert all(phases[label] == int(done[label]) for label in jobs), (group_bytes, phases, done)
        np.testing.assert_array_equal(direct.wv.vectors, again.wv.vectors)
    shuffled = Word2Vec(**settings, block_exchange="shuffle").fit(frame)
    assert (direct.result.info["block_exchange"], shuffled.result.info["block_exchange"]) == ("direct", "shuffle")
    assert direct.result.info["syncs_per_epoch"] == 8
    np.testing.assert_array_equal(direct.wv.vectors, shuffled.wv.vectors)
    with pytest.raises(ConfigError, match=r"block_exchange 'direct' cannot run here: 4 tasks must run at once "
                                          r"and the session has 2 task slots"):
        Word2Vec(**dict(settings, num_partitions=4, concurrent_shards=4), block_exchange="direct").fit(frame)


def _two_shard_run(spark, tmp_path, epochs: int = 2) -> tuple[list[str], np.ndarray]:
    """``sparkw2v train`` arguments for 2 stratified shards at once on a small planted corpus,
    ``epochs`` epochs with a checkpoint after each but the last; and the vectors they train with a
    shuffle per sub-epoch."""
    from sparkw2v import Word2VecModel
    from sparkw2v.cli import main
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=3, sentences=300)) + "\n")
    args = ["--input", str(corpus), "--vector-size", "8", "--epochs", str(epochs), "--min-count", "1", "--window", "3",
            "--sample", "0", "--num-partitions", "2", "--concurrent-shards", "2", "--strategy", "stratified",
            "--owned-rows", "both", "--syncs-per-epoch", "4", "--seed", "3", "--show", "", "--checkpoint-interval", "0"]
    assert main(["train", "--output", str(tmp_path / "shuffled"), *args, "--block-exchange", "shuffle"]) == 0
    return args, Word2VecModel.load(str(tmp_path / "shuffled"), spark=spark).wv.vectors


def test_auto_hands_blocks_on_by_shuffle_once_tasks_cannot_reach_the_driver(spark, monkeypatch, tmp_path, caplog,
                                                                          capsys):
    """The driver's rendezvous announced at a port nothing listens on, as a firewall between the
    executors and the driver would refuse it. Under 'auto' the run warns once, trains the failed
    epoch again from its start with a shuffle per sub-epoch, and the rest of the run so, and its
    vectors are a shuffle's bit for bit; the failed attempt leaves nothing cached, no broadcast
    and no stage token behind. Failing in epoch 2, the epoch restarts from the blocks epoch 1's
    checkpoint holds. The application then shuffles from the start, and refuses 'direct'. Under
    'direct' the same failure ends the run with one line."""
    from sparkw2v import Word2VecModel, exchange
    from sparkw2v.cli import main
    monkeypatch.setattr(stratified, "JOB_SUB_EPOCHS", 2)   # 2 jobs an epoch: the first fails in its count()
    args, reference = _two_shard_run(spark, tmp_path)

    sc = spark.sparkContext
    meeting = exchange.rendezvous(sc)
    listening, unreachable = meeting.address, ("127.0.0.1", unreachable_port())
    made, released, failed = [], [], []
    broadcast, release, train = sc.broadcast, stratified.release_broadcast, stratified.train_epoch
    monkeypatch.setattr(sc, "broadcast", lambda value: made.append(broadcast(value)) or made[-1])
    monkeypatch.setattr(stratified, "release_broadcast", lambda b: released.append(b) or release(b))

    def cached():
        return set(sc._jsc.getPersistentRDDs().keys())

    def train_epoch(sc, shards, run, epoch, *rest, first=0, **kwargs):   # unreachable from epoch ``first``
        if epoch >= first:
            monkeypatch.setattr(meeting, "address", unreachable)
        before, tokens, broadcasts = cached(), dict(meeting._tasks), len(made)
        try:
            return train(sc, shards, run, epoch, *rest, **kwargs)
        except Exception:
            failed.append((epoch, kwargs["direct"], cached() - before, meeting._tasks == tokens,
                           [b for b in made[broadcasts:] if not any(b is r for r in released)]))
            raise

    for first, used in ((0, "shuffle"), (1, "direct, then shuffle from epoch 2")):
        monkeypatch.setattr(exchange, "_UNREACHED", {})   # each run as the first of its application
        monkeypatch.setattr(meeting, "address", listening)
        monkeypatch.setattr(stratified, "train_epoch", functools.partial(train_epoch, first=first))
        failed.clear()
        caplog.clear()
        out = tmp_path / f"auto-{first}"
        with caplog.at_level(logging.WARNING, logger="sparkw2v"):
            assert main(["train", "--output", str(out), *args]) == 0
        assert failed == [(first, True, set(), True, [])]   # one failed attempt, and nothing of it left
        warned = [r.getMessage() for r in caplog.records if "direct hand-overs" in r.getMessage()]
        assert len(warned) == 1 and re.match(
            rf"direct hand-overs between stratified tasks failed \(task \d could not reach the driver at "
            rf"127.0.0.1:{unreachable[1]} \(.+\)\) after [\d.]+ s: epoch {first + 1} starts over, and the run goes on, with a Spark "
            r"shuffle per sub-epoch .*--block-exchange shuffle", warned[0]), warned
        model = Word2VecModel.load(str(out), spark=spark)
        assert model.training_metadata()["block_exchange"] == used
        assert model.training_metadata()["parameters"]["block_exchange"] == "auto"
        np.testing.assert_array_equal(model.wv.vectors, reference)

    # The application remembers: the next run (a stream's next batch, another fit) shuffles from the
    # start without a failed stage or a warning, and 'direct' is refused before any work.
    failed.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sparkw2v"):
        assert main(["train", "--output", str(tmp_path / "again"), *args]) == 0
    assert failed == [] and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("could not connect earlier (task" in r.getMessage() for r in caplog.records)
    assert Word2VecModel.load(str(tmp_path / "again"), spark=spark).training_metadata()["block_exchange"] == "shuffle"
    capsys.readouterr()
    assert main(["train", "--output", str(tmp_path / "refused"), *args, "--block-exchange", "direct"]) == 2
    assert "'direct' cannot run here: tasks of this Spark application could not connect earlier" in capsys.readouterr().err

    monkeypatch.setattr(exchange, "_UNREACHED", {})
    monkeypatch.setattr(meeting, "address", unreachable)
    capsys.readouterr()
    assert main(["train", "--output", str(tmp_path / "direct"), *args, "--block-exchange", "direct"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sparkw2v: error:")]
    assert len(errors) == 1 and re.fullmatch(
        rf"sparkw2v: error: task \d could not reach the driver at 127.0.0.1:{unreachable[1]} \(.+\); where executors "
        r"cannot reach each other \(and the driver\) on ephemeral TCP ports, train with --block-exchange shuffle "
        r"\(block_exchange = 'shuffle'\)", errors[0]), errors


def test_auto_hands_blocks_on_by_shuffle_once_the_cluster_has_too_few_slots(spark, monkeypatch, tmp_path, caplog,
                                                                        capsys):
    """An executor lost and not replaced leaves fewer task slots than tasks. Mid-epoch, the retried
    barrier stage would wait for them without limit: once the slots have been short for Spark's
    wait, the epoch's jobs are cancelled, and under 'auto' the epoch is trained again from its start
    with a shuffle per sub-epoch; under 'direct' the run ends with one line. If the blocks an epoch left on the executors are lost before its checkpoint is written
    (Spark refuses the barrier job that would make them again), 'auto' trains that epoch again too.
    The vectors are a shuffle's bit for bit every time."""
    from sparkw2v import Word2VecModel, exchange
    from sparkw2v.cli import main
    args, reference = _two_shard_run(spark, tmp_path)

    # Mid-epoch: from epoch 2 on, the session reports one slot for the two tasks.
    slots, tried = {"now": 2}, []
    monkeypatch.setattr(exchange, "task_slots", lambda _sc: slots["now"])
    monkeypatch.setattr(exchange, "SlotWatch", functools.partial(exchange.SlotWatch, grace=0.0, poll=0.02))
    train = stratified.train_epoch

    def train_epoch(sc, shards, run, epoch, *rest, **kwargs):
        tried.append((epoch, kwargs["direct"]))
        slots["now"] = 1 if epoch == 1 else 2
        return train(sc, shards, run, epoch, *rest, **kwargs)

    monkeypatch.setattr(stratified, "train_epoch", train_epoch)
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert main(["train", "--output", str(tmp_path / "auto"), *args]) == 0
    assert tried == [(0, True), (1, True), (1, False)]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and re.match(
        r"direct hand-overs between stratified tasks failed \(the cluster had fewer task slots than the stratified "
        r"tasks that hand blocks to each other \(1 slot for 2 tasks for \d+ s: .*\)\) after [\d.]+ s: epoch 2 starts over, and the "
        r"run goes on, with a Spark shuffle per sub-epoch \(slower, the same vectors\); a later epoch hands blocks "
        r"on directly again if the session has a slot per task by then$", warned[0]), warned
    model = Word2VecModel.load(str(tmp_path / "auto"), spark=spark)
    assert model.training_metadata()["block_exchange"] == "direct, then shuffle from epoch 2"
    np.testing.assert_array_equal(model.wv.vectors, reference)

    tried.clear()
    slots["now"] = 2
    capsys.readouterr()
    assert main(["train", "--output", str(tmp_path / "direct"), *args, "--block-exchange", "direct"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sparkw2v: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "sparkw2v: error: the cluster had fewer task slots than the stratified tasks that hand blocks to each other "
        "(1 slot for 2 tasks for "), errors
    assert "--resume" in errors[0] and tried == [(0, True), (1, True)]

    # Between an epoch and its checkpoint: the blocks epoch 1 left are lost, and making them again
    # is refused by Spark (as its BarrierJobSlotsNumberCheckFailed reads).
    monkeypatch.setattr(stratified, "train_epoch", train)
    slots["now"] = 2
    write, refused = stratified.write_blocks, []

    def write_blocks(spark, blocks, path):
        if not refused:
            refused.append(path)
            time.sleep(1.0)                                 # Spark's wait for the slots, shortened
            raise RuntimeError("An error occurred while calling o1080.parquet.\n: org.apache.spark.scheduler."
                               "BarrierJobSlotsNumberCheckFailed: [SPARK-24819]: Barrier execution mode does not "
                               "allow run a barrier stage that requires more slots than the total number of slots")
        return write(spark, blocks, path)

    def slow_first(sc, shards, run, epoch, *rest, **kwargs):
        if kwargs["direct"] and not refused:
            time.sleep(2.0)                                 # the first attempt: longer than the one after
        return train(sc, shards, run, epoch, *rest, **kwargs)

    monkeypatch.setattr(stratified, "train_epoch", slow_first)
    monkeypatch.setattr(stratified, "write_blocks", write_blocks)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sparkw2v"):
        assert main(["train", "--output", str(tmp_path / "lost"), *args]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith(
        "the blocks epoch 1 left on the executors were lost before its checkpoint was written (the cluster had "
        "fewer task slots than the stratified tasks that hand blocks to each other (an executor lost and not "
        "replaced in time)): epoch 1 starts over"), warned
    assert any(r.getMessage().startswith("checkpoint after epoch 1 stopped: ") for r in caplog.records)
    epochs = [r.getMessage() for r in caplog.records if re.match(r"epoch \d/2: ", r.getMessage())]
    assert [line[:9] for line in epochs] == ["epoch 1/2", "epoch 1/2", "epoch 2/2"]
    model = Word2VecModel.load(str(tmp_path / "lost"), spark=spark)
    # Epoch 1 as the shuffle trained it; epoch 2, with both slots, handed blocks on directly.
    assert model.training_metadata()["block_exchange"] == "shuffle, then direct from epoch 2"
    history = model.training_metadata()["history"]
    assert [entry["epoch"] for entry in history] == [1, 2]
    # The epoch's wall time holds its first attempt and the failed checkpoint too, as the run's does.
    first, again = (float(re.search(r", ([\d.]+)s$", line).group(1)) for line in epochs[:2])
    assert again == pytest.approx(history[0]["seconds"], abs=0.06) and again > first + 1.0, (first, again)
    assert model.training_metadata()["timings"]["train_seconds"] >= sum(entry["seconds"] for entry in history)
    np.testing.assert_array_equal(model.wv.vectors, reference)


def test_auto_hands_blocks_on_directly_again_once_the_slots_are_back(spark, monkeypatch, tmp_path, caplog):
    """A run under 'auto' that shuffled for want of task slots (at its start, or after an executor
    was lost) hands blocks on directly again from the first epoch that finds a slot per task (late
    executors, or a lost one replaced); the metadata names each change, and the vectors are a
    shuffle's bit for bit."""
    from sparkw2v import Word2VecModel, exchange
    from sparkw2v.cli import main
    args, reference = _two_shard_run(spark, tmp_path, epochs=3)
    slots, tried = {"now": 2}, []
    monkeypatch.setattr(exchange, "task_slots", lambda _sc: slots["now"])
    monkeypatch.setattr(exchange, "SlotWatch", functools.partial(exchange.SlotWatch, grace=0.0, poll=0.02))
    train = stratified.train_epoch

    def train_epoch(sc, shards, run, epoch, *rest, during=None, after=None, **kwargs):
        tried.append((epoch, kwargs["direct"]))
        slots["now"] = during.get(epoch, slots["now"])
        try:
            return train(sc, shards, run, epoch, *rest, **kwargs)
        finally:
            slots["now"] = after.get(epoch, slots["now"])

    cases = [  # slots at the start, during and after an epoch; the attempts; the epoch direct again; the metadata
        (1, {}, {0: 2}, [(0, False), (1, True), (2, True)], 2, "shuffle, then direct from epoch 2"),
        (2, {1: 1}, {1: 2}, [(0, True), (1, True), (1, False), (2, True)], 3,
         "direct, then shuffle from epoch 2, then direct from epoch 3"),
    ]
    for start, during, after, attempts, back, used in cases:
        slots["now"] = start
        tried.clear()
        caplog.clear()
        monkeypatch.setattr(stratified, "train_epoch", functools.partial(train_epoch, during=during, after=after))
        out = tmp_path / f"back-{start}"
        with caplog.at_level(logging.INFO, logger="sparkw2v"):
            assert main(["train", "--output", str(out), *args]) == 0
        assert tried == attempts
        again = [r.getMessage() for r in caplog.records if "with each other directly" in r.getMessage()]
        assert again == [f"the session now has a task slot for each of the 2 stratified tasks: from epoch {back} "
                         "they exchange rows with each other directly"], again
        model = Word2VecModel.load(str(out), spark=spark)
        assert model.training_metadata()["block_exchange"] == used
        np.testing.assert_array_equal(model.wv.vectors, reference)


def test_owned_cbow_with_more_blocks_than_words_and_an_empty_partition():
    """Blocks with no word train nothing, an empty partition yields nothing, and no output row is
    written outside its block."""
    from sparkw2v.combine import STATS_KEY
    from sparkw2v.executor import train_partition
    from sparkw2v.kernel import KernelParams
    rng = np.random.default_rng(1)
    counts = np.array([40, 30, 20, 10, 5])
    owner = stratified.output_owners(counts, 0.0, 8, seed=4, epoch=1)
    assert np.bincount(owner, minlength=8).tolist().count(0) == 3
    tokens = rng.integers(0, 5, 400).astype(np.int32)
    records = [[((0, 0, 0), (tokens, np.full(50, 8)))], []]
    kernel = KernelParams(sg=False, window=2, negative=2, chunk_words=64, shared_by=4, shared_draws=4)
    model = Held((rng.random((5, 4)).astype(np.float32), rng.random((5, 4)).astype(np.float32)))
    trained = set()
    for s in range(8):
        task = _owned_task(s, 8, 1, kernel, "tiny")
        assert list(train_partition(1, records[1], task, model, Held((counts, None)), Held(owner))) == []
        out = dict(train_partition(0, records[0], task, model, Held((counts, None)), Held(owner)))
        rows = np.flatnonzero(out[0][1].n_out) if 0 in out else np.zeros(0, int)
        assert np.all(owner[rows] == stratified.pairing(4, 1, 0, 8)[s, 0])
        trained.update(rows.tolist())
        assert out[STATS_KEY][1].words == (400 if s == 0 else 0)
    assert trained == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("shared", [False, True], ids=["4 output blocks", "2 shared output blocks"])
def test_cbow_stratified_training_on_spark(spark, monkeypatch, shared):
    frame = text_frame(spark, planted_lines(seed=2, sentences=600))
    if shared:   # 4 partitions, 2 output blocks: 4 rounds of 2 sub-epochs
        monkeypatch.setattr(stratified, "SHARE_OUTPUT_FROM", 4)
    dealt = []   # the blocks each epoch's output rows are dealt into (on the driver)
    owners = stratified.output_owners
    monkeypatch.setattr(stratified, "output_owners", lambda counts, sample, blocks, seed, epoch: (
        dealt.append(blocks), owners(counts, sample, blocks, seed, epoch))[1])
    settings = dict(PLANTED, sg=False, num_partitions=4, concurrent_shards=4, epochs=3, syncs_per_epoch=8,
                    strategy="stratified")
    model = Word2Vec(**settings).fit(frame)
    info, history = model.result.info, model.result.history
    assert (info["strategy"], info["combine"], info["syncs_per_epoch"], info["alpha_scale"]) == \
        ("stratified", None, 8, 1.0)
    assert dealt == [2 if shared else 4] * 3
    # 2 rounds of 4 sub-epochs (or 4 of 2): each round's words count once, each centre is trained once.
    assert [h["words"] for h in history] == [4800] * 3 and history[-1]["loss"] < history[0]["loss"]
    assert all(4000 < h["examples"] <= 4800 for h in history)
    for word in model.wv.words:
        assert all(n[:2] == word[:2] for n, _ in model.most_similar(word, topn=5)), word


def test_a_stratified_run_with_shared_output_blocks_resumes_to_the_same_vectors(spark, monkeypatch, tmp_path,
                                                                                 capsys):
    """Interrupted after its first epoch's checkpoint, a stratified run with shared output blocks
    continues bit for bit: the blocks follow from the seed, each epoch's pairs and shares from the
    seed and the epoch, and the checkpoint holds the blocks the tasks held. Epochs that end in a
    checkpoint keep the rows on the executors (the next epoch reads them back from it); a run that
    collects them on the driver every epoch gives the same vectors."""
    from sparkw2v import Word2VecModel, faults
    from sparkw2v.cli import main
    monkeypatch.setattr(stratified, "SHARE_OUTPUT_FROM", 4)       # 4 tasks, 2 output blocks shared by two each
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=2, sentences=600)) + "\n")
    args = ["--input", str(corpus), "--vector-size", "8", "--epochs", "2", "--min-count", "1", "--window", "3",
            "--sample", "0", "--num-partitions", "4", "--concurrent-shards", "4", "--strategy", "stratified",
            "--owned-rows", "both", "--syncs-per-epoch", "4", "--seed", "3", "--show", "", "--checkpoint-interval", "0"]
    assert main(["train", "--output", str(tmp_path / "whole"), *args]) == 0
    assert main(["train", "--output", str(tmp_path / "collected"), *args[:-2], "--checkpoint-interval", "3600"]) == 0

    def interrupt():
        raise KeyboardInterrupt
    monkeypatch.setattr(faults, "pause_after_checkpoint", interrupt)   # Ctrl-C after epoch 1's checkpoint
    assert main(["train", "--output", str(tmp_path / "resumed"), *args]) == 130
    checkpoint = checkpoint_dir(tmp_path / "resumed", 1) / "metadata.json"
    saved = json.loads(checkpoint.read_text())
    assert saved["format"] == 3 and saved["parameters"]["output_blocks"] == 2   # the shared schedule
    assert saved["layout"] == "blocks" and sorted(saved["files"]) and all(
        name.split("/")[0] in ("vocab", "blocks") for name in saved["files"])  # written by the tasks, no matrices
    assert not (tmp_path / "resumed" / "versions").exists()
    checkpoint.with_name(".metadata.json.crc").unlink(missing_ok=True)   # Hadoop's checksum of the file
    checkpoint.write_text(json.dumps(integrity.sealed({**saved, "format": 99})))      # as if from a later sparkw2v
    capsys.readouterr()
    assert main(["train", "--output", str(tmp_path / "resumed"), "--resume", *args]) != 0
    assert "format 99 (layout 'blocks'), written by a newer sparkw2v" in capsys.readouterr().err
    checkpoint.write_text(json.dumps(saved))
    part = sorted((checkpoint.parent / "blocks").glob("part-*.parquet"))[0]    # a damaged block file
    intact = part.read_bytes()
    (part.parent / f".{part.name}.crc").unlink(missing_ok=True)
    part.write_bytes(intact[:len(intact) // 2] + bytes([intact[len(intact) // 2] ^ 0xFF]) + intact[len(intact) // 2 + 1:])
    assert main(["train", "--output", str(tmp_path / "resumed"), "--resume", *args]) != 0
    assert f"{part.name} is damaged: " in capsys.readouterr().err   # page checksums or the footer
    part.write_bytes(intact)
    checkpoint.write_text(json.dumps(integrity.sealed({**saved, "owners_sha256": "0" * 64})))     # dealt otherwise
    assert main(["train", "--output", str(tmp_path / "resumed"), "--resume", *args]) != 0
    assert "deals the run's rows into blocks otherwise" in capsys.readouterr().err
    checkpoint.write_text(json.dumps(saved))
    monkeypatch.setattr(faults, "pause_after_checkpoint", lambda: None)
    assert main(["train", "--output", str(tmp_path / "resumed"), "--resume", *args]) == 0
    whole = Word2VecModel.load(str(tmp_path / "whole"), spark=spark)
    resumed = Word2VecModel.load(str(tmp_path / "resumed"), spark=spark)
    collected = Word2VecModel.load(str(tmp_path / "collected"), spark=spark)
    assert resumed.training_metadata()["resumed_after_epoch"] == 1
    np.testing.assert_array_equal(resumed.wv.vectors, whole.wv.vectors)
    np.testing.assert_array_equal(collected.wv.vectors, whole.wv.vectors)


def test_disk_full_while_the_tasks_write_a_checkpoint_is_one_line_and_keeps_the_previous_one(
        spark, monkeypatch, tmp_path, capsys):
    """A full disk while the tasks write a checkpoint's blocks: one line, the partial checkpoint
    removed, the previous checkpoint intact, nothing published; --resume continues from it."""
    from sparkw2v import Word2VecModel
    from sparkw2v.cli import main
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=2, sentences=400)) + "\n")
    out = tmp_path / "model"
    args = ["--input", str(corpus), "--output", str(out), "--vector-size", "8", "--epochs", "3", "--min-count", "1",
            "--window", "3", "--sample", "0", "--num-partitions", "4", "--concurrent-shards", "4",
            "--strategy", "stratified", "--owned-rows", "both", "--syncs-per-epoch", "4", "--seed", "3", "--show", "",
            "--checkpoint-interval", "0"]
    real_write_blocks, writes = stratified.write_blocks, []

    def full(spark_, blocks, path):
        real_write_blocks(spark_, blocks, path)
        writes.append(path)
        if len(writes) == 2:   # the second checkpoint's blocks, once written: the disk fills up
            raise RuntimeError("An error occurred while calling o99.parquet.\n: org.apache.spark.SparkException: "
                               "Job aborted.\n" + "\tat org.apache.spark.Something(Something.scala:1)\n" * 300
                               + "Caused by: java.io.IOException: No space left on device")
    monkeypatch.setattr(stratified, "write_blocks", full)
    capsys.readouterr()
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("sparkw2v: error: ")]
    assert len(lines) == 1 and "Traceback" not in err and len(lines[0]) < 500, err[-2000:]
    assert "no space left on device while writing a checkpoint" in lines[0]
    checkpoints = checkpoint_dir(out, 1).parent
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch-000001"]   # the partial one removed
    assert json.loads((checkpoints / "epoch-000001" / "metadata.json").read_text())["layout"] == "blocks"
    assert not (out / "versions").exists()
    monkeypatch.undo()
    assert main(["train", *args, "--resume"]) == 0
    assert Word2VecModel.load(str(out), spark=spark).training_metadata()["resumed_after_epoch"] == 1


# -- output rows owned, the changes exchanged directly (sparkw2v.allgather) -----------------------------

def test_owned_rows_auto_owns_both_matrices_for_skip_gram_and_output_rows_for_cbow():
    assert (TrainConfig().effective_owned_rows, TrainConfig(sg=False).effective_owned_rows) == ("both", "output")
    assert TrainConfig(owned_rows="output").effective_owned_rows == "output"
    assert TrainConfig(sg=False, owned_rows="output").effective_owned_rows == "output"
    with pytest.raises(ConfigError, match="invalid owned_rows='both': CBOW owns output rows only"):
        TrainConfig(sg=False, owned_rows="both").validate(require_io=False)
    with pytest.raises(ConfigError, match="invalid owned_rows='input': must be one of auto, output, both"):
        TrainConfig(owned_rows="input").validate(require_io=False)


@pytest.mark.parametrize("sg", [True, False])
def test_owning_output_rows_trains_an_epoch_in_one_barrier_stage_with_the_vectors_of_a_job_per_sub_epoch(
        spark, monkeypatch, caplog, sg):
    """2 shards on local[2], output rows owned: 'auto' trains each epoch as one barrier stage whose
    tasks send each other their changes and add them all (one progress phase an epoch, not one per
    sub-epoch), and the vectors equal those of a Spark job per sub-epoch bit for bit; so do they
    when one of the two shards holds no words. The shares come to the driver in one job (skip-gram
    here) or, as a large model's do, a share at a time (CBOW here)."""
    from sparkw2v import session
    monkeypatch.setattr(session, "COLLECT_AT_ONCE_BYTES", 1 << 30 if sg else 0)
    settings = dict(PLANTED, sg=sg, num_partitions=2, concurrent_shards=2, epochs=3, syncs_per_epoch=8,
                    strategy="stratified", owned_rows="output")
    for lines in (planted_lines(seed=3, sentences=300), planted_lines(seed=3, sentences=1)):
        frame = text_frame(spark, lines)
        caplog.clear()
        direct, phases, _ = _fit_with_progress(frame, settings, monkeypatch, caplog)
        epochs = {f"epoch {e}/3{part}" for e in (1, 2, 3) for part in ("",) + (() if sg else (" collecting the model",))}
        assert {label for label in phases if label and label.startswith("epoch")} == epochs
        # Progress knows the job's tasks beforehand: the barrier stage's and the collecting stage's;
        # shares collected one a job, the jobs after the first are a phase of their own.
        done = [m.groups() for m in map(re.compile(r"epoch \d/3( collecting the model)? done: (\d+) tasks").match,
                                         caplog.messages) if m]
        assert done == ([(None, "4")] if sg else [(None, "3"), (" collecting the model", "1")]) * 3, done
        assert all(phases[f"epoch {e}/3"] == (4 if sg else 3) for e in (1, 2, 3)), phases
        through_spark = Word2Vec(**settings, block_exchange="shuffle").fit(frame)
        for model, used in ((direct, "direct"), (through_spark, "shuffle")):
            info = model.result.info
            assert (info["strategy"], info["owned_rows"], info["block_exchange"]) == ("stratified", "output", used)
            assert (model.result.metadata()["strategy"], model.result.metadata()["owned_rows"]) == ("stratified", "output")
        np.testing.assert_array_equal(direct.wv.vectors, through_spark.wv.vectors)
        np.testing.assert_array_equal(direct.result.w_out, through_spark.result.w_out)
        assert [h["words"] for h in direct.result.history] == [h["words"] for h in through_spark.result.history]
        assert [h["loss"] for h in direct.result.history] == [h["loss"] for h in through_spark.result.history]
    assert sorted(direct.result.info["shard_words"]) == [0, 8]   # one sentence: the other shard is empty


def test_owned_output_rows_warn_once_a_setting_keeps_tasks_from_exchanging_directly(spark, monkeypatch, caplog):
    """Dynamic allocation on (the reason patched in: the test session cannot turn it on): CBOW's
    owned output rows would sync through the driver every sub-epoch, which a warning names with
    the reason; skip-gram's blocks take a shuffle, which costs little (no warning); and so does
    choosing the shuffle (no warning)."""
    from sparkw2v import exchange
    reason = "Spark's dynamic allocation is on (spark.dynamicAllocation.enabled), which barrier stages refuse"
    monkeypatch.setattr(exchange, "unavailable_reason", lambda sc, tasks: reason)
    monkeypatch.setattr(exchange, "refusing_setting", lambda sc: reason)
    monkeypatch.setattr(exchange, "task_slots", lambda sc: 1)   # as under dynamic allocation: executors come later
    frame = text_frame(spark, planted_lines(seed=3, sentences=100))
    settings = dict(PLANTED, num_partitions=2, concurrent_shards=2, epochs=1, syncs_per_epoch=8, strategy="stratified")
    warned = {}
    for name, extra in (("cbow", dict(sg=False)), ("sg", dict(sg=True)), ("cbow shuffle", dict(sg=False, block_exchange="shuffle"))):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="sparkw2v"):
            model = Word2Vec(**settings, **extra).fit(frame)
        assert model.result.info["block_exchange"] == "shuffle"
        warned[name] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned["cbow"]) == 1 and warned["cbow"][0].startswith(
        f"the shards' tasks cannot exchange rows directly ({reason}), so every sub-epoch syncs through the driver")
    assert warned["sg"] == [] and warned["cbow shuffle"] == []


def test_owning_output_rows_trains_through_spark_once_tasks_cannot_reach_the_driver(spark, monkeypatch, caplog):
    """The driver's rendezvous announced at a port nothing listens on: under 'auto' the epoch
    starts over with a Spark job per sub-epoch after one warning, and the run's vectors are those
    of a run through Spark from the start."""
    from sparkw2v import exchange
    frame = text_frame(spark, planted_lines(seed=3, sentences=300))
    settings = dict(PLANTED, num_partitions=2, concurrent_shards=2, epochs=2, syncs_per_epoch=8,
                    strategy="stratified", owned_rows="output")
    reference = Word2Vec(**settings, block_exchange="shuffle").fit(frame)
    meeting = exchange.rendezvous(spark.sparkContext)
    monkeypatch.setattr(exchange, "_UNREACHED", {})
    monkeypatch.setattr(meeting, "address", ("127.0.0.1", unreachable_port()))
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        model = Word2Vec(**settings).fit(frame)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and re.match(r"direct exchange between stratified tasks failed \(task \d could not reach "
                                         r"the driver .*\) after [\d.]+ s: epoch 1 starts over, and the run goes on, with a Spark job "
                                         r"per sub-epoch \(slower, the same vectors\)", warned[0]), warned
    assert model.result.info["block_exchange"] == "shuffle"
    np.testing.assert_array_equal(model.wv.vectors, reference.wv.vectors)
