"""The on-disk model: Parquet vector tables plus a JSON metadata file.

Layout of a model directory::

    vectors/          word string, count bigint, vector array<float>  (the word vectors)
    vocab/            word string, count bigint, id int               (row order of the matrices)
    output_vectors/   id int, vector array<float>                     (negative-sampling weights,
                                                                       kept so training can continue)
    metadata.json     parameters, corpus sizes, per-epoch history, versions

Everything is written through Spark and the Hadoop FileSystem API, so any
filesystem Spark can write (local, HDFS, S3, ABFS, GCS) works. A model is
written to a staging sibling and moved into place only once complete.
Nothing here unpickles anything: loading reads Parquet and JSON only.
"""

from __future__ import annotations

import json
import platform
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from .vectors import WordVectors
from .vocabulary import Vocabulary

FORMAT_VERSION = 1
VECTORS, VOCAB, OUTPUT_VECTORS, METADATA = "vectors", "vocab", "output_vectors", "metadata.json"


class OutputExistsError(FileExistsError):
    """The output path exists and ``overwrite`` was not given."""


# -- Hadoop filesystem helpers ---------------------------------------------------------------

class _FS:
    """The few Hadoop FileSystem calls we need, on the filesystem of ``path``."""

    def __init__(self, spark: SparkSession, path: str):
        jvm = spark._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self.path = self._Path(path)
        self.fs = self.path.getFileSystem(spark._jsc.hadoopConfiguration())

    def p(self, path: str):
        return self._Path(path)

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self.p(path)))

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self.p(src), self.p(dst)):
            raise OSError(f"could not move {src} to {dst}")

    def delete(self, path: str) -> None:
        self.fs.delete(self.p(path), True)

    def write_text(self, path: str, text: str) -> None:
        out = self.fs.create(self.p(path), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def qualified(self, path: str) -> str:
        return str(self.fs.makeQualified(self.p(path)).toString())


def _strip_slash(path: str) -> str:
    return path.rstrip("/") or path


def check_output(spark: SparkSession, path: str, overwrite: bool) -> None:
    """Fail before any work if ``path`` exists and may not be replaced."""
    if not overwrite and _FS(spark, path).exists(path):
        raise OutputExistsError(f"output {path} already exists; pass --overwrite to replace it "
                                "or choose another --output")


# -- writing ---------------------------------------------------------------------------------

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
    return pa.chunked_array(chunks, type=pa.list_(pa.float32()))


def _frame(spark: SparkSession, table: pa.Table, rows_per_file: int) -> DataFrame:
    frame = spark.createDataFrame(table)
    return frame.repartition(max(1, -(-table.num_rows // rows_per_file)))


def versions() -> dict:
    """Versions of the libraries that produced a model."""
    import pyspark

    from . import __version__
    found = {"sparkw2v": __version__, "python": platform.python_version(), "numpy": np.__version__,
             "pyarrow": pa.__version__, "pyspark": pyspark.__version__}
    try:
        import scipy
        found["scipy"] = scipy.__version__
    except ImportError:
        pass
    return found


def write_model(spark: SparkSession, path: str, vocab: Vocabulary, w_in: np.ndarray, w_out: np.ndarray,
                metadata: dict, overwrite: bool = False) -> str:
    """Write a complete model to ``path`` atomically (staging sibling, then rename)."""
    path = _strip_slash(path)
    fs = _FS(spark, path)
    check_output(spark, path, overwrite)
    staging = f"{path}.staging-{uuid.uuid4().hex[:8]}"
    rows_per_file = max(1, (128 << 20) // (4 * w_in.shape[1] + 32))
    words = pa.array(vocab.words, type=pa.string())
    counts = pa.array(vocab.counts, type=pa.int64())
    ids = pa.array(np.arange(len(vocab), dtype=np.int32))
    try:
        _frame(spark, pa.table({"word": words, "count": counts, "vector": vector_column(w_in)}),
               rows_per_file).write.parquet(f"{staging}/{VECTORS}")
        _frame(spark, pa.table({"word": words, "count": counts, "id": ids}),
               1 << 22).write.parquet(f"{staging}/{VOCAB}")
        _frame(spark, pa.table({"id": ids, "vector": vector_column(w_out)}),
               rows_per_file).write.parquet(f"{staging}/{OUTPUT_VECTORS}")
        meta = {"format_version": FORMAT_VERSION, "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "vocab_size": len(vocab), "vector_size": int(w_in.shape[1]), "versions": versions(),
                **metadata}
        fs.write_text(f"{staging}/{METADATA}", json.dumps(meta, indent=2, sort_keys=True, default=_json))
        _publish(fs, staging, path)
    except BaseException:
        if fs.exists(staging):
            fs.delete(staging)
        raise
    return fs.qualified(path)


def _publish(fs: _FS, staging: str, path: str) -> None:
    """Move a complete staging directory to ``path``, replacing what was there last."""
    if fs.exists(path):
        previous = f"{path}.previous-{uuid.uuid4().hex[:8]}"
        fs.rename(path, previous)
        try:
            fs.rename(staging, path)
        except BaseException:
            fs.rename(previous, path)
            raise
        fs.delete(previous)
    else:
        fs.rename(staging, path)


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- reading ---------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    vocab: Vocabulary
    w_in: np.ndarray
    w_out: np.ndarray | None
    metadata: dict


def _matrix(column: pa.ChunkedArray, dim: int | None = None) -> np.ndarray:
    """A list<float> column as an (n, d) float32 matrix, chunk by chunk (no 2**31 limit)."""
    n = len(column)
    parts = [chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
             for chunk in column.chunks]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if n and flat.size % n:
        raise ValueError(f"vectors have different lengths ({flat.size} values for {n} rows)")
    return flat.reshape(n, (flat.size // n) if n else (dim or 0))


def read_metadata(spark: SparkSession, path: str) -> dict:
    """A model's metadata.json; FileNotFoundError if ``path`` is not a model directory."""
    location = f"{_strip_slash(path)}/{METADATA}"
    if not _FS(spark, location).exists(location):
        raise FileNotFoundError(f"{path} is not a sparkw2v model: {location} does not exist")
    return json.loads(spark.read.text(location, wholetext=True).first()[0])


def read_vectors_frame(spark: SparkSession, path: str) -> DataFrame:
    """The ``vectors`` table of a model as a DataFrame (word, count, vector)."""
    return spark.read.parquet(f"{_strip_slash(path)}/{VECTORS}")


def read_model(spark: SparkSession, path: str, with_output: bool = True) -> LoadedModel:
    """Load a model written by :func:`write_model` into driver memory."""
    path = _strip_slash(path)
    meta = read_metadata(spark, path)
    table = read_vectors_frame(spark, path).toArrow()
    order = np.lexsort((np.array(table.column("word").to_pylist(), dtype=object).astype(str),
                        -table.column("count").to_numpy()))
    table = table.take(pa.array(order))
    words = tuple(table.column("word").to_pylist())
    counts = table.column("count").to_numpy().astype(np.int64)
    vocab = Vocabulary(words, counts, corpus_words=int(meta.get("corpus_words", counts.sum())),
                       distinct_words=int(meta.get("distinct_words", len(words))))
    w_in = _matrix(table.column("vector"), meta.get("vector_size"))
    w_out = None
    if with_output and _FS(spark, path).exists(f"{path}/{OUTPUT_VECTORS}"):
        out = spark.read.parquet(f"{path}/{OUTPUT_VECTORS}").toArrow()
        out = out.take(pa.array(np.argsort(out.column("id").to_numpy())))
        # vectors are sorted by (count desc, word), which is the id order written.
        w_out = _matrix(out.column("vector"), w_in.shape[1])
    return LoadedModel(vocab, w_in, w_out, meta)


def to_word_vectors(model: LoadedModel) -> WordVectors:
    return WordVectors(model.vocab.words, model.w_in, model.vocab.counts)
