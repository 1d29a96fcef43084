"""Spark SQL functions over a trained vector table: ``register(spark, path_or_model, name)``.

After ``register(spark, "/models/brown")`` plain SQL can use (prefix = ``name``, default ``w2v``):

===========================================  =====================================================
``w2v_vectors``                              temp view: ``word``, ``count``, ``vector``
``w2v_vector(word)``                         ``array<float>``; NULL for NULL or unknown words
``w2v_similarity(word_a, word_b)``           ``double`` cosine; NULL if either word is NULL/unknown
``w2v_cosine(vec_a, vec_b)``                 ``double`` cosine of two numeric arrays; NULL if either
                                             is NULL, empty, holds a NULL element, or the lengths
                                             differ (rather than failing the whole query);
                                             NaN if either holds NaN or infinity
``w2v_most_similar(word[, k=10])``           table ``word``, ``similarity``: the ``k`` nearest words
``w2v_analogy(a, b, c[, k=1])``              table ``word``, ``similarity``: "a is to b as c is to ?"
===========================================  =====================================================

The answers are the ones :class:`sparkw2v.vectors.WordVectors` (``model.wv``) gives: cosine on
unit-length rows (a zero vector has similarity 0 with everything), neighbours best first, ties
to the more frequent word, query words left out (as gensim does), analogy = 3CosAdd
(``most_similar(positive=[b, c], negative=[a])``). Scores are float32 sums, as in ``WordVectors``,
and agree with it to float32 rounding (about 1e-7). The table functions return no rows for a
NULL or unknown word, a NULL ``k`` or ``k <= 0``, and every other word when ``k`` exceeds the
vocabulary; a ``k`` that is not a number (a string such as ``'abc'``, NaN, infinity) is treated
as NULL; a fractional ``k`` is rounded down. A word that is not a string (a number, an array)
is unknown. ``w2v_cosine`` of anything but two numeric arrays (strings, arrays of strings) is
NULL. Arguments are plain values, so words arrive as data, never as SQL text: use
``spark.sql(query, args={...})`` parameters for words from users. The table functions also work
per row of a query: ``... FROM queries q, LATERAL w2v_most_similar(q.word, 5) n``.

How the vectors reach the executors
-----------------------------------
Every function runs in Spark's Python workers: scalar functions are Arrow UDFs (a batch of
rows per call), table functions are Python UDTFs. Each worker process loads the table once and
keeps it in a small per-process cache (Spark reuses Python workers between tasks), keyed by
where it came from:

* **Registered from a path** (the usual case): the driver resolves the version once, checks
  the ``vectors`` files against the list, sizes and SHA-256 digests in its metadata.json (the
  JVM streams them; the driver holds none of it), and each worker reads exactly those files
  with pyarrow, checking each file's digest and the row count again as it loads them. The
  driver never holds the table, so registering a 1M-word x 100-dim model (400 MB of float32)
  costs the driver no memory, and there is no 400 MB broadcast to pickle, ship through the JVM
  and unpickle per worker. The ``w2v_vectors`` view reads the same files the same way, so the
  view and the functions always answer from one version, and a damaged file fails with a
  message naming it.
* **Pinned version.** A registration stays on the version it resolved; ``register`` again to
  read a newer one. If retention (``--keep-versions``) deletes that version, every function and
  the view fail with one message saying so (a check of the version's ``metadata.json`` per
  batch of rows, and per task for the table functions); they never answer from a deleted
  version nor fail with a bare ``FileNotFoundException``.
* **Registered from a Word2VecModel / WordVectors** object: the vectors already live in driver
  memory, so they travel as one broadcast Arrow table (word, count, vector) for the view and the
  functions; a ``Word2VecModel``'s is the one its ``transform`` uses.

Each worker holds one float32 matrix (the stored vectors, so ``w2v_vector`` returns them
exactly) plus row norms; scores are ``(M @ q) / norms``, so no second, normalised copy exists.
A query is one matrix-vector product and ``np.argpartition`` for the top ``k`` (no full sort).
Memory is per Python worker: at most one per concurrent task, so about 400 MB x task slots
for a 1M x 100 table, plus about 100 MB for the word index. Workers read the files with
pyarrow, so the path must be reachable by pyarrow from the executors (local or shared
filesystem, HDFS, S3 (``s3a://`` is read as ``s3://``), GCS), using pyarrow's credentials.
"""

from __future__ import annotations

import functools
import math
import os
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .vectors import top_k
from .vocabulary import vocabulary_order
from .worker_cache import WorkerCache

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .model import Word2VecModel
    from .vectors import WordVectors

RESULT_SCHEMA = "word string, similarity double"
#: Models a Python worker keeps loaded at once; the least recently used one is dropped.
MAX_CACHED = 2
#: Rows decoded at a time when reading vectors (buffered reads: a file is never held whole).
BATCH_ROWS = 1 << 15


# =============================================================================================
# Executor side: runs inside Python workers. Top level, closing over nothing but a VectorSource.
# =============================================================================================

@dataclass(frozen=True)
class VectorSource:
    """Where a worker finds the vectors: Parquet ``files`` or a ``broadcast`` (word, count, vector) Arrow table."""

    files: tuple[str, ...] = ()
    broadcast: Any = None
    token: str = ""  # names a broadcast: Broadcast objects in workers carry no id of their own
    digests: tuple[tuple[int, str], ...] = ()  # (bytes, sha256) of each file, from metadata.json
    rows: int | None = None  # rows the files hold together (the vocabulary size)
    marker: str = ""  # the version's metadata.json: gone once retention deleted the version
    label: str = ""  # "version N of PATH", for messages

    @property
    def key(self) -> tuple:
        return ("broadcast", self.token) if self.broadcast is not None else ("files", self.files)


class VectorTable:
    """One model inside a worker: words in row order, a word -> row dict, float32 rows, norms."""

    def __init__(self, words: list[str], matrix: np.ndarray):
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        norms = np.linalg.norm(self.matrix, axis=1)
        self.safe_norms = np.where(norms > 0, norms, np.float32(1.0)).astype(np.float32)

    def rows(self, words: pa.Array | list) -> np.ndarray:
        """Row of each word, -1 for NULL or unknown words."""
        values = words.to_pylist() if isinstance(words, (pa.Array, pa.ChunkedArray)) else words
        get = self.index.get
        return np.fromiter((get(w, -1) if isinstance(w, str) else -1 for w in values),
                           dtype=np.int64, count=len(values))

    def unit(self, row: int) -> np.ndarray:
        return self.matrix[row] / self.safe_norms[row]

    def nearest(self, positive: list[int], negative: list[int], k: int) -> list[tuple[str, float]]:
        """Top ``k`` words by cosine to the sum of unit ``positive`` minus unit ``negative`` rows,
        query rows excluded; the arithmetic of ``WordVectors.most_similar``."""
        query = np.zeros(self.matrix.shape[1], dtype=np.float32)
        for row in positive:
            query += self.unit(row)
        for row in negative:
            query -= self.unit(row)
        norm = np.linalg.norm(query)
        if norm > 0:
            query /= norm
        scores = (self.matrix @ query) / self.safe_norms
        return top_k(scores, self.words, [*positive, *negative], k)


_TABLES = WorkerCache(keys=MAX_CACHED)


class ModelReadError(Exception):
    """The registered version is gone or one of its files is damaged (raised in workers)."""


#: What ends a worker's message about a registered version that was deleted: advice to a Python
#: caller (a job registers the newest version itself, and says what to do in its own words).
REGISTER_AGAIN = "call sparkw2v.sql.register again"


def worker_message(exc: BaseException) -> str | None:
    """The one-line message of a :class:`ModelReadError` raised in a worker, from the Spark
    exception that carries it (None if it carries another error)."""
    found = re.findall(r"ModelReadError: ([^\n]+)", str(exc))
    return found[-1].strip() if found else None


def version_deleted(exc: BaseException) -> str | None:
    """What a worker said when the registered version was deleted (by retention) before or while
    the query read it, without the advice to register again; None for any other error."""
    message = worker_message(exc)
    if message is None or REGISTER_AGAIN not in message:
        return None
    return message.split(REGISTER_AGAIN, 1)[0].rstrip("; ")


def check_present(source: VectorSource) -> None:
    """Fail with one clear message if the registered version was deleted (by retention)."""
    if not source.marker:
        return
    filesystem, (path,) = _pyarrow_paths((source.marker,))
    import pyarrow.fs as pafs
    if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        raise ModelReadError(f"{source.label} was deleted (retention keeps only the newest versions); "
                             f"{REGISTER_AGAIN} to read the newest version")


def vectors_for(source: VectorSource, check: bool = True) -> VectorTable:
    """The table of ``source``, loaded once per worker process; ``check``: first make sure the
    version still exists (the table functions check once per task instead, in ``__init__``)."""
    if check:
        check_present(source)
    held = _TABLES.of(source.key)  # makes room first: never MAX_CACHED + 1 tables
    if "table" not in held:
        held["table"] = _load(source)
    return held["table"]


def _load(source: VectorSource) -> VectorTable:
    if source.broadcast is not None:
        from .tables import vector_matrix
        table = source.broadcast.value
        return VectorTable(table.column("word").to_pylist(), vector_matrix(table.column("vector")))
    return read_vector_files(source.files, source.digests, source.rows, source.label)


def read_vector_files(files: tuple[str, ...], digests: tuple[tuple[int, str], ...] = (),
                      rows: int | None = None, label: str = "") -> VectorTable:
    """Read the ``vectors`` Parquet files with pyarrow, in vocabulary order (count desc, word),
    the row order ``Word2VecModel.load`` uses, so ties break the same way. Each file is checked
    against its recorded (bytes, sha256) first, and the rows against ``rows``."""
    filesystem, paths = _pyarrow_paths(files)
    for path, recorded in zip(paths, digests):
        verify_file(filesystem, path, recorded)
    words, matrix = _read_in_vocabulary_order(filesystem, paths)
    pa.default_memory_pool().release_unused()  # the readers are gone: return their buffers now
    if rows is not None and len(words) != rows:
        raise ModelReadError(f"{label or 'the model'}: its vectors hold {len(words)} rows, but its "
                             f"metadata.json says {rows}")
    return VectorTable(words, matrix)


def verify_file(filesystem: Any, path: str, recorded: tuple[int, str]) -> None:
    """:class:`ModelReadError` naming ``path`` if it is missing, or its size or SHA-256 is not
    the ``recorded`` (bytes, sha256)."""
    import hashlib

    import pyarrow.fs as pafs

    size, digest = recorded
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise ModelReadError(f"{path} is missing (deleted by retention, or the version is incomplete); "
                             f"{REGISTER_AGAIN}")
    if info.size != size:
        raise ModelReadError(f"{path} is damaged: {info.size} bytes, but {size} were written")
    sha = hashlib.sha256()
    with filesystem.open_input_stream(path) as stream:
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
    if sha.hexdigest() != digest:
        raise ModelReadError(f"{path} is damaged: its SHA-256 differs from the one recorded when it was "
                             "published")


VIEW_SCHEMA = pa.schema([("word", pa.string()), ("count", pa.int64()), ("vector", pa.list_(pa.float32()))])


def view_batches(batches: Iterator[pa.RecordBatch], source: VectorSource) -> Iterator[pa.RecordBatch]:
    """``w2v_vectors``: the rows of the files whose indices arrive, each file checked first."""
    import pyarrow.parquet as pq

    check_present(source)
    filesystem, paths = _pyarrow_paths(source.files)
    for batch in batches:
        for i in batch.column(0).to_pylist():
            if source.digests:
                verify_file(filesystem, paths[i], source.digests[i])
            with filesystem.open_input_file(paths[i]) as f:
                for part in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS,
                                                           columns=["word", "count", "vector"]):
                    yield pa.Table.from_batches([part]).cast(VIEW_SCHEMA).combine_chunks().to_batches()[0] \
                        if part.num_rows else pa.RecordBatch.from_pylist([], schema=VIEW_SCHEMA)


def _read_in_vocabulary_order(filesystem: Any, paths: list[str]) -> tuple[list[str], np.ndarray]:
    """Words and counts first, to find each row's place; then the vectors a batch at a time,
    through a buffered reader, straight into the final matrix: the peak is little more than it."""
    import pyarrow.parquet as pq

    parts = [pq.ParquetFile(filesystem.open_input_file(p), buffer_size=1 << 20) for p in paths]
    keys = pa.concat_tables([part.read(columns=["word", "count"]) for part in parts]) if parts \
        else pa.table({"word": pa.array([], pa.string()), "count": pa.array([], pa.int64())})
    order = vocabulary_order(keys)
    words = keys.column("word").take(order).to_pylist()
    del keys
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    matrix = np.zeros((len(order), 0), dtype=np.float32)
    done = 0
    while parts:
        part = parts.pop(0)  # a reader keeps what it read: drop each one when done with it
        for batch in part.iter_batches(batch_size=BATCH_ROWS, columns=["vector"]):
            rows = batch.num_rows
            values = batch.column(0).flatten().to_numpy(zero_copy_only=False)
            if not rows:
                continue
            if done == 0:
                matrix = np.empty((len(order), values.size // rows), dtype=np.float32)
            if values.size != rows * matrix.shape[1]:
                raise ValueError(f"vectors are NULL or of different lengths in {paths}")
            matrix[place[done:done + rows]] = values.reshape(rows, -1)
            done += rows
        part.close()
        del part
        pa.default_memory_pool().release_unused()
    return words, matrix


def _pyarrow_paths(files: tuple[str, ...]) -> tuple[Any, list[str]]:
    """A pyarrow filesystem and paths for Hadoop file URIs (``file:``, ``hdfs:``, ``s3a:`` ...)."""
    import pyarrow.fs as pafs

    if not files:
        return pafs.LocalFileSystem(), []
    scheme = urlsplit(files[0]).scheme
    if scheme in ("", "file"):
        return pafs.LocalFileSystem(), [unquote(urlsplit(f).path) if urlsplit(f).scheme else f for f in files]
    rename = {"s3a": "s3", "s3n": "s3"}.get(scheme)
    uris = [rename + f[len(scheme):] if rename else f for f in files]
    filesystem, _ = pafs.FileSystem.from_uri(uris[0])
    return filesystem, [pafs.FileSystem.from_uri(u)[1] for u in uris]


def _lists(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A list column as (row ok, row length, row start, flat float64 values).

    A row is not ok if it is NULL, empty or holds a NULL element."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    numeric_list = (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) and (
        pa.types.is_integer(column.type.value_type) or pa.types.is_floating(column.type.value_type)
        or pa.types.is_decimal(column.type.value_type))
    if not numeric_list:  # NULL, strings, arrays of strings: no cosine
        return np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(0, np.float64)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy().astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = column.flatten()
    values = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False)
    ok = column.is_valid().to_numpy(zero_copy_only=False) & (lengths > 0)
    if flat.null_count:
        null_before = np.concatenate([[0], np.cumsum(flat.is_null().to_numpy(zero_copy_only=False))])
        ok &= null_before[starts + lengths] == null_before[starts]
    return ok, lengths, starts, values


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine in float32 on unit rows (a zero row gives 0), as ``WordVectors.similarity``."""
    def unit(m: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms > 0, norms, np.float32(1.0))
    return np.einsum("ij,ij->i", unit(a), unit(b))


def vector_batch(source: VectorSource, words: pa.Array) -> pa.Array:
    """``w2v_vector``: the stored vector of each word, NULL for NULL or unknown words."""
    table = vectors_for(source)
    rows = table.rows(words)
    known = rows >= 0
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(np.where(known, table.matrix.shape[1], 0), out=offsets[1:])
    values = pa.array(table.matrix[rows[known]].reshape(-1), type=pa.float32())
    return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~known))


def similarity_batch(source: VectorSource, words_a: pa.Array, words_b: pa.Array) -> pa.Array:
    """``w2v_similarity``: cosine of two words, NULL if either is NULL or unknown."""
    table = vectors_for(source)
    rows_a, rows_b = table.rows(words_a), table.rows(words_b)
    ok = (rows_a >= 0) & (rows_b >= 0)
    out = np.zeros(len(rows_a), dtype=np.float64)
    out[ok] = cosine_rows(table.matrix[rows_a[ok]], table.matrix[rows_b[ok]])
    return pa.array(out, mask=~ok)


def cosine_batch(vectors_a: pa.Array, vectors_b: pa.Array) -> pa.Array:
    """``w2v_cosine``: cosine of two arrays per row; NULL for NULL, empty, NULL-holding or
    different-length arrays, NaN for arrays holding NaN or infinity. Needs no model."""
    ok_a, len_a, start_a, values_a = _lists(vectors_a)
    ok_b, len_b, start_b, values_b = _lists(vectors_b)
    ok = ok_a & ok_b & (len_a == len_b)
    out = np.zeros(len(ok), dtype=np.float64)
    for dim in np.unique(len_a[ok]):
        sel = np.flatnonzero(ok & (len_a == dim))
        span = np.arange(dim)
        a, b = values_a[start_a[sel, None] + span], values_b[start_b[sel, None] + span]
        # In float32, as w2v_similarity, unless a row's squares would overflow or underflow there.
        wide = _beyond_float32(a) | _beyond_float32(b)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # NaN or infinity: NaN
            out[sel] = cosine_rows(a.astype(np.float32), b.astype(np.float32))
            out[sel[wide]] = cosine_rows(_scaled(a[wide]), _scaled(b[wide]))
    return pa.array(out, mask=~ok)


def _beyond_float32(rows: np.ndarray) -> np.ndarray:
    """Rows whose largest value is too large or too small for float32 squares."""
    largest = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows))
    return (largest > 1e15) | ((largest > 0) & (largest < 1e-15))


def _scaled(rows: np.ndarray) -> np.ndarray:
    """float64 rows divided by their largest absolute value (the cosine does not change)."""
    largest = np.abs(rows).max(axis=1, keepdims=True) if rows.size else np.ones((len(rows), 1))
    return rows / np.where(largest > 0, largest, 1.0)


def _count(k: Any) -> int:
    """``k`` as a whole number; 0 (no rows) for NULL, NaN, infinity and what is not a number."""
    if k is None or isinstance(k, bool):
        return 0
    try:
        value = float(k)
    except (TypeError, ValueError):
        return 0
    return int(value) if math.isfinite(value) else 0


class MostSimilarFunction:
    """UDTF ``w2v_most_similar(word, k)``; ``register`` subclasses it with a ``source``."""

    source: VectorSource

    def __init__(self) -> None:
        check_present(self.source)

    def eval(self, word: str | None, k: int | None = 10) -> Iterator[tuple[str, float]]:
        if not isinstance(word, str) or _count(k) <= 0:
            return
        table = vectors_for(self.source, check=False)
        row = table.index.get(word)
        if row is not None:
            yield from table.nearest([row], [], _count(k))


class AnalogyFunction:
    """UDTF ``w2v_analogy(a, b, c, k)``: a is to b as c is to ?, by 3CosAdd."""

    source: VectorSource

    def __init__(self) -> None:
        check_present(self.source)

    def eval(self, a: str | None, b: str | None, c: str | None, k: int | None = 1) -> Iterator[tuple[str, float]]:
        if _count(k) <= 0:
            return
        table = vectors_for(self.source, check=False)
        rows = [table.index.get(w) if isinstance(w, str) else None for w in (a, b, c)]
        if None not in rows:
            ra, rb, rc = rows
            yield from table.nearest([rb, rc], [ra], _count(k))


# =============================================================================================
# Driver side: builds the VectorSource and registers the view and functions.
# =============================================================================================

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_broadcasts: dict[tuple[int, str], Any] = {}


def _vector_udf(source: VectorSource):
    def vector(words: pa.Array) -> pa.Array:
        return vector_batch(source, words)
    return vector


def _similarity_udf(source: VectorSource):
    def similarity(words_a: pa.Array, words_b: pa.Array) -> pa.Array:
        return similarity_batch(source, words_a, words_b)
    return similarity


def _cosine(vectors_a: pa.Array, vectors_b: pa.Array) -> pa.Array:
    return cosine_batch(vectors_a, vectors_b)


def register(spark: SparkSession, path_or_model: str | os.PathLike | Word2VecModel | WordVectors,
             name: str = "w2v") -> None:
    """Make ``{name}_vectors`` and the ``{name}_*`` functions callable from SQL in ``spark``.

    ``path_or_model`` is a model path (read by the executors; see the module docstring), a
    ``Word2VecModel`` or a ``WordVectors`` (broadcast from the driver). Registering again under
    the same name replaces the earlier model. ``FileNotFoundError`` if the path is not a model.
    """
    from pyspark.sql.functions import arrow_udf, udtf

    from .session import require_classic

    require_classic(spark, "sparkw2v.sql.register")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"name must be a SQL identifier (letters, digits, _), got {name!r}")
    if isinstance(path_or_model, (str, os.PathLike)):
        if not os.fspath(path_or_model).strip():
            raise FileNotFoundError("the model path is empty: give the directory a model was published to")
        (source, frame), own = path_source(spark, os.fspath(path_or_model)), False
    else:
        source, frame, own = _broadcast_source(spark, path_or_model)
    _drop_broadcast(spark, name)
    if source.broadcast is not None and own:
        _broadcasts[(id(spark.sparkContext), name)] = source.broadcast

    frame.createOrReplaceTempView(f"{name}_vectors")
    spark.udf.register(f"{name}_vector", arrow_udf(_vector_udf(source), "array<float>"))
    spark.udf.register(f"{name}_similarity", arrow_udf(_similarity_udf(source), "double"))
    spark.udf.register(f"{name}_cosine", arrow_udf(_cosine, "double"))
    for suffix, base in (("most_similar", MostSimilarFunction), ("analogy", AnalogyFunction)):
        handler = type(f"{name}_{suffix}", (base,), {"source": source})
        spark.udtf.register(f"{name}_{suffix}", udtf(handler, returnType=RESULT_SCHEMA).asDeterministic())


def path_source(spark: SparkSession, path: str) -> tuple[VectorSource, DataFrame]:
    """The version ``path`` resolves to now, checked (file list, sizes, digests), as a source
    for the functions and, over the same files, the view."""
    from .filesystem import HadoopFS
    from .integrity import check_files, verify_tables
    from .layout import METADATA, OUTPUT_VECTORS, VECTORS, VOCAB, root_of, strip_slash
    from .vector_table import read_metadata, resolve

    directory = resolve(spark, path)  # once: the view and the functions read this version
    meta = read_metadata(spark, directory)
    verify_tables(spark, directory, meta, (VECTORS,))
    fs = HadoopFS(spark, directory)
    # The tables the view does not read, by their files and sizes: a version missing one is
    # damaged, and served here no more than Word2VecModel.load serves it.
    listed = {name.split("/", 1)[0] for name in meta.get("files") or {} if "/" in name}
    check_files(fs, directory, meta, tuple(t for t in (VOCAB, OUTPUT_VECTORS) if t in listed), digests=False)
    root = fs.uri(directory)
    names = sorted(fs.data_files(f"{directory}/{VECTORS}"))
    recorded = meta.get("files") or {}
    digests = tuple((recorded[f"{VECTORS}/{n}"]["bytes"], recorded[f"{VECTORS}/{n}"]["sha256"]) for n in names) \
        if recorded else ()
    rows = meta.get("vocab_size")
    # Named by the model path even when a version's own directory was given: that is what to register again.
    label = f"version {meta.get('version')} of {root_of(strip_slash(path)) or path}" \
        if meta.get("version") is not None else path
    source = VectorSource(files=tuple(fs.uri(f"{directory}/{VECTORS}/{n}") for n in names), digests=digests,
                          rows=int(rows) if rows is not None else None, marker=f"{root}/{METADATA}", label=label)
    indices = spark.createDataFrame([(i,) for i in range(len(names))], "file int").repartition(max(1, len(names)))
    frame = indices.mapInArrow(functools.partial(view_batches, source=source),
                               "word string, count bigint, vector array<float>")
    return source, frame


def _broadcast_source(spark: SparkSession, model: Any) -> tuple[VectorSource, DataFrame, bool]:
    """The vectors of an in-memory model as one broadcast (word, count, vector) Arrow table for
    the view and the functions; a ``Word2VecModel``'s is the one its ``transform`` uses. Also
    whether the broadcast is this registration's own (False: the model's)."""
    from .model import Word2VecModel
    from .tables import frame_of, vector_column
    from .vectors import WordVectors

    if isinstance(model, Word2VecModel):
        broadcast, token = model._broadcast_vectors(spark)
        return VectorSource(broadcast=broadcast, token=token), frame_of(spark, broadcast.value, broadcast), False
    if not isinstance(model, WordVectors):
        raise TypeError(f"register needs a model path, Word2VecModel or WordVectors, "
                        f"not {type(model).__name__}")
    counts = pa.nulls(len(model), pa.int64()) if model.counts is None else pa.array(model.counts, type=pa.int64())
    table = pa.table({"word": pa.array(model.words, type=pa.string()), "count": counts,
                      "vector": vector_column(model.vectors)})
    broadcast = spark.sparkContext.broadcast(table)
    return VectorSource(broadcast=broadcast, token=uuid.uuid4().hex), frame_of(spark, table, broadcast), True


def _drop_broadcast(spark: SparkSession, name: str) -> None:
    """Unpersist the broadcast an earlier registration under ``name`` made (executor copies)."""
    old = _broadcasts.pop((id(spark.sparkContext), name), None)
    if old is not None:
        old.unpersist()
