"""Continuing a trained model on new text, with a vocabulary that grows.

``sparkw2v train --from-model`` and every batch of ``sparkw2v stream`` run
:func:`continue_training`:

1. The new text's word counts are added to the model's running counts: every
   word ever seen, including those still below ``min_count`` (they are kept so
   that they can enter later). The counts live next to each published version
   as a Parquet table ``counts/`` (word, count, batch_count); the merge runs in
   Spark, and the driver only collects the words that are (or become) vocabulary.
2. The vocabulary keeps every word it had and adds the words whose total count
   reached ``min_count`` (up to ``max_vocab_size``). Rows are re-sorted by the
   :class:`~sparkw2v.vocabulary.Vocabulary` rule (count descending, then word) and
   the matrices are re-ordered by word to match. New input rows start as word2vec
   starts them (uniform in [-0.5/d, 0.5/d), from ``seed`` and the round), new output
   rows at zero. The sampling tables are built from the new total counts.
3. The new text is trained with :func:`sparkw2v.training.train_encoded` (same kernel,
   same averaging), starting at ``continue_alpha`` and decaying linearly to
   ``min_alpha`` over the run's epochs.

Why a lower starting rate: gensim's ``train()`` starts again at the full ``alpha``
by default, and its maintainers warn that extra full-rate passes over new data alone
pull the vectors the new data mentions away from the rest of the model (gensim issues
#2690, #3352). A quarter of ``alpha`` keeps existing words' vectors close to where
they were while new words still learn from the trained context vectors. A run that
starts from nothing (a stream's first batch without ``--from-model``) uses ``alpha``.

How close old words stay (the mean cosine of each old word's vector to its previous one) is
measured by ``bench/stream.py`` and recorded in BENCHMARKS.md; ``tests/test_continuation.py``
asserts it above 0.99 on its planted corpus. Larger batches move old words further.

Publishing (:func:`publish`) stages the counts table first, then publishes the model
with :func:`sparkw2v.publishing.write_model` naming the staged table (and its files'
digests) in its metadata, then moves the table into the version. A crash between the
two steps leaves a complete table under ``_staging`` that :func:`load_base` moves in
later. A run that continued version N of the path it publishes to publishes only
while N is still the newest version there (a compare-and-swap: another writer's
version is never dropped silently).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
from pyspark import Broadcast, StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from . import counts_table, filesystem, integrity, layout, publishing, tables, vector_table
from .config import TrainConfig
from .corpus import (CorpusInput, InputError, check_decoded, encode_corpus, null_rows, reading_input, warn_null_rows,
                     word_counts)
from .errors import UserError
from .interchange import NO_COUNTS
from .layout import COUNTS
from .session import cleaning_up, describe_job
from .training import TrainResult, initial_input_rows, shard_layout, train_encoded
from .vocabulary import Vocabulary, frequency_order

log = logging.getLogger("sparkw2v")

#: metadata.json's record of which stream batches a version's model holds: ``{stream id: last
#: batch id}``, carried into every version made from it (continued, streamed, or loaded and saved).
STREAMS = "streams"
#: Where a streamed version names its own stream and batch (``stream`` also holds its source).
BATCH_KEY, STREAM_KEY = "stream_batch_id", "stream"
#: Tokenizer settings compared with the continued model's (a mismatch is warned about).
TOKENIZER_FIELDS = ("lowercase", "token_pattern")
#: Settings that shape what the vectors learn: continuing with others mixes two objectives in one
#: model, whose metadata then records only the last run's.
OBJECTIVE_FIELDS = ("sg", "window", "negative", "ns_exponent")
#: Default ``continue_alpha`` as a fraction of ``alpha`` (BENCHMARKS.md, "Streaming").
CONTINUE_ALPHA_FRACTION = 0.25


def start_alpha(cfg: TrainConfig) -> float:
    """The learning rate a continued run starts at: ``continue_alpha`` or ``alpha / 4``."""
    if cfg.continue_alpha is not None:
        return float(cfg.continue_alpha)
    return cfg.effective_alpha * CONTINUE_ALPHA_FRACTION


@dataclass
class BaseModel:
    """The model a run continues: vectors, vocabulary, metadata and running counts."""

    vocab: Vocabulary
    w_in: np.ndarray
    w_out: np.ndarray
    metadata: dict
    location: str | None = None  # the version directory read (None: nothing published yet)
    counts: DataFrame | None = None  # word, count: every word seen; None: only the vocabulary's

    @property
    def vector_size(self) -> int:
        return int(self.w_in.shape[1])


def empty_base(vector_size: int) -> BaseModel:
    """Nothing trained yet: a stream's first batch starts from this."""
    return BaseModel(Vocabulary((), np.zeros(0, np.int64)), np.zeros((0, vector_size), np.float32),
                     np.zeros((0, vector_size), np.float32), {})


def load_base(spark: SparkSession, path: str) -> BaseModel:
    """Read the current version of ``path`` with its running counts (recovering staged ones).

    A model without a ``counts/`` table (written by ``sparkw2v train``) continues from
    its vocabulary's counts: words below ``min_count`` in its corpus are not known.
    """
    loaded = vector_table.read_model(spark, path)
    location, meta = loaded.location, loaded.metadata
    _check_counts(path, meta)
    w_out = loaded.w_out if loaded.w_out is not None else np.zeros_like(loaded.w_in)
    counts = _stored_counts(spark, location, meta)
    if counts is None:
        log.warning("%s has no %s/ table: continuing from its vocabulary's counts (words it saw fewer "
                    "than min_count times are forgotten)", location, COUNTS)
    return BaseModel(loaded.vocab, loaded.w_in, w_out, meta, location, counts)


def check_base(spark: SparkSession, path: str) -> None:
    """Fail fast (reading only metadata.json) if ``path`` is no model or cannot be continued."""
    _check_counts(path, vector_table.read_metadata(spark, path))


def _check_counts(path: str, meta: dict) -> None:
    if meta.get("counts") in NO_COUNTS:
        raise InputError(f"{path} has no real word counts (imported from {meta.get('imported_from')} "
                         "without --vocab-counts), so its vocabulary cannot grow; re-import it with "
                         "--vocab-counts")


def _stored_counts(spark: SparkSession, location: str, meta: dict) -> DataFrame | None:
    """The version's running counts, or None if it was published without them. A table its
    metadata lists is read whole or refused as damaged (deleted, or a file missing), never
    taken for a version without counts, whose continuation would forget the rare words."""
    fs = filesystem.HadoopFS(spark, location)
    table = f"{location}/{COUNTS}"
    counts_table.finish_counts_move(fs, location, meta)
    listed = any(name.startswith(f"{COUNTS}/") for name in meta.get("files") or {})
    if not listed and not fs.exists(f"{table}/_SUCCESS"):
        return None
    integrity.verify_tables(spark, location, meta, (COUNTS,))
    return filesystem.literal_reader(spark).parquet(table).select("word", "count")


# -- counting ----------------------------------------------------------------------------------

def count_words(spark: SparkSession, corpus: CorpusInput, cfg: TrainConfig) -> DataFrame:
    """Every distinct token of ``corpus`` with its count (word, count), as a DataFrame."""
    counts = word_counts(corpus, cfg)
    return counts if isinstance(counts, DataFrame) else spark.createDataFrame(counts, counts_table.COUNTS_SCHEMA)


def merge_counts(spark: SparkSession, base: BaseModel, new: DataFrame) -> tuple[DataFrame, Broadcast | None]:
    """Running counts plus the new text's: (word, count, batch_count), one row per word; and the
    broadcast of the base's vocabulary the frame reads when the base has no counts table (its
    executors' copies are for the caller to drop; the driver keeps it while the plan may be rerun)."""
    vocab_bc = None
    if base.counts is not None:
        old = base.counts
    elif len(base.vocab):
        table = pa.table({"word": pa.array(base.vocab.words, pa.string()),
                          "count": pa.array(base.vocab.counts, pa.int64())})
        vocab_bc = spark.sparkContext.broadcast(table)
        old = tables.frame_of(spark, table, vocab_bc)
    else:
        old = None
    parts = new.select("word", "count", F.col("count").alias("batch_count"))
    if old is not None:
        parts = old.select("word", "count", F.lit(0).cast("bigint").alias("batch_count")).unionByName(parts)
    # Partitioned by word first: the groupBy reuses it instead of spark.sql.shuffle.partitions
    # (200 by default, and not coalesced in a stream's batch, where adaptive execution is off).
    partitions = max(1, spark.sparkContext.defaultParallelism)
    return (parts.repartition(partitions, "word").groupBy("word")
            .agg(F.sum("count").alias("count"), F.sum("batch_count").alias("batch_count"))), vocab_bc


def grow_vocabulary(base: Vocabulary, totals: dict[str, int], min_count: int, max_vocab_size: int | None,
                    corpus_words: int, distinct_words: int) -> Vocabulary:
    """The base's words plus new words with ``min_count`` or more, sorted by the Vocabulary rule.

    A word never leaves: counts only grow, and a word pushed past ``max_vocab_size`` by
    others would lose its trained vector. New words fill the room ``max_vocab_size``
    leaves, most frequent first.
    """
    known = set(base.words)
    new = [(w, c) for w, c in totals.items() if w not in known and c >= min_count]
    new = [new[i] for i in frequency_order([w for w, _ in new], [c for _, c in new])]
    if max_vocab_size is not None:
        new = new[:max(0, max_vocab_size - len(known))]
    pairs = [(w, totals[w]) for w in base.words] + new
    return Vocabulary.from_counts(pairs, 1, corpus_words=corpus_words, distinct_words=distinct_words)


def remap_weights(base: BaseModel, vocab: Vocabulary, seed: int, round_key: int) -> tuple[np.ndarray, np.ndarray]:
    """Matrices in ``vocab``'s row order: old rows moved by word, new rows initialised.

    New input rows are uniform in [-0.5/d, 0.5/d) (word2vec.c), drawn in row order
    from (seed, round_key); new output rows are zero.
    """
    d = base.vector_size
    index = vocab.index()
    w_in = np.empty((len(vocab), d), dtype=np.float32)
    w_out = np.zeros((len(vocab), d), dtype=np.float32)
    fresh = np.ones(len(vocab), dtype=bool)
    if len(base.vocab):
        rows = np.fromiter((index[w] for w in base.vocab.words), dtype=np.int64, count=len(base.vocab))
        w_in[rows] = base.w_in
        w_out[rows] = base.w_out
        fresh[rows] = False
    w_in[fresh] = initial_input_rows(int(fresh.sum()), d, [seed, 1 + round_key])
    return w_in, w_out


# -- the run -----------------------------------------------------------------------------------

@dataclass
class Continued:
    """A continued model and what publishing it needs besides the matrices."""

    result: TrainResult
    counts: DataFrame  # word, count, batch_count (persisted)
    base_location: str | None
    base_version: int | None
    new_words: list[str] = field(default_factory=list)
    batch_words: int = 0  # tokens in the new text, in the vocabulary or not
    input_digest: str | None = None  # names the files trained on (see input_digest)
    streams: dict[str, int] = field(default_factory=dict)  # the base's stream batches (STREAMS), and a batch's own
    base_vocab_bc: Broadcast | None = None  # read by ``counts`` when the base has no counts table
    counts_from_base: bool = False  # ``counts`` reads the base's counts table

    def metadata(self) -> dict:
        """What a published version records about the continuation (besides training_metadata)."""
        return {"continued_from": {"path": self.base_location, "version": self.base_version,
                                   "input_digest": self.input_digest},
                "batch_words": self.batch_words, "new_words": len(self.new_words),
                "new_words_sample": self.new_words[:20], **({STREAMS: self.streams} if self.streams else {})}

    def release(self) -> None:
        """Drop the cached counts and the executors' copies of what they are computed from; the
        plan stays, so a later save recomputes them."""
        _release_counts(self.counts, self.base_vocab_bc)

    def expected(self, spark: SparkSession, path: str) -> publishing.Expected | None:
        """What publishing to ``path`` must find: the base's version the newest, if the base is a
        version of ``path`` (None: the base came from elsewhere, nothing to compare)."""
        if self.base_location is None or self.base_version is None:
            return None
        root = layout.root_of(self.base_location)
        if root is None or not layout.same_path(spark, root, path):
            return None
        return publishing.Expected(self.base_version, publishing.CONTINUED)


class BaseDeletedError(UserError, FileNotFoundError):
    """A continued model's base version, whose counts it needs to be saved, was deleted."""


def stream_progress(metadata: dict) -> dict[str, int]:
    """``{stream id: last batch id}`` of the stream batches a version's model holds: its
    :data:`STREAMS` record, and the stream batch it was itself published for."""
    progress = {str(k): int(v) for k, v in (metadata.get(STREAMS) or {}).items()}
    own = (metadata.get(STREAM_KEY) or {}).get("id")
    if own is not None and metadata.get(BATCH_KEY) is not None:
        progress[own] = max(progress.get(own, -1), int(metadata[BATCH_KEY]))
    return progress


def input_digest(corpus: CorpusInput) -> str | None:
    """A short digest of the files ``corpus`` reads (None for data that is not read from files)."""
    try:
        files = sorted(corpus.frame.inputFiles())
    except Exception:  # streaming or in-memory frames
        return None
    return hashlib.sha256("\n".join(files).encode("utf-8")).hexdigest()[:16] if files else None


def check_not_repeated(spark: SparkSession, base: BaseModel, digest: str | None, output: str | None) -> None:
    """Refuse to continue ``base`` into its own path on the files its newest version was trained on:
    the likely case is a rerun after a crash that came once that version was published."""
    if digest is None or output is None or base.location is None:
        return
    done = base.metadata.get("continued_from") or {}
    root = layout.root_of(base.location)   # None: a single version, no path to publish into again
    if root is not None and done.get("input_digest") == digest and layout.same_path(spark, root, output):
        raise InputError(
            f"version {base.metadata.get('version')} of {output} was already trained on these input files "
            f"(published {base.metadata.get('written_at')}, continuing version {done.get('version')}); running again "
            "would train them twice. To train on them again, write to another --output")


def check_continues_newest(spark: SparkSession, from_model: str, output: str | None) -> None:
    """Refuse, before any training, to continue a version of ``output`` older than its newest into
    it: publishing would find the newer version and refuse the result after the whole run."""
    if output is None:
        return
    location = vector_table.resolve(spark, from_model)
    root = layout.root_of(location)
    versions = layout.published_versions(spark, output)
    if root is None or not layout.same_path(spark, root, output):
        if versions:
            log.warning("%s holds versions up to %d, and this run continues another model (%s): its new "
                        "version is built on that model, not on version %d", output, versions[-1], location,
                        versions[-1])
        return
    version = int(location.rsplit("/", 1)[1])
    if versions and versions[-1] != version:
        raise InputError(f"--from-model {from_model} is version {version} of {output}, whose newest is version "
                         f"{versions[-1]}: the result could not be published there without hiding version "
                         f"{versions[-1]}; continue the newest (--from-model {output}), or write to another --output")


def continue_config(base: BaseModel, cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with the model's dimension (and a warning where tokenization differs)."""
    if len(base.vocab) and cfg.vector_size != base.vector_size:
        # A warning only for a size other than the default, which a user who gave none has.
        level = logging.INFO if cfg.vector_size == TrainConfig().vector_size else logging.WARNING
        log.log(level, "continuing a %d-dimensional model: its %d dimensions are kept (vector_size=%d does not "
                "apply)", base.vector_size, base.vector_size, cfg.vector_size)
        cfg = cfg.replace(vector_size=base.vector_size)
    stored = base.metadata.get("parameters", {})
    for name in TOKENIZER_FIELDS:
        if name in stored and stored[name] != getattr(cfg, name):
            log.warning("the model was trained with %s=%r, this run uses %r: its words may not match",
                        name, stored[name], getattr(cfg, name))
    changed = [f"{name}={stored[name]!r} (now {getattr(cfg, name)!r})" for name in OBJECTIVE_FIELDS
               if len(base.vocab) and name in stored and stored[name] != getattr(cfg, name)]
    if changed:
        log.warning("the model was trained with %s: this run trains it on another objective, and the new "
                    "version's metadata records only this run's settings", ", ".join(changed))
    if cfg.max_vocab_size is not None and cfg.max_vocab_size <= len(base.vocab):
        log.warning("max_vocab_size=%d and the model holds %d words already: no new word can enter "
                    "(words never leave a continued model)", cfg.max_vocab_size, len(base.vocab))
    return cfg


def continue_training(spark: SparkSession, base: BaseModel, corpus: CorpusInput, cfg: TrainConfig,
                      round_key: int | None = None, label: str = "continue") -> Continued:
    """Add ``corpus``'s counts to ``base``, grow the vocabulary and train on ``corpus``.

    ``round_key`` (a stream's batch id; default: the base's version number) varies the
    new rows' initialisation and the shards' random streams from one continuation to
    the next. ``label`` starts the Spark job descriptions. ``base`` is not modified.
    """
    started = time.perf_counter()
    cfg = continue_config(base, cfg)
    if round_key is None:
        round_key = int(base.metadata.get("version", 0))
    with corpus.tokens_kept():  # counting and encoding read the new text once
        describe_job(spark, f"{label}: count new words")
        counts, base_vocab_bc = merge_counts(spark, base, count_words(spark, corpus, cfg))
        counts = counts.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with reading_input(cfg.input or "the new text"):
                totals_row = counts.agg(F.sum("count"), F.count(F.lit(1)), F.sum("batch_count")).first()
            corpus_words, distinct, batch_words = (int(v or 0) for v in totals_row)
            # Old words' counts only grew, so this threshold finds them all and every new candidate.
            floor = min([cfg.min_count, *([int(base.vocab.counts.min())] if len(base.vocab) else [])])
            rows = counts.where(F.col("count") >= floor).select("word", "count", "batch_count").collect()
            nulls = null_rows(corpus, cfg)
            counted = time.perf_counter()
            warn_null_rows(nulls, cfg)
            totals = {r[0]: int(r[1]) for r in rows}
            batch_counts = {r[0]: int(r[2]) for r in rows}
            vocab = grow_vocabulary(base.vocab, totals, cfg.min_count, cfg.max_vocab_size, corpus_words, distinct)
            known = set(base.vocab.words)
            new_words = [w for w in vocab.words if w not in known]
            w_in, w_out = remap_weights(base, vocab, cfg.seed, round_key)
            log.info("vocabulary: %d words (%d new); %d new tokens, %d in all, %d distinct", len(vocab),
                     len(new_words), batch_words, corpus_words, distinct)
            # Nothing trained yet (a stream's first batch): word2vec's own schedule from the full alpha.
            alpha = start_alpha(cfg) if len(base.vocab) else cfg.effective_alpha
            run_cfg = cfg.replace(alpha=alpha, min_alpha=min(cfg.min_alpha, alpha),
                                  seed=int(np.random.SeedSequence([cfg.seed, round_key]).generate_state(1)[0] >> 1))
            trained = [w for w in vocab.words if batch_counts.get(w, 0) > 0]   # the new text's kept words
            check_decoded(Vocabulary(tuple(trained), np.array([batch_counts[w] for w in trained], np.int64)), cfg)
            result = _train(spark, corpus, vocab, batch_counts, w_in, w_out, run_cfg, label)
        except BaseException:
            with cleaning_up("release the running counts"):
                _release_counts(counts, base_vocab_bc)
            raise
    result.config = cfg
    result.info.update(count_seconds=counted - started, total_seconds=time.perf_counter() - started, null_rows=nulls)
    version = base.metadata.get("version")
    return Continued(result, counts, base.location, int(version) if version is not None else None, new_words,
                     batch_words, input_digest(corpus), stream_progress(base.metadata), base_vocab_bc,
                     counts_from_base=base.counts is not None)


def _release_counts(counts: DataFrame, base_vocab_bc: Broadcast | None) -> None:
    counts.unpersist()
    if base_vocab_bc is not None:
        base_vocab_bc.unpersist()


def _train(spark: SparkSession, corpus: CorpusInput, vocab: Vocabulary, batch_counts: dict[str, int],
           w_in: np.ndarray, w_out: np.ndarray, run_cfg: TrainConfig, label: str) -> TrainResult:
    """Encode and train the new text; ``vocab`` (total counts) drives the sampling tables."""
    # Encoding sizes its records from the vocabulary's total count; the new text's own
    # counts give records that reach every shard however large the model already is.
    batch_view = Vocabulary(vocab.words, np.fromiter((batch_counts.get(w, 0) for w in vocab.words),
                                                     dtype=np.int64, count=len(vocab)))
    if len(vocab) == 0 or batch_view.total_count == 0:
        log.info("no vocabulary word in the new text: nothing to train")
        return TrainResult(run_cfg, vocab, w_in, w_out, [], {"train_seconds": 0.0, "train_words": 0,
                                                            "num_partitions": 0, "shard_words": [],
                                                            "words_per_second": 0.0, "alpha_scale": 1.0,
                                                            "input_tokens": corpus.pretokenized})
    num_shards, chains = shard_layout(run_cfg, spark.sparkContext, len(vocab))
    describe_job(spark, f"{label}: encode new text")
    encoded = encode_corpus(corpus, batch_view, run_cfg, num_shards, chains)
    try:
        result = train_encoded(spark, encoded, vocab, run_cfg, weights=(w_in, w_out))
        result.info["input_tokens"] = corpus.pretokenized
        return result
    finally:
        encoded.unpersist()
        describe_job(spark, None)


# -- publishing --------------------------------------------------------------------------------

def publish(spark: SparkSession, path: str, continued: Continued, w_in: np.ndarray, w_out: np.ndarray,
            metadata: dict, overwrite: bool, keep_versions: int,
            expect: publishing.Expected | None = None) -> publishing.Published:
    """Publish the continued model as the next version of ``path``, with its ``counts/`` table.

    Publishing needs ``expect`` (default: the base's version, when the base is a version of
    ``path``) to hold; else nothing is published and
    :class:`~sparkw2v.errors.ConcurrentPublishError` names the newer version (see
    :func:`~sparkw2v.publishing.write_model`).
    """
    if expect is None:
        expect = continued.expected(spark, path)
    base = continued.base_location
    recomputed = continued.counts_from_base and not continued.counts.is_cached  # read again from the base
    if recomputed and base is not None and not filesystem.HadoopFS(spark, base).exists(base):
        raise _base_deleted(base)
    try:
        return publishing.publish_with_counts(spark, path, continued.result.vocab, w_in, w_out,
                                   {**metadata, **continued.metadata()}, continued.counts, overwrite, keep_versions,
                                   expect)
    except Exception as exc:   # the base pruned while the counts were being read from it
        if base is None or filesystem.HadoopFS(spark, base).exists(base) or not (
                "FILE_NOT_EXIST" in str(exc) or "FileNotFoundException" in str(exc)):
            raise
        raise _base_deleted(base) from None


def _base_deleted(base: str) -> "BaseDeletedError":
    # The running counts are recomputed from the base version's counts table when saved again.
    return BaseDeletedError(f"cannot save: this continued model's word counts are read from the version it "
                            f"continued, {base}, which was deleted since (keep_versions keeps only the newest "
                            "versions); save a continued model before its base is pruned, or continue again "
                            "from the newest version")


