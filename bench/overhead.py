"""Epoch overhead against vocabulary size: how the cost of broadcasting and combining grows.

Every epoch the driver broadcasts both matrices and collects their combined
update, so that cost grows with vocabulary x dimensions while training time
grows with corpus words. This script holds the corpus size fixed and varies the
vocabulary: a synthetic corpus in which each of V words occurs at least once
plus Zipf-distributed draws, trained with min_count 1 on Spark local[N]. The first
row is the bundled Brown corpus itself (1M words, its 14K-word vocabulary at min_count 5).

    python bench/overhead.py                                  # Brown, then 14K, 100K, 1M words
    python bench/overhead.py --vocab 100000 --words 2000000 --epochs 2

Overhead per epoch = epoch wall time - (summed task time / parallel tasks); the
table shows it in seconds and as a share of the epoch, and also the time outside
the slowest task: the wait for a larger shard left out, what remains is launching
the job, creating the broadcast, collecting and combining. (Reading the broadcast
and pickling the results happen inside the tasks, so neither measure counts them.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BROWN = Path(__file__).resolve().parent.parent / "sparkw2v" / "data" / "brown.txt.gz"


def make_corpus(path: Path, vocab: int, words: int, seed: int = 0) -> None:
    import numpy as np
    rng = np.random.default_rng(seed)
    extra = max(0, words - vocab)
    ids = np.concatenate([np.arange(vocab), (rng.zipf(1.1, extra) - 1) % vocab])
    rng.shuffle(ids)
    names = np.array([f"w{i}" for i in range(vocab)], dtype=object)
    with open(path, "w") as fh:
        for lo in range(0, ids.size, 20):
            fh.write(" ".join(names[ids[lo:lo + 20]]) + "\n")


def run_one(args) -> None:
    """In a subprocess: train and print one JSON line of timings."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from sparkw2v import Word2Vec
    from sparkw2v.session import get_session
    spark = get_session("overhead", master=f"local[{args.cores}]",
                        conf={"spark.driver.memory": "12g", "spark.driver.maxResultSize": "0",
                              "spark.ui.enabled": "false"})
    model = Word2Vec(input=args.corpus, min_count=args.min_count, epochs=args.epochs, num_partitions=args.partitions,
                     vector_size=args.dim, seed=1).fit_input(spark)
    info, history = model.result.info, model.result.history
    parallel = min(args.partitions, args.cores)
    rows = []
    for h in history:
        overhead = h["seconds"] - h["task_seconds"] / parallel
        outside = h["seconds"] - h.get("slowest_task_seconds", h["task_seconds"] / parallel)
        rows.append({"epoch": h["epoch"], "seconds": h["seconds"], "overhead": overhead, "outside": outside})
    print("RESULT " + json.dumps({"vocab": len(model.wv), "words": info["train_words"], "epochs": rows,
                                  "words_per_second": info["words_per_second"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", default="brown,14000,100000,1000000",
                        help="comma list of synthetic vocabulary sizes, 'brown' for the bundled corpus")
    parser.add_argument("--words", type=int, default=2_000_000, help="corpus words")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--min-count", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.corpus:
        run_one(args)
        return
    print("| vocabulary | corpus words | words/s | epoch s | overhead s | overhead share "
          "| outside the slowest task s | share |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for vocab in args.vocab.split(","):
            if vocab == "brown":
                corpus, min_count = BROWN, 5
            else:
                corpus, min_count = Path(tmp) / f"v{vocab}.txt", 1
                make_corpus(corpus, int(vocab), args.words)
            started = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--corpus", str(corpus), "--dim", str(args.dim),
                                   "--epochs", str(args.epochs), "--partitions", str(args.partitions),
                                   "--cores", str(args.cores), "--min-count", str(min_count)],
                                  capture_output=True, text=True)
            line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                print(f"| {vocab} | failed after {time.perf_counter() - started:.0f}s: "
                      f"{proc.stderr.strip().splitlines()[-1:]} |")
                continue
            r = json.loads(line[7:])
            last = r["epochs"][-1]  # the first epoch also pays for Python worker start-up
            print(f"| {r['vocab']:,} | {r['words']:,} | {r['words_per_second']:,.0f} | {last['seconds']:.1f} | "
                  f"{last['overhead']:.2f} | {last['overhead'] / last['seconds']:.1%} | "
                  f"{last['outside']:.2f} | {last['outside'] / last['seconds']:.1%} |", flush=True)


if __name__ == "__main__":
    main()
