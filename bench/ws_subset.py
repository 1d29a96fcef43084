"""WordSim-353 of one shard and of N stratified shards on a corpus, on every pair its vocabulary
scores and on the pairs another corpus's vocabulary scores too (the pairs both can rank).

    python bench/ws_subset.py --corpus /tmp/brown3.txt --shards 8 --seeds 1,2,3,4

Brown repeated 3 times keeps, at min_count 5, every word Brown has twice or more, so its
WordSim-353 ranks more pairs than Brown's; this tells whether those pairs move the ratio.
Trains with ``bench/shards_lab.py``'s functions (the library's, in one process).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import shards_lab  # noqa: E402
from sparkw2v import TrainConfig  # noqa: E402
from sparkw2v.evaluation import spearman  # noqa: E402


def vocabulary_of(path: str, min_count: int) -> set[str]:
    counts = collections.Counter()
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        for line in f:
            counts.update(line.split())
    return {w for w, k in counts.items() if k >= min_count}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--reference", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"),
                        help="the corpus whose vocabulary picks the shared pairs")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args(argv)
    other = vocabulary_of(args.reference, 5)
    vocab, ids, lengths = shards_lab.encode(args.corpus, 5)
    index = {w: i for i, w in enumerate(vocab.words)}
    rows = []
    for line in open(shards_lab.EVAL / "wordsim353.tsv"):
        p = line.strip().split("\t")
        try:
            gold = float(p[2])
        except (IndexError, ValueError):
            continue
        a, b = p[0].lower(), p[1].lower()
        if a in index and b in index:
            rows.append((index[a], index[b], gold, a in other and b in other))
    a, b = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    gold, shared = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    print(f"{len(rows)} pairs scored, {int(shared.sum())} of them also by the reference's vocabulary")
    for seed in [int(s) for s in args.seeds.split(",")]:
        out = []
        for shards, strategy in ((1, "average"), (args.shards, "stratified")):
            cfg = TrainConfig(seed=seed, strategy=strategy).validate(require_io=False)
            vectors = []
            train = shards_lab.run_stratified if strategy == "stratified" else shards_lab.run
            train(vocab, ids, lengths, cfg, shards, vectors=vectors)
            w = vectors[0] / np.linalg.norm(vectors[0], axis=1, keepdims=True)
            cos = np.einsum("ij,ij->i", w[a], w[b])
            out.append((spearman(gold, cos), spearman(gold[shared], cos[shared])))
        print(f"seed {seed}: 1 shard {out[0][0]:.4f} / shared pairs {out[0][1]:.4f}; "
              f"{args.shards} shards {out[1][0]:.4f} / shared pairs {out[1][1]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
