"""What one sync costs, measured term by term, a fitted cost model, and projected cluster scaling.

A sync (``training._sync``) is: the driver broadcasts both matrices; P tasks (one per shard
trained at once) each read their shard, load the broadcast, copy it into working buffers,
train, subtract, pack the changed rows as float16 (``combine.pack_block``) and ship them; the
updates are summed, on the driver (``combine.sum_records_by_key``) or on the executors
(``combine.sum_sorted_blocks`` after a sort by (block, partition)); the driver applies the
rule. On a cluster the P tasks run in parallel and the driver's work is serial, so the two
are measured and fitted apart:

* ``components``: one process, no Spark. Times the library's own functions on synthetic
  models and updates of the right shape: broadcast pickling and loading as PySpark does it,
  ``executor._working_copy``, the subtraction, ``combine.pack_block`` over every row block,
  pickling the records, unpickling them, ``combine.sum_records_by_key`` over P tasks' records,
  ``combine.sum_sorted_blocks``, and the rule's ``apply``, for vocabulary x dimensions x
  rows touched x shards.
* ``spark``: what only Spark can show, on ``local[N]``: launching a job of P tasks (with
  ``--split-launch`` also at one slot, to split the driver's share from the executors'),
  creating a broadcast, moving bytes from tasks to the driver (collect) and through a
  shuffle, and reading a cached shard each sync (``shard_records.shard_arrays``). ``--rates``
  sets any of these instead (for example figures measured on a quieter day).
* ``stages``: a job of S chained shuffle stages of P Python tasks each (as stratified training
  chains its sub-epochs), against a job of one: the cost of one more stage inside a job
  (``stage_fixed``, fitted over P), which the stratified projection charges per sub-epoch
  and per group stage where a whole job costs ``job_fixed``.
* ``moves``: the same chain with every task handing a block of B megabytes to another task,
  shaped as a sub-epoch (``moving_stages``), fitted as a stage's fixed cost, a task's and a
  byte's (``moving_rates``). With it the stratified projection charges its sub-epochs and group
  stages these instead of an empty task's cost, and its blocks this per-byte rate instead of
  two sides of the ``spark`` part's shuffle: an empty Python task over TCP waits ~40 ms on
  delayed acknowledgements that a task moving megabytes does not (BENCHMARKS.md).
* ``direct``: what ``block_exchange = "direct"`` costs instead (``direct_stages``): barrier
  stages of P tasks whose tasks hand a block of B megabytes around a ring H times through
  :class:`sparkw2v.exchange.Peers` (one rendezvous per stage), fitted as a stage's fixed cost,
  a hand-over's and a byte's (``direct_rates``). With it the stratified projection runs each
  group of sub-epochs as one such stage: only a group's last hand-over goes through the
  shuffle, the others move the output blocks directly and leave the input blocks in place.
* ``blocks``: a checkpoint's blocks table written from 4 tasks and read back to them
  (``stratified.write_blocks`` / ``read_blocks``), per byte: what an epoch that ends in a
  checkpoint costs stratified training instead of collecting and broadcasting the model.
* ``sync``: whole syncs through ``training._sync`` itself, shards of a few thousand words
  (training negligible), to check the model's prediction (wall clock and CPU seconds).
* ``project``: least-squares fit of driver-serial and per-task terms, then the epoch time
  and scaling efficiency of a 1B-word corpus on C executor cores under three sync policies,
  at the per-core kernel speed measured on a Zipf shard of the projected vocabulary; and
  the same for the ``stratified`` strategy from Spark's terms (:func:`project_stratified`).

In-process terms and the kernel speed are CPU seconds of this process (robust to other jobs
on a shared machine); Spark's terms are the wall clock or CPU seconds of the process tree
(``--spark-clock``). Network transfers cannot be measured on one machine: ``--network-gbps``
is an assumption.

Rows touched: a shard training W words in a sync updates the input rows of the distinct
words it keeps after subsampling, and the output rows of those plus the distinct negatives
drawn (``negative`` per kept centre from counts**0.75). Word frequencies follow Zipf's law
with exponent 1 over the V vocabulary words (rank r has probability 1/(r H_V)); the expected
numbers of distinct rows are computed exactly from that, and ``--check-rows`` compares them
with the kernel's own update counts.

Examples:

    python bench/sync_cost.py --split-launch --json bench/results/sync_cost.json --plot bench/results/sync_cost.png
    python bench/sync_cost.py --parts components --vocab 14000,100000 --dims 100 --shards 2,8,32
    python bench/sync_cost.py --check-rows --vocab 1000000
    python bench/sync_cost.py --from-json bench/results/sync_cost.json --plot bench/results/sync_cost.png \
        --project-cores 8,32,128 --kernel-speed 600000 --rates collect_per_byte=12e-9
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sparkw2v import combine, executor, shard_records  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.kernel import KernelParams, train_shard  # noqa: E402
from sparkw2v.sampling import keep_probabilities, negative_distribution, negative_table  # noqa: E402
from sparkw2v.training import BLOCK_BYTES, sums_on_driver  # noqa: E402

GIB = 1 << 30
SAMPLE, NEGATIVE, WINDOW = 1e-3, 5, 5


# -- corpus statistics ------------------------------------------------------------------------------

def zipf_probabilities(vocab: int) -> np.ndarray:
    p = 1.0 / np.arange(1, vocab + 1, dtype=np.float64)
    return p / p.sum()


def rows_touched(vocab: int, words: float) -> tuple[float, float]:
    """Expected distinct (input, output) rows a shard updates when it trains ``words`` words."""
    p = zipf_probabilities(vocab)
    kept = p * keep_probabilities(p * 1e9, SAMPLE)  # keep probabilities depend only on the shares
    q = negative_distribution(p, 0.75)
    draws = NEGATIVE * words * kept.sum()
    miss_in = np.exp(words * np.log1p(-kept))
    miss_neg = np.exp(draws * np.log1p(-q))
    return float(vocab - miss_in.sum()), float(vocab - (miss_in * miss_neg).sum())


def zipf_tokens(rng, vocab: int, words: int) -> np.ndarray:
    return rng.choice(vocab, size=words, p=zipf_probabilities(vocab)).astype(np.int32)


def kernel_params(vocab: int) -> KernelParams:
    from sparkw2v.training import negative_group, step_words
    cfg = TrainConfig()
    group = negative_group(cfg.effective_negative_group, vocab)
    return KernelParams(sg=cfg.sg, window=cfg.window, negative=cfg.negative,
                        chunk_words=step_words(cfg.effective_batch_words, vocab), shared_by=group,
                        shared_draws=cfg.negative_draws_for(group))


def train_zipf_shard(vocab: int, dim: int, words: int, seed: int = 0, w=None) -> dict:
    """Train one synthetic Zipf shard with the library's kernel and defaults: words/s and rows touched."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(1, np.round(zipf_probabilities(vocab) * 1e9)).astype(np.int64)
    tokens = zipf_tokens(rng, vocab, words)
    starts = np.arange(0, words + 1, 20, dtype=np.int64)
    if starts[-1] != words:
        starts = np.append(starts, words)
    if w is None:
        w = ((rng.random((vocab, dim), dtype=np.float32) - 0.5) / dim, np.zeros((vocab, dim), np.float32))
        w[1].fill(0.0)  # fault its pages in now, as an executor's kept working buffers are
    keep, table = keep_probabilities(counts, SAMPLE), negative_table(counts, 0.75)
    started = time.process_time()  # CPU seconds: see _timed
    stats = train_shard(w[0], w[1], tokens, starts, keep, table, kernel_params(vocab), 0.025, 0.02, rng)
    seconds = time.process_time() - started
    return {"vocab": vocab, "dim": dim, "words": words, "seconds": seconds, "words_per_second": words / seconds,
            "rows_in": int(np.count_nonzero(stats.in_updates)), "rows_out": int(np.count_nonzero(stats.out_updates))}


def brown_kernel_speed() -> dict:
    """Words/s of one skip-gram epoch of the kernel on the bundled Brown corpus (library defaults)."""
    import gzip
    from collections import Counter
    from sparkw2v.vocabulary import Vocabulary
    from sparkw2v.training import initial_weights
    with gzip.open(ROOT / "sparkw2v" / "data" / "brown.txt.gz", "rt", encoding="utf-8") as fh:
        sentences = [line.lower().split() for line in fh if line.strip()]
    vocab = Vocabulary.from_counts(Counter(w for s in sentences for w in s).items(), 5)
    index = vocab.index()
    encoded = [np.array([index[w] for w in s if w in index], np.int32) for s in sentences]
    encoded = [e for e in encoded if e.size]
    tokens = np.concatenate(encoded)
    starts = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([e.size for e in encoded], out=starts[1:])
    w_in, w_out = initial_weights(len(vocab), 100, 1)
    keep, table = keep_probabilities(vocab.counts, SAMPLE), negative_table(vocab.counts, 0.75)
    corpus_words = sum(len(s) for s in sentences)
    rng = np.random.default_rng(1)
    best = float("inf")
    for _ in range(2):
        started = time.process_time()
        train_shard(w_in, w_out, tokens, starts, keep, table, kernel_params(len(vocab)), 0.025, 0.02, rng)
        best = min(best, time.process_time() - started)
    return {"corpus": "brown", "vocab": len(vocab), "dim": 100, "words": corpus_words, "seconds": best,
            "words_per_second": corpus_words / best}


# -- components: the library's functions on synthetic data, one process ------------------------------

def _timed(fn, repeats: int = 1, clock=time.process_time):
    """Fastest of ``repeats`` calls and the last result. In-process terms count this process's CPU
    seconds (user + system): on a machine shared with other jobs that is what the work costs, where
    wall time would add the waits for a core. Spark's terms span processes and use the wall clock."""
    best, out = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        started = clock()
        out = fn()
        best = min(best, clock() - started)
    return best, out


def components(vocab: int, dim: int, levels: list[tuple[str, float, float]], shards: list[int],
               repeats: int, tmpdir: str) -> list[dict]:
    """Per-task and driver terms of one sync for a ``vocab`` x ``dim`` model, at each level of rows
    touched ``(label, rows_in, rows_out)`` and each number of shards."""
    from pyspark.serializers import CPickleSerializer, pickle_protocol
    ser = CPickleSerializer()
    rng = np.random.default_rng(0)
    block_rows = max(1, BLOCK_BYTES // (2 * dim * 4 + 8))
    model = (rng.standard_normal((vocab, dim), dtype=np.float32) * 0.01,
             rng.standard_normal((vocab, dim), dtype=np.float32) * 0.01)
    path = os.path.join(tmpdir, "broadcast")

    def dump():
        with open(path, "wb") as f:
            pickle.dump(model, f, pickle_protocol)
    t_dump, _ = _timed(dump)

    def load():  # pyspark.broadcast.Broadcast.load_from_path
        with open(path, "rb", 1 << 20) as f:
            gc.disable()
            try:
                return pickle.load(f)
            finally:
                gc.enable()
    t_load, w0 = _timed(load, repeats)
    del model
    os.remove(path)
    executor._working_copy("in", w0[0], "bench")  # buffers a Python worker keeps between syncs
    executor._working_copy("out", w0[1], "bench")
    t_copy, work = _timed(lambda: (executor._working_copy("in", w0[0], "bench"),
                                   executor._working_copy("out", w0[1], "bench")), repeats)
    target = (w0[0].copy(), w0[1].copy())  # what the rule updates (the driver's model)
    out = []
    for label, r_in, r_out in levels:
        r_in, r_out = int(round(min(r_in, vocab))), int(round(min(r_out, vocab)))
        n_in = np.zeros(vocab, np.float32)
        n_out = np.zeros(vocab, np.float32)
        n_in[:r_in] = 3.0   # the most frequent words are the ones a shard touches
        n_out[:r_out] = 7.0
        # "Training": the touched rows move (not timed).
        executor._working_copy("in", w0[0], "bench")
        executor._working_copy("out", w0[1], "bench")
        work[0][:r_in] += rng.standard_normal((r_in, dim), dtype=np.float32) * 1e-3
        work[1][:r_out] += rng.standard_normal((r_out, dim), dtype=np.float32) * 1e-3

        def subtract():
            work[0].__isub__(w0[0])
            work[1].__isub__(w0[1])
        t_sub, _ = _timed(subtract)

        def pack():
            return [(block, (0, combine.pack_block(n_in[lo:lo + block_rows], n_out[lo:lo + block_rows],
                                                   work[0][lo:lo + block_rows], work[1][lo:lo + block_rows],
                                                   True)))
                    for block, lo in enumerate(range(0, vocab, block_rows))]
        t_pack, records = _timed(pack, repeats)
        t_ser, blobs = _timed(lambda: [ser.dumps(r) for r in records], repeats)
        task_bytes = sum(len(b) for b in blobs)
        t_deser, _ = _timed(lambda: [ser.loads(b) for b in blobs], repeats)
        del blobs
        n_blocks = len(records)
        for p in shards:
            # What collect() hands the driver: every partition's blocks, in partition order.
            collected = [(block, (i, rec)) for i in range(p) for block, (_, rec) in records]
            t_sum, reduced = _timed(lambda: combine.sum_records_by_key(list(collected)))
            rule = combine.make_rule("spread", p)

            def apply():
                for key, (a_in, a_out, touched, d_in, d_out) in reduced:
                    rows = slice(key * block_rows, key * block_rows + a_in.size)
                    rule.apply(target[0][rows], a_in, touched[0], d_in)
                    rule.apply(target[1][rows], a_out, touched[1], d_out)
            t_apply, _ = _timed(apply)  # scales ``reduced`` in place: once only
            del reduced
            # Executor-side path: each reducer streams its blocks' records in (block, partition) order.
            ordered = sorted((combine.key_by_block_and_partition(r) for r in collected), key=lambda kv: kv[0])
            t_sorted, combined = _timed(lambda: list(combine.sum_sorted_blocks(iter(ordered))))
            t_cser, cblobs = _timed(lambda: [ser.dumps(c) for c in combined])
            combined_bytes = sum(len(b) for b in cblobs)
            del combined
            t_cdeser, _ = _timed(lambda: [ser.loads(b) for b in cblobs])
            del cblobs, collected, ordered
            row = {"vocab": vocab, "dim": dim, "level": label, "rows_in": r_in, "rows_out": r_out, "shards": p,
                   "blocks": n_blocks, "model_bytes": 8 * vocab * dim, "task_bytes": task_bytes,
                   "combined_bytes": combined_bytes,
                   # per task (parallel on a cluster)
                   "bc_load": t_load, "copy": t_copy, "subtract": t_sub, "pack": t_pack, "serialize": t_ser,
                   # driver (serial)
                   "bc_dump": t_dump, "deserialize_all": t_deser * p, "sum_direct": t_sum, "apply": t_apply,
                   # executor-side reduction: reducers' work in all (parallel over reducers), then the driver
                   "sum_sorted_all": t_sorted + t_deser * p, "combined_serialize": t_cser,
                   "combined_deserialize": t_cdeser}
            out.append(row)
            print(f"  V={vocab:>9,} d={dim} {label:>6} rows {r_in:>9,}/{r_out:>9,} P={p:>2}: load {t_load:.3f} "
                  f"copy {t_copy:.3f} sub {t_sub:.3f} pack {t_pack:.3f} ser {t_ser:.3f} ({task_bytes / 1e6:.1f} MB) | "
                  f"dump {t_dump:.3f} deser {t_deser * p:.3f} sum {t_sum:.3f} apply {t_apply:.3f} | "
                  f"sorted {t_sorted:.3f} comb {combined_bytes / 1e6:.0f} MB {t_cser:.3f}/{t_cdeser:.3f}",
                  flush=True)
        del records
    executor._BUFFERS.clear()
    return out


# -- Spark: launching, broadcasting, moving bytes, reading shards -------------------------------------------

def tree_cpu_since(before: dict | None = None):
    """Snapshot, or CPU seconds used since ``before`` by the processes alive now (a Python worker
    that exits in between loses its share: never a negative)."""
    now = {}
    tick = os.sysconf("SC_CLK_TCK")
    pids, stack = set(), [os.getpid()]
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
                now[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                continue
    while stack:
        p = stack.pop()
        pids.add(p)
        stack.extend(children.get(p, []))
    mine = {p: now[p] for p in pids if p in now}
    if before is None:
        return mine
    return sum(max(0.0, v - before.get(p, 0.0)) for p, v in mine.items())


def _nothing(rows):
    # A Python worker whose input is left unread is not reused: the next task would start a new one.
    for _ in rows:
        pass
    return iter(())


def _random_bytes(seed: int, size: int) -> bytes:
    """Bytes that compress about as little as float32 rows do (zeros would flatter a shuffle,
    whose files Spark compresses): a random megabyte repeated, beyond the reach of LZ4's window."""
    base = np.random.default_rng(seed).bytes(1 << 20)
    return (base * -(-size // len(base)))[:size]


def random_bytes_rate(repeats: int = 3) -> float:
    """Seconds per byte :func:`_random_bytes` takes, in this process: what the collect and shuffle
    measures spend making their bytes, taken off their rates."""
    size = 256 << 20
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        _random_bytes(0, size)
        best = min(best, time.perf_counter() - started)
    return best / size


def _blobs(index, _rows, size: int, chunk: int):
    left = size
    while left > 0:
        yield _random_bytes(index, min(chunk, left))
        left -= chunk


def _keyed_blobs(index, _rows, size: int, blocks: int):
    for block in range(blocks):
        yield block, (index, _random_bytes(index * blocks + block, size // blocks))


def _sizes(records):
    yield sum(len(v) for _, v in records)


def _read_shard(records):
    tokens, starts = shard_records.shard_arrays(sorted(records, key=shard_records.corpus_order))
    yield int(tokens.size)


def _shard_records(index, _rows, words: int):
    """One shard as ``encode_corpus`` caches it: records of ``RECORD_WORDS`` ids, sentences of 20."""
    rng = np.random.default_rng(index)
    n = 0
    for lo in range(0, words, executor.RECORD_WORDS):
        size = min(executor.RECORD_WORDS, words - lo)
        ids = rng.integers(0, 10_000, size, dtype=np.int32)
        lengths = np.full(-(-size // 20), 20, np.int32)
        lengths[-1] = size - 20 * (lengths.size - 1)
        yield (index, index, n), (ids, lengths)
        n += 1


def spark_terms(sc, shards: list[int], sizes: list[tuple[int, int]], repeats: int, cores: int,
                collect_mb: list[int], only_launch: bool = False) -> dict:
    """Each measure as ``(wall s, CPU s)``: the fastest of ``repeats`` by wall clock and by the CPU
    seconds of this process and its descendants (the JVM and the Python workers)."""
    out: dict = {"cores": cores, "launch": {}, "broadcast": [], "collect": [], "shuffle": [], "shard_read": [],
                 "generate_per_byte": random_bytes_rate()}

    def best(fn) -> tuple[float, float]:
        wall, cpu = float("inf"), float("inf")
        for _ in range(repeats):
            gc.collect()
            started, used = time.perf_counter(), tree_cpu_since()
            fn()
            wall, cpu = min(wall, time.perf_counter() - started), min(cpu, tree_cpu_since(used))
        return wall, cpu
    warm = sc.parallelize(range(cores), cores)
    warm.mapPartitions(_nothing).collect()
    for p in shards:
        rdd = sc.parallelize(range(p), p).cache()
        rdd.count()
        out["launch"][p] = best(lambda: rdd.mapPartitions(_nothing).collect())
        rdd.unpersist()
        print(f"  local[{cores}] empty job of {p} tasks: %.3f s, %.3f CPU s" % out["launch"][p], flush=True)
    if only_launch:
        return out
    rng = np.random.default_rng(0)
    for vocab, dim in sizes:
        model = (rng.standard_normal((vocab, dim), dtype=np.float32),) * 2

        def make():
            sc.broadcast(model).destroy()
        wall, cpu = best(make)
        out["broadcast"].append({"vocab": vocab, "dim": dim, "bytes": 8 * vocab * dim, "seconds": wall, "cpu": cpu})
        del model
        print(f"  broadcast {vocab:,} x {dim} x 2 (create + destroy): {wall:.3f} s, {cpu:.3f} CPU s", flush=True)
    for mb in collect_mb:
        total = mb << 20
        rdd = sc.parallelize(range(4), 4)
        wall, cpu = best(lambda: rdd.mapPartitionsWithIndex(partial(_blobs, size=total // 4, chunk=16 << 20))
                         .collect())
        out["collect"].append({"bytes": total, "tasks": 4, "seconds": wall, "cpu": cpu})
        print(f"  collect {mb} MB from 4 tasks: {wall:.3f} s, {cpu:.3f} CPU s", flush=True)
        shuffled = rdd.mapPartitionsWithIndex(partial(_keyed_blobs, size=total // 4, blocks=8))
        wall, cpu = best(lambda: shuffled.map(combine.key_by_block_and_partition)
                         .repartitionAndSortWithinPartitions(4, partitionFunc=combine.block_of)
                         .mapPartitions(_sizes).collect())
        out["shuffle"].append({"bytes": total, "tasks": 4, "reducers": 4, "seconds": wall, "cpu": cpu})
        print(f"  shuffle {mb} MB, 4 tasks x 8 blocks -> 4 reducers: {wall:.3f} s, {cpu:.3f} CPU s", flush=True)
    # Large enough shards that an empty task's ~40 ms wait over TCP (``moving_stages``) does not
    # decide the slope.
    for words in (1 << 20, 1 << 22, 1 << 23):
        from pyspark import StorageLevel
        rdd = (sc.parallelize(range(2), 2).mapPartitionsWithIndex(partial(_shard_records, words=words))
               .persist(StorageLevel.MEMORY_AND_DISK))
        rdd.count()
        wall, cpu = best(lambda: rdd.mapPartitions(_read_shard).collect())
        rdd.unpersist()
        out["shard_read"].append({"words": words, "tasks": 2, "seconds": wall, "cpu": cpu})
        print(f"  read 2 cached shards of {words:,} words: {wall:.3f} s, {cpu:.3f} CPU s", flush=True)
    return out


def whole_syncs(sc, vocab: int, dim: int, shards: list[int], shard_words: int, repeats: int) -> list[dict]:
    """``training._sync`` itself on P synthetic shards of ``shard_words`` words."""
    from pyspark import StorageLevel
    from sparkw2v import training
    from sparkw2v.corpus import EncodedCorpus
    counts = np.maximum(1, np.round(zipf_probabilities(vocab) * 1e9)).astype(np.int64)
    rng = np.random.default_rng(0)
    w_in = (rng.random((vocab, dim), dtype=np.float32) - 0.5) / dim
    w_out = np.zeros((vocab, dim), np.float32)
    tables_bc = sc.broadcast((counts, None))
    block_rows = max(1, BLOCK_BYTES // (2 * dim * 4 + 8))
    n_blocks = -(-vocab // block_rows)
    out = []
    for p in shards:
        tokens = [zipf_tokens(np.random.default_rng(i), vocab, shard_words) for i in range(p)]
        records = [((i, i, 0), (t, np.full(shard_words // 20, 20, np.int32))) for i, t in enumerate(tokens)]
        rdd = sc.parallelize(records, p).persist(StorageLevel.MEMORY_AND_DISK)
        rdd.count()
        encoded = EncodedCorpus(rdd, [shard_words] * p)
        rule = combine.make_rule("spread", p)
        direct = sums_on_driver(sc.getConf(), vocab, dim, p)
        task = executor.TrainTask(kernel=kernel_params(vocab), seed=1, epoch=0, sync=0, syncs_per_epoch=1,
                                  alpha_start=0.025, alpha_end=0.025, sample=SAMPLE, ns_exponent=0.75,
                                  block_rows=block_rows, weighted=rule.weighted, tables_key="sync-cost")
        training._sync(sc, encoded, task, w_in, w_out, tables_bc, n_blocks, rule, direct)  # warm workers
        walls, cpus, stats = [], [], None
        for _ in range(repeats):
            started, cpu = time.perf_counter(), tree_cpu_since()
            stats = training._sync(sc, encoded, task, w_in, w_out, tables_bc, n_blocks, rule, direct)
            walls.append(time.perf_counter() - started)
            cpus.append(tree_cpu_since(cpu))
        rdd.unpersist()
        probe = train_zipf_shard(vocab, dim, shard_words, seed=0, w=(w_in.copy(), w_out.copy()))
        out.append({"vocab": vocab, "dim": dim, "shards": p, "shard_words": shard_words, "direct": direct,
                    "wall": min(walls), "cpu": min(cpus), "task_seconds": stats.task_seconds / p,
                    "combine_seconds": stats.combine_seconds, "rows_in": probe["rows_in"],
                    "rows_out": probe["rows_out"], "train_seconds": probe["seconds"]})
        print(f"  _sync V={vocab:,} d={dim} P={p} ({'driver' if direct else 'executors'} sums): "
              f"{min(walls):.3f} s, {min(cpus):.3f} CPU s, mean task {stats.task_seconds / p:.3f} s", flush=True)
    tables_bc.destroy()
    return out


# -- the model -------------------------------------------------------------------------------------

def per_byte(points: list[dict], key: str = "bytes") -> tuple[float, float]:
    """Least-squares (fixed, per byte) of seconds against bytes."""
    x = np.array([p[key] for p in points], float)
    y = np.array([p["seconds"] for p in points], float)
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _pass_through(_index, rows):
    yield from rows


def chained_stages(sc, shards: list[int], repeats: int, stages: int = 32) -> dict:
    """Seconds per extra chained shuffle stage of P Python tasks, by the wall clock: a job of
    ``stages`` + 1 stages against a job of one, the fastest of ``repeats`` each."""
    from sparkw2v.stratified import _own_block   # the partitioner of the library's sub-epoch stages

    def job(p: int, n: int) -> float:
        rdd = sc.parallelize([(i, i) for i in range(p)], p).partitionBy(p, _own_block)
        for _ in range(n):
            rdd = rdd.mapPartitionsWithIndex(_pass_through).partitionBy(p, _own_block)
        started = time.perf_counter()
        rdd.count()
        return time.perf_counter() - started
    out = {}
    job(2, 1)   # first use: Python workers start
    for p in shards:
        one = min(job(p, 1) for _ in range(repeats))
        many = min(job(p, stages + 1) for _ in range(repeats))
        out[p] = (many - one) / stages
        print(f"  chained shuffle stage of {p} tasks: {out[p]:.3f} s", flush=True)
    return out


def _block_of_bytes(index, _rows, size: int):
    yield index, _random_bytes(index, size)


def _hand_on(index, records, tasks: int):
    """A sub-epoch's shape without its training: every block a task holds goes to the next task."""
    for key, value in records:
        if key == index and isinstance(value, bytes):
            yield (index + 1) % tasks, value


def _per_step(job, steps: int, repeats: int) -> tuple[float, float]:
    """``job(n)``'s seconds with one step, and per step beyond it (``steps`` + 1 against 1), the
    fastest of ``repeats`` each after a warm-up."""
    job(1)
    one = min(job(1) for _ in range(repeats))
    return one, (min(job(steps + 1) for _ in range(repeats)) - one) / steps


def moving_stages(sc, shards: list[int], sizes: list[int], repeats: int, cores: int, stages: int = 8) -> list[dict]:
    """Seconds per chained stage whose P tasks each hand a block of B bytes to another task, shaped
    as stratified training's sub-epochs (the blocks' shuffled RDD united with a cached one of the
    same partitioner, a Python pass, a shuffle): a job of ``stages`` + 1 stages against a job of
    one, the fastest of ``repeats`` each. Unlike empty tasks (the ``spark`` and ``stages`` parts),
    these carry megabytes, as sub-epochs and group stages do: over TCP an empty task also waits
    on delayed acknowledgements that a task moving megabytes does not."""
    from pyspark import StorageLevel
    from sparkw2v.stratified import _own_block
    out = []
    for p in shards:
        pairs = sc.parallelize([(i, i) for i in range(p)], p).partitionBy(p, _own_block).persist(
            StorageLevel.MEMORY_AND_DISK)
        pairs.count()
        for size in sizes:
            def job(n: int) -> float:
                state = (sc.parallelize(range(p), p).mapPartitionsWithIndex(partial(_block_of_bytes, size=size))
                         .partitionBy(p, _own_block))
                for _ in range(n):
                    state = (pairs.union(state).mapPartitionsWithIndex(partial(_hand_on, tasks=p))
                             .partitionBy(p, _own_block))
                started = time.perf_counter()
                state.count()
                return time.perf_counter() - started
            one, step = _per_step(job, stages, repeats)
            point = {"tasks": p, "bytes": size, "waves": -(-p // cores), "seconds": step}
            out.append(point)
            print(f"  chained stage of {p} tasks each moving {size / 2**20:g} MB: {point['seconds']:.3f} s", flush=True)
        pairs.unpersist()
    return out


def moving_rates(points: list[dict]) -> dict:
    """Least-squares fit of :func:`moving_stages`: seconds per stage = fixed + waves x (per task +
    bytes x per byte), a wave being as many tasks as there are slots."""
    a = np.array([[1.0, q["waves"], q["waves"] * q["bytes"]] for q in points])
    y = np.array([q["seconds"] for q in points])
    (fixed, task, byte), *_ = np.linalg.lstsq(a, y, rcond=None)
    predicted = a @ np.array([fixed, task, byte])
    return {"moving_stage_fixed": max(0.0, float(fixed)), "moving_task": max(0.0, float(task)),
            "moving_per_byte": max(0.0, float(byte)),
            "moving_max_rel_error": float(np.max(np.abs(predicted - y) / y))}


def _hand_around(index, rows, size: int, hands: int, where, token):
    """A barrier task: make a block of ``size`` random bytes, then ``hands`` times send the block
    held to the next task and take the previous one's (:class:`sparkw2v.exchange.Peers`)."""
    from sparkw2v.exchange import Peers
    for _ in rows:
        pass
    block = _random_bytes(index, size)
    with Peers(where, token) as peers:
        tasks = len(peers.addresses)
        for h in range(hands):
            peers.send((index + 1) % tasks, h, (0, 0), (block,))
            (message,) = peers.receive(h, 1)
            block = message.parts[0]
    yield len(block)


def _make_block(index, rows, size: int):
    for _ in rows:
        pass
    yield len(_random_bytes(index, size))


def direct_stages(sc, shards: list[int], sizes: list[int], repeats: int, hands: int = 8) -> list[dict]:
    """Seconds per direct hand-over: barrier stages of P tasks that each hand a block of B bytes
    around a ring ``hands`` + 1 times against stages that hand it once (the difference over
    ``hands``), and a stage that hands it once against a plain stage that makes the same block
    (the barrier stage's and the rendezvous' fixed cost), the fastest of ``repeats`` each."""
    import secrets

    from sparkw2v.exchange import TOKEN_BYTES, rendezvous
    meeting = rendezvous(sc)
    out = []
    for p in shards:
        for size in sizes:
            def job(n: int) -> float:
                token = secrets.token_bytes(TOKEN_BYTES)
                meeting.expect(token, p)
                rdd = sc.parallelize(range(p), p).barrier().mapPartitionsWithIndex(
                    partial(_hand_around, size=size, hands=n, where=meeting.address, token=token))
                started = time.perf_counter()
                rdd.collect()
                seconds = time.perf_counter() - started
                meeting.forget([token])
                return seconds

            def plain() -> float:
                rdd = sc.parallelize(range(p), p).mapPartitionsWithIndex(partial(_make_block, size=size))
                started = time.perf_counter()
                rdd.collect()
                return time.perf_counter() - started
            one, step = _per_step(job, hands, repeats)
            base = min(plain() for _ in range(repeats))
            point = {"tasks": p, "bytes": size, "seconds": step, "stage_extra": one - base}
            out.append(point)
            print(f"  {p} tasks handing {size / 2**20:g} MB blocks around directly: {point['seconds']:.3f} s a "
                  f"hand-over; a barrier stage with one hand-over {point['stage_extra']:.3f} s more than a plain one",
                  flush=True)
    return out


def direct_rates(points: list[dict]) -> dict:
    """Least-squares fit of :func:`direct_stages`: seconds per hand-over = fixed + bytes x per byte
    (every task sends and receives a block at once), and the barrier stage's extra fixed cost
    beyond its hand-over (the median over points)."""
    a = np.array([[1.0, q["bytes"]] for q in points])
    y = np.array([q["seconds"] for q in points])
    (fixed, byte), *_ = np.linalg.lstsq(a, y, rcond=None)
    extra = [q["stage_extra"] - (fixed + byte * q["bytes"]) for q in points]
    return {"direct_hand_fixed": max(0.0, float(fixed)), "direct_per_byte": max(0.0, float(byte)),
            "direct_stage_extra": max(0.0, float(np.median(extra)))}


def _model_blocks(index, _rows, rows: int, dim: int):
    """Task ``index``'s blocks between epochs, as :mod:`sparkw2v.stratified` holds them: its input
    block and its output block, ``rows`` float32 rows of ``dim`` each."""
    from sparkw2v.combine import SyncStats
    from sparkw2v.stratified import INPUT, OUTPUT
    values = np.random.default_rng(index).random((rows, dim), dtype=np.float32)
    yield index, (INPUT, index, values.tobytes(), SyncStats())
    yield index, (OUTPUT, index, values.tobytes(), SyncStats(), 0)


def blocks_io(spark, sizes: list[tuple[int, int]], tasks: int, repeats: int, tmpdir: str) -> list[dict]:
    """Seconds to write the blocks of a ``vocab x dim`` model from ``tasks`` tasks as a checkpoint's
    blocks table (``stratified.write_blocks``) and to read them back to their tasks
    (``stratified.read_blocks``, counted), by the wall clock, the fastest of ``repeats``."""
    from pyspark import StorageLevel
    from sparkw2v import stratified
    sc = spark.sparkContext
    out = []
    for vocab, dim in sizes:
        rows = -(-vocab // tasks)
        held = (sc.parallelize(range(tasks), tasks)
                .mapPartitionsWithIndex(functools.partial(_model_blocks, rows=rows, dim=dim))
                .persist(StorageLevel.MEMORY_AND_DISK))
        held.count()
        writes, reads = [], []
        for i in range(repeats):
            path = f"{tmpdir}/blocks-{vocab}-{dim}-{i}"
            started = time.perf_counter()
            stratified.write_blocks(spark, held, path)
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            stratified.read_blocks(spark, path, tasks).count()
            reads.append(time.perf_counter() - started)
        held.unpersist()
        point = {"vocab": vocab, "dim": dim, "tasks": tasks, "bytes": 2 * 4 * rows * tasks * dim,
                 "write": min(writes), "read": min(reads)}
        out.append(point)
        print(f"  blocks of {vocab:,} x {dim} x 2 from {tasks} tasks: write {point['write']:.2f} s, "
              f"read back {point['read']:.2f} s", flush=True)
    return out


def stage_fixed(per_stage: dict) -> float:
    """The part of a chained stage's cost that does not grow with its tasks: the intercept of a
    line through seconds per stage against tasks per stage."""
    ps = sorted(int(p) for p in per_stage)
    _, intercept = np.polyfit(ps, [per_stage[p] if p in per_stage else per_stage[str(p)] for p in ps], 1)
    return max(0.0, float(intercept))


def spark_rates(spark: dict, spark1: dict | None = None, clock: str = "cpu") -> dict:
    """Launch cost per job and per task, and per-byte rates, from the ``spark`` part's measures.

    ``clock`` picks the wall-clock or CPU-seconds figure of each. With P tasks on c slots an empty
    job takes ``f + P * (driver + executor / c)``: given a run at one slot (``spark1``) the two
    shares are separated; without one, all of it counts as the driver's (an upper bound)."""
    pick = 0 if clock == "wall" else 1

    def value(m):
        return m[pick] if isinstance(m, (list, tuple)) else m
    ps = sorted(int(p) for p in spark["launch"])
    launch = {int(k): value(v) for k, v in spark["launch"].items()}
    s2, f2 = np.polyfit(ps, [launch[p] for p in ps], 1)
    if spark1:
        one = {int(k): value(v) for k, v in spark1["launch"].items()}
        s1, _ = np.polyfit(ps, [one[p] for p in ps], 1)
        executor_task = max(0.0, 2 * (s1 - s2))
        driver_task = max(0.0, s1 - executor_task)
    else:
        executor_task, driver_task = 0.0, max(0.0, float(s2))
    key = "seconds" if clock == "wall" else "cpu"

    def rate(points, x="bytes", scale=1.0):
        return per_byte([{"bytes": p[x], "seconds": p[key] * scale} for p in points])
    _, c_byte = rate(spark["collect"])
    _, s_byte = rate(spark["shuffle"])
    # Their tasks make the bytes they move (random since 2026-12-05, zeros before): 4 tasks, two
    # at a time, so making T bytes adds T / 2 x the rate by the wall clock, T x by CPU seconds.
    made = spark.get("generate_per_byte", 0.0) * (0.5 if clock == "wall" else 1.0)
    c_byte, s_byte = c_byte - made, s_byte - made
    bc = spark["broadcast"]
    b_fixed, b_byte = rate(bc) if len(bc) > 1 else (0.0, 0.0)
    # two shards read by two tasks at once: wall per task; CPU for both
    _, r_word = rate(spark["shard_read"], "words", 1.0 if clock == "wall" else 0.5)
    return {"clock": clock, "job_fixed": max(0.0, float(f2)), "driver_per_task": float(driver_task),
            "executor_per_task": float(executor_task), "collect_per_byte": c_byte,
            # shuffle: 4 tasks write T/4 bytes each and 4 reducers read T/4 each, two at a time; by the
            # wall clock the slope is (write + read per byte) / 2, by CPU seconds write + read
            "shuffle_per_byte": s_byte if clock == "wall" else s_byte / 2,
            "broadcast_create_per_byte": b_byte, "broadcast_create_fixed": b_fixed,
            "shard_read_per_word": r_word}


RATE_KEYS = ("job_fixed", "driver_per_task", "executor_per_task", "collect_per_byte", "shuffle_per_byte",
             "broadcast_create_per_byte", "shard_read_per_word")


def sync_terms(row: dict, rates: dict, direct: bool, network: float) -> dict:
    """Driver-serial and per-task seconds of one sync at one component row, with Spark's terms added."""
    p = row["shards"]
    task = row["bc_load"] + row["copy"] + row["subtract"] + row["pack"] + row["serialize"] \
        + rates["executor_per_task"] + row["model_bytes"] / network
    driver = rates["job_fixed"] + rates["driver_per_task"] * p \
        + rates["broadcast_create_per_byte"] * row["model_bytes"] + row["model_bytes"] / network
    reduce_ = 0.0
    if direct:
        driver += rates["collect_per_byte"] * p * row["task_bytes"] + row["deserialize_all"] + row["sum_direct"] \
            + row["apply"]
    else:
        reducers = max(1, min(row["blocks"], p))
        task += (rates["shuffle_per_byte"] + 1 / network) * row["task_bytes"]
        # the reduce stage: a second job of ``reducers`` tasks, each with its share of the blocks
        reduce_ = rates["executor_per_task"] + (row["sum_sorted_all"] + row["combined_serialize"]) / reducers \
            + (rates["shuffle_per_byte"] + 1 / network) * row["task_bytes"] * p / reducers
        driver += rates["job_fixed"] + rates["driver_per_task"] * reducers \
            + (rates["collect_per_byte"] + 1 / network) * row["combined_bytes"] + row["combined_deserialize"] \
            + row["apply"]
    return {"driver": driver, "task": task, "reduce": reduce_}


FEATURES = ("fixed", "per shard", "per shipped row-value", "per model byte")


def features(shards: int, rows: float, dim: int, vocab: int, which: str) -> list[float]:
    """The model's terms for one sync: ``rows`` touched per task (input + output), ``which`` of
    ``task`` (each task, parallel), ``driver/direct``, ``driver/executors`` (serial) or
    ``reduce`` (each reducer of the executor-side sum, parallel; its terms are per reducer)."""
    values, model = rows * dim, 8 * vocab * dim
    if which == "task":
        return [1.0, 0.0, values, model]
    if which == "driver/direct":
        return [1.0, shards, shards * values, model]
    reducers = max(1, min(-(-vocab // max(1, BLOCK_BYTES // (2 * dim * 4 + 8))), shards))
    if which == "driver/executors":
        return [1.0, shards + reducers, 0.0, model]
    return [1.0, 0.0, shards * values / reducers, model / reducers]


PARTS = {"direct": ("task", "driver/direct"), "executors": ("task", "driver/executors", "reduce")}


def fit(rows: list[dict], rates: dict, network: float) -> dict:
    """Least squares of the measured terms against :func:`features`, relative (every configuration
    weighs the same whatever its size), per path and part."""
    fits = {}
    for path, whiches in PARTS.items():
        terms = [sync_terms(r, rates, path == "direct", network) for r in rows]
        for which in whiches:
            x = np.array([features(r["shards"], r["rows_in"] + r["rows_out"], r["dim"], r["vocab"], which)
                          for r in rows])
            y = np.array([t[which.split("/")[0]] for t in terms])
            used = [i for i in range(x.shape[1]) if np.ptp(x[:, i]) > 0 or i == 0]
            coef = np.zeros(x.shape[1])
            weight = 1 / np.maximum(y, 1e-3)
            coef[used] = np.linalg.lstsq(x[:, used] * weight[:, None], y * weight, rcond=None)[0]
            pred = x @ coef
            r2 = 1 - np.sum((y - pred) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)
            rel = np.abs(pred - y) / np.maximum(y, 1e-3)
            fits[f"{path}: {which.split('/')[0]}"] = {
                "coef": dict(zip(FEATURES, coef.tolist())), "r2": float(r2), "median_rel_error": float(np.median(rel)),
                "max_rel_error": float(rel.max()), "points": len(y)}
    return fits


def predict(fits: dict, path: str, which: str, shards: int, rows: float, dim: int, vocab: int) -> float:
    coef = fits[f"{path}: {which}"]["coef"]
    x = features(shards, rows, dim, vocab, which if which != "driver" else f"driver/{path}")
    return max(0.0, sum(coef[name] * value for name, value in zip(FEATURES, x)))


def policies(shards: int, shard_words: float) -> dict:
    spread = combine.make_rule("spread", shards)
    return {"default (spread)": spread.default_syncs(shard_words), "1 per epoch": 1, "P per epoch": shards}


def project(fits: dict, speeds: dict, corpus: float, vocab: int, dims: list[int], cores: list[int],
            conf: dict, shard_read: float) -> list[dict]:
    """Epoch seconds and efficiency (ideal / projected) on C cores, one shard per core."""
    out = []
    for dim in dims:
        speed = speeds[dim]
        for c in cores:
            ideal = corpus / (c * speed)
            for policy, syncs in policies(c, corpus / c).items():
                words = corpus / (c * syncs)
                r_in, r_out = rows_touched(vocab, words)
                rows = (r_in + r_out)
                direct = sums_on_driver(conf, vocab, dim, c)
                path = "direct" if direct else "executors"
                driver = predict(fits, path, "driver", c, rows, dim, vocab)
                task = predict(fits, path, "task", c, rows, dim, vocab)
                reduce_ = 0.0 if direct else predict(fits, path, "reduce", c, rows, dim, vocab)
                read = shard_read * corpus / c
                train = words / speed
                epoch = syncs * (driver + task + reduce_ + read + train)
                terms = {"driver": syncs * driver, "task": syncs * task, "reduce": syncs * reduce_,
                         "shard read": syncs * read}
                out.append({"dim": dim, "cores": c, "policy": policy, "syncs": syncs, "sync_words": words,
                            "rows_in": r_in, "rows_out": r_out, "path": path, "ideal": ideal, "epoch": epoch,
                            "efficiency": ideal / epoch, **{f"{k} s": v for k, v in terms.items()},
                            "largest": max(terms, key=terms.get)})
    return out


# -- stratified skip-gram ---------------------------------------------------------------------------

#: Skip-gram pairs per corpus word at the defaults (window 5, sample 1e-3): 3.67 on Brown
#: (3,508,413 pairs from 955,285 words in one epoch of `sparkw2v train`).
PAIRS_PER_WORD = 3.67
#: The pair kernel's words/s as a share of the window kernel's, by pairs per step: Brown, side
#: by side in one process, the mean of two runs of ``bench/pair_kernel.py --repeats 3`` on the
#: Intel machine (bench/HISTORY.md, "Stratified skip-gram: earlier speed runs"). ``--pair-share``
#: gives another machine's.
PAIR_KERNEL_SHARE = {256: 0.40, 128: 0.38, 64: 0.33, 32: 0.25}
#: A task's seconds per byte to load a broadcast model (0.44 s for 1M x 100, components).
BROADCAST_LOAD_PER_BYTE = 0.55e-9
#: A task's seconds per byte to cache shuffled pair records and read them back once (Python RDD,
#: MEMORY_AND_DISK): ``bench/pair_pieces.py``, "one shuffle" less "shuffle only", per byte per core.
CACHE_WRITE_PER_BYTE = 1.7e-9


#: Epochs of the projected run: the model is broadcast before the first and collected after the
#: last; every epoch between ends in a checkpoint written by the tasks and read back by them.
PROJECTED_EPOCHS = 5


def project_stratified(rates: dict, speeds: dict, corpus: float, vocab: int, dims: list[int], cores: list[int],
                       network: float, epochs: int = PROJECTED_EPOCHS,
                       shares: dict[int, float] | None = None) -> list[dict]:
    """Epoch seconds of ``stratified.train_epoch`` on C cores (K = C blocks), term by term, the
    mean over a run of ``epochs`` epochs with a checkpoint after each but the last (what the
    default ``checkpoint_interval`` gives a run this size).

    Per run: one broadcast of the model (created on the driver, fetched and loaded by each
    task) and collecting it at the end. Per checkpoint: the tasks write their blocks to it
    (over the network to shared storage) in a job of their own after a job that collects the
    epoch's stats, and the next epoch's tasks read them back (a stage that hands each record
    to its task). Per epoch: the shuffle that cuts every task's pairs into (round, group of
    sub-epochs, input block) pieces. Per group (R x G of them): a stage that
    reads its K pieces only (the others pruned) and shuffles piece p to task p, over the
    network, where it is cached. ``shuffle_per_byte`` is one side of a shuffle (writing or
    reading a byte): moving a byte costs it twice. Per sub-epoch (R x K of them): a stage of K tasks, each reading its group's pairs
    from the cache and moving its two blocks through a shuffle (the output block over the
    network), and a job per
    ``JOB_SUB_EPOCHS`` sub-epochs. Spark's terms are ``rates`` (launch, shuffle, collect,
    broadcast, reading a cache), measured on this machine; the network is assumed."""
    from sparkw2v import stratified

    out = []
    read = rates["shard_read_per_word"] / 4  # per byte of int32s read from a cached partition
    for dim in dims:
        model = 8.0 * vocab * dim
        for k in cores:
            g = stratified.output_blocks(k)   # sub-epochs per round; k // g tasks share an output block
            rounds = stratified.rounds_per_epoch(k, int(corpus), per_round=g)
            subs = rounds * g
            share = (shares or PAIR_KERNEL_SHARE)[stratified.step_pairs(k)]
            pairs_task = 8.0 * PAIRS_PER_WORD * corpus / k
            # A stage chained inside a job (sub-epochs, group stages); each job adds job_fixed. With
            # the ``moves`` part, a stage's and a task's fixed costs and a byte's are those of chained
            # stages whose tasks move megabytes, as these do; else those of empty tasks and shuffles.
            moving = "moving_per_byte" in rates
            stage = (rates["moving_stage_fixed"] + rates["moving_task"] if moving else
                     rates.get("stage_fixed", rates["job_fixed"]) + rates["executor_per_task"]) \
                + k * rates["driver_per_task"]
            direct = "direct_per_byte" in rates
            per_moved = rates["moving_per_byte"] if moving else 2 * rates["shuffle_per_byte"]
            round_bytes = pairs_task / rounds
            per_group = stratified.sub_epochs_per_group(g, round_bytes)
            groups = -(-g // per_group) if per_group < g else 0
            read_share = per_group / g  # of the round's pairs, what a sub-epoch reads
            # A task moves its input block, and its output block (or, shared, its part of the
            # rows and its change to the rest) to each task training against it next: 1 or
            # k // g of them. Each of k // g sharers ships 1 / (k // g) of the rows as float32
            # and the rest as a float16 change with a float32 scale per row
            # (stratified.shipped_output, combine.pack_change: (4 + 2d) / 4d of the bytes).
            sharers = k // g
            packed = (1 + (sharers - 1) * (4 + 2 * dim) / (4 * dim)) / sharers
            moved_out = sharers * model / 2 / g * packed
            moved = model / 2 / k + moved_out
            pieces = rounds * max(groups, 1)
            # Directly: a stage per group (pieces), whose last hand-over goes through the shuffle; the
            # others move the output blocks task to task, and each group's pairs are read once.
            stages = pieces if direct else subs
            direct_hands = subs - pieces if direct else 0
            once = model * (rates["broadcast_create_per_byte"] + BROADCAST_LOAD_PER_BYTE + 1 / network
                            + rates["collect_per_byte"])
            checkpoint = (moved * (rates["blocks_write_per_byte"] + rates["blocks_read_per_byte"] + 2 / network)
                          + 2 * rates["job_fixed"] + 3 * stage)
            terms = {
                "train": corpus / k / (speeds[dim] * share),
                "epoch": ((once + (epochs - 1) * checkpoint) / epochs
                          + pairs_task * (rates["shuffle_per_byte"] + 1 / network)),
                # Each piece is read from the cutting shuffle, shuffled again to its task (written and
                # read: shuffle_per_byte is one side) and cached there.
                "rounds": pieces * stage + pairs_task * (3 * rates["shuffle_per_byte"] + CACHE_WRITE_PER_BYTE
                                                         + 1 / network),
                "launch": stages * (stage + (rates["direct_stage_extra"] if direct else 0.0))
                + direct_hands * rates.get("direct_hand_fixed", 0.0)
                + -(-subs // stratified.JOB_SUB_EPOCHS) * rates["job_fixed"],
                "pairs read": (pieces * round_bytes * read_share if direct else subs * round_bytes * read_share) * read,
                "blocks": stages * moved * (per_moved + 1 / network)
                + direct_hands * moved_out * (rates.get("direct_per_byte", 0.0) + 1 / network),
            }
            epoch = sum(terms.values())
            overhead = {name: value for name, value in terms.items() if name != "train"}
            out.append({"dim": dim, "cores": k, "rounds": rounds, "sub_epochs": subs, "groups": groups,
                        "pair_kernel_share": share, "epoch": epoch,
                        "ideal_pair": terms["train"], "ideal_window": corpus / (k * speeds[dim]),
                        "efficiency_pair": terms["train"] / epoch, "efficiency_window": corpus / (k * speeds[dim]) / epoch,
                        **{f"{name} s": value for name, value in terms.items()},
                        "largest": max(overhead, key=overhead.get)})
    return out


def report_stratified(rows: list[dict]) -> str:
    lines = ["| d | cores | sub-epochs | groups/round | epoch s | train s | model in and out, checkpoints, pairs shuffle s "
             "| round stages s "
             "| sub-epoch launches s | pairs read s | blocks moved s | efficiency (pair kernel) "
             "| vs window kernel | largest overhead |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['dim']} | {r['cores']} | {r['sub_epochs']} | {r.get('groups', 0)} | {r['epoch']:,.0f} | {r['train s']:,.0f} | "
                     f"{r['epoch s']:,.0f} | {r['rounds s']:,.0f} | {r['launch s']:,.0f} | {r['pairs read s']:,.0f} | "
                     f"{r['blocks s']:,.0f} | {r['efficiency_pair']:.0%} | {r['efficiency_window']:.0%} | "
                     f"{r['largest']} |")
    return "\n".join(lines)


# -- output ------------------------------------------------------------------------------------------

def report(results: dict) -> str:
    lines = []
    rates = results["rates"]
    lines.append(f"Spark terms (local, {rates['clock']} seconds): "
                 "job %.3f s + %.1f ms driver and %.1f ms executor per task; collect %.2f s/GB; "
                 "shuffle %.2f s/GB per task share; broadcast creation %.2f s/GB; reading a cached shard %.1f ns/word"
                 % (rates["job_fixed"], 1e3 * rates["driver_per_task"], 1e3 * rates["executor_per_task"],
                    rates["collect_per_byte"] * 1e9, rates["shuffle_per_byte"] * 1e9,
                    rates["broadcast_create_per_byte"] * 1e9, rates["shard_read_per_word"] * 1e9))
    if "direct_per_byte" in rates:
        lines.append("Direct hand-overs in barrier stages: %.1f ms per hand-over + %.2f ns per byte; %.1f ms more per "
                     "barrier stage" % (1e3 * rates["direct_hand_fixed"], 1e9 * rates["direct_per_byte"],
                                        1e3 * rates["direct_stage_extra"]))
    if "moving_per_byte" in rates:
        lines.append("Stages shaped as sub-epochs, tasks moving MB blocks: %.1f ms per stage + %.1f ms per task + "
                     "%.2f ns per byte moved (largest error of the fit %.0f%%)"
                     % (1e3 * rates["moving_stage_fixed"], 1e3 * rates["moving_task"], 1e9 * rates["moving_per_byte"],
                        100 * rates["moving_max_rel_error"]))
    lines.append("\n| V | d | rows in/out per task | P | per task s | driver s (driver sums) | driver s "
                 "(executor sums) + reduce stage s | task MB shipped |")
    lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results["components"]:
        if r["shards"] not in (2, 8, 32, 64):
            continue
        a = sync_terms(r, rates, True, results["network"])
        b = sync_terms(r, rates, False, results["network"])
        lines.append(f"| {r['vocab']:,} | {r['dim']} | {r['rows_in']:,} / {r['rows_out']:,} | {r['shards']} | "
                     f"{a['task']:.3f} | {a['driver']:.3f} | {b['driver']:.3f} + {b['reduce']:.3f} | "
                     f"{r['task_bytes'] / 1e6:.1f} |")
    lines.append("\n| fit | fixed s | per shard ms | per shipped row (d=100) µs | per model GB s | R² | "
                 "median / max rel. error |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, f in results["fits"].items():
        c = f["coef"]
        lines.append(f"| {name} | {c['fixed']:.3f} | {1e3 * c['per shard']:.2f} | "
                     f"{1e6 * 100 * c['per shipped row-value']:.3f} | {1e9 * c['per model byte']:.2f} | "
                     f"{f['r2']:.3f} | {f['median_rel_error']:.0%} / {f['max_rel_error']:.0%} |")
    if results.get("syncs"):
        lines.append("\n| whole _sync (local[2]) | P | sums on | rows in/out per task | wall s | predicted s "
                     "| CPU s (all processes) | predicted CPU s |")
        lines.append("|---|---:|---|---:|---:|---:|---:|---:|")
        for s in results["syncs"]:
            lines.append(f"| {s['vocab']:,} x {s['dim']} | {s['shards']} | {'driver' if s['direct'] else 'executors'}"
                         f" | {s['rows_in']:,} / {s['rows_out']:,} | {s['wall']:.2f}"
                         f" | {s.get('predicted', float('nan')):.2f}"
                         f" | {s.get('cpu', float('nan')):.2f} | {s.get('predicted_cpu', float('nan')):.2f} |")
    lines.append("\n| d | cores | policy | syncs/epoch | words/shard/sync | path | ideal s | epoch s | efficiency "
                 "| driver s | tasks s | reduce s | shard read s | largest |")
    lines.append("|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for p in results["projection"]:
        lines.append(f"| {p['dim']} | {p['cores']} | {p['policy']} | {p['syncs']} | {p['sync_words']:,.0f} | "
                     f"{p['path']} | {p['ideal']:.0f} | {p['epoch']:.0f} | {p['efficiency']:.0%} | "
                     f"{p['driver s']:.0f} | {p['task s']:.0f} | {p['reduce s']:.0f} | {p['shard read s']:.0f} | "
                     f"{p['largest']} |")
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    ax = axes[0]
    shown = {}
    for r in results["components"]:
        if r["level"] != "all":
            continue
        a = sync_terms(r, results["rates"], True, results["network"])
        b = sync_terms(r, results["rates"], False, results["network"])
        key = f"{r['vocab'] // 1000}K x {r['dim']}"
        shown.setdefault(key, []).append((r["shards"], a["driver"], b["driver"] + b["reduce"], a["task"]))
    for key, pts in shown.items():
        pts.sort()
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{key} driver sums")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], marker="s", linestyle="--", color=line.get_color())
        ax.plot([p[0] for p in pts], [p[3] for p in pts], linestyle=":", color=line.get_color())
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("shards at once P")
    ax.set_ylabel("seconds per sync")
    ax.set_title("every row touched: driver (solid: driver sums,\ndashed: executor sums + reduce), per task (dotted)",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    for dim in sorted({p["dim"] for p in results["projection"]}):
        for policy, style in (("default (spread)", "-"), ("1 per epoch", "--"), ("P per epoch", ":")):
            pts = [p for p in results["projection"] if p["dim"] == dim and p["policy"] == policy]
            ax.plot([p["cores"] for p in pts], [p["efficiency"] for p in pts], marker="o", linestyle=style,
                    label=f"d={dim}, averaging, {policy.replace('default (spread)', 'spread')}")
    shuffled = results.get("stratified_projection_shuffle")
    how = ", direct" if shuffled else ""
    for dim in sorted({p["dim"] for p in results.get("stratified_projection", [])}):
        pts = [p for p in results["stratified_projection"] if p["dim"] == dim]
        line, = ax.plot([p["cores"] for p in pts], [p["efficiency_pair"] for p in pts], marker="D", linewidth=2,
                        label=f"d={dim}, stratified{how} (default from 3)")
        ax.plot([p["cores"] for p in pts], [p["efficiency_window"] for p in pts], marker="d", linestyle="-.",
                color=line.get_color(), label=f"d={dim}, stratified{how} vs the window kernel")
        if shuffled:
            pts = [p for p in shuffled if p["dim"] == dim]
            ax.plot([p["cores"] for p in pts], [p["efficiency_pair"] for p in pts], marker="D", linestyle=":",
                    color=line.get_color(), label=f"d={dim}, stratified, a shuffle per sub-epoch")
    ax.axhline(0.8, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("executor cores (= shards at once)")
    ax.set_ylabel("projected efficiency")
    ax.set_title(f"{results['corpus_words']:.0e} words, {results['project_vocab']:,}-word vocabulary", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    fig.suptitle(f"Cost of a sync, measured {results['date']} ({results['machine']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def memory_available() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="kernel,components,spark,stages,sync,project",
                        help="comma list of kernel, components, spark, stages, moves, direct, blocks, sync, project")
    parser.add_argument("--move-mb", default="1,4,16,32", help="megabytes each task moves in the moves and direct parts")
    parser.add_argument("--shuffle-only", action="store_true",
                        help="project stratified training with a shuffle per sub-epoch even when the JSON has "
                             "the direct part (block_exchange = 'shuffle')")
    parser.add_argument("--vocab", default="14000,100000,1000000")
    parser.add_argument("--dims", default="100,300")
    parser.add_argument("--shards", default="2,4,8,16,32,64")
    parser.add_argument("--levels", default="4096,262144,all",
                        help="rows touched per task: those of a shard training W words per sync (comma list of W), "
                             "or 'all' (every row)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="local[N] for the spark part")
    parser.add_argument("--max-gib", type=float, default=10.0,
                        help="skip a model whose components need more than this (or more than is available)")
    parser.add_argument("--sync-vocab", default="14000,100000,1000000", help="models of the whole-sync check (d=100)")
    parser.add_argument("--sync-shards", default="2,8,32")
    parser.add_argument("--sync-words", type=int, default=4000, help="words per shard in the whole-sync check")
    parser.add_argument("--corpus-words", type=float, default=1e9)
    parser.add_argument("--project-vocab", type=int, default=1_000_000)
    parser.add_argument("--project-cores", default="8,32,128")
    parser.add_argument("--collect-mb", default="32,256,1024", help="bytes moved by the collect and shuffle measures")
    parser.add_argument("--split-launch", action="store_true",
                        help="also time empty jobs on local[1] (a subprocess) to split launching between the driver "
                             "and the executors; without it all of it counts as the driver's")
    parser.add_argument("--spark-clock", choices=("cpu", "wall"), default="cpu",
                        help="fit Spark's terms to CPU seconds of all processes (robust to other users' load) or "
                             "to the wall clock")
    parser.add_argument("--rates", nargs="*", default=[], metavar="KEY=VALUE",
                        help="set Spark's terms (seconds, per task, per byte, per word) instead of, or over, the "
                             "spark part's measures: " + ", ".join(RATE_KEYS))
    parser.add_argument("--kernel-speed", type=float,
                        help="words/s per core for the projection (default: measured on a Zipf shard of the "
                             "projected vocabulary by the kernel part)")
    parser.add_argument("--share-from", type=int,
                        help="project stratified with output blocks shared from this many cores (default: the library's)")
    parser.add_argument("--pair-share", metavar="STEP=SHARE,...",
                        help="the pair kernel's words/s as a share of the window kernel's by pairs per step, as "
                             "bench/pair_kernel.py prints them for this machine (default: the Intel machine's "
                             + ", ".join(f"{k}={v}" for k, v in PAIR_KERNEL_SHARE.items()) + ")")
    parser.add_argument("--network-gbps", type=float, default=10.0,
                        help="assumed network bandwidth per machine for the projection (not measured here)")
    parser.add_argument("--driver-memory", default="16g", help="the projected cluster's spark.driver.memory")
    parser.add_argument("--max-result-size", default="4g", help="its spark.driver.maxResultSize")
    parser.add_argument("--json", help="write every measurement, the fit and the projection here")
    parser.add_argument("--plot", help="write a PNG plot here (needs matplotlib)")
    parser.add_argument("--from-json", help="fit, project, tabulate and plot an earlier --json; measure nothing")
    parser.add_argument("--check-rows", action="store_true", help="compare expected rows touched with the kernel's")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    vocabs = [int(v) for v in args.vocab.split(",")]
    dims = [int(d) for d in args.dims.split(",")]
    shards = [int(p) for p in args.shards.split(",")]
    results: dict = json.loads(Path(args.from_json).read_text()) if args.from_json else {
        "machine": f"{os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GIB:.0f} GiB",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv[1:]}
    if args.check_rows:
        for vocab in vocabs:
            for words in (4000, 65536, 1 << 20):
                m = train_zipf_shard(vocab, 100, words)
                print(f"V={vocab:,} W={words:,}: expected rows {rows_touched(vocab, words)}, kernel "
                      f"{m['rows_in']:,} / {m['rows_out']:,}, {m['words_per_second']:,.0f} words/s", flush=True)
        return 0
    if not args.from_json:
        if "kernel" in parts:
            print("kernel speed (one core)", flush=True)
            speeds = [brown_kernel_speed()]
            for dim in dims:
                speeds.append(train_zipf_shard(args.project_vocab, dim, 1 << 20, seed=1))
            for s in speeds:
                print(f"  {s.get('corpus', 'zipf')} V={s['vocab']:,} d={s['dim']}: "
                      f"{s['words_per_second']:,.0f} words/s "
                      f"(rows {s.get('rows_in', '-')} / {s.get('rows_out', '-')})", flush=True)
            results["kernel"] = speeds
        if "components" in parts:
            print("components (one process)", flush=True)
            results["components"] = []
            results["skipped"] = []
            with tempfile.TemporaryDirectory() as tmp:
                for vocab in vocabs:
                    for dim in dims:
                        need = 8 * vocab * dim * 7.5  # model, loaded copy, working copy, records, sums
                        if need > min(args.max_gib * GIB, memory_available() - 4 * GIB):
                            results["skipped"].append({"vocab": vocab, "dim": dim, "need_gib": need / GIB})
                            print(f"  skipped {vocab:,} x {dim}: needs ~{need / GIB:.1f} GiB", flush=True)
                            continue
                        levels = []
                        for level in args.levels.split(","):
                            if level == "all":
                                levels.append(("all", vocab, vocab))
                            else:
                                words = int(level)
                                levels.append((f"W={words // 1024}K" if words >= 1024 else f"W={words}",
                                               *rows_touched(vocab, words)))
                        results["components"] += components(vocab, dim, levels, shards, args.repeats, tmp)
        if parts & {"spark", "stages", "moves", "direct", "blocks", "sync"}:
            from sparkw2v.session import get_session
            if "spark" in parts and args.cores == 2 and args.split_launch:
                print("spark: empty jobs on local[1] (subprocess)", flush=True)
                with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
                    subprocess.run([sys.executable, __file__, "--parts", "spark", "--cores", "1", "--shards",
                                    args.shards, "--json", tmp.name], check=True)
                    results["spark1"] = json.loads(Path(tmp.name).read_text())["spark"]
            spark = get_session("sparkw2v-bench-sync-cost", master=f"local[{args.cores}]",
                                conf={"spark.ui.enabled": "false", "spark.driver.memory": "8g",
                                      "spark.driver.maxResultSize": "0"})
            sc = spark.sparkContext
            if "spark" in parts:
                print(f"spark terms, local[{args.cores}]", flush=True)
                sizes = [(v, d) for v in vocabs for d in dims if 8 * v * d * 3 < min(args.max_gib * GIB, 6 * GIB)]
                results["spark"] = spark_terms(sc, shards, sizes, args.repeats, args.cores,
                                               [int(x) for x in args.collect_mb.split(",")],
                                               only_launch=args.cores == 1)
            if "stages" in parts:
                print(f"chained shuffle stages, local[{args.cores}]", flush=True)
                results["chained_stages"] = chained_stages(sc, [p for p in shards if p <= 8], args.repeats)
            if "moves" in parts:
                print(f"chained stages moving blocks, local[{args.cores}]", flush=True)
                results["moving_stages"] = moving_stages(sc, [p for p in shards if p <= 8],
                                                         [int(float(mb) * 2**20) for mb in args.move_mb.split(",")],
                                                         args.repeats, args.cores)
                results["moving_stages_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            if "direct" in parts:
                print(f"barrier stages handing blocks around directly, local[{args.cores}]", flush=True)
                results["direct_stages"] = direct_stages(sc, [p for p in shards if p <= args.cores],
                                                         [int(float(mb) * 2**20) for mb in args.move_mb.split(",")],
                                                         args.repeats)
                results["direct_stages_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            if "blocks" in parts:
                print(f"checkpoint blocks written and read back, local[{args.cores}]", flush=True)
                with tempfile.TemporaryDirectory() as tmp:
                    results["blocks_io"] = blocks_io(spark, [(v, d) for v in vocabs for d in dims], 4,
                                                     args.repeats, tmp)
                results["blocks_io_date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            if "sync" in parts:
                print("whole syncs through training._sync, local[%d]" % args.cores, flush=True)
                results["syncs"] = []
                for vocab in [int(v) for v in args.sync_vocab.split(",")]:
                    results["syncs"] += whole_syncs(sc, vocab, 100, [int(p) for p in args.sync_shards.split(",")],
                                                    args.sync_words, args.repeats)
            spark.stop()
    results.update(network=args.network_gbps * 1e9 / 8, corpus_words=args.corpus_words,
                   project_vocab=args.project_vocab)
    if args.json and args.cores == 1:
        Path(args.json).write_text(json.dumps(results, indent=1))
        return 0
    if "project" in parts or args.from_json:
        conf = {"spark.driver.memory": args.driver_memory, "spark.driver.maxResultSize": args.max_result_size}
        results["project_conf"] = conf
        rates = spark_rates(results["spark"], results.get("spark1"), args.spark_clock) if "spark" in results \
            else {"clock": "given"}
        if "chained_stages" in results:
            rates["stage_fixed"] = stage_fixed(results["chained_stages"])
        if "moving_stages" in results:
            rates.update(moving_rates(results["moving_stages"]))
        if "direct_stages" in results and not args.shuffle_only:
            rates.update(direct_rates(results["direct_stages"]))
        if "blocks_io" in results:   # 4 tasks two at a time: a task's seconds per byte is twice the slope
            for side in ("write", "read"):
                _, slope = per_byte([{"bytes": b["bytes"], "seconds": b[side]} for b in results["blocks_io"]])
                rates[f"blocks_{side}_per_byte"] = 2 * slope
        for item in args.rates:
            key, value = item.split("=")
            rates[key] = float(value)
        missing = [k for k in RATE_KEYS if k not in rates]
        if missing:
            parser.error(f"no Spark measures: give --rates {'=... '.join(missing)}=...")
        results["rates"] = rates
        results["fits"] = fit(results["components"], rates, results["network"])
        for s in results.get("syncs", []):
            # local[2]: the P tasks run two at a time, each Python worker loads the broadcast once, no network
            path = "direct" if s["direct"] else "executors"
            rows = s["rows_in"] + s["rows_out"]
            mb = 8 * s["vocab"] * s["dim"]
            fits = results["fits"]
            waves = -(-s["shards"] // 2)
            load = np.median([r["bc_load"] for r in results["components"]
                              if (r["vocab"], r["dim"]) == (s["vocab"], s["dim"])] or [0.0])
            task = predict(fits, path, "task", s["shards"], rows, s["dim"], s["vocab"]) - mb / results["network"]
            driver = predict(fits, path, "driver", s["shards"], rows, s["dim"], s["vocab"]) - mb / results["network"]
            s["predicted"] = driver + waves * (task - load + s["train_seconds"]) + load
            s["predicted_cpu"] = driver + s["shards"] * (task - load + s["train_seconds"]) + 2 * load
            if not s["direct"]:
                reducers = max(1, min(-(-s["vocab"] // (BLOCK_BYTES // (2 * s["dim"] * 4 + 8))), s["shards"]))
                reduce_ = predict(fits, path, "reduce", s["shards"], rows, s["dim"], s["vocab"])
                s["predicted"] += -(-reducers // 2) * reduce_
                s["predicted_cpu"] += reducers * reduce_
        speeds = {k["dim"]: args.kernel_speed or k["words_per_second"] for k in results["kernel"]
                  if k.get("corpus") != "brown"}
        results["projection_speeds"] = speeds
        results["projection"] = project(results["fits"], speeds, results["corpus_words"], results["project_vocab"],
                                        sorted(speeds), [int(c) for c in args.project_cores.split(",")], conf,
                                        rates["shard_read_per_word"])
        print(report(results))
        if args.share_from:
            from sparkw2v import stratified
            stratified.SHARE_OUTPUT_FROM = args.share_from
        if args.pair_share:
            results["pair_kernel_share"] = {int(k): float(v) for k, v in
                                            (item.split("=") for item in args.pair_share.split(","))}
        shares = {int(k): v for k, v in results.get("pair_kernel_share", PAIR_KERNEL_SHARE).items()}
        results["stratified_projection"] = project_stratified(
            rates, speeds, results["corpus_words"], results["project_vocab"], sorted(speeds),
            [int(c) for c in args.project_cores.split(",")], results["network"], shares=shares)
        direct = "direct_per_byte" in rates
        print("\nstratified skip-gram (rows kept on the executors), blocks handed on "
              + ("directly in barrier stages (block_exchange = 'direct'):" if direct else "by a shuffle per sub-epoch:"))
        print(report_stratified(results["stratified_projection"]))
        results.pop("stratified_projection_shuffle", None)
        if direct:   # and what a shuffle per sub-epoch would take (block_exchange = 'shuffle')
            results["stratified_projection_shuffle"] = project_stratified(
                {k: v for k, v in rates.items() if not k.startswith("direct_")}, speeds, results["corpus_words"],
                results["project_vocab"], sorted(speeds), [int(c) for c in args.project_cores.split(",")],
                results["network"], shares=shares)
            print("\nthe same with a shuffle per sub-epoch (block_exchange = 'shuffle'):")
            print(report_stratified(results["stratified_projection_shuffle"]))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot and "projection" in results:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
