"""The tasks of counting, encoding, averaging's training, publishing and ``transform``.

Other modules' tasks live beside their driver code, in sections so marked: stratified
training's (:mod:`sparkw2v.stratified`), the SQL functions' (:mod:`sparkw2v.sql`) and the
reduce side of summing updates (:mod:`sparkw2v.combine`).

Functions here are top level and take plain values, NumPy arrays, small frozen dataclasses
and broadcast handles, so a task pickles only what it needs. They are pure: given the same
inputs (seed, epoch, sync, partition index, broadcast model) they return the same output, so
a retried task changes nothing. Empty partitions are normal and yield nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

import numpy as np

from . import faults
from .combine import STATS_KEY, PackedBlock, SyncStats, pack_block, pack_rows
from .kernel import KernelParams, KernelStats, train_shard
from .sampling import keep_probabilities, negative_table
from .scatter import segment_sums
from .shard_records import corpus_order, shard_arrays
from .stratified import owned_block, owned_negative_rng, owned_negatives
from .tokenizer import TokenizerSpec, sentences
from .worker_cache import WorkerCache

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast

#: Words per encoded record; shards receive whole records (see corpus.encode_corpus).
RECORD_WORDS = 1 << 16


# -- vocabulary --------------------------------------------------------------------------------

def count_partition(rows: Iterable, spec: TokenizerSpec, pretokenized: bool) -> Iterator[tuple[str, int]]:
    """Word counts of one input partition."""
    counts: Counter = Counter()
    for sentence in sentences(rows, spec, pretokenized):
        counts.update(sentence)
    return iter(counts.items())


def summarize_counts(pairs: Iterable[tuple[str, int]], min_count: int) -> Iterator[tuple]:
    """One record per partition of reduced counts: (tokens, distinct words, words kept)."""
    tokens = distinct = 0
    kept = []
    for word, count in pairs:
        tokens += count
        distinct += 1
        if count >= min_count:
            kept.append((word, count))
    yield tokens, distinct, kept


# -- encoding ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EncodeTask:
    spec: TokenizerSpec
    pretokenized: bool
    num_shards: int
    record_words: int = RECORD_WORDS


def encode_partition(index: int, rows: Iterable, task: EncodeTask, word_index_bc: Broadcast) -> Iterator[tuple]:
    """Word ids of one input partition, in records of about ``record_words`` ids.

    Each record is ``((shard, index, n), (ids, lengths))`` with int32 arrays: the
    ids of in-vocabulary words and the length of each sentence. Records go to
    shards round-robin, starting at the partition index, and are sorted by key
    within a shard, so the shard contents do not depend on shuffle order.
    """
    word_index = word_index_bc.value
    lookup = word_index.get
    ids: list[int] = []
    lengths: list[int] = []
    n = 0

    def record():
        key = ((index + n) % task.num_shards, index, n)
        return key, (np.array(ids, dtype=np.int32), np.array(lengths, dtype=np.int32))

    for sentence in sentences(rows, task.spec, task.pretokenized):
        encoded = [i for i in map(lookup, sentence) if i is not None]
        if not encoded:
            continue
        ids.extend(encoded)
        lengths.append(len(encoded))
        if len(ids) >= task.record_words:
            yield record()
            ids, lengths = [], []
            n += 1
    if ids:
        yield record()


def word_spread_terms(records: Iterable[tuple], vocab_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """This partition's (chain's) occurrences of every word, ``c``, and ``c**2`` (float64), to sum over
    partitions: ``sum(c)**2 / sum(c**2)`` is how many partitions a word is spread over."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for _, (ids, _) in records:
        counts += np.bincount(ids, minlength=vocab_size)
    yield counts, counts * counts


def add_pairs(a: tuple, b: tuple) -> tuple:
    """Elementwise sum of two pairs of arrays."""
    return a[0] + b[0], a[1] + b[1]


def shard_sizes(records: Iterable[tuple]) -> Iterator[tuple[int, int]]:
    """(shard index, words in it) for every shard of a partition."""
    sizes: dict[int, int] = {}
    for (shard, _, _), (ids, _) in records:
        sizes[shard] = sizes.get(shard, 0) + int(ids.size)
    return iter(sizes.items())


def chain_of(key: tuple, chains: int) -> int:
    """The partition (chain) a record goes to: its shard modulo the chains."""
    return key[0] % chains


# -- vocabulary and encoding in Arrow --------------------------------------------------------------

#: Tokens per chunk of :func:`tokenize_batches`: a chunk's distinct words are written once
#: beside its token ids, and each is looked up in the vocabulary once per chunk.
CHUNK_TOKENS = 1 << 20
#: Schema of :func:`tokenize_batches`' output. A chunk is one row: its token ids and piece lengths
#: (raw int32 bytes) and its distinct words (``words``: an Arrow IPC stream of one string column,
#: word ``i`` being local id ``i``; one value, not a row per word, since caching half a million
#: short rows cost more than tokenizing them); a row with a word and a count is the partition's
#: count of that word, and a row with a count alone the partition's null rows (no text: they
#: train nothing).
TOKENS_SCHEMA = "word string, count bigint, ids binary, lengths binary, words binary"
TOKENS_COLUMNS = ["word", "count", "ids", "lengths", "words"]
#: Schema of :func:`encode_token_rows`' output: one row per record, arrays as raw int32 bytes.
RECORD_SCHEMA = "shard int, part int, n int, ids binary, lengths binary"
#: Schema of :func:`summarize_count_batches`' output; a summary row has a null word.
SUMMARY_SCHEMA = "word string, count bigint, distinct_words bigint"


def arrow_schema(ddl: str, large_types: bool = False) -> pa.Schema:
    """The Arrow schema of one of this module's ``*_SCHEMA`` (columns of string, binary, int and
    bigint), with large strings and binaries if ``large_types``: the types Spark hands a
    ``mapInArrow`` and expects back under ``spark.sql.execution.arrow.useLargeVarTypes``."""
    import pyarrow as pa

    types = {"string": pa.large_string() if large_types else pa.string(),
             "binary": pa.large_binary() if large_types else pa.binary(), "int": pa.int32(), "bigint": pa.int64()}
    return pa.schema([(name, types[kind]) for name, kind in (column.split() for column in ddl.split(","))])


def conformed(batches: Iterable, schema: pa.Schema) -> Iterator:
    """``batches`` cast to ``schema``: pyspark writes a ``mapInArrow``'s batches as one stream of
    the first batch's schema, so a batch of other types (words of a large-string input beside
    rows built as ``string``) fails the task."""
    import pyarrow as pa

    for batch in batches:
        if not batch.schema.equals(schema):
            batch = pa.RecordBatch.from_arrays([column.cast(f.type) for column, f in zip(batch.columns, schema)],
                                               schema=schema)
        yield batch


def text_tokens(texts: pa.StringArray, lowercase: bool) -> pa.ListArray:
    """The tokens of each line of a string Arrow array (list<string>; null lines stay null), as
    :func:`sparkw2v.tokenizer.split_text` with the default separator makes them, empty
    strings aside (callers drop those).

    Arrow's ``utf8_split_whitespace`` splits on exactly the characters ``str.split()`` does.
    Lower-casing is Arrow's for ASCII lines and Python's ``str.lower`` for the others (Arrow
    lacks its special cases, such as U+0130 and the final sigma): Python work per line, and
    only for lines with non-ASCII characters. Those lines are decoded with invalid UTF-8
    bytes replaced by U+FFFD, as the JVM hands such text to Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    other = pc.invert(pc.string_is_ascii(texts)).fill_null(False)
    if lowercase:
        texts = pc.ascii_lower(texts)
    if pc.any(other).as_py():
        decoded = [raw.decode("utf-8", "replace") for raw in texts.filter(other).cast(pa.binary()).to_pylist()]
        texts = pc.replace_with_mask(texts, other, pa.array([t.lower() for t in decoded] if lowercase else decoded,
                                                            type=texts.type))
    return pc.utf8_split_whitespace(texts)


def _token_lists(batch, task: "EncodeTask"):
    column = batch.column(0)
    return column if task.pretokenized else text_tokens(column, task.spec.lowercase)


def chunk_pieces(lists: pa.ListArray, max_sentence_length: int) -> tuple[pa.StringArray, np.ndarray, np.ndarray]:
    """A list<string> Arrow array (one row per line) as (distinct words, local ids, piece lengths):
    null and empty tokens dropped, each row cut in pieces of ``max_sentence_length`` tokens as
    :func:`sparkw2v.tokenizer.sentences` cuts them; ``words[ids]`` are the tokens in order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = lists.flatten()
    encoded = values.dictionary_encode()
    words = encoded.dictionary
    ids = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    valid = ids >= 0
    empty = np.flatnonzero(pc.binary_length(words).to_numpy(zero_copy_only=False) == 0)
    if empty.size:  # the empty word is no token
        valid &= ids != empty[0]
    rows = pc.list_parent_indices(lists).to_numpy()[valid] if len(values) else np.zeros(0, np.int64)
    ids = ids[valid]
    if ids.size == 0:
        return pa.array([], pa.string()), ids, np.zeros(0, np.int32)
    row_starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(ids.size) - np.repeat(row_starts, np.diff(np.r_[row_starts, ids.size]))
    piece = rank // max_sentence_length
    starts = np.flatnonzero(np.r_[True, (rows[1:] != rows[:-1]) | (piece[1:] != piece[:-1])])
    return words, ids, np.diff(np.r_[starts, ids.size]).astype(np.int32)


def tokenize_batches(batches: Iterable, task: "EncodeTask", large_types: bool = False) -> Iterator:
    """``mapInArrow`` over one text or tokens column: the partition tokenized once, for both
    counting and encoding, as rows of :data:`TOKENS_SCHEMA` (chunks of about
    :data:`CHUNK_TOKENS` tokens, then the partition's word counts); ``large_types``: the
    session's ``spark.sql.execution.arrow.useLargeVarTypes`` (:func:`arrow_schema`)."""
    return conformed(_tokenized(batches, task), arrow_schema(TOKENS_SCHEMA, large_types))


def _tokenized(batches: Iterable, task: "EncodeTask") -> Iterator:
    """:func:`tokenize_batches`' batches, their words of the input's string type."""
    import pyarrow as pa

    parts = []  # each chunk's (words, counts)
    nulls = 0

    def chunk(pending):
        words, ids, lengths = chunk_pieces(pa.concat_arrays(pending), task.spec.max_sentence_length)
        if ids.size == 0:
            return
        counts = np.bincount(ids, minlength=len(words)).astype(np.int64)
        parts.append(pa.table({"word": words, "count": counts}).filter(pa.array(counts > 0)))  # not ""
        yield pa.RecordBatch.from_arrays([pa.nulls(1, words.type), pa.nulls(1, pa.int64()),
                                          pa.array([ids.tobytes()], pa.binary()),
                                          pa.array([lengths.tobytes()], pa.binary()),
                                          pa.array([ipc_bytes(words)], pa.binary())], names=TOKENS_COLUMNS)

    pending, held = [], 0
    for batch in batches:
        nulls += batch.column(0).null_count
        lists = _token_lists(batch, task)
        pending.append(lists)
        held += len(lists.values)
        if held >= CHUNK_TOKENS:
            yield from chunk(pending)
            pending, held = [], 0
    if pending:
        yield from chunk(pending)
    if parts:
        summed = pa.concat_tables(parts).group_by("word").aggregate([("count", "sum")])
        n = summed.num_rows
        table = pa.table({"word": summed.column("word"), "count": summed.column("count_sum"),
                          "ids": pa.nulls(n, pa.binary()), "lengths": pa.nulls(n, pa.binary()),
                          "words": pa.nulls(n, pa.binary())})
        yield from table.to_batches(max_chunksize=1 << 16)
    if nulls:
        yield pa.RecordBatch.from_arrays([pa.nulls(1, pa.string()), pa.array([nulls], pa.int64())]
                                         + [pa.nulls(1, pa.binary())] * 3, names=TOKENS_COLUMNS)


def ipc_bytes(words: pa.Array) -> bytes:
    """``words`` as an Arrow IPC stream of one column (:func:`ipc_words` reads it back)."""
    import pyarrow as pa

    batch = pa.RecordBatch.from_arrays([words], names=["word"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def ipc_words(blob: pa.Buffer) -> pa.Array:
    """The array :func:`ipc_bytes` wrote."""
    import pyarrow as pa

    return pa.ipc.open_stream(blob).read_all().column(0).combine_chunks()


def summarize_count_batches(batches: Iterable, min_count: int, all_words: int = 0,
                            large_types: bool = False) -> Iterator:
    """Arrow twin of :func:`summarize_counts` over (word, count) batches: the words kept, then
    the partition's other words if they number at most ``all_words`` (else none of them), then
    one row (null word) of this partition's tokens and distinct words, as rows of
    :data:`SUMMARY_SCHEMA` (``large_types``: see :func:`arrow_schema`)."""
    return conformed(_summarized(batches, min_count, all_words), arrow_schema(SUMMARY_SCHEMA, large_types))


def _summarized(batches: Iterable, min_count: int, all_words: int) -> Iterator:
    """:func:`summarize_count_batches`' batches, their words of the input's string type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def rows(part):
        return pa.RecordBatch.from_arrays([part.column(0), part.column(1), pa.nulls(part.num_rows, pa.int64())],
                                          names=["word", "count", "distinct_words"])

    tokens = distinct = held = 0
    rest: list | None = [] if all_words else None   # the words below min_count, while few enough
    for batch in batches:
        counts = batch.column(1)
        tokens += int(pc.sum(counts).as_py() or 0)
        distinct += batch.num_rows
        kept = batch.filter(pc.greater_equal(counts, min_count))
        if kept.num_rows:
            yield rows(kept)
        if rest is not None and kept.num_rows < batch.num_rows:
            held += batch.num_rows - kept.num_rows
            if held <= all_words:
                rest.append(batch.filter(pc.less(counts, min_count)))
            else:
                rest = None
    for part in rest or ():
        yield rows(part)
    yield pa.RecordBatch.from_arrays([pa.nulls(1, pa.string()), pa.array([tokens], pa.int64()),
                                      pa.array([distinct], pa.int64())], names=["word", "count", "distinct_words"])


class _RecordBuilder:
    """Cuts a stream of sentences into records exactly as :func:`encode_partition` does: a record
    closes after the sentence that brings it to ``record_words`` ids or more."""

    def __init__(self, index: int, task: EncodeTask):
        self.index, self.task, self.n = index, task, 0
        self.ids: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []
        self.held = 0

    def add(self, ids: np.ndarray, lengths: np.ndarray) -> Iterator[tuple]:
        """Append sentences (their ids back to back, and their lengths); yield the records closed."""
        ends = np.cumsum(lengths)
        first = 0  # first sentence not yet in a closed record
        while first < lengths.size:
            base = int(ends[first - 1]) if first else 0
            # The sentence whose end brings the open record to record_words ids.
            last = int(np.searchsorted(ends, base + self.task.record_words - self.held, side="left"))
            if last >= lengths.size:
                break
            self.ids.append(ids[base:int(ends[last])])
            self.lengths.append(lengths[first:last + 1])
            yield self._close()
            first = last + 1
        if first < lengths.size:
            base = int(ends[first - 1]) if first else 0
            self.ids.append(ids[base:])
            self.lengths.append(lengths[first:])
            self.held += int(ends[-1]) - base

    def _close(self) -> tuple:
        record = ((self.index + self.n) % self.task.num_shards, self.index, self.n,
                  np.concatenate(self.ids).astype(np.int32, copy=False).tobytes(),
                  np.concatenate(self.lengths).astype(np.int32, copy=False).tobytes())
        self.ids, self.lengths, self.held = [], [], 0
        self.n += 1
        return record

    def finish(self) -> Iterator[tuple]:
        if self.held:
            yield self._close()


def piece_ids(local: np.ndarray, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's tokens as vocabulary ids: ``local[ids]`` (``local``: each of the chunk's words'
    vocabulary id, -1 outside it), words outside the vocabulary dropped, pieces left empty
    skipped; returns (ids, lengths) as :func:`encode_partition` makes them."""
    mapped = local[ids]
    kept = mapped >= 0
    seen = np.r_[0, np.cumsum(kept)]  # kept tokens before each position
    ends = np.cumsum(lengths)
    counts = seen[ends] - seen[ends - lengths]
    return mapped[kept].astype(np.int32, copy=False), counts[counts > 0].astype(np.int32, copy=False)


def encode_token_rows(batches: Iterable, task: EncodeTask, vocab_bc: Broadcast,
                      large_types: bool = False) -> Iterator:
    """``mapInArrow`` over :func:`tokenize_batches`' chunk rows (ids, lengths, words; count rows
    left out), in their order: the records :func:`encode_partition` makes, with the same keys, as
    rows of :data:`RECORD_SCHEMA` (``large_types``: see :func:`arrow_schema`). ``vocab_bc``: the
    vocabulary as an Arrow string array."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark import TaskContext

    vocab = vocab_bc.value
    builder = _RecordBuilder(TaskContext.get().partitionId(), task)
    schema = arrow_schema(RECORD_SCHEMA, large_types)

    def emit(records):
        return pa.RecordBatch.from_arrays([pa.array(col, type=f.type) for col, f in zip(zip(*records), schema)],
                                          schema=schema)

    for batch in batches:
        records = []
        for at in range(batch.num_rows):
            words = ipc_words(batch.column(2)[at].as_buffer()).cast(vocab.type)  # large strings under useLargeVarTypes
            local = pc.index_in(words, value_set=vocab).fill_null(-1).to_numpy(zero_copy_only=False)
            ids = np.frombuffer(batch.column(0)[at].as_buffer(), dtype=np.int32)
            lengths = np.frombuffer(batch.column(1)[at].as_buffer(), dtype=np.int32)
            records.extend(builder.add(*piece_ids(local, ids, lengths)))
        if records:
            yield emit(records)
    records = list(builder.finish())
    if records:
        yield emit(records)


def record_of_row(row: tuple) -> tuple:
    """A :data:`RECORD_SCHEMA` row as the record :func:`encode_partition` yields."""
    return ((row[0], row[1], row[2]),
            (np.frombuffer(row[3], dtype=np.int32).copy(), np.frombuffer(row[4], dtype=np.int32).copy()))


# -- publishing --------------------------------------------------------------------------------

def table_slice(batches: Iterable, table_bc: Broadcast, rows: int) -> Iterator:
    """``mapInArrow`` over ``spark.range``: for each id ``i``, rows ``[i*rows, (i+1)*rows)`` of the
    broadcast Arrow table."""
    table = table_bc.value
    for batch in batches:
        for i in batch.column(0).to_pylist():
            yield from table.slice(i * rows, rows).to_batches(max_chunksize=1 << 16)


# -- training ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainTask:
    """What a training task needs besides the broadcast model and its shard."""

    kernel: KernelParams
    seed: int
    epoch: int
    sync: int
    syncs_per_epoch: int
    alpha_start: float
    alpha_end: float
    sample: float
    ns_exponent: float
    block_rows: int
    weighted: bool  # ship count-weighted changes (see combine.PackedBlock), as the combine rule needs
    tables_key: str  # names this run (its vocabulary counts): workers reuse the tables and buffers they built
    owned_blocks: int = 0  # > 0: stratified, output rows owned, dealt into this many blocks (sparkw2v.stratified)


_TABLES = WorkerCache()


def _tables(tables_bc: Broadcast, task: "TrainTask", negatives: bool = True):
    """Sampling tables and per-row rates, built once per Python worker and reused across epochs;
    the whole vocabulary's negative table only once a task asks for it (``negatives``: stratified
    CBOW draws from its output block's table instead).

    The broadcast holds ``(counts, row_rates)``: the vocabulary counts and the combine rule's
    learning-rate factors per row of both matrices (None: one rate for all rows)."""
    held = _TABLES.of(task.tables_key)
    if not held:
        counts, rates = tables_bc.value
        held.update(keep=keep_probabilities(counts, task.sample), negatives=None, rates=rates)
    if negatives and held["negatives"] is None:
        held["negatives"] = negative_table(tables_bc.value[0], task.ns_exponent)
    return held["keep"], held["negatives"], held["rates"]


_OWNED = WorkerCache()
#: Table entries a Python worker keeps of an epoch's output blocks (past it, blocks are rebuilt
#: each time): 128 MB of int32.
OWNED_TABLE_ENTRIES = 32 << 20


def _owned_tables(tables_bc: Broadcast, owners_bc: Broadcast, task: "TrainTask",
                  block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Output block ``block``'s centre mask, negative table (vocabulary ids) and rows this epoch, kept
    by the worker while the tables fit in ``OWNED_TABLE_ENTRIES`` (a task meets each block once per
    round)."""
    kept = _OWNED.of((task.tables_key, task.epoch))
    held = kept.get(block)
    if held is None:
        mask, table = owned_negatives(block, tables_bc.value[0], owners_bc.value, task.ns_exponent)
        held = mask, table, np.flatnonzero(mask)
        if sum(table.size for _, table, _ in kept.values()) + table.size <= OWNED_TABLE_ENTRIES:
            kept[block] = held
    return held


#: A task owning output rows trains a copy of only the rows it can change when they are at most this
#: share of the vocabulary; past it, renumbering costs more than copying the whole model saves.
COMPACT_SHARE = 0.3

_BUFFERS = WorkerCache()


def _working_copy(name: str, source: np.ndarray, run_key: str) -> np.ndarray:
    """A copy of ``source`` in a buffer this Python worker keeps for the rest of the run: copying
    into fresh memory every epoch would fault in every page again, a cost that grows with the model."""
    buffers = _BUFFERS.of(run_key)
    held = buffers.get(name)
    if held is None or held.shape != source.shape or held.dtype != source.dtype:
        buffers[name] = held = np.empty_like(source)
    np.copyto(held, source)
    return held


def sync_slice(starts: np.ndarray, sync: int, syncs: int) -> tuple[int, int]:
    """Sentence range of the ``sync``-th of ``syncs`` near-equal slices of a shard (by words)."""
    total = int(starts[-1])
    lo = int(np.searchsorted(starts, total * sync / syncs, side="left"))
    hi = int(np.searchsorted(starts, total * (sync + 1) / syncs, side="left"))
    return lo, hi


def shard_rng(seed: int, epoch: int, sync: int, index: int) -> np.random.Generator:
    """The random stream of one shard in one sync: a function of its coordinates only."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, sync, index]))


def train_partition(index: int, records: Iterable[tuple], task: TrainTask, model_bc: Broadcast,
                    tables_bc: Broadcast, owners_bc: Broadcast | None = None) -> Iterator[tuple]:
    """Train a copy of the broadcast model on this chain's slice for this sync.

    A partition holds one chain: the shards one task slot trains (one shard when
    there are as many slots as shards). Its records are trained in corpus order
    (input partition, then record), so a chain of shards trains exactly as one
    shard holding the same records would.

    Yields, per block of ``block_rows`` rows, ``(block, (partition, PackedBlock))``: how
    often each row was updated here and the change of the updated rows (see
    :mod:`sparkw2v.combine`). Then one :class:`~sparkw2v.combine.SyncStats` record.

    With ``task.owned_blocks`` (output rows owned: :func:`sparkw2v.stratified.owned_block`),
    the sync is one sub-epoch of a round: the round's slice of the text, only the centres of this
    partition's output block, negatives from that block; ``owners_bc`` holds the epoch's blocks.
    """
    started = time.perf_counter()
    tokens, starts = shard_arrays(sorted(records, key=corpus_order))
    piece, block, lo, hi = _sync_piece(index, starts, task)
    if hi <= lo:
        return
    keep_prob, neg_table, rates = _tables(tables_bc, task, negatives=not task.owned_blocks)
    w_in0, w_out0 = model_bc.value
    base, end = int(starts[lo]), int(starts[hi])
    words, rows = tokens[base:end], None
    centre_mask = negative_rng = None
    if task.owned_blocks:
        centre_mask, neg_table, block_rows = _owned_tables(tables_bc, owners_bc, task, block)
        negative_rng = owned_negative_rng(task.seed, task.epoch, task.sync, task.owned_blocks, index)
        rows = _changeable_rows(words, block_rows, w_in0.shape[0])
    if rows is not None:  # a renumbered copy of those rows alone: the kernel's results do not depend on rows' numbers
        local = np.full(w_in0.shape[0], -1, np.int32)
        local[rows] = np.arange(rows.size, dtype=np.int32)
        words, neg_table = local[words], local[neg_table]
        keep_prob, centre_mask = keep_prob[rows], centre_mask[rows]
        rates = None if rates is None else (rates[0][rows], rates[1][rows])
        w_in, w_out = w_in0[rows], w_out0[rows]
    else:
        w_in, w_out = _working_copy("in", w_in0, task.tables_key), _working_copy("out", w_out0, task.tables_key)
    stats = train_shard(w_in, w_out, words, starts[lo:hi + 1] - base, keep_prob,
                        neg_table, task.kernel, task.alpha_start, task.alpha_end,
                        shard_rng(task.seed, task.epoch, piece, index), rates, centre_mask, negative_rng)
    if task.owned_blocks and task.sync % task.owned_blocks:  # a round's words count in its first sub-epoch
        stats.words = stats.kept_words = 0
    packed = (_pack_dense(w_in, w_out, w_in0, w_out0, stats, task) if rows is None
              else _pack_rows(rows, w_in, w_out, w_in0, w_out0, stats, task))
    for block, record in enumerate(packed):
        yield block, (index, record)
        faults.fail_first_attempt(task.epoch, index)
    seconds = time.perf_counter() - started
    yield STATS_KEY, (index, SyncStats(stats.words, stats.kept_words, stats.examples, stats.loss_sum,
                                       stats.loss_examples, seconds, seconds))


def _sync_piece(index: int, starts: np.ndarray, task: TrainTask) -> tuple[int, int, int, int]:
    """``(piece, output block, lo, hi)``: which slice of the chain's text partition ``index`` trains
    in ``task.sync`` (its sentences ``lo:hi``), and its output block when it owns output rows (else 0)."""
    piece, syncs, block = task.sync, task.syncs_per_epoch, 0
    if task.owned_blocks:
        piece, block = owned_block(index, task.sync, task.owned_blocks, task.seed, task.epoch)
        syncs = task.syncs_per_epoch // task.owned_blocks
    lo, hi = sync_slice(starts, piece, syncs)
    return piece, block, lo, hi


def rows_read(index: int, tokens: np.ndarray, starts: np.ndarray, task: TrainTask, tables_bc: Broadcast,
              owners_bc: Broadcast) -> tuple[np.ndarray, np.ndarray]:
    """The input and output rows (int64, ascending) whose values :func:`train_partition` reads when
    partition ``index`` (text ``tokens`` / ``starts``, as :func:`shard_arrays` gives them) trains
    ``task``, a sync of output rows owned: its slice's words as inputs, its output block's rows as
    centres and negatives. No other row can change what it trains; none when it trains nothing."""
    _, block, lo, hi = _sync_piece(index, starts, task)
    if hi <= lo:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    present = np.zeros(tables_bc.value[0].size, bool)
    present[tokens[int(starts[lo]):int(starts[hi])]] = True
    return np.flatnonzero(present), _owned_tables(tables_bc, owners_bc, task, block)[2].astype(np.int64)


def _changeable_rows(words: np.ndarray, block_rows: np.ndarray, vocab: int) -> np.ndarray | None:
    """The rows a task owning output rows can change (its slice's words and its output block's rows),
    ascending, or None when they are more than ``COMPACT_SHARE`` of the vocabulary."""
    present = np.zeros(vocab, bool)
    present[words] = True
    present[block_rows] = True
    rows = np.flatnonzero(present).astype(np.int32)
    return rows if rows.size <= COMPACT_SHARE * vocab else None


def _pack_dense(w_in, w_out, w_in0, w_out0, stats: KernelStats, task: TrainTask) -> Iterator[PackedBlock]:
    """Each row block's result from a trained copy of the whole model (``w_in``, ``w_out``)."""
    w_in -= w_in0
    w_out -= w_out0
    n_in = stats.in_updates.astype(np.float32)
    n_out = stats.out_updates.astype(np.float32)
    for lo_row in range(0, w_in.shape[0], task.block_rows):
        block = slice(lo_row, lo_row + task.block_rows)
        yield pack_block(n_in[block], n_out[block], w_in[block], w_out[block], task.weighted)


def _pack_rows(rows: np.ndarray, w_in, w_out, w_in0, w_out0, stats: KernelStats,
               task: TrainTask) -> Iterator[PackedBlock]:
    """Each row block's result from a trained copy of the model's rows ``rows`` (ascending) alone."""
    vocab = w_in0.shape[0]
    halves = []
    for counts, trained, start in ((stats.in_updates, w_in, w_in0), (stats.out_updates, w_out, w_out0)):
        touched = np.flatnonzero(counts)
        ids = rows[touched]
        n = np.zeros(vocab, np.float32)
        n[ids] = counts[touched]
        change = trained[touched]
        change -= start[ids]
        halves.append((n, ids, change))
    (n_in, ids_in, change_in), (n_out, ids_out, change_out) = halves
    for lo_row in range(0, vocab, task.block_rows):
        hi_row = lo_row + task.block_rows
        a, b = np.searchsorted(ids_in, (lo_row, hi_row))
        c, d = np.searchsorted(ids_out, (lo_row, hi_row))
        yield pack_rows(n_in[lo_row:hi_row], n_out[lo_row:hi_row], ids_in[a:b] - lo_row, change_in[a:b],
                        ids_out[c:d] - lo_row, change_out[c:d], task.weighted)


# -- transform (mean vector of each row's tokens) ------------------------------------------------

@dataclass(frozen=True)
class MeanVectorTask:
    """What ``Word2VecModel.transform`` tasks need besides the broadcast vectors."""

    pretokenized: bool
    spec: TokenizerSpec
    vectors_key: str  # names the broadcast, so each worker decodes it once
    over_all_tokens: bool  # divide by all of a row's tokens (MLlib's rule), not its known words


_VECTORS = WorkerCache(keys=2)  # two models' transforms may take turns in one worker


def _vectors(payload_bc: Broadcast, key: str) -> tuple[pa.Array, np.ndarray]:
    """(words as an Arrow array, float32 matrix) of the broadcast (word, vector) Arrow table,
    decoded once per Python worker."""
    from .tables import vector_matrix

    held = _VECTORS.of(key)
    if not held:
        table = payload_bc.value
        held["vectors"] = (table.column("word").combine_chunks(), vector_matrix(table.column("vector")))
    return held["vectors"]


#: Known words of a row beyond which ``transform`` sums it in float64: float32 sums drift on long
#: rows (a relative error of ~1e-6 at 10,000 words and ~3e-5 at a million).
EXACT_ROW_WORDS = 1024


def _row_sums(matrix: np.ndarray, ids: np.ndarray, per_row: np.ndarray) -> np.ndarray:
    """The sum of ``matrix``'s rows ``ids`` over consecutive segments of ``per_row`` (each >= 1):
    read straight from the matrix (no gathered copy), segments longer than
    :data:`EXACT_ROW_WORDS` again in float64."""
    sums = segment_sums(matrix, ids, per_row, np.ones(ids.size, dtype=matrix.dtype))
    starts = np.cumsum(per_row) - per_row
    for i in np.flatnonzero(per_row > EXACT_ROW_WORDS).tolist():
        sums[i] = matrix[ids[starts[i]:starts[i] + per_row[i]]].sum(axis=0, dtype=np.float64)
    return sums


def mean_vector_column(column: pa.Array, task: MeanVectorTask, payload_bc: Broadcast) -> pa.Array:
    """The mean of each row's in-vocabulary word vectors (zeros if none), or with
    ``task.over_all_tokens`` their sum divided by all of the row's tokens, as an Arrow
    ``list<float>`` array: an Arrow UDF over the input column alone, so a row's other columns
    never leave the JVM.

    Tokens are looked up with Arrow's vectorised ``index_in`` and their rows summed per row
    by :func:`~sparkw2v.scatter.segment_sums`: no Python loop per token for token columns, nor for text
    split on whitespace (:func:`text_tokens`); a custom ``token_pattern`` splits each row in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    words, matrix = _vectors(payload_bc, task.vectors_key)
    dim = matrix.shape[1]
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not task.pretokenized and task.spec.pattern is None:
        column = text_tokens(column, task.spec.lowercase)
    if task.pretokenized or task.spec.pattern is None:
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy().astype(np.int64)
        flat = pc.list_flatten(column)
        row_of = np.repeat(np.arange(len(lengths)), lengths)
        if task.over_all_tokens and not task.pretokenized:
            # The split's empty strings at a line's ends are no tokens (nor words: "known" needs no check).
            empty = pc.equal(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False)
            lengths = lengths - np.bincount(row_of[empty], minlength=len(lengths))
    else:
        rows = [[t for piece in sentences([text], task.spec, False) for t in piece]
                for text in column.to_pylist()]
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        flat = pa.array([t for row in rows for t in row], type=pa.string())
        row_of = np.repeat(np.arange(len(lengths)), lengths)
    # As the vocabulary's type: Spark hands large strings under useLargeVarTypes.
    ids = pc.fill_null(pc.index_in(flat.cast(words.type), value_set=words), -1).to_numpy().astype(np.int64)
    known = ids >= 0
    per_row = np.bincount(row_of[known], minlength=len(lengths))
    means = np.zeros((len(lengths), dim), dtype=np.float32)
    has = per_row > 0
    if has.any():
        means[has] = _row_sums(matrix, ids[known], per_row[has]) \
            / (lengths if task.over_all_tokens else per_row)[has, None]
    offsets = pa.array(np.arange(0, (len(lengths) + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(means.reshape(-1)))
