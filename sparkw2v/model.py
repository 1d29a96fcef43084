"""The public Python API: ``Word2Vec`` (estimator) and ``Word2VecModel`` (trained model).

Names follow pyspark.ml (``fit``, ``getVectors``, ``save``/``load``) and gensim
(``vector_size``, ``min_count``, ``most_similar``, ``similarity``, ``wv``). The
classes are thin: training is :func:`sparkw2v.training.fit`, storage is
:mod:`sparkw2v.vector_table`, queries are :class:`sparkw2v.vectors.WordVectors`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from . import training, vector_table
from .config import TrainConfig
from .corpus import read_input, select_column
from .vectors import WordVectors


class Word2Vec:
    """Train word2vec on a Spark DataFrame or on files.

    Example (runs as written with the bundled corpus)::

        from sparkw2v import Word2Vec
        from sparkw2v.session import get_session

        spark = get_session()
        df = spark.read.text("sparkw2v/data/brown.txt.gz")   # column "value"
        model = Word2Vec(vector_size=50, epochs=1, text_column="value").fit(df)
        print(model.most_similar("money", topn=3))
        model.save("/tmp/brown-model", overwrite=True)
    """

    def __init__(self, config: TrainConfig | None = None, **params: Any):
        self.config = (config or TrainConfig()).replace(**params)
        self.config.validate(require_io=False)

    def fit(self, dataset: DataFrame) -> "Word2VecModel":
        """Train on ``dataset``'s ``text_column`` (string) or ``tokens_column`` (array<string>)."""
        corpus = select_column(dataset, self.config)
        return Word2VecModel(training.fit(dataset.sparkSession, corpus, self.config))

    def fit_input(self, spark: SparkSession) -> "Word2VecModel":
        """Train on the configured ``input`` path or ``input_table``."""
        self.config.validate(require_io=False)
        corpus = read_input(spark, self.config)
        return Word2VecModel(training.fit(spark, corpus, self.config))


class Word2VecModel:
    """Trained vectors: query them on the driver, or save them as a Parquet vector table."""

    def __init__(self, result: training.TrainResult | None = None, *, loaded: vector_table.LoadedModel | None = None):
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
        """The vectors as a DataFrame (``word``, ``vector``), like pyspark.ml's Word2VecModel."""
        import pyarrow as pa
        spark = spark or SparkSession.getActiveSession()
        table = pa.table({"word": pa.array(self.wv.words, type=pa.string()),
                          "vector": vector_table.vector_column(self._w_in)})
        return spark.createDataFrame(table)

    def training_metadata(self) -> dict:
        """What metadata.json records: parameters, corpus sizes, history, timings."""
        if self.result is None:
            return dict(self.metadata)
        r = self.result
        return {"parameters": r.config.to_dict(), "corpus_words": r.vocab.corpus_words,
                "distinct_words": r.vocab.distinct_words, "train_words": r.info.get("train_words"),
                "history": r.history, "timings": {k: v for k, v in r.info.items() if k.endswith("seconds")},
                "words_per_second": r.info.get("words_per_second"),
                "num_partitions": r.info.get("num_partitions"), "shard_words": r.info.get("shard_words")}

    def save(self, path: str, overwrite: bool = False, spark: SparkSession | None = None) -> str:
        """Write the model directory (see :mod:`sparkw2v.vector_table`); returns its full path."""
        spark = spark or SparkSession.getActiveSession()
        w_out = self._w_out if self._w_out is not None else np.zeros_like(self._w_in)
        return vector_table.write_model(spark, path, self.vocab, self._w_in, w_out,
                                        self.training_metadata(), overwrite=overwrite)

    @classmethod
    def load(cls, path: str, spark: SparkSession | None = None) -> "Word2VecModel":
        """Read a model directory written by :meth:`save` or ``sparkw2v train``."""
        from .session import get_session
        spark = spark or get_session()
        return cls(loaded=vector_table.read_model(spark, path))
