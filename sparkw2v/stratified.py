"""Stratified row ownership: skip-gram shards trained at once without averaging.

Averaging K copies that each saw 1/K of the text loses accuracy as K grows (BENCHMARKS.md).
Here no two tasks ever write the same row, so there is nothing to average (DSGD, Gemulla et
al. 2011, applied to word2vec as in Spark pull request 37967):

* Each epoch the vocabulary's input rows and its output rows are each dealt into K
  blocks of about equal load (K = shards trained at once). A skip-gram pair (context x,
  centre y) belongs to cell ``(block_in[x], block_out[y])``.
* Every shard forms its epoch's pairs (subsampling, reduced windows) and sends each to
  the task owning its input block: one shuffle per epoch.
* A round has K sub-epochs. In sub-epoch ``s``, task ``p`` trains cell ``(p, (p + s) mod K)``
  on a copy of the rows of that cell only, and ships those rows back whole. The K cells
  of a sub-epoch share no row, so the result is that of training them one after another.
  Negatives for cell ``(p, q)`` come from block ``q``'s words, by unigram^0.75.
* An epoch is R rounds, each over 1/R of every shard's pairs: K x R syncs. A row trained
  against one block of the other matrix for too long drifts (screens on Brown, one seed:
  8 blocks with one round keep 77% of one shard's analogy accuracy, 32 sub-epochs 91%,
  64 or more ~100%),
  so R defaults to ``ceil(SUB_EPOCHS / K)`` (fewer on a small corpus: :func:`rounds_per_epoch`).

Driver code first (:func:`train_epoch`), then the executor functions (top-level, plain
arrays and small frozen tasks).
"""

from __future__ import annotations

import functools
import heapq
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from pyspark import StorageLevel

from .combine import SyncStats
from .kernel import skipgram_pairs, train_pairs
from .sampling import keep_probabilities, negative_table

#: Sub-epochs per epoch the default number of rounds aims at (rounds = ceil(SUB_EPOCHS / K)).
SUB_EPOCHS = 128
#: Fewest corpus words per cell and round the default keeps (a cell is 1/K^2 of the text):
#: on a tiny corpus, fewer rounds rather than syncs that carry no work.
MIN_CELL_WORDS = 64
#: Pairs per SGD step times blocks: steps of ``clamp(STEP_PAIRS_BY_BLOCKS / K, 32, 256)`` pairs.
#: Repeats of a row within a step are summed, and a block of 1/K of the rows repeats its
#: frequent rows K times as often: on Brown, 256-pair steps diverge at 32 blocks.
STEP_PAIRS_BY_BLOCKS = 2048


def step_pairs(blocks: int) -> int:
    """Pairs per SGD step at ``blocks`` blocks: fewer as blocks shrink, so a frequent row
    repeats about as often within a step at any K."""
    return int(min(256, max(32, STEP_PAIRS_BY_BLOCKS // blocks)))


def rounds_per_epoch(shards: int, words: int, syncs_per_epoch: int | None = None) -> int:
    """Rounds per epoch (each is ``shards`` syncs) for a corpus of ``words``: from the user's
    syncs per epoch if given, else ``ceil(SUB_EPOCHS / shards)``, fewer if a cell would hold
    under ``MIN_CELL_WORDS`` words."""
    if syncs_per_epoch:
        return max(1, round(syncs_per_epoch / shards))
    return max(1, min(-(-SUB_EPOCHS // shards), words // (shards * shards * MIN_CELL_WORDS)))


#: Rows dealt one by one into the lightest block; lighter rows beyond them are dealt in turn.
HEAVY_ROWS = 1 << 16


def assign_blocks(load: np.ndarray, blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Deal rows into ``blocks`` blocks of near-equal total ``load``: heaviest row first, each
    into the lightest block so far (ties between equal loads in random order). Past the
    ``HEAVY_ROWS`` heaviest, rows are dealt to the blocks in turn, which adds about the same
    load to each (a Python loop over a million rows would take seconds per epoch)."""
    order = np.lexsort((rng.random(load.size), -np.asarray(load, dtype=np.float64)))
    owner = np.empty(load.size, dtype=np.int32)
    heap = [(0.0, b) for b in range(blocks)]
    for row in order[:HEAVY_ROWS]:
        total, b = heapq.heappop(heap)
        owner[row] = b
        heapq.heappush(heap, (total + float(load[row]), b))
    lightest_first = np.array([b for _, b in sorted(heap)], dtype=np.int32)
    owner[order[HEAVY_ROWS:]] = lightest_first[np.arange(max(0, load.size - HEAVY_ROWS)) % blocks]
    return owner


def pair_load(counts: np.ndarray, sample: float) -> np.ndarray:
    """Expected pairs per word and epoch, up to a constant: its count after subsampling."""
    return counts * keep_probabilities(counts, sample)


# -- driver ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairTask:
    """What forming one epoch's pairs needs."""

    seed: int
    epoch: int
    window: int
    sample: float
    blocks: int
    rounds: int


@dataclass(frozen=True)
class CellTask:
    """What training one cell in one sub-epoch needs."""

    seed: int
    epoch: int
    round: int
    sub_epoch: int
    blocks: int
    rounds: int
    negative: int
    ns_exponent: float
    alpha_start: float
    alpha_end: float
    step_pairs: int


def train_epoch(sc, shards, counts: np.ndarray, cfg, epoch: int, w_in: np.ndarray, w_out: np.ndarray,
                alpha_at: Callable[[float], float], rounds: int,
                describe: Callable[[str], None] | None = None) -> SyncStats:
    """One epoch over the cached shards (one partition per task slot), updating ``w_in`` and
    ``w_out`` in place; ``alpha_at(progress)`` is the run's learning rate at a point of the epoch.
    The stats count pairs as examples."""
    blocks = shards.getNumPartitions()
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x57A7]))
    load = pair_load(counts, cfg.sample)
    owner_in, owner_out = assign_blocks(load, blocks, rng), assign_blocks(load, blocks, rng)
    rows_in = [np.flatnonzero(owner_in == b) for b in range(blocks)]
    rows_out = [np.flatnonzero(owner_out == b) for b in range(blocks)]
    owners_bc = sc.broadcast((counts, owner_in, owner_out))
    pairs = None
    stats = SyncStats()
    try:
        task = PairTask(cfg.seed, epoch, cfg.window, cfg.sample, blocks, rounds)
        pairs = (shards.mapPartitionsWithIndex(functools.partial(route_pairs, task=task, owners_bc=owners_bc))
                 .partitionBy(blocks, _own_block)
                 .mapPartitionsWithIndex(gather_pairs, preservesPartitioning=True)
                 .persist(StorageLevel.MEMORY_AND_DISK))
        subs = rounds * blocks
        for r in range(rounds):
            for s in range(blocks):
                step = r * blocks + s
                if describe is not None:
                    describe(f"round {r + 1}/{rounds} sub-epoch {s + 1}/{blocks}")
                cell = CellTask(cfg.seed, epoch, r, s, blocks, rounds, cfg.negative, cfg.ns_exponent,
                                alpha_at(step / subs), alpha_at((step + 1) / subs), step_pairs(blocks))
                stats = stats + _sub_epoch(sc, pairs, cell, w_in, w_out, owners_bc, rows_in, rows_out)
    finally:
        if pairs is not None:
            pairs.unpersist()
        owners_bc.destroy()
    return stats


def _sub_epoch(sc, pairs, cell: CellTask, w_in, w_out, owners_bc, rows_in, rows_out) -> SyncStats:
    """Broadcast, train the K cells, write their rows back (no two cells share a row).

    One broadcast of the whole model: a broadcast per block would let a task read only its
    two blocks, but each costs ~40 ms on the driver (2K of them per sub-epoch)."""
    model_bc = sc.broadcast((w_in, w_out))
    try:
        results = pairs.mapPartitionsWithIndex(functools.partial(
            train_cell, task=cell, model_bc=model_bc, owners_bc=owners_bc)).collect()
    finally:
        model_bc.destroy()
    stats = SyncStats()
    started = time.perf_counter()
    d = w_in.shape[1]
    for p, q, block_in, block_out, task_stats in results:
        w_in[rows_in[p]] = np.frombuffer(block_in, dtype=np.float32).reshape(-1, d)
        w_out[rows_out[q]] = np.frombuffer(block_out, dtype=np.float32).reshape(-1, d)
        stats = stats + task_stats
    return stats + SyncStats(combine_seconds=time.perf_counter() - started)


# -- executors ------------------------------------------------------------------------------------

def _own_block(key: int) -> int:
    return key


def _rng(*coordinates: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(coordinates)))


def route_pairs(index: int, records: Iterable[tuple], task: PairTask, owners_bc) -> Iterator[tuple]:
    """Form this partition's pairs for the epoch and yield ``(p, (index, pairs))`` for every
    input block ``p``: raw int32 buffers of inputs and outputs, ordered by round, then output
    block, then corpus order, and the ``(rounds, blocks + 1)`` offsets of those runs."""
    from .executor import corpus_order, shard_arrays
    tokens, starts = shard_arrays(sorted(records, key=corpus_order))
    counts, owner_in, owner_out = owners_bc.value
    x, y, kept = skipgram_pairs(tokens, starts, keep_probabilities(counts, task.sample), task.window,
                          _rng(task.seed, task.epoch, index, 0x9A1))
    k, rounds = task.blocks, task.rounds
    # Round r takes the r-th 1/R of this partition's pairs, in corpus order.
    round_of = (np.arange(x.size, dtype=np.int64) * rounds) // max(x.size, 1)
    key = (owner_in[x].astype(np.int64) * rounds + round_of) * k + owner_out[y]
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(k * rounds * k + 1))
    x, y = x[order], y[order]
    for p in range(k):
        lo, hi = int(bounds[p * rounds * k]), int(bounds[(p + 1) * rounds * k])
        offsets = (bounds[p * rounds * k:(p + 1) * rounds * k + 1] - lo).astype(np.int64)
        # Block 0's record also carries the partition's words, counted once per epoch.
        words = (int(tokens.size), kept) if p == 0 else (0, 0)
        yield p, (index, x[lo:hi].tobytes(), y[lo:hi].tobytes(), offsets.tobytes(), words)


def gather_pairs(p: int, records: Iterable[tuple]) -> Iterator[tuple]:
    """All pairs of input block ``p``, as one record: inputs, outputs (int32) and the
    ``(rounds, blocks + 1)`` offsets of each (round, output block) run, with every source
    partition's pairs of a run in partition order."""
    parts = sorted((value for _, value in records), key=lambda v: v[0])
    if not parts:
        return
    offsets = [np.frombuffer(part[3], dtype=np.int64) for part in parts]
    xs = [np.frombuffer(part[1], dtype=np.int32) for part in parts]
    ys = [np.frombuffer(part[2], dtype=np.int32) for part in parts]
    words = tuple(int(sum(part[4][i] for part in parts)) for i in range(2))
    runs = offsets[0].size - 1
    out_x, out_y, bounds = [], [], [0]
    for run in range(runs):
        for o, x, y in zip(offsets, xs, ys):
            out_x.append(x[o[run]:o[run + 1]])
            out_y.append(y[o[run]:o[run + 1]])
        bounds.append(bounds[-1] + sum(int(o[run + 1] - o[run]) for o in offsets))
    yield (np.concatenate(out_x).tobytes(), np.concatenate(out_y).tobytes(), np.asarray(bounds, np.int64).tobytes(),
           words)


def train_cell(p: int, records: Iterable[tuple], task: CellTask, model_bc, owners_bc) -> Iterator[tuple]:
    """Train cell ``(p, q)`` of this sub-epoch on copies of its rows of the broadcast model; yield
    ``(p, q, input block rows, output block rows, stats)``, the rows as raw float32 buffers."""
    started = time.perf_counter()
    k = task.blocks
    q = (p + task.sub_epoch) % k
    # The whole input is read (one record): a Python worker that leaves input unread is not reused,
    # and a fresh one per sub-epoch pays its start and imports every time.
    held = list(records)
    record = held[0] if held else None
    counts, owner_in, owner_out = owners_bc.value
    words = kept = 0
    if record is None:
        x = y = np.zeros(0, np.int32)
    else:
        xb, yb, bb, (words, kept) = record
        if task.round or task.sub_epoch:  # reported in the epoch's first sub-epoch only
            words = kept = 0
        bounds = np.frombuffer(bb, dtype=np.int64)
        run = task.round * k + q
        lo, hi = int(bounds[run]), int(bounds[run + 1])
        x = np.frombuffer(xb, dtype=np.int32)[lo:hi]
        y = np.frombuffer(yb, dtype=np.int32)[lo:hi]
    rows_in, rows_out = np.flatnonzero(owner_in == p), np.flatnonzero(owner_out == q)
    w_in0, w_out0 = model_bc.value
    w_in, w_out = w_in0[rows_in], w_out0[rows_out]        # this cell's rows only (copies)
    local_in = np.full(owner_in.size, -1, np.int32)
    local_in[rows_in] = np.arange(rows_in.size, dtype=np.int32)
    local_out = np.full(owner_out.size, -1, np.int32)
    local_out[rows_out] = np.arange(rows_out.size, dtype=np.int32)
    table = negative_table(counts[rows_out], task.ns_exponent, size=max(1 << 16, 64 * rows_out.size)) \
        if rows_out.size and counts[rows_out].max() > 0 else np.zeros(0, np.int32)
    rng = _rng(task.seed, task.epoch, task.round, task.sub_epoch, p, 0xCE11)
    # Summed repeats of a row within a step diverge in a tiny block, as in a tiny vocabulary:
    # there, steps shrink to two pairs per row of the smaller block.
    step = min(task.step_pairs, max(16, 2 * min(rows_in.size, rows_out.size)))
    stats = train_pairs(w_in, w_out, local_in[x], local_out[y], table, task.negative, task.alpha_start,
                        task.alpha_end, rng, step)
    seconds = time.perf_counter() - started
    yield p, q, w_in.tobytes(), w_out.tobytes(), SyncStats(words, kept, stats.examples, stats.loss_sum,
                                                           stats.loss_examples, seconds, seconds)
