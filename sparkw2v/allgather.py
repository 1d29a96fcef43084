"""An epoch of syncs in one barrier stage: every task keeps a replica of the model and adds
every task's change to it, so no sync passes through the driver.

Stratified training that owns only the output rows (CBOW, and skip-gram with
``owned_rows='output'``: :mod:`sparkw2v.stratified`, last section) syncs every sub-epoch, 128 times an epoch. Through Spark each sync is a job: the
driver broadcasts the whole model, the tasks train, their packed changes are summed and the
driver applies them, which costs Spark's per-job and per-task time and the driver's work on
the whole model every sub-epoch (BENCHMARKS.md, "Cost of a sync and projected scaling").

When every task can run at once (a task slot per shard, the cluster case) the epoch is one
barrier stage instead. Each task trains its sub-epoch on its replica exactly as
:func:`~sparkw2v.executor.train_partition` trains a broadcast copy; then the changes are added
as a reduce-scatter and an all-gather over :class:`~sparkw2v.exchange.Peers`: task j sums, in
partition order, every task's changes to its share of the rows (1/K of them), as the driver
would sum them by the ``sum`` rule, and sends the rows it updated to every other task. The
replicas stay equal to each other and to the driver's model bit for bit, each row is summed
once, and a task receives about the rows that changed, not K times its own change. At the end
each task sends its share of the rows to the driver.

Driver code first (:func:`train_epoch`), then the executor function (:func:`train_replica`).
"""

from __future__ import annotations

import dataclasses
import functools
import secrets
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
from pyspark import RDD, Broadcast, SparkContext

from . import combine
from .exchange import TOKEN_BYTES, Peers, rendezvous
from .executor import TrainTask, train_partition
from .session import drop_shuffle_files, release_broadcast


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
                fall_back: bool = False) -> combine.SyncStats:
    """Train ``syncs`` (one epoch's, in order) over ``shards`` (one partition per task, all
    running at once) in one barrier stage, updating ``w_in`` and ``w_out`` in place; returns
    the epoch's stats, each sync's tasks merged as tasks that ran at once. ``fall_back``: the
    caller trains the epoch again through Spark when tasks cannot connect, so a stage attempt
    whose connection timed out makes the next ones fail at once. A failed stage leaves the
    matrices as they were. Only the ``sum`` rule (output rows owned) is exchanged so."""
    if not isinstance(rule, combine.SumRule):
        raise ValueError(f"an epoch in one barrier stage adds the tasks' changes (the 'sum' rule), not {rule.name!r}")
    tasks = shards.getNumPartitions()
    meeting, token = rendezvous(sc), secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, tasks, fail_fast=fall_back)
    model_bc = sc.broadcast((w_in, w_out))
    try:
        task = ReplicaTask(syncs, tasks, meeting.address, token)
        # The shuffle after the barrier stage makes it a map stage, which Spark retries as a whole
        # when a task fails (a failed barrier result stage ends the job).
        shares = (shards.barrier()
                  .mapPartitionsWithIndex(functools.partial(train_replica, task=task, model_bc=model_bc,
                                                            tables_bc=tables_bc, owners_bc=owners_bc))
                  .partitionBy(tasks)
                  .values()
                  .collect())
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
    model, then add the tasks' changes in two exchanges. Each task sums the changes to its share of
    the rows (:func:`share_bounds`): every task sends it the changed rows that fall in its share
    (and task 0 every task's stats), and it adds them in partition order by the ``sum`` rule
    (:func:`combine.add_in_order`); then it sends the rows it updated to every other task, which
    copy them. So each row is summed once, as the driver sums it, and the replicas stay equal bit
    for bit. At the end yields ``(index, (index, input rows, output rows, stats))`` for its share
    (float32 bytes), the epoch's stats from task 0 only. A task with no words trains nothing and
    still takes part."""
    records = list(records)
    w_in, w_out = (np.array(m, dtype=np.float32, copy=True) for m in model_bc.value)
    replica, matrices = _Replica((w_in, w_out)), (w_in, w_out)
    bounds = [share_bounds(w_in.shape[0], task.tasks, j) for j in range(task.tasks)]
    lo, hi = bounds[index]
    stats = combine.SyncStats()
    with Peers(task.where, task.token) as peers:
        for step, sync in enumerate(task.syncs):
            mine = list(train_partition(index, records, sync, replica, tables_bc, owners_bc))
            own_stats, *changed = combine.shipped_rows(mine, sync.block_rows)
            # 1. Each task's changes to each share go to the share's task.
            cuts = [np.searchsorted(rows, [a for a, _ in bounds] + [w_in.shape[0]]) for rows, _ in changed]
            parts_for = {j: tuple(buffer for (rows, change), cut in zip(changed, cuts)
                                  for buffer in (rows[cut[j]:cut[j + 1]], change[cut[j]:cut[j + 1]]))
                         for j in range(task.tasks)}
            for j in range(task.tasks):
                if j != index:
                    peers.send(j, 2 * step, (0, 0), (*parts_for[j], _stats_bytes(own_stats) if j == 0 else b""))
            arrived = {m.sender: m.parts for m in peers.receive(2 * step, task.tasks - 1)}
            arrived[index] = (*parts_for[index], _stats_bytes(own_stats))
            started = time.perf_counter()
            updated = []
            for m, target in enumerate(matrices):   # partition order, as the driver sums them
                pieces = [_rows_and_changes(arrived[p][2 * m], arrived[p][2 * m + 1], target.shape[1])
                          for p in range(task.tasks)]
                updated.append(combine.add_in_order(target, pieces))
            if index == 0:
                merged = combine.SyncStats()
                for p in range(task.tasks):
                    merged = merged.alongside(combine.SyncStats(*np.frombuffer(arrived[p][4], dtype=np.float64)))
                stats = stats + merged + combine.SyncStats(combine_seconds=time.perf_counter() - started)
            # 2. Each task's updated rows go to every other task.
            shipped = tuple(buffer for rows, target in zip(updated, matrices) for buffer in (rows, target[rows]))
            for j in range(task.tasks):
                if j != index:
                    peers.send(j, 2 * step + 1, (0, 0), shipped)
            for message in peers.receive(2 * step + 1, task.tasks - 1):
                for m, target in enumerate(matrices):
                    rows, values = _rows_and_changes(message.parts[2 * m], message.parts[2 * m + 1], target.shape[1])
                    target[rows] = values
    yield index, (index, w_in[lo:hi].tobytes(), w_out[lo:hi].tobytes(), stats if index == 0 else None)


def _stats_bytes(stats: combine.SyncStats) -> bytes:
    return np.array(dataclasses.astuple(stats), dtype=np.float64).tobytes()


def _rows_and_changes(rows: bytes, values: bytes, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (int64) and their float32 values, from the buffers a task sent (or its own arrays)."""
    return np.frombuffer(rows, dtype=np.int64), np.frombuffer(values, dtype=np.float32).reshape(-1, width)
