"""Quality and speed of sparkw2v settings on Brown, mean of several seeds, in one Spark session.

    python bench/sweep.py '[{"num_partitions": 2, "partition_alpha_scale": 3.0},
                            {"num_partitions": 1, "batch_words": 1024}]'

Each JSON object is a set of Word2Vec parameters (the rest are the defaults: skip-gram,
vector_size 100, window 5, negative 5, sample 1e-3, min_count 5, 5 epochs). Prints
WordSim-353 Spearman, 3CosAdd analogy accuracy and training words/s, averaged over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sparkw2v import Word2Vec  # noqa: E402
from sparkw2v.evaluation import evaluate  # noqa: E402
from sparkw2v.session import get_session  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", help="JSON list of parameter objects")
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)

    spark = get_session("sparkw2v-bench-sweep", master=f"local[{args.cores}]",
                        conf={"spark.ui.enabled": "false", "spark.driver.memory": "4g"})
    spark.sparkContext.setLogLevel("ERROR")
    frame = spark.read.text(args.corpus).cache()
    frame.count()
    print("| settings | WS353 | analogy | words/s |\n|---|---:|---:|---:|")
    for params in json.loads(args.configs):
        runs = []
        for seed in range(1, args.seeds + 1):
            model = Word2Vec(text_column="value", seed=seed, **params).fit(frame)
            scores = evaluate(model.wv, EVAL / "wordsim353.tsv", EVAL / "questions-words.txt", methods=("3cosadd",))
            runs.append((scores["wordsim_spearman"], scores["analogy_3cosadd"], model.result.info["words_per_second"]))
        ws, analogy, speed = np.mean(runs, axis=0)
        print(f"| {json.dumps(params)} | {ws:.3f} | {analogy:.4f} | {speed:,.0f} |", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
