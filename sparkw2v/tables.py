"""Arrow tables to Parquet and back: a model's (and a checkpoint's) vectors, vocabulary and
output vectors, written as Spark's writer lays them out so that Spark SQL reads them too.

On a local filesystem the driver, which holds the matrices, writes the files itself; elsewhere
Spark's writer does, its tasks taking the rows from a broadcast (:func:`write_parquet`).
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import Broadcast
from pyspark.sql import DataFrame, SparkSession

from .errors import DamagedModelError
from .filesystem import HadoopFS, literal_reader
from .integrity import check_rows, damage_detail
from .layout import OUTPUT_VECTORS, VECTORS, VOCAB
from .session import release_broadcast
from .vocabulary import Vocabulary

#: Rows per Arrow chunk: list offsets are int32, so a chunk must hold fewer than 2**31 floats.
CHUNK_ROWS = 1 << 20


def vector_column(matrix: np.ndarray) -> pa.ChunkedArray:
    """A float32 matrix as an Arrow list<float> column, in chunks small enough for int32 offsets."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    n, d = matrix.shape
    rows = max(1, min(CHUNK_ROWS, (2**31 - 1) // max(d, 1) - 1))
    chunks = []
    for lo in range(0, n, rows):
        part = matrix[lo:lo + rows]
        offsets = pa.array(np.arange(0, (part.shape[0] + 1) * d, d, dtype=np.int32))
        chunks.append(pa.ListArray.from_arrays(offsets, pa.array(part.reshape(-1))))
    if not chunks:  # an empty model (a stream whose words are all below min_count so far)
        chunks.append(pa.array([], type=pa.list_(pa.float32())))
    return pa.chunked_array(chunks, type=pa.list_(pa.float32()))


def write_parquet(spark: SparkSession, table: pa.Table, rows_per_file: int, path: str) -> None:
    """Write ``table`` as the Parquet directory ``path``, files of at most ``rows_per_file``
    rows in order, as Spark's writer lays it out (``part-*.parquet`` files and ``_SUCCESS``).

    On a local filesystem (``file:``) the driver, which holds the table, writes the files
    with pyarrow (:func:`write_local_parquet`): a Spark job costs seconds of its own, and on
    a cluster its tasks would write to the executors' local disks. Elsewhere (HDFS, S3, ...)
    Spark's writer does (:func:`write_spark_parquet`).
    """
    rows_per_file = -(-table.num_rows // max(1, -(-table.num_rows // rows_per_file))) or 1  # even files
    fs = HadoopFS(spark, path)
    if fs.is_local(path):
        # Written beside the target, then moved in by Hadoop's local filesystem, which adds the
        # .crc checksum files its readers verify (as Spark's writer would have).
        local = unquote(urlsplit(fs.uri(path)).path)
        written = f"{local.rstrip('/')}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            write_local_parquet(table, rows_per_file, written)
            fs.move_from_local(written, path)
        finally:
            shutil.rmtree(written, ignore_errors=True)
    else:
        write_spark_parquet(spark, table, rows_per_file, path)


def write_spark_parquet(spark: SparkSession, table: pa.Table, rows_per_file: int, path: str) -> None:
    """:func:`write_parquet` with Spark's writer, one task per file. The rows reach the writing
    tasks by broadcast, each task taking its own slice (:func:`sparkw2v.executor.table_slice`):
    ``spark.createDataFrame`` of an Arrow table would put the rows inside the tasks themselves
    ("task of very large size")."""
    table_bc = spark.sparkContext.broadcast(table)
    try:
        _sliced_frame(spark, table, table_bc, rows_per_file).write.parquet(path)
    finally:
        release_broadcast(table_bc)


#: Rows per task of :func:`frame_of`.
FRAME_ROWS = 1 << 16


def frame_of(spark: SparkSession, table: pa.Table, table_bc: Broadcast | None = None) -> DataFrame:
    """An Arrow table on the driver as a DataFrame whose tasks take their rows from a broadcast,
    :data:`FRAME_ROWS` per task, where ``spark.createDataFrame`` would put the rows inside the
    tasks ("task of very large size"). ``table_bc``: ``table`` already broadcast, released by its
    owner; without it the broadcast made here lives as long as the frame's plan."""
    return _sliced_frame(spark, table, table_bc or spark.sparkContext.broadcast(table), FRAME_ROWS)


def _sliced_frame(spark: SparkSession, table: pa.Table, table_bc: Broadcast, rows_per_task: int) -> DataFrame:
    """``table`` (broadcast as ``table_bc``) as a DataFrame of ``rows_per_task`` rows per task."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from . import executor

    tasks = max(1, -(-table.num_rows // rows_per_task))
    rows = functools.partial(executor.table_slice, table_bc=table_bc, rows=rows_per_task)
    return spark.range(tasks, numPartitions=tasks).mapInArrow(rows, from_arrow_schema(table.schema))


def write_local_parquet(table: pa.Table, rows_per_file: int, directory: str) -> None:
    """:func:`write_parquet` on a local directory, which must not exist yet (as for Spark's
    writer): snappy-compressed files of ``rows_per_file`` rows, one file for an empty table."""
    os.makedirs(directory)
    files = max(1, -(-table.num_rows // rows_per_file))
    tag = uuid.uuid4().hex
    for i in range(files):
        pq.write_table(table.slice(i * rows_per_file, rows_per_file),
                       os.path.join(directory, f"part-{i:05d}-{tag}-c000.snappy.parquet"), compression="snappy")
    open(os.path.join(directory, "_SUCCESS"), "wb").close()


def write_tables(spark: SparkSession, directory: str, vocab: Vocabulary, w_in: np.ndarray,
                 w_out: np.ndarray) -> None:
    """The three Parquet tables of a model (or checkpoint) into ``directory``."""
    rows_per_file = max(1, (128 << 20) // (4 * w_in.shape[1] + 32))
    words = pa.array(vocab.words, type=pa.string())
    counts = pa.array(vocab.counts, type=pa.int64())
    ids = pa.array(np.arange(len(vocab), dtype=np.int32))
    write_parquet(spark, pa.table({"word": words, "count": counts, "vector": vector_column(w_in)}),
                  rows_per_file, f"{directory}/{VECTORS}")
    write_vocabulary(spark, directory, vocab)
    write_parquet(spark, pa.table({"id": ids, "vector": vector_column(w_out)}),
                  rows_per_file, f"{directory}/{OUTPUT_VECTORS}")


def write_vocabulary(spark: SparkSession, directory: str, vocab: Vocabulary) -> None:
    """The vocabulary table (word, count, id) of a model or checkpoint into ``directory``."""
    table = pa.table({"word": pa.array(vocab.words, type=pa.string()), "count": pa.array(vocab.counts, type=pa.int64()),
                      "id": pa.array(np.arange(len(vocab), dtype=np.int32))})
    write_parquet(spark, table, 1 << 22, f"{directory}/{VOCAB}")


def vector_matrix(column: pa.ChunkedArray, dim: int | None = None, where: str = "vectors") -> np.ndarray:
    """A list<float> column as an (n, d) float32 matrix, chunk by chunk (no 2**31 limit)."""
    n = len(column)
    parts = [chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
             for chunk in column.chunks]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if column.null_count or (n and flat.size % n) or (n and dim and flat.size != n * dim):
        raise DamagedModelError(f"{where}: vectors are NULL or of different lengths ({flat.size} values "
                                f"for {n} rows{f' of {dim}' if dim else ''})")
    return flat.reshape(n, (flat.size // n) if n else (dim or 0))


def read_table(spark: SparkSession, directory: str, table: str) -> pa.Table:
    try:
        return literal_reader(spark).parquet(f"{directory}/{table}").toArrow()
    except Exception as exc:  # unreadable Parquet (a format-1 version has no digests to find it first)
        raise DamagedModelError(f"cannot read {directory}/{table}: {damage_detail(exc)}") from None


def read_vocabulary(spark: SparkSession, path: str, meta: dict) -> Vocabulary:
    """The vocabulary table at ``path`` (of a model or checkpoint whose metadata is ``meta``), in id order."""
    table = read_table(spark, path, VOCAB)
    check_rows(path, meta, VOCAB, table.num_rows)
    return vocabulary_of(table.take(pa.array(np.argsort(table.column("id").to_numpy()))), meta)


def vocabulary_of(table: pa.Table, meta: dict) -> Vocabulary:
    """The vocabulary of ``table``'s word and count columns, in its row order; the corpus sizes
    from ``meta`` (a model's or checkpoint's metadata)."""
    counts = table.column("count").to_numpy().astype(np.int64)
    words = tuple(table.column("word").to_pylist())
    return Vocabulary(words, counts, corpus_words=int(meta.get("corpus_words", counts.sum())),
                      distinct_words=int(meta.get("distinct_words", len(words))))

