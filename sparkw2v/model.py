"""The public Python API: ``Word2Vec`` (a pyspark.ml Estimator) and ``Word2VecModel``.

Names follow pyspark.ml (``fit``, ``transform``, ``getVectors``, ``findSynonyms``,
``write().save``/``load``, and MLlib's parameter names such as ``vectorSize``) and
gensim (``vector_size``, ``min_count``, ``most_similar``, ``similarity``, ``wv``),
so ``from sparkw2v import Word2Vec`` replaces ``from pyspark.ml.feature import
Word2Vec``. The classes are thin: every :class:`~sparkw2v.config.TrainConfig`
field is a Param of the same name (MLlib's names are aliases of them,
:mod:`sparkw2v.ml_params`), training is :func:`sparkw2v.training.fit`, storage
is :mod:`sparkw2v.publishing` and :mod:`sparkw2v.vector_table`, queries are
:class:`sparkw2v.vectors.WordVectors` and ``transform`` runs
:func:`sparkw2v.executor.mean_vector_column` on the executors.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import numbers
import uuid
import warnings
import weakref
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
from pyspark import RDD, Broadcast, SparkContext
from pyspark.errors import AnalysisException
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params
from pyspark.ml.util import (DefaultParamsReadable, DefaultParamsReader, DefaultParamsWritable, DefaultParamsWriter,
                             MLReadable, MLReader, MLWritable, MLWriter)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from . import (counts_table, executor, filesystem, integrity, layout, ml_metadata, publishing, tables, training,
               vector_table)
from .checkpoint import Checkpoints
from .config import (MLLIB_ALIASES, ConfigError, ConfigTypeError, TrainConfig, convert_number, default_alpha,
                     unsigned_seed)
from .corpus import InputError, column_ref, read_input, select_column
from .interchange import MLLIB_MODEL, MLLIB_PIPELINE
from .ml_params import AliasedParams, add_getter, add_setter
from .session import require_classic, unpersist_unless_gone
from .tokenizer import TokenizerSpec
from .vectors import WordVectors

log = logging.getLogger("sparkw2v")

#: Metadata keys that describe one published version, not the training: a loaded model
#: that is saved again does not copy them.
PER_VERSION_KEYS = frozenset({
    "format_version", "version", "written_at", "versions", "vocab_size", "vector_size", "counts_table",
    "stream", "stream_batch_id", "continued_from", "batch_words", "new_words", "new_words_sample", "ml_params"})
#: The JVM class of Spark MLlib's estimator, as its saved metadata names it (its model's and a
#: pipeline's: :mod:`sparkw2v.interchange`, which imports them).
MLLIB_ESTIMATOR = "org.apache.spark.ml.feature.Word2Vec"
#: The class pyspark.ml's metadata names for a saved :class:`Word2VecModel`.
MODEL_CLASS = "sparkw2v.model.Word2VecModel"
#: The training settings a fitted model answers under MLlib's names (its Params and getters).
MODEL_ALIASES = {alias: name for alias, name in [*MLLIB_ALIASES.items(), ("seed", "seed")] if alias != "inputCol"}
#: What ``transform``'s mean divides a row's summed word vectors by (``averageOver``).
AVERAGE_OVER = {"known": "the row's in-vocabulary words (the default)",
                "all": "all of the row's tokens, unknown ones included, as Spark MLlib's Word2VecModel does"}


@dataclasses.dataclass(frozen=True)
class TransformParam:
    """A Param of how the model transforms, not of training: set on the estimator (MLlib's
    ``outputCol`` is one), copied to the fitted model, kept in both's saved Params."""

    default: str
    doc: str
    check: Callable[[str, Any], str]   # (param name, value) -> value, or ConfigError naming the param


def _average_over(param: str, value: Any) -> str:
    """``value`` if it is one of :data:`AVERAGE_OVER`; else :class:`ConfigError` naming ``param``."""
    if not isinstance(value, str) or value not in AVERAGE_OVER:
        raise ConfigError.invalid(param, value, f"must be one of {', '.join(map(repr, AVERAGE_OVER))}",
                                  wrong_type=not isinstance(value, str))
    return value


def _column_name(param: str, value: Any) -> str:
    """``value`` if it can name a column; else :class:`ConfigError` naming ``param``."""
    if not (isinstance(value, str) and value):
        raise ConfigError.invalid(param, value, "must be a column name", wrong_type=not isinstance(value, str))
    return value


#: The transform Params of both classes, by name.
TRANSFORM_PARAMS = {
    "outputCol": TransformParam("vector", "column transform writes each row's mean word vector to", _column_name),
    "averageOver": TransformParam(
        "known", "what transform divides the sum of a row's word vectors by: "
        + "; ".join(f"'{k}': {v}" for k, v in AVERAGE_OVER.items()), _average_over),
}
_TRANSFORM_DEFAULTS = {name: param.default for name, param in TRANSFORM_PARAMS.items()}


class Word2Vec(AliasedParams, Estimator, DefaultParamsReadable, DefaultParamsWritable):
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

    It also takes pyspark.ml.feature.Word2Vec's names, setters and getters, so
    MLlib code runs with only the import changed::

        from sparkw2v import Word2Vec                        # was: from pyspark.ml.feature import Word2Vec
        from sparkw2v.session import get_session

        spark = get_session()
        doc = spark.createDataFrame([("Hi I heard about Spark".split(" "),),
                                     ("I wish Java could use case classes".split(" "),)], ["text"])
        w2v = Word2Vec(vectorSize=3, minCount=0, inputCol="text", outputCol="result").setMaxIter(2)
        model = w2v.fit(doc)
        model.transform(doc).show()
        print(model.findSynonymsArray("Spark", 2), w2v.getVectorSize(), w2v.config.vector_size)
        w2v.write().overwrite().save("/tmp/w2v-estimator")  # Word2Vec.load reads it back

    MLlib's names are other names for TrainConfig fields (one value, set and read
    under either name; :data:`sparkw2v.config.MLLIB_ALIASES`): ``vectorSize`` =
    ``vector_size``, ``minCount`` = ``min_count``, ``windowSize`` = ``window``,
    ``maxIter`` = ``epochs``, ``stepSize`` = ``alpha``, ``numPartitions`` =
    ``num_partitions``, ``maxSentenceLength`` = ``max_sentence_length``, ``seed``,
    and ``inputCol`` = ``tokens_column`` (an array<string> column, as MLlib takes;
    a string column given there is tokenized as ``text_column`` is). ``outputCol``
    (default ``vector``) names the model's ``transform`` output, and ``averageOver``
    (``"known"``, or ``"all"`` for MLlib's rule) what its mean divides by. Unset parameters
    take sparkw2v's defaults, not MLlib's: 5 epochs (MLlib: ``maxIter`` 1), partitions
    = Spark's default parallelism (MLlib: 1), sentences cut at 10,000 words
    (MLlib: 1,000), learning rate 0.025 for skip-gram, seed 1 (also for ``seed=None``,
    MLlib's keyword default); ``vectorSize`` 100, ``minCount`` 5 and ``windowSize`` 5
    agree. Set ``maxIter=1, numPartitions=1`` to train as much as MLlib does by default.

    ``getStepSize()`` is the rate training uses (``alpha``, or its default for
    skip-gram or CBOW); ``getInputCol()`` the column ``fit`` reads (``tokens_column``,
    else ``text_column``); ``getNumPartitions()`` is None for Spark's default (the
    fitted model's is the number its run trained in). ``save``/``load`` and
    ``write()``/``read()`` use pyspark's DefaultParams format.
    """

    _aliases = MLLIB_ALIASES

    def __init__(self, config: TrainConfig | None = None, **params: Any):
        super().__init__()
        self._setDefault(**TrainConfig().persisted())
        self._setDefault(**_TRANSFORM_DEFAULTS)
        self.setParams(config, **params)

    def setParams(self, config: TrainConfig | None = None, **params: Any) -> "Word2Vec":
        """Set parameters from a config and/or keyword arguments, by TrainConfig or MLlib name.

        The values are validated together, before any is set. A ``config`` sets all
        of its fields; keyword arguments set only themselves.
        """
        if config is not None and not isinstance(config, TrainConfig):
            raise TypeError(f"Word2Vec takes keyword arguments (Word2Vec(vectorSize=100, ...)) or a TrainConfig, "
                            f"not {config!r}")
        known = [*TrainConfig.field_names(), *MLLIB_ALIASES, *TRANSFORM_PARAMS]
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise UnknownParameterError(f"unknown parameter(s) {', '.join(unknown)}; known parameters are: "
                                        f"{', '.join(known)}")
        params = self._without_derived(params)
        transform = {name: params.pop(name) for name in TRANSFORM_PARAMS if name in params}
        transform = {name: TRANSFORM_PARAMS[name].check(name, value) for name, value in transform.items()
                     if value is not None}   # None: keep the value (pyspark's keyword default)
        changes: dict[str, Any] = {}
        given: dict[str, str] = {}   # each field's name as the caller gave it
        for name, value in params.items():
            field = MLLIB_ALIASES.get(name, name)
            value = convert_number(field, value)
            if field == "seed" and value is None:  # MLlib's keyword default: the default seed
                value = TrainConfig.seed
            if field in changes and changes[field] != value:
                raise ConfigError(f"{name}={value!r} and {given[field]}={changes[field]!r} set the same parameter; "
                                  "give one of them")
            changes[field], given[field] = value, name
        try:
            cfg = (config or self.config).replace(**changes).validate(require_io=False)
        except ConfigError as exc:
            raise _named_as_given(exc, params) from None
        values = cfg.persisted()   # as pyspark's persistence gives them back, and explainParams prints them
        self._set(**(values if config is not None else {f: values[f] for f in changes}))
        self._set(**transform)
        return self

    def _without_derived(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` without a ``stepSize`` or ``inputCol`` that only restates what ``alpha=None``
        or ``tokens_column=None`` beside it leaves (the rate and the column :meth:`extractParamMap`
        derives from them), so ``Word2Vec(**{p.name: v for p, v in est.extractParamMap().items()})``
        rebuilds ``est``; any other pair of names given different values stays a conflict."""
        derived: dict[str, Any] = {}
        if "stepSize" in params and "alpha" in params and params["alpha"] is None:
            sg = convert_number("sg", params["sg"]) if "sg" in params else Params.getOrDefault(self, "sg")
            derived["stepSize"] = default_alpha(sg)
        if "inputCol" in params and "tokens_column" in params and params["tokens_column"] is None:
            derived["inputCol"] = params.get("text_column", Params.getOrDefault(self, "text_column"))
        return {name: value for name, value in params.items()
                if not (name in derived and convert_number(MLLIB_ALIASES[name], value) == derived[name])}

    def copy(self, extra: dict | None = None) -> "Word2Vec":
        """A copy with ``extra``'s values (this estimator's Params; others are ignored, as pyspark
        does), validated together as :meth:`setParams` does, so ``fit(df, {w.vectorSize: 0})``
        and grids name a bad value as they gave it."""
        if not isinstance(extra, dict):
            return super().copy(extra)
        own = {p: v for p, v in extra.items() if isinstance(p, Param) and p.parent == self.uid}
        that = super().copy({p: v for p, v in extra.items() if p not in own})
        values = {p.name: v for p, v in own.items()}
        # extractParamMap() gives each value under both names (a grid built on it adds one name):
        # of two names with different values, the one that equals this estimator's is no change.
        current = self.extractParamMap()
        for alias, field in MLLIB_ALIASES.items():
            if alias in values and field in values and values[alias] != values[field]:
                if values[alias] == current.get(self.getParam(alias)):
                    del values[alias]
                elif values[field] == current.get(self.getParam(field)):
                    del values[field]
        return that.setParams(**values) if values else that

    def _set(self, **kwargs: Any) -> "Word2Vec":
        # As pyspark.ml's type converters do: 10.0 or np.int64(10) for vectorSize, 1 for stepSize.
        return super()._set(**{k: convert_number(MLLIB_ALIASES.get(k, k), v) for k, v in kwargs.items()})

    def set(self, param: Param, value: Any) -> None:
        """Set one Param, validated as :meth:`setParams` validates (MLlib checks types here too)."""
        if isinstance(param, Param) and param.parent == self.uid:
            self.setParams(**{param.name: value})
            return
        super().set(param, convert_number(MLLIB_ALIASES.get(param.name, param.name), value))

    def extractParamMap(self, extra: dict | None = None) -> dict:
        """Every Param's value under both names (``vectorSize`` and ``vector_size``); ``inputCol``
        is the column ``fit`` reads, as :meth:`getInputCol` gives it."""
        values = super().extractParamMap(extra)
        for alias, name in MLLIB_ALIASES.items():
            if self.getParam(name) in values:
                values[self.getParam(alias)] = values[self.getParam(name)]
        values[self.inputCol] = values.get(self.getParam("tokens_column")) or values.get(self.getParam("text_column"))
        if values.get(self.stepSize) is None:  # the rate training uses, as getStepSize() gives it
            values[self.stepSize] = default_alpha(values.get(self.getParam("sg"), True))
        return values

    @classmethod
    def read(cls) -> DefaultParamsReader:
        """pyspark's DefaultParams reader; it also reads an estimator saved by Spark MLlib's Word2Vec."""
        return _EstimatorReader(cls)

    @property
    def config(self) -> TrainConfig:
        """The parameters as one :class:`TrainConfig` (what training actually reads)."""
        return TrainConfig(**{name: Params.getOrDefault(self, name) for name in TrainConfig.field_names()})

    def getOrDefault(self, param: str | Param) -> Any:
        """The Param's value or default; for ``stepSize``/``alpha`` left unset, the rate training
        uses (0.025 skip-gram, 0.05 CBOW), and for ``inputCol`` left unset the column ``fit`` reads
        (``text_column``), as :meth:`getStepSize`, :meth:`getInputCol` and :meth:`extractParamMap`
        give them."""
        value = super().getOrDefault(param)
        if value is None and self._resolveParam(param).name in ("stepSize", "alpha"):
            return default_alpha(super().getOrDefault("sg"))
        if value is None and (param if isinstance(param, str) else param.name) == "inputCol":
            return super().getOrDefault("text_column")
        return value

    def explainParam(self, param: str | Param) -> str:
        """pyspark's explanation; ``alpha``/``stepSize`` left unset shows the rate training uses."""
        text = super().explainParam(param)
        if self._resolveParam(param).name == "alpha" and not self.isSet("alpha"):
            sg = super().getOrDefault("sg")
            text = text.replace("(default: None)", f"(default: {self.getStepSize()} with sg={sg})")
        return text

    def getInputCol(self) -> str:
        """The column ``fit`` reads: ``tokens_column`` (``inputCol``) if set, else ``text_column``."""
        return self.config.input_column

    def getStepSize(self) -> float:
        """The initial learning rate training uses: ``alpha``, or 0.025 (skip-gram) / 0.05 (CBOW)."""
        return self.config.effective_alpha

    def write(self) -> MLWriter:
        """A pyspark DefaultParamsWriter that will not replace a sparkw2v model directory."""
        return _EstimatorWriter(self)

    def _fit(self, dataset: DataFrame) -> "Word2VecModel":
        require_classic(dataset, "Word2Vec.fit")
        cfg = _column_config(dataset, self.config.validate(require_io=False))
        unused = [name for name in ("input", "input_table", "input_options") if getattr(cfg, name)]
        if unused:
            log.warning("Word2Vec.fit trains on the DataFrame it is given; %s %s read by fit_input(spark) only, and "
                        "ignored here", ", ".join(unused), "is" if len(unused) == 1 else "are")
        if not (self.isSet("tokens_column") or self.isSet("text_column")):
            _warn_unset_input(dataset, cfg.text_column)
        corpus = select_column(dataset, cfg)
        if cfg.from_model:
            model = _continue(dataset.sparkSession, corpus, cfg)
        else:
            model = Word2VecModel(training.fit(dataset.sparkSession, corpus, cfg))
        return self._fitted(model)

    def fit_input(self, spark: SparkSession) -> "Word2VecModel":
        """Train on the configured ``input`` path or ``input_table``.

        With ``output`` set, every epoch is checkpointed under ``OUTPUT/_staging``
        (``resume=True`` continues from there), and :meth:`Word2VecModel.save` to
        that output removes the checkpoint unless ``keep_checkpoints``. An ``output``
        that cannot hold a model (a file, a directory of other files, a path inside
        another model) or lies inside the ``input`` directory (or one its pattern
        reaches into) is refused before the input is read
        (:func:`sparkw2v.publishing.check_output`, whether it may be replaced is
        decided when it is saved; :func:`sparkw2v.publishing.check_outside_input`).
        """
        require_classic(spark, "Word2Vec.fit_input")
        cfg = self.config.validate(require_io=False)
        if cfg.output:
            publishing.check_output(spark, cfg.output, overwrite=True)
            if cfg.input is not None:
                publishing.check_outside_input(spark, cfg.output, cfg.input)
        if cfg.from_model:
            return self._fitted(_continue(spark, read_input(spark, cfg), cfg))
        checkpoints = Checkpoints(spark, cfg.output) if cfg.output else None
        model = Word2VecModel(training.fit(spark, read_input(spark, cfg), cfg, checkpoints=checkpoints))
        model._checkpoints = checkpoints
        return self._fitted(model)

    def _fitted(self, model: "Word2VecModel") -> "Word2VecModel":
        """``model`` with this estimator's transform Params (``outputCol``, ``averageOver``) where set,
        and its uid, as MLlib's fit gives them."""
        model._set(**{name: self.getOrDefault(name) for name in TRANSFORM_PARAMS if self.isSet(name)})
        model._resetUid(self.uid)
        return model


class UnknownParameterError(ConfigTypeError):
    """A keyword the estimator does not know (a ``TypeError`` too, as pyspark.ml's estimators raise)."""


def _named_as_given(exc: ConfigError, params: dict[str, Any]) -> ConfigError:
    """``exc`` with the field renamed to the MLlib name the caller used (``invalid vectorSize=0: ...``)."""
    for alias, field in MLLIB_ALIASES.items():
        if alias in params and exc.field == field:
            return exc.named(alias)
    return exc


def _warn_unset_input(dataset: DataFrame, column: str) -> None:
    """Warn when ``fit`` falls back to the ``text`` column of a frame that also holds token
    columns (a pipeline stage's output that ``inputCol`` was meant to name; MLlib refuses to fit)."""
    tokens = [f.name for f in dataset.schema.fields if isinstance(f.dataType, T.ArrayType)
              and isinstance(f.dataType.elementType, T.StringType)]
    if tokens and column in dataset.columns and column not in tokens:  # (a token column named so fails to fit)
        log.warning("Word2Vec.fit: inputCol is not set, so it trains on column %r, tokenized as text; the frame "
                    "also holds array<string> column(s) %s: setInputCol(%r) to train on those tokens", column,
                    ", ".join(map(repr, tokens)), tokens[-1])


def _column_config(dataset: DataFrame, cfg: TrainConfig) -> TrainConfig:
    """``cfg`` for fitting ``dataset``: a ``tokens_column`` (``inputCol``) that holds strings is read as text."""
    if cfg.tokens_column:
        fields = {f.name: f.dataType for f in dataset.schema.fields}
        if isinstance(fields.get(cfg.tokens_column), T.StringType):
            return cfg.replace(text_column=cfg.tokens_column, tokens_column=None)
    return cfg


class _EstimatorReader(DefaultParamsReader):
    """pyspark's reader of Params; an estimator saved by Spark MLlib's Word2Vec becomes a sparkw2v
    estimator with the same settings (MLlib's names are aliases here) and uid."""

    def load(self, path: str) -> Word2Vec:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        if metadata.get("class") == MLLIB_MODEL:
            raise InputError(f"{path} holds a model fitted by Spark MLlib's Word2Vec; load it with "
                             "pyspark.ml.feature.Word2VecModel.load, or import its vectors as a sparkw2v model "
                             f"(sparkw2v import --input {path} --output MODEL)")
        if str(metadata.get("class", "")).startswith("org.apache.spark.") and metadata["class"] != MLLIB_ESTIMATOR:
            raise InputError(f"{path} was saved by Spark MLlib as {metadata['class']}, not as a Word2Vec estimator: "
                             "load it with pyspark.ml's classes")
        if metadata.get("class") == MODEL_CLASS:
            raise InputError(f"{path} holds a fitted sparkw2v model, not an estimator: load it with "
                             "sparkw2v.Word2VecModel.load")
        if metadata.get("class") == f"{self.cls.__module__}.{self.cls.__name__}":
            try:  # as pyspark makes it (no arguments), then every saved value at once, validated together
                estimator = self.cls().setParams(**metadata.get("paramMap", {}))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            estimator._setDefault(**metadata.get("defaultParamMap", {}))
            estimator._resetUid(metadata["uid"])
            return estimator
        if metadata.get("class") != MLLIB_ESTIMATOR:
            return super().load(path)
        # MLlib's defaults as saved with it (maxIter 1, numPartitions 1, ...) are the estimator's
        # defaults here too. Not its stepSize (0.025, sparkw2v's skip-gram default: unset, CBOW keeps
        # its own) nor its seed (a negative hash of its class name, which sparkw2v cannot use).
        defaults = {MLLIB_ALIASES.get(name, name): value
                    for name, value in metadata.get("defaultParamMap", {}).items()
                    if name in ("maxIter", "numPartitions", "maxSentenceLength", "vectorSize", "minCount",
                                "windowSize", "outputCol")}
        params = dict(metadata.get("paramMap", {}))
        seed = params.get("seed")
        if seed is not None and unsigned_seed(seed) != seed:  # a Java long: MLlib allows it
            params["seed"] = unsigned_seed(seed)
            log.warning("%s: MLlib's seed %d is read as %d (its 64 bits unsigned; sparkw2v's seeds are >= 0)",
                        path, seed, params["seed"])
        try:
            estimator = Word2Vec()
            estimator._setDefault(**{name: convert_number(name, value) for name, value in defaults.items()})
            estimator.config.validate(require_io=False)
            estimator.setParams(**params)
        except ConfigError as exc:
            raise ConfigError(f"{path} (saved by Spark MLlib's Word2Vec): {exc}") from None
        estimator._resetUid(metadata["uid"])
        return estimator


class _EstimatorWriter(DefaultParamsWriter):
    """pyspark's writer of Params, refusing to ``overwrite()`` (delete) a sparkw2v model directory."""

    def save(self, path: str) -> None:
        if layout.is_model(self.sparkSession, path):
            raise publishing.OutputExistsError(
                f"{path} is a sparkw2v model; " + ("overwriting it with an estimator would delete the model"
                                                   if self.shouldOverwrite else "an estimator is not saved into it")
                + ": choose another path")
        super().save(path)


def _continue(spark: SparkSession, corpus, cfg: TrainConfig) -> "Word2VecModel":
    """``from_model`` set: continue that model on ``corpus`` (see :mod:`sparkw2v.continuation`)."""
    from . import continuation

    continuation.check_continues_newest(spark, cfg.from_model, cfg.output)
    base = continuation.load_base(spark, cfg.from_model)
    continuation.check_not_repeated(spark, base, continuation.input_digest(corpus), cfg.output)
    continued = continuation.continue_training(spark, base, corpus, cfg)
    model = Word2VecModel(continued.result)
    model._continued = continued
    return model


class Word2VecModel(Model, MLReadable["Word2VecModel"], MLWritable):
    """Trained vectors: query them on the driver, ``transform`` DataFrames, or save a vector table.

    ``transform`` adds ``outputCol`` (default ``vector``): the mean of the vectors
    of each row's in-vocabulary words as an ML ``DenseVector``, zeros when there
    are none. MLlib divides the same sum by all of the row's tokens, unknown ones
    included: ``setAverageOver("all")`` does so too (the two agree when every token
    is in the vocabulary). ``inputCol``
    defaults to the training column; a string column is tokenized as in training,
    an ``array<string>`` column is used as it is.

    The model answers pyspark.ml's queries (``getVectors``, ``findSynonyms``,
    ``findSynonymsArray``, ``getVectorSize`` and the other getters of the training
    settings) and gensim's (``most_similar``, ``similarity``, ``analogy``, ``wv``).
    ``save(path)``, ``write().save(path)`` and a saved ``PipelineModel`` publish a
    version of sparkw2v's Parquet layout (see :mod:`sparkw2v.layout`; Spark SQL
    and :func:`sparkw2v.sql.register` read it) with pyspark.ml's ``metadata/``
    beside it, which keeps the model's Params (``inputCol``, ``outputCol``);
    ``write().overwrite()`` publishes a new version instead of deleting the old.
    ``load``/``read().load`` read the newest version. Example (runs as written)::

        from sparkw2v import Word2Vec, Word2VecModel
        from sparkw2v.session import get_session

        spark = get_session()
        doc = spark.createDataFrame([("a b c a b".split(),), ("b c d a".split(),)] * 20, ["words"])
        model = Word2Vec(vectorSize=8, minCount=1, inputCol="words").fit(doc)
        model.findSynonyms("a", 2).show()                    # word, similarity
        print(model.findSynonymsArray(model.wv["a"], 1))     # a vector finds its own word first
        model.setOutputCol("features").write().overwrite().save("/tmp/w2v-model")
        same = Word2VecModel.load("/tmp/w2v-model")
        same.transform(doc).select("features").show(2)      # outputCol kept
        same.getVectors().show(2)                            # word, vector (an ML DenseVector)
    """

    inputCol = Param(Params._dummy(), "inputCol", "column of text (string) or tokens (array<string>)")

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
        #: The full path of the version a loaded model was read from (None for a model trained here).
        self.source: str | None = None
        # Per model path (qualified): what a save there must find, the newest version when this model
        # was loaded from that path or the one it last published there, with that version's publish_id.
        self._expected: dict[str, publishing.Expected] = {}
        self._continued = None  # continuation.Continued of a from_model run: save() adds its counts
        self._setDefault(inputCol=self.config.input_column, **_TRANSFORM_DEFAULTS)
        # Set, as MLlib's fit copies its estimator's values to the model (isSet is True).
        trained = {alias: self._trained_value(alias) for alias in MODEL_ALIASES}
        self._setDefault(**trained)
        self._set(**trained)

    def _trained_value(self, alias: str) -> Any:
        """The training setting MLlib calls ``alias``, as the model was trained: ``numPartitions`` left
        unset is the number of partitions the run trained in (MLlib's model always answers a number)."""
        if alias == "stepSize":
            return self.config.effective_alpha
        if alias == "numPartitions" and self.config.num_partitions is None:
            return (self.result.info if self.result is not None else self.metadata).get("num_partitions") or None
        return getattr(self.config, MODEL_ALIASES[alias])

    def __repr__(self) -> str:
        return f"Word2VecModel: uid={self.uid}, numWords={len(self.vocab)}, vectorSize={self.wv.vector_size}"

    # -- params ---------------------------------------------------------------------------
    def getInputCol(self) -> str:
        """The column ``transform`` reads: text (tokenized as in training) or array<string> tokens."""
        return self.getOrDefault(self.inputCol)

    def setInputCol(self, value: str) -> "Word2VecModel":
        """Set the column ``transform`` reads."""
        return self._set(inputCol=_column_name("inputCol", value))

    def getOutputCol(self) -> str:
        """The column ``transform`` adds: each row's mean word vector (an ML ``DenseVector``)."""
        return self.getOrDefault(self.outputCol)

    def setOutputCol(self, value: str) -> "Word2VecModel":
        """Set the column ``transform`` adds."""
        return self._set(outputCol=_column_name("outputCol", value))

    def getAverageOver(self) -> str:
        """What ``transform`` divides the sum of a row's word vectors by: ``"known"``, the row's
        in-vocabulary words (the default), or ``"all"``, all of its tokens as MLlib does."""
        return self.getOrDefault("averageOver")

    def setAverageOver(self, value: str) -> "Word2VecModel":
        """Set what ``transform`` divides by: ``"known"`` or ``"all"`` (MLlib's rule)."""
        return self._set(averageOver=_average_over("averageOver", value))

    def getStepSize(self) -> float:
        """The initial learning rate the model was trained with (``alpha`` or its default)."""
        return self.config.effective_alpha

    # -- pyspark.ml queries --------------------------------------------------------------
    def findSynonyms(self, word: Any, num: int) -> DataFrame:
        """The ``num`` words nearest by cosine to ``word`` (a word, left out of the answer, or a
        vector: an ML Vector, list or NumPy array), as a DataFrame of ``word``, ``similarity``."""
        spark = _session()
        return spark.createDataFrame(self.findSynonymsArray(word, num), "word string, similarity double")

    def findSynonymsArray(self, word: Any, num: int) -> list[tuple[str, float]]:
        """:meth:`findSynonyms` as a list of (word, similarity), best first, computed on the driver.

        Unknown words raise ``KeyError`` naming the word.
        """
        # Any integer (NumPy's too, as a range or an array yields them); a bool or a float is no count.
        if isinstance(num, (bool, np.bool_)) or not isinstance(num, numbers.Integral) or num < 1:
            raise ValueError(f"findSynonyms: num must be an integer >= 1, not {num!r}")
        num = int(num)
        if isinstance(word, str):
            return self.wv.most_similar(word, topn=num)
        if word is None:
            raise TypeError("findSynonyms: give a word or a vector, not None")
        vector = np.asarray(word.toArray() if hasattr(word, "toArray") else word, dtype=np.float32)
        if vector.shape != (self.wv.vector_size,):
            raise ValueError(f"findSynonyms: the vector has shape {vector.shape}; the model's vectors "
                             f"have {self.wv.vector_size} values")
        if not np.isfinite(vector).all():
            raise ValueError("findSynonyms: the vector holds NaN or infinite values")
        return self.wv.most_similar(vector, topn=num)

    # -- gensim-style queries ------------------------------------------------------------
    def most_similar(self, positive: str | Sequence[str] = (), negative: Sequence[str] = (),
                     topn: int | None = 10) -> list[tuple[str, float]] | np.ndarray:
        """gensim's ``most_similar`` on the driver: see :meth:`sparkw2v.vectors.WordVectors.most_similar`."""
        return self.wv.most_similar(positive, negative, topn=topn)

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words' vectors; ``KeyError`` names a missing word."""
        return self.wv.similarity(a, b)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """``b - a + c``'s nearest words (a is to b as c is to ?): see :meth:`sparkw2v.vectors.WordVectors.analogy`."""
        return self.wv.analogy(a, b, c, topn=topn)

    # -- Spark ----------------------------------------------------------------------------
    def getVectors(self, spark: SparkSession | None = None) -> DataFrame:
        """The vectors as a DataFrame of ``word`` and ``vector`` (an ML ``DenseVector``), as MLlib's model
        gives them; most frequent word first. The saved Parquet table holds them as array<float>."""
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        spark = spark or _session()
        table_bc, _ = self._broadcast_vectors(spark)
        frame = tables.frame_of(spark, table_bc.value, table_bc)
        return frame.select("word", array_to_vector(F.col("vector")).alias("vector"))

    def _vector_table(self) -> pa.Table:
        counts = self.wv.counts
        counts = pa.nulls(len(self.wv), pa.int64()) if counts is None else pa.array(counts, pa.int64())
        return pa.table({"word": pa.array(self.wv.words, type=pa.string()), "count": counts,
                         "vector": tables.vector_column(self._w_in)})

    def _transform(self, dataset: DataFrame) -> DataFrame:
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql.functions import ArrowUDFType, arrow_udf

        require_classic(dataset, "Word2VecModel.transform")
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
        names = dataset.columns
        if names.count(column) > 1:
            raise InputError(f"transform: {names.count(column)} columns are named {column!r}; rename or drop "
                             "all but one")
        if not pretokenized and (self.result.info if self.result is not None else self.metadata).get("input_tokens"):
            log.warning("transform: the model was trained on array<string> tokens, and column %r is text, which "
                        "sparkw2v's tokenizer splits (lowercase=%s, token_pattern=%r): words the training tokens "
                        "spelled otherwise are not found; pass tokens made as in training", column,
                        self.config.lowercase, self.config.token_pattern)
        payload_bc, key = self._broadcast_vectors(dataset.sparkSession)
        spec = TokenizerSpec.from_config(self.config)
        # MLlib's ML attribute metadata: the vector's size, which VectorAssembler and others read.
        size = {"ml_attr": {"num_attrs": int(self.wv.vector_size)}}
        # A scalar Arrow UDF: only the input column goes to Python and back, the rest of each row
        # stays in the JVM.
        # Checked again: pyspark's _set skips the Param's check for None (copy({averageOver: None})).
        task = executor.MeanVectorTask(pretokenized, spec, key,
                                       _average_over("averageOver", self.getAverageOver()) == "all")
        with warnings.catch_warnings():  # pyspark prefers type hints, which a partial cannot carry
            warnings.simplefilter("ignore", UserWarning)
            means = arrow_udf(functools.partial(executor.mean_vector_column, task=task, payload_bc=payload_bc),
                              T.ArrayType(T.FloatType()), ArrowUDFType.SCALAR)
        return dataset.select("*", array_to_vector(means(column_ref(column))).alias(output, metadata=size))

    def _broadcast_vectors(self, spark: SparkSession) -> tuple[Broadcast, str]:
        """The (word, count, vector) Arrow table, broadcast once per model for ``transform``,
        ``getVectors`` and :func:`sparkw2v.sql.register` (:meth:`unpersist` releases it), and the
        key workers cache it under."""
        if self._payload is not None and self._payload[2] is not spark.sparkContext:
            self._payload = None  # broadcast by a SparkContext that has stopped since
        if self._payload is None:
            table_bc = spark.sparkContext.broadcast(self._vector_table())
            weakref.finalize(self, unpersist_unless_gone, table_bc).atexit = False
            self._payload = (table_bc, uuid.uuid4().hex, spark.sparkContext)
        return self._payload[:2]

    def unpersist(self) -> "Word2VecModel":
        """Drop the executors' copies of the vectors that :meth:`transform` and :meth:`getVectors`
        broadcast (once per model); frames made by them before read them again if still used.
        Also done when the model is garbage-collected."""
        if self._payload is not None and _alive(self._payload[2]):
            self._payload[0].unpersist()
        return self

    def evaluate(self, similarity_path: str | None = None, analogy_path: str | None = None, *,
                 restrict_vocab: int | None = 300_000) -> dict:
        """Score the vectors (see :func:`sparkw2v.evaluation.evaluate`) and keep the scores in the
        model's metadata, so that :meth:`save` records them; the scores of a kind not scored this
        time (word pairs or analogies) are kept as recorded before.

        >>> model.evaluate("wordsim353.tsv", "questions-words.txt")["wordsim_spearman"]  # doctest: +SKIP
        0.62
        """
        from .evaluation import evaluate

        scores = evaluate(self.wv, similarity_path=similarity_path, analogy_path=analogy_path,
                          restrict_vocab=restrict_vocab)
        previous, recorded = self.metadata.get("evaluation") or {}, {}
        for path, prefix, file_key in ((similarity_path, "wordsim_", "similarity_file"),
                                       (analogy_path, "analogy_", "analogy_file")):
            recorded[file_key] = path if path is not None else previous.get(file_key)
            if path is None:
                recorded.update({k: v for k, v in previous.items() if k.startswith(prefix)})
        self.metadata["evaluation"] = {**recorded, **scores, "restrict_vocab": restrict_vocab}
        return scores

    def training_metadata(self) -> dict:
        """What metadata.json records: parameters, corpus sizes, history, timings, evaluation.

        A loaded model keeps what describes its training and drops what described the
        version it was read from (number, stream batch, continuation of that run), but keeps
        which stream batches it holds (``streams``), so a stream replaying one never trains it twice.
        """
        if self.result is None:
            from .continuation import STREAMS, stream_progress

            kept = {k: v for k, v in self.metadata.items() if k not in PER_VERSION_KEYS}
            progress = stream_progress(self.metadata)
            return {**kept, **({STREAMS: progress} if progress else {})}
        extra = {"evaluation": self.metadata["evaluation"]} if "evaluation" in self.metadata else {}
        return {**extra, **self.result.metadata()}

    def save(self, path: str, overwrite: bool = False, spark: SparkSession | None = None) -> str:
        """Publish the model as a new version of ``path`` (see :mod:`sparkw2v.publishing`).

        Returns the full path of the version written. ``overwrite`` allows adding
        a version to an existing model path (older versions beyond ``keep_versions``
        are deleted); a directory that is not a sparkw2v model is never written into.
        The model's pyspark.ml Params go to ``path/metadata``. A model trained here
        (``save_counts``) also writes every word's count of its run as ``counts/``
        with every save (held on the driver, or for a vocabulary too large for it
        cached on the executors until the model is garbage-collected); a loaded
        model copies its version's.
        """
        spark = spark or _session()
        require_classic(spark, "Word2VecModel.save")
        ml_text = DefaultParamsWriter._get_metadata_to_save(self, spark)
        saved = json.loads(ml_text)
        # The version records its own Params, so a reader never pairs its vectors with another
        # version's (``path/metadata``, for pyspark's readers, is replaced after publishing).
        published = self._publish(spark, path, overwrite, {"uid": saved["uid"], "paramMap": saved["paramMap"]})
        # A model loaded from ``path`` or continued from it changes what it read there: its next save
        # builds on this version (recorded first: if writing metadata/ fails, a later save still
        # does). A model that did not come from ``path`` (fitted here, or loaded from elsewhere) holds
        # nothing of its, so with ``overwrite`` each of its saves publishes above whatever is newest
        # there, as its first did (MLlib's overwrite).
        key = layout.model_key(spark, path)
        if key in self._expected:
            self._expected[key] = publishing.Expected(published.version, publishing.SAVED, published.publish_id)
        ml_metadata.write_ml_metadata(spark, path, ml_text)
        return published.location

    def write(self) -> MLWriter:
        """pyspark.ml's writer: ``write().save(path)`` is ``save(path)``; ``write().overwrite()`` publishes
        a new version of an existing model path instead of deleting it."""
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader["Word2VecModel"]:
        """pyspark.ml's reader: ``read().load(path)`` is :meth:`load`."""
        return _ModelReader(cls)

    def _publish(self, spark: SparkSession, path: str, overwrite: bool, ml_params: dict) -> publishing.Published:
        w_out = self._w_out if self._w_out is not None else np.zeros_like(self._w_in)
        metadata = {**self.training_metadata(), "ml_params": ml_params}
        # A compare-and-swap on the version this model came from or last published at ``path``: a
        # version another writer published since is never hidden behind this one.
        expect = self._expected.get(layout.model_key(spark, path))
        if self._continued is not None:
            from .continuation import publish
            published = publish(spark, path, self._continued, self._w_in, w_out, metadata,
                                overwrite=overwrite, keep_versions=self.config.keep_versions, expect=expect)
            self._continued.release()  # cached for this write; a later save recomputes them
            return published
        counts = self._counts_to_publish(spark, path)
        if counts is None:
            published = publishing.write_model(spark, path, self.vocab, self._w_in, w_out, metadata,
                                               overwrite=overwrite, keep_versions=self.config.keep_versions,
                                               expect=expect)
        else:  # so continuing can grow the vocabulary
            published = publishing.publish_with_counts(spark, path, self.vocab, self._w_in, w_out, metadata, counts,
                                                       overwrite=overwrite, keep_versions=self.config.keep_versions,
                                                       expect=expect)
        cp = self._checkpoints
        if cp is not None and self.config.output and not self.config.keep_checkpoints \
                and layout.same_path(spark, path, self.config.output):
            cp.clear()
        return published

    def clear_checkpoints(self) -> None:
        """Remove the epoch checkpoints of the run that trained this model (:meth:`save` does when it
        publishes to the run's output; a model published elsewhere needs them no more either)."""
        if self._checkpoints is not None and not self.config.keep_checkpoints:
            self._checkpoints.clear()

    def _counts_to_publish(self, spark: SparkSession, path: str) -> DataFrame | pa.Table | None:
        """Every word's count to publish beside the vectors: the training run's, else the counts
        table of the version this model was loaded from; None when there are neither (a warning
        says so if that version's table was removed since)."""
        counts = self.result.counts if self.result is not None else None
        if counts is not None:
            if not isinstance(counts, pa.Table) and not _alive(counts):
                log.warning("%s is saved without its word counts: they were held by a SparkSession that has "
                            "stopped since; continuing this model starts words below min_count from zero", path)
                return None
            return counts_table.counts_frame(spark, counts)
        if self.source is None:
            return None
        if filesystem.HadoopFS(spark, self.source).exists(f"{self.source}/{layout.COUNTS}/_SUCCESS"):
            integrity.verify_tables(spark, self.source, self.metadata, (layout.COUNTS,))
            return filesystem.literal_reader(spark).parquet(f"{self.source}/{layout.COUNTS}")
        if any(name.startswith("counts/") for name in self.metadata.get("files") or {}):
            log.warning("%s is saved without its word counts: %s, the version it was loaded from, no longer holds "
                        "them (removed since, or the path was overwritten first, as pyspark.ml's overwrite of a "
                        "pipeline does); continuing this model starts words below min_count from zero",
                        path, self.source)
        return None

    @classmethod
    def load(cls, path: str, spark: SparkSession | None = None) -> "Word2VecModel":
        """Read a model directory written by :meth:`save` or ``sparkw2v train`` (its newest version),
        with the Params (uid, ``inputCol``, ``outputCol``, ``averageOver``) the version recorded
        (``ml_params`` in its metadata.json: saves, and imports of MLlib models), else those of the
        directory's ``metadata/`` if it has one."""
        spark = spark or _session()
        require_classic(spark, "Word2VecModel.load")
        try:
            loaded = vector_table.read_model(spark, path)
        except FileNotFoundError as exc:
            cls_name = ml_metadata.ml_class(spark, path) or ""
            if cls_name.startswith("org.apache.spark.ml"):
                hint = (f"import its vectors as a sparkw2v model (sparkw2v import --input {path} --output MODEL), "
                        "or " if cls_name in (MLLIB_MODEL, MLLIB_PIPELINE) else "")
                raise InputError(f"{path} was saved by Spark MLlib ({cls_name}), not sparkw2v: {hint}load it with "
                                 "pyspark.ml.feature's classes, or train again with sparkw2v (Word2Vec.load reads "
                                 "an MLlib estimator's settings)") from None
            if cls_name == f"{Word2Vec.__module__}.{Word2Vec.__name__}":
                raise InputError(f"{path} holds a sparkw2v estimator (Word2Vec), not a fitted model: load it with "
                                 "sparkw2v.Word2Vec.load") from None
            kind = cls_name.rsplit(".", 1)[-1]
            if kind in ("Pipeline", "PipelineModel", "CrossValidator", "CrossValidatorModel", "TrainValidationSplit",
                        "TrainValidationSplitModel"):
                where = {"PipelineModel": ": a fitted Word2VecModel is one of its stages",
                         "CrossValidatorModel": ": a fitted Word2VecModel is in its bestModel",
                         "TrainValidationSplitModel": ": a fitted Word2VecModel is in its bestModel"}
                raise InputError(f"{path} holds a pyspark.ml {kind} ({cls_name}), not a sparkw2v model: load it with "
                                 f"{kind}.load{where.get(kind, ', which holds no fitted model')}") from None
            if type(exc) is FileNotFoundError and not layout.is_model(spark, path):  # nothing to read there
                raise ModelNotFoundError(str(exc), path) from None
            raise
        location = loaded.location
        model = cls(loaded=loaded)
        counts_table.finish_counts_move(filesystem.HadoopFS(spark, location), location, model.metadata)
        model.source = location
        root = layout.root_of(location)
        if root is not None:  # saving back to the path it was loaded from: only while nothing newer came
            if layout.root_of(path) is None:   # the model path: the version it read
                expect = publishing.Expected(layout.version_of(location), publishing.LOADED,
                                             model.metadata.get("publish_id"))
            else:  # one version by its own path (a rollback): the newest one at the time
                expect = publishing.Expected((layout.published_versions(spark, root) or [0])[-1],
                                             publishing.LOADED)
            model._expected[layout.model_key(spark, root)] = expect
        # The version's own Params (ml_params); for a version without them, path/metadata.
        ml = model.metadata.get("ml_params") or ml_metadata.read_ml_metadata(spark, path)
        if ml is not None:
            model._resetUid(ml["uid"])
            for name, value in ml.get("paramMap", {}).items():
                # A training setting saved as null (numPartitions left unset, as saved before the model
                # answered the partitions it trained in) keeps the model's own answer.
                if model.hasParam(name) and not (value is None and name in MODEL_ALIASES):
                    model.set(model.getParam(name), value)
        return model


class ModelNotFoundError(FileNotFoundError, AnalysisException):
    """``Word2VecModel.load`` of a path holding no model (missing, or without a version): a
    ``FileNotFoundError``, and pyspark's ``AnalysisException`` (``PATH_NOT_FOUND``) as MLlib's
    ``load`` raises, so ``except AnalysisException:`` around a load still catches it."""

    def __init__(self, message: str, path: str):
        FileNotFoundError.__init__(self, message)
        AnalysisException.__init__(self, message=message, errorClass="PATH_NOT_FOUND",
                                   messageParameters={"path": path})

    def __str__(self) -> str:
        return FileNotFoundError.__str__(self)


class _ModelWriter(MLWriter):
    """``Word2VecModel.write()``: publishes through :meth:`Word2VecModel.save` (never deletes ``path``)."""

    def __init__(self, instance: Word2VecModel):
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        self.saveImpl(path)

    def saveImpl(self, path: str) -> None:
        self.instance.save(path, overwrite=self.shouldOverwrite, spark=self.sparkSession)


class _ModelReader(MLReader[Word2VecModel]):
    """``Word2VecModel.read()``: :meth:`Word2VecModel.load` in the reader's session."""

    def __init__(self, cls: type[Word2VecModel]):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Word2VecModel:
        return self.cls.load(path, spark=self.sparkSession)


def _alive(owner: SparkContext | DataFrame | RDD) -> bool:
    """Whether the SparkContext of ``owner`` (a context, a DataFrame or an RDD) is still the running one."""
    sc = owner if isinstance(owner, SparkContext) else owner.context if isinstance(owner, RDD) \
        else owner.sparkSession.sparkContext
    return sc._jsc is not None and sc is SparkContext._active_spark_context


def _session() -> SparkSession:
    """The session of a model call given none: the running one, or a new one in a process that has
    not started Spark yet. After ``spark.stop()`` no Spark of sparkw2v's choosing is started (a
    later ``SparkSession.builder.getOrCreate()`` would get it, with its settings, not the user's)."""
    from .errors import SparkStoppedError
    from .session import get_session

    if SparkContext._gateway is not None and SparkContext._active_spark_context is None \
            and SparkSession.getActiveSession() is None:
        raise SparkStoppedError("this process stopped its SparkSession and none runs now: start one "
                                "(SparkSession.builder...getOrCreate()) or pass spark=")
    return get_session()


def _add_params() -> None:
    """Class-level Params of both classes: one per TrainConfig field and MLlib alias, and MLlib's accessors."""
    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}
    for name, text in helps.items():
        setattr(Word2Vec, name, Param(Params._dummy(), name, text))
    for alias, name in MLLIB_ALIASES.items():
        setattr(Word2Vec, alias, Param(Params._dummy(), alias, helps[name]))
    for name, param in TRANSFORM_PARAMS.items():
        # Checked by pyspark's set(), copy() and readers too (the estimator checks in setParams first).
        check = functools.partial(param.check, name)
        setattr(Word2Vec, name, Param(Params._dummy(), name, param.doc, typeConverter=check))
        setattr(Word2VecModel, name, Param(Params._dummy(), name, param.doc, typeConverter=check))
    for alias, name in [*MLLIB_ALIASES.items(), ("seed", "seed"), *((p, p) for p in TRANSFORM_PARAMS)]:
        named = alias if alias == name else f"{alias} ({name})"
        add_setter(Word2Vec, alias, f"Set {named}; validated at once. Returns the estimator.")
        add_getter(Word2Vec, alias, lambda est, alias=alias: est.getOrDefault(alias),
                   f"The value of {named}, set or default.")
    for alias, name in MODEL_ALIASES.items():
        setattr(Word2VecModel, alias, Param(Params._dummy(), alias, f"{helps[name]} (as trained)"))
        add_getter(Word2VecModel, alias, lambda model, alias=alias: model._trained_value(alias),
                   f"The {alias} ({name}) the model was trained with.")


def _keyword_signature() -> inspect.Signature:
    """``Word2Vec(config=None, *, vectorSize=100, ...)``: MLlib's keywords, then every TrainConfig
    field's (``vector_size`` too), for ``help()``, ``inspect`` and notebooks (the methods take ``**params``)."""
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("config", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation="TrainConfig | None")]
    for alias, name in [*MLLIB_ALIASES.items(), ("seed", "seed")]:
        default = getattr(TrainConfig, name)   # stepSize None: 0.025 skip-gram, 0.05 CBOW
        params.append(inspect.Parameter(alias, keyword, default=default, annotation=types[name]))
    params += [inspect.Parameter(name, keyword, default=p.default, annotation="str")
               for name, p in TRANSFORM_PARAMS.items()]
    params += [inspect.Parameter(name, keyword, default=getattr(TrainConfig, name), annotation=kind)
               for name, kind in types.items() if name != "seed"]
    return inspect.Signature(params)


_add_params()
Word2Vec.__init__.__signature__ = _keyword_signature()
Word2Vec.setParams.__signature__ = _keyword_signature().replace(return_annotation="Word2Vec")
