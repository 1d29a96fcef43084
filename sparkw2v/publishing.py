"""Publishing a version of the on-disk model (:mod:`sparkw2v.layout`), atomically and as a
compare-and-swap.

Publishing is atomic: a version is written under ``_staging`` and renamed into
``versions/`` only once complete, so a reader resolving ``OUTPUT`` sees the
previous complete version or the new one, never a mix, and a run killed at any
moment leaves every published version intact.

Publishing is also a compare-and-swap. The rename into ``versions/NNNNNN`` claims
that number: a Hadoop rename onto an existing directory moves the source inside
it instead, which the loser detects (the version's ``publish_id`` is not its own),
undoes and reports. A run that continued version N of the same path passes
``Expected(N)`` and publishes only while N is still the newest, so a
concurrent writer's version is never silently superseded by one that lacks it.

A model with word counts is published with its ``counts/`` table (:func:`publish_with_counts`);
a version's ``evaluation.json``, added later, is written here too (:func:`record_evaluation`).
Everything is written through Spark and the Hadoop FileSystem API, so any filesystem
Spark can write (local, HDFS, S3, ABFS, GCS) works.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import platform
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from . import interrupts, report
from .config import TrainConfig
from .errors import ConcurrentPublishError, StorageFullError, UserError
from .filesystem import HadoopFS, filesystem_of, storage_full
from .counts_table import write_counts
from .integrity import file_entries, json_default, metadata_text, read_json, table_files
from .layout import (COUNTS, EVALUATION, FORMAT_VERSION, LATEST, METADATA, ML_METADATA, STAGING, VERSIONS,
                     complete_versions, model_containing, model_key, published_versions, root_of, strip_slash,
                     version_of, version_path)
from .ml_metadata import any_ml_metadata, is_model_class
from .session import cleaning_up, describe_job
from .staging import STAGED_VERSION, drop_empty_staging, make_staging, sweep_staging
from .tables import write_tables
from .vector_table import not_in_place, read_metadata
from .vocabulary import Vocabulary

log = logging.getLogger("sparkw2v")

#: Published versions kept by default (``TrainConfig.keep_versions``); older ones are deleted after a
#: successful publish.
KEEP_VERSIONS = TrainConfig.keep_versions


class OutputExistsError(UserError, FileExistsError):
    """The output path exists and ``overwrite`` was not given."""


class OutputPathError(UserError, OSError):
    """The output path cannot be made (a file stands where a directory must, or no permission), or
    may not be: it lies inside another model, or inside the input."""


#: Outputs whose damaged ``metadata/`` this process has warned of (check_output runs more than once a run).
_DAMAGED_ML_METADATA: set[str] = set()


def check_output(spark: SparkSession | None, path: str, overwrite: bool) -> None:
    """Fail before any work if ``path`` holds a model and may not be replaced, holds something else,
    or lies inside another model (whose retention or replacement would delete it with no word).
    Without ``spark``, ``path`` is a local path (see :func:`sparkw2v.filesystem.local_output_path`), checked before
    Spark starts."""
    path = strip_slash(path)
    fs = filesystem_of(spark, path)
    holder = model_containing(spark, path, above=True, fs=fs)
    if holder is not None:
        raise OutputPathError(f"output {path} lies inside the sparkw2v model {holder}, whose retention or "
                              "replacement would delete it: choose another --output")
    if not fs.exists(path):
        _check_creatable(fs, path)
        return
    if not fs.is_dir(path):
        raise OutputExistsError(f"output {path} is a file, not a model directory; choose another --output")
    if fs.exists(f"{path}/{METADATA}"):
        raise OutputExistsError(f"output {path} is a single-version model directory; new versions "
                                "cannot be published into it: choose another --output")
    names = {n for n in fs.list_names(path) if not n.startswith(".")}  # .crc files of local filesystems
    ml = (any_ml_metadata(fs, path) or {}) if ML_METADATA in names else {}
    saved = str(ml.get("class", ""))
    if saved.startswith("sparkw2v.") and not is_model_class(saved) and VERSIONS not in names:
        raise OutputExistsError(f"output {path} holds a saved sparkw2v estimator ({saved}); a model is not "
                                "written over it: choose another output")
    versions = complete_versions(fs, path)
    if names - {VERSIONS, LATEST, STAGING, ML_METADATA}:
        raise OutputExistsError(f"output {path} exists and is not a sparkw2v model directory "
                                f"(it holds {', '.join(sorted(names)[:5])}); choose another --output")
    if ML_METADATA in names and not saved.startswith("sparkw2v."):
        if not versions:   # another pyspark.ml object
            raise OutputExistsError(f"output {path} exists and is not a sparkw2v model directory "
                                    f"(it holds {', '.join(sorted(names)[:5])}); choose another --output")
        if ml:   # sparkw2v's versions under another object's Params: which one is meant is not ours to guess
            raise OutputExistsError(
                f"output {path} holds sparkw2v versions, but its {ML_METADATA}/ names {saved or 'no class'}, "
                f"not a sparkw2v model; if those Params are not wanted, remove {path}/{ML_METADATA} (publishing "
                "writes it again), or choose another --output")
        if overwrite and path not in _DAMAGED_ML_METADATA:   # unreadable: the versions are the model
            _DAMAGED_ML_METADATA.add(path)
            log.warning("%s/%s is damaged (no pyspark.ml metadata can be read from it): publishing writes it "
                        "again", path, ML_METADATA)
    if versions and not overwrite:
        raise OutputExistsError(f"output {path} already exists; pass --overwrite (in Python overwrite=True, or "
                                "write().overwrite()) to publish a new version of it, or choose another output")


#: Characters without which a path component is a plain name (:func:`_literal`).
_PATTERN = re.compile(r"[*?\[{\\]")
#: What a model directory holds at its top (:mod:`sparkw2v.layout`): an input that reaches into a
#: model through one of these names reads the model's own files (``_staging``: a run's checkpoints).
_MODEL_ENTRIES = (VERSIONS, LATEST, STAGING, ML_METADATA)
#: What Spark's Structured Streaming writes at the top of a query's checkpoint folder: a source that
#: reaches into the checkpoint through one of these names reads the stream's progress files.
_CHECKPOINT_ENTRIES = ("offsets", "commits", "sources", "metadata", "state")


def check_outside_input(spark: SparkSession, output: str, input_path: str, stream: bool = False) -> None:
    """Fail before any work if ``output`` lies inside the ``input_path`` directory, or inside a
    directory its pattern matches: the next run would read the model's files as its input (and be
    refused, with a hint about Parquet files that misleads). So it does if the pattern matches
    ``output`` among other paths and goes on into it through a name a model directory holds
    (``dir/*/*`` beside ``dir/model`` matches ``dir/model/_staging``, where an interrupted run's
    checkpoints are, and ``dir/model/versions``). Braces may hold slashes, as in Hadoop's globbing
    (``/d/{a/x,b}/*``): each pattern :func:`_alternatives` expands them into is checked. A pattern
    holds what Hadoop matches with it, while ``output`` is a literal path: ``dir/in[1]`` holds
    ``dir/in1/model``, not ``dir/in[1]/model`` (:func:`_component_matches`). ``output``
    being the input itself, a path its pattern matches, or a path the pattern names on its way into
    it (``OUT/*``, ``OUT/LATEST``: an input inside the model), is left to the output's and the
    input's own checks.

    ``stream``: ``input_path`` is a stream's ``--source``, whose next batches would read what is
    published there. Then ``output`` is refused as the source itself or a path its pattern matches
    too (``landing/*`` for ``landing/model``), and so is a source that reaches into ``output``
    through a name a model directory holds, named or matched (``OUT/_staging/in``, where
    publishing deletes files)."""
    for kind, named in _overlaps(spark, output, input_path, _MODEL_ENTRIES):
        if kind == _INSIDE or (stream and kind == _MATCHED):
            if stream:
                raise OutputPathError(f"output {output} lies inside the --source {input_path}: the stream would "
                                      "read the model's files as input; choose an --output outside it")
            raise OutputPathError(f"output {output} lies inside the input {input_path}: the next run would read "
                                  "the model's files as input; choose an --output outside it")
        if kind == _REACHES and stream:
            raise OutputPathError(f"--source {input_path} reaches into the output {output}: the stream would read "
                                  "the model's files as input, and publishing deletes files there; choose an "
                                  "--output outside it")
        if kind == _REACHES and not named:
            raise OutputPathError(f"input {input_path} reaches into the output {output}: resuming an interrupted "
                                  "run, and the next run, would read the model's files (checkpoints, versions) as "
                                  "input; choose an --output outside it")


def check_stream_checkpoint(spark: SparkSession, checkpoint: str, source: str, output: str) -> None:
    """Fail before a stream starts if its ``--checkpoint`` lies where the stream reads or publishes.
    Inside ``output`` (or as it) the checkpoint is among the model's files, which publishing
    manages: a model directory holding it is refused as no model, a version directory holding it
    blocks that version's number, and retention deletes a version with the checkpoint inside.
    Where the ``--source`` reads, Spark's progress files are trained as words: as the source
    itself or a folder its pattern matches (its ``metadata``), reached by its pattern through a
    name a checkpoint holds (``dir/*/*`` for ``dir/ck/offsets``), or inside the source folder
    read with ``recursiveFileLookup=true`` (all of them). A checkpoint inside the folder is
    refused whatever the reader's options, as an output there is."""
    ck, out = model_key(spark, checkpoint).split("/"), model_key(spark, output).split("/")
    if ck[:len(out)] == out:
        raise OutputPathError(f"--checkpoint {checkpoint} lies inside the output {output}, whose directory holds "
                              "only what publishing writes: the stream's versions would be refused there, or the "
                              "checkpoint deleted with an old version; choose a --checkpoint outside it")
    for kind, _ in _overlaps(spark, checkpoint, source, _CHECKPOINT_ENTRIES):
        if kind in (_INSIDE, _MATCHED):
            raise OutputPathError(f"--checkpoint {checkpoint} lies inside the --source {source}: the stream would "
                                  "read its progress files as input; choose a --checkpoint outside it")
        raise OutputPathError(f"--source {source} reaches into the --checkpoint {checkpoint}: the stream would read "
                              "its progress files as input; choose a --checkpoint outside it")


#: How a path and the paths a pattern matches overlap (:func:`_overlaps`).
_INSIDE, _MATCHED, _REACHES = "inside", "matched", "reaches"


def _overlaps(spark: SparkSession, path: str, pattern: str, entries: tuple[str, ...]) -> Iterator[tuple[str, bool]]:
    """How ``path`` overlaps what ``pattern`` matches, for each pattern :func:`_alternatives`
    expands it into that overlaps it: :data:`_INSIDE` when ``path`` lies inside a directory the
    pattern matches, :data:`_MATCHED` when the pattern matches ``path`` itself, :data:`_REACHES`
    when the pattern goes on into ``path`` with a component matching one of ``entries`` (names
    ``path`` holds at its top); each with whether the pattern names ``path``'s components as they
    are (``OUT/*``), not matching it among other paths (``dir/*/*`` for ``dir/model``)."""
    glob = spark._jvm.org.apache.hadoop.fs.GlobPattern
    names = model_key(spark, path).split("/")
    for alternative in _alternatives(spark, pattern):
        given = model_key(spark, alternative).rstrip("/").split("/")   # a root: no empty last component
        if not _leading_match(glob, given, names):
            continue
        named = all(_literal(glob, part) == name for part, name in zip(given, names))
        if len(names) > len(given):
            yield _INSIDE, named
        elif len(names) == len(given):
            yield _MATCHED, named
        elif any(_component_matches(glob, given[len(names)], name) for name in entries):
            yield _REACHES, named


def _alternatives(spark: SparkSession, pattern: str) -> list[str]:
    """The patterns Hadoop's globbing (and so Spark's reader) expands ``pattern`` into so that no
    braces hold a slash (``/d/{a/x,b}/*``: ``/d/a/x/*`` and ``/d/b/*``; nested braces too), by
    Hadoop's own ``GlobExpander``. A pattern Hadoop refuses (a trailing backslash) is returned as
    it is: reading the input reports it."""
    if "{" not in pattern:
        return [pattern]
    try:
        return [str(flat) for flat in spark._jvm.org.apache.hadoop.fs.GlobExpander.expand(pattern)]
    except Exception as exc:  # noqa: BLE001 - an illegal pattern: reading the input reports it
        log.debug("%s not expanded: %s", pattern, exc)
        return [pattern]


def _leading_match(glob, patterns: list[str], names: list[str]) -> bool:
    """Whether each of a path's leading components ``names`` is matched by the pattern component
    at its place, as far as both go (the shorter decides how far)."""
    return all(_component_matches(glob, pattern, name) for pattern, name in zip(patterns, names))


def _component_matches(glob, pattern: str, name: str) -> bool:
    """Whether one path component ``pattern`` matches ``name`` as Hadoop's globbing (and so Spark's
    reader) does: a wildcard component by Hadoop's ``GlobPattern`` alone, so ``in[1]`` matches
    ``in1`` and not a directory named ``in[1]`` (which an output, a literal path, may be); any
    other as the name it spells (:func:`_literal`). A malformed pattern matches nothing (reading
    the input reports it)."""
    literal = _literal(glob, pattern)
    if literal is not None:
        return literal == name
    try:
        return bool(glob(pattern).matches(name))
    except Exception:  # noqa: BLE001 - a malformed pattern
        return False


def _literal(glob, pattern: str) -> str | None:
    """The one name path component ``pattern`` reads, or None if it is a wildcard (``*?[{`` not
    escaped) or malformed. Hadoop reads a component without a wildcard as a name, its backslash
    escapes dropped: ``in\\[1\\]`` is ``in[1]``, ``a\\b`` is ``ab``."""
    if not _PATTERN.search(pattern):
        return pattern
    try:
        if glob(pattern).hasWildcard():
            return None
    except Exception:  # noqa: BLE001 - a malformed pattern (a trailing backslash, an unclosed class)
        return None
    return re.sub(r"\\(.)", r"\1", pattern)


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


def library_versions() -> dict:
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


@contextlib.contextmanager
def _removed_on_failure(spark: SparkSession, fs: HadoopFS, path: str, staged: str) -> Iterator[None]:
    """If the block fails (or is interrupted), delete ``staged``, what it was writing under
    ``path/_staging``, and ``_staging`` once empty; the job's description is cleared either way."""
    try:
        yield
    except BaseException:
        with cleaning_up(f"remove {staged}"):
            if fs.exists(staged):
                fs.delete(staged)
            drop_empty_staging(fs, path)
        with cleaning_up("clear the job's description"):
            describe_job(spark, None)
        raise
    describe_job(spark, None)


@contextlib.contextmanager
def full_disk_reported(spark: SparkSession, path: str) -> Iterator[None]:
    """Turn a full disk while publishing to ``path`` (:func:`~sparkw2v.filesystem.storage_full`)
    into :class:`StorageFullError`, one line saying which version is still the one read; any other
    error passes through unchanged."""
    try:
        yield
    except Exception as exc:
        if not storage_full(exc):
            raise
        existing = published_versions(spark, path)
        kept = f"version {existing[-1]} is intact and still the one read" if existing else "nothing was published"
        detail = next((line.strip() for line in str(exc).splitlines() if "No space left" in line), "")
        raise StorageFullError(errno.ENOSPC, f"no space left on device while publishing to {path}"
                               f"{': ' + detail[:200] if detail else ''}; {kept}. Free space and run again") from None


def write_model(spark: SparkSession, path: str, vocab: Vocabulary, w_in: np.ndarray, w_out: np.ndarray,
                metadata: dict, overwrite: bool = False, keep_versions: int = KEEP_VERSIONS,
                expect: Expected | None = None, extra_tables: Callable[[HadoopFS, str], dict] | None = None,
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
    ``extra_tables(fs, staging)`` writes further tables into the staged version (the counts
    table: :func:`publish_with_counts`) and returns their file list entries, recorded with the
    rest. ``chart`` gives the version's PNG chart (:func:`start_chart`;
    default: drawn from ``metadata`` while the tables are written).
    """
    if expect is None and not overwrite:
        expect = Expected(0, CREATED)
    started = time.perf_counter()
    if chart is None:
        chart = start_chart(metadata, vocab, w_in)
    path = strip_slash(path)
    fs = HadoopFS(spark, path)
    check_output(spark, path, overwrite)
    staging = f"{path}/{STAGING}/{STAGED_VERSION}{uuid.uuid4().hex[:8]}"
    publish_id = uuid.uuid4().hex
    describe_job(spark, "publish")
    with _removed_on_failure(spark, fs, path, staging):
        make_staging(fs, staging)
        with full_disk_reported(spark, path):
            files = _stage(spark, fs, staging, vocab, w_in, w_out, extra_tables)
        fs.mkdirs(f"{path}/{VERSIONS}")

        def stage_metadata(version: int) -> str:
            meta = _version_metadata(spark, metadata, version, publish_id, files, vocab, w_in, started)
            with full_disk_reported(spark, path):
                text = metadata_text(meta, indent=2)
                fs.write_text(f"{staging}/{METADATA}", text)
                png = chart()
                if png is not None:
                    fs.write_bytes(f"{staging}/{report.CHART}", png)
            return text

        # From its metadata and claim until LATEST names the version, an interrupt waits: the
        # version is published whole or not at all, and the command says which (sparkw2v.interrupts).
        with interrupts.deferred():
            version, text = _claim_next(spark, fs, path, staging, publish_id, expect, stage_metadata)
            published = fs.qualified(version_path(path, version))
            interrupts.completed(f"published {published}")
            _after_publish(spark, fs, path, version, keep_versions)
    return Published(published, json.loads(text))   # as readers read it


def _stage(spark: SparkSession, fs: HadoopFS, staging: str, vocab: Vocabulary, w_in: np.ndarray,
           w_out: np.ndarray, extra_tables: Callable[[HadoopFS, str], dict] | None) -> dict:
    """Write the version's tables, and ``extra_tables``' ones, into ``staging``; returns their file list."""
    write_tables(spark, staging, vocab, w_in, w_out)
    files = table_files(fs, staging)
    if extra_tables is not None:
        files.update(extra_tables(fs, staging))
    return files


def _version_metadata(spark: SparkSession, metadata: dict, version: int, publish_id: str, files: dict,
                      vocab: Vocabulary, w_in: np.ndarray, started: float) -> dict:
    """``metadata`` with what the version records about itself (number, file list, sizes, libraries)."""
    meta = {**metadata, "format_version": FORMAT_VERSION, "version": version, "publish_id": publish_id,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files,
            "vocab_size": len(vocab), "vector_size": int(w_in.shape[1]), "versions": library_versions(),
            "spark": spark_run(spark)}
    if isinstance(metadata.get("timings"), dict):  # publishing so far: the tables, written and hashed
        meta["timings"] = {**metadata["timings"], "publish_seconds": time.perf_counter() - started}
    return meta


def _claim_next(spark: SparkSession, fs: HadoopFS, path: str, staging: str, publish_id: str,
                expect: Expected | None, stage_metadata: Callable[[int], str]) -> tuple[int, str]:
    """Rename ``staging`` into ``path/versions/`` as the next version (:func:`_claim`), trying the
    next number again while other writers take numbers first, up to :data:`PUBLISH_ATTEMPTS`
    times; ``expect`` is checked before each attempt (and its ``publish_id`` before and after
    the claim). ``stage_metadata(version)`` writes the staged version's metadata.json for that number
    and returns its text. Returns the number claimed and that text."""
    version = None
    for _ in range(PUBLISH_ATTEMPTS):
        existing = published_versions(spark, path)
        newest = existing[-1] if existing else 0
        # A path emptied since a model was loaded from it or saved there hides nothing (pyspark.ml's
        # overwrite deletes a pipeline's directory before its stages are written again).
        emptied = expect is not None and newest == 0 and expect.why in (LOADED, SAVED)
        if expect is not None and newest != expect.version and not emptied:
            raise _concurrent(spark, path, expect.version, newest, expect.why)
        version = newest + 1
        text = stage_metadata(version)
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
            return version, text
    target = version_path(path, version)
    if fs.exists(target) and not fs.exists(f"{target}/{METADATA}"):
        raise ConcurrentPublishError(
            f"could not publish to {path}: {target} exists but is incomplete (it has no {METADATA}): "
            "another writer is still copying it into place, or it was left by a killed writer or "
            "damaged. If no other writer is publishing, remove it and run again")
    raise ConcurrentPublishError(f"could not publish to {path}: other writers took version "
                                 f"{version} and the ones before it while this run published")


def _after_publish(spark: SparkSession, fs: HadoopFS, path: str, version: int, keep_versions: int) -> None:
    """After publishing ``version``: ``LATEST`` names the newest version, versions beyond the
    newest ``keep_versions`` are deleted, and what killed publishes left under ``_staging`` goes."""
    # The newest number now, not necessarily this run's (another writer may have published since):
    # this narrows, and readers' file check closes, the window in which LATEST names an older version.
    published = published_versions(spark, path)
    newest = max([version, *published])
    _point_latest(fs, path, newest)
    for old in published[:-max(1, keep_versions)]:
        fs.delete(version_path(path, old))
    remove_incomplete_below(fs, path, newest, published)
    sweep_staging(spark, fs, path)
    drop_empty_staging(fs, path)


#: Seconds since its newest file was written after which an incomplete version directory below
#: the newest version is taken for the remains of an interrupted deletion.
STALE_VERSION_SECONDS = 3600.0


def remove_incomplete_below(fs: HadoopFS, path: str, newest: int, published: list[int]) -> list[str]:
    """Remove the directories under ``path/versions/`` numbered below ``newest`` that were not
    complete (not in ``published``) when listed and hold no file written in the last
    :data:`STALE_VERSION_SECONDS`: versions whose deletion by retention was interrupted
    (metadata.json goes first where a delete is file by file, as on S3), which no reader reads
    and retention would never list again. Never one above ``newest``, nor a fresh one: that may
    be another writer's version still being copied into place (a rename is a copy on object
    stores, and a writer that claimed a lower number may finish after one that claimed a higher).
    Returns their names."""
    root = f"{path}/{VERSIONS}"
    removed = []
    for name in fs.list_names(root):
        if not name.isdigit() or int(name) >= newest or int(name) in published:
            continue
        try:
            written = fs.newest_file_time(f"{root}/{name}")
            if written is not None and time.time() - written < STALE_VERSION_SECONDS:
                continue
            fs.delete(f"{root}/{name}")
            removed.append(name)
        except Exception as exc:  # noqa: BLE001 - another writer's retention removing it too
            log.debug("could not remove %s/%s: %s", root, name, exc)
    if removed:
        log.warning("removed %d incomplete version director%s below version %d of %s (%s): an earlier deletion by "
                    "retention was interrupted", len(removed), "y" if len(removed) == 1 else "ies", newest, path,
                    ", ".join(f"{VERSIONS}/{n}" for n in sorted(removed)[:5]))
    return removed


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
    found = read_json(fs, f"{directory}/{METADATA}").get("publish_id")
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
    except Exception as exc:  # the date only adds to the message; the version may be gone already
        log.debug("no publishing date for version %d of %s: %s", newest, path, exc)
    wrong = None if why == CREATED else not_in_place(filesystem_of(spark, path), version_path(path, newest))
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


def _point_latest(fs: HadoopFS, path: str, version: int) -> None:
    """Make ``LATEST`` name ``version``. Not atomic on every filesystem, and need not be:
    readers pass over a ``LATEST`` left behind (:func:`~sparkw2v.vector_table.resolve`)."""
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


#: Times :func:`record_evaluation` replaces evaluation.json while other recordings race it.
RECORD_ATTEMPTS = 10


def record_evaluation(spark: SparkSession, location: str, scores: dict) -> str:
    """Store ``scores`` with the version at ``location`` as ``evaluation.json``; returns its path.

    metadata.json is never rewritten (a version stays complete whatever happens);
    :func:`sparkw2v.vector_table.read_metadata` adds the file's content under ``evaluation``.
    """
    fs = HadoopFS(spark, location)
    target = f"{location}/{EVALUATION}"
    tmp = f"{location}/.{EVALUATION}-{uuid.uuid4().hex[:8]}"
    _refuse_deleted_version(fs, location)   # writing would make its directory again, holding only the scores
    fs.write_text(tmp, json.dumps(scores, indent=2, sort_keys=True, default=json_default))
    try:
        # A Hadoop rename never replaces a file: delete, then rename, again if another recording
        # came in between (the last one stays).
        for attempt in range(RECORD_ATTEMPTS):
            if fs.exists(target):
                fs.delete(target)
            try:
                fs.rename(tmp, target)
                break
            except OSError:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
    finally:
        if fs.exists(tmp):
            fs.delete(tmp)
    if not fs.exists(f"{location}/{METADATA}"):   # deleted while the scores were written
        if all(name.lstrip(".").startswith(EVALUATION) for name in fs.list_names(location, hidden=True)):
            fs.delete(location)
        _refuse_deleted_version(fs, location)
    return fs.qualified(target)


def _refuse_deleted_version(fs: HadoopFS, location: str) -> None:
    """ConcurrentPublishError if the version at ``location`` is gone (retention, another writer)."""
    if not fs.exists(f"{location}/{METADATA}"):
        number, root = version_of(location), root_of(location)
        what = f"version {number} of {root}" if root is not None else location
        raise ConcurrentPublishError(f"{what} was deleted (retention keeps only the newest versions) after it "
                                     "was scored; nothing was recorded: evaluate the model again")


def publish_with_counts(spark: SparkSession, path: str, vocab: Vocabulary, w_in: np.ndarray, w_out: np.ndarray,
                        metadata: dict, counts: DataFrame | pa.Table, overwrite: bool, keep_versions: int,
                        expect: Expected | None = None) -> Published:
    """Publish a model as the next version of ``path`` with ``counts`` (word, count, batch_count)
    as its ``counts/`` table, written into the staged version with the other tables, so the
    version appears with it (``expect``: see :func:`write_model`).
    """
    path = strip_slash(path)

    def write_counts_in(fs: HadoopFS, staging: str) -> dict:
        write_counts(spark, counts, vocab.distinct_words, f"{staging}/{COUNTS}", fs.is_local(path))
        return file_entries(fs, f"{staging}/{COUNTS}", COUNTS)

    return write_model(spark, path, vocab, w_in, w_out, metadata, overwrite=overwrite, keep_versions=keep_versions,
                       expect=expect, extra_tables=write_counts_in)
