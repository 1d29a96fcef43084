"""Streaming training: follow a landing folder and publish a new model version per batch.

``sparkw2v stream`` reads ``--source`` with a Structured Streaming file source and, in
``foreachBatch``, runs :func:`sparkw2v.continuation.continue_training` on each batch of
new files, then :func:`sparkw2v.continuation.publish` adds the result as the next
version of ``--output``. The first batch continues ``--from-model`` (or starts from an
empty model); every later batch continues the newest version of ``--output``.

Exactly once. Structured Streaming writes a batch's files to ``CHECKPOINT/offsets/N``
before running it and ``CHECKPOINT/commits/N`` after ``foreachBatch`` returns; after a
crash it replays an uncommitted batch with the same files. Each published version
records the stream's id (from ``CHECKPOINT/metadata``) and ``stream_batch_id``. A
batch whose id is not above the newest version's ``stream_batch_id`` of the same
stream was published before the crash, and is skipped. So a batch is trained once
whether the crash came before publishing (replayed, trained), between publishing and
the commit (replayed, skipped) or after the commit (not replayed).

Sources: ``text`` files are lines; ``parquet``/``orc`` take their schema from the files
already there (or, if none yet, just the text column); ``json`` reads just the text
column; ``csv`` needs a header and at least one file to read the column names from.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import continuation, filesystem, layout, publishing, vector_table
from .config import ConfigError, StreamConfig, TrainConfig, parse_duration
from .corpus import SNIFFED_FILES, CorpusInput, InputError, check_text_files, reader_defaults, select_column
from .errors import ConcurrentPublishError, UserError
from .session import describe_job

log = logging.getLogger("sparkw2v")

#: Times a batch is trained again when another writer published while it trained.
PUBLISH_ATTEMPTS = 3
#: Keys a streamed version's metadata.json gets (and continuation.STREAMS, the batches it holds).
BATCH_KEY, STREAM_KEY = continuation.BATCH_KEY, continuation.STREAM_KEY


class StreamError(UserError, ValueError):
    """The stream cannot start or a batch cannot be trained; the message says why."""


# -- the source --------------------------------------------------------------------------------

def open_source(spark: SparkSession, cfg: TrainConfig, options: StreamConfig) -> CorpusInput:
    """The streaming DataFrame of ``options.source`` reduced to its text (or tokens) column."""
    source = options.source
    fs = filesystem.HadoopFS(spark, source)
    if not any(ch in source for ch in "*?[{") and not fs.exists(source):
        raise StreamError(f"--source {source} does not exist: create the landing folder first")
    reader = spark.readStream.format(options.format)
    if options.max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", options.max_files_per_trigger)
    reader = reader.options(**reader_defaults(options.format))
    reader = reader.options(**dict(options.source_options))
    if options.format == "text":
        frame = reader.load(source)
        return CorpusInput(frame.select(frame.columns[0]), pretokenized=False)
    frame = reader.schema(_source_schema(spark, cfg, options)).load(source)
    return select_column(frame, cfg)


def _source_schema(spark: SparkSession, cfg: TrainConfig, options: StreamConfig) -> T.StructType:
    """A file stream needs its schema up front: from the files there, or just the text column."""
    name = cfg.input_column
    column = T.StructType([T.StructField(name, T.ArrayType(T.StringType()) if cfg.tokens_column
                                         else T.StringType())])
    if options.format == "json":  # inferring would read every file; the one column is enough
        return column
    try:
        # CSV: column names from the header, every column a string.
        reader = spark.read.format(options.format).options(**reader_defaults(options.format))
        return reader.options(**dict(options.source_options)).load(options.source).schema
    except Exception as exc:  # AnalysisException: no files to infer from (or unreadable)
        if options.format == "csv":
            raise StreamError(f"cannot read the column names of the csv source {options.source}: "
                              f"{str(exc).strip().splitlines()[0]}. A csv stream needs one file with a "
                              "header in the folder before it starts") from None
        return column


def _trigger(options: StreamConfig) -> dict:
    if options.available_now:
        return {"availableNow": True}
    if options.trigger_interval is not None:
        return {"processingTime": f"{parse_duration(options.trigger_interval):g} seconds"}
    return {}


# -- one batch ---------------------------------------------------------------------------------

@dataclass
class BatchTrainer:
    """The ``foreachBatch`` function: continue the newest version on the batch and publish.

    It keeps the model it published last in memory, so the next batch does not read it
    back unless another writer published a newer version in between.
    """

    spark: SparkSession
    cfg: TrainConfig
    options: StreamConfig
    pretokenized: bool = False
    batches: list[dict] = field(default_factory=list)
    error: BaseException | None = None
    #: Set just before the query is stopped (interrupted, timed out): a batch cut short by it fails
    #: with a short message. Spark's stream thread matches the failure's text against a pattern that
    #: recurses once per character, and a full traceback (~20 KB) overflows its stack, which the JVM
    #: then prints in a thousand lines.
    stopping: bool = False
    _stream_id: str | None = None
    _last: continuation.BaseModel | None = None

    def __call__(self, frame: DataFrame, batch_id: int) -> None:
        try:
            for attempt in range(1, PUBLISH_ATTEMPTS + 1):
                try:
                    self._run(frame, int(batch_id))
                    return
                except ConcurrentPublishError as exc:  # another writer published: continue its version
                    if attempt == PUBLISH_ATTEMPTS:
                        raise
                    log.warning("batch %d: %s; training the batch again on the newer version", batch_id,
                                str(exc).split("; ")[0])
        except BaseException as exc:
            self.error = exc
            if self.stopping:
                raise StreamError(f"stream batch {batch_id} was cut short by the stream's stop") from None
            raise

    def stream_id(self) -> str:
        """The query's id from ``CHECKPOINT/metadata``: stays the same across restarts."""
        if self._stream_id is None:
            path = f"{self.options.checkpoint.rstrip('/')}/metadata"
            self._stream_id = json.loads(filesystem.HadoopFS(self.spark, path).read_text(path))["id"]
        return self._stream_id

    def _run(self, frame: DataFrame, batch_id: int) -> None:
        started = time.perf_counter()
        label = f"stream batch {batch_id}"
        describe_job(self.spark, label)
        output = self.cfg.output
        newest = _newest_version(self.spark, output)
        # Publish only while the version this batch continues is the newest (none: no version yet).
        expect = publishing.Expected(0)
        if newest is not None:
            meta = vector_table.read_metadata(self.spark, newest)
            expect = publishing.Expected(int(meta.get("version", 0)), publishing.CONTINUED, meta.get("publish_id"))
            # Whichever writer published the newest version, its model holds the batches it records.
            done = continuation.stream_progress(meta).get(self.stream_id(), -1) >= batch_id
            if done:
                log.info("batch %d: already held by version %s, the newest (replayed after a restart); skipped",
                         batch_id, meta.get("version"))
                self.batches.append({"batch_id": batch_id, "skipped": True, "version": None})
                return
        base = self._base(newest)
        loaded = time.perf_counter()
        # The batch is cached with each line's file (a micro-batch's DataFrame cannot list its files).
        batch = frame.withColumn(FILE_COLUMN, F.input_file_name()).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            files = sorted(row[0] for row in batch.select(FILE_COLUMN).distinct().collect() if row[0])
            if self.options.format == "text" and len(files) <= SNIFFED_FILES:
                check_text_files(filesystem.HadoopFS(self.spark, self.options.source), files, label)
            corpus = CorpusInput(batch.select(*frame.columns), self.pretokenized)
            try:
                continued = continuation.continue_training(self.spark, base, corpus, self.cfg, round_key=batch_id,
                                                           label=label)
            except InputError as exc:  # say which files: a stream's input is whatever landed
                shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
                raise StreamError(f"{label} ({shown}): {exc}") from None
        finally:
            batch.unpersist()
        try:
            summary = {"batch_id": batch_id, "words": continued.batch_words,
                       "new_words": len(continued.new_words), "vocab_size": len(continued.result.vocab),
                       "version": None, "location": None}
            if continued.batch_words == 0:
                log.warning("batch %d: no words (%s); nothing published", batch_id,
                            f"in {', '.join(files[:5])}" if files else
                            "no lines: its files were empty, or were moved or deleted before it read them")
                self.batches.append(summary)
                return
            result = continued.result
            metadata = {**result.metadata(), BATCH_KEY: batch_id,
                        STREAM_KEY: {"id": self.stream_id(), "batch_id": batch_id, "source": self.options.source,
                                     "format": self.options.format, "checkpoint": self.options.checkpoint}}
            trained = time.perf_counter()
            continued.streams = {**continued.streams, self.stream_id(): batch_id}
            published = continuation.publish(self.spark, output, continued, result.w_in, result.w_out, metadata,
                                             overwrite=True, keep_versions=self.cfg.keep_versions, expect=expect)
        finally:
            continued.release()
            describe_job(self.spark, None)
        location, meta = published.location, published.metadata
        self._last = continuation.BaseModel(result.vocab, result.w_in, result.w_out, meta, location,
                                            filesystem.literal_reader(self.spark).parquet(
                                                f"{location}/{layout.COUNTS}"))
        seconds = time.perf_counter() - started
        summary.update(version=meta["version"], location=location, seconds=seconds,
                       load_seconds=loaded - started, count_seconds=result.info["count_seconds"],
                       train_seconds=result.info.get("train_seconds", 0.0),
                       publish_seconds=time.perf_counter() - trained)
        self.batches.append(summary)
        log.info("batch %d: %d words, %d new words (vocabulary %d), %.1fs, published version %d",
                 batch_id, summary["words"], summary["new_words"], summary["vocab_size"], seconds, meta["version"])

    def _base(self, newest: str | None) -> continuation.BaseModel:
        """The newest version of the output; before any, ``--from-model`` or an empty model."""
        if newest is not None:
            last = self._last
            if last is not None and layout.same_path(self.spark, newest, last.location):
                return last
            return continuation.load_base(self.spark, newest)
        if self.cfg.from_model:
            return continuation.load_base(self.spark, self.cfg.from_model)
        return continuation.empty_base(self.cfg.vector_size)


def _newest_version(spark: SparkSession, path: str) -> str | None:
    """The newest complete version (not LATEST, which a crash may have left one behind)."""
    versions = layout.published_versions(spark, path)
    return layout.version_path(path, versions[-1]) if versions else None


# -- the query ---------------------------------------------------------------------------------

def run_stream(spark: SparkSession, cfg: TrainConfig, options: StreamConfig,
               timeout: float | None = None) -> list[dict]:
    """Run the stream until it stops (``available_now``), fails, is interrupted or ``timeout`` passes.

    Returns one summary per batch run in this call (batch_id, words, new_words,
    vocab_size, version, location; seconds in all and for loading the base, counting,
    training and publishing; ``skipped`` for a replayed batch).
    """
    cfg = cfg.validate(require_io=False)
    options = options.validate()
    if not cfg.output:
        raise ConfigError("give --output PATH: the model the stream publishes versions of")
    if cfg.tokens_column and options.format == "text":
        raise ConfigError("--tokens-column needs a parquet, orc or json source (text files are lines)")
    publishing.check_output(spark, cfg.output, overwrite=True)  # refuses a directory that is no model
    publishing.check_outside_input(spark, cfg.output, options.source, stream=True)  # the two must not overlap
    publishing.check_stream_checkpoint(spark, options.checkpoint, options.source, cfg.output)
    if cfg.from_model:
        if layout.published_versions(spark, cfg.output):
            log.info("%s has published versions: continuing its newest, not --from-model %s", cfg.output,
                     cfg.from_model)
        else:
            continuation.check_base(spark, cfg.from_model)  # fail now on a model that cannot be continued
    _warn_unmatched_checkpoint(spark, cfg.output, options.checkpoint)
    corpus = open_source(spark, cfg, options)
    trainer = BatchTrainer(spark, cfg, options, corpus.pretokenized)
    writer = corpus.frame.writeStream.foreachBatch(trainer).option("checkpointLocation", options.checkpoint)
    trigger = _trigger(options)
    if trigger:
        writer = writer.trigger(**trigger)
    with _batch_errors_quiet(spark):
        query = writer.start()
        log.info("streaming %s (%s) into %s, checkpoint %s%s", options.source, options.format, cfg.output,
                 options.checkpoint, ", until caught up" if options.available_now else "")
        try:
            query.awaitTermination(timeout)
        except KeyboardInterrupt:
            _stop(query, trainer)
            raise
        except Exception as exc:
            from .errors import user_message
            if trainer.error is not None and user_message(trainer.error) is not None:
                raise trainer.error from None  # one line for the user, not a StreamingQueryException
            if CONCURRENT_LOG_UPDATE in str(exc):
                raise StreamError(f"another stream is running on --checkpoint {options.checkpoint} (Spark found "
                                  "a second writer of its log): run one stream per checkpoint. Batches stay "
                                  "trained exactly once; this one stopped") from None
            raise
        finally:
            if query.isActive:
                _stop(query, trainer)
    return trainer.batches


def _warn_unmatched_checkpoint(spark: SparkSession, output: str, checkpoint: str) -> None:
    """Say when ``checkpoint`` and ``output`` do not look like one stream's: a checkpoint that
    committed batches the output holds none of (it fed another output: the files it read are never
    trained here), or a new checkpoint on an output other streams fed (every file of the source is
    read again, and trained twice if one of them read the same source). Both can be meant (empty
    batches publish nothing; two sources feed one output), so they are warnings."""
    root = checkpoint.rstrip("/")
    fs = filesystem.HadoopFS(spark, root)
    stream_id = json.loads(fs.read_text(f"{root}/metadata"))["id"] if fs.exists(f"{root}/metadata") else None
    committed = [int(n) for n in fs.list_names(f"{root}/commits") if n.isdigit()] \
        if fs.exists(f"{root}/commits") else []
    newest = _newest_version(spark, output)
    held = continuation.stream_progress(vector_table.read_metadata(spark, newest)) if newest else {}
    if committed and stream_id not in held:
        log.warning("--checkpoint %s has committed %d batches of its stream, but %s holds none of them: if "
                    "that checkpoint fed another output, the files it read are not trained here (give each "
                    "output its own --checkpoint)", checkpoint, len(committed), output)
    elif not committed and held:
        log.warning("%s holds batches of %d other stream(s), and --checkpoint %s is new: every file in the "
                    "source is read again, and trained twice if one of those streams read the same source "
                    "(restart that stream with its own --checkpoint)", output, len(held), checkpoint)


def _stop(query, trainer: BatchTrainer) -> None:
    """Stop the query; a batch it cuts short fails in one short line (:attr:`BatchTrainer.stopping`)."""
    trainer.stopping = True
    query.stop()


#: The column a batch is cached with: each line's file.
FILE_COLUMN = "_sparkw2v_file"
#: Spark's error class when two queries write one checkpoint's log.
CONCURRENT_LOG_UPDATE = "CONCURRENT_STREAM_LOG_UPDATE"
#: Loggers that report a failed batch with a traceback before :func:`run_stream` says it in one line.
_PY4J_CALLBACK_LOGGER = "py4j.clientserver"
_SPARK_STREAMING_LOGGER = "org.apache.spark.sql.execution.streaming"


@contextmanager
def _batch_errors_quiet(spark: SparkSession) -> Iterator[None]:
    """While the query runs, keep Py4J's callback server and Spark's stream execution from
    logging a failed batch's traceback: :func:`run_stream` reports the error itself (one line,
    or the traceback with ``--verbose``, where nothing is silenced)."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    py4j = logging.getLogger(_PY4J_CALLBACK_LOGGER)
    level = py4j.level
    py4j.setLevel(logging.CRITICAL)
    jvm = spark.sparkContext._jvm
    configurator, jvm_level = jvm.org.apache.logging.log4j.core.config.Configurator, None
    try:
        jvm_level = jvm.org.apache.logging.log4j.LogManager.getLogger(_SPARK_STREAMING_LOGGER).getLevel()
        configurator.setLevel(_SPARK_STREAMING_LOGGER, jvm.org.apache.logging.log4j.Level.OFF)
    except Exception:  # another logging backend: its lines stay
        configurator = None
    try:
        yield
    finally:
        py4j.setLevel(level)
        if configurator is not None:
            try:
                configurator.setLevel(_SPARK_STREAMING_LOGGER, jvm_level)
            except Exception:  # the JVM is gone (interrupted)
                pass
