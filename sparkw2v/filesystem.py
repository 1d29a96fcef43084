"""The filesystem calls sparkw2v makes, through Hadoop's FileSystem API from the driver.

:class:`HadoopFS` works on any filesystem Spark can write (local, HDFS, S3, ABFS, GCS);
:class:`LocalFS` answers its reading calls on the local filesystem, so that a local output
can be checked before Spark starts.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

from pyspark.sql import DataFrameReader, SparkSession

#: Listings of a directory other writers may remove and make again while it is listed.
LIST_ATTEMPTS = 5


def hidden(name: str) -> bool:
    """Whether a file or directory name is not data to Spark and Hadoop: it starts with "." or "_"
    (checksums, ``_SUCCESS``, ``_staging``, ...). Their readers skip such names at every level."""
    return name.startswith((".", "_"))


class LocalFS:
    """The reading calls of :class:`HadoopFS` on the local filesystem, so that a local output is
    checked, and a local model's metadata read (``sparkw2v info``), without starting Spark."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)

    def list_names(self, path: str, hidden: bool = False) -> list[str]:
        """As Hadoop lists: a directory's entries, a file itself, nothing for what does not exist."""
        try:
            return os.listdir(path)
        except NotADirectoryError:
            return [os.path.basename(path)]
        except FileNotFoundError:
            return []

    def read_text(self, path: str) -> str:
        with open(path, encoding="utf-8") as fh:
            return fh.read().rstrip("\n")

    def uri(self, path: str) -> str:
        return Path(path).absolute().as_uri()

    def is_local(self, path: str) -> bool:
        return True

    def child(self, path: str, name: str) -> str:
        return os.path.join(path, name)

    def upwards(self, path: str) -> Iterator[str]:
        """As :meth:`HadoopFS.upwards`: ``path`` made absolute, then each directory above it."""
        current = os.path.abspath(path)
        while True:
            yield current
            parent = os.path.dirname(current)
            if parent == current:
                return
            current = parent

    def data_files(self, path: str) -> dict[str, int]:
        """As :meth:`HadoopFS.data_files`: sizes of the files under ``path`` by relative path, names
        starting with ``.`` or ``_`` left out."""
        found: dict[str, int] = {}
        for directory, subdirectories, files in os.walk(path):
            subdirectories[:] = [d for d in subdirectories if not hidden(d)]
            prefix = os.path.relpath(directory, path).replace(os.sep, "/")
            for name in files:
                if not hidden(name):
                    found[name if prefix == "." else f"{prefix}/{name}"] = os.path.getsize(os.path.join(directory, name))
        return found


def local_output_path(path: str, default_is_local: bool) -> str | None:
    """``path`` as a local path if it is on the local filesystem whatever Hadoop's settings say
    (a ``file:`` URI), or has no scheme and ``default_is_local``
    (:func:`sparkw2v.session.default_filesystem_is_local`); else None."""
    parts = urlsplit(path)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        local = parts.path          # as Hadoop reads it: literally, "%20" is no space
    elif not parts.scheme and default_is_local:
        local = path
    else:
        return None
    return os.path.normpath(local)  # ".." by the text, as Hadoop's Path does, before any link is followed




class HadoopFS:
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

    def is_dir(self, path: str) -> bool:
        return bool(self.fs.getFileStatus(self.p(path)).isDirectory())

    def rename(self, src: str, dst: str) -> None:
        if not self.fs.rename(self.p(src), self.p(dst)):
            raise OSError(f"could not move {src} to {dst}")

    def delete(self, path: str) -> None:
        self.fs.delete(self.p(path), True)

    def mkdirs(self, path: str) -> None:
        self.fs.mkdirs(self.p(path))

    def remove_if_empty(self, path: str) -> bool:
        """Delete file or empty directory ``path``; False (nothing done) if it is a directory with
        entries or is gone. Never recursive, so what another writer puts there meanwhile stays."""
        try:
            return bool(self.fs.delete(self.p(path), False))
        except Exception:  # the filesystem refuses a non-empty directory with an IOException
            return False

    def list_names(self, path: str, hidden: bool = False) -> list[str]:
        """Names of the entries of directory ``path`` ([] if it does not exist, or stops existing
        while it is listed: another writer may remove it, and another may make it again, which
        is listed afresh). ``hidden`` adds the checksum files that Hadoop's local filesystem
        keeps out of its listings."""
        fs = self.fs
        if hidden and fs.getClass().getName().endswith("LocalFileSystem"):
            fs = fs.getRawFileSystem()
        vanished = None
        for _ in range(LIST_ATTEMPTS):
            if not self.exists(path):
                return []
            try:
                statuses = fs.listStatus(self.p(path))
            except Exception as exc:
                if "FileNotFoundException" not in str(exc):
                    raise
                vanished = exc   # removed while listed: gone now, or made again by another writer
                continue
            return [str(status.getPath().getName()) for status in statuses]
        raise vanished

    def modified(self, path: str) -> float:
        """When ``path`` was last modified, in seconds since the epoch."""
        return self.fs.getFileStatus(self.p(path)).getModificationTime() / 1000

    def newest_file_time(self, path: str) -> float | None:
        """When the most recently modified file at any depth under directory ``path`` was
        modified, in seconds since the epoch; None if it holds no file."""
        newest = None
        found = self.fs.listFiles(self.p(path), True)
        while found.hasNext():
            stamp = found.next().getModificationTime() / 1000
            newest = stamp if newest is None else max(newest, stamp)
        return newest

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

    def read_head(self, path: str, size: int) -> bytes:
        """The first ``size`` bytes of a file (fewer if it is shorter)."""
        stream = self.fs.open(self.p(path))
        try:
            return bytes(stream.readNBytes(size))
        finally:
            stream.close()

    def write_text(self, path: str, text: str) -> None:
        out = self.fs.create(self.p(path), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()

    def write_bytes(self, path: str, data: bytes) -> None:
        out = self.fs.create(self.p(path), True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def qualified(self, path: str) -> str:
        return str(self.fs.makeQualified(self.p(path)).toString())

    def child(self, path: str, name: str) -> str:
        """``path/name`` as Hadoop joins them (at the root too)."""
        return str(self._Path(self.p(path), name).toString())

    def upwards(self, path: str) -> Iterator[str]:
        """``path`` qualified, then each directory above it up to the root."""
        current = self.fs.makeQualified(self.p(path))
        while current is not None:
            yield str(current.toString())
            current = current.getParent()

    def move_from_local(self, local: str, path: str) -> None:
        """Move the local file or directory ``local`` to ``path``; on the local filesystem Hadoop
        writes the ``.crc`` checksum files its readers verify, as Spark's writer does."""
        self.fs.moveFromLocalFile(self.p(local), self.p(path))

    def uri(self, path: str) -> str:
        """The qualified path as a URI (reserved characters percent-encoded), for pyarrow."""
        return str(self.fs.makeQualified(self.p(path)).toUri().toString())

    def is_local(self, path: str) -> bool:
        """Whether ``path`` is on the driver's local filesystem (``file:``)."""
        return urlsplit(self.uri(path)).scheme == "file"

    def data_files(self, path: str) -> dict[str, int]:
        """Sizes of the data files under directory ``path`` by relative path (recursive;
        names starting with ``.`` or ``_``, such as ``.crc`` files and ``_SUCCESS``, left out)."""
        found: dict[str, int] = {}
        pending = [("", path)]
        while pending:
            prefix, directory = pending.pop()
            if not self.exists(directory):
                continue
            for status in self.fs.listStatus(self.p(directory)):
                name = str(status.getPath().getName())
                if hidden(name):
                    continue
                if status.isDirectory():
                    pending.append((f"{prefix}{name}/", f"{directory}/{name}"))
                else:
                    found[f"{prefix}{name}"] = int(status.getLen())
        return found

    def files_named(self, path: str, name: str) -> Iterator[str]:
        """The files called ``name`` at any depth under directory ``path``, as ``path/...``: one
        recursive listing (a page of keys per request on object stores); on the local filesystem
        a walk that follows no symbolic link (deleting ``path`` removes the links, not what they
        lead to)."""
        path = path.rstrip("/") or path
        if self.is_local(path):
            local = unquote(urlsplit(self.uri(path)).path)
            for directory, _, files in os.walk(local):
                if name in files:
                    relative = os.path.relpath(os.path.join(directory, name), local).replace(os.sep, "/")
                    yield f"{path}/{relative}"
            return
        if not self.exists(path):
            return
        found = self.fs.listFiles(self.p(path), True)
        while found.hasNext():
            status = found.next()
            if str(status.getPath().getName()) == name:
                yield str(status.getPath().toString())

    def sha256(self, path: str) -> str:
        """SHA-256 of a file, computed in the JVM as it streams (any Hadoop filesystem)."""
        stream = self.fs.open(self.p(path))
        try:
            return str(self._jvm.org.apache.commons.codec.digest.DigestUtils.sha256Hex(stream))
        finally:
            stream.close()


def literal_reader(spark: SparkSession) -> DataFrameReader:
    """A DataFrame reader that takes paths literally: no Hadoop globbing of ``[]{}*?``."""
    return spark.read.option("__globPaths__", "false")


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (Python or a Java error through Py4J) says the filesystem is full."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "No space left on device" in str(exc)


def filesystem_of(spark: SparkSession | None, path: str) -> "HadoopFS | LocalFS":
    """Hadoop's filesystem of ``path``; without ``spark``, ``path`` is local (read without Spark)."""
    return HadoopFS(spark, path) if spark is not None else LocalFS()
