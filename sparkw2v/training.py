"""Driver side of training: the epoch loop, broadcasting the model, training the shards.

Each sync the driver broadcasts both matrices, every shard trains a copy in
``mapPartitionsWithIndex`` (:func:`executor.train_partition`), and the shards' updates are
summed and turned into the next model by :mod:`sparkw2v.combine`: :func:`_sync` reads as
broadcast, train, reduce, apply.

Two ways to reduce, with bit-identical results:

* **On the executors** (large models): the records are shuffled by row block and sorted
  by (block, partition), and each reducer adds them up one at a time, so the driver
  receives one combined copy, never one per partition.
* **On the driver** (small models): when all partitions' updates together take at
  most ``DIRECT_FRACTION`` of the driver's memory (and half of
  ``spark.driver.maxResultSize``), they are collected and summed on the driver. This
  skips a shuffle and a second round of Python tasks, which for a small model are most of
  the time an epoch spends outside training.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa
from pyspark import RDD, SparkConf, SparkContext, StorageLevel
from pyspark.sql import DataFrame, SparkSession

from . import allgather, combine, exchange, executor, faults, stratified
from .checkpoint import Checkpoint, Checkpoints
from .config import ConfigError, TrainConfig, setting
from .corpus import (CorpusInput, EncodedCorpus, InputError, check_decoded, count_vocabulary, encode_corpus,
                     null_rows, warn_null_rows, word_counts)
from .errors import UserError, too_few_slots_cause, unreachable_cause
from .kernel import KernelParams
from .memory import check_memory, driver_heap, driver_memory, max_result_size
from .session import cleaning_up, describe_job, first_collect_tasks, release_broadcast, unpersist_unless_gone
from .vocabulary import Vocabulary

log = logging.getLogger("sparkw2v")

#: Bytes of one row block of a partition's result once unpacked (both matrices and counts;
#: the shipped :class:`combine.PackedBlock` is at most about half of it).
BLOCK_BYTES = 32 << 20
#: Share of spark.driver.memory that the updates of all partitions may take for the
#: driver to sum them itself (see the module docstring).
DIRECT_FRACTION = 1 / 8


@dataclass
class TrainResult:
    """A trained model: vocabulary, input vectors (the word vectors) and output vectors."""

    config: TrainConfig
    vocab: Vocabulary
    w_in: np.ndarray
    w_out: np.ndarray
    history: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    #: (word, count) of every word of the corpus when ``save_counts``: an Arrow table on the driver
    #: when there were few enough words, else a persisted DataFrame (an RDD from the Python
    #: tokenizer), released when this result is garbage-collected; every ``Word2VecModel.save``
    #: writes them.
    counts: DataFrame | RDD | pa.Table | None = None

    def metadata(self) -> dict:
        """What a version's metadata.json records of this run: parameters, corpus sizes, history,
        timings and the shard layout."""
        info = self.info
        return {"parameters": self.config.to_dict(), "corpus_words": self.vocab.corpus_words,
                "distinct_words": self.vocab.distinct_words, "null_rows": info.get("null_rows"),
                "train_words": info.get("train_words"), "history": self.history,
                "timings": {k: v for k, v in info.items() if k.endswith("seconds")},
                "words_per_second": info.get("words_per_second"), "num_partitions": info.get("num_partitions"),
                "shard_words": info.get("shard_words"), "concurrent_shards": info.get("concurrent_shards"),
                "negative_group": info.get("negative_group"), "negative_draws": info.get("negative_draws"),
                "strategy": info.get("strategy"), "owned_rows": info.get("owned_rows"),   # in effect ('auto' picks)
                "block_exchange": info.get("block_exchange"), "resumed_after_epoch": info.get("resumed_after_epoch"), "input_tokens": info.get("input_tokens")}


def initial_weights(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """word2vec.c's start: input rows uniform in [-0.5/d, 0.5/d), output rows zero."""
    return initial_input_rows(vocab_size, vector_size, [seed]), np.zeros((vocab_size, vector_size), dtype=np.float32)


def initial_input_rows(rows: int, vector_size: int, seeds: list[int]) -> np.ndarray:
    """``rows`` input rows as word2vec.c starts them, uniform in [-0.5/d, 0.5/d), drawn from ``seeds``
    (a run's seed, then whatever else tells its draws apart)."""
    rng = np.random.default_rng(np.random.SeedSequence([seeds[0], 0x5EED, *seeds[1:]]))
    return ((rng.random((rows, vector_size), dtype=np.float32) - 0.5) / vector_size).astype(np.float32, copy=False)


def shard_layout(cfg: TrainConfig, sc: SparkContext, vocab_size: int) -> tuple[int, int]:
    """(shards, chains) of a run over a ``vocab_size``-word vocabulary, once the driver is known to
    hold its model (:func:`~sparkw2v.memory.check_memory`): ``num_partitions`` shards, by default
    the cluster's task slots, in ``concurrent_shards`` chains, by default as many as task slots
    (Spark's default parallelism), never more than the shards.

    With more shards than chains, each task slot trains a chain of shards in corpus order
    and the chains are combined: the same task time as one task per shard, but fewer
    models averaged: averaging many shards trained from one start loses accuracy, and a few
    chains score as that many shards do (BENCHMARKS.md, "Averaging").
    """
    shards = cfg.num_partitions or sc.defaultParallelism
    chains = max(1, min(shards, cfg.concurrent_shards or sc.defaultParallelism))
    check_memory(sc.getConf(), vocab_size, cfg.vector_size, _memory_layout(cfg, sc, chains), chains, driver_heap(sc))
    return shards, chains


def _memory_layout(cfg: TrainConfig, sc: SparkContext, chains: int) -> str:
    """The layout :func:`~sparkw2v.memory.check_memory` sizes the driver for, as ``train_encoded``
    will choose it for ``chains`` tasks."""
    if cfg.strategy_for(chains) != "stratified":
        return "average"
    if cfg.effective_owned_rows == "both":
        return "owned_both"
    exchanged = cfg.block_exchange != "shuffle" and exchange.unavailable_reason(sc, chains) is None
    return "owned_output" if exchanged else "average"   # else a Spark job per sub-epoch sums the changes


def negative_group(requested: int, vocab_size: int) -> int:
    """Centres per shared draw of negatives: as requested, but at most one per 128 vocabulary words.

    Each shared negative takes the summed update of its whole group at once. With a
    small vocabulary the same few rows are drawn in every group and those sums
    diverge (a 16-word corpus at 3 partitions does); there, every centre draws its own.
    """
    return max(1, min(requested, vocab_size // 128))


def step_words(batch_words: int, vocab_size: int) -> int:
    """Words per kernel step: ``batch_words``, but at most 8 per vocabulary word (at least 64).

    Every update in a step is computed from the same parameters; in a tiny
    vocabulary each row would repeat hundreds of times per step and training
    diverges, so small vocabularies take proportionally smaller steps.
    """
    return max(64, min(batch_words, 8 * vocab_size))


class DivergedError(UserError, ValueError):
    """Training blew up (non-finite loss or weights); nothing is written."""


def learning_rate(cfg: TrainConfig, progress: float) -> float:
    """Linear decay from alpha to min_alpha over the whole run (progress in [0, 1])."""
    a0 = cfg.effective_alpha
    return a0 - (a0 - cfg.min_alpha) * min(max(progress, 0.0), 1.0)



def fit(spark: SparkSession, corpus: CorpusInput, cfg: TrainConfig,
        on_epoch: Callable[[dict], None] | None = None, checkpoints: Checkpoints | None = None) -> TrainResult:
    """Count, encode and train: the whole run on an already opened input.

    With ``checkpoints``, the model is checkpointed after every epoch, and with
    ``cfg.resume`` training continues from the newest checkpoint there. With
    ``cfg.save_counts`` the result carries every word's count of this run for
    ``Word2VecModel.save`` to write: on the driver when there are few enough words,
    else persisted on the executors until the result is garbage-collected (not
    counted again from an input that may have changed or gone by the time the
    model is saved, unless an executor holding them is lost).
    """
    started = time.perf_counter()
    describe_job(spark, "counting")
    log.info("counting words")
    with corpus.tokens_kept():  # counting and encoding read the input once
        counts = word_counts(corpus, cfg) if cfg.save_counts else None
        if counts is not None:
            counts.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            result = _fit_counted(spark, corpus, cfg, counts, started, on_epoch, checkpoints,
                                  all_words=_words_on_driver(spark))
        except BaseException:
            if counts is not None:
                with cleaning_up("release the word counts"):
                    counts.unpersist()
            raise
    if isinstance(result.counts, pa.Table) and counts is not None:
        counts.unpersist()  # the driver holds every count: the cached copy is not needed
    else:
        result.counts = counts
        if counts is not None:  # cached until no model holds this result (copies share it)
            weakref.finalize(result, unpersist_unless_gone, counts).atexit = False
    return result



def _words_on_driver(spark: SparkSession) -> int:
    """Words below min_count each counting partition may send the driver with the vocabulary
    (their counts are written when the model is saved): the counts table's driver limit,
    shared by the partitions (one per task slot, as :func:`corpus.word_counts` makes them)."""
    from .counts_table import COUNTS_ON_DRIVER
    return COUNTS_ON_DRIVER // max(1, spark.sparkContext.defaultParallelism)


def _fit_counted(spark: SparkSession, corpus: CorpusInput, cfg: TrainConfig, counts: DataFrame | RDD | None,
                 started: float,
                 on_epoch: Callable[[dict], None] | None, checkpoints: Checkpoints | None,
                 all_words: int = 0) -> TrainResult:
    vocab, every = count_vocabulary(corpus, cfg, counts, all_words if counts is not None else 0)
    nulls = null_rows(corpus, cfg)
    counted = time.perf_counter()
    if len(vocab) == 0:
        raise InputError(
            f"no word occurs at least min_count={cfg.min_count} times "
            f"({vocab.corpus_words} words, {vocab.distinct_words} distinct): lower {setting('min_count')} or "
            "give more text" if vocab.corpus_words else
            f"the input holds no words: {nulls:,} rows, all null in column {cfg.input_column!r}"
            if nulls else
            "the input holds no words (no rows, or only empty ones)")
    warn_null_rows(nulls, cfg)
    log.info("vocabulary: %d words (of %d distinct, %d corpus words)", len(vocab), vocab.distinct_words,
             vocab.corpus_words)
    check_decoded(vocab, cfg)
    num_shards, concurrent = shard_layout(cfg, spark.sparkContext, len(vocab))
    resumed = _resumed(checkpoints, cfg, vocab, num_shards, concurrent) if checkpoints is not None else None
    describe_job(spark, "encoding", words=vocab.corpus_words)
    try:
        encoded = encode_corpus(corpus, vocab, cfg, num_shards, concurrent)
    except BaseException:
        if checkpoints is not None:   # the checkpoint resumed from may be resumed again
            with cleaning_up("stop the checkpoint heartbeat"):
                checkpoints.stop_heartbeat()
        raise
    prepared = time.perf_counter()
    describe_job(spark, None)  # logs "encoding done: ..."
    saver = EpochCheckpoints(spark, checkpoints, cfg, vocab, num_shards, concurrent) \
        if checkpoints is not None else None
    try:
        result = train_encoded(spark, encoded, vocab, cfg, on_epoch,
                               weights=(resumed.w_in, resumed.w_out) if resumed else None,
                               start_epoch=resumed.epochs_done if resumed else 0,
                               history=resumed.history if resumed else None, checkpoints=saver)
    finally:
        if checkpoints is not None:   # trained or failed: its checkpoints may be resumed now
            checkpoints.stop_heartbeat()
        encoded.unpersist()
        describe_job(spark, None)
    result.info.update(prepare_seconds=prepared - started, count_seconds=counted - started,
                       encode_seconds=prepared - counted, total_seconds=time.perf_counter() - started,
                       resumed_after_epoch=resumed.epochs_done if resumed else None, null_rows=nulls,
                       input_tokens=corpus.pretokenized)
    result.counts = every
    return result


def _resumed(checkpoints: Checkpoints, cfg: TrainConfig, vocab: Vocabulary, shards: int,
             concurrent: int) -> Checkpoint | None:
    """With ``--resume``, the checkpoint this run continues (None: none, said in a warning);
    without it, None, with a warning when an earlier run of this output left a checkpoint."""
    if cfg.resume:
        resumed = checkpoints.resume(cfg, vocab, shards, concurrent)
        if resumed is None:
            running = " (another run of this output is still training: its checkpoints are its own)" \
                if checkpoints.running_elsewhere() else ""
            log.warning("--resume: no checkpoint of a stopped run under %s%s; starting from the first epoch",
                        checkpoints.root, running)
        else:
            log.info("resuming after epoch %d from %s", resumed.epochs_done, resumed.path)
        return resumed
    earlier = checkpoints.newest_epoch()
    if earlier is not None and checkpoints.running_elsewhere():
        log.warning("%s holds the checkpoints of another run of this output that is still training; this "
                    "run starts from the first epoch and leaves them alone", checkpoints.root)
    elif earlier is not None:
        log.warning("%s holds a checkpoint after epoch %d of an earlier run of this output; this run starts "
                    "from the first epoch and leaves it alone (pass --resume to continue that run instead)",
                    checkpoints.root, earlier)
    return None


class EpochCheckpoints:
    """When and how the epoch loop checkpoints (driver side): after an epoch once
    ``checkpoint_interval`` seconds have passed since the last checkpoint, from the driver's
    matrices, or for stratified skip-gram from the blocks the tasks hold."""

    def __init__(self, spark: SparkSession, checkpoints: Checkpoints, cfg: TrainConfig, vocab: Vocabulary,
                 shards: int, concurrent: int):
        self.spark, self.checkpoints, self.cfg, self.vocab = spark, checkpoints, cfg, vocab
        self.shards, self.concurrent = shards, concurrent
        self.last = time.perf_counter()

    def due(self, epochs_done: int, ahead: float = 0.0) -> bool:
        """Whether the epoch ending at ``epochs_done`` is checkpointed (never the last one), asked
        when it ends, or ``ahead`` seconds before it ends."""
        return epochs_done < self.cfg.epochs and \
            time.perf_counter() + ahead - self.last >= self.cfg.checkpoint_interval

    def after_epoch(self, epochs_done: int, history: list, w_in: np.ndarray, w_out: np.ndarray,
                    ended: stratified.EpochEnd | None = None) -> RDD | None:
        """Checkpoint after ``epochs_done`` epochs if due: from the blocks a stratified epoch kept
        on the executors (then released), returning them as the next epoch's ``start``, read back
        from the checkpoint; else from the driver's matrices. Returns None when the next epoch
        starts from the matrices."""
        if ended is not None and ended.blocks is not None:
            # Blocks lost with an executor are made again by the epoch's barrier stages (``meetings``: it
            # handed them on directly), which would wait for slots without limit if it was not replaced.
            try:
                with exchange.slots_watched(self.spark.sparkContext, self.concurrent, on=bool(ended.meetings)):
                    path = self.save(epochs_done, history, blocks=ended.blocks, deal=ended.deal)
            finally:
                ended.release()
            return stratified.read_blocks(self.spark, Checkpoints.blocks_path(path), self.concurrent)
        if self.due(epochs_done):
            self.save(epochs_done, history, w_in, w_out)
        return None

    def save(self, epochs_done: int, history: list, w_in: np.ndarray | None = None,
             w_out: np.ndarray | None = None, blocks=None, deal: str = "") -> str:
        """Write the checkpoint after ``epochs_done`` epochs from the matrices, or from ``blocks``
        (:attr:`stratified.EpochEnd.blocks`); returns its path."""
        describe_job(self.spark, f"checkpoint after epoch {epochs_done}")
        path = self.checkpoints.save(epochs_done, self.vocab, w_in, w_out, self.cfg, history, self.shards,
                                     self.concurrent, blocks=blocks, deal=deal)
        self.last = time.perf_counter()
        faults.pause_after_checkpoint()
        return path


def train_encoded(spark: SparkSession, encoded: EncodedCorpus, vocab: Vocabulary, cfg: TrainConfig,
                  on_epoch: Callable[[dict], None] | None = None,
                  weights: tuple[np.ndarray, np.ndarray] | None = None, start_epoch: int = 0,
                  history: list[dict] | None = None,
                  checkpoints: EpochCheckpoints | None = None) -> TrainResult:
    """The epoch loop over an encoded, cached corpus, from ``start_epoch`` (0: the beginning).

    ``weights`` start the run (default: word2vec's initialisation); ``checkpoints`` are written
    after the epochs they find due. Stratified skip-gram's epochs that end in a checkpoint leave
    their rows on the executors: the tasks write them, and the next epoch's tasks read them back.
    """
    sc = spark.sparkContext
    w_in, w_out = weights or initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    concurrent = encoded.num_chains
    strategy = cfg.strategy_for(concurrent)  # stratified re-deals the pairs: every task slot gets a block
    direct = False
    owned = cfg.effective_owned_rows if strategy == "stratified" else None
    if strategy == "average" or owned == "output":  # output rows owned: averaging's syncs, the changes summed
        plan = _plan_averaging(sc, encoded, vocab, cfg, owned=strategy == "stratified")
        syncs, scale = plan.syncs, plan.rule.scale
        direct = bool(plan.owned_blocks) and _direct_exchange(sc, cfg, concurrent, owned_output=True)
    else:
        plan, scale = None, 1.0
        run = stratified.plan_run(vocab.counts, cfg, concurrent, encoded.words)
        syncs = run.sub_epochs
        direct = _direct_exchange(sc, cfg, concurrent)
    history = list(history or [])
    train_seconds = 0.0
    start = ended = None  # stratified: the blocks the last epoch's checkpoint holds, read by the next epoch's tasks
    exchanging = plan is None or plan.owned_blocks > 0   # stratified: its tasks exchange directly, or through Spark
    exchanges: list[tuple[str, int]] = []   # stratified: each run of epochs with one exchange, from its first
    redone = None   # an epoch trained again with the shuffle after its kept blocks were lost
    lost = 0.0      # seconds of that epoch's first attempt: the epoch's wall time includes them
    try:
        epoch = start_epoch
        while epoch < cfg.epochs:
            if exchanging and not direct and start_epoch < epoch != redone:
                direct = _direct_again(sc, cfg, concurrent, epoch)
            if epoch != redone:
                lost = 0.0
            epoch_started, epoch_start = time.perf_counter() - lost, start
            # Stratified keeps the rows on the executors through an epoch that will end in a checkpoint,
            # foreseen from the last epoch's time; one found due only at the end is written from the driver.
            keep = plan is None and checkpoints is not None and \
                checkpoints.due(epoch + 1, ahead=history[-1]["seconds"] if history else 0.0)
            ended = None
            if plan is not None:
                totals, direct = _average_epoch(spark, encoded, cfg, plan, epoch, w_in, w_out, direct)
            else:
                ended, direct = _stratified_epoch(spark, encoded, cfg, run, epoch, w_in, w_out, start, keep, direct)
                totals, start = ended.stats, None
            used = "direct" if direct else "shuffle"
            if exchanging and (not exchanges or exchanges[-1][0] != used):
                exchanges.append((used, epoch + 1))
            seconds = time.perf_counter() - epoch_started
            train_seconds += seconds
            entry = _epoch_entry(cfg, epoch, totals, seconds, syncs, scale)
            history.append(entry)
            log.info("epoch %d/%d: %d words, %.0f words/s, loss %.4f, alpha %.5f%s, %.1fs",
                     epoch + 1, cfg.epochs, entry["words"], entry["words_per_second"], entry["loss"],
                     entry["alpha_end"] / scale, f" (x{scale:g} per shard)" if scale != 1 else "", seconds)
            # Sums, not isfinite(w).all(): no temporary the size of the model; NaN and inf propagate.
            finite = ended.finite if ended is not None and ended.blocks is not None else \
                np.isfinite(w_in.sum(dtype=np.float64)) and np.isfinite(w_out.sum(dtype=np.float64))
            if not (np.isfinite(entry["loss"]) and finite):
                raise _diverged(cfg, epoch, scale, averaging=plan is not None)
            if checkpoints is not None:
                kept = ended is not None and ended.blocks is not None   # after_epoch releases them
                try:
                    start = checkpoints.after_epoch(epoch + 1, history, w_in, w_out, ended)
                except Exception as exc:
                    if not (kept and _kept_blocks_lost(exc, cfg, direct)):
                        raise
                    # The blocks the epoch left on a lost executor can only be made again by its barrier
                    # stages: the epoch starts over from its own start, with a shuffle per sub-epoch, and
                    # is recorded as the shuffle's.
                    log.warning("the blocks epoch %d left on the executors were lost before its checkpoint was "
                                "written (%s): epoch %d starts over with a Spark shuffle per sub-epoch (slower, the "
                                "same vectors); a later epoch hands blocks on directly again if the session has a "
                                "slot per task by then", epoch + 1, too_few_slots_cause(exc), epoch + 1)
                    describe_job(spark, None)   # inside the handler: the checkpoint's progress ends as stopped
                    history.pop()
                    train_seconds -= seconds
                    lost = time.perf_counter() - epoch_started
                    start, direct, ended, redone = epoch_start, False, None, epoch
                    if exchanges[-1] == ("direct", epoch + 1):
                        exchanges.pop()
                    continue
            if on_epoch is not None:
                on_epoch(entry)
            epoch += 1
    finally:
        if plan is not None:
            release_broadcast(plan.tables_bc)
        if ended is not None:
            ended.release()
    info = {"train_seconds": train_seconds, "num_partitions": encoded.num_shards, "strategy": strategy,
            "owned_rows": owned,
            "combine": plan.rule.name if strategy == "average" else None,
            "block_exchange": _exchange_used(exchanges, direct) if exchanging else None,
            "syncs_per_epoch": syncs,
            "concurrent_shards": concurrent, "alpha_scale": scale,
            "negative_group": plan.kernel.shared_by if plan is not None else 1,
            "negative_draws": plan.kernel.draws if plan is not None else cfg.negative,
            "shard_words": encoded.shard_words, "train_words": encoded.words,
            "words_per_second": encoded.words * (cfg.epochs - start_epoch) / max(train_seconds, 1e-9)}
    return TrainResult(cfg, vocab, w_in, w_out, history, info)


def _stratified_epoch(spark: SparkSession, encoded: EncodedCorpus, cfg: TrainConfig, run: stratified.RunPlan,
                      epoch: int, w_in: np.ndarray, w_out: np.ndarray, start: RDD | None, keep: bool,
                      direct: bool) -> tuple[stratified.EpochEnd, bool]:
    """One epoch of stratified skip-gram (:func:`stratified.train_epoch`), and whether its tasks
    handed the blocks on directly (:func:`_exchanged_epoch`)."""
    def attempt(direct: bool) -> stratified.EpochEnd:
        return stratified.train_epoch(
            spark.sparkContext, encoded.shards, run, epoch, w_in, w_out, functools.partial(_epoch_rate, cfg, epoch),
            functools.partial(_describe_rounds, spark, f"epoch {epoch + 1}/{cfg.epochs}", encoded.words),
            start=start, keep=keep, direct=direct, fall_back=direct and cfg.block_exchange == "auto")

    return _exchanged_epoch(spark, cfg, epoch, run.blocks, direct, attempt, "hand-overs",
                            "a Spark shuffle per sub-epoch", "hands blocks on directly")


def _exchanged_epoch(spark: SparkSession, cfg: TrainConfig, epoch: int, tasks: int, direct: bool,
                     attempt: Callable[[bool], object], what: str, instead: str, again: str) -> tuple[object, bool]:
    """``attempt(direct)``, an epoch of stratified training whose ``tasks`` tasks exchange rows
    directly (``direct``) or through Spark, and whether it exchanged directly.

    Under ``block_exchange = 'auto'``, an epoch whose direct exchange failed because a task could
    not connect to another task or to the driver (a firewall between executors;
    :func:`~sparkw2v.errors.unreachable_cause`), or because the cluster was left with fewer task
    slots than tasks (:func:`~sparkw2v.errors.too_few_slots_cause`), is trained again from its start
    through Spark (``instead``), after one warning. The caller keeps that for the rest of the
    run after a connection failure, and after too few slots until the session has them again
    (:func:`_direct_again`). The failed attempt changed nothing the epoch starts from and released
    what it held, so the vectors are the same bit for bit. Any other failure, and every failure
    under 'direct', ends the run. ``what`` and ``again`` name the exchange in the warning."""
    def watched(direct: bool):
        # A barrier stage retried without a slot per task would wait for them without limit.
        with exchange.slots_watched(spark.sparkContext, tasks, on=direct):
            return attempt(direct)

    started = time.perf_counter()
    try:
        return watched(direct), direct
    except Exception as exc:
        auto = direct and cfg.block_exchange == "auto"
        unreached = unreachable_cause(exc) if auto else None
        cause = unreached or (too_few_slots_cause(exc) if auto else None)
        if cause is None:
            raise
        if unreached:   # later runs of the application go through Spark too; too few slots is checked afresh
            exchange.remember_unreachable(spark.sparkContext, cause)
        log.warning("direct %s between stratified tasks failed (%s) after %.1f s: epoch %d starts over, and the "
                    "run goes on, with %s (slower, the same vectors)%s", what, cause, time.perf_counter() - started,
                    epoch + 1, instead,
                    "; pass --block-exchange shuffle (block_exchange = 'shuffle') to use it from the start without "
                    "this warning" if unreached else
                    f"; a later epoch {again} again if the session has a slot per task by then")
        describe_job(spark, None)   # the epoch's progress starts over too
    return watched(False), False


def _kept_blocks_lost(exc: BaseException, cfg: TrainConfig, direct: bool) -> bool:
    """Whether the checkpoint of blocks a stratified epoch left on the executors failed because making
    them again needed the epoch's barrier stages and the cluster had fewer slots than their tasks:
    then ``auto`` trains the epoch again with a shuffle (:func:`train_encoded`)."""
    return direct and cfg.block_exchange == "auto" and too_few_slots_cause(exc) is not None


def _exchange_used(runs: list[tuple[str, int]], direct: bool) -> str:
    """How a stratified skip-gram run handed blocks on, as its metadata records it: 'direct',
    'shuffle', or the exchanges in turn, as 'direct, then shuffle from epoch 2' when direct
    hand-overs failed in epoch 2 (and ', then direct from epoch N' if the slots came back).
    ``runs``: each run of epochs with one exchange and its first epoch; ``direct``: the run's
    choice, for a run that trained no epoch."""
    if not runs:
        return "direct" if direct else "shuffle"
    return ", then ".join([runs[0][0]] + [f"{used} from epoch {first}" for used, first in runs[1:]])


def _direct_again(sc: SparkContext, cfg: TrainConfig, tasks: int, epoch: int) -> bool:
    """Under 'auto', whether an epoch after epochs trained through Spark can exchange directly: the
    session may have the task slots now (executors that joined late, or replaced a lost one)."""
    if cfg.block_exchange != "auto" or exchange.unavailable_reason(sc, tasks) is not None:
        return False
    log.info("the session now has a task slot for each of the %d stratified tasks: from epoch %d they exchange "
             "rows with each other directly", tasks, epoch + 1)
    return True


def _direct_exchange(sc: SparkContext, cfg: TrainConfig, tasks: int, owned_output: bool = False) -> bool:
    """Whether stratified training's ``tasks`` tasks exchange rows directly (``block_exchange``):
    'auto' when the session can run them all at once, 'direct' or an error saying why not.

    Output rows owned (``owned_output``) without it sync through the driver every sub-epoch, which
    with a large vocabulary on many cores costs many times the training: when a setting rather
    than too few task slots is the reason, that is a warning naming it."""
    if cfg.block_exchange == "shuffle":
        return False
    reason = exchange.unavailable_reason(sc, tasks)
    if reason is None:
        return True
    if cfg.block_exchange == "direct":
        raise ConfigError(f"{setting('block_exchange')} 'direct' cannot run here: {reason}; "
                          "use 'auto' or 'shuffle'")
    if owned_output and (exchange.refusing_setting(sc) is not None or (exchange.task_slots(sc) or 0) >= tasks):
        log.warning("the shards' tasks cannot exchange rows directly (%s), so every sub-epoch syncs through "
                    "the driver, a Spark job each: with a large vocabulary on many cores that is many times "
                    "slower (README, \"Running on a cluster\"; --block-exchange shuffle, block_exchange = "
                    "'shuffle', chooses it without this warning)", reason)
    else:
        log.info("%s: %s", "a Spark job per sub-epoch" if owned_output else "blocks handed on by a shuffle per sub-epoch",
                 reason)
    return False


def _diverged(cfg: TrainConfig, epoch: int, scale: float, averaging: bool) -> DivergedError:
    """The error of an epoch whose loss or vectors are no longer finite, naming the settings to lower."""
    return DivergedError(
        f"training diverged in epoch {epoch + 1}/{cfg.epochs}: the loss or the vectors are no longer "
        f"finite (learning rate {cfg.effective_alpha} x {scale} per shard is too high for this corpus); "
        f"lower {setting('alpha')}" + (f" or {setting('partition_alpha_scale')}" if averaging else ""))


@dataclass(frozen=True, eq=False)
class AveragingSchedule:
    """Averaging's settings that need no Spark: the kernel's, the combine rule, syncs per epoch,
    per-row learning-rate factors (None: one rate), and the output blocks of stratified training owning output rows (0:
    none). ``bench/shards_lab.py`` trains with the same schedule in one process."""

    kernel: KernelParams
    rule: combine.Rule
    syncs: int
    rates: tuple[np.ndarray, np.ndarray] | None
    owned_blocks: int


@dataclass(frozen=True)
class _Averaging:
    """What every averaging sync of a run shares: its schedule, the row blocks updates are shipped
    in, where they are summed, and the broadcast counts and per-row rates."""

    schedule: AveragingSchedule
    block_rows: int
    n_blocks: int
    direct: bool
    tables_bc: object
    tables_key: str  # names the run's tables: Python workers reuse what they built from them
    counts: np.ndarray  # the vocabulary's counts (to deal owned output blocks each epoch)

    @property
    def kernel(self) -> KernelParams:
        return self.schedule.kernel

    @property
    def rule(self) -> combine.Rule:
        return self.schedule.rule

    @property
    def syncs(self) -> int:
        return self.schedule.syncs

    @property
    def owned_blocks(self) -> int:
        return self.schedule.owned_blocks


def averaging_schedule(vocab: Vocabulary, cfg: TrainConfig, busy_chains: int, words: int, chains: int,
                       spread: Callable[[], np.ndarray], owned: bool = False) -> AveragingSchedule:
    """The schedule of ``busy_chains`` chains (of ``chains``; the others hold no words) holding
    ``words`` corpus words in all; ``spread()`` is how many chains each word is spread over
    (:func:`word_spread`), asked only if the rule needs it. ``owned``: stratified owning output rows
    (:mod:`sparkw2v.stratified`), where each chain trains against one output block per sub-epoch
    (alone, or with one other chain from ``config.SHARE_OUTPUT_FROM``) and the changes are summed."""
    if owned:
        rule = combine.make_rule("sum", busy_chains, cfg.partition_alpha_scale or 1.0, cfg.sg)
    else:
        rule = combine.make_rule(cfg.combine, busy_chains, cfg.partition_alpha_scale, cfg.sg)
    group = negative_group(cfg.effective_negative_group, len(vocab))
    kernel = KernelParams(sg=cfg.sg, window=cfg.window, negative=cfg.negative,
                          chunk_words=step_words(cfg.effective_batch_words, len(vocab)),
                          shared_by=group, shared_draws=cfg.negative_draws_for(group))
    if owned:  # from config.SHARE_OUTPUT_FROM, two chains train against each output block, summed
        blocks = stratified.output_blocks(chains)
        syncs = stratified.rounds_per_epoch(chains, words, cfg.syncs_per_epoch, blocks) * blocks
        return AveragingSchedule(kernel, rule, syncs, None, blocks)
    rates = rule.row_rates(spread, vocab, cfg, kernel.chunk_words)
    syncs = cfg.syncs_per_epoch or rule.default_syncs(words / max(busy_chains, 1))
    return AveragingSchedule(kernel, rule, syncs, rates, 0)


def sync_task(cfg: TrainConfig, schedule: AveragingSchedule, epoch: int, sync: int, block_rows: int,
              tables_key: str) -> executor.TrainTask:
    """What the tasks of sync ``sync`` of epoch ``epoch`` are told."""
    steps = cfg.epochs * schedule.syncs
    step = epoch * schedule.syncs + sync
    return executor.TrainTask(
        kernel=schedule.kernel, seed=cfg.seed, epoch=epoch, sync=sync, syncs_per_epoch=schedule.syncs,
        alpha_start=learning_rate(cfg, step / steps) * schedule.rule.scale,
        alpha_end=learning_rate(cfg, (step + 1) / steps) * schedule.rule.scale,
        sample=cfg.sample, ns_exponent=cfg.ns_exponent, block_rows=block_rows,
        weighted=schedule.rule.weighted, tables_key=tables_key, owned_blocks=schedule.owned_blocks)


def _plan_averaging(sc, encoded: EncodedCorpus, vocab: Vocabulary, cfg: TrainConfig, owned: bool = False) -> _Averaging:
    """Averaging's settings on Spark: :func:`averaging_schedule`, the row blocks updates are
    shipped in, where they are summed, and the broadcast counts and rates."""
    busy_chains = {i % encoded.num_chains for i, words in enumerate(encoded.shard_words) if words}
    schedule = averaging_schedule(vocab, cfg, len(busy_chains), encoded.words, encoded.num_chains,
                                  functools.partial(word_spread, encoded, len(vocab)), owned)
    block_rows = max(1, BLOCK_BYTES // (2 * cfg.vector_size * 4 + 8))
    direct = sums_on_driver(sc.getConf(), len(vocab), cfg.vector_size, encoded.num_chains)
    log.debug("summing partition updates on the %s", "driver" if direct else "executors")
    return _Averaging(schedule, block_rows, -(-len(vocab) // block_rows), direct,
                      sc.broadcast((vocab.counts, schedule.rates)), uuid.uuid4().hex, vocab.counts)


def _average_epoch(spark: SparkSession, encoded: EncodedCorpus, cfg: TrainConfig, plan: _Averaging, epoch: int,
                   w_in: np.ndarray, w_out: np.ndarray, direct: bool = False) -> tuple[combine.SyncStats, bool]:
    """One epoch of ``plan.syncs`` averaging syncs, updating ``w_in`` and ``w_out`` in place, and
    whether it ran in one barrier stage: with ``direct``, output-owned stratified training's tasks
    sum each other's changes themselves (:mod:`sparkw2v.allgather`; :func:`_exchanged_epoch`
    trains it through Spark instead when they cannot), otherwise a Spark job per sync."""
    sc = spark.sparkContext
    owners_bc = sc.broadcast(stratified.output_owners(plan.counts, cfg.sample, plan.owned_blocks, cfg.seed, epoch)) \
        if plan.owned_blocks else None
    whole = f"epoch {epoch + 1}/{cfg.epochs}"

    def attempt(direct: bool) -> combine.SyncStats:
        if direct:
            # The job: the barrier stage, then the stage collecting each task's share of the rows
            # (a large model's shares: the first one, then a phase collecting the others).
            collect = first_collect_tasks(w_in.nbytes + w_out.nbytes, encoded.num_chains)
            describe_job(spark, whole, words=encoded.words, tasks=encoded.num_chains + collect, collect_tasks=collect)
            syncs = tuple(sync_task(cfg, plan.schedule, epoch, sync, plan.block_rows, plan.tables_key)
                          for sync in range(plan.syncs))
            return allgather.train_epoch(sc, encoded.shards, syncs, w_in, w_out, plan.tables_bc, owners_bc,
                                         plan.rule, fall_back=cfg.block_exchange == "auto",
                                         on_parts=functools.partial(_describe_collect, spark, whole))
        return _sync_by_sync(spark, encoded, cfg, plan, epoch, w_in, w_out, owners_bc)

    try:
        if not plan.owned_blocks:
            return attempt(False), False
        return _exchanged_epoch(spark, cfg, epoch, encoded.num_chains, direct, attempt, "exchange",
                                "a Spark job per sub-epoch", "exchanges directly")
    finally:
        if owners_bc is not None:
            release_broadcast(owners_bc)


def _sync_by_sync(spark: SparkSession, encoded: EncodedCorpus, cfg: TrainConfig, plan: _Averaging, epoch: int,
                  w_in: np.ndarray, w_out: np.ndarray, owners_bc) -> combine.SyncStats:
    """One epoch of averaging syncs, a Spark job each (:func:`_sync`)."""
    totals, syncs = combine.SyncStats(), plan.syncs
    whole = f"epoch {epoch + 1}/{cfg.epochs}"
    for sync in range(syncs):
        label = whole + (f" {'sub-epoch' if plan.owned_blocks else 'sync'} {sync + 1}/{syncs}" if syncs > 1 else "")
        describe_job(spark, label, words=encoded.words // syncs, part_of=(whole, 1 / syncs) if syncs > 1 else None)
        task = sync_task(cfg, plan.schedule, epoch, sync, plan.block_rows, plan.tables_key)
        sync_started = time.perf_counter()
        stats = _sync(spark.sparkContext, encoded, task, w_in, w_out, plan.tables_bc, plan.n_blocks, plan.rule,
                      plan.direct, owners_bc)
        totals = totals + stats
        if syncs > 1:  # many syncs per epoch: the epoch line is the one shown by default
            log.debug("%s: %d words, %.0f words/s, loss %.4f", label, stats.words,
                      stats.words / max(time.perf_counter() - sync_started, 1e-9), stats.mean_loss)
    return totals


def _epoch_entry(cfg: TrainConfig, epoch: int, totals: combine.SyncStats, seconds: float, syncs: int,
                 scale: float) -> dict:
    """The history entry of epoch ``epoch`` (0-based), from its summed stats."""
    return {
        "epoch": epoch + 1, "words": int(totals.words), "kept_words": int(totals.kept_words),
        "examples": int(totals.examples), "loss": float(totals.mean_loss), "seconds": seconds,
        "words_per_second": float(totals.words / max(seconds, 1e-9)),
        "task_seconds": float(totals.task_seconds),
        "slowest_task_seconds": float(totals.slowest_task_seconds),
        "syncs": syncs, "combine_seconds": float(totals.combine_seconds),
        "alpha_end": learning_rate(cfg, (epoch + 1) / cfg.epochs) * scale,   # the rate each shard trains at
        "alpha_scale": scale,   # alpha_end / alpha_scale is --alpha's schedule
    }


def _epoch_rate(cfg: TrainConfig, epoch: int, progress: float) -> float:
    """The learning rate ``progress`` (0..1) of the way through epoch ``epoch``."""
    return learning_rate(cfg, (epoch + progress) / cfg.epochs)


def _describe_rounds(spark: SparkSession, epoch_label: str, words: int, label: str, share: float,
                     tasks: int | None) -> None:
    describe_job(spark, f"{epoch_label} {label}", words=int(words * share), tasks=tasks, part_of=(epoch_label, share))


def _describe_collect(spark: SparkSession, epoch_label: str, parts: int) -> None:
    describe_job(spark, f"{epoch_label} collecting the model", tasks=parts)


def word_spread(encoded: EncodedCorpus, vocab_size: int) -> np.ndarray:
    """How many of the chains trained at once each word is spread over: ``sum(c)**2 / sum(c**2)``
    of its occurrences ``c`` per chain (1 for a word in one chain, P for a word spread
    evenly over P; 1 for a word that does not occur)."""
    total, squares = (encoded.shards.mapPartitions(functools.partial(executor.word_spread_terms,
                                                                     vocab_size=vocab_size))
                      .treeReduce(executor.add_pairs))
    return np.divide(total * total, squares, out=np.ones(vocab_size), where=squares > 0)


def sums_on_driver(conf: SparkConf, vocab_size: int, vector_size: int, chains: int) -> bool:
    """Whether every chain's updates together are small enough for the driver to sum."""
    # At most (every row updated): 2 float16 rows, 2 float32 counts and 2 int32 indices per row.
    shipped = chains * vocab_size * (4 * vector_size + 16)
    results = max_result_size(conf) or float("inf")
    return shipped <= min(DIRECT_FRACTION * driver_memory(conf), results / 2)


def _sync(sc, encoded: EncodedCorpus, task: executor.TrainTask, w_in: np.ndarray, w_out: np.ndarray,
          tables_bc, n_blocks: int, rule: combine.Rule, direct: bool = False, owners_bc=None) -> combine.SyncStats:
    """One round: broadcast, train every shard, reduce their updates, apply them to ``w_in``/``w_out``."""
    model_bc = sc.broadcast((w_in, w_out))
    try:
        trained = encoded.shards.mapPartitionsWithIndex(
            functools.partial(executor.train_partition, task=task, model_bc=model_bc, tables_bc=tables_bc,
                              owners_bc=owners_bc))
        if direct:  # records arrive in partition order: the same additions as on the executors
            reduced = combine.sum_records_by_key(trained.collect())
        else:
            # Sorted by (block, partition), each reducer streams through its blocks adding one
            # partition's record at a time (groupByKey's Python-side merging would spill whole
            # blocks to disk).
            shipped = (trained.map(combine.key_by_block_and_partition)
                       .repartitionAndSortWithinPartitions(max(1, min(n_blocks, encoded.num_chains)),
                                                           partitionFunc=combine.block_of)
                       .mapPartitions(combine.sum_sorted_blocks)
                       .map(combine.compact_sum)      # the changed rows only cross to the driver
                       .collect())
            reduced = map(combine.expand_sum, shipped)
    finally:
        release_broadcast(model_bc)
    return combine.apply_summed(reduced, w_in, w_out, rule, task.block_rows)
