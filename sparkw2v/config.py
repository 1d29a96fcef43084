"""The training configuration: one frozen dataclass, one source of names and defaults.

The CLI (``sparkw2v train``), ``conf/*.toml`` files and the Python API all build a
:class:`TrainConfig`; :meth:`TrainConfig.validate` checks it where it comes in (the
CLI's flags and file, the estimator's setters and ``fit``), before any Spark job, and
names the bad value and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from .combine import RULES
from .errors import UserError

INPUT_FORMATS = ("text", "parquet", "orc", "json", "csv")
#: Largest ns_exponent accepted: beyond it nearly every negative sample is the most frequent word.
MAX_NS_EXPONENT = 10.0
#: Negatives per example at most: beyond it a step's arrays outgrow any machine long before it trains.
MAX_NEGATIVE = 1000
COMBINE_RULES = tuple(RULES)
STRATEGIES = ("auto", "average", "stratified")
OWNED_ROWS = ("auto", "output", "both")
BLOCK_EXCHANGES = ("auto", "direct", "shuffle")
#: Shards trained at once from which ``strategy='auto'`` trains stratified (skip-gram and CBOW).
STRATIFIED_FROM = 3
#: Shards trained at once from which stratified training (skip-gram and CBOW) shares each output
#: block between two tasks (:func:`sparkw2v.stratified.output_blocks`).
SHARE_OUTPUT_FROM = 16


class ConfigError(UserError, ValueError):
    """A configuration value is invalid; the message says which and what is allowed.

    Made by :meth:`invalid`, it knows the setting (``field``, TrainConfig's name), so a
    caller that spells settings otherwise renames it with :meth:`named`: the CLI as the
    flag typed (``--vector-size``), the estimator as the MLlib Param given (``vectorSize``)."""

    def __init__(self, message: str, field: str | None = None, value: Any = None, reason: str = "") -> None:
        super().__init__(message)
        self.field, self.value, self.reason = field, value, reason

    @classmethod
    def invalid(cls, field: str, value: Any, reason: str, wrong_type: bool = False) -> "ConfigError":
        """``invalid FIELD=VALUE: REASON``; a :class:`ConfigTypeError` when ``wrong_type``."""
        kind = ConfigTypeError if wrong_type else cls
        return kind(f"invalid {field}={value!r}: {reason}", field, value, reason)

    def named(self, name: str) -> "ConfigError":
        """The same error with its setting spelled ``name``."""
        return self if self.field is None else type(self).invalid(name, self.value, self.reason)


class ConfigTypeError(ConfigError, TypeError):
    """A setting of the wrong type (``vectorSize='5'``): a ``TypeError`` too, as pyspark.ml's
    type converters raise, and still a :class:`ConfigError` (a ``ValueError``)."""


def _need(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError.invalid(name, value, allowed)


def _typed(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError.invalid(name, value, allowed, wrong_type=True)


def _number(name: str, value: Any, allowed: str, integer: bool = False) -> Any:
    """``value`` if it is a number (an ``int`` when ``integer``; never a bool), else :class:`ConfigTypeError`."""
    _typed(isinstance(value, int if integer else (int, float)) and not isinstance(value, bool), name, value, allowed)
    return value


def _integer(name: str, value: Any, low: int) -> None:
    allowed = f"must be an integer >= {low}"
    _need(_number(name, value, allowed, integer=True) >= low, name, value, allowed)


def _opt(default: Any, help: str, group: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, "group": group, **extra})


def default_alpha(sg: bool) -> float:
    """The starting learning rate when none is given: word2vec's, 0.025 for skip-gram and 0.05 for CBOW."""
    return 0.025 if sg else 0.05


@dataclass(frozen=True)
class TrainConfig:
    """Every parameter of a training run. Names follow gensim's Word2Vec where it has one."""

    # Input
    input: str | None = _opt(None, "text files to train on (plain or .gz): a file, directory (with subdirectories) or glob", "input")
    input_table: str | None = _opt(None, "catalog table to train on instead of --input", "input")
    input_format: str = _opt("text", f"format of --input: one of {', '.join(INPUT_FORMATS)}", "input")
    text_column: str = _opt("text", "column holding the text of input that is not plain text files", "input")
    tokens_column: str | None = _opt(
        None, "column of array<string> tokens to use as they are (no tokenization)", "input")
    lowercase: bool = _opt(True, "lower-case text before splitting", "input", negated="keep-case",
                           negated_help="keep the text's case")
    token_pattern: str | None = _opt(
        None, "regular expression to split text on (default: any whitespace)", "input")
    input_options: tuple[tuple[str, str], ...] = _opt(
        (), "Spark reader option for --input as KEY=VALUE, one per flag (repeat it), e.g. sep=; or "
        "encoding=ISO-8859-1 for CSV, multiLine=true for JSON files each holding one array (or one object); "
        "\\n, \\r and \\t in a lineSep value are the characters. They override sparkw2v's own (CSV: header=true, "
        "multiLine=true, enforceSchema=false). In TOML a table: input_options = {sep = \";\"}", "input",
        flag="input-option", metavar="KEY=VALUE")
    max_sentence_length: int = _opt(10_000, "cut longer sentences into pieces of this many words", "input")
    # Vocabulary
    min_count: int = _opt(5, "ignore words seen fewer times than this (0 and 1 keep every word)", "vocabulary")
    max_vocab_size: int | None = _opt(None, "keep only the N most frequent words", "vocabulary")
    # Model and training
    vector_size: int = _opt(100, "dimensions of the word vectors", "training")
    sg: bool = _opt(True, "skip-gram", "training", negated="cbow", negated_help="continuous bag of words (CBOW)")
    window: int = _opt(5, "maximum distance between a word and its context words", "training")
    negative: int = _opt(5, "negative samples per training example", "training")
    ns_exponent: float = _opt(0.75, "exponent of the negative-sampling distribution count**x", "training")
    sample: float = _opt(1e-3, "subsampling threshold for frequent words (0 disables)", "training")
    alpha: float | None = _opt(None, "initial learning rate (default 0.025 skip-gram, 0.05 CBOW)", "training")
    min_alpha: float = _opt(1e-4, "final learning rate, reached linearly at the end of the run", "training")
    epochs: int = _opt(5, "passes over the corpus", "training")
    seed: int = _opt(1, "random seed; same seed, partitions, concurrent shards and input files give the "
                     "same vectors", "training")
    batch_words: int | None = _opt(
        None, "corpus words per vectorised kernel chunk (default: 2048 skip-gram, 1024 CBOW); skip-gram takes "
        "one step per window width in it, CBOW one step", "training")
    negative_group: int | None = _opt(
        None, "centres that share one draw of negatives, at most one per 128 vocabulary words (default: 1 "
        "skip-gram, each centre drawing its own as word2vec.c; 16 CBOW); sharing reads and writes far fewer "
        "output rows per centre", "training")
    negative_draws: int | None = _opt(
        None, "negatives per shared draw, each weighted negative / negative_draws "
        "(default: max(negative, 8) skip-gram, max(negative, negative_group) CBOW; negative when "
        "negative_group is 1)", "training")
    # Distribution
    num_partitions: int | None = _opt(
        None, "corpus shards (default: Spark's default parallelism); at most concurrent_shards of them "
        "train at once", "distribution")
    syncs_per_epoch: int | None = _opt(
        None, "times per epoch the driver combines the shards' models (default: chosen from the shards trained "
        "at once by the strategy and the combine rule; stratified rounds it to a multiple of the sub-epochs per "
        f"round: the shards, or half of them from {SHARE_OUTPUT_FROM} shards at once)",
        "distribution")
    concurrent_shards: int | None = _opt(
        None, "shards trained at the same time and averaged together (default: Spark's default parallelism, "
        "at most num_partitions); with more partitions, each task trains several shards as one sequence in "
        "corpus order",
        "distribution")
    partition_alpha_scale: float | None = _opt(
        None, "multiply each shard's learning rate by this to make up for averaging "
        "(default: min(shards trained at once, 4); stratified CBOW: 1)", "distribution")
    strategy: str = _opt(
        "auto", "how shards trained at once share the model: 'stratified' deals the rows into one block per "
        "task and trains disjoint blocks at once, nothing averaged (from "
        f"{SHARE_OUTPUT_FROM} shards: one output block "
        "per two tasks, their changes added; which rows: owned_rows); "
        "'average' trains copies and merges them by --combine; 'auto' (default): "
        f"stratified from {STRATIFIED_FROM} shards at once, average below", "distribution")
    owned_rows: str = _opt(
        "auto", "which rows a stratified task owns: 'output' (the output matrix's; each task trains its own "
        "text, and every task's changes to the input rows are summed after each sub-epoch; CBOW's only layout), "
        "'both' (skip-gram only: both matrices', the text's (context, centre) pairs sent to the owner of their "
        "input row); 'auto' (default): skip-gram 'both', CBOW 'output'. Skip-gram owning output rows kept more "
        "of one shard's WordSim-353 on Brown at 3-24 shards but less on Brown repeated 3 times, and trains "
        "slower", "distribution")
    combine: str = _opt("spread", "how shards' updates merge: 'spread' (default) weights each row by its "
                        "update counts and trains each word's input row at a rate raised by the number of "
                        "shards the word is spread over, syncing more often as shards grow; 'mean' weights by "
                        "update counts, one sync per epoch; 'rescaled' multiplies a row's mean update by "
                        "(shards that touched it) / partition_alpha_scale; 'sum' adds the updates "
                        "(averaging only: stratified training sums the input rows' changes when it owns output rows "
                        "only, and combines nothing when it owns both)",
                        "distribution")
    block_exchange: str = _opt(
        "auto", "how stratified tasks exchange rows between sub-epochs: 'direct' runs a group of sub-epochs (owning "
        "output rows only: an epoch) as one barrier stage whose tasks send their blocks or changes to each other "
        "over TCP, unencrypted (needs a task slot per shard, no dynamic allocation and none of Spark's encryption); "
        "'shuffle' runs a Spark shuffle (owning output rows only: a Spark job) per sub-epoch; 'auto' "
        "(default): direct when the session can run every shard at once, shuffle otherwise, and shuffle (the epoch "
        "started over) once a task cannot connect to another or to the driver. Same vectors either way",
        "distribution")
    # Output
    output: str | None = _opt(None, "model path: each run publishes OUTPUT/versions/NNNNNN/", "output")
    overwrite: bool = _opt(False, "publish a new version of an existing --output", "output", negated="no-overwrite",
                           negated_help="refuse an existing --output, also over a config file's overwrite = true")
    keep_versions: int = _opt(3, "published versions of --output to keep; older ones are deleted", "output")
    resume: bool = _opt(False, "continue from the last epoch checkpoint of an interrupted run "
                        "with the same --output and settings", "output", negated="no-resume",
                        negated_help="start from the first epoch, also over a config file's resume = true")
    checkpoint_interval: float = _opt(
        60.0, "seconds: checkpoint after an epoch once this long has passed since the last checkpoint "
        "(0: after every epoch)", "output")
    save_counts: bool = _opt(True, "also write every word's count, rare words included, as a counts/ table "
                             "with the model, so that continuing it (--from-model, stream) can grow the "
                             "vocabulary from words below min_count", "output", negated="no-save-counts",
                             negated_help="write no counts/ table")
    keep_checkpoints: bool = _opt(False, "keep the epoch checkpoint under OUTPUT/_staging after "
                                  "publishing", "output", negated="no-keep-checkpoints",
                                  negated_help="remove the checkpoint after publishing, also over a config "
                                               "file's keep_checkpoints = true")
    # Continuation (train --from-model, stream)
    from_model: str | None = _opt(
        None, "model path to continue: start from its vectors and word counts; the vocabulary grows "
        "with the new input's counts, new words entering at min_count", "continuation")
    continue_alpha: float | None = _opt(
        None, "learning rate at the start of each continued run or stream batch, decaying linearly to "
        "min_alpha over its epochs (default: alpha / 4)", "continuation")

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_options", reader_options("input_options", self.input_options))

    @property
    def input_column(self) -> str:
        """The column training reads: ``tokens_column`` when given, else ``text_column``."""
        return self.tokens_column or self.text_column

    @property
    def effective_batch_words(self) -> int:
        if self.batch_words is not None:
            return self.batch_words
        return 2048 if self.sg else 1024

    @property
    def effective_negative_group(self) -> int:
        """Centres per shared draw of negatives: CBOW shares by default (a faster kernel at nearly
        the same scores), skip-gram does not (it cost analogy accuracy); BENCHMARKS.md has both."""
        if self.negative_group is not None:
            return self.negative_group
        return 1 if self.sg else 16

    def strategy_for(self, shards: int) -> str:
        """'average' or 'stratified', for ``shards`` trained at once."""
        if self.strategy != "auto":
            return self.strategy
        return "stratified" if shards >= STRATIFIED_FROM else "average"

    @property
    def effective_owned_rows(self) -> str:
        """'output' or 'both': the rows a stratified task owns."""
        if self.owned_rows != "auto":
            return self.owned_rows
        return "both" if self.sg else "output"

    @property
    def effective_alpha(self) -> float:
        return self.alpha if self.alpha is not None else default_alpha(self.sg)

    def negative_draws_for(self, group: int) -> int:
        """Negatives per shared draw when ``group`` centres share it (``negative_draws`` if set)."""
        if self.negative_draws is not None:
            return self.negative_draws
        # CBOW: fewer draws than centres in a group cost analogy accuracy (BENCHMARKS.md); a
        # skip-gram group scores many contexts per centre, so 8 draws serve it.
        return max(self.negative, min(8, group) if self.sg else group)

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def validate(self, require_io: bool = True) -> "TrainConfig":
        """Check every value; raise :class:`ConfigError` naming the first bad one (a
        :class:`ConfigTypeError` when it is of the wrong type). ``require_io``: input and output
        must be given (the CLI's run; the estimator's ``fit`` reads a DataFrame)."""
        self._check_kinds()
        self._check_training()
        self._check_input(require_io)
        return self

    def _check_kinds(self) -> None:
        """Each field's type, and the ranges of the counts and rates."""
        for name, type_name in _FIELD_TYPES.items():  # the kinds the checks below do not cover
            value, optional = getattr(self, name), type_name.endswith(" | None")
            if value is None and optional:
                continue
            if type_name.startswith("str"):
                allowed = "must be a non-empty string" + (" (or unset)" if optional else "")
                _typed(isinstance(value, str), name, value, allowed)
                _need(value != "", name, value, allowed)
            elif type_name == "bool":
                _typed(isinstance(value, bool), name, value, "must be True or False")
        for name in ("vector_size", "window", "epochs", "max_sentence_length", "keep_versions", "negative"):
            _integer(name, getattr(self, name), 1)
        for name in ("min_count", "seed"):
            _integer(name, getattr(self, name), 0)
        for name in ("max_vocab_size", "num_partitions", "syncs_per_epoch", "batch_words", "concurrent_shards",
                     "negative_group", "negative_draws"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), 1)
        for name in ("sample", "ns_exponent", "min_alpha", "checkpoint_interval"):
            _need(_number(name, getattr(self, name), "must be a number >= 0") >= 0, name, getattr(self, name),
                  "must be a number >= 0")
        for name in ("alpha", "continue_alpha"):
            value = getattr(self, name)
            if value is not None:
                _need(0 < _number(name, value, "must be a number in (0, 1]") <= 1, name, value,
                      "must be a number in (0, 1]")
        if self.partition_alpha_scale is not None:
            _need(_number("partition_alpha_scale", self.partition_alpha_scale, "must be a number > 0") > 0,
                  "partition_alpha_scale", self.partition_alpha_scale, "must be a number > 0")

    def _check_training(self) -> None:
        """The training settings' values and how they combine."""
        _need(self.sample < 1, "sample", self.sample, "must be below 1 (typical: 1e-3 to 1e-5, 0 disables)")
        _need(self.window < 2 ** 31 - 1, "window", self.window,
              "must be below 2^31 - 1 (a window beyond the longest sentence trains as that sentence's length)")
        _need(self.negative <= MAX_NEGATIVE, "negative", self.negative,
              f"must be at most {MAX_NEGATIVE} (word2vec uses 5-20; each costs a step as much as the positive)")
        _need(math.isfinite(self.min_alpha), "min_alpha", self.min_alpha, "must be a finite number")
        _need(self.ns_exponent <= MAX_NS_EXPONENT, "ns_exponent", self.ns_exponent,
              f"must be a number in [0, {MAX_NS_EXPONENT}] (0.75: word2vec's; 1: by frequency; 0: uniform)")
        _need(self.min_alpha <= self.effective_alpha, "min_alpha", self.min_alpha,
              f"must not exceed alpha ({self.effective_alpha})")
        _need(self.input_format in INPUT_FORMATS, "input_format", self.input_format,
              f"must be one of {', '.join(INPUT_FORMATS)}")
        if self.token_pattern is not None:
            try:
                compiled = re.compile(self.token_pattern)
            except re.error as exc:
                raise ConfigError.invalid("token_pattern", self.token_pattern,
                                          f"not a regular expression ({exc})") from None
            _need(self.token_pattern != "" and not re.fullmatch(self.token_pattern, ""), "token_pattern",
                  self.token_pattern, "must not match the empty string")
            _need(compiled.groups == 0, "token_pattern", self.token_pattern,
                  "must not have capturing groups (they would become tokens); write (?:...) instead")
        _need(not (self.resume and self.from_model), "resume", self.resume,
              "cannot be combined with --from-model: a continued run is not checkpointed. Before running it "
              "again, check that it published no new version (OUTPUT/LATEST, 'continued_from' in its metadata), "
              "or the same text is trained twice")
        _need(self.combine in COMBINE_RULES, "combine", self.combine, f"must be one of {', '.join(COMBINE_RULES)}")
        _need(self.strategy in STRATEGIES, "strategy", self.strategy, f"must be one of {', '.join(STRATEGIES)}")
        _need(self.block_exchange in BLOCK_EXCHANGES, "block_exchange", self.block_exchange,
              f"must be one of {', '.join(BLOCK_EXCHANGES)}")
        _need(self.owned_rows in OWNED_ROWS, "owned_rows", self.owned_rows, f"must be one of {', '.join(OWNED_ROWS)}")
        _need(self.sg or self.owned_rows != "both", "owned_rows", self.owned_rows,
              "CBOW owns output rows only (a CBOW centre reads input rows from every block): use 'output' or 'auto'")

    def _check_input(self, require_io: bool) -> None:
        """The input's columns and reader options; with ``require_io``, that input and output are given."""
        _need(self.tokens_column is None or self.text_column == "text", "text_column", self.text_column,
              f"give it or {setting('tokens_column')}, not both (the tokens column is used as it is, and the "
              "text column would be ignored)")
        if require_io and self.input is not None and self.input_format == "text":
            # A text file's lines are the text: a column option would be ignored without a word.
            _need(self.tokens_column is None, "tokens_column", self.tokens_column,
                  "applies to --input-format parquet/orc/json/csv and --input-table, not to text files")
            _need(self.text_column == "text", "text_column", self.text_column,
                  "applies to --input-format parquet/orc/json/csv and --input-table, not to text files")
        _need(self.input_format != "text" or not _encoding_given(self.input_options), "input_options",
              _options_text(self.input_options), TEXT_ENCODING)
        _need(not (self.input_options and self.input_table), "input_options", _options_text(self.input_options),
              f"applies to files read with {setting('input')}; a catalog table ({setting('input_table')}) is read "
              "with its own options")
        if require_io:
            if self.input is None and self.input_table is None:
                raise ConfigError("no input given: give --input PATH (text files, or a table with "
                                  "--input-format) or --input-table NAME" + ("" if self.output else ", and --output PATH"))
            _need(self.input is None or self.input_table is None, "input", self.input,
                  "give exactly one of --input PATH or --input-table NAME, not both")
            if not self.output:
                raise ConfigError("no output given: give --output PATH for the vector table")

    # -- building from other sources ---------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "configuration") -> "TrainConfig":
        """Build from a dict (TOML table, JSON metadata); unknown keys are an error."""
        known = set(cls.field_names())
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) in {source}: {', '.join(unknown)}; "
                              f"known settings are: {', '.join(sorted(known))}")
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        clean = {}
        for key, value in values.items():
            clean[key] = _coerce(key, value, types[key], source)
        return cls(**clean)

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        """Read a TOML file of ``name = value`` lines (tables, if any, are flattened)."""
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            # A byte-order mark (Windows editors write one) is not TOML, but says nothing wrong.
            data = tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); TOML files are UTF-8") \
                from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        flat: dict[str, Any] = {}
        where: dict[str, str] = {}  # each setting's table, to name both places of one given twice
        def is_table(key: str, value: Any) -> bool:
            return isinstance(value, dict) and key not in OPTION_FIELDS
        for table, values in [("", {k: v for k, v in data.items() if not is_table(k, v)}),
                              *[(k, v) for k, v in data.items() if is_table(k, v)]]:
            for key, value in values.items():
                if key in flat:
                    places = " and ".join(f"[{t}]" if t else "the top level" for t in (where[key], table))
                    raise ConfigError(f"config file {path} sets {key} twice ({places}); keep one")
                flat[key], where[key] = value, table
        return cls.from_mapping(flat, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def persisted(self) -> dict[str, Any]:
        """The settings as metadata.json, checkpoints and pyspark's Params hold them: JSON values,
        reader options as ``[key, value]`` lists (:meth:`from_mapping` reads them back)."""
        return json.loads(json.dumps(self.to_dict()))


#: pyspark.ml.feature.Word2Vec's parameter names and the TrainConfig field each one is another
#: name for: ``Word2Vec(vectorSize=50)`` sets ``vector_size``. ``seed`` is spelled the same in both;
#: MLlib's ``inputCol`` is an array<string> column (``Word2Vec.fit`` tokenizes a string column given
#: there as text). Unset values take TrainConfig's defaults, not MLlib's.
MLLIB_ALIASES: dict[str, str] = {
    "inputCol": "tokens_column", "vectorSize": "vector_size", "minCount": "min_count", "windowSize": "window",
    "maxIter": "epochs", "stepSize": "alpha", "numPartitions": "num_partitions",
    "maxSentenceLength": "max_sentence_length",
}

#: How messages name a setting: ``False`` (the Python API) as TrainConfig and MLlib do
#: (``min_count (minCount)``), ``True`` while the CLI runs a command (``--min-count``).
_FLAG_NAMES = False


def setting(field: str) -> str:
    """How a message names TrainConfig field ``field`` to its reader: the flag under the CLI,
    else the field's name with its MLlib alias, if it has one."""
    if _FLAG_NAMES:
        return flag_of(field)
    alias = next((a for a, f in MLLIB_ALIASES.items() if f == field), None)
    return f"{field} ({alias})" if alias else field


def option_setting(field: str, key: str, value: str) -> str:
    """How a message writes one reader option of ``field`` (``input_options``): as the flag under
    the CLI (``--input-option sep=;``), else as the Python setting (``input_options={'sep': ';'}``)."""
    if _FLAG_NAMES:
        return f"{flag_of(field)} {key}={value}"
    return f"{field}={{{key!r}: {value!r}}}"


def flag_of(field: str) -> str:
    """The CLI flag of a TrainConfig or StreamConfig field: ``--min-count``; ``--input-option``
    for ``input_options`` (one option per flag)."""
    for cls in (TrainConfig, StreamConfig):
        spec = cls.__dataclass_fields__.get(field)
        if spec is not None and "flag" in spec.metadata:
            return "--" + spec.metadata["flag"]
    return "--" + field.replace("_", "-")


#: Fields holding reader options: a TOML table of them is the setting's value, not a section.
OPTION_FIELDS = ("input_options", "source_options")


def reader_options(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``value`` (a mapping, or pairs, or ``KEY=VALUE`` strings) as Spark reader options: (key, value)
    string pairs in the order given. Values are written as Spark's ``option()`` writes them (``True``
    as ``true``); Spark's option keys ignore case, so of two keys differing in case the later is kept."""
    if value is None:
        return ()
    items = list(value.items()) if isinstance(value, Mapping) else None
    if items is None:
        try:
            items = [item.split("=", 1) if isinstance(item, str) else tuple(item)
                     for item in ([value] if isinstance(value, str) else value)]
        except TypeError:
            items = None
    allowed = "must be reader options: KEY=VALUE strings, or a mapping of names to strings, numbers or booleans"
    if items is None or any(len(item) != 2 for item in items):
        raise ConfigError.invalid(name, value, allowed)
    options: dict[str, tuple[str, str]] = {}
    for key, text in items:
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, (int, float)):
            text = str(text)
        if not (isinstance(key, str) and key.strip() and isinstance(text, str)):
            raise ConfigError.invalid(name, value, allowed)
        key = key.strip()
        if key.lower() == "linesep":   # typed in a shell, "\n" is two characters; Spark takes them literally
            text = text.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t")
        options.pop(key.lower(), None)
        options[key.lower()] = (key, text)
    return tuple(options.values())


#: Why an encoding option is refused for text files.
TEXT_ENCODING = ("Spark's text reader reads UTF-8 only and would ignore an encoding; convert the files to UTF-8 "
                 "(iconv -f latin1 -t utf-8)")


def has_option(options: tuple[tuple[str, str], ...], *names: str) -> bool:
    """Whether reader ``options`` set any of ``names`` (Spark's option keys ignore case)."""
    return any(key.lower() in {n.lower() for n in names} for key, _ in options)


def _encoding_given(options: tuple[tuple[str, str], ...]) -> bool:
    return has_option(options, "encoding", "charset")


def _options_text(options: tuple[tuple[str, str], ...]) -> str:
    return " ".join(f"{k}={v}" for k, v in options)


def naming_flags() -> bool:
    """Whether messages name settings as the CLI's flags (inside :func:`settings_named_as_flags`)."""
    return _FLAG_NAMES


@contextlib.contextmanager
def settings_named_as_flags() -> Iterator[None]:
    """Within the block, messages name settings as the CLI's flags (:func:`setting`)."""
    global _FLAG_NAMES
    before, _FLAG_NAMES = _FLAG_NAMES, True
    try:
        yield
    finally:
        _FLAG_NAMES = before


#: TrainConfig fields that name a static input or a batch run's output handling: ``stream``
#: replaces them with its own settings (it always adds versions and has its own checkpoint).
NOT_STREAM_FIELDS = ("input", "input_table", "input_format", "input_options", "overwrite", "resume", "checkpoint_interval",
                     "keep_checkpoints", "save_counts")  # a stream always keeps its running counts
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str) -> float:
    """Seconds in a duration like ``10m``, ``30s``, ``1.5h``, ``500ms`` or ``90`` (seconds)."""
    match = _DURATION.fullmatch(str(text))
    if not match:
        raise ConfigError(f"invalid duration {text!r}: write a number with a unit, e.g. 30s, 10m, 1h")
    return float(match.group(1)) * _SECONDS[match.group(2)]


@dataclass(frozen=True)
class StreamConfig:
    """Settings of ``sparkw2v stream`` besides the training ones (flags are generated from these)."""

    source: str | None = _opt(None, "landing folder (or glob) that new files arrive in", "stream")
    format: str = _opt("text", f"format of the source files: one of {', '.join(INPUT_FORMATS)}", "stream")
    checkpoint: str | None = _opt(
        None, "Structured Streaming checkpoint folder: which files were processed, which batch is next",
        "stream")
    trigger_interval: str | None = _opt(
        None, "start a batch this often, e.g. 10m (default: as soon as new files land and the previous "
        "batch is done)", "stream")
    available_now: bool = _opt(False, "process every file that has landed, then stop (for scheduled jobs)",
                               "stream")
    max_files_per_trigger: int | None = _opt(
        None, "at most this many new files per batch (default: all that have landed)", "stream")
    source_options: tuple[tuple[str, str], ...] = _opt(
        (), "Spark reader option for the source files as KEY=VALUE, one per flag (repeat it), as "
        "--input-option for train", "stream", flag="source-option", metavar="KEY=VALUE")

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_options", reader_options("source_options", self.source_options))

    def validate(self) -> "StreamConfig":
        """Check every value; raise :class:`ConfigError` naming the first bad one."""
        if not self.source:
            raise ConfigError("give --source PATH: the folder new files land in")
        if not self.checkpoint:
            raise ConfigError("give --checkpoint PATH: where the stream records its progress")
        _need(self.format in INPUT_FORMATS, "format", self.format, f"must be one of {', '.join(INPUT_FORMATS)}")
        if self.format == "text" and _encoding_given(self.source_options):
            raise ConfigError.invalid("source_options", _options_text(self.source_options), TEXT_ENCODING)
        if self.available_now and self.trigger_interval is not None:
            raise ConfigError("give --available-now or --trigger-interval, not both")
        if self.trigger_interval is not None and parse_duration(self.trigger_interval) <= 0:
            raise ConfigError.invalid("trigger_interval", self.trigger_interval, "must be above zero")
        if self.max_files_per_trigger is not None:
            _integer("max_files_per_trigger", self.max_files_per_trigger, 1)
            allowed = "must be an integer from 1 to 2147483647 (Spark reads it as a Java int)"
            _need(self.max_files_per_trigger <= 2**31 - 1, "max_files_per_trigger", self.max_files_per_trigger,
                  allowed)
        return self


def unsigned_seed(seed: Any) -> Any:
    """MLlib's ``seed`` as sparkw2v reads it: a negative Java long (MLlib's default is a hash of its
    class name) as its 64 bits unsigned, since sparkw2v's seeds are >= 0; anything else as it is."""
    if isinstance(seed, int) and not isinstance(seed, bool) and seed < 0:
        return seed + 2 ** 64
    return seed


def convert_number(name: str, value: Any) -> Any:
    """``value`` for field ``name`` as pyspark.ml's type converters pass it: a whole float or a
    NumPy integer becomes an ``int`` for an integer field, any real number (NumPy's too) a
    ``float`` for a float field, a NumPy bool (or 0 and 1, as gensim's ``sg=1``) a ``bool``.
    Anything else is returned as it is, for :meth:`TrainConfig.validate` to judge."""
    base = _FIELD_TYPES.get(name, "").replace(" | None", "")
    if isinstance(value, (bool, np.bool_)):
        return bool(value) if base == "bool" else value
    if base == "bool" and isinstance(value, (int, np.integer)) and value in (0, 1):  # gensim's sg=1
        return bool(value)
    if base == "int" and isinstance(value, np.integer):
        return int(value)
    if base == "int" and isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if base == "float" and isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value


def _coerce(key: str, value: Any, type_name: str, source: str) -> Any:
    """Convert TOML/JSON values to the field's type, rejecting values of the wrong kind."""
    if value is None:
        return None
    base = type_name.replace(" | None", "")
    if base == "bool":
        if isinstance(value, bool):
            return value
    elif base == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif base == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif base == "str":
        if isinstance(value, str):
            return value
    elif key in OPTION_FIELDS:
        return value   # checked and normalised by reader_options
    raise ConfigTypeError(f"invalid {key}={value!r} in {source}: expected {base}")


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
