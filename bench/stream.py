"""Per-batch latency of streaming training on top of the Brown model.

Trains the Brown model (conf/brown.toml) unless ``--base`` names one, then lands
``--batches`` files of ``--batch-words`` words each (Brown's lines reshuffled with a
different seed per file) in a landing folder and runs ``sparkw2v stream
--available-now --from-model BASE`` on them, one file per batch
(``max_files_per_trigger = 1``), on Spark ``local[--cores]``. For each batch it
prints the batch's wall time (counting, vocabulary growth, training, publishing),
words/s, the words that entered the vocabulary, and the mean (and 5th percentile)
cosine of every old word's vector to its previous version.

    python bench/stream.py                                   # 1M-word batches on the Brown model
    python bench/stream.py --batch-words 100000 --base-epochs 1 --batches 1   # a quick check

The first batch also pays for starting the Python workers; the last one is the
steady-state latency.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def batch_file(lines: list[str], words: int, seed: int, path: Path) -> int:
    """Write Brown's lines in a seeded random order until ``words`` words; returns the words written."""
    order = np.random.default_rng(seed).permutation(len(lines))
    written = 0
    with open(path, "w") as fh:
        while written < words:  # a batch bigger than the corpus repeats it, reshuffled
            for i in order:
                fh.write(lines[i] + "\n")
                written += len(lines[i].split())
                if written >= words:
                    break
    return written


def cosine_to(old, new) -> np.ndarray:
    """Cosine of each of ``old``'s words to the same word in ``new``."""
    a = old.wv.vectors
    b = np.stack([new.wv[w] for w in old.wv.words])
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="model to continue (default: train conf/brown.toml into --work)")
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v/data/brown.txt.gz"),
                        help="text the batches are drawn from (default: the bundled Brown corpus)")
    parser.add_argument("--batch-words", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per batch (conf/brown.toml: 5)")
    parser.add_argument("--base-epochs", type=int, default=5, help="epochs of the base model if trained here")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--work", help="directory for the base model, landing folder and output "
                                       "(default: a temporary one)")
    args = parser.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("sparkw2v").setLevel(logging.INFO)  # one line per epoch and per batch
    from sparkw2v import TrainConfig, Word2Vec, Word2VecModel
    from sparkw2v.config import StreamConfig
    from sparkw2v.session import get_session
    from sparkw2v.streaming import run_stream

    spark = get_session("bench-stream", master=f"local[{args.cores}]",
                        conf={"spark.driver.memory": "4g", "spark.ui.enabled": "false",
                              "spark.sql.shuffle.partitions": str(args.partitions)})
    brown = TrainConfig.from_toml(ROOT / "conf/brown.toml").replace(num_partitions=args.partitions)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        base = args.base
        if base is None:
            base = str(work / "base")
            if not (work / "base" / "LATEST").exists():
                started = time.perf_counter()
                cfg = brown.replace(input=str(ROOT / brown.input), output=base, epochs=args.base_epochs)
                Word2Vec(cfg).fit_input(spark).save(base)
                print(f"base model: trained {args.base_epochs} epoch(s) in {time.perf_counter() - started:.0f}s",
                      flush=True)
        opener = gzip.open if args.corpus.endswith(".gz") else open
        with opener(args.corpus, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n") for line in fh if line.strip()]
        landing, output = work / "landing", work / "stream-model"
        landing.mkdir(parents=True, exist_ok=True)
        for i in range(args.batches):
            batch_file(lines, args.batch_words, 100 + i, landing / f"batch-{i:03d}.txt")
        cfg = brown.replace(output=str(output), from_model=base, epochs=args.epochs, keep_versions=args.batches + 1)
        options = StreamConfig(source=str(landing), checkpoint=str(work / "checkpoint"), available_now=True,
                               max_files_per_trigger=1)
        started = time.perf_counter()
        batches = run_stream(spark, cfg, options)
        total = time.perf_counter() - started
        previous = Word2VecModel.load(base, spark=spark)
        print("| batch | words | seconds | words/s | load base s | count s | training s | publish s | new words | "
              "vocabulary | mean cosine to previous | 5th percentile |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = []
        for b in batches:
            model = Word2VecModel.load(b["location"], spark=spark)
            cos = cosine_to(previous, model)
            row = {**{k: b[k] for k in ("batch_id", "words", "seconds", "load_seconds", "count_seconds",
                                        "train_seconds", "publish_seconds", "new_words", "vocab_size")},
                   "words_per_second": b["words"] / b["seconds"], "mean_cosine": float(cos.mean()),
                   "p5_cosine": float(np.percentile(cos, 5))}
            rows.append(row)
            print(f"| {b['batch_id']} | {b['words']:,} | {b['seconds']:.1f} | {row['words_per_second']:,.0f} | "
                  f"{b['load_seconds']:.1f} | {b['count_seconds']:.1f} | {b['train_seconds']:.1f} | "
                  f"{b['publish_seconds']:.1f} | "
                  f"{b['new_words']} | {b['vocab_size']:,} | {cos.mean():.4f} | "
                  f"{row['p5_cosine']:.4f} |", flush=True)
            previous = model
        print(f"stream run: {total:.1f}s for {len(batches)} batch(es) (includes starting the query)")
        print("RESULT " + json.dumps({"batch_words": args.batch_words, "cores": args.cores,
                                      "partitions": args.partitions, "epochs": args.epochs, "batches": rows}))


if __name__ == "__main__":
    main()
