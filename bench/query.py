"""Latency of ``w2v_most_similar`` from SQL (sparkw2v.sql), on the Brown vectors and on a
synthetic 1M-word x 100-dim table, Spark local[2].

    python bench/query.py --brown /tmp/brown-sql --synthetic /tmp/w2v-synthetic-1m

``--brown`` is a trained model (``sparkw2v train --config conf/brown.toml --output /tmp/brown-sql``);
the synthetic model is written once (random vectors, write_model) if ``--synthetic`` does not
exist. For each table: register time (driver); the first call, which loads the table into a
Python worker; a LATERAL batch of queries over two partitions, run twice (the first run loads
the table into the second worker, the second is timed); ``--repeat`` warm calls with
different words (median, min, max); the floor (``k = 0``: a Spark round trip that returns
before touching the vectors); the same query in NumPy in this process (no Spark); and the
largest resident memory of a Python worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparkw2v import sql  # noqa: E402
from sparkw2v.session import get_session  # noqa: E402
from sparkw2v.publishing import write_model  # noqa: E402
from sparkw2v.vocabulary import Vocabulary  # noqa: E402

BROWN_WORDS = ["money", "government", "church", "war", "city", "children", "music", "king", "water",
               "school", "house", "time", "world", "man", "day", "life"]


def write_synthetic(spark, path: str, words: int, dim: int, seed: int = 0) -> None:
    """Random normal vectors; word ``w{i}`` has count ``words - i`` (so row i is vocabulary row i)."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary(tuple(f"w{i}" for i in range(words)), np.arange(words, 0, -1, dtype=np.int64))
    w_in = rng.standard_normal((words, dim), dtype=np.float32)
    write_model(spark, path, vocab, w_in, np.zeros_like(w_in), {"synthetic": True, "seed": seed})


def worker_rss_mb() -> float:
    """Largest resident set (MB) among our Python worker processes (``pyspark.daemon`` forks)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    best = 0.0
    for pid in parents:
        try:
            if b"pyspark.daemon" not in Path(f"/proc/{pid}/cmdline").read_bytes() or not ours(pid):
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        best = max(best, rss / 1024)
    return best


def timed(spark, query: str, **args) -> tuple[float, list]:
    start = time.perf_counter()
    result = spark.sql(query, args=args).collect()
    return time.perf_counter() - start, result


def bench_table(spark, label: str, path: str, words: list[str], repeat: int, k: int, batch: int) -> dict:
    start = time.perf_counter()
    sql.register(spark, path, name="bench")
    register_s = time.perf_counter() - start
    query = "SELECT * FROM bench_most_similar(:w, :k)"
    first_s, first = timed(spark, query, w=words[0], k=k)
    assert len(first) == k, first
    # two partitions, so both task slots (and both Python workers) answer: the first run also
    # loads the table into the worker that does not have it yet; the second run is timed
    lateral = (words * (batch // len(words) + 1))[:batch]
    batch_query = ("SELECT count(*) FROM (SELECT /*+ REPARTITION(2) */ w FROM (SELECT explode(:ws) AS w)), "
                   "LATERAL bench_most_similar(w, :k)")
    lateral_first_s, _ = timed(spark, batch_query, ws=lateral, k=k)
    lateral_s, counted = timed(spark, batch_query, ws=lateral, k=k)
    assert counted[0][0] == batch * k
    warm = [timed(spark, query, w=w, k=k)[0] for w in (words[1:] * repeat)[:repeat]]
    floor = [timed(spark, query, w=w, k=0)[0] for w in words[:5]]
    rss = worker_rss_mb()

    files = sql.path_source(spark, path)[0].files   # the files the functions read, checked
    start = time.perf_counter()
    table = sql.read_vector_files(files)
    load_s = time.perf_counter() - start
    local = []
    for w in (words * repeat)[:repeat]:
        start = time.perf_counter()
        table.nearest([table.index[w]], [], k)
        local.append(time.perf_counter() - start)
    shape = table.matrix.shape
    del table
    return {"table": label, "words": shape[0], "dim": shape[1], "k": k, "register_s": register_s,
            "first_s": first_s, "warm_median_s": statistics.median(warm), "warm_min_s": min(warm),
            "warm_max_s": max(warm), "warm_calls": len(warm), "floor_median_s": statistics.median(floor),
            "numpy_load_s": load_s, "numpy_query_median_s": statistics.median(local),
            "lateral_queries": batch, "lateral_first_s": lateral_first_s, "lateral_s": lateral_s, "worker_rss_mb": rss}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brown", default="/tmp/brown-sql", help="trained Brown model (default: /tmp/brown-sql)")
    parser.add_argument("--synthetic", default="/tmp/w2v-synthetic-1m",
                        help="synthetic model path, written if missing (default: /tmp/w2v-synthetic-1m)")
    parser.add_argument("--synthetic-words", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=9, help="warm calls per table (default: 9)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=200, help="queries in the LATERAL batch (default: 200)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    spark = get_session("sparkw2v-bench-query", master="local[2]",
                        conf={"spark.ui.enabled": "false", "spark.driver.memory": "6g"})
    if not Path(args.synthetic).exists():
        start = time.perf_counter()
        write_synthetic(spark, args.synthetic, args.synthetic_words, args.dim)
        print(f"wrote {args.synthetic} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    synthetic_words = [f"w{i}" for i in np.random.default_rng(1).integers(0, args.synthetic_words, 16)]
    results = [bench_table(spark, "Brown", args.brown, BROWN_WORDS, args.repeat, args.k, args.batch),
               bench_table(spark, "synthetic", args.synthetic, synthetic_words, args.repeat, args.k,
                           args.batch)]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| table | words x dim | register s | first call s | warm median s (min-max) | floor s "
          "| NumPy query ms | LATERAL queries/s | worker RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['table']} | {r['words']:,} x {r['dim']} | {r['register_s']:.2f} | {r['first_s']:.2f} "
              f"| {r['warm_median_s']:.3f} ({r['warm_min_s']:.3f}-{r['warm_max_s']:.3f}) "
              f"| {r['floor_median_s']:.3f} | {1000 * r['numpy_query_median_s']:.1f} "
              f"| {r['lateral_queries'] / r['lateral_s']:.0f} | {r['worker_rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
