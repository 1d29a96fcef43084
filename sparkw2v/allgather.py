"""An epoch of syncs in one barrier stage: every task keeps a replica of the model, the tasks
sum each other's changes between them, so no sync passes through the driver.

Stratified training that owns only the output rows (CBOW, and skip-gram with
``owned_rows='output'``: :mod:`sparkw2v.stratified`, last section) syncs every sub-epoch, 128 times an epoch. Through Spark each sync is a job: the
driver broadcasts the whole model, the tasks train, their packed changes are summed and the
driver applies them, which costs Spark's per-job and per-task time and the driver's work on
the whole model every sub-epoch (BENCHMARKS.md, "Cost of a sync and projected scaling").

When every task can run at once (a task slot per shard, the cluster case) the epoch is one
barrier stage instead. Each task trains its sub-epoch on its replica exactly as
:func:`~sparkw2v.executor.train_partition` trains a broadcast copy. Then, over
:class:`~sparkw2v.exchange.Peers`, task j sums in partition order every task's changes to its
share of the rows (1/K of them), as the driver would sum them by the ``sum`` rule, and answers
each task with the rows of its share that task reads in its next sub-epoch (the words of its
next slice of text and its next output block). A task receives the rows it reads, not every
row that changed: on a large vocabulary that is a small part of the model (BENCHMARKS.md, "The
owned layout's exchange"). Every row a task reads equals the driver's model bit for bit, and at
the end each task sends its share of the rows to the driver.

Driver code first (:func:`train_epoch`), then the executor function (:func:`train_replica`).
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from pyspark import RDD, Broadcast, SparkContext

from . import combine
from .exchange import TOKEN_BYTES, Peers, rendezvous
from .executor import TrainTask, rows_read, train_partition
from .session import collect_model_parts, drop_shuffle_files, release_broadcast
from .shard_records import corpus_order, shard_arrays


@dataclass(frozen=True)
class ReplicaTask:
    """What every task of an epoch's barrier stage needs besides the broadcasts: the syncs'
    tasks in order, how many tasks meet, and where and how they meet."""

    syncs: tuple[TrainTask, ...]
    tasks: int
    where: tuple[str, int]
    token: bytes


def train_epoch(sc: SparkContext, shards: RDD, syncs: tuple[TrainTask, ...], w_in: np.ndarray, w_out: np.ndarray,
                tables_bc: Broadcast, owners_bc: Broadcast | None, rule: combine.Rule,
                fall_back: bool = False, on_parts: Callable[[int], None] | None = None) -> combine.SyncStats:
    """Train ``syncs`` (one epoch's, in order) over ``shards`` (one partition per task, all
    running at once) in one barrier stage, updating ``w_in`` and ``w_out`` in place; returns
    the epoch's stats, each sync's tasks merged as tasks that ran at once. ``fall_back``: the
    caller trains the epoch again through Spark when tasks cannot connect, so a stage attempt
    whose connection timed out makes the next ones fail at once. A failed stage leaves the
    matrices as they were. Only the ``sum`` rule (output rows owned) is exchanged so. ``on_parts``:
    see :func:`~sparkw2v.session.collect_model_parts`."""
    if not isinstance(rule, combine.SumRule):
        raise ValueError(f"an epoch in one barrier stage adds the tasks' changes (the 'sum' rule), not {rule.name!r}")
    tasks = shards.getNumPartitions()
    meeting, token = rendezvous(sc), secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, tasks, fail_fast=fall_back)
    model_bc = sc.broadcast((w_in, w_out))
    try:
        task = ReplicaTask(syncs, tasks, meeting.address, token)
        # The shuffle after the barrier stage makes it a map stage, which Spark retries as a whole
        # when a task fails (a failed barrier result stage ends the job); a large model's shares are
        # read from its output one job at a time.
        shares = collect_model_parts(shards.barrier()
                                     .mapPartitionsWithIndex(functools.partial(train_replica, task=task,
                                                                               model_bc=model_bc, tables_bc=tables_bc,
                                                                               owners_bc=owners_bc))
                                     .partitionBy(tasks)
                                     .values(), w_in.nbytes + w_out.nbytes, on_parts)
    finally:
        release_broadcast(model_bc)
        meeting.forget([token])
        drop_shuffle_files(sc)   # the epoch's rows passed through one
    stats = combine.SyncStats()
    for index, rows_in, rows_out, task_stats in shares:   # every task's share is collected before any is written
        lo, hi = share_bounds(w_in.shape[0], tasks, index)
        w_in[lo:hi] = np.frombuffer(rows_in, np.float32).reshape(hi - lo, w_in.shape[1])
        w_out[lo:hi] = np.frombuffer(rows_out, np.float32).reshape(hi - lo, w_out.shape[1])
        stats = task_stats if task_stats is not None else stats
    return stats


def share_bounds(rows: int, tasks: int, index: int) -> tuple[int, int]:
    """Task ``index``'s share of the rows: those whose changes it sums after each sub-epoch, and
    sends to the driver at the end of the epoch."""
    return rows * index // tasks, rows * (index + 1) // tasks


# -- executor side ----------------------------------------------------------------------------

class _Replica:
    """Stands in for the model's broadcast in :func:`train_partition`: ``.value`` is this task's replica."""

    def __init__(self, value: tuple[np.ndarray, np.ndarray]) -> None:
        self.value = value


def train_replica(index: int, records: Iterable[tuple], task: ReplicaTask, model_bc: Broadcast,
                  tables_bc: Broadcast, owners_bc: Broadcast | None) -> Iterator[tuple]:
    """Task ``index`` of an epoch's barrier stage: train each sync on a replica of the broadcast
    model, then two exchanges.

    1. Each task sums the changes to its share of the rows (:func:`share_bounds`): every task
       sends it the changed rows that fall in its share (and task 0 every task's stats), and it
       adds them in partition order by the ``sum`` rule (:func:`combine.add_in_order`), so each
       row is summed once, as the driver sums it. With its changes a task asks for the rows of
       that share its next sync reads (:func:`~sparkw2v.executor.rows_read`), each with the sync
       after which its replica last had the row's sum.
    2. Each share's task answers with those of the asked rows that changed since then.

    So every row a task reads, and its own share, equal the driver's model bit for bit; rows it
    does not read may be out of date. At the end yields ``(index, (index, input rows, output rows,
    stats))`` for its share (float32 bytes), the epoch's stats from task 0 only. A task with no
    words trains nothing and still takes part."""
    records = list(records)
    tokens, starts = shard_arrays(sorted(records, key=corpus_order))
    w_in, w_out = (np.array(m, dtype=np.float32, copy=True) for m in model_bc.value)
    replica, matrices = _Replica((w_in, w_out)), (w_in, w_out)
    edges = [share_bounds(w_in.shape[0], task.tasks, j)[0] for j in range(task.tasks)] + [w_in.shape[0]]
    lo, hi = edges[index], edges[index + 1]
    # Per matrix: the sync after which each row's sum last changed (own share), and after which
    # this replica last had each row's sum (other rows); -1: the broadcast's value.
    changed_at = [np.full(hi - lo, -1, np.int32) for _ in matrices]
    fresh_at = [np.full(w_in.shape[0], -1, np.int32) for _ in matrices]
    nothing = np.zeros(0, np.int64)
    stats = combine.SyncStats()
    with Peers(task.where, task.token) as peers:
        for step, sync in enumerate(task.syncs):
            mine = list(train_partition(index, records, sync, replica, tables_bc, owners_bc))
            own_stats, *changed = combine.shipped_rows(mine, sync.block_rows)
            last = step + 1 == len(task.syncs)
            wanted = ((nothing, nothing) if last else
                      rows_read(index, tokens, starts, task.syncs[step + 1], tables_bc, owners_bc))
            # 1. Each task's changes to each share, and the rows of it the task reads next, go to the
            #    share's task.
            cuts = [np.searchsorted(rows, edges) for rows, _ in changed]
            want_cuts = [np.searchsorted(rows, edges) for rows in wanted]
            parts_for = {j: tuple(buffer for (rows, change), cut in zip(changed, cuts)
                                  for buffer in (rows[cut[j]:cut[j + 1]], change[cut[j]:cut[j + 1]]))
                         for j in range(task.tasks)}
            asked = {j: tuple(rows[cut[j]:cut[j + 1]] for rows, cut in zip(wanted, want_cuts))
                     for j in range(task.tasks)}
            # A message's parts: input rows and changes, output rows and changes, stats (to task 0),
            # input and output rows asked, the syncs after which the asker had each.
            for j in range(task.tasks):
                if j != index:
                    since = tuple(fresh[rows] for rows, fresh in zip(asked[j], fresh_at))
                    peers.send(j, 2 * step, (0, 0),
                               (*parts_for[j], _stats_bytes(own_stats) if j == 0 else b"", *asked[j], *since))
            arrived = {m.sender: m.parts for m in peers.receive(2 * step, task.tasks - 1)}
            arrived[index] = (*parts_for[index], _stats_bytes(own_stats))
            started = time.perf_counter()
            for m, target in enumerate(matrices):   # partition order, as the driver sums them
                pieces = [_rows_and_changes(arrived[p][2 * m], arrived[p][2 * m + 1], target.shape[1])
                          for p in range(task.tasks)]
                changed_at[m][combine.add_in_order(target, pieces) - lo] = step
            if index == 0:
                merged = combine.SyncStats()
                for p in range(task.tasks):
                    merged = merged.alongside(combine.SyncStats(*np.frombuffer(arrived[p][4], dtype=np.float64)))
                stats = stats + merged + combine.SyncStats(combine_seconds=time.perf_counter() - started)
            if last:
                break
            # 2. Each share's task answers with the asked rows whose sums changed since the asker had them.
            for j in range(task.tasks):
                if j != index:
                    answer = []
                    for m, target in enumerate(matrices):
                        rows = np.frombuffer(arrived[j][5 + m], np.int64)
                        rows = rows[changed_at[m][rows - lo] > np.frombuffer(arrived[j][7 + m], np.int32)]
                        answer += [rows, target[rows]]
                    peers.send(j, 2 * step + 1, (0, 0), answer)
            for message in peers.receive(2 * step + 1, task.tasks - 1):
                for m, target in enumerate(matrices):
                    rows, values = _rows_and_changes(message.parts[2 * m], message.parts[2 * m + 1], target.shape[1])
                    target[rows] = values
                    fresh_at[m][asked[message.sender][m]] = step
    yield index, (index, w_in[lo:hi].tobytes(), w_out[lo:hi].tobytes(), stats if index == 0 else None)


def _stats_bytes(stats: combine.SyncStats) -> bytes:
    return np.array(dataclasses.astuple(stats), dtype=np.float64).tobytes()


def _rows_and_changes(rows: bytes, values: bytes, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (int64) and their float32 values, from the buffers a task sent (or its own arrays)."""
    return np.frombuffer(rows, dtype=np.int64), np.frombuffer(values, dtype=np.float32).reshape(-1, width)
