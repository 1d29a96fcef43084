"""Driver side of the corpus: read the input, count words, encode shards.

The input becomes a DataFrame of one column, text (string) or tokens
(array<string>). With the default tokenizer, Arrow kernels inside ``mapInArrow``
split each partition into chunks of local word ids and count its words
(:func:`tokenized_input`); Spark SQL adds up the partitions' counts, and encoding
maps each chunk's distinct words to vocabulary ids. Inside
:meth:`CorpusInput.tokens_kept` the tokenized input is cached, so the text is read
and split once for both. A custom ``token_pattern`` runs the Python tokenizer of
:mod:`sparkw2v.tokenizer` instead. Either way the encoded corpus is an RDD of
compact int32 records, one shard per partition, cached for all epochs.
"""

from __future__ import annotations

import functools
import logging
import operator
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import RDD, StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from . import executor
from .errors import UserError, first_line
from .filesystem import hidden
from .config import ConfigError, TrainConfig, has_option, naming_flags, option_setting, setting
from .session import cleaning_up, release_broadcast
from .tokenizer import TokenizerSpec
from .vocabulary import Vocabulary

log = logging.getLogger("sparkw2v")


class InputError(UserError, ValueError):
    """The input cannot be trained on; the message says why and what to do."""


@dataclass(frozen=True)
class CorpusInput:
    """The input as one column of text or tokens."""

    frame: DataFrame
    pretokenized: bool
    #: Read from text files, which have no null rows.
    text_files: bool = False
    #: Tokenized inputs cached by :meth:`tokens_kept`, by tokenizer; None outside that block.
    _kept: dict = field(default_factory=lambda: {"frames": None}, compare=False, repr=False)

    def values(self) -> RDD:
        return self.frame.rdd.map(operator.itemgetter(0))

    @contextmanager
    def tokens_kept(self) -> Iterator[None]:
        """Within this block the input is read and tokenized once: counting caches the
        tokenized input (:func:`tokenized_input`) and encoding reuses it, then drops it once the
        shards are cached. Whatever is still cached when the block ends is dropped."""
        self._kept["frames"] = {}
        try:
            yield
        finally:
            frames, self._kept["frames"] = self._kept["frames"], None
            for frame in frames.values():
                frame.unpersist()

    def _drop_tokens(self, spec: TokenizerSpec) -> None:
        frames = self._kept["frames"]
        if frames and spec in frames:
            frames.pop(spec).unpersist()


def read_input(spark: SparkSession, cfg: TrainConfig) -> CorpusInput:
    """Open ``cfg.input`` (files) or ``cfg.input_table`` (catalog) as a :class:`CorpusInput`."""
    if cfg.input_table is not None:
        try:
            frame = spark.table(cfg.input_table)
        except Exception as exc:  # AnalysisException: table not found
            hint = ""
            if "TABLE_OR_VIEW_NOT_FOUND" in str(exc) and \
                    spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
                hint = " (a Hive metastore's table needs --conf spark.sql.catalogImplementation=hive)"
            raise InputError(f"cannot read table {cfg.input_table!r}: {first_line(exc)}{hint}") from None
        return select_column(frame, cfg)
    if cfg.input is None:
        raise ConfigError("give exactly one of --input PATH or --input-table NAME")
    check_input_path(spark, cfg.input, cfg.input_format, cfg.input_options)
    try:
        reader = spark.read.format(cfg.input_format).options(**reader_defaults(cfg.input_format))
        if cfg.input_format == "text":
            # A directory's subdirectories too (a data lake's year/month/ folders), as check_input_path
            # looked at them; names starting with "." or "_" are skipped at every level.
            reader = reader.option("recursiveFileLookup", "true")
        frame = reader.options(**dict(cfg.input_options)).load(cfg.input)
        if cfg.input_format == "text":
            return CorpusInput(frame.select(frame.columns[0]), pretokenized=False, text_files=True)
    except Exception as exc:  # path not found, unreadable, wrong format
        reason = first_line(exc)
        if "infer schema" in reason.lower() and not has_option(cfg.input_options, "recursiveFileLookup"):
            reason += (f" (files in subfolders that are not key=value partitions are read with "
                       f"{option_setting('input_options', 'recursiveFileLookup', 'true')})")
        raise InputError(f"cannot read {cfg.input_format} input {cfg.input!r}{_with_options(cfg)}: {reason}") from None
    if cfg.input_format == "json" and "_corrupt_record" in frame.columns:
        _warn_json_skipped(cfg)
    if cfg.input_format == "csv" and column_named(frame, cfg.input_column) is None:
        _refuse_csv_columns(frame, cfg)
    return select_column(frame, cfg)


def _warn_json_skipped(cfg: TrainConfig) -> None:
    """Spark skipped JSON records it could not parse (``_corrupt_record``): say which reader
    options read them, for the usual causes."""
    encoding = f"{option_setting('input_options', 'encoding', 'ISO-8859-1')} (or its encoding) with " \
               f"{option_setting('input_options', 'lineSep', chr(92) + 'n')}"
    if has_option(cfg.input_options, "multiLine"):
        log.warning("input %r holds files that are not one JSON value (an array or an object) each, or not "
                    "UTF-8; they are skipped. Files of several objects (JSON Lines) are read without "
                    "multiLine; text in another encoding needs %s", cfg.input, encoding)
    else:
        log.warning("input %r holds lines that are not JSON objects; they are skipped. JSON input is read as "
                    "JSON Lines, one object per line: a file holding one JSON array (or one object over "
                    "several lines) needs %s; text in another encoding needs %s; pretty-printed objects one "
                    "after another need rewriting one per line (jq -c . FILE)", cfg.input,
                    option_setting("input_options", "multiLine", "true"), encoding)


def _refuse_csv_columns(frame: DataFrame, cfg: TrainConfig) -> None:
    """The CSV input lacks the text (or tokens) column: say why, for the usual causes (another
    separator, UTF-16, no header)."""
    if any("\x00" in c for c in frame.columns):   # UTF-16 read as UTF-8: every other byte is NUL
        raise InputError(f"input {cfg.input!r} has a header of NUL bytes: its CSV files look UTF-16 encoded; "
                         f"read them with {option_setting('input_options', 'encoding', 'UTF-16')}")
    header = frame.columns[0] if len(frame.columns) == 1 else ""
    sep = next((ch for ch in (";", "\t", "|") if ch in header), None)
    if sep is not None:   # one column named like a whole header line: another separator
        typed = "\\t" if sep == "\t" else sep   # as it is typed (Spark's CSV reader reads \t as a tab)
        raise InputError(f"input has one column, {header!r}: are its fields separated by {typed!r}? Read it "
                         f"with {option_setting('input_options', 'sep', typed)}")
    columns = ", ".join(c for c in frame.columns if c) or "none (no header, or empty files)"
    raise InputError(f"input has no column {cfg.input_column!r}; its columns are: "
                     f"{columns}: a CSV file needs a header row naming its columns "
                     f"(choose the text column with {setting('text_column')})")


def reader_defaults(input_format: str) -> dict[str, str]:
    """sparkw2v's own reader options for files of ``input_format`` (train's and stream's; the
    user's reader options override them): CSV has a header row, and its quoted fields may hold
    line breaks (exported text often does): read line by line, their continuation lines would
    become rows of their own, and their words lost. Each file's header is checked against the
    columns read (Spark's default reads later files by position: a file listing its columns in
    another order would train on another column)."""
    return {"header": "true", "multiLine": "true", "enforceSchema": "false"} if input_format == "csv" else {}


def _with_options(cfg: TrainConfig) -> str:
    return (" with " + ", ".join(f"{k}={v}" for k, v in cfg.input_options)) if cfg.input_options else ""


def check_input_path(spark: SparkSession, path: str, input_format: str,
                     options: tuple[tuple[str, str], ...] = ()) -> None:
    """Fail in one line (before Spark logs its own warnings) if ``path`` matches nothing, lies
    inside or matches a sparkw2v model directory (training on a model's files is never meant), or,
    read as text, holds Parquet or ORC files. Files the reader ``options``' ``pathGlobFilter``
    leaves out are not looked at, as Spark does not read them."""
    from .filesystem import HadoopFS
    from .layout import model_containing

    fs = HadoopFS(spark, path)
    glob = re.search(r"[*?\[{]", path)
    try:
        matches = fs.fs.globStatus(fs.p(path))
    except Exception as exc:  # a malformed pattern, an unreachable filesystem
        raise InputError(f"cannot read {input_format} input {path!r}: {first_line(exc)}") from None
    if matches is None or len(matches) == 0:
        # A relative path (one a config file gives, say) is read from where the command runs.
        where = (f" (relative paths are read from the current directory, {os.getcwd()})"
                 if not os.path.isabs(path) and ":" not in path and str(fs.fs.getScheme()) == "file" else "")
        raise InputError(f"cannot read {input_format} input {path!r}: "
                         f"{'no file matches it' if glob else 'path does not exist'}{where}")
    fixed = path[:glob.start()].rsplit("/", 1)[0] if glob else path  # the part that is not a pattern
    model = model_containing(spark, fixed or ".")
    if model is not None:
        raise InputError(f"input {path!r} is inside the sparkw2v model directory {model}: training on a "
                         "model's own files is refused; give the text files as --input")
    as_text = input_format == "text"
    _check_hidden_files(path, [s for s in list(matches)[:MAX_CHECKED] if not s.isDirectory()])
    files = []  # read as text: the matched files, and those under matched directories, as read_input reads them
    listed = 0  # directories of a table input listed for files Spark leaves out
    for status in list(matches)[:MAX_CHECKED]:
        if status.isDirectory():
            if glob:  # a pattern that matches a model's directory (dir/* beside dir/model)
                model = model_containing(spark, str(status.getPath().toString()))
                if model is not None:
                    raise InputError(f"input {path!r} matches the sparkw2v model directory {model}: training on "
                                     "a model's own files is refused; narrow the pattern to the text files")
            if as_text:
                files += _files_under(fs, status.getPath(), MAX_CHECKED)
            elif listed < LAYOUT_CHECKED and not has_option(options, "recursiveFileLookup"):
                listed += 1
                _warn_unread_files(fs, status.getPath())
        elif as_text:
            files.append(status)
    kept = next((value for key, value in options if key.lower() == "pathglobfilter"), None)
    if kept is not None and files:   # Spark's own filter (Hadoop's GlobFilter), on file names
        accept = spark.sparkContext._jvm.org.apache.hadoop.fs.GlobFilter(kept)
        every = len(files)
        files = [f for f in files if accept.accept(f.getPath())]
        if not files:
            raise InputError(f"input {path!r}: {option_setting('input_options', 'pathGlobFilter', kept)} matches "
                             f"none of its {every:,} files{'' if every < MAX_CHECKED else ' looked at'}")
    names = [str(f.getPath().getName()) for f in files]
    tabular = next(((n, kind) for n in names if (kind := n.lower().rsplit(".", 1)[-1]) in TABULAR_SUFFIXES), None)
    if tabular is not None:
        name, kind = tabular
        raise InputError(f"input {path!r} holds {kind} files ({name}), which read as text are binary noise: "
                         f"pass --input-format {kind} (and --text-column or --tokens-column), or give the text files")
    archive = next((n for n in names if n.lower().endswith(ARCHIVE_SUFFIXES) and not hidden(n)), None)
    if archive is not None:
        raise InputError(f"input {path!r} holds the tar archive {archive}: read as text its file headers would be "
                         "trained as words; extract it and give the files")
    visible = [str(f.getPath().toString()) for f, n in zip(files, names) if not hidden(n)]
    if as_text and len(visible) <= SNIFFED_FILES:
        check_text_files(fs, visible, f"input {path!r}")


def _check_hidden_files(path: str, files: list) -> None:
    """Spark skips files whose names start with "." or "_" even when named: refuse an input of
    only such files, and name those a pattern matched beside others (writers' bookkeeping files,
    such as ``_SUCCESS`` and checksums, aside)."""
    names = [str(f.getPath().getName()) for f in files]
    skipped = [n for n in names if hidden(n) and not n.endswith(".crc") and not n.startswith(BOOKKEEPING)]
    if not skipped:
        return
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5:,} more" if len(skipped) > 5 else "")
    if len(skipped) == len(names):
        raise InputError(f"input {path!r}: Spark skips files whose names start with '.' or '_' ({shown}), even "
                         "when named; rename them to train on them")
    log.warning("input %r: %d matched file%s skipped, as Spark skips names starting with '.' or '_': %s",
                path, len(skipped), " is" if len(skipped) == 1 else "s are", shown)


def _warn_unread_files(fs, directory) -> None:
    """Warn about files a table reader leaves out of ``directory`` without recursive file lookup:
    those in subfolders that are not key=value partitions, when files lie beside them, and files
    lying beside key=value partition folders."""
    children = [c for c in fs.fs.listStatus(directory)[:MAX_CHECKED]
                if not hidden(str(c.getPath().getName()))]
    folders = [str(c.getPath().getName()) for c in children if c.isDirectory()]
    loose = [str(c.getPath().getName()) for c in children if not c.isDirectory()]
    if not (folders and loose):
        return
    partitions = [f for f in folders if "=" in f]
    plain = [f for f in folders if "=" not in f]
    option = option_setting("input_options", "recursiveFileLookup", "true")
    if plain:
        log.warning("%s holds files and subfolders (%s): the files in the subfolders are not read; read them "
                    "with %s", directory.toString(), ", ".join(p + "/" for p in plain[:5]), option)
    if partitions:
        log.warning("%s holds files (%s) beside key=value partition folders (%s): the files beside them are not "
                    "read; read every file with %s", directory.toString(), ", ".join(loose[:3]),
                    ", ".join(p + "/" for p in partitions[:3]), option)


def _files_under(fs, directory, limit: int) -> list:
    """Up to ``limit`` files under ``directory`` (a Hadoop Path), subdirectories included, leaving
    out names that start with "." or "_" at any level, as Spark's recursive file lookup does."""
    found, pending = [], [directory]
    while pending and len(found) < limit:
        for child in fs.fs.listStatus(pending.pop()):
            if hidden(str(child.getPath().getName())):
                continue
            if child.isDirectory():
                pending.append(child.getPath())
            else:
                found.append(child)
    return found[:limit]


def check_text_files(fs, files: list[str], what: str) -> None:
    """Refuse text input holding a compressed file whose name does not tell Spark to
    decompress it: read as text it is byte noise (one such file among text files is too few of
    the words for :func:`check_decoded` to notice). ``fs``: a :class:`~sparkw2v.filesystem.HadoopFS`."""
    for file in files:
        try:
            kind = binary_file(fs, file)
        except Exception as exc:   # Hadoop cannot open it: a ':' in its name, no permission
            hint = "; Hadoop paths cannot hold ':' in a file name: rename it" if ":" in file.rsplit("/", 1)[-1] else ""
            raise InputError(f"cannot read input file {file}: {first_line(exc)}{hint}") from None
        if kind is not None:
            decompressible = any(endings for _, named, endings in MAGIC_BYTES if named == kind)
            fix = ("give it the extension that tells Spark to decompress it (.gz, .bz2, .zst), or move it out of "
                   "the input" if decompressible else "move it out of the input, or leave it out with the reader "
                   "option pathGlobFilter (a pattern of the file names to read)")
            raise InputError(f"{what}: {file} is {kind}, and read as text its bytes would be trained as words; "
                             f"{fix}. Nothing was trained")


#: Files read as text that are surely not text: refused unless --input-format names their format.
TABULAR_SUFFIXES = ("parquet", "orc")
#: Names of the files writers leave beside their data (Spark's, Hadoop's, Parquet's).
BOOKKEEPING = ("_SUCCESS", "_committed_", "_started_", "_metadata", "_common_metadata", "_temporary")
#: Archives of several files, which Spark's text reader reads as one stream, headers and all.
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.zst")
#: The first bytes of compressed files (none of them can start a UTF-8 text), what they are, and
#: the file-name endings with which Spark decompresses them while reading text (none: never).
MAGIC_BYTES = ((re.compile(b"\\x1f\\x8b"), "gzip-compressed", (".gz",)),
               (re.compile(b"BZh[1-9]1AY&SY"), "bzip2-compressed", (".bz2",)),
               (re.compile(b"\\x28\\xb5\\x2f\\xfd"), "zstd-compressed", (".zst", ".zstd")),
               (re.compile(b"\\xfd7zXZ\\x00"), "xz-compressed", ()),
               (re.compile(b"PK\\x03\\x04"), "a zip archive", ()))
#: Matched paths, and files per matched directory, that check_input_path looks at.
MAX_CHECKED = 10_000
#: Matched directories of a table input listed for files Spark would leave out (one listing
#: each: a pattern over thousands of partition folders on S3 is not listed folder by folder).
LAYOUT_CHECKED = 8
#: Text inputs of at most this many files have each file's first bytes read (one open per file)
#: to find compressed files under text names; larger inputs rely on check_decoded.
SNIFFED_FILES = 64
#: Bytes read from the start of each sniffed file.
SNIFFED_BYTES = 4096


def binary_file(fs, path: str) -> str | None:
    """What ``path`` is, if its first bytes say it is compressed and its name does not make Spark
    decompress it while reading text, or it holds a NUL byte in its first :data:`SNIFFED_BYTES`
    (text never does) (``fs``: a :class:`~sparkw2v.filesystem.HadoopFS`)."""
    head = fs.read_head(path, SNIFFED_BYTES)
    name = path.lower()
    for magic, kind, endings in MAGIC_BYTES:
        if magic.match(head):
            return None if endings and name.endswith(endings) else kind
    return "binary (it holds NUL bytes)" if b"\x00" in head else None


#: Lines of a Spark error that say why reading a file failed (damaged or truncated files).
_READ_CAUSE = re.compile(r"(java\.io\.EOFException|java\.util\.zip\.ZipException|"
                         r"java\.io\.IOException|org\.apache\.parquet\.[\w.]+Exception)[^\n]*")
_READ_FILE = re.compile(r"(?:reading|read) file (\S+?)\.?(?:\s|$)")


@contextmanager
def reading_input(what: str) -> Iterator[None]:
    """Turn a Spark job's failure to read an input file (a truncated .gz, a damaged Parquet
    file) into one :class:`InputError` naming the file; other errors pass unchanged."""
    try:
        yield
    except Exception as exc:
        text = str(exc)
        cause = _READ_CAUSE.search(text)
        where = _READ_FILE.search(text)
        name = where.group(1) if where else what
        if cause is not None and ("FAILED_READ_FILE" in text or "EOFException" in text or "ZipException" in text):
            raise InputError(f"cannot read input file {name}: it is damaged or truncated "
                             f"({cause.group(0).strip()[:200]})") from None
        if "FAILED_READ_FILE" not in text:
            raise
        reason = _root_cause(text)   # the reader refused the file: a header or record the options reject
        hint = (": the CSV files of one input need the same columns in the same order"
                if "CSV header does not conform" in reason else "")
        raise InputError(f"cannot read input file {name}: {reason[:400]}{hint}") from None


def _root_cause(text: str) -> str:
    """The message of the last ``Caused by:`` of a Java trace, its continuation lines joined."""
    start = text.rfind("Caused by: ")
    if start < 0:
        return first_line(Exception(text))
    lines = text[start + len("Caused by: "):].splitlines()
    taken = [lines[0].split(": ", 1)[-1]]
    for line in lines[1:]:
        if line.startswith("\t") or not line.strip():
            break
        taken.append(line.strip())
    return " ".join(" ".join(taken).split())


def select_column(frame: DataFrame, cfg: TrainConfig) -> CorpusInput:
    """Pick the text or token column of a DataFrame, checking it exists and has the right type; it
    is named ``text`` or ``tokens`` from here on (a dot in its own name breaks pyspark's Arrow maps)."""
    name = column_named(frame, cfg.input_column)
    fields = {f.name: f for f in frame.schema.fields}
    if name is None:
        choose = setting("tokens_column") if cfg.tokens_column else (
            f"{setting('text_column')} for a column of text, or {setting('tokens_column')} for one of tokens")
        raise InputError(f"input has no column {cfg.input_column!r}; its columns are: "
                         f"{', '.join(fields) or 'none'} (choose one with {choose})")
    dtype = fields[name].dataType
    if cfg.tokens_column:
        if not (isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.StringType)):
            raise InputError(f"column {name!r} is {dtype.simpleString()}, but {setting('tokens_column')} needs "
                             "array<string>" + ("" if naming_flags() else " (or string, which is tokenized)"))
        return CorpusInput(frame.select(column_ref(name).alias("tokens")), pretokenized=True)
    if not isinstance(dtype, T.StringType):
        hint = f" (use {setting('tokens_column')} for array<string>)" if isinstance(dtype, T.ArrayType) else \
            (" (Parquet text stored as bytes without a string annotation reads as string with the Spark "
             "setting spark.sql.parquet.binaryAsString=true)") if isinstance(dtype, T.BinaryType) else ""
        raise InputError(f"column {name!r} is {dtype.simpleString()}, but the text column must be "
                         f"string{hint}")
    return CorpusInput(frame.select(column_ref(name).alias("text")), pretokenized=False)


def column_named(frame: DataFrame, name: str) -> str | None:
    """The column of ``frame`` that ``name`` names as Spark resolves it: unless
    ``spark.sql.caseSensitive``, names that differ in case only are one name (two such columns
    are refused: Spark cannot tell them apart)."""
    if frame.sparkSession.conf.get("spark.sql.caseSensitive", "false").lower() == "true":
        return name if name in frame.columns else None
    same = [c for c in frame.columns if c.lower() == name.lower()]
    if len(same) > 1:
        raise InputError(f"input has columns {', '.join(map(repr, same))}, which differ in case only: Spark "
                         "tells them apart with the Spark setting spark.sql.caseSensitive=true")
    return same[0] if same else None


def column_ref(name: str):
    """Column ``name`` as it is spelled: a dot or backtick in it is part of the name, not a path."""
    return F.col("`" + name.replace("`", "``") + "`")


def arrow_tokenizable(corpus: CorpusInput, cfg: TrainConfig) -> bool:
    """Whether Arrow can tokenize ``corpus`` as the Python tokenizer would: token lists, or text
    split on whitespace (a custom ``token_pattern`` is a Python regex and needs Python)."""
    return corpus.pretokenized or cfg.token_pattern is None


#: The Spark setting under which Arrow maps exchange large strings and binaries (64-bit offsets).
LARGE_VAR_TYPES = "spark.sql.execution.arrow.useLargeVarTypes"


def large_var_types(spark: SparkSession) -> bool:
    """Whether ``spark``'s Arrow maps take and give large strings and binaries
    (:data:`LARGE_VAR_TYPES`): a ``mapInArrow`` planned now must yield those types."""
    return str(spark.conf.get(LARGE_VAR_TYPES)).strip().lower() == "true"


def spark_schema(ddl: str) -> T.StructType:
    """One of :mod:`sparkw2v.executor`'s ``*_SCHEMA`` as a Spark schema, built without Spark's SQL
    parser (whose first use in a session costs ~0.13 s)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(executor.arrow_schema(ddl))


def tokenized_input(corpus: CorpusInput, spec: TokenizerSpec) -> DataFrame:
    """``corpus`` tokenized in Arrow, rows of :data:`executor.TOKENS_SCHEMA`: per partition,
    chunks of local word ids with their distinct words, then the partition's word counts.
    Inside :meth:`CorpusInput.tokens_kept` the frame is cached (on first use) and shared."""
    frames = corpus._kept["frames"]
    if frames is not None and spec in frames:
        return frames[spec]
    task = executor.EncodeTask(spec, corpus.pretokenized, 1)
    frame = corpus.frame.mapInArrow(functools.partial(executor.tokenize_batches, task=task,
                                                      large_types=large_var_types(corpus.frame.sparkSession)),
                                    spark_schema(executor.TOKENS_SCHEMA))
    if frames is not None:
        frames[spec] = frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    return frame


def word_counts(corpus: CorpusInput, cfg: TrainConfig, arrow: bool = True) -> DataFrame | RDD:
    """Every distinct word of ``corpus`` with its count, on the cluster: a (word, count)
    DataFrame, the partitions' counts from :func:`tokenized_input` added by Spark SQL; or,
    when the tokenizer needs Python (or ``arrow=False``), an RDD of ``(word, count)`` pairs
    counted in Python."""
    spec = TokenizerSpec.from_config(cfg)
    if not (arrow and arrow_tokenizable(corpus, cfg)):
        return (corpus.values()
                .mapPartitions(functools.partial(executor.count_partition, spec=spec,
                                                 pretokenized=corpus.pretokenized))
                .reduceByKey(operator.add))
    # Each partition's counts are already summed: one reducer per task slot adds them up
    # (spark.sql.shuffle.partitions, 200 by default, would make hundreds of tiny tasks).
    reducers = max(1, corpus.frame.sparkSession.sparkContext.defaultParallelism)
    return (tokenized_input(corpus, spec)
            .where(F.col("word").isNotNull() & F.col("count").isNotNull())
            .select("word", "count")
            .repartition(reducers, "word")
            .groupBy("word").agg(F.sum("count").alias("count")))


def null_rows(corpus: CorpusInput, cfg: TrainConfig) -> int:
    """How many rows of ``corpus`` are null (no text, no tokens: they train nothing). From the
    tokenized input cached by :meth:`CorpusInput.tokens_kept` when there is one (a small job
    over the cache), else a scan of the column; a text file has none."""
    if corpus.text_files:
        return 0
    frames = corpus._kept["frames"]
    spec = TokenizerSpec.from_config(cfg)
    if arrow_tokenizable(corpus, cfg) and frames is not None and spec in frames:
        total = (frames[spec].where(F.col("word").isNull() & F.col("count").isNotNull())
                 .agg(F.sum("count")).first()[0])
    else:
        total = corpus.frame.where(F.col(corpus.frame.columns[0]).isNull()).count()
    return int(total or 0)


def warn_null_rows(nulls: int, cfg: TrainConfig) -> None:
    """Say that ``nulls`` rows (from :func:`null_rows`) train nothing, and the usual cause."""
    if not nulls:
        return
    cause = ("files written without that column (another name, an older schema) read as null there"
             if cfg.input_format != "csv" else
             "a CSV row with fewer fields than the header has none there, as when a quoted field ending in a "
             "backslash runs on into the next rows: Spark's CSV escape character is a backslash, and files that "
             f"escape quotes by doubling them (Python's csv, pandas, Excel) read right with "
             f"{option_setting('input_options', 'escape', chr(34))}")
    log.warning("%s rows are null in column %r and train nothing; %s", f"{nulls:,}",
                cfg.input_column, cause)


def build_vocabulary(corpus: CorpusInput, cfg: TrainConfig, counts: DataFrame | RDD | None = None) -> Vocabulary:
    """Count words on the cluster (or take ``counts`` from :func:`word_counts`) and keep those
    passing ``min_count``/``max_vocab_size``; only those reach the driver."""
    return count_vocabulary(corpus, cfg, counts)[0]


def count_vocabulary(corpus: CorpusInput, cfg: TrainConfig, counts: DataFrame | RDD | None = None,
                     all_words: int = 0) -> tuple[Vocabulary, pa.Table | None]:
    """:func:`build_vocabulary`, and every word's (word, count) as well when ``counts`` is a
    DataFrame whose partitions hold at most ``all_words`` words each below ``min_count`` (the
    same pass brings them to the driver, so publishing needs no job of its own); else None."""
    counts = counts if counts is not None else word_counts(corpus, cfg)
    every = None
    with reading_input(cfg.input or cfg.input_table or "the input"):
        if isinstance(counts, DataFrame):
            summarize = functools.partial(executor.summarize_count_batches, min_count=cfg.min_count,
                                          all_words=all_words, large_types=large_var_types(counts.sparkSession))
            # Plain strings whatever the session's Arrow types (``every`` becomes the saved counts table).
            table = (counts.select("word", "count").mapInArrow(summarize, spark_schema(executor.SUMMARY_SCHEMA))
                     .toArrow().cast(executor.arrow_schema(executor.SUMMARY_SCHEMA)))
            summary = table.column("word").is_null().to_numpy(zero_copy_only=False)
            totals = table.column("count").to_numpy()
            tokens = int(totals[summary].sum())
            distinct = int(table.column("distinct_words").to_numpy(zero_copy_only=False)[summary].sum())
            words = table.filter(pa.array(~summary)).select(["word", "count"])
            if all_words and words.num_rows == distinct:   # every partition sent all of its words
                every = words
            words = words.filter(pc.greater_equal(words.column("count"), cfg.min_count))
            kept = zip(words.column("word").to_pylist(), words.column("count").to_pylist())
        else:
            summaries = counts.mapPartitions(functools.partial(executor.summarize_counts,
                                                               min_count=cfg.min_count)).collect()
            tokens = sum(s[0] for s in summaries)
            distinct = sum(s[1] for s in summaries)
            kept = [pair for s in summaries for pair in s[2]]
    return Vocabulary.from_counts(kept, cfg.min_count, cfg.max_vocab_size, corpus_words=tokens,
                                  distinct_words=distinct), every


#: Share of the kept corpus words whose word holds bytes that are not UTF-8 text (read as U+FFFD)
#: or C0 control characters, from which the input is refused as not text. Compressed and
#: columnar files read as text score 0.7-0.8 (gzip, bzip2, zstd, snappy Parquet); text in
#: Latin-1 stays well below (its accented words only). C1 controls (U+0080-U+009F) are valid
#: UTF-8 and left out: text decoded twice (UTF-8 read as Latin-1, then saved) is full of them
#: and still trains one word per word.
NOT_TEXT_SHARE = 0.5
_NOT_TEXT = r"[\x{fffd}\x00-\x08\x0e-\x1f\x7f]"
_UNDECODED = r"\x{fffd}"


def _matching(words: tuple[str, ...], pattern: str) -> np.ndarray:
    return pc.match_substring_regex(pa.array(words, pa.string()), pattern).to_numpy(zero_copy_only=False)


def check_decoded(vocab: Vocabulary, cfg: TrainConfig) -> None:
    """Refuse an input that is not text (a compressed or binary file read as text trains
    nonsense without complaint); warn when some words are not UTF-8 (another encoding)."""
    if not len(vocab):
        return
    not_text = _matching(vocab.words, _NOT_TEXT)
    if not not_text.any():
        return
    share = float(vocab.counts[not_text].sum()) / float(vocab.counts.sum())
    example = _example(vocab.words[int(not_text.argmax())])
    if share >= NOT_TEXT_SHARE:
        source = cfg.input or cfg.input_table or "the input"
        hint = ("a compressed file whose name lacks its extension (.gz, .bz2, .zst), or a binary file (for Parquet "
                "or ORC give --input-format)" if cfg.input_format == "text" else "binary data")
        raise InputError(f"{source} does not look like text: {share:.0%} of its words hold bytes that are not "
                         f"UTF-8 text (e.g. {example}); is it {hint}? Text in another encoding: "
                         f"{_encoding_advice(cfg)}. Nothing was trained")
    undecoded = _matching(vocab.words, _UNDECODED)   # control characters alone say nothing of the encoding
    if undecoded.any():
        log.warning("%d vocabulary words hold bytes that are not UTF-8 (read as U+FFFD, e.g. %s): the input is "
                    "probably in another encoding; to train those words as written, %s", int(undecoded.sum()),
                    _example(vocab.words[int(undecoded.argmax())]), _encoding_advice(cfg))


#: Characters of a word a message quotes: a "word" of a line without spaces can be megabytes long.
EXAMPLE_CHARS = 40


def _example(word: str) -> str:
    """``word`` quoted for a message, its first :data:`EXAMPLE_CHARS` characters if longer."""
    if len(word) <= EXAMPLE_CHARS:
        return repr(word)
    return f"{word[:EXAMPLE_CHARS]!r}... ({len(word):,} characters)"


def _encoding_advice(cfg: TrainConfig) -> str:
    """How to read text in another encoding: CSV and JSON readers decode it themselves."""
    convert = "convert it to UTF-8 (iconv -f latin1 -t utf-8)"
    if cfg.input is not None and cfg.input_format in ("csv", "json"):
        line = f" with {option_setting('input_options', 'lineSep', chr(92) + 'n')}" if cfg.input_format == "json" else ""
        return (f"name it with {option_setting('input_options', 'encoding', 'ISO-8859-1')} (or its encoding){line}, "
                f"or {convert}")
    return convert


@dataclass
class EncodedCorpus:
    """The cached shards and how many vocabulary words each holds."""

    shards: RDD  # one partition per chain: the shards one task slot trains in turn
    shard_words: list[int]
    index_bc: object = None  # the word index the shards were encoded with; kept while they may be recomputed

    @property
    def num_shards(self) -> int:
        return len(self.shard_words)

    @property
    def num_chains(self) -> int:
        return self.shards.getNumPartitions()

    @property
    def words(self) -> int:
        return sum(self.shard_words)

    def unpersist(self) -> None:
        self.shards.unpersist()
        if self.index_bc is not None:
            release_broadcast(self.index_bc)


def encode_corpus(corpus: CorpusInput, vocab: Vocabulary, cfg: TrainConfig, num_shards: int,
                  chains: int | None = None, arrow: bool = True) -> EncodedCorpus:
    """Map every token to its id once, group records into ``num_shards`` shards, and cache them
    in ``chains`` partitions (default: one per shard), shard ``s`` in partition ``s % chains``.

    Tokens come from :func:`tokenized_input` when :func:`arrow_tokenizable` (unless
    ``arrow=False``), else from the Python tokenizer; both give the same records."""
    sc = corpus.frame.sparkSession.sparkContext
    # Shards get whole records of ~64K consecutive words: smaller, more interleaved records
    # spread each topic's words over every shard, where averaging dilutes them (BENCHMARKS.md).
    # A small corpus gets smaller records, so that every shard receives some.
    record_words = max(1, min(executor.RECORD_WORDS, -(-vocab.total_count // num_shards)))
    spec = TokenizerSpec.from_config(cfg)
    task = executor.EncodeTask(spec, corpus.pretokenized, num_shards, record_words)
    tokens = None
    if not (arrow and arrow_tokenizable(corpus, cfg)):
        index_bc = sc.broadcast(vocab.index())
        records = corpus.values().mapPartitionsWithIndex(
            functools.partial(executor.encode_partition, task=task, word_index_bc=index_bc))
    else:  # tokenized and looked up in Arrow: no Python work per word
        index_bc = sc.broadcast(pa.array(vocab.words, type=pa.string()))
        tokens = tokenized_input(corpus, spec)
        records = (tokens.where(F.col("words").isNotNull()).select("ids", "lengths", "words")
                   .mapInArrow(functools.partial(executor.encode_token_rows, task=task, vocab_bc=index_bc,
                                                 large_types=large_var_types(tokens.sparkSession)),
                               spark_schema(executor.RECORD_SCHEMA))
                   .rdd.map(executor.record_of_row))
    shards = (records
              .repartitionAndSortWithinPartitions(chains or num_shards,
                                                  partitionFunc=functools.partial(executor.chain_of,
                                                                                  chains=chains or num_shards))
              .persist(StorageLevel.MEMORY_AND_DISK))
    encoded = EncodedCorpus(shards, [], index_bc)
    try:
        sizes = dict(shards.mapPartitions(executor.shard_sizes).collect())
    except BaseException:
        with cleaning_up("release the encoded shards"):
            encoded.unpersist()
        raise
    encoded.shard_words = [sizes.get(i, 0) for i in range(num_shards)]
    if tokens is not None:  # the shards are cached: a lost one is re-encoded from the input
        corpus._drop_tokens(spec)
    return encoded
