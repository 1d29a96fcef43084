"""The public Python API: ``Word2Vec`` (a pyspark.ml Estimator) and ``Word2VecModel``.

Names follow pyspark.ml (``fit``, ``transform``, ``getVectors``, ``save``/``load``)
and gensim (``vector_size``, ``min_count``, ``most_similar``, ``similarity``,
``wv``). The classes are thin: every :class:`~sparkw2v.config.TrainConfig` field
is a Param of the same name, training is :func:`sparkw2v.training.fit`, storage
is :mod:`sparkw2v.vector_table`, queries are :class:`sparkw2v.vectors.WordVectors`
and ``transform`` runs :func:`sparkw2v.executor.mean_vectors` on the executors.
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from . import executor, training, vector_table
from .checkpoint import Checkpoints
from .config import ConfigError, TrainConfig
from .corpus import InputError, read_input, select_column
from .tokenizer import TokenizerSpec
from .vectors import WordVectors


#: Metadata keys that describe one published version, not the training: a loaded model
#: that is saved again does not copy them.
PER_VERSION_KEYS = frozenset({
    "format_version", "version", "written_at", "versions", "vocab_size", "vector_size", "counts_table",
    "stream", "stream_batch_id", "continued_from", "batch_words", "new_words", "new_words_sample"})


class Word2Vec(Estimator):
    """Train word2vec on a Spark DataFrame (``fit``) or on files and tables (``fit_input``).

    Every setting of :class:`~sparkw2v.config.TrainConfig` is a Param of the same
    name, so the estimator works in a ``pyspark.ml.Pipeline`` and with
    ``fit(df, {w2v.vector_size: 50})``. Example (runs as written from the repository)::

        from sparkw2v import Word2Vec
        from sparkw2v.session import get_session

        spark = get_session()
        df = spark.read.text("sparkw2v/data/brown.txt.gz")   # column "value"
        model = Word2Vec(vector_size=50, epochs=1, text_column="value").fit(df)
        print(model.most_similar("money", topn=3))
        model.transform(df).select("vector").show(2)         # mean vector of each line
        model.save("/tmp/brown-model", overwrite=True)
    """

    def __init__(self, config: TrainConfig | None = None, **params: Any):
        super().__init__()
        self._setDefault(**TrainConfig().to_dict())
        self.setParams(config, **params)

    def setParams(self, config: TrainConfig | None = None, **params: Any) -> "Word2Vec":
        """Set parameters from a config and/or keyword arguments (validated at once)."""
        unknown = sorted(set(params) - set(TrainConfig.field_names()))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; known parameters are: "
                              f"{', '.join(TrainConfig.field_names())}")
        cfg = (config or self.config).replace(**params).validate(require_io=False)
        self._set(**cfg.to_dict())
        return self

    @property
    def config(self) -> TrainConfig:
        """The parameters as one :class:`TrainConfig` (what training actually reads)."""
        return TrainConfig(**{name: self.getOrDefault(name) for name in TrainConfig.field_names()})

    def _fit(self, dataset: DataFrame) -> "Word2VecModel":
        cfg = self.config.validate(require_io=False)
        corpus = select_column(dataset, cfg)
        if cfg.from_model:
            return _continue(dataset.sparkSession, corpus, cfg)
        return Word2VecModel(training.fit(dataset.sparkSession, corpus, cfg))

    def fit_input(self, spark: SparkSession) -> "Word2VecModel":
        """Train on the configured ``input`` path or ``input_table``.

        With ``output`` set, every epoch is checkpointed under ``OUTPUT/_staging``
        (``resume=True`` continues from there), and :meth:`Word2VecModel.save` to
        that output removes the checkpoint unless ``keep_checkpoints``. Every word's
        count stays cached on the executors until :meth:`Word2VecModel.save` writes it.
        """
        cfg = self.config.validate(require_io=False)
        if cfg.from_model:
            return _continue(spark, read_input(spark, cfg), cfg)
        checkpoints = Checkpoints(spark, cfg.output) if cfg.output else None
        model = Word2VecModel(training.fit(spark, read_input(spark, cfg), cfg, checkpoints=checkpoints,
                                           cache_counts=True))
        model._checkpoints = checkpoints
        return model


def _continue(spark: SparkSession, corpus, cfg: TrainConfig) -> "Word2VecModel":
    """``from_model`` set: continue that model on ``corpus`` (see :mod:`sparkw2v.continuation`)."""
    from . import continuation

    base = continuation.load_base(spark, cfg.from_model)
    continuation.check_not_repeated(spark, base, continuation.input_digest(corpus), cfg.output)
    continued = continuation.continue_training(spark, base, corpus, cfg)
    model = Word2VecModel(continued.result)
    model._continued = continued
    return model


for _field in dataclasses.fields(TrainConfig):
    setattr(Word2Vec, _field.name, Param(Params._dummy(), _field.name, _field.metadata["help"]))
del _field


class Word2VecModel(Model):
    """Trained vectors: query them on the driver, ``transform`` DataFrames, or save a vector table.

    ``transform`` adds ``outputCol`` (default ``vector``), the mean of the
    vectors of each row's in-vocabulary words as an ML ``DenseVector`` (zeros
    when there are none), as Spark MLlib's Word2VecModel does. ``inputCol``
    defaults to the training column; a string column is tokenized as in
    training, an ``array<string>`` column is used as it is.
    """

    inputCol = Param(Params._dummy(), "inputCol", "column of text (string) or tokens (array<string>)")
    outputCol = Param(Params._dummy(), "outputCol", "column for each row's mean word vector")

    def __init__(self, result: training.TrainResult | None = None, *,
                 loaded: vector_table.LoadedModel | None = None):
        super().__init__()
        if result is not None:
            self.result = result
            self.config = result.config
            self.vocab, self._w_in, self._w_out = result.vocab, result.w_in, result.w_out
            self.metadata: dict = {}
        elif loaded is not None:
            self.result = None
            self.config = TrainConfig.from_mapping(loaded.metadata.get("parameters", {}))
            self.vocab, self._w_in, self._w_out = loaded.vocab, loaded.w_in, loaded.w_out
            self.metadata = loaded.metadata
        else:
            raise ValueError("Word2VecModel needs a training result or a loaded model")
        self.wv = WordVectors(self.vocab.words, self._w_in, self.vocab.counts)
        self._payload = None
        self._checkpoints: Checkpoints | None = None
        self._source: str | None = None  # the version a loaded model was read from
        self._continued = None  # continuation.Continued of a from_model run: save() adds its counts
        self._setDefault(inputCol=self.config.tokens_column or self.config.text_column, outputCol="vector")

    # -- params ---------------------------------------------------------------------------
    def getInputCol(self) -> str:
        return self.getOrDefault(self.inputCol)

    def setInputCol(self, value: str) -> "Word2VecModel":
        return self._set(inputCol=value)

    def getOutputCol(self) -> str:
        return self.getOrDefault(self.outputCol)

    def setOutputCol(self, value: str) -> "Word2VecModel":
        return self._set(outputCol=value)

    # -- gensim-style queries ------------------------------------------------------------
    def most_similar(self, positive: str | Sequence[str] = (), negative: Sequence[str] = (),
                     topn: int = 10) -> list[tuple[str, float]]:
        return self.wv.most_similar(positive, negative, topn=topn)

    def similarity(self, a: str, b: str) -> float:
        return self.wv.similarity(a, b)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        return self.wv.analogy(a, b, c, topn=topn)

    # -- Spark ----------------------------------------------------------------------------
    def getVectors(self, spark: SparkSession | None = None) -> DataFrame:
        """The vectors as a DataFrame (``word``, ``vector`` array<float>), like MLlib's model."""
        spark = spark or SparkSession.getActiveSession()
        return spark.createDataFrame(self._vector_table())

    def _vector_table(self) -> pa.Table:
        return pa.table({"word": pa.array(self.wv.words, type=pa.string()),
                         "vector": vector_table.vector_column(self._w_in)})

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        column, output = self.getInputCol(), self.getOutputCol()
        fields = {f.name: f.dataType for f in dataset.schema.fields}
        if column not in fields:
            raise InputError(f"transform: no column {column!r} (columns: {', '.join(fields) or 'none'}); "
                             "choose one with setInputCol")
        dtype = fields[column]
        pretokenized = isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.StringType)
        if not pretokenized and not isinstance(dtype, T.StringType):
            raise InputError(f"transform: column {column!r} is {dtype.simpleString()}; it must be "
                             "string or array<string>")
        if output in fields:
            raise InputError(f"transform: output column {output!r} already exists; choose another "
                             "with setOutputCol")
        payload_bc, key = self._broadcast_vectors(dataset.sparkSession)
        task = executor.MeanVectorTask(column, output, pretokenized, TokenizerSpec.from_config(self.config),
                                       key)
        schema = T.StructType([*dataset.schema.fields, T.StructField(output, T.ArrayType(T.FloatType()))])
        means = dataset.mapInArrow(functools.partial(executor.mean_vectors, task=task, payload_bc=payload_bc),
                                   schema)
        return means.withColumn(output, array_to_vector(F.col(output)))

    def _broadcast_vectors(self, spark: SparkSession):
        """The vectors as one Arrow IPC buffer, broadcast once per model (not a pickled list)."""
        if self._payload is None:
            sink = pa.BufferOutputStream()
            table = self._vector_table()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            self._payload = (spark.sparkContext.broadcast(sink.getvalue().to_pybytes()), uuid.uuid4().hex)
        return self._payload

    def evaluate(self, similarity_path: str | None = None, analogy_path: str | None = None, *,
                 restrict_vocab: int | None = 300_000) -> dict:
        """Score the vectors (see :func:`sparkw2v.evaluation.evaluate`) and keep the scores in the
        model's metadata, so that :meth:`save` records them.

        >>> model.evaluate("wordsim353.tsv", "questions-words.txt")["wordsim_spearman"]  # doctest: +SKIP
        0.62
        """
        from .evaluation import evaluate

        scores = evaluate(self.wv, similarity_path=similarity_path, analogy_path=analogy_path,
                          restrict_vocab=restrict_vocab)
        self.metadata["evaluation"] = {**scores, "similarity_file": similarity_path,
                                       "analogy_file": analogy_path, "restrict_vocab": restrict_vocab}
        return scores

    def training_metadata(self) -> dict:
        """What metadata.json records: parameters, corpus sizes, history, timings, evaluation.

        A loaded model keeps what describes its training and drops what described the
        version it was read from (number, stream batch, continuation of that run).
        """
        if self.result is None:
            return {k: v for k, v in self.metadata.items() if k not in PER_VERSION_KEYS}
        r = self.result
        extra = {"evaluation": self.metadata["evaluation"]} if "evaluation" in self.metadata else {}
        return {**extra, "parameters": r.config.to_dict(), "corpus_words": r.vocab.corpus_words,
                "distinct_words": r.vocab.distinct_words, "train_words": r.info.get("train_words"),
                "history": r.history, "timings": {k: v for k, v in r.info.items() if k.endswith("seconds")},
                "words_per_second": r.info.get("words_per_second"),
                "num_partitions": r.info.get("num_partitions"), "shard_words": r.info.get("shard_words"),
                "concurrent_shards": r.info.get("concurrent_shards"),
                "negative_group": r.info.get("negative_group"), "negative_draws": r.info.get("negative_draws"),
                "resumed_after_epoch": r.info.get("resumed_after_epoch")}

    def save(self, path: str, overwrite: bool = False, spark: SparkSession | None = None) -> str:
        """Publish the model as a new version of ``path`` (see :mod:`sparkw2v.vector_table`).

        Returns the full path of the version written. ``overwrite`` allows adding
        a version to an existing model path. A freshly trained model (``save_counts``)
        also writes every word's count as ``counts/`` and then releases them, so a
        second ``save`` writes the vectors only.
        """
        spark = spark or SparkSession.getActiveSession()
        w_out = self._w_out if self._w_out is not None else np.zeros_like(self._w_in)
        if self._continued is not None:
            from .continuation import publish
            location = publish(spark, path, self._continued, self._w_in, w_out, self.training_metadata(),
                               overwrite=overwrite, keep_versions=self.config.keep_versions)
            self._continued.release()  # cached for this write; a later save recomputes them
            return location
        counts = self.result.counts if self.result is not None else None
        if counts is not None or self._source_counts(spark):  # so continuing can grow the vocabulary
            from .continuation import COUNTS, counts_frame, publish_with_counts
            if counts is None:
                vector_table.verify_tables(spark, self._source, self.metadata, (COUNTS,))
            frame = counts_frame(spark, counts) if counts is not None \
                else vector_table.literal_reader(spark).parquet(f"{self._source}/{COUNTS}")
            location = publish_with_counts(spark, path, self.vocab, self._w_in, w_out, self.training_metadata(),
                                           frame, overwrite=overwrite, keep_versions=self.config.keep_versions)
            if self.result is not None:
                self.result.release_counts()
        else:
            location = vector_table.write_model(spark, path, self.vocab, self._w_in, w_out,
                                                self.training_metadata(), overwrite=overwrite,
                                                keep_versions=self.config.keep_versions)
        cp = self._checkpoints
        if cp is not None and self.config.output and path.rstrip("/") == self.config.output.rstrip("/") \
                and not self.config.keep_checkpoints:
            cp.clear()
        return location

    def _source_counts(self, spark: SparkSession) -> bool:
        """Whether this model was loaded from a version that has a counts table."""
        from .continuation import COUNTS
        return self._source is not None and vector_table._FS(spark, self._source).exists(
            f"{self._source}/{COUNTS}/_SUCCESS")

    @classmethod
    def load(cls, path: str, spark: SparkSession | None = None) -> "Word2VecModel":
        """Read a model directory written by :meth:`save` or ``sparkw2v train`` (its newest version)."""
        from .session import get_session
        spark = spark or get_session()
        location = vector_table.resolve(spark, path)
        model = cls(loaded=vector_table.read_model(spark, location))
        model._source = location
        return model
