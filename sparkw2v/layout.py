"""Names and paths of the on-disk model, which every reader and writer shares.

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

A directory that holds ``metadata.json`` itself is a single version. Paths are literal:
model paths are never globbed (``[1]`` in a path is two brackets).
"""

from __future__ import annotations

import logging
import os
from urllib.parse import unquote, urlsplit

from pyspark.sql import SparkSession

from .filesystem import HadoopFS, LocalFS

log = logging.getLogger("sparkw2v")

FORMAT_VERSION = 3  # 2: metadata.json lists every data file with its size and SHA-256; 3: and its own
VECTORS, VOCAB, OUTPUT_VECTORS, METADATA = "vectors", "vocab", "output_vectors", "metadata.json"
VERSIONS, LATEST, STAGING, CHECKPOINT = "versions", "LATEST", "_staging", "checkpoint"
#: The running word counts of a version (:mod:`sparkw2v.counts_table`): word string, count bigint
#: (all text so far), batch_count bigint (the text of the run that published this version). Written
#: into the staged version with the other tables; versions published by earlier code may name it
#: under ``_staging`` (moved in after publishing).
COUNTS = "counts"
#: pyspark.ml's metadata directory beside the versions (:mod:`sparkw2v.ml_metadata`).
ML_METADATA = "metadata"
#: Scores recorded for a published version by ``sparkw2v evaluate --record``.
EVALUATION = "evaluation.json"


def strip_slash(path: str) -> str:
    """``path`` without trailing slashes, but a root (``/``, ``file:///``) keeps one."""
    stripped = path.rstrip("/")
    if not stripped:
        return path
    return stripped + "/" if stripped.endswith(":") else stripped


def published_versions(spark: SparkSession, path: str) -> list[int]:
    """Numbers of the complete versions under ``path``, oldest first."""
    return complete_versions(HadoopFS(spark, path), path)


def complete_versions(fs: "HadoopFS | LocalFS", path: str) -> list[int]:
    root = f"{strip_slash(path)}/{VERSIONS}"
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
    return f"{strip_slash(path)}/{VERSIONS}/{version:06d}"


def root_of(location: str) -> str | None:
    """The model path whose version ``location`` (``PATH/versions/NNNNNN``) is; None for a
    single-version directory."""
    parts = strip_slash(location).rsplit("/", 2)
    return parts[0] if len(parts) == 3 and parts[1] == VERSIONS and parts[2].isdigit() else None


def version_of(location: str) -> int | None:
    """The number of the version at ``location`` (``PATH/versions/NNNNNN``); None if it is none."""
    return int(strip_slash(location).rsplit("/", 1)[1]) if root_of(location) is not None else None


def model_key(spark: SparkSession, path: str) -> str:
    """``path`` qualified, without a trailing slash, and on the local filesystem with its symbolic
    links resolved: one key for every spelling of a model path."""
    path = strip_slash(path)
    fs = HadoopFS(spark, path)
    if fs.is_local(path):
        return "file:" + os.path.realpath(unquote(urlsplit(fs.uri(path)).path))
    return fs.qualified(path)


def is_model(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` is a sparkw2v model (a version directory, or one with published versions)."""
    path = strip_slash(path)
    return HadoopFS(spark, path).exists(f"{path}/{METADATA}") or bool(published_versions(spark, path))


def model_containing(spark: SparkSession | None, path: str, above: bool = False,
                     fs: "HadoopFS | LocalFS | None" = None) -> str | None:
    """The sparkw2v model directory that is ``path`` or holds it (``above``: that holds it, not
    ``path`` itself), or None; a version's directory names its model (``PATH``, not
    ``PATH/versions/NNNNNN``). ``fs``: the filesystem to look in (default ``spark``'s, for
    ``path``). A directory that cannot be read (no permission on an object store's bucket,
    say) is passed over: the search goes on above it."""
    fs = fs or HadoopFS(spark, path)
    for depth, current in enumerate(fs.upwards(strip_slash(path))):
        if above and depth == 0:
            continue
        try:
            if fs.exists(fs.child(current, METADATA)) and fs.exists(fs.child(current, VECTORS)):
                return root_of(current) or current
            versions_dir = fs.child(current, VERSIONS)
            if any(name.isdigit() and fs.exists(fs.child(fs.child(versions_dir, name), METADATA))
                   for name in fs.list_names(versions_dir)):
                return current
        except Exception as exc:  # noqa: BLE001 - an unreadable directory holds no model we could see
            log.debug("%s not checked for a model: %s", current, exc)
    return None


def model_within(spark: SparkSession, path: str) -> str | None:
    """A sparkw2v model at or anywhere under directory ``path`` (the first found), or None: one
    recursive listing, looking for the ``metadata.json`` of a published version
    (``.../versions/NNNNNN/metadata.json``) or of a single-version directory (beside ``vectors``)."""
    path = strip_slash(path)
    fs = HadoopFS(spark, path)
    for found in fs.files_named(path, METADATA):
        directory = found.rsplit("/", 1)[0]
        root = root_of(directory)
        if root is not None:
            return root
        if fs.exists(fs.child(directory, VECTORS)):
            return directory
    return None
