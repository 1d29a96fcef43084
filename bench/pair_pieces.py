"""How the stratified epoch hands each round's pairs to their tasks: the previous way (every
task's pairs cached, and each round a stage that reads all of them to keep its own) against the
current one (one shuffle cuts them into round x input-block pieces, and each round's stage
reads its K pieces only, the others pruned). Synthetic pairs of the library's record shape.

    python bench/pair_pieces.py --blocks 4 --rounds 8 --mb-per-task 64

Prints each way's seconds for the epoch's pair handling alone (no training), best of
``--repeats``, and those of a single shuffle of all the pairs to their tasks (cached): the
slope over ``--mb-per-task`` is the per-byte cost of a pass that ``bench/sync_cost.py``'s
projection takes as its shuffle term.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparkw2v.stratified import PAIRS, _own_block, pruned  # noqa: E402


def make_pairs(index, _, blocks: int, rounds: int, pairs: int):
    """Task ``index``'s records, one per (input block, round), as route_pairs lays them out."""
    rng = np.random.default_rng(index)
    per = pairs // (blocks * rounds)
    for p in range(blocks):
        for r in range(rounds):
            x = rng.integers(0, 1 << 20, per, dtype=np.int32)
            offsets = np.linspace(0, per, blocks + 1).astype(np.int64)
            yield p, (PAIRS, index, r, x.tobytes(), x.tobytes(), offsets.tobytes(), (0, 0))


def _of_round(r, record):
    return record[1][2] == r


def _piece(record, blocks):
    p, value = record
    return value[2] * blocks + p, value


def _size(records):
    yield sum(len(v[3]) + len(v[4]) for _, v in records)


def _deliver(rounds: int, blocks: int, round_pairs, held: list) -> int:
    """Hand each round's pairs (``round_pairs(r)``) to their tasks and cache them, as the epoch
    does; then drop every cache in ``held`` and these. Returns the bytes that reached the tasks."""
    from pyspark import StorageLevel
    total = 0
    for r in range(rounds):
        pairs = round_pairs(r).partitionBy(blocks, _own_block).persist(StorageLevel.MEMORY_AND_DISK)
        total += sum(pairs.mapPartitions(_size).collect())
        held.append(pairs)
    for rdd in held:
        rdd.unpersist()
    return total


def previous(sc, source, blocks, rounds):
    from pyspark import StorageLevel
    routed = source.persist(StorageLevel.MEMORY_AND_DISK)
    return _deliver(rounds, blocks, lambda r: routed.filter(functools.partial(_of_round, r)), [routed])


def current(sc, source, blocks, rounds):
    layout = source.map(functools.partial(_piece, blocks=blocks)).partitionBy(rounds * blocks, _own_block)
    return _deliver(rounds, blocks, lambda r: pruned(sc, layout, range(r * blocks, (r + 1) * blocks)), [])


def one_shuffle(sc, source, blocks, rounds):
    """A single shuffle of all the pairs to their tasks, cached: what one pass costs per byte."""
    from pyspark import StorageLevel
    pairs = source.partitionBy(blocks, _own_block).persist(StorageLevel.MEMORY_AND_DISK)
    total = sum(pairs.mapPartitions(_size).collect())
    pairs.unpersist()
    return total


def generate_only(sc, source, blocks, rounds):
    """The pairs made and sized in their own tasks, no shuffle: the baseline to subtract."""
    return sum(source.mapPartitions(_size).collect())


def shuffle_only(sc, source, blocks, rounds):
    """The pairs shuffled to their tasks and sized there, not cached: with ``generate_only``
    subtracted, what the shuffle itself costs (pickling, the JVM's write and read, unpickling)."""
    return sum(source.partitionBy(blocks, _own_block).mapPartitions(_size).collect())


WAYS = {"previous": previous, "current": current, "one shuffle": one_shuffle,
        "generate only": generate_only, "shuffle only": shuffle_only}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--mb-per-task", type=float, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--ways", default="previous,current,one shuffle", help=f"comma-separated, of: {', '.join(WAYS)}")
    parser.add_argument("--conf", nargs="*", default=[], metavar="KEY=VALUE", help="extra Spark settings")
    args = parser.parse_args(argv)
    ways = [w.strip() for w in args.ways.split(",")]
    from sparkw2v.session import get_session
    spark = get_session("pair-pieces", master=args.master, conf={"spark.ui.enabled": "false",
                                                                 "spark.driver.memory": "4g",
                                                                 **dict(kv.split("=", 1) for kv in args.conf)})
    sc = spark.sparkContext
    pairs = int(args.mb_per_task * (1 << 20) / 8)
    source = sc.parallelize(range(args.blocks), args.blocks).mapPartitionsWithIndex(
        functools.partial(make_pairs, blocks=args.blocks, rounds=args.rounds, pairs=pairs))
    results = {}
    for rep in range(args.repeats):
        for name in ways:
            way = WAYS[name]
            started = time.perf_counter()
            moved = way(sc, source, args.blocks, args.rounds)
            seconds = time.perf_counter() - started
            results[name] = min(results.get(name, seconds), seconds)
            print(f"rep {rep} {name}: {seconds:.2f} s ({moved / 1e6:.0f} MB reached the tasks)", flush=True)
    best = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in results.items())
    print(f"{args.blocks} tasks x {args.mb_per_task:.0f} MB of pairs, {args.rounds} rounds, {args.master} "
          f"{' '.join(args.conf)}: {best} (best of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
