"""Vectors in other tools' formats: the original word2vec C files (read and written) and
Spark MLlib's saved ``Word2VecModel`` directories (read).

Both formats start with a header line ``"VOCAB_SIZE VECTOR_SIZE\\n"``. Then, per word:

* text:   ``word v1 v2 ... vD\\n`` (numbers in decimal, separated by single spaces);
* binary: ``word`` + ``b" "`` + D little-endian float32 + ``b"\\n"``.

This is what word2vec.c writes (its text rows end in ``" \\n"``) and what gensim's
``KeyedVectors.save_word2vec_format``/``load_word2vec_format`` write and read (gensim's
binary rows have no ``"\\n"``). The reader accepts all of these. Words are UTF-8. The
word ends at the first ASCII space, readers skip whitespace between rows, and some
(gensim's counts reader) split on any Unicode whitespace, so writing refuses empty words
and words containing whitespace of any kind; reading splits on ASCII whitespace only.

Text is written with 9 significant digits, enough to read back every float32 exactly.
A name ending in ``.gz``, ``.bz2`` or ``.xz`` is written compressed so; a compressed file is read
by its first bytes, whatever its name. Files are written through a temporary
sibling and renamed into place when complete. These are local files (Python I/O), unlike
model directories, which go through Spark.

An optional vocabulary counts file (gensim's ``fvocab``, word2vec's ``-save-vocab``) holds
``word count`` per line; the vector formats themselves carry no counts.

A model saved by Spark MLlib (``pyspark.ml.feature.Word2VecModel.save``) is a directory
read through Spark, so it may be on any filesystem Spark reads: ``metadata/`` names its class
and settings, ``data/`` is Parquet with one ``(word, vector)`` row per word (Spark 2.2 and
later) or, as Spark 2.0-2.1 wrote it, one row of ``wordIndex`` and the concatenated
``wordVectors``. It holds neither counts nor output weights (MLlib trains a hierarchical
softmax and keeps no counts).
"""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
import os
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import IO, NamedTuple, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from .errors import UserError
from .publishing import KEEP_VERSIONS, OutputExistsError

log = logging.getLogger("sparkw2v")

#: The ``--format`` names of the two formats.
FORMATS = {"word2vec-text": False, "word2vec-binary": True}

_NEWLINE = frozenset(b"\n")
_SPACE = frozenset(b" \t\n\r\x0b\x0c")  # ASCII whitespace: what separates fields in these files
_BAD_WORD = re.compile(r"\s")  # any Unicode whitespace: str.split() readers (gensim's fvocab) split there
_READ_CHUNK = 1 << 20
_MAX_WORD_BYTES = 1 << 20  # a binary row whose word runs longer is not a word2vec file; export refuses longer words
_HEADER_BYTES = 1 << 10


class FormatError(UserError, ValueError):
    """A word2vec file cannot be read or written; the message names the file, line or row."""


class _FirstRowError(FormatError):
    """The text reader's complaint about the first row: the row format detection read as text."""


# -- files -----------------------------------------------------------------------------------

#: Compressed files by their first bytes (reading) and by their name (writing), as gensim's files
#: are: gzip, bzip2 and xz, with Python's own modules.
_COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_COMPRESSED_NAMES = {".bz2": bz2.BZ2File, ".xz": lzma.LZMAFile}  # gzip's is written with a fixed header
#: Compression this module does not write or read.
_OTHER_COMPRESSION = {b"\x28\xb5\x2f\xfd": "zstd", b"\x04\x22\x4d\x18": "lz4", b"PK\x03\x04": "zip",
                      b"7z\xbc\xaf": "7z"}
#: Errors of damaged compressed data (bz2's is a plain OSError: see _damaged).
_DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, OSError)


def _damaged(path: str, exc: BaseException) -> FormatError:
    """``exc``, raised while reading ``path``, as damaged compressed data; re-raised if it is not."""
    if type(exc) is OSError or isinstance(exc, gzip.BadGzipFile) or not isinstance(exc, OSError):
        # (not FileNotFoundError, PermissionError, ...)
        return FormatError(f"{path}: damaged compressed data ({exc})")
    raise exc


def _open_read(path: str) -> IO[bytes]:
    """``path`` for reading, decompressed if its first bytes say gzip, bzip2 or xz (whatever its name)."""
    if os.path.isdir(path):
        raise FormatError(f"{path} is a directory, not a word2vec file")
    if not os.path.exists(path):
        raise FileNotFoundError(f"input {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(6)
    for magic, opener in _COMPRESSED.items():
        if head.startswith(magic):
            return opener(path, "rb")
    for magic, kind in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise FormatError(f"{path} is {kind}-compressed: decompress it first (gzip, bzip2 and xz are read as "
                              "they are)")
    return open(path, "rb")


def _check_output_file(path: str, overwrite: bool) -> str:
    """Fail before any work if ``path`` cannot or may not be written; returns its directory."""
    if os.path.isdir(path):
        raise FormatError(f"output {path} is a directory; give a file name")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".zst", ".zstd", ".lz4", ".zip", ".7z", ".z", ".lzma", ".tgz"):
        raise FormatError(f"output {path}: {suffix} compression is not written; name it .gz, .bz2 or .xz "
                          "(compressed so), or give a plain name")
    if not overwrite and os.path.exists(path):
        raise OutputExistsError(f"output {path} already exists; pass --overwrite to replace it "
                                "or choose another --output")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write {path}: directory {parent} does not exist")
    return parent


class _AtomicWriter:
    """A binary file object that appears at ``path`` only when closed without error."""

    def __init__(self, path: str, overwrite: bool):
        parent = _check_output_file(path, overwrite)
        self.path = path
        self.tmp = os.path.join(parent, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
        self.raw = open(self.tmp, "wb")
        self.out: IO[bytes] = self.raw
        suffix = os.path.splitext(path)[1].lower()   # .GZ is gzip too, as gensim (smart_open) reads it
        if suffix == ".gz":
            # name and mtime=0 in the gzip header: the final name, and the same bytes every run
            self.out = gzip.GzipFile(filename=os.path.basename(path), mode="wb", fileobj=self.raw,
                                     compresslevel=6, mtime=0)
        elif suffix in _COMPRESSED_NAMES:
            self.out = _COMPRESSED_NAMES[suffix](self.raw, mode="wb")

    def __enter__(self) -> IO[bytes]:
        return self.out

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.out is not self.raw:
                self.out.close()
            self.raw.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def _encode_words(words: Sequence[str]) -> list[bytes]:
    """UTF-8 bytes of each word; FormatError for words the format cannot hold, or repeats."""
    bad = [word for word in words if not word or _BAD_WORD.search(word)]
    if bad:
        raise FormatError(f"word {bad[0]!r}" + (f" and {len(bad) - 1} more" if len(bad) > 1 else "")
                          + " cannot be written in word2vec format: words must be non-empty and contain no "
                          "whitespace (space, tab, newline, no-break space...)")
    try:
        encoded = [w.encode("utf-8") for w in words]
    except UnicodeEncodeError as exc:   # a lone surrogate (text decoded with surrogateescape)
        raise FormatError(f"word {exc.object!r} cannot be written as UTF-8 ({exc.reason})") from None
    long = [raw for raw in encoded if len(raw) > _MAX_WORD_BYTES]
    if long:
        raise FormatError(f"word {long[0][:40].decode('utf-8', 'replace')!r}... ({len(long[0]):,} bytes)"
                          + (f" and {len(long) - 1} more" if len(long) > 1 else "")
                          + f" cannot be written in word2vec format: words of more than {_MAX_WORD_BYTES:,} "
                          "bytes are not read back")
    if len(set(encoded)) != len(encoded):
        seen: set[bytes] = set()
        for word, raw in zip(words, encoded):
            if raw in seen:
                raise FormatError(f"word {word!r} appears more than once")
            seen.add(raw)
    return encoded


# -- writing ---------------------------------------------------------------------------------

def write_word2vec(path: str, words: Sequence[str], vectors: np.ndarray, binary: bool = False,
                   overwrite: bool = False) -> None:
    """Write ``vectors`` (row ``i`` is ``words[i]``, order kept) in word2vec text or binary format.

    Streams a few MB at a time, so a million-word model never becomes one string.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(words) or vectors.shape[1] < 1:
        raise ValueError(f"need one row of at least one number per word: {len(words)} words, "
                         f"matrix of shape {vectors.shape}")
    encoded = _encode_words(words)
    n, d = vectors.shape
    with np.errstate(over="ignore"):   # a float64 beyond float32 becomes inf here, and is refused
        finite = np.isfinite(np.asarray(vectors, dtype=np.float32)).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise FormatError(f"word {words[row]!r} holds a NaN, an infinity or a value beyond float32's range: "
                          "word2vec files written here hold finite float32 vectors (readers refuse the others)")
    rows = max(1, (8 << 20) // (16 * d + 16))
    row_format = " ".join(["%.9g"] * d)  # 9 significant digits round-trip every float32
    with _AtomicWriter(path, overwrite) as out:
        out.write(f"{n} {d}\n".encode("ascii"))
        for lo in range(0, n, rows):
            block = np.ascontiguousarray(vectors[lo:lo + rows], dtype="<f4")
            names = encoded[lo:lo + rows]
            if binary:
                data, stride, parts = block.tobytes(), 4 * d, []
                for k, name in enumerate(names):
                    parts += (name, b" ", data[k * stride:(k + 1) * stride], b"\n")
                out.write(b"".join(parts))
            else:
                values = block.astype(np.float64).tolist()
                text = "".join(f"{name.decode('utf-8')} {row_format % tuple(row)}\n"
                               for name, row in zip(names, values))
                out.write(text.encode("utf-8"))


def write_vocab_counts(path: str, words: Sequence[str], counts: Sequence[int] | np.ndarray,
                       overwrite: bool = False) -> None:
    """Write ``word count`` lines (gensim's ``fvocab``, word2vec's ``-save-vocab``), order kept."""
    if len(counts) != len(words):
        raise ValueError(f"{len(words)} words but {len(counts)} counts")
    encoded = _encode_words(words)
    counts = np.asarray(counts, dtype=np.int64).tolist()
    with _AtomicWriter(path, overwrite) as out:
        for lo in range(0, len(encoded), 1 << 16):
            out.write(b"".join(b"%s %d\n" % wc for wc in zip(encoded[lo:lo + (1 << 16)],
                                                            counts[lo:lo + (1 << 16)])))


# -- reading ---------------------------------------------------------------------------------

def _read_header(path: str, f: IO[bytes]) -> tuple[int, int]:
    line = f.readline(_HEADER_BYTES)
    fields = line.split()
    try:
        if len(fields) != 2 or not line.endswith(b"\n"):
            raise ValueError
        n, d = int(fields[0]), int(fields[1])
        if n < 0 or d < 1:
            raise ValueError
    except ValueError:
        shown = line[:80].decode("utf-8", "replace")
        raise FormatError(f"{path}: line 1: expected a header 'VOCAB_SIZE VECTOR_SIZE' (two integers), "
                          f"got {shown!r}; files without one (e.g. GloVe) need it added") from None
    return n, d


def _is_text_row(line: bytes, d: int) -> bool:
    """Whether ``line`` is a word and D decimal numbers (the word's encoding says nothing about
    the format: a Latin-1 word is still a text row)."""
    fields = line.split()
    if len(fields) != d + 1:
        return False
    try:
        [float(x) for x in fields[1:]]
    except ValueError:
        return False
    return True


def detect_binary(path: str) -> bool:
    """True if ``path`` is in binary format: its first row is not ``word`` and D decimal numbers,
    and what follows its word is not text either (a malformed text row is text, for the text
    reader to name what is wrong with it)."""
    with _open_read(path) as f:
        n, d = _read_header(path, f)
        if n == 0:
            return False
        # A block, not a line: a binary row's float bytes may hold b"\n" anywhere.
        probe = f.read(_MAX_WORD_BYTES + 64 * d)
        if _is_text_row(probe.partition(b"\n")[0], d):
            return False
        return not _is_text(probe.partition(b" ")[2][:4 * d])


def _is_text(raw: bytes) -> bool:
    """Whether ``raw`` (what follows the first row's word) reads as text: UTF-8 of printable
    characters and whitespace, where a binary row holds raw float32 bytes."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return False
    return bool(text) and all(c.isprintable() or c.isspace() for c in text)


def _allocate(path: str, n: int, d: int) -> np.ndarray:
    try:
        return np.empty((n, d), dtype=np.float32)
    except (MemoryError, ValueError):
        raise FormatError(f"{path}: header says {n} vectors of {d} dimensions ({n * d * 4 / 2**30:.1f} GiB), "
                          "more than fits in memory; wrong header? (or read fewer with limit)") from None


def _decode(path: str, where: str, raw: bytes, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors)
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: {where}: word {raw[:60]!r} is not valid UTF-8 ({exc.reason}); "
                          "import with --unicode-errors replace (in Python unicode_errors='replace') to read "
                          "such bytes as U+FFFD, or ignore to drop them") from None


def _check_unique(path: str, index: dict[str, int], word: str, row: int, where: str) -> None:
    first = index.setdefault(word, row)
    if first != row:
        raise FormatError(f"{path}: {where}: word {word!r} repeats row {first + 1}")


def _read_text(path: str, f: IO[bytes], n: int, d: int, errors: str,
               check_end: bool) -> tuple[list[str], np.ndarray]:
    matrix = _allocate(path, n, d)
    words: list[str] = []
    index: dict[str, int] = {}
    line_no = 1
    for line_no, line in enumerate(f, start=2):
        i = line_no - 2
        if i >= n:
            if not check_end:
                break
            if line.strip():
                raise FormatError(f"{path}: line {line_no}: more rows than the {n} the header announces")
            continue
        fields = line.split()
        where = f"line {line_no}"
        if len(fields) != d + 1:
            raise (_FirstRowError if i == 0 else FormatError)(
                f"{path}: {where}: expected a word and {d} numbers, got {max(len(fields) - 1, 0)} numbers")
        try:
            matrix[i] = fields[1:]
        except ValueError:
            bad = next((x for x in fields[1:] if not _is_number(x)), fields[1])
            message = f"{path}: {where}: {bad[:40].decode('utf-8', 'replace')!r} is not a number"
            raise (_FirstRowError if i == 0 else FormatError)(message) from None
        word = _decode(path, where, fields[0], errors)
        _check_unique(path, index, word, i, where)
        words.append(word)
    if len(words) < n:
        raise FormatError(f"{path}: ends after {len(words)} of the {n} rows the header announces "
                          f"(line {line_no}); truncated file or wrong header?")
    return words, matrix


def _is_number(x: bytes) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


class _Buffer:
    """Bytes of a stream read in chunks; ``buf[pos:]`` is what is not yet consumed."""

    def __init__(self, f: IO[bytes]):
        self.f, self.buf, self.pos, self.eof = f, b"", 0, False

    def available(self) -> int:
        return len(self.buf) - self.pos

    def more(self) -> bool:
        """Append another chunk (dropping consumed bytes, so ``pos`` becomes 0); False at end."""
        if self.eof:
            return False
        chunk = self.f.read(_READ_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def ensure(self, size: int) -> int:
        """Read until ``size`` bytes are available or the stream ends; returns what is available."""
        while self.available() < size and self.more():
            pass
        return self.available()

    def skip_space(self, space: frozenset[int] = _SPACE) -> bool:
        """Consume bytes of ``space`` (ASCII whitespace); False if nothing else is left."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in space:
                self.pos += 1
            if self.pos < len(self.buf):
                return True
            if not self.more():
                return False

    def skip_newlines(self) -> bool:
        """Consume newline bytes; False if nothing else is left."""
        return self.skip_space(_NEWLINE)


def _read_binary(path: str, f: IO[bytes], n: int, d: int, errors: str,
                 check_end: bool) -> tuple[list[str], np.ndarray]:
    matrix = _allocate(path, n, d)
    words: list[str] = []
    index: dict[str, int] = {}
    size = 4 * d
    src = _Buffer(f)
    for i in range(n):
        where = f"row {i + 1}"
        # word2vec.c ends rows with "\n", gensim does not; a row that starts with a space is the empty
        # word, which gensim writes for the key "" (skipping all whitespace would misread every later row).
        if not src.skip_newlines():
            raise FormatError(f"{path}: ends after {i} of the {n} rows the header announces; "
                              "truncated file or wrong header?")
        while (space := src.buf.find(b" ", src.pos, src.pos + _MAX_WORD_BYTES + 1)) < 0:
            if src.available() > _MAX_WORD_BYTES or not src.more():
                raise FormatError(f"{path}: {where}: no space after the word in the next "
                                  f"{min(src.available(), _MAX_WORD_BYTES)} bytes; "
                                  "truncated file, or not a word2vec binary file?")
        word = _decode(path, where, src.buf[src.pos:space], errors)
        src.pos = space + 1
        if (have := src.ensure(size)) < size:
            raise FormatError(f"{path}: {where} (word {word!r}) is truncated: {have} of its {size} "
                              "vector bytes; truncated file or wrong header?")
        matrix[i] = np.frombuffer(src.buf, dtype="<f4", count=d, offset=src.pos)
        src.pos += size
        _check_unique(path, index, word, i, where)
        words.append(word)
    if check_end and src.skip_space():
        raise FormatError(f"{path}: more data after the {n} rows the header announces; wrong header?")
    return words, matrix


def read_word2vec(path: str, binary: bool | None = None, limit: int | None = None,
                  unicode_errors: str = "strict") -> tuple[list[str], np.ndarray]:
    """Words and their float32 (n, D) matrix from a word2vec text or binary file, in file order.

    ``binary=None`` detects the format from the first row. ``limit`` reads only the first
    ``limit`` rows. Malformed files raise :class:`FormatError` naming the line or row; so
    does data after the rows the header announces (unless ``limit`` stops reading earlier).
    """
    return _read_word2vec(path, binary, limit, unicode_errors)[:2]


def _read_word2vec(path: str, binary: bool | None, limit: int | None,
                   unicode_errors: str) -> tuple[list[str], np.ndarray, bool]:
    """:func:`read_word2vec`, also saying which format was read."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    detected = binary is None
    try:
        if detected:
            binary = detect_binary(path)
        with _open_read(path) as f, np.errstate(over="ignore"):  # a value beyond float32: refused below
            n, d = _read_header(path, f)
            rows = n if limit is None else min(n, limit)
            reader = _read_binary if binary else _read_text
            words, matrix = reader(path, f, rows, d, unicode_errors, check_end=rows == n)
    except _DAMAGED as exc:
        raise _damaged(path, exc) from None
    except _FirstRowError as exc:
        if not detected:
            raise
        # The first row looked like text, and is not: say how to insist on binary.
        raise FormatError(f"{exc} (read as text, as its first row looked; a word2vec binary file? "
                          "give --binary, in Python binary=True)") from None
    _refuse_not_finite(path, words, matrix, "row {}" if binary else "line {}", 1 if binary else 2)
    log.info("read %d words x %d dims from %s (%s)", len(words), d, path, "binary" if binary else "text")
    return words, matrix, binary


def _refuse_not_finite(path: str, words: list[str], matrix: np.ndarray, where: str, first: int) -> None:
    """A NaN, an infinity or a value beyond float32's range would be served as a vector whose
    similarities are NaN: refuse the file, naming the first such row (``where`` of its number,
    counted from ``first``)."""
    # Row sums in float64, as the trainer checks its weights: NaN and infinities carry through, and
    # no temporary the size of the matrix (a 3M x 300 file would need a 900 MB mask).
    finite = np.isfinite(matrix.sum(axis=1, dtype=np.float64))
    if finite.all():
        return
    bad = int(np.flatnonzero(~finite)[0])
    value = matrix[bad][~np.isfinite(matrix[bad])][0]
    more = int((~finite).sum()) - 1
    raise FormatError(f"{path}: {where.format(bad + first)}: word {words[bad]!r} holds {value} "
                      f"(NaN, infinite, or beyond float32's range)"
                      + (f", as do {more} more rows" if more else "") + "; only finite vectors are read")


def read_vocab_counts(path: str, unicode_errors: str = "strict") -> dict[str, int]:
    """``word count`` lines (gensim's ``fvocab``, word2vec's ``-save-vocab``) as a dict; words that
    are not valid UTF-8 as ``unicode_errors`` says, as for the vectors' words."""
    counts: dict[str, int] = {}
    try:
        with _open_read(path) as f:
            for line_no, line in enumerate(f, start=1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    if len(fields) != 2:
                        raise ValueError
                    count = int(fields[1])
                    if not 0 <= count < 1 << 63:   # counts are held as int64
                        raise ValueError
                except ValueError:
                    shown = line[:80].decode("utf-8", "replace").rstrip("\n")
                    raise FormatError(f"{path}: line {line_no}: expected 'word count' (a count from 0 to 2^63 - 1), "
                                      f"got {shown!r}") from None
                word = _decode(path, f"line {line_no}", fields[0], unicode_errors)
                if word in counts:
                    raise FormatError(f"{path}: line {line_no}: word {word!r} appears more than once")
                counts[word] = count
    except _DAMAGED as exc:
        raise _damaged(path, exc) from None
    return counts


# -- model directories -----------------------------------------------------------------------

def check_export_files(output: str, vocab_counts: str | None, overwrite: bool) -> None:
    """Fail before any work (no Spark needed) if the export's local files cannot or may not be written."""
    from .config import ConfigError

    if vocab_counts and os.path.realpath(vocab_counts) == os.path.realpath(output):
        raise ConfigError(f"the vectors and the vocabulary counts would both be written to {output}: "
                          "give the counts another file")
    for path in (output, vocab_counts):
        if path:
            _check_output_file(path, overwrite)


def export_model(spark: SparkSession, model_dir: str, output: str, binary: bool = False,
                 vocab_counts: str | None = None, overwrite: bool = False) -> tuple[int, int]:
    """Write a model directory's word vectors to ``output`` in word2vec format; (words, dims).

    Rows keep the model's order (count descending, then word). ``vocab_counts`` also writes
    the counts, refused for an imported model whose counts are made-up ranks.
    """
    from .config import ConfigError
    from .vector_table import read_metadata, read_model

    check_export_files(output, vocab_counts, overwrite)
    meta = read_metadata(spark, model_dir)
    if vocab_counts and meta.get("counts") in NO_COUNTS:
        raise ConfigError(f"{model_dir} has no real word counts (imported from "
                          f"{meta.get('imported_from')} without --vocab-counts); drop --vocab-counts")
    model = read_model(spark, model_dir, with_output=False)
    write_word2vec(output, model.vocab.words, model.w_in, binary=binary, overwrite=overwrite)
    if vocab_counts:
        write_vocab_counts(vocab_counts, model.vocab.words, model.vocab.counts, overwrite=overwrite)
    return model.w_in.shape


#: The JVM class Spark MLlib's saved model names in its ``metadata/``.
MLLIB_MODEL = "org.apache.spark.ml.feature.Word2VecModel"
MLLIB_PIPELINE = "org.apache.spark.ml.PipelineModel"
#: ``counts`` of an imported model's metadata.json when it has no real counts.
NO_COUNTS = ("rank", "unordered")
#: The smallest Parquet file (its magic number twice and a footer length); Spark skips shorter
#: files as empty, so a part file cut to nothing would lose its words silently.
_PARQUET_MIN_BYTES = 12


@dataclass(frozen=True)
class MLlibVectors:
    """A model saved by Spark MLlib, as read: ``ordered`` when its rows are MLlib's vocabulary
    order (most frequent first: Spark 2.0-2.1's ``wordIndex``); Spark 2.2 and later save the
    words in no order, and these rows are then sorted by word."""

    path: str
    words: list[str]
    vectors: np.ndarray
    parameters: dict
    ordered: bool
    uid: str = ""

    def ml_params(self) -> dict:
        """The ``ml_params`` record (uid, paramMap) that makes the imported model transform as
        this one did: its columns, and the mean over all of a row's tokens (MLlib's rule)."""
        params = {name: self.parameters[name] for name in ("inputCol", "outputCol") if self.parameters.get(name)}
        return {"uid": self.uid, "paramMap": {**params, "averageOver": "all"}}

    def training_parameters(self) -> dict:
        """MLlib's training settings under TrainConfig's names, as metadata.json's ``parameters``
        records them, so the imported model's getters (``getMaxIter``, ``getMinCount``...) answer
        what MLlib trained with. A negative seed (a Java long) is read as its 64 bits unsigned, as
        the estimator reader reads it; a value sparkw2v would refuse stays only in
        ``imported_parameters``."""
        from .config import MLLIB_ALIASES, ConfigError, TrainConfig, convert_number, unsigned_seed

        kept = {"vector_size": int(self.vectors.shape[1])}
        for name, field in (*MLLIB_ALIASES.items(), ("seed", "seed")):
            value = self.parameters.get(name)
            if field in kept or field == "tokens_column" or value is None:
                continue
            value = convert_number(field, unsigned_seed(value) if field == "seed" else value)
            try:
                TrainConfig.from_mapping({**kept, field: value}).validate(require_io=False)
            except ConfigError:
                log.info("MLlib's %s=%r is not a sparkw2v setting: kept in imported_parameters only", name, value)
                continue
            kept[field] = value
        return kept


def mllib_word2vec_path(spark: SparkSession, path: str) -> str | None:
    """``path`` if it holds a Word2VecModel saved by Spark MLlib, the Word2VecModel stage's path if it
    holds a saved PipelineModel with one; None if it was not saved by Spark MLlib at all.
    Anything else saved by MLlib is refused, naming what it is."""
    from .filesystem import HadoopFS
    from .ml_metadata import ml_class

    path = path.rstrip("/")
    kind = ml_class(spark, path)
    if kind == MLLIB_MODEL:
        return path
    if kind is None or not kind.startswith("org.apache.spark.ml"):
        return None
    if kind == MLLIB_PIPELINE:
        stages = f"{path}/stages"
        found = [f"{stages}/{name}" for name in sorted(HadoopFS(spark, stages).list_names(stages))
                 if ml_class(spark, f"{stages}/{name}") == MLLIB_MODEL]
        if len(found) == 1:
            log.info("%s is a PipelineModel: importing its Word2VecModel stage %s", path, found[0])
            return found[0]
        raise FormatError(f"{path} is a PipelineModel saved by Spark MLlib with {len(found)} Word2VecModel stages: "
                          f"give one stage's directory{' (' + ', '.join(found) + ')' if found else ''}")
    raise FormatError(f"{path} was saved by Spark MLlib as {kind}, not as a Word2VecModel: nothing to import")


def read_mllib_model(spark: SparkSession, path: str) -> MLlibVectors:
    """Words, float32 vectors and settings of a Word2VecModel saved by Spark MLlib at ``path``."""
    from .errors import first_line
    from .filesystem import HadoopFS
    from .ml_metadata import ml_metadata

    fs = HadoopFS(spark, path)
    meta = ml_metadata(spark, path)
    if meta is None or meta.get("class") != MLLIB_MODEL:
        raise FormatError(f"{path} is not a model saved by Spark MLlib's Word2Vec (its metadata/ names "
                          f"{meta.get('class') if meta else 'no class'}, not {MLLIB_MODEL})")
    data = f"{path}/data"
    parts = {name: size for name, size in fs.data_files(data).items() if name.startswith("part-")}
    if not parts:
        raise FormatError(f"{data} holds no Parquet files: the model is incomplete")
    for name, size in sorted(parts.items()):
        if size < _PARQUET_MIN_BYTES:
            raise FormatError(f"{data}/{name} is damaged: {size} bytes, too short for a Parquet file")
    try:
        frame = spark.read.parquet(data)
        columns = set(frame.columns)
        if {"word", "vector"} <= columns:      # Spark 2.2 and later: a row per word, in no order
            table = frame.select("word", "vector").toArrow()
        elif {"wordIndex", "wordVectors"} <= columns:   # Spark 2.0 and 2.1: one row for the model
            row = frame.select("wordIndex", "wordVectors").head()
            table = None
        else:
            raise FormatError(f"{data} has columns {', '.join(sorted(columns))}, not MLlib's (word, vector)")
    except FormatError:
        raise
    except Exception as exc:  # a damaged Parquet file (Spark's exception)
        raise FormatError(f"cannot read {data}: {first_line(exc)}") from None
    if table is None:
        index = dict(row["wordIndex"])
        if sorted(index.values()) != list(range(len(index))):
            raise FormatError(f"{data}: its wordIndex does not number the {len(index)} words 0 to {len(index) - 1}")
        words = sorted(index, key=index.get)   # MLlib's vocabulary order: most frequent first
        flat = np.asarray(row["wordVectors"], dtype=np.float32)
        if flat.size % max(1, len(words)):
            raise FormatError(f"{data} holds {flat.size} numbers for {len(words)} words")
        matrix = flat.reshape(len(words), flat.size // max(1, len(words)))  # row i: the word numbered i
    else:
        words = table.column("word").to_pylist()
        lists = table.column("vector").combine_chunks()
        lengths = np.diff(lists.offsets.to_numpy())
        if lists.null_count or any(w is None for w in words):
            raise FormatError(f"{data} has a null word or vector")
        if lengths.size and (lengths != lengths[0]).any():
            row_at = int(np.flatnonzero(lengths != lengths[0])[0])
            raise FormatError(f"{data}: the vector of {words[row_at]!r} has {lengths[row_at]} numbers, the first "
                              f"word's {lengths[0]}")
        d = int(lengths[0]) if lengths.size else 0
        matrix = lists.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(words), d)
        order = sorted(range(len(words)), key=words.__getitem__)
        words, matrix = [words[i] for i in order], matrix[order]
    if "" in words:  # MLlib keeps the empty token its Tokenizer makes of leading spaces; sparkw2v drops it
        keep = [i for i, w in enumerate(words) if w]
        log.warning("%s: left out the empty word '' (a token sparkw2v never trains)", path)
        words, matrix = [words[i] for i in keep], matrix[keep]
    seen: dict[str, int] = {}
    for row_at, word in enumerate(words):
        _check_unique(path, seen, word, row_at, "data")
    if not np.isfinite(matrix).all():
        raise FormatError(f"{data} holds vectors that are not finite")
    parameters = {**meta.get("defaultParamMap", {}), **meta.get("paramMap", {})}  # what it trained with
    log.info("read %d words x %d dims from %s (Spark MLlib %s)", len(words), matrix.shape[1], path,
             meta.get("sparkVersion", "?"))
    return MLlibVectors(fs.qualified(path), words, np.ascontiguousarray(matrix, dtype=np.float32), parameters,
                        ordered=table is None, uid=str(meta.get("uid", "")))


class Imported(NamedTuple):
    """What :func:`import_model` wrote."""

    location: str  # the published version's full path
    words: int
    vector_size: int
    counts: str  # how the counts were made


def import_model(spark: SparkSession, input_path: str, model_dir: str, binary: bool | None = None,
                 vocab_counts: str | None = None, limit: int | None = None,
                 overwrite: bool = False, keep_versions: int = KEEP_VERSIONS,
                 unicode_errors: str = "strict") -> Imported:
    """Read a word2vec file, or a model saved by Spark MLlib (or a PipelineModel holding one),
    into a new model directory.

    Neither carries counts. Without ``vocab_counts`` each word's count is its rank
    from the end (``vocab_size - row``, as gensim does), so the model keeps the file's order
    (most frequent first, as word2vec and gensim write them), and metadata.json says
    ``"counts": "rank"``; a model saved by Spark MLlib 2.2 or later keeps its words in no order,
    so every count is 1 (``"counts": "unordered"``, rows by word) and ``limit`` needs
    ``vocab_counts``. With ``vocab_counts`` the real counts are used and every word needs one;
    rows are then ordered by count (ties by word), the rule every model follows, and ``limit``
    keeps the most frequent. Neither holds output weights; ``output_vectors`` are zeros, which
    is where word2vec.c starts them. ``unicode_errors`` (strict, replace or ignore) decides what
    becomes of a word that is not valid UTF-8, as gensim's does.
    """
    from .publishing import check_output, write_model
    from .vocabulary import Vocabulary, frequency_order

    check_output(spark, model_dir, overwrite)
    source = _read_source(spark, input_path, binary, limit, unicode_errors, vocab_counts)
    words, matrix, read = source.words, source.vectors, source.mllib
    n, d = matrix.shape
    if n == 0:
        raise FormatError(f"{input_path} holds no vectors")
    meta = {"imported_from": source.path, "import_format": source.kind, "parameters": {"vector_size": d}}
    if read is not None:
        meta["imported_parameters"] = read.parameters  # MLlib's settings, under its names
        meta["parameters"] = read.training_parameters()
        if read.uid:  # Word2VecModel.load gives the model these Params
            meta["ml_params"] = read.ml_params()
            log.info("the model transforms as MLlib's did: %s", ", ".join(
                f"{k}={v!r}" for k, v in meta["ml_params"]["paramMap"].items()))
    if limit is not None:
        meta["import_limit"] = limit
    what = "Spark MLlib models" if read is not None else "word2vec files"
    counts, known = _imported_counts(words, input_path, vocab_counts, source.order_note, what, meta, unicode_errors)
    order = frequency_order(words, counts)
    if not np.array_equal(order, np.arange(n)):  # real counts: reorder (ranks never need it)
        words, counts, matrix = [words[i] for i in order], counts[order], matrix[order]
    if read is not None and limit is not None:  # the most frequent (a word2vec file was cut as it was read)
        words, counts, matrix = words[:limit], counts[:limit], matrix[:limit]
        n = len(words)
    if known is None:
        vocab = Vocabulary(tuple(words), counts, corpus_words=int(counts.sum()), distinct_words=n)
    else:  # every counted word, with a vector or not, as trained models count them
        vocab = Vocabulary(tuple(words), counts, corpus_words=int(sum(known.values())), distinct_words=len(known))
    # word2vec.c starts the output layer at zero too, so training could continue from here
    meta["output_vectors"] = f"zeros: {what} hold no output weights"
    if known is not None and len(known) > n:
        # Words counted but without a vector (below the exporter's min_count): kept as running
        # counts, so that continuing the model remembers them as a trained model does.
        from .publishing import publish_with_counts

        every = pa.table({"word": pa.array(list(known), pa.string()),
                          "count": pa.array(list(known.values()), pa.int64())})
        every = every.append_column("batch_count", every.column("count"))
        location = publish_with_counts(spark, model_dir, vocab, matrix, np.zeros_like(matrix), meta, every,
                                       overwrite, keep_versions).location
    else:
        location = write_model(spark, model_dir, vocab, matrix, np.zeros_like(matrix), meta, overwrite=overwrite,
                               keep_versions=keep_versions).location
    return Imported(location, n, d, meta["counts_note"] if vocab_counts is None else f"counts from {vocab_counts}")


@dataclass(frozen=True)
class _Source:
    """What an import reads: the words and vectors, where from, and in what order they came."""

    words: list[str]
    vectors: np.ndarray
    path: str
    kind: str                   # the import_format recorded in metadata.json
    order_note: str | None      # the order the rows came in, None for no order (MLlib 2.2+)
    mllib: MLlibVectors | None  # a model saved by Spark MLlib, else None (a word2vec file)


def _read_source(spark: SparkSession, input_path: str, binary: bool | None, limit: int | None,
                 unicode_errors: str, vocab_counts: str | None) -> _Source:
    """Read a Spark MLlib model (or a PipelineModel holding one) or a word2vec file."""
    mllib_path = mllib_word2vec_path(spark, input_path)
    if mllib_path is not None:
        if binary is not None:
            raise FormatError(f"{input_path} is a model saved by Spark MLlib, not a word2vec file: "
                              "--binary and --text do not apply")
        read = read_mllib_model(spark, mllib_path)
        if limit is not None and not read.ordered and vocab_counts is None:
            raise FormatError(f"{input_path}: --limit keeps the most frequent words, but Spark MLlib (2.2 and later) "
                              "saves its words in no order and without counts; give --vocab-counts too")
        return _Source(read.words, read.vectors, read.path, "spark-mllib",
                       "MLlib's vocabulary order" if read.ordered else None, read)
    words, matrix, binary = _read_word2vec(input_path, binary, limit, unicode_errors)
    spaced = [w for w in words if _BAD_WORD.search(w)]
    if spaced:
        log.warning("%d words of %s hold whitespace other than a space (e.g. %r): kept, but exporting the "
                    "model to a word2vec file will refuse them", len(spaced), input_path, spaced[0])
    return _Source(words, matrix, os.path.abspath(input_path), "word2vec-binary" if binary else "word2vec-text",
                   "the file's order", None)


def _imported_counts(words: list[str], input_path: str, vocab_counts: str | None, order_note: str | None,
                     what: str, meta: dict, unicode_errors: str) -> tuple[np.ndarray, dict[str, int] | None]:
    """Each imported word's count, recorded in ``meta`` as ``counts`` (and how), and every count
    of ``vocab_counts`` (None without it)."""
    n = len(words)
    if vocab_counts is None and order_note is None:
        meta["counts"] = "unordered"
        meta["counts_note"] = (f"{what} (Spark 2.2 and later) save their words in no order and carry no counts: "
                               "every count is 1 and the rows are in word order")
        return np.ones(n, dtype=np.int64), None
    if vocab_counts is None:
        meta["counts"] = "rank"
        meta["counts_note"] = f"{what} carry no counts: count = vocab_size - row, which keeps {order_note}"
        return np.arange(n, 0, -1, dtype=np.int64), None
    known = read_vocab_counts(vocab_counts, unicode_errors)
    missing = [w for w in words if w not in known]
    if missing:
        raise FormatError(f"{vocab_counts} has no count for {len(missing)} of the {n} words in "
                          f"{input_path}, e.g. {', '.join(map(repr, missing[:5]))}")
    meta["counts"] = "vocab-counts"
    meta["vocab_counts_from"] = os.path.abspath(vocab_counts)
    return np.fromiter((known[w] for w in words), dtype=np.int64, count=n), known
