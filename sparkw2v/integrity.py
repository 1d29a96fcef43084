"""metadata.json's seal and file list: how a reader knows a version is the one written.

``metadata.json`` lists every data file of a version (``files``: path within the version,
size, SHA-256) and the row count (``vocab_size``), and records the SHA-256 of itself
(:data:`SEAL`). Every read checks the file list (none missing, none extra), each file's
size and digest, and the row count, and fails with one line naming the file
(:class:`~sparkw2v.errors.DamagedModelError`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
from pyspark.sql import SparkSession

from .errors import DamagedModelError, UserError
from .filesystem import HadoopFS, LocalFS
from .layout import METADATA, OUTPUT_VECTORS, VECTORS, VOCAB

#: metadata.json's digest of itself: the SHA-256 of its other keys as sorted JSON. The file
#: lists every data file's digest; this covers the list and the rest of the file, also on
#: filesystems that keep no checksum files beside it (S3, ABFS, GCS).
SEAL = "metadata_sha256"
#: The metadata format from which the seal is required (its removal is damage, not an older file).
SEALED_FROM = 3


def metadata_text(meta: dict, indent: int | None = None) -> str:
    """``meta`` as metadata.json's JSON text, with its :data:`SEAL`."""
    return json.dumps(sealed(meta), indent=indent, sort_keys=True, default=json_default)


def sealed(meta: dict) -> dict:
    """``meta`` with its :data:`SEAL`."""
    return {**meta, SEAL: seal_digest(meta)}


def seal_digest(meta: dict) -> str:
    # Hashed as it reads back: JSON turns NumPy values into numbers and every key into a string.
    plain = json.loads(json.dumps({k: v for k, v in meta.items() if k != SEAL}, default=json_default))
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def json_default(value: object) -> object:
    """``json.dumps``'s ``default`` for NumPy values (numbers and arrays)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(fs: HadoopFS, path: str) -> dict:
    """The JSON object in the file at ``path``; :class:`DamagedModelError` if it is none or cannot be read."""
    try:
        value = json.loads(fs.read_text(path))
    except json.JSONDecodeError as exc:
        raise DamagedModelError(f"{path} is damaged: not valid JSON ({exc.msg} at line {exc.lineno} "
                                f"column {exc.colno})") from None
    except Exception as exc:  # e.g. a ChecksumException from a .crc file
        if isinstance(exc, (FileNotFoundError, UserError)):
            raise
        raise DamagedModelError(f"cannot read {path}: {damage_detail(exc)}") from None
    if not isinstance(value, dict):
        raise DamagedModelError(f"{path} is damaged: it holds a JSON {type(value).__name__}, not an object")
    return value


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


def verify_tables(spark: SparkSession, directory: str, meta: dict, tables: tuple[str, ...],
                  digests: bool = True) -> None:
    """Check that ``tables`` of the version at ``directory`` hold exactly the files its
    metadata lists, with their sizes and (``digests``) SHA-256; :class:`DamagedModelError` names
    the first file that differs. A format-1 version lists no files, and is not checked."""
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
                raise DamagedModelError(f"{file} is damaged: {damage_detail(exc)}") from None
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


def damage_detail(exc: BaseException) -> str:
    """What a :class:`DamagedModelError` quotes of the error that revealed the damage: the deepest
    line naming a (Java) exception in its text, else its first line. Unlike
    :func:`sparkw2v.errors.first_line` it asks nothing of the JVM."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    deep = [line for line in lines if "Exception:" in line and not line.startswith("at ")]
    line = deep[-1] if deep else lines[0] if lines else type(exc).__name__
    return line.removeprefix(": ")[:300]   # Py4J puts the Java exception after ": "

