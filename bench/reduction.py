"""Cost of one sync's reduction for a large model, each way of summing partitions' updates.

    python bench/reduction.py --vocab 1000000 --dim 100 --partitions 2

No training: every partition reads the broadcast model, copies it and ships it as row
blocks, as ``executor.train_partition`` does; each way then sums the blocks in partition
order and collects one combined copy (or, for ``collect``, every partition's copy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402

from sparkw2v import combine  # noqa: E402
from sparkw2v.session import get_session  # noqa: E402
from sparkw2v.training import BLOCK_BYTES  # noqa: E402


def blocks(index, _rows, model_bc, block_rows):
    """What a training task ships: (block, (partition, record)) per row block."""
    w_in, w_out = (m.copy() for m in model_bc.value)
    counts = np.ones(w_in.shape[0], np.float32)   # every row updated: the largest records
    for block, lo in enumerate(range(0, w_in.shape[0], block_rows)):
        rows = slice(lo, lo + block_rows)
        yield block, (index, combine.pack_block(counts[rows], counts[rows], w_in[rows], w_out[rows], True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--ways", default="groupbykey,sorted,collect")
    args = parser.parse_args(argv)

    spark = get_session("sparkw2v-bench-reduction", master=f"local[{args.cores}]",
                        conf={"spark.ui.enabled": "false", "spark.driver.memory": "12g",
                              "spark.driver.maxResultSize": "0"})
    sc = spark.sparkContext
    matrix = np.random.default_rng(0).standard_normal((args.vocab, args.dim), dtype=np.float32)
    block_rows = max(1, BLOCK_BYTES // (2 * args.dim * 4 + 8))
    reducers = max(1, min(-(-args.vocab // block_rows), args.partitions))
    shards = sc.parallelize(range(args.partitions), args.partitions).cache()
    shards.count()

    def timed(label, run):
        started = time.perf_counter()
        result = run()
        print(f"| {label} | {time.perf_counter() - started:.1f} |", flush=True)
        return result

    print(f"{args.vocab:,} words x {args.dim} dims, {args.partitions} partitions, local[{args.cores}]\n")
    print("| step | seconds |\n|---|---:|")
    model_bc = timed("broadcast both matrices", lambda: sc.broadcast((matrix, matrix)))
    shipped = shards.mapPartitionsWithIndex(
        lambda i, rows: blocks(i, rows, model_bc, block_rows))
    ways = {
        "groupbykey": ("groupByKey + sum + collect", lambda: shipped.groupByKey(numPartitions=reducers)
                       .mapValues(combine.sum_in_partition_order).collect()),
        "sorted": ("sort by (block, partition), stream the sum, collect",
                   lambda: shipped.map(combine.key_by_block_and_partition)
                   .repartitionAndSortWithinPartitions(reducers, partitionFunc=combine.block_of)
                   .mapPartitions(combine.sum_sorted_blocks).collect()),
        "collect": ("collect every partition's blocks, sum on the driver",
                    lambda: combine.sum_records_by_key(shipped.collect())),
    }
    for way in args.ways.split(","):
        label, run = ways[way]
        timed(label, run)
    model_bc.destroy()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
