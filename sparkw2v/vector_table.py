"""The on-disk model: versions of Parquet vector tables plus JSON metadata.

Layout of a model path ``OUTPUT``::

    OUTPUT/versions/000001/           one complete model per published version
        vectors/          word string, count bigint, vector array<float>  (the word vectors)
        vocab/            word string, count bigint, id int               (row order of the matrices)
        output_vectors/   id int, vector array<float>                     (negative-sampling weights,
                                                                           kept so training can continue)
        metadata.json     parameters, corpus sizes, per-epoch history, versions
    OUTPUT/LATEST                      the newest version's number (a hint for other tools)
    OUTPUT/_staging/                   work in progress: the next version, epoch checkpoints

Publishing is atomic: a version is written under ``_staging`` and renamed into
``versions/`` only once complete, so a reader resolving ``OUTPUT`` sees the
previous complete version or the new one, never a mix, and a run killed at any
moment leaves every published version intact. Readers take the version named
by ``LATEST`` if it is complete, else the newest complete one. A directory that
holds ``metadata.json`` itself (a single version) is read as it is.

Everything is written through Spark and the Hadoop FileSystem API, so any
filesystem Spark can write (local, HDFS, S3, ABFS, GCS) works.
Nothing here unpickles anything: loading reads Parquet and JSON only.
"""

from __future__ import annotations

import functools
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
VERSIONS, LATEST, STAGING, CHECKPOINT = "versions", "LATEST", "_staging", "checkpoint"
#: Scores recorded for a published version by ``sparkw2v evaluate --record``.
EVALUATION = "evaluation.json"
#: Published versions kept by default; older ones are deleted after a successful publish.
KEEP_VERSIONS = 3


class OutputExistsError(FileExistsError):
    """The output path exists and ``overwrite`` was not given."""


# -- Hadoop filesystem helpers ---------------------------------------------------------------

class _FS:
    """The few Hadoop FileSystem calls we need, on the filesystem of ``path``."""

    def __init__(self, spark: SparkSession, path: str):
        jvm = spark._jvm
        self._jvm = jvm
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

    def mkdirs(self, path: str) -> None:
        self.fs.mkdirs(self.p(path))

    def list_names(self, path: str) -> list[str]:
        """Names of the entries of directory ``path`` ([] if it does not exist)."""
        if not self.exists(path):
            return []
        return [str(status.getPath().getName()) for status in self.fs.listStatus(self.p(path))]

    def read_text(self, path: str) -> str:
        stream = self.fs.open(self.p(path))
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()

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


def published_versions(spark: SparkSession, path: str) -> list[int]:
    """Numbers of the complete versions under ``path``, oldest first."""
    fs = _FS(spark, path)
    root = f"{_strip_slash(path)}/{VERSIONS}"
    found = []
    for name in fs.list_names(root):
        if name.isdigit() and fs.exists(f"{root}/{name}/{METADATA}"):
            found.append(int(name))
    return sorted(found)


def version_path(path: str, version: int) -> str:
    return f"{_strip_slash(path)}/{VERSIONS}/{version:06d}"


def resolve(spark: SparkSession, path: str) -> str:
    """The directory holding the model to read at ``path``: itself or its current version."""
    path = _strip_slash(path)
    fs = _FS(spark, path)
    if fs.exists(f"{path}/{METADATA}"):
        return path
    versions = published_versions(spark, path)
    if not versions:
        raise FileNotFoundError(f"{path} is not a sparkw2v model: it has no {METADATA} and no "
                                f"complete version under {VERSIONS}/")
    hinted = None
    try:
        text = fs.read_text(f"{path}/{LATEST}").strip() if fs.exists(f"{path}/{LATEST}") else ""
        hinted = int(text) if text.isdigit() else None
    except Exception:  # unreadable pointer (e.g. a checksum error): the newest version decides
        pass
    return version_path(path, hinted if hinted in versions else versions[-1])


def check_output(spark: SparkSession, path: str, overwrite: bool) -> None:
    """Fail before any work if ``path`` holds a model and may not be replaced, or holds something else."""
    path = _strip_slash(path)
    fs = _FS(spark, path)
    if not fs.exists(path):
        return
    if fs.exists(f"{path}/{METADATA}"):
        raise OutputExistsError(f"output {path} is a single-version model directory; new versions "
                                "cannot be published into it: choose another --output")
    names = {n for n in fs.list_names(path) if not n.startswith(".")}  # .crc files of local filesystems
    if names - {VERSIONS, LATEST, STAGING}:
        raise OutputExistsError(f"output {path} exists and is not a sparkw2v model directory "
                                f"(it holds {', '.join(sorted(names)[:5])}); choose another --output")
    if published_versions(spark, path) and not overwrite:
        raise OutputExistsError(f"output {path} already exists; pass --overwrite to publish a new "
                                "version of it or choose another --output")


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
    if not chunks:  # an empty model (a stream whose words are all below min_count so far)
        chunks.append(pa.array([], type=pa.list_(pa.float32())))
    return pa.chunked_array(chunks, type=pa.list_(pa.float32()))


def write_parquet(spark: SparkSession, table: pa.Table, rows_per_file: int, path: str) -> None:
    """Write ``table`` as the Parquet directory ``path`` with Spark's writer, one task per file of
    at most ``rows_per_file`` rows.

    The rows reach the writing tasks by broadcast, each task taking its own slice
    (:func:`sparkw2v.executor.table_slice`): ``spark.createDataFrame`` of an Arrow table
    would put the rows inside the tasks themselves ("task of very large size") and need
    a shuffle to size the files.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    from . import executor

    files = max(1, -(-table.num_rows // rows_per_file))
    table_bc = spark.sparkContext.broadcast(table)
    try:
        rows = functools.partial(executor.table_slice, table_bc=table_bc, rows=-(-table.num_rows // files))
        (spark.range(files, numPartitions=files).mapInArrow(rows, from_arrow_schema(table.schema))
         .write.parquet(path))
    finally:
        table_bc.destroy()


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
                metadata: dict, overwrite: bool = False, keep_versions: int = KEEP_VERSIONS) -> str:
    """Publish a complete model as the next version of ``path``; returns the version's full path.

    The version is written under ``path/_staging`` and renamed into
    ``path/versions/`` in one step once complete; then ``LATEST`` is updated and
    versions beyond the newest ``keep_versions`` are deleted.
    """
    path = _strip_slash(path)
    fs = _FS(spark, path)
    check_output(spark, path, overwrite)
    existing = published_versions(spark, path)
    version = (existing[-1] if existing else 0) + 1
    staging = f"{path}/{STAGING}/version-{uuid.uuid4().hex[:8]}"
    try:
        write_tables(spark, staging, vocab, w_in, w_out)
        meta = {**metadata, "format_version": FORMAT_VERSION, "version": version,
                "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "vocab_size": len(vocab), "vector_size": int(w_in.shape[1]), "versions": versions()}
        fs.write_text(f"{staging}/{METADATA}", json.dumps(meta, indent=2, sort_keys=True, default=_json))
        fs.mkdirs(f"{path}/{VERSIONS}")
        target = version_path(path, version)
        if fs.exists(target):
            raise OSError(f"version {version} of {path} appeared while writing: another run is "
                          "publishing to the same output")
        fs.rename(staging, target)  # the commit point
    except BaseException:
        if fs.exists(staging):
            fs.delete(staging)
        drop_empty_staging(fs, path)
        raise
    _point_latest(fs, path, version)
    for old in published_versions(spark, path)[:-max(1, keep_versions)]:
        fs.delete(version_path(path, old))
    drop_empty_staging(fs, path)
    return fs.qualified(version_path(path, version))


def record_evaluation(spark: SparkSession, location: str, scores: dict) -> str:
    """Store ``scores`` with the version at ``location`` as ``evaluation.json``; returns its path.

    metadata.json is never rewritten (a version stays complete whatever happens);
    :func:`read_metadata` adds the file's content under ``evaluation``.
    """
    fs = _FS(spark, location)
    target = f"{location}/{EVALUATION}"
    tmp = f"{location}/.{EVALUATION}-{uuid.uuid4().hex[:8]}"
    fs.write_text(tmp, json.dumps(scores, indent=2, sort_keys=True, default=_json))
    if fs.exists(target):
        fs.delete(target)
    fs.rename(tmp, target)
    return fs.qualified(target)


def write_tables(spark: SparkSession, directory: str, vocab: Vocabulary, w_in: np.ndarray,
                 w_out: np.ndarray) -> None:
    """The three Parquet tables of a model (or checkpoint) into ``directory``."""
    rows_per_file = max(1, (128 << 20) // (4 * w_in.shape[1] + 32))
    words = pa.array(vocab.words, type=pa.string())
    counts = pa.array(vocab.counts, type=pa.int64())
    ids = pa.array(np.arange(len(vocab), dtype=np.int32))
    write_parquet(spark, pa.table({"word": words, "count": counts, "vector": vector_column(w_in)}),
                  rows_per_file, f"{directory}/{VECTORS}")
    write_parquet(spark, pa.table({"word": words, "count": counts, "id": ids}), 1 << 22, f"{directory}/{VOCAB}")
    write_parquet(spark, pa.table({"id": ids, "vector": vector_column(w_out)}),
                  rows_per_file, f"{directory}/{OUTPUT_VECTORS}")


def drop_empty_staging(fs: _FS, path: str) -> None:
    """Remove ``path/_staging`` once nothing (no checkpoint, no other writer's version) is in it."""
    if not [n for n in fs.list_names(f"{path}/{STAGING}") if not n.startswith(".")]:
        fs.delete(f"{path}/{STAGING}")


def _point_latest(fs: _FS, path: str, version: int) -> None:
    """Make ``LATEST`` name ``version``. Not atomic on every filesystem, and need not be:
    readers that find it missing or stale fall back to the newest complete version."""
    tmp = f"{path}/{STAGING}/LATEST-{uuid.uuid4().hex[:8]}"
    fs.write_text(tmp, f"{version}\n")
    if fs.exists(f"{path}/{LATEST}"):
        fs.delete(f"{path}/{LATEST}")
    fs.rename(tmp, f"{path}/{LATEST}")


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
    directory = resolve(spark, path)
    fs = _FS(spark, directory)
    meta = json.loads(fs.read_text(f"{directory}/{METADATA}"))
    if fs.exists(f"{directory}/{EVALUATION}"):  # recorded after publishing: newer than metadata.json's
        meta["evaluation"] = json.loads(fs.read_text(f"{directory}/{EVALUATION}"))
    return meta


def read_vectors_frame(spark: SparkSession, path: str) -> DataFrame:
    """The ``vectors`` table of a model as a DataFrame (word, count, vector)."""
    return spark.read.parquet(f"{resolve(spark, path)}/{VECTORS}")


def read_model(spark: SparkSession, path: str, with_output: bool = True) -> LoadedModel:
    """Load a model written by :func:`write_model` (its current version) into driver memory."""
    path = resolve(spark, path)
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
