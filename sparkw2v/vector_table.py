"""Choosing and reading a version of the on-disk model (laid out as :mod:`sparkw2v.layout` says).

Readers take the version ``LATEST`` names, unless a newer version holds every file its
metadata lists (two writers, or a writer killed between its rename and ``LATEST``, can leave
the pointer behind); where a directory rename is a copy (S3), a version still being copied,
or left half copied, is not taken. A directory that holds ``metadata.json`` itself (a single
version) is read as it is. Every read checks the version's files and row counts against its
metadata (:mod:`sparkw2v.integrity`). Nothing here unpickles anything: loading reads Parquet
and JSON only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from .counts_table import counts_staged
from .errors import DamagedModelError, VersionsRemovedError
from .filesystem import HadoopFS, LocalFS, filesystem_of
from .integrity import SEAL, SEALED_FROM, check_files, check_rows, damage_detail, read_json, seal_digest, verify_tables
from .layout import (COUNTS, EVALUATION, LATEST, METADATA, OUTPUT_VECTORS, VECTORS, VERSIONS, VOCAB,
                     complete_versions, strip_slash, version_path)
from .tables import read_table, vector_matrix, vocabulary_of
from .vocabulary import Vocabulary, vocabulary_order

log = logging.getLogger("sparkw2v")


@dataclass
class LoadedModel:
    vocab: Vocabulary
    w_in: np.ndarray
    w_out: np.ndarray | None
    metadata: dict
    location: str = ""   # the version directory read


#: Times a reader takes the newest version again when retention removed the one it was reading.
RETENTION_RETRIES = 3


def resolve(spark: SparkSession | None, path: str) -> str:
    """The directory holding the model to read at ``path``: itself or its current version.
    Without ``spark``, ``path`` is a local path, read without Spark."""
    path = strip_slash(path)
    fs = filesystem_of(spark, path)
    if fs.exists(f"{path}/{METADATA}"):
        return path
    versions = complete_versions(fs, path)
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
    if hinted == newest:
        return version_path(path, newest)
    there = hinted is not None and hinted > newest and fs.exists(version_path(path, hinted))
    if hinted is not None and hinted > newest and (path, hinted, there) not in _PASSED_OVER:
        _PASSED_OVER.add((path, hinted, there))   # once per process: a command resolves a path several times
        if there:
            log.warning("%s names version %d, which has no %s (still being copied into place, or damaged): "
                        "reading version %d", f"{path}/{LATEST}", hinted, METADATA, newest)
        else:
            log.warning("%s names version %d, which is not there (removed): reading version %d, the newest "
                        "in place", f"{path}/{LATEST}", hinted, newest)
    floor = hinted if hinted in versions else None
    named = f"{LATEST} names version {floor}" if floor is not None else f"{LATEST} names none of them"
    # The newest version above the one LATEST names (above none, without a usable LATEST) that is
    # in place, else that one (else the newest, for reading to report what is wrong with it).
    for candidate in reversed([v for v in versions if floor is None or v > floor]):
        wrong = not_in_place(fs, version_path(path, candidate))
        if wrong is None:
            return version_path(path, candidate)
        key = (path, candidate, wrong)
        if key not in _PASSED_OVER:  # once per process: a command resolves a path several times
            _PASSED_OVER.add(key)
            log.warning("%s passed over, still being copied into place or damaged (%s); %s",
                        version_path(path, candidate), wrong, named)
    return version_path(path, floor if floor is not None else newest)


_PASSED_OVER: set[tuple] = set()


def not_in_place(fs: "HadoopFS | LocalFS", directory: str) -> str | None:
    """None if ``directory`` holds exactly the files its metadata lists, with their sizes (no
    hashing: telling a finished version from one still being copied into place is all this is for);
    else what is wrong. A counts table still under ``_staging`` counts as in place when it holds its
    listed files: the version was published and its writer stopped before moving the table in
    (reading moves it)."""
    try:
        meta = read_json(fs, f"{directory}/{METADATA}")
        tables = {name.split("/", 1)[0] for name in meta.get("files") or {}}
        if COUNTS in tables and not fs.exists(f"{directory}/{COUNTS}") and counts_staged(fs, directory, meta):
            tables.discard(COUNTS)
        check_files(fs, directory, meta, tuple(sorted(tables)), digests=False)
    except Exception as exc:  # unreadable, or a file missing or of another size
        return damage_detail(exc)
    return None


def read_metadata(spark: SparkSession | None, path: str) -> dict:
    """A model's (or a checkpoint's) metadata.json; FileNotFoundError if ``path`` is not a model
    directory, :class:`DamagedModelError` naming the file if it is not valid JSON or does not
    match its own digest (:data:`sparkw2v.integrity.SEAL`, recorded from format :data:`~sparkw2v.integrity.SEALED_FROM`).
    Without ``spark``, ``path`` is a local path, read without Spark."""
    directory = resolve(spark, path)
    fs = filesystem_of(spark, directory)
    meta = read_json(fs, f"{directory}/{METADATA}")
    if SEAL not in meta and int(meta.get("format_version") or 0) >= SEALED_FROM:
        raise DamagedModelError(f"{directory}/{METADATA} is damaged: its format (version {meta['format_version']}) "
                                f"records its own SHA-256, but {SEAL} is missing (bit rot or an edit)")
    if SEAL in meta and meta[SEAL] != seal_digest(meta):
        raise DamagedModelError(f"{directory}/{METADATA} is damaged: its content does not match the SHA-256 "
                                f"it recorded of itself ({SEAL}; bit rot or an edit)")
    meta.pop(SEAL, None)
    evaluation = _evaluation(fs, f"{directory}/{EVALUATION}")
    if evaluation is not None:   # recorded after publishing: newer than metadata.json's
        meta["evaluation"] = evaluation
    return meta


#: Reads of evaluation.json, a moment apart, before a file that changes while read is called damaged.
EVALUATION_READS = 5


def _evaluation(fs, path: str) -> dict | None:
    """A version's evaluation.json, or None. A recording replaces it (delete, then rename): a
    reader that finds it gone has none, and one that finds it changing under it reads again. The
    file holds scores recorded after publishing, outside the version's seal: a damaged one leaves
    the scores out with a warning, and the model is served."""
    for attempt in range(EVALUATION_READS):
        if not fs.exists(path):
            return None
        try:
            return read_json(fs, path)
        except DamagedModelError as exc:
            if attempt == EVALUATION_READS - 1:
                log.warning("%s; its recorded scores are left out (the vectors are intact): record them again "
                            "with sparkw2v evaluate --record, or remove the file", exc)
                return None
            time.sleep(0.05 * (attempt + 1))
    return None


def read_model(spark: SparkSession, path: str, with_output: bool = True) -> LoadedModel:
    """Load a model written by :func:`~sparkw2v.publishing.write_model` (its current version) into
    driver memory, checking its files and row counts against its metadata. If retention (another
    writer's publish with a small ``keep_versions``) removes the version while it is read, the
    newest one is read instead."""
    for _ in range(RETENTION_RETRIES + 1):
        location = resolve(spark, path)
        try:
            return _read_version(spark, location, with_output)
        except (DamagedModelError, FileNotFoundError):
            removed = location != strip_slash(path) and not HadoopFS(spark, location).exists(location)
            if not removed:
                raise
            log.info("%s was removed by retention while it was read; reading the newest version", location)
    raise VersionsRemovedError(f"{path}: {RETENTION_RETRIES + 1} versions in a row were removed while they were "
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
    table = table.take(pa.array(vocabulary_order(table)))
    vocab = vocabulary_of(table, meta)
    w_in = vector_matrix(table.column("vector"), meta.get("vector_size"), f"{path}/{VECTORS}")
    w_out = None
    if with_output:
        out = read_table(spark, path, OUTPUT_VECTORS)
        check_rows(path, meta, OUTPUT_VECTORS, out.num_rows)
        out = out.take(pa.array(np.argsort(out.column("id").to_numpy())))
        # vectors are sorted by (count desc, word), which is the id order written.
        w_out = vector_matrix(out.column("vector"), w_in.shape[1], f"{path}/{OUTPUT_VECTORS}")
        if w_out.shape != w_in.shape:
            raise DamagedModelError(f"{path}/{OUTPUT_VECTORS} holds a {w_out.shape[0]} x {w_out.shape[1]} "
                                    f"matrix, but {VECTORS}/ a {w_in.shape[0]} x {w_in.shape[1]} one")
    return LoadedModel(vocab, w_in, w_out, meta, path)

