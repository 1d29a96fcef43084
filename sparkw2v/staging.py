"""The ``_staging`` directory beside a model's versions, where publishes and checkpoints write
before their rename into place: making it, removing what killed writers left there, and
removing it once empty (publishing, checkpoints and the counts table's move-in all leave it so).
"""

from __future__ import annotations

import json
import logging
import time

from pyspark.sql import SparkSession

from .filesystem import HadoopFS
from .layout import METADATA, ML_METADATA, STAGING, published_versions, version_path

log = logging.getLogger("sparkw2v")

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
#: is removed by the next publish, and a stopped run's checkpoints by the next run: far
#: longer than any publish takes.
STALE_SECONDS = 24 * 3600
#: What publishing stages under ``_staging`` (checkpoints, under ``checkpoint``, are not its).
STAGED_VERSION = "version-"
STAGED_PREFIXES = (STAGED_VERSION, "counts-", "LATEST-", f"{ML_METADATA}-")   # counts-: earlier code's


def sweep_staging(spark: SparkSession, fs: HadoopFS, path: str, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove what killed publishes left once older than ``older_than`` seconds; returns their
    names (relative to ``path``): under ``path/_staging``, staged versions, counts tables and
    pointers; inside a version's directory, the staged version of a writer that lost the race for
    that number and was killed before taking it back out (:func:`sparkw2v.publishing._claim`).
    A counts table that a published version still names (its move in was interrupted; reading
    that version moves it) is kept."""
    staging = f"{path}/{STAGING}"
    versions = published_versions(spark, path)
    leftovers = [f"{STAGING}/{n}" for n in fs.list_names(staging) if n.startswith(STAGED_PREFIXES)]
    for version in versions:
        directory = version_path(path, version)
        leftovers += [f"{directory[len(path) + 1:]}/{n}" for n in fs.list_names(directory)
                      if n.startswith(STAGED_VERSION)]
    if not leftovers:
        return []
    pending = set()
    for version in versions:
        try:
            named = json.loads(fs.read_text(f"{version_path(path, version)}/{METADATA}")).get("counts_table")
        except Exception:  # unreadable metadata: its reader reports it
            continue
        if named:
            pending.add(f"{STAGING}/{named}")
    swept = []
    now = time.time()
    for name in leftovers:
        try:
            stale = now - fs.modified(f"{path}/{name}") > older_than
        except Exception:  # removed meanwhile by another writer
            continue
        if stale and name not in pending:
            fs.delete(f"{path}/{name}")
            swept.append(name)
    if swept:
        log.info("removed %d leftover(s) of interrupted publishes from %s: %s", len(swept), path,
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
