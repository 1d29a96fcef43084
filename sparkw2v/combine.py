"""Combining the shards' updates into the next model: what tasks ship, how it is summed, the rules.

Each sync, every training task ships, per block of rows, how often it updated each row
and the change of the rows it updated (:class:`PackedBlock`), then one :class:`SyncStats`
record. The records are summed per block in partition order, so the sum does not depend
on which task finished first:

* on the driver (:func:`sum_records_by_key`) when all partitions' records fit in its memory;
* on the executors otherwise (:func:`key_by_block_and_partition`, :func:`block_of`,
  :func:`sum_sorted_blocks` after a sort by (block, partition)), so the driver receives one
  combined copy of each block.

A :class:`Rule` then turns each summed block into the next model's rows (:data:`RULES`
names them; ``--combine`` picks one). Rules keep no state between syncs.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple

import numpy as np

from .sampling import keep_probabilities

if TYPE_CHECKING:
    from .config import TrainConfig
    from .vocabulary import Vocabulary

#: Key of the statistics record among the row blocks a task yields.
STATS_KEY = -1


# -- what a task ships ------------------------------------------------------------------------

class PackedBlock(NamedTuple):
    """One row block of a task's result as shipped: update counts, and the change of only the
    rows this task updated, each row as float16 values times a float32 scale (its largest
    magnitude). About half the bytes of float32, none for untouched rows, and every entry is
    off by at most 1/2048 of its row's largest change. Scaling also keeps float16 out of its
    subnormal range, where NumPy converts far more slowly (rare words' small changes land there)."""

    n_in: np.ndarray
    n_out: np.ndarray
    rows_in: np.ndarray
    delta_in: np.ndarray
    scale_in: np.ndarray
    rows_out: np.ndarray
    delta_out: np.ndarray
    scale_out: np.ndarray
    weighted: bool  # unpack as count x change (for an update-weighted mean) or the plain change


def _to_half(picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``picked`` (scaled in place) as float16 values in [-1, 1], and their float32 scales."""
    if not picked.size:
        return picked.astype(np.float16), np.ones(picked.shape[0], np.float32)
    scale = np.maximum(picked.max(axis=1), -picked.min(axis=1))
    scale[~(scale > 0)] = 1.0   # all-zero rows; inf and NaN rows stay non-finite (no warning: the sync reports them)
    with np.errstate(over="ignore", invalid="ignore"):
        picked /= scale[:, None]
        return picked.astype(np.float16), scale.astype(np.float32)


def pack_block(n_in: np.ndarray, n_out: np.ndarray, delta_in: np.ndarray, delta_out: np.ndarray,
               weighted: bool) -> PackedBlock:
    """A block's result from its dense changes (one row per word of the block)."""
    rows_in, rows_out = np.flatnonzero(n_in).astype(np.int32), np.flatnonzero(n_out).astype(np.int32)
    return pack_rows(n_in, n_out, rows_in, delta_in[rows_in], rows_out, delta_out[rows_out], weighted)


def pack_rows(n_in: np.ndarray, n_out: np.ndarray, rows_in: np.ndarray, change_in: np.ndarray,
              rows_out: np.ndarray, change_out: np.ndarray, weighted: bool) -> PackedBlock:
    """A block's result from the changes of its updated rows only: ``change_in[i]`` is the change of
    row ``rows_in[i]`` (the rows where ``n_in > 0``, ascending), likewise for the output rows.
    The changes are scaled in place."""
    half_in, scale_in = _to_half(change_in)
    half_out, scale_out = _to_half(change_out)
    return PackedBlock(n_in, n_out, rows_in, half_in, scale_in, rows_out, half_out, scale_out, weighted)


def pack_change(delta: np.ndarray) -> bytes:
    """A whole block's change (float32, one row per word) as bytes: each row's float32 scale,
    then its values as float16 scaled into [-1, 1], as :class:`PackedBlock` ships rows. About
    half the bytes; each entry is off by at most 1/2048 of its row's largest change."""
    half, scale = _to_half(np.array(delta, dtype=np.float32))
    return scale.tobytes() + half.tobytes()


def unpack_change(buffer: bytes, vector_size: int) -> np.ndarray:
    """The float32 change :func:`pack_change` packed."""
    n, rest = divmod(len(buffer), 4 + 2 * vector_size)
    if rest:
        raise ValueError(f"a packed change of {len(buffer)} bytes is not whole rows of {vector_size} values")
    scale = np.frombuffer(buffer, dtype=np.float32, count=n)
    half = np.frombuffer(buffer, dtype=np.float16, offset=4 * n).reshape(n, vector_size)
    return half * scale[:, None]


def _rows_of(record: PackedBlock, counts, rows, half, scale) -> np.ndarray:
    """The shipped rows' changes as float32 (times their counts if the block is weighted)."""
    factor = scale * counts[rows] if record.weighted else scale
    return half * factor[:, None]


@dataclass(frozen=True)
class SyncStats:
    """What tasks did: ``a + b`` is one after the other (every field summed, as a sync's stats
    add up over an epoch), ``a.alongside(b)`` tasks that ran at once (the slowest task's
    seconds: the larger of the two)."""

    words: float = 0.0
    kept_words: float = 0.0
    examples: float = 0.0
    loss_sum: float = 0.0
    loss_examples: float = 0.0
    task_seconds: float = 0.0
    slowest_task_seconds: float = 0.0
    combine_seconds: float = 0.0  # the driver's time applying the rule

    def __add__(self, other: "SyncStats") -> "SyncStats":
        return SyncStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def alongside(self, other: "SyncStats") -> "SyncStats":
        return dataclasses.replace(self + other,
                                   slowest_task_seconds=max(self.slowest_task_seconds, other.slowest_task_seconds))

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.loss_examples, 1)


# -- summing, in partition order (in tasks on the executors, or on the driver) ----------------------

def unpack_block(record: object) -> object:
    """A :class:`PackedBlock` as the summable record ``(n_in, n_out, touched, d_in, d_out)``
    (``d`` weighted by the counts unless the block says otherwise); other records unchanged."""
    if not isinstance(record, PackedBlock):
        return record

    def full(counts, rows, half, scale):
        out = np.zeros((counts.size, half.shape[1]), dtype=np.float32)
        out[rows] = _rows_of(record, counts, rows, half, scale)
        return out
    touched = np.stack([record.n_in > 0, record.n_out > 0]).astype(np.float32)
    return (record.n_in.copy(), record.n_out.copy(), touched,
            full(record.n_in, record.rows_in, record.delta_in, record.scale_in),
            full(record.n_out, record.rows_out, record.delta_out, record.scale_out))


def add_into(total: object, record: object) -> object:
    """``total + record`` for a running sum from :func:`unpack_block`: a :class:`PackedBlock` is
    added into ``total``'s arrays in place, only at its shipped rows (the same additions as
    adding its unpacked zeros elsewhere, without building them); the tasks' :class:`SyncStats`
    are merged as tasks that ran at once."""
    if isinstance(record, SyncStats):
        return total.alongside(record)
    if not isinstance(record, PackedBlock):
        return total + record
    n_in, n_out, touched, d_in, d_out = total
    n_in += record.n_in
    n_out += record.n_out
    touched[0] += record.n_in > 0
    touched[1] += record.n_out > 0
    d_in[record.rows_in] += _rows_of(record, record.n_in, record.rows_in, record.delta_in, record.scale_in)
    d_out[record.rows_out] += _rows_of(record, record.n_out, record.rows_out, record.delta_out, record.scale_out)
    return total


def key_by_block_and_partition(record: tuple) -> tuple:
    """``(block, (partition, values))`` -> ``((block, partition), values)``, for sorting."""
    block, (partition, values) = record
    return (block, partition), values


def block_of(key: tuple) -> int:
    """The reducer of a ``(block, partition)`` key: its block."""
    return key[0]


def sum_sorted_blocks(records: Iterable[tuple]) -> Iterator[tuple]:
    """Records sorted by ``(block, partition)``, summed per block as :func:`sum_in_partition_order`
    sums them, holding one block's running total at a time."""
    block, total = None, None
    for (key, _), values in records:
        if key != block:
            if block is not None:
                yield block, total
            block, total = key, unpack_block(values)
        else:
            total = add_into(total, values)
    if block is not None:
        yield block, total


class SummedRows(NamedTuple):
    """A block's summed updates as a reducer ships them to the driver: only the rows some
    partition changed (every other row's counts, touches and changes are all zero), so the
    bytes collected follow the rows that changed, not the size of the model."""

    size: int
    rows_in: np.ndarray
    n_in: np.ndarray
    touched_in: np.ndarray
    d_in: np.ndarray
    rows_out: np.ndarray
    n_out: np.ndarray
    touched_out: np.ndarray
    d_out: np.ndarray


def compact_sum(item: tuple) -> tuple:
    """``(block, summed record)`` from :func:`sum_sorted_blocks` with the record as
    :class:`SummedRows`; the stats record unchanged."""
    key, value = item
    if key == STATS_KEY:
        return item
    n_in, n_out, touched, d_in, d_out = value

    def changed(n, t, d):
        return np.flatnonzero((n != 0) | (t != 0) | (d != 0).any(axis=1)).astype(np.int32)
    rows_in, rows_out = changed(n_in, touched[0], d_in), changed(n_out, touched[1], d_out)
    return key, SummedRows(n_in.size, rows_in, n_in[rows_in], touched[0][rows_in], d_in[rows_in],
                           rows_out, n_out[rows_out], touched[1][rows_out], d_out[rows_out])


def expand_sum(item: tuple) -> tuple:
    """The inverse of :func:`compact_sum`: ``(block, dense (n_in, n_out, touched, d_in, d_out))``
    from ``(block, SummedRows)``; the stats record unchanged."""
    key, value = item
    if key == STATS_KEY:
        return item

    def dense(rows, values, shape):
        out = np.zeros(shape, dtype=values.dtype)
        out[rows] = values
        return out
    size = value.size
    touched = np.stack([dense(value.rows_in, value.touched_in, size), dense(value.rows_out, value.touched_out, size)])
    return key, (dense(value.rows_in, value.n_in, size), dense(value.rows_out, value.n_out, size), touched,
                 dense(value.rows_in, value.d_in, (size, value.d_in.shape[1])),
                 dense(value.rows_out, value.d_out, (size, value.d_out.shape[1])))


def sum_records_by_key(records: list[tuple]) -> list[tuple]:
    """``(key, (partition, record))`` pairs in partition order, summed per key as
    :func:`sum_in_partition_order` sums them; consumes ``records`` as it goes."""
    totals: dict = {}
    records.reverse()
    while records:
        key, (_, record) = records.pop()
        totals[key] = unpack_block(record) if key not in totals else add_into(totals[key], record)
    return list(totals.items())


def sum_in_partition_order(values: Iterable[tuple[int, tuple]]) -> tuple:
    """Sum one key's records from every partition in partition order: the rule that both summing
    paths (:func:`sum_sorted_blocks` on the executors, :func:`sum_records_by_key` on the driver)
    follow with less memory, and that the tests hold them to.

    Float addition is not associative: summing in shuffle-arrival order would
    make the result depend on network timing.
    """
    ordered = sorted(values, key=lambda v: v[0])
    total = unpack_block(ordered[0][1])
    for _, record in ordered[1:]:
        total = add_into(total, record)
    return total


def apply_summed(reduced: Iterable[tuple], w_in: np.ndarray, w_out: np.ndarray, rule: "Rule",
                 block_rows: int) -> SyncStats:
    """Apply a sync's summed records (``(block, summed record)`` from either summing path, and the
    stats record) to ``w_in`` and ``w_out`` in place by ``rule``; returns the tasks' stats, merged
    as tasks that ran at once, with the seconds this took as ``combine_seconds``."""
    stats = SyncStats()
    started = time.perf_counter()
    for key, value in reduced:
        if key == STATS_KEY:
            stats = stats.alongside(value)
            continue
        n_in, n_out, touched, d_in, d_out = value
        rows = slice(key * block_rows, key * block_rows + n_in.size)
        rule.apply(w_in[rows], n_in, touched[0], d_in)
        rule.apply(w_out[rows], n_out, touched[1], d_out)
    return stats + SyncStats(combine_seconds=time.perf_counter() - started)


def shipped_rows(records: Iterable[tuple], block_rows: int) -> tuple[SyncStats, tuple, tuple]:
    """One task's records of a sync (``(block, (partition, record))``, blocks ascending) as its
    stats and, per matrix, ``(rows, changes)``: the rows it changed, ascending, and their float32
    changes as both summing paths read them (times the counts if weighted)."""
    stats, rows, changes = SyncStats(), ([], []), ([], [])
    for key, (_, record) in records:
        if key == STATS_KEY:
            stats = stats.alongside(record)
            continue
        base = key * block_rows
        for m, (n, shipped, half, scale) in enumerate(((record.n_in, record.rows_in, record.delta_in, record.scale_in),
                                                       (record.n_out, record.rows_out, record.delta_out,
                                                        record.scale_out))):
            rows[m].append(shipped.astype(np.int64) + base)
            changes[m].append(_rows_of(record, n, shipped, half, scale))
    return stats, *((np.concatenate(r) if r else np.zeros(0, np.int64),
                     np.concatenate(c) if c else np.zeros((0, 0), np.float32)) for r, c in zip(rows, changes))


def add_in_order(target: np.ndarray, pieces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The ``sum`` rule on one matrix without dense blocks: ``pieces`` are the partitions'
    ``(rows, changes)`` (:func:`shipped_rows`) in partition order; their sum, formed in that
    order, is added to ``target`` at the rows some partition changed, which are returned. The
    same float additions as :func:`sum_records_by_key` then :func:`apply_summed` with
    :class:`SumRule` (a row nobody changed gets nothing added instead of zero), with work that
    follows the rows changed, not the model's size."""
    pieces = [(r, c) for r, c in pieces if r.size]
    if not pieces:
        return np.zeros(0, np.int64)
    rows = np.unique(np.concatenate([r for r, _ in pieces]))
    total = np.zeros((rows.size, target.shape[1]), dtype=np.float32)
    for r, change in pieces:   # a partition ships each row once
        total[np.searchsorted(rows, r)] += change
    target[rows] += total
    return rows


# -- rules: summed block -> next model ---------------------------------------------------------------

def apply_mean(target: np.ndarray, counts: np.ndarray, weighted: np.ndarray, factor: np.ndarray) -> None:
    """``target += factor * (sum_p n_p * delta_p) / sum_p n_p`` on rows some partition updated.

    Scales ``weighted`` in place. When most rows were updated, every row is added to, since rows
    nobody updated have zero ``weighted``: cheaper than selecting rows."""
    touched = counts > 0
    if 2 * np.count_nonzero(touched) < touched.size:
        rows = np.flatnonzero(touched)
        target[rows] += weighted[rows] * (factor[rows] / counts[rows])[:, None]
        return
    scale = np.divide(factor, counts, out=np.zeros_like(factor), where=touched)
    weighted *= scale[:, None]
    target += weighted


class Rule:
    """How one sync's summed updates become the next model, and the learning rates that go with it.

    ``weighted`` says what tasks ship: count-weighted changes (for means) or plain ones.
    ``scale`` multiplies every shard's learning rate (:meth:`default_scale`, unless the user set
    ``partition_alpha_scale``); :meth:`row_rates` may add a factor per row. :meth:`apply` gets one
    matrix's row block at a time: ``target`` (the rows to update in place), the rows' summed update
    counts ``n``, how many partitions touched each row ``touched``, and the summed (weighted)
    changes ``delta``, which it may overwrite.
    """

    name = ""
    weighted = True

    def __init__(self, chains: int, scale: float | None = None, sg: bool = True):
        self.chains = chains  # chains trained at once, whose changes each sync combines
        self.sg = sg  # skip-gram, else CBOW
        self.scale = float(scale) if scale is not None else self.default_scale(chains, sg)

    @classmethod
    def default_scale(cls, chains: int, sg: bool = True) -> float:
        return 1.0

    def default_syncs(self, shard_words: float) -> int:
        """Syncs per epoch when the user set none, for shards of ``shard_words`` words on average."""
        return 1

    def row_rates(self, spread: Callable[[], np.ndarray], vocab: Vocabulary, cfg: TrainConfig,
                  step_words: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-row factors on the learning rate of the input and output matrices, or None for one
        rate everywhere. ``spread()`` computes how many partitions each word is spread over (a
        Spark job: called only by rules that need it)."""
        return None

    def apply(self, target: np.ndarray, n: np.ndarray, touched: np.ndarray, delta: np.ndarray) -> None:
        raise NotImplementedError


class MeanRule(Rule):
    """Each row becomes the mean of the partitions' values weighted by how often each updated it:
    a row one partition updated keeps that partition's update undiluted. Every shard's rate is
    raised by min(P, 4) to make up for averaging P shards (the linear scaling rule, capped where
    larger factors diverged: BENCHMARKS.md, "Averaging")."""

    name = "mean"

    @classmethod
    def default_scale(cls, chains: int, sg: bool = True) -> float:
        return float(min(chains, 4))

    def apply(self, target: np.ndarray, n: np.ndarray, touched: np.ndarray, delta: np.ndarray) -> None:
        apply_mean(target, n, delta, np.ones_like(n))


class SpreadRule(MeanRule):
    """The weighted mean, with each word's input row trained at a rate raised by the number of
    partitions its occurrences are spread over.

    Averaging gives a word seen in k of the partitions about 1/k of the step that sequential SGD
    would give it; raising its input row's rate by k makes up for that exactly while its updates
    stay small (a word seen in one partition keeps its plain rate, where ``mean`` overshoots it
    by min(P, 4)). Frequent words (more than ``FREQUENT_PER_STEP`` occurrences per kernel step)
    keep ``scale``: their rows repeat within a step, and larger rates diverge. No row's learning
    rate exceeds ``MAX_ROW_ALPHA`` (higher per-row rates diverged). Output rows keep
    ``scale`` (their negative-sampling updates come from every partition)."""

    name = "spread"
    FREQUENT_PER_STEP = 2.5
    MAX_ROW_ALPHA = 0.4
    #: From this many shards trained at once the rule syncs ``SYNCS_PER_SHARD`` times per shard per
    #: epoch, as long as every shard still trains ``MIN_SYNC_WORDS`` words per sync: many shards lose
    #: far less with short rounds than with one per epoch (BENCHMARKS.md, "Averaging").
    MANY_SHARDS = 8
    SYNCS_PER_SHARD = 2
    MIN_SYNC_WORDS = 1024
    #: Averaged CBOW (``--strategy average``; ``auto`` trains CBOW stratified from 3 shards) syncs
    #: ``CBOW_SYNCS`` times per epoch from ``MANY_SHARDS``, as long as every shard trains
    #: ``CBOW_MIN_SYNC_WORDS`` words per sync, and below ``CBOW_SCALE_BELOW`` shards raises every
    #: shard's rate ``CBOW_SCALE``-fold rather than min(P, 4)-fold: the settings that kept most of one
    #: shard's analogy score at 8 to 64 shards (BENCHMARKS.md, "Averaging").
    CBOW_SYNCS = 128
    CBOW_MIN_SYNC_WORDS = 128
    CBOW_SCALE = 2.0
    CBOW_SCALE_BELOW = 32

    @classmethod
    def default_scale(cls, chains: int, sg: bool = True) -> float:
        if not sg and cls.MANY_SHARDS <= chains < cls.CBOW_SCALE_BELOW:
            return cls.CBOW_SCALE
        return super().default_scale(chains, sg)

    def default_syncs(self, shard_words: float) -> int:
        if self.chains < self.MANY_SHARDS:
            return 1
        if not self.sg:
            return max(1, min(self.CBOW_SYNCS, int(shard_words // self.CBOW_MIN_SYNC_WORDS)))
        return max(1, min(self.SYNCS_PER_SHARD * self.chains, int(shard_words // self.MIN_SYNC_WORDS)))

    def row_rates(self, spread: Callable[[], np.ndarray], vocab: Vocabulary, cfg: TrainConfig,
                  step_words: int) -> tuple[np.ndarray, np.ndarray]:
        kept = vocab.counts * keep_probabilities(vocab.counts, cfg.sample)
        per_step = step_words * kept / max(float(kept.sum()), 1.0)
        rate_in = np.clip(spread(), 1.0, max(1.0, min(self.chains, self.MAX_ROW_ALPHA / cfg.effective_alpha)))
        frequent = per_step >= self.FREQUENT_PER_STEP
        rate_in[frequent] = np.minimum(rate_in[frequent], self.scale)
        # Relative to the task's learning rate, which carries ``scale`` already.
        return (rate_in / self.scale).astype(np.float32), np.ones(rate_in.size, np.float32)


class RescaledRule(MeanRule):
    """The weighted mean times ``touched / scale``: a row averaged over k partitions whose
    rate was scaled by s moved about k*s/P of its sequential step; k/s brings it back to ~P/P."""

    name = "rescaled"

    def apply(self, target: np.ndarray, n: np.ndarray, touched: np.ndarray, delta: np.ndarray) -> None:
        apply_mean(target, n, delta, touched / self.scale)


class SumRule(Rule):
    """Every partition's change is added: exact for rows updated by one partition, an overshoot
    for rows many partitions moved toward the same place."""

    name = "sum"
    weighted = False

    def apply(self, target: np.ndarray, n: np.ndarray, touched: np.ndarray, delta: np.ndarray) -> None:
        target += delta


RULES = {rule.name: rule for rule in (MeanRule, SpreadRule, RescaledRule, SumRule)}


def make_rule(name: str, chains: int, alpha_scale: float | None = None, sg: bool = True) -> Rule:
    """The rule called ``name`` for ``chains`` trained at once (``alpha_scale``: the user's
    ``partition_alpha_scale``, overriding the rule's default scale; ``sg``: skip-gram, else CBOW)."""
    return RULES[name](chains, alpha_scale, sg)
