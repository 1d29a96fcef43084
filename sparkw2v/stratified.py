"""Stratified row ownership: shards trained at once without averaging.

Two layouts (``TrainConfig.owned_rows``). Owning both matrices' rows (skip-gram's default;
below) moves the text's pairs to their rows' owners. Owning only the output rows (CBOW always,
skip-gram with ``owned_rows='output'``) leaves each task its own text and sums the input rows' changes every sub-epoch (the last section: it runs through averaging's
syncs, or :mod:`sparkw2v.allgather`). In both, from :data:`SHARE_OUTPUT_FROM` shards two tasks share
each output block and their changes are added.

Averaging K copies that each saw 1/K of the text loses accuracy as K grows (BENCHMARKS.md).
Here a row has one writer per sub-epoch (two for shared output blocks, whose changes are
added), so there is nothing to average (DSGD, Gemulla et al. 2011, applied to word2vec as in
Spark pull request 37967):

* Once per run the vocabulary's input rows and its output rows are each dealt into K
  blocks of about equal load (K = shards trained at once; :func:`block_owners`). A
  skip-gram pair (context x, centre y) belongs to cell ``(block_in[x], block_out[y])``.
* Every shard forms its epoch's pairs (subsampling, reduced windows) once, and one shuffle
  cuts them into pieces by round, group of sub-epochs and input block. Each group's pieces
  then go to the tasks owning their input blocks (a stage that reads those pieces only,
  cached until the group is trained).
* A round has K sub-epochs. In sub-epoch ``s``, task ``p`` trains cell ``(p, q)``, ``q`` from
  the round's :func:`pairing` (a Latin square drawn afresh for every round, as DSGD draws its
  strata), on the rows of that cell only. The K cells of a sub-epoch share no row, so the
  result is that of training them one after another. Negatives for cell ``(p, q)`` come from
  block ``q``'s words, by unigram^0.75.
* From :data:`SHARE_OUTPUT_FROM` shards the output rows are dealt into G = K / 2 blocks instead
  (:func:`output_blocks`): a round is G sub-epochs, tasks ``p`` and ``p + G`` train against
  the same output block, so two tasks train against each output block at once, each from
  the same copy, and their changes to it are summed before the next sub-epoch. Input rows
  keep one owner. Output blocks of 1/K of the vocabulary per sub-epoch cost analogy
  accuracy at 16 and 64 shards; halving their number wins it back (BENCHMARKS.md).
* The rows stay on the executors through the epoch: task ``p`` keeps input block ``p``, and
  a shuffle after each sub-epoch moves every output block to the task that trains against
  it next; or, when every task can run at once, a group of sub-epochs is one barrier stage
  whose tasks send the output blocks to each other (:mod:`sparkw2v.exchange`,
  :func:`train_group`). The driver broadcasts the model at the epoch's start and collects it at the end,
  unless the epoch ends in a checkpoint: then the tasks write their blocks to it
  (:func:`write_blocks`) and the next epoch's tasks read them back (:func:`read_blocks`), so
  the model never passes through the driver. Both give the same rows bit for bit.
* An epoch is R rounds, each over 1/R of every shard's pairs: K x R syncs. A row trained
  against one block of the other matrix for too long drifts (the analogy score falls with
  fewer sub-epochs per epoch; BENCHMARKS.md), so R defaults to ``ceil(SUB_EPOCHS / K)``
  (fewer on a small corpus: :func:`rounds_per_epoch`).

Names used below: K (``blocks``) is the tasks of an epoch, one per cached partition of the
shards, and the input blocks; G (``outs``) the output blocks and the sub-epochs of a round; R
(``rounds``) the rounds of an epoch; a cell is an (input block, output block) pair; a step is
one SGD step of the pair kernel.

Driver code first (:func:`train_epoch`), then the executor functions (top-level, plain
arrays and small frozen tasks).
"""

from __future__ import annotations

import functools
import heapq
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from pyspark import RDD, Broadcast, SparkContext, StorageLevel
from pyspark.sql import SparkSession

from . import faults
from .combine import SyncStats, pack_change, unpack_change
from .config import SHARE_OUTPUT_FROM
from .exchange import TOKEN_BYTES, Peers, Rendezvous, rendezvous
from .pair_kernel import skipgram_pairs, train_pairs
from .sampling import keep_probabilities, negative_table
from .session import collect_model_parts, drop_shuffle_files, first_collect_tasks, release_broadcast
from .shard_records import corpus_order, shard_arrays

#: Sub-epochs per epoch the default number of rounds aims at (rounds = ceil(SUB_EPOCHS / G)).
SUB_EPOCHS = 128
#: Fewest corpus words per cell and round the default keeps (a cell is 1/K^2 of the text):
#: on a tiny corpus, fewer rounds rather than syncs that carry no work.
MIN_CELL_WORDS = 64
#: Pairs per SGD step times blocks: steps of ``clamp(STEP_PAIRS_BY_BLOCKS / K, 32, 256)`` pairs.
#: Repeats of a row within a step are summed, and a block of 1/K of the rows repeats its
#: frequent rows K times as often, and large steps then diverge (BENCHMARKS.md).
STEP_PAIRS_BY_BLOCKS = 2048


def output_blocks(blocks: int) -> int:
    """Output blocks (and sub-epochs per round) at ``blocks`` input blocks (tasks): as many
    below :data:`SHARE_OUTPUT_FROM`, half as many from it (two tasks train against each; an odd count
    is not shared)."""
    return blocks // 2 if blocks >= SHARE_OUTPUT_FROM and blocks % 2 == 0 else blocks


def step_pairs(blocks: int) -> int:
    """Pairs per SGD step at ``blocks`` blocks: fewer as blocks shrink, so a frequent row
    repeats about as often within a step at any K."""
    return int(min(256, max(32, STEP_PAIRS_BY_BLOCKS // blocks)))


def rounds_per_epoch(shards: int, words: int, syncs_per_epoch: int | None = None,
                     per_round: int | None = None) -> int:
    """Rounds per epoch (each is ``per_round`` syncs, default ``shards``; stratified training's is
    :func:`output_blocks`) for a corpus of ``words``: from the user's syncs per epoch if given,
    else ``ceil(SUB_EPOCHS / per_round)``, fewer if a cell would hold under ``MIN_CELL_WORDS``
    words."""
    per_round = per_round or shards
    if syncs_per_epoch:
        return max(1, round(syncs_per_epoch / per_round))
    return max(1, min(-(-SUB_EPOCHS // per_round), words // (shards * per_round * MIN_CELL_WORDS)))


def pairing(seed: int, epoch: int, round: int, outs: int) -> np.ndarray:
    """Round ``round``'s schedule: ``pairing(...)[s, t]`` is the output block task ``t`` (and, with
    shared output blocks, task ``t + G``) trains against in sub-epoch ``s``, G = ``outs``.

    A Latin square (every row and every column a permutation of the blocks) with its rows,
    columns and symbols shuffled afresh for every round, so no input block meets the output
    blocks in the same order round after round (BENCHMARKS.md, "CBOW, `stratified`")."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, round, 0x0DE5]))
    order, rows, symbols = rng.permutation(outs), rng.permutation(outs), rng.permutation(outs)
    return symbols[(rows[None, :] + order[:, None]) % outs]


def next_holders(seed: int, epoch: int, round: int, sub_epoch: int, rounds: int, outs: int) -> tuple[int, ...]:
    """For every output block, the task (below G = ``outs``; its sharers are ``+ i G``) that trains
    against it in the sub-epoch after ``(round, sub_epoch)``: the next round's first after a round's
    last, and the next epoch's first after the epoch's last (where kept blocks wait for it)."""
    if sub_epoch + 1 < outs:
        row = pairing(seed, epoch, round, outs)[sub_epoch + 1]
    elif round + 1 < rounds:
        row = pairing(seed, epoch, round + 1, outs)[0]
    else:
        row = pairing(seed, epoch + 1, 0, outs)[0]
    return tuple(int(t) for t in np.argsort(row))


#: Sub-epochs chained into one Spark job (at least one round each).
JOB_SUB_EPOCHS = 32
#: Once a task's pairs of one round pass this many bytes, the round's pairs are cut and cached
#: in groups of about sqrt(K) sub-epochs: a sub-epoch then reads its group's cells, not all K of
#: the round's (a cached partition is read whole), at the cost of a stage per group.
GROUP_BYTES = 64 << 20
#: Bytes of cached pairs per corpus word (8 per pair, 3.7 pairs per word at the defaults).
PAIR_BYTES_PER_WORD = 8 * 3.7


def sub_epochs_per_group(blocks: int, round_bytes: float) -> int:
    """Sub-epochs per cached group of a round whose pairs take ``round_bytes``
    per task: all ``blocks`` (no groups) up to ``GROUP_BYTES``, else about sqrt(blocks), which
    balances the group stages (K / G) against the cells each sub-epoch reads (G)."""
    if round_bytes <= GROUP_BYTES or blocks < 4:
        return blocks
    return -(-blocks // max(1, round(blocks ** 0.5)))

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


def owners_digest(owner_in: np.ndarray, owner_out: np.ndarray) -> str:
    """A SHA-256 of the run's deal, recorded with a checkpoint's blocks (which hold rows without
    their ids): resuming checks that it deals the rows back the same way."""
    import hashlib
    return hashlib.sha256(np.asarray(owner_in, np.int32).tobytes() + b"|" +
                          np.asarray(owner_out, np.int32).tobytes()).hexdigest()


def block_owners(counts: np.ndarray, sample: float, blocks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The run's input block and output block of every row (:func:`assign_blocks`), dealt once
    per run so that the rows can stay on the executors from one epoch to the next."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0, 0x57A7]))
    load = pair_load(counts, sample)
    return assign_blocks(load, blocks, rng), assign_blocks(load, output_blocks(blocks), rng)


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
    out_blocks: int = 0   # 0: as many as ``blocks``

    @property
    def outs(self) -> int:
        return self.out_blocks or self.blocks


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
    vector_size: int
    out_blocks: int = 0   # 0: as many as ``blocks``
    holders: tuple = ()   # :func:`next_holders` of this sub-epoch

    @property
    def outs(self) -> int:
        return self.out_blocks or self.blocks


@dataclass
class EpochEnd:
    """What an epoch of :func:`train_epoch` leaves: its stats and, when the rows were not
    collected into the driver's matrices, the tasks' blocks (a persisted RDD keyed by task)
    and whether every row in them is finite. The caller calls :meth:`release` once it has
    written the blocks: until then a lost executor's blocks can be recomputed, which needs
    the epoch's broadcasts."""

    stats: SyncStats
    blocks: object = None
    finite: bool = True
    broadcasts: tuple = ()
    deal: str = ""  # with blocks: :func:`owners_digest` of the deal they follow
    meetings: tuple = ()   # with blocks: the rendezvous and tokens of the barrier stages that made them

    def release(self) -> None:
        blocks, broadcasts, meetings = self.blocks, self.broadcasts, self.meetings
        self.blocks, self.broadcasts, self.meetings = None, (), ()
        try:
            if blocks is not None:
                blocks.unpersist()
        finally:
            for broadcast in broadcasts:
                release_broadcast(broadcast)
            if meetings:
                meetings[0].forget(meetings[1])


@dataclass(frozen=True, eq=False)
class RunPlan:
    """What every epoch of a stratified run shares, fixed when the run starts: the deal of the
    rows into blocks (:func:`block_owners`), the blocks and rounds, and the settings the tasks
    read."""

    counts: np.ndarray
    owner_in: np.ndarray
    owner_out: np.ndarray
    blocks: int        # K: tasks, and input blocks
    outs: int          # G: output blocks, and sub-epochs per round
    rounds: int        # R per epoch
    words: int         # the corpus's, which sizes the pairs' caches
    seed: int
    window: int
    sample: float
    negative: int
    ns_exponent: float
    vector_size: int

    @property
    def sub_epochs(self) -> int:
        return self.rounds * self.outs

    @property
    def deal(self) -> str:
        return owners_digest(self.owner_in, self.owner_out)


def plan_run(counts: np.ndarray, cfg, blocks: int, words: int) -> RunPlan:
    """The :class:`RunPlan` of ``blocks`` tasks over a corpus of ``words`` (``cfg``: the run's
    :class:`~sparkw2v.config.TrainConfig`)."""
    outs = output_blocks(blocks)
    owner_in, owner_out = block_owners(counts, cfg.sample, blocks, cfg.seed)
    return RunPlan(counts, owner_in, owner_out, blocks, outs,
                   rounds_per_epoch(blocks, words, cfg.syncs_per_epoch, outs), words, cfg.seed, cfg.window,
                   cfg.sample, cfg.negative, cfg.ns_exponent, cfg.vector_size)


@dataclass(frozen=True, eq=False)
class EpochSchedule:
    """One epoch's order: ``pairing[r, s, t]`` is the output block task ``t`` trains in sub-epoch
    ``s`` of round ``r``; each round's pairs are cached in ``groups`` groups of ``per_group``
    sub-epochs; a Spark job trains ``per_job`` rounds. ``whole``: handed on directly, the epoch is
    one barrier stage over every round's pairs, cut into one piece per task."""

    pairing: np.ndarray
    per_group: int
    groups: int
    per_job: int
    whole: bool = False

    @classmethod
    def of(cls, run: RunPlan, epoch: int, direct: bool = False) -> "EpochSchedule":
        per_group = sub_epochs_per_group(run.outs, PAIR_BYTES_PER_WORD * run.words / run.blocks / run.rounds)
        table = np.stack([pairing(run.seed, epoch, r, run.outs) for r in range(run.rounds)]).astype(np.int32)
        # A job walks the lineage built so far: a job per sub-epoch would cost as much as the
        # sub-epoch on a small corpus.
        order = cls(table, per_group, -(-run.outs // per_group), max(1, JOB_SUB_EPOCHS // run.outs))
        if direct and order.one_stage(run, run.rounds):
            return cls(table, per_group, order.groups, run.rounds, whole=True)
        return order

    def one_stage(self, run: RunPlan, rounds: int) -> bool:
        """Whether ``rounds`` rounds handed on directly train as one barrier stage: each round is one
        group, and their pairs together stay within :data:`GROUP_BYTES` a task."""
        return (rounds > 1 and self.groups == 1 and run.outs > 1
                and rounds * PAIR_BYTES_PER_WORD * run.words / run.blocks / run.rounds <= GROUP_BYTES)

    def job_tasks(self, run: RunPlan, first: int, last: int, direct: bool = False) -> int:
        """Tasks of the job that trains rounds ``first`` to ``last``: per round a stage per group
        and G sub-epochs (``direct``: a barrier stage per group, or one stage caching the pairs and
        one training all the job's rounds), then the job's last stage; the first job also cuts
        the pairs and deals the blocks. Every stage has K tasks."""
        rounds = last + 1 - first
        if self.whole:    # the pairs come straight from the epoch's cutting shuffle
            return run.blocks + run.blocks + 2 * run.blocks
        if direct and self.one_stage(run, rounds):   # the caching stage reads each round's K pieces
            stages = rounds + 1
        else:
            stages = rounds * (self.groups + (self.groups if direct and self.per_group > 1 else run.outs))
        return stages * run.blocks + run.blocks + 2 * run.blocks * (first == 0)


def train_epoch(sc: SparkContext, shards: RDD, run: RunPlan, epoch: int, w_in: np.ndarray, w_out: np.ndarray,
                alpha_at: Callable[[float], float], describe: Callable[[str, float, int | None], None] | None = None,
                start: RDD | None = None, keep: bool = False, direct: bool = False,
                fall_back: bool = False) -> EpochEnd:
    """One epoch over the cached shards (one partition per task); ``alpha_at(progress)`` is the
    run's learning rate at a point of the epoch. The stats count pairs as examples.
    ``describe(label, share of the epoch, tasks)`` is called before each Spark job.

    The epoch starts from ``start``, the blocks a previous epoch left (:func:`read_blocks`), or
    else from ``w_in`` and ``w_out``, broadcast once. The rows stay on the executors for the whole
    epoch: each task cuts its two blocks from the broadcast, and after every sub-epoch a shuffle
    hands each output block to the task that trains it next (input blocks stay with their task).
    Sub-epochs are chained lazily, a Spark job per ``JOB_SUB_EPOCHS`` of them. At the end the
    driver collects the rows into ``w_in`` and ``w_out``, or with ``keep`` leaves them in the
    returned blocks and collects only their stats.

    With ``direct`` (every task can run at once: :func:`~sparkw2v.exchange.unavailable_reason`)
    the sub-epochs run in barrier stages whose tasks hand output blocks to each other directly
    (:func:`train_group`): the whole epoch, a job's rounds or a round's group of sub-epochs per
    stage, as their pairs fit in :data:`GROUP_BYTES` a task; only a stage's last hand-over goes
    through a shuffle. The rows are the same bit for bit either way. ``fall_back``: the caller trains
    the epoch again with a shuffle when tasks cannot connect, so once a task's connection to another
    has timed out, Spark's retries of its stage fail at once (:class:`~sparkw2v.exchange.Rendezvous`).

    An epoch whose job fails leaves nothing behind: its cached RDDs are unpersisted, its broadcasts
    released and its stage tokens forgotten by the rendezvous, and ``w_in`` and ``w_out`` are only
    written once every row is collected; so it can be trained again from the same ``start``, or the
    same matrices (``training._stratified_epoch`` does, with a shuffle, when tasks cannot connect).
    """
    if describe is not None:  # the epoch's clock starts before its broadcasts
        describe("preparing", 0.0, None)
    owners_bc = sc.broadcast((run.counts, run.owner_in, run.owner_out))
    model_bc = sc.broadcast((w_in, w_out)) if start is None else None
    held: list = []   # RDDs persisted by the epoch so far
    kept = None
    # The driver's rendezvous, the epoch's stage tokens, and whether a stage's retries fail fast.
    meeting = (rendezvous(sc), [], fall_back) if direct else None
    try:
        order = EpochSchedule.of(run, epoch, direct)
        layout = _pair_layout(shards, run, epoch, order, owners_bc)
        state = start if start is not None else (
            sc.parallelize(range(run.blocks), run.blocks)
            .mapPartitionsWithIndex(functools.partial(deal_blocks, owners_bc=owners_bc, model_bc=model_bc,
                                                      first=tuple(order.pairing[0, 0].tolist())))
            .partitionBy(run.blocks, _own_block))
        for first in range(0, run.rounds, order.per_job):
            r = min(first + order.per_job, run.rounds) - 1
            state = _chain_rounds(sc, state, layout, run, epoch, order, range(first, r + 1), alpha_at, owners_bc,
                                  held, meeting)
            if describe is not None:   # the last job collects: a large model's first part only, here
                tasks = order.job_tasks(run, first, r, meeting is not None)
                if r + 1 == run.rounds and not keep:
                    tasks -= run.blocks - first_collect_tasks(w_in.nbytes + w_out.nbytes, run.blocks)
                describe(f"rounds {first + 1}-{r + 1} of {run.rounds}" if r > first else
                         f"round {r + 1} of {run.rounds}", (r + 1 - first) / run.rounds, tasks)
            if r + 1 < run.rounds:   # the job: train the rounds chained so far, and keep only their result
                held.append(state.persist(StorageLevel.MEMORY_AND_DISK))   # before its job: unpersisted if it fails
                state.count()
                for old in held[:-1]:
                    old.unpersist()
                held[:] = [state]
        if keep:
            held.append(state.persist(StorageLevel.MEMORY_AND_DISK))   # unpersisted below unless kept
            summaries = state.map(functools.partial(block_summary, vector_size=run.vector_size)).collect()
            held.remove(state)
            kept = EpochEnd(functools.reduce(SyncStats.alongside, (stats for stats, _ in summaries), SyncStats()),
                            state, all(finite for _, finite in summaries),
                            tuple(b for b in (model_bc, owners_bc) if b is not None), run.deal,
                            meeting or ())
        else:
            rows = collect_model_parts(state, w_in.nbytes + w_out.nbytes,   # the last hand-over's shuffle
                                       None if describe is None else
                                       lambda left: describe("collecting the model", 0.0, left))
    finally:
        for rdd in held:
            rdd.unpersist()
        if kept is None:
            if model_bc is not None:
                release_broadcast(model_bc)
            release_broadcast(owners_bc)
            if meeting is not None:
                meeting[0].forget(meeting[1])
        state = layout = held = None
        drop_shuffle_files(sc)   # the epoch's
    if kept is not None:
        return kept
    started = time.perf_counter()
    stats = collect_blocks(rows, w_in, w_out, run.owner_in, run.owner_out)
    return EpochEnd(stats + SyncStats(combine_seconds=time.perf_counter() - started))


def _pair_layout(shards: RDD, run: RunPlan, epoch: int, order: EpochSchedule, owners_bc: Broadcast) -> RDD:
    """Every task's pairs of the epoch, cut by one shuffle into R x groups x K pieces: (round,
    group of sub-epochs, input block). A group's stage then reads its K pieces only (the
    others are pruned away) and hands piece p to task p. A ``whole`` epoch's layout is one piece
    per task (a key's piece modulo K)."""
    task = PairTask(run.seed, epoch, run.window, run.sample, run.blocks, run.rounds, run.outs)
    return (shards.mapPartitionsWithIndex(functools.partial(route_pairs, task=task, owners_bc=owners_bc))
            .flatMap(functools.partial(group_records, per_group=order.per_group, blocks=run.blocks,
                                       groups=order.groups, schedule=order.pairing))
            .partitionBy(run.blocks if order.whole else run.rounds * order.groups * run.blocks, _own_block))


def _chain_rounds(sc: SparkContext, state: RDD, layout: RDD, run: RunPlan, epoch: int, order: EpochSchedule,
                  rounds: range, alpha_at: Callable[[float], float], owners_bc: Broadcast, held: list[RDD],
                  meeting: tuple[Rendezvous, list, bool] | None) -> RDD:
    """``state`` (the blocks the tasks hold) after the sub-epochs of ``rounds``, chained lazily; their
    pairs are persisted on the way and added to ``held``. Each group of a round is a stage per
    sub-epoch, or with a ``meeting`` (the driver's rendezvous, and the epoch's tokens so far,
    added to here) one barrier stage, and small rounds together one barrier stage
    (:meth:`EpochSchedule.one_stage`)."""
    if meeting is not None and order.one_stage(run, len(rounds)):
        if order.whole:   # the layout is already one piece per task
            pairs = layout.persist(StorageLevel.MEMORY_AND_DISK)
        else:
            pieces = range(rounds.start * run.blocks, rounds.stop * run.blocks)   # one group a round
            pairs = pruned(sc, layout, pieces).partitionBy(run.blocks, _own_block).persist(
                StorageLevel.MEMORY_AND_DISK)
        held.append(pairs)
        cells = [_cell(run, epoch, r, s, alpha_at) for r in rounds for s in range(run.outs)]
        return _barrier_stage(pairs, state, run, cells, owners_bc, meeting)
    for r in rounds:
        state = _chain_round(sc, state, layout, run, epoch, order, r, alpha_at, owners_bc, held, meeting)
    return state


def _cell(run: RunPlan, epoch: int, r: int, s: int, alpha_at: Callable[[float], float]) -> CellTask:
    """The task of sub-epoch ``s`` of round ``r``."""
    step = r * run.outs + s
    return CellTask(run.seed, epoch, r, s, run.blocks, run.rounds, run.negative, run.ns_exponent,
                    alpha_at(step / run.sub_epochs), alpha_at((step + 1) / run.sub_epochs),
                    step_pairs(run.blocks), run.vector_size, run.outs,
                    next_holders(run.seed, epoch, r, s, run.rounds, run.outs))


def _barrier_stage(pairs: RDD, state: RDD, run: RunPlan, cells: list[CellTask], owners_bc: Broadcast,
                   meeting: tuple[Rendezvous, list, bool]) -> RDD:
    """``state`` after ``cells``' sub-epochs trained in one barrier stage (:func:`train_group`)."""
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting[0].expect(token, run.blocks, fail_fast=meeting[2])
    meeting[1].append(token)
    return (pairs.union(state).barrier()
            .mapPartitionsWithIndex(functools.partial(train_group, cells=tuple(cells), owners_bc=owners_bc,
                                                      where=meeting[0].address, token=token))
            .partitionBy(run.blocks, _own_block))


def _chain_round(sc: SparkContext, state: RDD, layout: RDD, run: RunPlan, epoch: int, order: EpochSchedule, r: int,
                 alpha_at: Callable[[float], float], owners_bc: Broadcast, held: list[RDD],
                 meeting: tuple[Rendezvous, list, bool] | None) -> RDD:
    """``state`` after round ``r``'s sub-epochs, chained lazily: a stage per sub-epoch, or with a
    ``meeting`` a barrier stage per group of them."""
    for first in range(0, run.outs, order.per_group):
        piece = (r * order.groups + first // order.per_group) * run.blocks
        # Kept as shuffled (no Python pass after it), so the union below needs none either.
        pairs = (pruned(sc, layout, range(piece, piece + run.blocks)).partitionBy(run.blocks, _own_block)
                 .persist(StorageLevel.MEMORY_AND_DISK))
        held.append(pairs)
        cells = [_cell(run, epoch, r, s, alpha_at) for s in range(first, min(first + order.per_group, run.outs))]
        # Same partitioner on both sides: task p reads its pairs and the blocks it holds now.
        if meeting is not None and len(cells) > 1:
            state = _barrier_stage(pairs, state, run, cells, owners_bc, meeting)
            continue
        for cell in cells:
            state = (pairs.union(state)
                     .mapPartitionsWithIndex(functools.partial(train_sub_epoch, task=cell, owners_bc=owners_bc))
                     .partitionBy(run.blocks, _own_block))
    return state


#: The columns a checkpoint's blocks table holds, one row per record a task holds between
#: epochs: the task, INPUT or OUTPUT, the block, the sharer (0 for input blocks and unshared
#: output blocks), the float32 rows and, from a sharer, its packed change to the other parts.
BLOCK_COLUMNS = ("task", "kind", "block", "sharer", "rows", "change")


def write_blocks(spark: SparkSession, blocks: RDD, path: str) -> None:
    """Write the blocks an epoch left (:attr:`EpochEnd.blocks`) as a Parquet table at ``path``,
    from the tasks that hold them."""
    from pyspark.sql.types import BinaryType, IntegerType, StructField, StructType
    schema = StructType([StructField(name, BinaryType() if name in ("rows", "change") else IntegerType(),
                                     nullable=name == "change") for name in BLOCK_COLUMNS])
    spark.createDataFrame(blocks.map(block_row), schema).write.parquet(path)


def read_blocks(spark: SparkSession, path: str, tasks: int) -> RDD:
    """The blocks :func:`write_blocks` wrote, as the next epoch's ``start``: each Parquet file
    read whole by a task (raw bytes, parsed with pyarrow: Spark's reader would hand every row
    to Python through its slow row pickler), each record then handed to the task that holds it."""
    return (spark.sparkContext.binaryFiles(path, minPartitions=tasks)
            .flatMap(parquet_blocks).partitionBy(tasks, _own_block))


def collect_blocks(held: list[tuple], w_in: np.ndarray, w_out: np.ndarray, owner_in: np.ndarray,
                   owner_out: np.ndarray) -> SyncStats:
    """Write the blocks the tasks hold after the last sub-epoch (``(task, record)`` pairs) back
    into ``w_in`` and ``w_out``; returns their stats. A shared output block arrives as its
    sharers' parts, once per task that would train it next: the first such task's are used."""
    stats = SyncStats()
    parts: dict[int, dict[int, list]] = {}
    for task, record in held:
        if record[0] == INPUT:
            _, b, buffer, block_stats = record
            w_in[np.flatnonzero(owner_in == b)] = np.frombuffer(buffer, dtype=np.float32).reshape(-1, w_in.shape[1])
            stats = stats.alongside(block_stats)
        else:
            parts.setdefault(record[1], {}).setdefault(task, []).append(record)
    for q, by_task in parts.items():
        rows = np.flatnonzero(owner_out == q)
        w_out[rows] = output_rows(by_task[min(by_task)], w_out.shape[1])
    return stats


def pruned(sc: SparkContext, rdd: RDD, partitions: range) -> RDD:
    """The partitions ``partitions`` of ``rdd`` as an RDD of their own (in order, from 0): a
    stage over it reads those partitions only, where ``filter`` would read them all. Spark's
    ``PartitionPruningRDD``, which PySpark does not expose; a Scala set of the indices is the
    filter function it takes."""
    jvm = sc._jvm
    keep = jvm.org.apache.spark.api.python.PythonUtils.toSeq(jvm.java.util.ArrayList(list(partitions))).toSet()
    jrdd = jvm.org.apache.spark.rdd.PartitionPruningRDD.create(rdd._jrdd.rdd(), keep).toJavaRDD()
    return RDD(jrdd, sc, rdd._jrdd_deserializer)


# -- executors ------------------------------------------------------------------------------------

def _own_block(key: int) -> int:
    return key


def _rng(*coordinates: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(coordinates)))


#: Kinds of record a sub-epoch's task reads: its pairs from one source partition, its input
#: rows, or the output rows it trains against.
PAIRS, INPUT, OUTPUT = 0, 1, 2


def route_pairs(index: int, records: Iterable[tuple], task: PairTask, owners_bc: Broadcast) -> Iterator[tuple]:
    """Form this partition's pairs for the epoch and yield ``(p, (PAIRS, index, r, x, y, offsets,
    words))`` for every input block ``p`` and round ``r``: raw int32 buffers of inputs ``x``
    and outputs ``y`` ordered by output block, then corpus order, and the ``out blocks + 1``
    int64 offsets of those runs. The first record also carries the partition's words and
    kept words, counted once per epoch."""
    tokens, starts = shard_arrays(sorted(records, key=corpus_order))
    counts, owner_in, owner_out = owners_bc.value
    x, y, kept = skipgram_pairs(tokens, starts, keep_probabilities(counts, task.sample), task.window,
                                _rng(task.seed, task.epoch, index, 0x9A1))
    k, g, rounds = task.blocks, task.outs, task.rounds
    # Round r takes the r-th 1/R of this partition's pairs, in corpus order.
    round_of = (np.arange(x.size, dtype=np.int64) * rounds) // max(x.size, 1)
    key = (owner_in[x].astype(np.int64) * rounds + round_of) * g + owner_out[y]
    order = np.argsort(key, kind="stable")
    bounds = np.searchsorted(key[order], np.arange(k * rounds * g + 1))
    x, y = x[order], y[order]
    for p in range(k):
        for r in range(rounds):
            run = (p * rounds + r) * g
            lo, hi = int(bounds[run]), int(bounds[run + g])
            words = (int(tokens.size), kept) if p == r == 0 else (0, 0)
            yield p, (PAIRS, index, r, x[lo:hi].tobytes(), y[lo:hi].tobytes(),
                      (bounds[run:run + g + 1] - lo).astype(np.int64).tobytes(), words)


def group_records(record: tuple, per_group: int, blocks: int, groups: int, schedule: np.ndarray) -> Iterator[tuple]:
    """A :func:`route_pairs` record for input block ``p`` and round ``r`` keyed for the epoch's
    layout: ``((r * groups + g) * blocks + p, value)`` for each group ``g`` of ``per_group``
    sub-epochs (:func:`group_pairs`; ``schedule[r]`` is the round's :func:`pairing`), the record
    itself when one group holds them all."""
    p, value = record
    r = value[2]
    if groups == 1:
        yield r * blocks + p, value
        return
    for g in range(groups):
        for _, part in group_pairs(record, g * per_group, per_group, schedule[r]):
            yield (r * groups + g) * blocks + p, part


def group_pairs(record: tuple, first: int, count: int, table: np.ndarray) -> Iterator[tuple]:
    """The part of a round's :func:`route_pairs` record for input block ``p`` that sub-epochs
    ``first .. first + count - 1`` train (output blocks ``table[s, p mod G]``: the round's
    :func:`pairing`, G x G), in the same format, the other output blocks' runs left empty."""
    p, (kind, index, r, xb, yb, ob, words) = record
    out_blocks = table.shape[0]
    offsets = np.frombuffer(ob, dtype=np.int64)
    x, y = np.frombuffer(xb, dtype=np.int32), np.frombuffer(yb, dtype=np.int32)
    sizes = np.zeros(out_blocks, dtype=np.int64)
    parts_x, parts_y = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    for q in sorted(int(table[s, p % out_blocks]) for s in range(first, min(first + count, out_blocks))):
        lo, hi = offsets[q], offsets[q + 1]
        parts_x.append(x[lo:hi])
        parts_y.append(y[lo:hi])
        sizes[q] = hi - lo
    yield p, (kind, index, r, np.concatenate(parts_x).tobytes(), np.concatenate(parts_y).tobytes(),
              np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tobytes(), words if first == 0 else (0, 0))


def cell_pairs(sources: list[tuple], q: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """One round's pairs of one input block whose output word is in block ``q``, from the
    :func:`route_pairs` records of every source partition (in partition order), and the
    words and kept words those records carry."""
    xs, ys, words, kept = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)], 0, 0
    for _, _, _, xb, yb, ob, (n, m) in sorted(sources, key=lambda v: v[1]):
        lo, hi = np.frombuffer(ob, dtype=np.int64)[q:q + 2]
        xs.append(np.frombuffer(xb, dtype=np.int32)[lo:hi])
        ys.append(np.frombuffer(yb, dtype=np.int32)[lo:hi])
        words, kept = words + n, kept + m
    return np.concatenate(xs), np.concatenate(ys), (words, kept)


def deal_blocks(b: int, rows: Iterable, owners_bc: Broadcast, model_bc: Broadcast, first: tuple) -> Iterator[tuple]:
    """Cut task ``b``'s blocks of the broadcast model for the epoch's first sub-epoch: input
    block ``b`` and output block ``q = first[b mod G]`` (``first``: the first row of the epoch's
    first :func:`pairing`, G long), as
    ``(b, (INPUT, b, raw float32 rows, stats))`` and ``(b, (OUTPUT, q, rows, stats, sharer))``.
    ``rows`` (the partition of a ``parallelize``) is read to its end: PySpark does not reuse a
    Python worker that left its input unread."""
    for _ in rows:
        pass
    _, owner_in, owner_out = owners_bc.value
    w_in, w_out = model_bc.value
    g = len(first)
    q = first[b % g]
    yield b, (INPUT, b, w_in[owner_in == b].tobytes(), SyncStats())
    yield b, (OUTPUT, q, w_out[owner_out == q].tobytes(), SyncStats(), b // g)


def sharer_bounds(rows: int, sharers: int) -> np.ndarray:
    """Where the ``sharers`` parts of a shared output block of ``rows`` rows begin and end:
    sharer ``i`` ships part ``i``'s rows and its change to the other parts."""
    return np.arange(sharers + 1, dtype=np.int64) * rows // sharers


def shipped_output(trained: np.ndarray, start: np.ndarray, sharer: int, sharers: int) -> bytes | tuple[bytes, bytes]:
    """What sharer ``sharer`` of ``sharers`` sends of the output block it trained from ``start``:
    the rows, unshared; shared, its part's rows (float32) and its change to the other parts,
    packed by :func:`~sparkw2v.combine.pack_change` (float16 and a scale per row). Every sharer
    then ships the same bytes, about 3/4 of the block's float32 rows for two sharers."""
    if sharers == 1:
        return trained.tobytes()
    lo, hi = sharer_bounds(trained.shape[0], sharers)[sharer:sharer + 2]
    change = trained - start
    return trained[lo:hi].tobytes(), pack_change(np.concatenate((change[:lo], change[hi:])))


def output_rows(parts: list[tuple], vector_size: int) -> np.ndarray:
    """An output block from the OUTPUT records its sharers sent this task (one record with the
    rows when unshared, or when dealt from the broadcast): each part is its sharer's rows plus
    the other sharers' changes to it, added in sharer order. Each sharer started from the same
    rows, so this is those rows plus every sharer's change."""
    parts = sorted(parts, key=lambda record: record[4])
    if len(parts) == 1:
        return np.frombuffer(parts[0][2], dtype=np.float32).reshape(-1, vector_size)
    rows = np.concatenate([np.frombuffer(record[2][0], dtype=np.float32).reshape(-1, vector_size)
                           for record in parts])
    bounds = sharer_bounds(rows.shape[0], len(parts))
    for i, record in enumerate(parts):
        lo, hi = bounds[i], bounds[i + 1]
        change = unpack_change(record[2][1], vector_size)
        rows[:lo] += change[:lo]
        rows[hi:] += change[lo:]
    return rows


def _held_records(records: Iterable[tuple]) -> tuple[list, tuple, list]:
    """A sub-epoch task's input split by kind: its pairs' records, its input block's record
    (without the kind) and its output block's records (one per sharer)."""
    sources, block_in, outputs = [], None, []
    for _, value in records:
        if value[0] == PAIRS:
            sources.append(value)
        elif value[0] == INPUT:
            block_in = value[1:]
        else:
            outputs.append(value)
    return sources, block_in, outputs


def _train_held(p: int, sources: list, w_in: np.ndarray, outputs: list, stats: SyncStats, task: CellTask,
                owners: tuple) -> tuple[SyncStats, int, int, bytes | tuple[bytes, bytes]]:
    """Train task ``p``'s cell of ``task``'s sub-epoch in place on ``w_in``, against the output
    block its ``outputs`` records make: the stats so far, the output block ``q``, this task's
    sharer index and what it ships of the block (:func:`shipped_output`)."""
    q = outputs[0][1]
    x, y, (words, kept) = cell_pairs([v for v in sources if v[2] == task.round], q)   # a stage may hold rounds
    if task.round or task.sub_epoch:  # words are reported in the epoch's first sub-epoch only
        words = kept = 0
    start = output_rows(outputs, task.vector_size)
    w_out = start.copy()
    cell_stats = train_cell(p, q, x, y, w_in, w_out, task, owners)
    g = task.outs
    sharers, sharer = task.blocks // g, p // g
    return stats + cell_stats + SyncStats(words, kept), q, sharer, shipped_output(w_out, start, sharer, sharers)


def _shipped(p: int, w_in: np.ndarray, stats: SyncStats, q: int, sharer: int, sent, task: CellTask) -> Iterator[tuple]:
    """Task ``p``'s records after ``task``'s sub-epoch: its input block back to ``p``, and the
    output block to the tasks that train against it next (``task.holders[q]``, and with shared
    output blocks each ``task.holders[q] + i G``)."""
    yield p, (INPUT, p, w_in.tobytes(), stats)
    g = task.outs
    for i in range(task.blocks // g):
        yield task.holders[q] + i * g, (OUTPUT, q, sent, SyncStats(), sharer)


def train_sub_epoch(p: int, records: Iterable[tuple], task: CellTask, owners_bc: Broadcast) -> Iterator[tuple]:
    """Task ``p`` of a sub-epoch: its cached pairs and the two blocks it holds arrive together;
    train cell ``(p, q)`` and send the input block back to ``p`` and the output block to the
    tasks that train against it next: each sharer sends its part of the rows and its change
    to the rest (:func:`shipped_output`)."""
    sources, (_, buffer_in, stats), outputs = _held_records(records)
    w_in = np.frombuffer(buffer_in, dtype=np.float32).reshape(-1, task.vector_size).copy()
    stats, q, sharer, sent = _train_held(p, sources, w_in, outputs, stats, task, owners_bc.value)
    yield from _shipped(p, w_in, stats, q, sharer, sent, task)


def train_group(p: int, records: Iterable[tuple], cells: tuple[CellTask, ...], owners_bc: Broadcast,
                where: tuple[str, int], token: bytes) -> Iterator[tuple]:
    """Task ``p`` of a barrier stage training a group's sub-epochs one after another
    (``cells[i]``: the i-th one's task), each as :func:`train_sub_epoch` trains it; the input
    block stays here and each output block goes straight to its next holders
    (:class:`~sparkw2v.exchange.Peers`, messages tagged with the sub-epoch's step), except
    after the last sub-epoch, whose records leave as :func:`train_sub_epoch`'s do. ``where``:
    the driver's :class:`~sparkw2v.exchange.Rendezvous`; ``token``: the stage's."""
    sources, (_, buffer_in, stats), outputs = _held_records(records)
    owners = owners_bc.value
    w_in = np.frombuffer(buffer_in, dtype=np.float32).reshape(-1, cells[0].vector_size).copy()
    with Peers(where, token) as peers:
        for task in cells[:-1]:
            stats, q, sharer, sent = _train_held(p, sources, w_in, outputs, stats, task, owners)
            g = task.outs
            tag = task.round * g + task.sub_epoch
            parts = (sent,) if isinstance(sent, (bytes, bytearray)) else sent
            for i in range(task.blocks // g):
                peers.send(task.holders[q] + i * g, tag, (q, sharer), parts)
            faults.fail_first_attempt(task.epoch, p)   # tests: a task failing while its peers wait
            outputs = [(OUTPUT, m.info[0], m.parts[0] if len(m.parts) == 1 else m.parts, SyncStats(), m.info[1])
                       for m in peers.receive(tag, task.blocks // g)]
    stats, q, sharer, sent = _train_held(p, sources, w_in, outputs, stats, cells[-1], owners)
    yield from _shipped(p, w_in, stats, q, sharer, sent, cells[-1])


def block_summary(held: tuple, vector_size: int) -> tuple[SyncStats, bool]:
    """A record a task holds after the epoch: its stats (input blocks carry the epoch's) and
    whether its rows, and a sharer's change to the other parts, are finite (sums: NaN and inf
    propagate)."""
    _, record = held
    if record[0] == INPUT:
        return record[3], bool(np.isfinite(np.frombuffer(record[2], dtype=np.float32).sum(dtype=np.float64)))
    sent = record[2]
    if isinstance(sent, (bytes, bytearray)):
        return SyncStats(), bool(np.isfinite(np.frombuffer(sent, dtype=np.float32).sum(dtype=np.float64)))
    return SyncStats(), bool(np.isfinite(np.frombuffer(sent[0], dtype=np.float32).sum(dtype=np.float64))
                             and np.isfinite(unpack_change(sent[1], vector_size).sum(dtype=np.float64)))


def block_row(held: tuple) -> tuple:
    """A record a task holds, as a row of the blocks table (:data:`BLOCK_COLUMNS`)."""
    task, record = held
    if record[0] == INPUT:
        return task, INPUT, record[1], 0, bytes(record[2]), None
    _, q, sent, _, sharer = record
    if isinstance(sent, (bytes, bytearray)):
        return task, OUTPUT, q, sharer, bytes(sent), None
    return task, OUTPUT, q, sharer, bytes(sent[0]), bytes(sent[1])


def block_record(task: int, kind: int, block: int, sharer: int, rows: bytes, change: bytes | None) -> tuple:
    """The record :func:`block_row` made a row of, as the task held it (with empty stats)."""
    if kind == INPUT:
        return task, (INPUT, block, bytes(rows), SyncStats())
    return task, (OUTPUT, block, bytes(rows) if change is None else (bytes(rows), bytes(change)), SyncStats(), sharer)


def parquet_blocks(file: tuple[str, bytes]) -> Iterator[tuple]:
    """The records of one Parquet file of a blocks table, from its ``(path, bytes)``, its pages
    checked against the CRC checksums Spark's Parquet writer stores with them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    try:
        table = pq.read_table(pa.BufferReader(file[1]), columns=list(BLOCK_COLUMNS),
                              page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        raise OSError(f"{file[0]} is damaged: {exc}") from None
    for row in table.to_pylist():
        yield block_record(*row.values())


def block_negatives(counts: np.ndarray, rows: np.ndarray, exponent: float, ids: bool = False) -> np.ndarray:
    """A negative table over one block's ``rows`` by count^exponent: positions in ``rows``, or
    the rows themselves with ``ids``; empty when no row has a count."""
    if not rows.size or counts[rows].max() <= 0:
        return np.zeros(0, np.int32)
    return negative_table(counts[rows], exponent, size=max(1 << 16, 64 * rows.size), ids=rows if ids else None)


def train_cell(p: int, q: int, x: np.ndarray, y: np.ndarray, w_in: np.ndarray, w_out: np.ndarray,
               task: CellTask, owners: tuple) -> SyncStats:
    """Train cell ``(p, q)`` on the pairs ``(x, y)`` (vocabulary ids) in place on ``w_in`` (the
    rows of input block ``p``) and ``w_out`` (those of output block ``q``)."""
    started = time.perf_counter()
    counts, owner_in, owner_out = owners
    rows_in, rows_out = np.flatnonzero(owner_in == p), np.flatnonzero(owner_out == q)
    local_in = np.full(owner_in.size, -1, np.int32)
    local_in[rows_in] = np.arange(rows_in.size, dtype=np.int32)
    local_out = np.full(owner_out.size, -1, np.int32)
    local_out[rows_out] = np.arange(rows_out.size, dtype=np.int32)
    table = block_negatives(counts, rows_out, task.ns_exponent)
    rng = _rng(task.seed, task.epoch, task.round, task.sub_epoch, p, 0xCE11)
    # Summed repeats of a row within a step diverge in a tiny block, as in a tiny vocabulary:
    # there, steps shrink to two pairs per row of the smaller block.
    step = min(task.step_pairs, max(16, 2 * min(rows_in.size, rows_out.size)))
    stats = train_pairs(w_in, w_out, local_in[x], local_out[y], table, task.negative, task.alpha_start,
                        task.alpha_end, rng, step)
    seconds = time.perf_counter() - started
    return SyncStats(0, 0, stats.examples, stats.loss_sum, stats.loss_examples, seconds, seconds)


# -- output rows owned, input rows summed (CBOW; skip-gram with owned_rows='output') ---------------
#
# A CBOW centre reads a window of input rows from every block, so no task can own its inputs; a
# skip-gram centre's contexts likewise fall in every block. The output rows can be owned: the
# averaging path's syncs become sub-epochs, and in sub-epoch ``s`` of a round, partition ``p``
# trains only the centres of its own text whose word is in output block ``pairing(...)[s, p]``
# (:func:`pairing`, as the pairs' layout), with negatives from that block, by the window kernel. Below ``SHARE_OUTPUT_FROM`` no two tasks write one
# output row, so summing the tasks' changes (the ``sum`` rule) is exact for output rows (up to the
# float16 changes are shipped in) and adds the input rows' changes as SGD would. From ``SHARE_OUTPUT_FROM`` partitions, as
# skip-gram's, there are K/2 output blocks (:func:`output_blocks`, rounds of K/2 sub-epochs): two
# partitions train against each at once and the same sum adds both their changes. The round's
# text, subsampling and windows are the same in all its sub-epochs, so every centre is trained
# once per round. A task trains a renumbered copy of only the rows it can change: its slice's words
# and its output block's rows (``executor.train_partition``).

def output_owners(counts: np.ndarray, sample: float, blocks: int, seed: int, epoch: int) -> np.ndarray:
    """The epoch's output block of every row, dealt by expected load (as :func:`assign_blocks`)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, 0xCB0]))
    return assign_blocks(pair_load(counts, sample), blocks, rng)


def owned_block(p: int, sync: int, blocks: int, seed: int, epoch: int) -> tuple[int, int]:
    """``(round, output block)`` partition ``p`` trains in sync ``sync`` of an epoch of
    ``rounds x blocks`` (sub-epoch ``sync mod blocks`` of round ``sync // blocks``, by the
    round's :func:`pairing`; partitions ``p`` and ``p + blocks`` share a block)."""
    r, s = divmod(sync, blocks)
    return r, int(pairing(seed, epoch, r, blocks)[s, p % blocks])


def owned_negatives(q: int, counts: np.ndarray, owner_out: np.ndarray,
                    exponent: float) -> tuple[np.ndarray, np.ndarray]:
    """Output block ``q``'s centre mask (one bool per word) and negative table (vocabulary ids)."""
    centre_mask = owner_out == q
    return centre_mask, block_negatives(counts, np.flatnonzero(centre_mask), exponent, ids=True)


def owned_negative_rng(seed: int, epoch: int, sync: int, blocks: int, p: int) -> np.random.Generator:
    """The stream partition ``p`` draws its negatives from in sync ``sync``."""
    r, s = divmod(sync, blocks)
    return _rng(seed, epoch, r, s, p, 0xCB1)
