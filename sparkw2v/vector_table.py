"""The on-disk model: versions of Parquet vector tables plus JSON metadata.

Layout of a model path ``OUTPUT``::

    OUTPUT/versions/000001/           one complete model per published version
        vectors/          word string, count bigint, vector array<float>  (the word vectors)
        vocab/            word string, count bigint, id int               (row order of the matrices)
        output_vectors/   id int, vector array<float>                     (negative-sampling weights,
                                                                           kept so training can continue)
        metadata.json     parameters, corpus sizes, per-epoch history, timings, versions, the
                          Spark master and application id it was published from
        report.png        loss, words/s and learning rate against epochs (with matplotlib installed)
    OUTPUT/LATEST                      the newest version's number (passed over if left behind)
    OUTPUT/_staging/                   work in progress: the next version, epoch checkpoints
    OUTPUT/metadata/                   pyspark.ml metadata (class, uid, Params such as outputCol), as
                                       pyspark's DefaultParamsWriter lays it out, so that pyspark.ml's
                                       readers and a saved PipelineModel load OUTPUT as a stage

Publishing is atomic: a version is written under ``_staging`` and renamed into
``versions/`` only once complete, so a reader resolving ``OUTPUT`` sees the
previous complete version or the new one, never a mix, and a run killed at any
moment leaves every published version intact. Readers take the version ``LATEST``
names, unless a newer version holds every file its metadata lists (two writers, or a
writer killed between its rename and ``LATEST``, can leave the pointer behind); where a
directory rename is a copy (S3), a version still being copied, or left half copied, is
not taken. A directory that holds ``metadata.json`` itself (a single version) is read as
it is.

Publishing is also a compare-and-swap. The rename into ``versions/NNNNNN`` claims
that number: a Hadoop rename onto an existing directory moves the source inside
it instead, which the loser detects (the version's ``publish_id`` is not its own),
undoes and reports. A run that continued version N of the same path passes
``Expected(N)`` and publishes only while N is still the newest, so a
concurrent writer's version is never silently superseded by one that lacks it.

Integrity: ``metadata.json`` lists every data file of the version (``files``: path
within the version, size, SHA-256) and the row count (``vocab_size``). Every read
checks the file list (none missing, none extra), each file's size and digest, and
the row count, and fails with one line naming the file (:class:`DamagedModelError`).
Paths are literal: model paths are never globbed (``[1]`` in a path is two brackets).

Everything is written through Spark and the Hadoop FileSystem API, so any
filesystem Spark can write (local, HDFS, S3, ABFS, GCS) works.
Nothing here unpickles anything: loading reads Parquet and JSON only.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Callable
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession

from . import report
from .config import TrainConfig
from .errors import ConcurrentPublishError, DamagedModelError, StorageFullError, UserError
from .filesystem import HadoopFS, LocalFS, literal_reader, storage_full
from .session import describe_job, release_broadcast
from .vocabulary import Vocabulary, frequency_order

log = logging.getLogger("sparkw2v")

FORMAT_VERSION = 3  # 2: metadata.json lists every data file with its size and SHA-256; 3: and its own
VECTORS, VOCAB, OUTPUT_VECTORS, METADATA = "vectors", "vocab", "output_vectors", "metadata.json"
VERSIONS, LATEST, STAGING, CHECKPOINT = "versions", "LATEST", "_staging", "checkpoint"
#: Every word's count (:mod:`sparkw2v.continuation`): staged before the version is published and
#: moved into it right after, so a published version's metadata may name it under ``_staging``.
COUNTS = "counts"
#: pyspark.ml's metadata directory beside the versions (see :func:`write_ml_metadata`).
ML_METADATA = "metadata"
#: Scores recorded for a published version by ``sparkw2v evaluate --record``.
EVALUATION = "evaluation.json"
#: Published versions kept by default (``TrainConfig.keep_versions``); older ones are deleted after a
#: successful publish.
KEEP_VERSIONS = TrainConfig.keep_versions


class OutputExistsError(UserError, FileExistsError):
    """The output path exists and ``overwrite`` was not given."""


class OutputPathError(UserError, OSError):
    """The output path cannot be made (a file stands where a directory must, or no permission)."""


def _strip_slash(path: str) -> str:
    return path.rstrip("/") or path


def published_versions(spark: SparkSession, path: str) -> list[int]:
    """Numbers of the complete versions under ``path``, oldest first."""
    return _complete_versions(HadoopFS(spark, path), path)


def _complete_versions(fs: "HadoopFS | LocalFS", path: str) -> list[int]:
    root = f"{_strip_slash(path)}/{VERSIONS}"
    found = []
    for name in fs.list_names(root):
        if name.isdigit() and fs.exists(f"{root}/{name}/{METADATA}"):
            found.append(int(name))
    return sorted(found)


def same_path(spark: SparkSession, a: str, b: str) -> bool:
    """Whether two model paths name the same directory (by :func:`model_key`: a symbolic link to a
    local model is that model)."""
    return model_key(spark, a) == model_key(spark, b)


def version_path(path: str, version: int) -> str:
    return f"{_strip_slash(path)}/{VERSIONS}/{version:06d}"


def root_of(location: str) -> str | None:
    """The model path whose version ``location`` (``PATH/versions/NNNNNN``) is; None for a
    single-version directory."""
    parts = _strip_slash(location).rsplit("/", 2)
    return parts[0] if len(parts) == 3 and parts[1] == VERSIONS and parts[2].isdigit() else None


def version_of(location: str) -> int | None:
    """The number of the version at ``location`` (``PATH/versions/NNNNNN``); None if it is none."""
    return int(_strip_slash(location).rsplit("/", 1)[1]) if root_of(location) is not None else None


def model_key(spark: SparkSession, path: str) -> str:
    """``path`` qualified, without a trailing slash, and on the local filesystem with its symbolic
    links resolved: one key for every spelling of a model path."""
    path = _strip_slash(path)
    fs = HadoopFS(spark, path)
    if fs.is_local(path):
        return "file:" + os.path.realpath(unquote(urlsplit(fs.uri(path)).path))
    return fs.qualified(path)


def _filesystem(spark: SparkSession | None, path: str) -> "HadoopFS | LocalFS":
    """Hadoop's filesystem of ``path``; without ``spark``, ``path`` is local (read without Spark)."""
    return HadoopFS(spark, path) if spark is not None else LocalFS()


def resolve(spark: SparkSession | None, path: str) -> str:
    """The directory holding the model to read at ``path``: itself or its current version.
    Without ``spark``, ``path`` is a local path, read without Spark."""
    path = _strip_slash(path)
    fs = _filesystem(spark, path)
    if fs.exists(f"{path}/{METADATA}"):
        return path
    versions = _complete_versions(fs, path)
    if not versions:
        if not fs.exists(path):
            raise FileNotFoundError(f"{path} does not exist")
        raise FileNotFoundError(f"{path} is not a sparkw2v model: it has no {METADATA} and no "
                                f"complete version under {VERSIONS}/")
    hinted = None
    try:
        text = fs.read_text(f"{path}/{LATEST}").strip() if fs.exists(f"{path}/{LATEST}") else ""
        hinted = int(text) if text.isdigit() else None
    except Exception:  # unreadable pointer (e.g. a checksum error): the newest version decides
        pass
    newest = versions[-1]
    if hinted in versions and hinted != newest:
        # The newest version above the one LATEST names that is in place, else that one.
        chosen = hinted
        for candidate in reversed([v for v in versions if v > hinted]):
            wrong = _not_in_place(fs, version_path(path, candidate))
            if wrong is None:
                chosen = candidate
                break
            key = (path, candidate, wrong)
            if key not in _PASSED_OVER:  # once per process: a command resolves a path several times
                _PASSED_OVER.add(key)
                log.warning("%s passed over, still being copied into place or damaged (%s); %s names version "
                            "%d", version_path(path, candidate), wrong, LATEST, hinted)
        return version_path(path, chosen)
    if hinted is not None and hinted > newest and fs.exists(version_path(path, hinted)):
        log.warning("%s names version %d, which has no %s (still being copied into place, or damaged): "
                    "reading version %d", f"{path}/{LATEST}", hinted, METADATA, newest)
    return version_path(path, newest)


_PASSED_OVER: set[tuple[str, int, str]] = set()


def _not_in_place(fs: "HadoopFS | LocalFS", directory: str) -> str | None:
    """None if ``directory`` holds exactly the files its metadata lists, with their sizes (no
    hashing: telling a finished version from one still being copied into place is all this is for);
    else what is wrong. A counts table still under ``_staging`` counts as in place when it holds its
    listed files: the version was published and its writer stopped before moving the table in
    (reading moves it)."""
    try:
        meta = _read_json(fs, f"{directory}/{METADATA}")
        tables = {name.split("/", 1)[0] for name in meta.get("files") or {}}
        if COUNTS in tables and not fs.exists(f"{directory}/{COUNTS}") and _counts_staged(fs, directory, meta):
            tables.discard(COUNTS)
        check_files(fs, directory, meta, tuple(sorted(tables)), digests=False)
    except Exception as exc:  # unreadable, or a file missing or of another size
        return _first_line(exc)
    return None


def staged_counts_path(directory: str, meta: dict) -> str | None:
    """Where a published version's counts table waits under ``_staging`` before it is moved in,
    if its metadata names one; ``directory`` is the version's."""
    parent = directory.rstrip("/").rsplit("/", 2)
    if not meta.get("counts_table") or len(parent) != 3 or parent[1] != VERSIONS:
        return None
    return f"{parent[0]}/{STAGING}/{meta['counts_table']}"


def finish_counts_move(fs: HadoopFS, location: str, meta: dict) -> None:
    """Move the version at ``location``'s counts table in from ``_staging`` if its writer stopped
    between publishing the version and moving the table (the second of the two steps)."""
    source = staged_counts_path(location, meta)
    if source and not fs.exists(f"{location}/{COUNTS}/_SUCCESS") and fs.exists(f"{source}/_SUCCESS"):
        log.info("moving the counts of %s in from %s (publishing was interrupted)", location, source)
        move_counts_in(fs, source, location)
        drop_empty_staging(fs, source.rsplit("/", 2)[0])


def move_counts_in(fs: HadoopFS, source: str, location: str) -> None:
    """Move the staged counts table ``source`` in as the version at ``location``'s ``counts/``.
    Its writer and a reader finishing an interrupted publish (:func:`finish_counts_move`) may
    both try: the one that finds the table already moved is done too."""
    try:
        fs.rename(source, f"{location}/{COUNTS}")
    except Exception:  # OSError, or the JVM's FileNotFoundException for a source moved meanwhile
        if fs.exists(source) or not fs.exists(f"{location}/{COUNTS}/_SUCCESS"):
            raise


def _counts_staged(fs: HadoopFS, directory: str, meta: dict) -> bool:
    """Whether the staged counts table of the version at ``directory`` holds the files (names and
    sizes) its metadata lists for ``counts/``."""
    staged = staged_counts_path(directory, meta)
    if staged is None or not fs.exists(f"{staged}/_SUCCESS"):
        return False
    listed = {k[len(COUNTS) + 1:]: v["bytes"] for k, v in (meta.get("files") or {}).items()
              if k.startswith(f"{COUNTS}/")}
    return fs.data_files(staged) == listed


def is_model(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is a sparkw2v model (a version directory, or one with published versions)."""
    path = _strip_slash(path)
    return HadoopFS(spark, path).exists(f"{path}/{METADATA}") or bool(published_versions(spark, path))


def check_output(spark: SparkSession | None, path: str, overwrite: bool) -> None:
    """Fail before any work if ``path`` holds a model and may not be replaced, or holds something else.
    Without ``spark``, ``path`` is a local path (see :func:`sparkw2v.filesystem.local_output_path`), checked before
    Spark starts."""
    path = _strip_slash(path)
    fs = HadoopFS(spark, path) if spark is not None else LocalFS()
    if not fs.exists(path):
        _check_creatable(fs, path)
        return
    if not fs.is_dir(path):
        raise OutputExistsError(f"output {path} is a file, not a model directory; choose another --output")
    if fs.exists(f"{path}/{METADATA}"):
        raise OutputExistsError(f"output {path} is a single-version model directory; new versions "
                                "cannot be published into it: choose another --output")
    names = {n for n in fs.list_names(path) if not n.startswith(".")}  # .crc files of local filesystems
    saved = str((_any_ml_metadata(fs, path) or {}).get("class", "")) if ML_METADATA in names else ""
    if saved.startswith("sparkw2v.") and not _is_model_class(saved) and VERSIONS not in names:
        raise OutputExistsError(f"output {path} holds a saved sparkw2v estimator ({saved}); a model is not "
                                "written over it: choose another output")
    if names - {VERSIONS, LATEST, STAGING, ML_METADATA} or (
            ML_METADATA in names and not saved.startswith("sparkw2v.")):  # another pyspark.ml object
        raise OutputExistsError(f"output {path} exists and is not a sparkw2v model directory "
                                f"(it holds {', '.join(sorted(names)[:5])}); choose another --output")
    if _complete_versions(fs, path) and not overwrite:
        raise OutputExistsError(f"output {path} already exists; pass --overwrite (in Python overwrite=True, or "
                                "write().overwrite()) to publish a new version of it, or choose another output")


def _check_creatable(fs: HadoopFS, path: str) -> None:
    """For a local output that does not exist yet, fail now rather than after training if it
    cannot be made: its nearest existing ancestor must be a directory this process can write."""
    if not fs.is_local(path):
        return
    local = unquote(urlsplit(fs.uri(path)).path).rstrip("/")
    ancestor = local
    while ancestor and not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    ancestor = ancestor or "/"
    if not os.path.exists(ancestor):  # a link to nothing, or a loop of links: nothing can be made through it
        raise OutputPathError(f"output {path} cannot be made: {ancestor} is a symbolic link to "
                              f"{os.readlink(ancestor)}, which leads to no file or directory")
    if not os.path.isdir(ancestor):
        raise OutputPathError(f"output {path} cannot be made: {ancestor} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".sparkw2v-probe-", dir=ancestor))
    except OSError as exc:
        raise OutputPathError(f"output {path} cannot be made in {ancestor}: {exc.strerror or exc}") from None


def model_containing(spark: SparkSession, path: str) -> str | None:
    """The sparkw2v model directory that is ``path`` or holds it, or None."""
    fs = HadoopFS(spark, path)
    child = fs._Path
    current = fs.fs.makeQualified(fs.p(_strip_slash(path)))
    while current is not None:
        if fs.fs.exists(child(current, METADATA)) and fs.fs.exists(child(current, VECTORS)):
            return str(current.toString())
        versions_dir = child(current, VERSIONS)
        if fs.fs.isDirectory(versions_dir) and any(
                str(s.getPath().getName()).isdigit() and fs.fs.exists(child(s.getPath(), METADATA))
                for s in fs.fs.listStatus(versions_dir)):
            return str(current.toString())
        current = current.getParent()
    return None


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
            fs.fs.moveFromLocalFile(fs.p(written), fs.p(path))
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


def frame_of(spark: SparkSession, table: pa.Table) -> DataFrame:
    """An Arrow table on the driver as a DataFrame whose tasks take their rows from a broadcast,
    :data:`FRAME_ROWS` per task, where ``spark.createDataFrame`` would put the rows inside the
    tasks ("task of very large size"). The broadcast lives as long as the frame's plan."""
    return _sliced_frame(spark, table, spark.sparkContext.broadcast(table), FRAME_ROWS)


def _sliced_frame(spark: SparkSession, table: pa.Table, table_bc, rows_per_task: int) -> DataFrame:
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


#: Attempts at claiming a version number when writers race (only without ``expect``).
PUBLISH_ATTEMPTS = 5


def spark_run(spark: SparkSession) -> dict:
    """The Spark application a version was published from (``sparkw2v info`` shows it)."""
    sc = spark.sparkContext
    return {"master": sc.master, "app_id": sc.applicationId, "app_name": sc.appName, "version": spark.version,
            "default_parallelism": sc.defaultParallelism}


def start_chart(metadata: dict, vocab: Vocabulary, w_in: np.ndarray) -> Callable[[], bytes | None]:
    """The version's chart, drawn in a thread from its metadata and shape (:func:`report.chart_later`)."""
    return report.chart_later({**metadata, "vocab_size": len(vocab), "vector_size": int(w_in.shape[1])})


#: Why a publish expects a version to be the newest (:class:`Expected`), for its error.
CONTINUED, LOADED, SAVED, CREATED = "continued", "loaded", "saved", "created"


@dataclass(frozen=True)
class Expected:
    """What publishing to a path must find there: version ``version`` the newest (0: no
    version yet), expected because the model ``why`` (continued, loaded, saved or created
    it) and, when known, with that version's ``publish_id``."""

    version: int
    why: str = CONTINUED
    publish_id: str | None = None


@dataclass(frozen=True)
class Published:
    """A version just published: its full path and the metadata written with it."""

    location: str
    metadata: dict

    @property
    def version(self) -> int:
        return self.metadata["version"]

    @property
    def publish_id(self) -> str:
        return self.metadata["publish_id"]


def write_model(spark: SparkSession, path: str, vocab: Vocabulary, w_in: np.ndarray, w_out: np.ndarray,
                metadata: dict, overwrite: bool = False, keep_versions: int = KEEP_VERSIONS,
                expect: Expected | None = None, extra_files: dict | None = None,
                chart: Callable[[], bytes | None] | None = None) -> Published:
    """Publish a complete model as the next version of ``path``.

    The version is written under ``path/_staging`` and renamed into
    ``path/versions/`` in one step once complete; then ``LATEST`` is updated and
    versions beyond the newest ``keep_versions`` are deleted. ``expect`` makes
    publishing a compare-and-swap: if another version than ``expect.version`` is the
    newest, nothing is published and :class:`ConcurrentPublishError` says which, and
    why that version was expected; with ``expect.publish_id`` that version must also be
    the very one expected, not another published under its number after the path was
    removed (checked before and after the claim; a claim above another is undone).
    Without ``overwrite`` publishing creates the first version or nothing
    (``Expected(0, CREATED)`` unless ``expect`` is given).
    ``extra_files`` adds entries (e.g. a counts table moved in later) to the
    recorded file list. ``chart`` gives the version's PNG chart (:func:`start_chart`;
    default: drawn from ``metadata`` while the tables are written).
    """
    if expect is None and not overwrite:
        expect = Expected(0, CREATED)
    started = time.perf_counter()
    if chart is None:
        chart = start_chart(metadata, vocab, w_in)
    path = _strip_slash(path)
    fs = HadoopFS(spark, path)
    check_output(spark, path, overwrite)
    staging = f"{path}/{STAGING}/version-{uuid.uuid4().hex[:8]}"
    publish_id = uuid.uuid4().hex
    version = None
    describe_job(spark, "publish")
    try:
        make_staging(fs, staging)
        try:
            write_tables(spark, staging, vocab, w_in, w_out)
            files = {**table_files(fs, staging), **(extra_files or {})}
        except Exception as exc:
            if storage_full(exc):
                raise_storage_full(spark, path, exc)
            raise
        fs.mkdirs(f"{path}/{VERSIONS}")
        for _ in range(PUBLISH_ATTEMPTS):
            existing = published_versions(spark, path)
            newest = existing[-1] if existing else 0
            # A path emptied since a model was loaded from it or saved there hides nothing (pyspark.ml's
            # overwrite deletes a pipeline's directory before its stages are written again).
            emptied = expect is not None and newest == 0 and expect.why in (LOADED, SAVED)
            if expect is not None and newest != expect.version and not emptied:
                raise _concurrent(spark, path, expect.version, newest, expect.why)
            version = newest + 1
            meta = {**metadata, "format_version": FORMAT_VERSION, "version": version, "publish_id": publish_id,
                    "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files,
                    "vocab_size": len(vocab), "vector_size": int(w_in.shape[1]), "versions": versions(),
                    "spark": spark_run(spark)}
            if isinstance(metadata.get("timings"), dict):  # publishing so far: the tables, written and hashed
                meta["timings"] = {**metadata["timings"], "publish_seconds": time.perf_counter() - started}
            try:
                text = metadata_text(meta, indent=2)
                fs.write_text(f"{staging}/{METADATA}", text)
                png = chart()
                if png is not None:
                    fs.write_bytes(f"{staging}/{report.CHART}", png)
            except Exception as exc:
                if storage_full(exc):
                    raise_storage_full(spark, path, exc)
                raise
            same = expect is not None and expect.publish_id is not None and newest == expect.version
            if same:
                check_same_version(spark, path, expect)
            if _claim(fs, staging, version_path(path, version), publish_id):  # the commit point
                if same:
                    try:   # the version below may have been replaced while this one was claimed
                        check_same_version(spark, path, expect)
                    except ConcurrentPublishError:
                        fs.delete(version_path(path, version))
                        raise
                break
        else:
            target = version_path(path, version)
            if fs.exists(target) and not fs.exists(f"{target}/{METADATA}"):
                raise ConcurrentPublishError(
                    f"could not publish to {path}: {target} exists but is incomplete (it has no {METADATA}): "
                    "another writer is still copying it into place, or it was left by a killed writer or "
                    "damaged. If no other writer is publishing, remove it and run again")
            raise ConcurrentPublishError(f"could not publish to {path}: other writers took version "
                                         f"{version} and the ones before it while this run published")
    except BaseException:
        if fs.exists(staging):
            fs.delete(staging)
        drop_empty_staging(fs, path)
        raise
    finally:
        describe_job(spark, None)
    # The newest number now, not necessarily this run's (another writer may have published since):
    # this narrows, and readers' file check closes, the window in which LATEST names an older version.
    published = published_versions(spark, path)
    _point_latest(fs, path, max([version, *published]))
    for old in published[:-max(1, keep_versions)]:
        fs.delete(version_path(path, old))
    sweep_staging(spark, fs, path)
    drop_empty_staging(fs, path)
    return Published(fs.qualified(version_path(path, version)), json.loads(text))   # as readers read it


def _claim(fs: HadoopFS, staging: str, target: str, publish_id: str) -> bool:
    """Rename ``staging`` to ``target``; False (``staging`` restored) if another writer had it.

    Hadoop renames a directory onto an existing one by moving it inside, so success is
    read back from the target's ``publish_id`` rather than from the rename's result."""
    try:
        fs.rename(staging, target)
    except OSError:
        if fs.exists(staging):  # not moved at all: the number was taken in some other way
            return False
    inside = f"{target}/{staging.rsplit('/', 1)[1]}"
    if fs.exists(inside):  # lost the race: take our version back out
        fs.rename(inside, staging)
        return False
    if json.loads(fs.read_text(f"{target}/{METADATA}")).get("publish_id") != publish_id:
        raise OSError(f"publishing {target} failed: the staged version is neither there nor in {staging}")
    return True


def check_same_version(spark: SparkSession, path: str, expect: Expected) -> None:
    """:class:`ConcurrentPublishError` if version ``expect.version`` of ``path`` exists but is not
    the one a model was loaded from or published as (``expect.publish_id``): the path was removed
    and another model published there since, under the same number."""
    directory = version_path(path, expect.version)
    fs = HadoopFS(spark, directory)
    if not fs.exists(f"{directory}/{METADATA}"):  # removed, or the path emptied: the compare-and-swap decides
        return
    found = _read_json(fs, f"{directory}/{METADATA}").get("publish_id")
    if found is not None and found != expect.publish_id:
        what = {LOADED: "loaded from", SAVED: "published as"}.get(expect.why, "built on")
        raise ConcurrentPublishError(
            f"not published: version {expect.version} of {path} is not the one this model was {what}: the path "
            "was removed and another model published there since; publishing would put this model above it. "
            "Save to another path, or load the path again", why=expect.why)


def _concurrent(spark: SparkSession, path: str, expected: int, newest: int, why: str) -> ConcurrentPublishError:
    return ConcurrentPublishError(_concurrent_message(spark, path, expected, newest, why), why=why)


def _concurrent_message(spark: SparkSession, path: str, expected: int, newest: int, why: str) -> str:
    if newest < expected:  # versions removed meanwhile, the whole path perhaps
        now = f"its newest is version {newest}" if newest else "it has no version"
        return (
            f"not published: version {expected} of {path}, which this model was built on, loaded from or saved as, "
            f"was removed meanwhile ({now}); publishing would not follow from what readers had. Check what "
            f"removed it; to publish anyway, save to another path")
    when = ""
    try:
        when = f" (published {read_metadata(spark, version_path(path, newest)).get('written_at')})"
    except Exception:
        pass
    wrong = None if why == CREATED else _not_in_place(_filesystem(spark, path), version_path(path, newest))
    if wrong is not None:  # readers pass it over (resolve), so this run read an older one
        return (
            f"not published: {wrong}, so readers pass version {newest} of {path} over and this run read version "
            f"{expected}, but a version above {newest} would hide it. If no writer is still copying it into "
            f"place, remove {version_path(path, newest)} (or restore its files) and run again")
    if why == CREATED:
        return (
            f"not published: {path} got version {newest} from another writer{when} while this model was trained "
            "or written, and without overwrite a model is published only into an output that has no version yet; "
            f"publish with overwrite (--overwrite) to add it as version {newest + 1}, or choose another output")
    drop = f"publishing would put a model without what version {newest} holds above it"
    if why == LOADED:
        return (
            f"not published: version {newest} of {path} appeared{when} after this model was loaded from it "
            f"(version {expected} was the newest then); {drop}. Load {path} again and repeat the change, or "
            "save to another path")
    if why == SAVED:
        return (
            f"not published: version {newest} of {path} appeared{when} after this model was published there as "
            f"version {expected}; {drop}. Load {path} again and repeat the change, or save to another path")
    base = f"version {expected}" if expected else "an empty output"
    return (
        f"not published: version {newest} of {path} appeared{when} while this run continued {base}; "
        f"publishing would drop what version {newest} added. Run again to continue version {newest}")


def raise_storage_full(spark: SparkSession, path: str, exc: BaseException) -> None:
    """Raise :class:`StorageFullError` for ``exc``, a full disk while publishing to ``path``, in one
    line saying which version is still the one read."""
    existing = published_versions(spark, path)
    kept = f"version {existing[-1]} is intact and still the one read" if existing else "nothing was published"
    detail = next((line.strip() for line in str(exc).splitlines() if "No space left" in line), "")
    raise StorageFullError(errno.ENOSPC, f"no space left on device while publishing to {path}"
                           f"{': ' + detail[:200] if detail else ''}; {kept}. Free space and run again") from None


def table_files(fs: HadoopFS, directory: str, tables: tuple[str, ...] = (VECTORS, VOCAB, OUTPUT_VECTORS),
                sized: tuple[str, ...] = ()) -> dict:
    """``{"vectors/part-...parquet": {"bytes": n, "sha256": hex}, ...}`` for the tables under
    ``directory``: what a version's metadata records so that readers can verify it. Tables in
    ``sized`` get their sizes only, no digest (hashing streams every byte through the driver)."""
    files = {}
    for table in tables:
        files.update(file_entries(fs, f"{directory}/{table}", table, digests=table not in sized))
    return files


def file_entries(fs: HadoopFS, directory: str, name: str, digests: bool = True) -> dict:
    """The file list entries of the table at ``directory``, recorded as table ``name``."""
    return {f"{name}/{file}": {"bytes": size, **({"sha256": fs.sha256(f"{directory}/{file}")} if digests else {})}
            for file, size in sorted(fs.data_files(directory).items())}


def record_evaluation(spark: SparkSession, location: str, scores: dict) -> str:
    """Store ``scores`` with the version at ``location`` as ``evaluation.json``; returns its path.

    metadata.json is never rewritten (a version stays complete whatever happens);
    :func:`read_metadata` adds the file's content under ``evaluation``.
    """
    fs = HadoopFS(spark, location)
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
    write_vocabulary(spark, directory, vocab)
    write_parquet(spark, pa.table({"id": ids, "vector": vector_column(w_out)}),
                  rows_per_file, f"{directory}/{OUTPUT_VECTORS}")


def write_vocabulary(spark: SparkSession, directory: str, vocab: Vocabulary) -> None:
    """The vocabulary table (word, count, id) of a model or checkpoint into ``directory``."""
    table = pa.table({"word": pa.array(vocab.words, type=pa.string()), "count": pa.array(vocab.counts, type=pa.int64()),
                      "id": pa.array(np.arange(len(vocab), dtype=np.int32))})
    write_parquet(spark, table, 1 << 22, f"{directory}/{VOCAB}")


def make_staging(fs: HadoopFS, directory: str) -> None:
    """Create ``directory`` under ``_staging``. Once it exists, ``_staging`` holds an entry and
    no other writer removes it; retried because one may remove ``_staging`` while it is made."""
    for _ in range(5):
        try:
            fs.mkdirs(directory)
        except Exception:
            pass
        if fs.exists(directory):
            return
    fs.mkdirs(directory)


#: Seconds after which a publish's leftover under ``_staging`` (a writer killed while publishing)
#: is removed by the next publish: far longer than any publish takes.
STALE_SECONDS = 24 * 3600
#: What publishing stages under ``_staging`` (checkpoints, under ``checkpoint``, are not its).
STAGED_PREFIXES = ("version-", "counts-", "LATEST-", f"{ML_METADATA}-")


def sweep_staging(spark: SparkSession, fs: HadoopFS, path: str, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove what killed publishes left under ``path/_staging`` (staged versions, counts tables,
    pointers) once older than ``older_than`` seconds; returns their names. A counts table that a
    published version still names (its move in was interrupted; reading that version moves it)
    is kept."""
    staging = f"{path}/{STAGING}"
    names = [n for n in fs.list_names(staging) if n.startswith(STAGED_PREFIXES)]
    if not names:
        return []
    pending = set()
    for version in published_versions(spark, path):
        try:
            pending.add(json.loads(fs.read_text(f"{version_path(path, version)}/{METADATA}")).get("counts_table"))
        except Exception:  # unreadable metadata: its reader reports it
            continue
    swept = []
    now = time.time()
    for name in names:
        try:
            stale = now - fs.modified(f"{staging}/{name}") > older_than
        except Exception:  # removed meanwhile by another writer
            continue
        if stale and name not in pending:
            fs.delete(f"{staging}/{name}")
            swept.append(name)
    if swept:
        log.info("removed %d leftover(s) of interrupted publishes from %s: %s", len(swept), staging,
                 ", ".join(sorted(swept)[:5]))
    return swept


def drop_empty_staging(fs: HadoopFS, path: str) -> None:
    """Remove ``path/_staging`` once nothing (no checkpoint, no other writer's version) is in it.

    Only hidden leftovers (checksum files) are removed inside it, and the directory itself
    only while empty: another writer may be staging a version there at this moment."""
    remove_if_only_hidden(fs, f"{path}/{STAGING}")


def remove_if_only_hidden(fs: HadoopFS, directory: str) -> None:
    """Remove ``directory`` if it holds nothing but hidden files (checksums), which go with it;
    never recursively, so what another writer puts there meanwhile stays."""
    names = fs.list_names(directory, hidden=True)
    if any(not n.startswith(".") for n in names):
        return
    for name in names:
        fs.remove_if_empty(f"{directory}/{name}")
    fs.remove_if_empty(directory)


def _point_latest(fs: HadoopFS, path: str, version: int) -> None:
    """Make ``LATEST`` name ``version``. Not atomic on every filesystem, and need not be:
    readers pass over a ``LATEST`` left behind (:func:`resolve`)."""
    tmp = f"{path}/{STAGING}/LATEST-{uuid.uuid4().hex[:8]}"
    for attempt in range(3):  # another writer may remove an empty _staging as the file is made
        try:
            fs.write_text(tmp, f"{version}\n")
            break
        except Exception:
            if attempt == 2:
                raise
    for _ in range(3):
        if fs.exists(f"{path}/{LATEST}"):
            fs.delete(f"{path}/{LATEST}")
        try:
            fs.rename(tmp, f"{path}/{LATEST}")
            return
        except OSError:  # another writer put its LATEST there in between
            continue
    fs.delete(tmp)  # a writer racing this one keeps LATEST up to date; readers check it anyway


def write_ml_metadata(spark: SparkSession, path: str, text: str) -> None:
    """Replace ``path/metadata`` with ``text``, a pyspark.ml metadata JSON line of a sparkw2v model.

    Written as pyspark's DefaultParamsWriter writes it (a text directory with one
    ``part-00000``), so ``DefaultParamsReader.loadMetadata`` and ``PipelineModel.load``
    read it. The new directory is staged and renamed in; only between deleting the old
    one and that rename does a reader find none (it then gets the default Params).
    """
    path = _strip_slash(path)
    fs = HadoopFS(spark, path)
    name = f"{ML_METADATA}-{uuid.uuid4().hex[:8]}"
    staging, target = f"{path}/{STAGING}/{name}", f"{path}/{ML_METADATA}"
    try:
        fs.write_text(f"{staging}/part-00000", text.rstrip("\n") + "\n")
        fs.write_text(f"{staging}/_SUCCESS", "")
        for _ in range(PUBLISH_ATTEMPTS):
            if fs.exists(target):
                fs.delete(target)
            fs.rename(staging, target)
            # Another writer's rename between our delete and ours: Hadoop moved ours inside theirs.
            if not fs.exists(f"{target}/{name}"):
                break
            fs.rename(f"{target}/{name}", staging)
    finally:
        if fs.exists(staging):
            fs.delete(staging)
        drop_empty_staging(fs, path)


def read_ml_metadata(spark: SparkSession, path: str) -> dict | None:
    """The pyspark.ml metadata of the sparkw2v model at ``path``; None if it has none (or it is not ours)."""
    path = _strip_slash(path)
    return _read_ml_metadata(HadoopFS(spark, path), path)


def ml_metadata(spark: SparkSession, path: str) -> dict | None:
    """The pyspark.ml metadata at ``path`` (ours or another library's: class, uid, paramMap ...); None if none."""
    path = _strip_slash(path)
    return _any_ml_metadata(HadoopFS(spark, path), path)


def ml_class(spark: SparkSession, path: str) -> str | None:
    """The class named by the pyspark.ml metadata at ``path`` (ours or another library's); None if none."""
    meta = ml_metadata(spark, path)
    return str(meta.get("class")) if meta is not None else None


def _read_ml_metadata(fs: "HadoopFS | LocalFS", path: str) -> dict | None:
    """The pyspark.ml metadata at ``path`` if it is a sparkw2v model's (not an estimator's)."""
    meta = _any_ml_metadata(fs, path)
    return meta if meta is not None and _is_model_class(str(meta.get("class", ""))) else None


def _is_model_class(name: str) -> bool:
    return name.startswith("sparkw2v.") and name.endswith(".Word2VecModel")


def _any_ml_metadata(fs: HadoopFS, path: str) -> dict | None:
    directory = f"{path}/{ML_METADATA}"
    parts = sorted(n for n in fs.list_names(directory) if n.startswith("part-"))
    if not parts:
        return None
    try:
        meta = json.loads(fs.read_text(f"{directory}/{parts[0]}").splitlines()[0])
    except (ValueError, IndexError):
        return None
    return meta if isinstance(meta, dict) else None


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
    location: str = ""   # the version directory read


#: Times a reader takes the newest version again when retention removed the one it was reading.
RETENTION_RETRIES = 3


def _matrix(column: pa.ChunkedArray, dim: int | None = None, where: str = "vectors") -> np.ndarray:
    """A list<float> column as an (n, d) float32 matrix, chunk by chunk (no 2**31 limit)."""
    n = len(column)
    parts = [chunk.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
             for chunk in column.chunks]
    flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if column.null_count or (n and flat.size % n) or (n and dim and flat.size != n * dim):
        raise DamagedModelError(f"{where}: vectors are NULL or of different lengths ({flat.size} values "
                                f"for {n} rows{f' of {dim}' if dim else ''})")
    return flat.reshape(n, (flat.size // n) if n else (dim or 0))


def _read_json(fs: HadoopFS, path: str) -> dict:
    try:
        value = json.loads(fs.read_text(path))
    except json.JSONDecodeError as exc:
        raise DamagedModelError(f"{path} is damaged: not valid JSON ({exc.msg} at line {exc.lineno} "
                                f"column {exc.colno})") from None
    except Exception as exc:  # e.g. a ChecksumException from a .crc file
        if isinstance(exc, (FileNotFoundError, UserError)):
            raise
        raise DamagedModelError(f"cannot read {path}: {_first_line(exc)}") from None
    if not isinstance(value, dict):
        raise DamagedModelError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not an object")
    return value


#: metadata.json's digest of itself: the SHA-256 of its other keys as sorted JSON. The file
#: lists every data file's digest; this covers the list and the rest of the file, also on
#: filesystems that keep no checksum files beside it (S3, ABFS, GCS).
SEAL = "metadata_sha256"


#: The metadata format from which the seal is required (its removal is damage, not an older file).
SEALED_FROM = 3


def metadata_text(meta: dict, indent: int | None = None) -> str:
    """``meta`` as metadata.json's JSON text, with its :data:`SEAL`."""
    return json.dumps(sealed(meta), indent=indent, sort_keys=True, default=_json)


def sealed(meta: dict) -> dict:
    """``meta`` with its :data:`SEAL`."""
    return {**meta, SEAL: _seal_digest(meta)}


def _seal_digest(meta: dict) -> str:
    # Hashed as it reads back: JSON turns NumPy values into numbers and every key into a string.
    plain = json.loads(json.dumps({k: v for k, v in meta.items() if k != SEAL}, default=_json))
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def read_metadata(spark: SparkSession | None, path: str) -> dict:
    """A model's (or a checkpoint's) metadata.json; FileNotFoundError if ``path`` is not a model
    directory, :class:`DamagedModelError` naming the file if it is not valid JSON or does not
    match its own digest (:data:`SEAL`; files written before it was recorded are not checked).
    Without ``spark``, ``path`` is a local path, read without Spark."""
    directory = resolve(spark, path)
    fs = _filesystem(spark, directory)
    meta = _read_json(fs, f"{directory}/{METADATA}")
    if SEAL not in meta and int(meta.get("format_version") or 0) >= SEALED_FROM:
        raise DamagedModelError(f"{directory}/{METADATA} is damaged: its format (version {meta['format_version']}) "
                                f"records its own SHA-256, but {SEAL} is missing (bit rot or an edit)")
    if SEAL in meta and meta[SEAL] != _seal_digest(meta):
        raise DamagedModelError(f"{directory}/{METADATA} is damaged: its content does not match the SHA-256 "
                                f"it recorded of itself ({SEAL}; bit rot or an edit)")
    meta.pop(SEAL, None)
    if fs.exists(f"{directory}/{EVALUATION}"):  # recorded after publishing: newer than metadata.json's
        meta["evaluation"] = _read_json(fs, f"{directory}/{EVALUATION}")
    return meta


def verify_tables(spark: SparkSession, directory: str, meta: dict, tables: tuple[str, ...],
                  digests: bool = True) -> None:
    """Check that ``tables`` of the version at ``directory`` hold exactly the files its
    metadata lists, with their sizes and (``digests``) SHA-256; :class:`DamagedModelError` names
    the first file that differs. Versions written before file lists were recorded are not checked."""
    check_files(HadoopFS(spark, directory), directory, meta, tables, digests)


def check_files(fs: "HadoopFS | LocalFS", directory: str, meta: dict, tables: tuple[str, ...],
                digests: bool = True) -> None:
    """:func:`verify_tables` on the filesystem ``fs`` (digests need a :class:`HadoopFS`)."""
    recorded = meta.get("files")
    if recorded is None:
        if int(meta.get("format_version") or 0) >= 2:  # the format that lists them: the list was removed
            raise DamagedModelError(f"{directory}/{METADATA} lists no files, but its format (version "
                                    f"{meta['format_version']}) records every file: it was edited or damaged")
        return
    for table in tables:
        listed = {k[len(table) + 1:]: v for k, v in recorded.items() if k.startswith(f"{table}/")}
        found = fs.data_files(f"{directory}/{table}")
        for name in sorted(set(listed) - set(found)):
            raise DamagedModelError(f"{directory}/{table}/{name} is missing: the version is incomplete "
                                    f"({len(found)} of the {len(listed)} files of {table}/ listed in {METADATA})")
        for name in sorted(set(found) - set(listed)):
            raise DamagedModelError(f"{directory}/{table}/{name} does not belong to this version: it is not "
                                    f"among the files of {table}/ listed in {METADATA}")
        for name, entry in sorted(listed.items()):
            file = f"{directory}/{table}/{name}"
            if found[name] != entry["bytes"]:
                raise DamagedModelError(f"{file} is damaged: {found[name]} bytes, but {entry['bytes']} were "
                                        "written (truncated or replaced)")
            if not digests or "sha256" not in entry:   # sizes only (a blocks table's reader checks
                continue                                 # Parquet's page checksums instead)
            try:
                digest = fs.sha256(file)
            except Exception as exc:  # a Hadoop ChecksumException, an I/O error
                raise DamagedModelError(f"{file} is damaged: {_first_line(exc)}") from None
            if digest != entry["sha256"]:
                raise DamagedModelError(f"{file} is damaged: its SHA-256 differs from the one recorded when "
                                        f"it was published (bit rot or an edit); {RESTORE_ADVICE}")


#: What a damaged published file's error advises (a checkpoint's says to start over instead).
RESTORE_ADVICE = "restore it or publish again"


def check_rows(directory: str, meta: dict, table: str, rows: int) -> None:
    """:class:`DamagedModelError` if ``table`` holds another number of rows than the vocabulary."""
    expected = meta.get("vocab_size")
    if expected is not None and rows != int(expected):
        raise DamagedModelError(f"{directory}/{table} holds {rows} rows, but {METADATA} says the "
                                f"vocabulary has {expected} words: the version is incomplete or damaged")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    deep = [line for line in lines if "Exception:" in line and not line.startswith("at ")]
    return (deep[-1] if deep else lines[0] if lines else type(exc).__name__)[:300]


def read_table(spark: SparkSession, directory: str, table: str) -> pa.Table:
    try:
        return literal_reader(spark).parquet(f"{directory}/{table}").toArrow()
    except Exception as exc:  # unreadable Parquet in a version written before file digests
        raise DamagedModelError(f"cannot read {directory}/{table}: {_first_line(exc)}") from None


def read_vectors_frame(spark: SparkSession, path: str) -> DataFrame:
    """The ``vectors`` table of a model as a DataFrame (word, count, vector), after checking its files."""
    directory = resolve(spark, path)
    verify_tables(spark, directory, read_metadata(spark, directory), (VECTORS,))
    return literal_reader(spark).parquet(f"{directory}/{VECTORS}")


def vocabulary_order(table: pa.Table) -> np.ndarray:
    """The rows of a table of ``word`` and ``count`` in vocabulary order (:func:`frequency_order`)."""
    return frequency_order(table.column("word"), table.column("count"))


def read_vocabulary(spark: SparkSession, path: str, meta: dict) -> Vocabulary:
    """The vocabulary table at ``path`` (of a model or checkpoint whose metadata is ``meta``), in id order."""
    table = read_table(spark, path, VOCAB)
    check_rows(path, meta, VOCAB, table.num_rows)
    table = table.take(pa.array(np.argsort(table.column("id").to_numpy())))
    counts = table.column("count").to_numpy().astype(np.int64)
    words = tuple(table.column("word").to_pylist())
    return Vocabulary(words, counts, corpus_words=int(meta.get("corpus_words", counts.sum())),
                      distinct_words=int(meta.get("distinct_words", len(words))))


def read_model(spark: SparkSession, path: str, with_output: bool = True) -> LoadedModel:
    """Load a model written by :func:`write_model` (its current version) into driver memory,
    checking its files and row counts against its metadata. If retention (another writer's
    publish with a small ``keep_versions``) removes the version while it is read, the newest
    one is read instead."""
    for _ in range(RETENTION_RETRIES + 1):
        location = resolve(spark, path)
        try:
            return _read_version(spark, location, with_output)
        except (DamagedModelError, FileNotFoundError):
            removed = location != _strip_slash(path) and not HadoopFS(spark, location).exists(location)
            if not removed:
                raise
            log.info("%s was removed by retention while it was read; reading the newest version", location)
    raise DamagedModelError(f"{path}: {RETENTION_RETRIES + 1} versions in a row were removed while they were "
                            "read (a writer publishing often with a small keep_versions); raise keep_versions")


def _read_version(spark: SparkSession, path: str, with_output: bool) -> LoadedModel:
    """:func:`read_model` of one version directory."""
    meta = read_metadata(spark, path)
    # Output rows are optional (an imported model has none), but not once the metadata lists them.
    listed = any(name.startswith(f"{OUTPUT_VECTORS}/") for name in meta.get("files") or {})
    with_output = with_output and (listed or HadoopFS(spark, path).exists(f"{path}/{OUTPUT_VECTORS}"))
    # vocab/ is not read here, but Spark SQL readers of the version read it: a damaged one is refused too.
    vocab_listed = any(name.startswith(f"{VOCAB}/") for name in meta.get("files") or {})
    verify_tables(spark, path, meta, (VECTORS, *((OUTPUT_VECTORS,) if with_output else ()),
                                      *((VOCAB,) if vocab_listed else ())))
    table = read_table(spark, path, VECTORS)
    check_rows(path, meta, VECTORS, table.num_rows)
    table = table.take(pa.array(vocabulary_order(table.select(["count", "word"]))))
    words = tuple(table.column("word").to_pylist())
    counts = table.column("count").to_numpy().astype(np.int64)
    vocab = Vocabulary(words, counts, corpus_words=int(meta.get("corpus_words", counts.sum())),
                       distinct_words=int(meta.get("distinct_words", len(words))))
    w_in = _matrix(table.column("vector"), meta.get("vector_size"), f"{path}/{VECTORS}")
    w_out = None
    if with_output:
        out = read_table(spark, path, OUTPUT_VECTORS)
        check_rows(path, meta, OUTPUT_VECTORS, out.num_rows)
        out = out.take(pa.array(np.argsort(out.column("id").to_numpy())))
        # vectors are sorted by (count desc, word), which is the id order written.
        w_out = _matrix(out.column("vector"), w_in.shape[1], f"{path}/{OUTPUT_VECTORS}")
        if w_out.shape != w_in.shape:
            raise DamagedModelError(f"{path}/{OUTPUT_VECTORS} holds a {w_out.shape[0]} x {w_out.shape[1]} "
                                    f"matrix, but {VECTORS}/ a {w_in.shape[0]} x {w_in.shape[1]} one")
    return LoadedModel(vocab, w_in, w_out, meta, path)
