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
from sparkw2v.evaluation import evaluate_word_pairs  # noqa: E402
from sparkw2v.vectors import WordVectors  # noqa: E402


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
    # The words both vocabularies hold: WordSim-353 over their vectors scores the shared pairs.
    both = np.array([i for i, w in enumerate(vocab.words) if w in other])
    for seed in [int(s) for s in args.seeds.split(",")]:
        out = []
        for shards, strategy in ((1, "average"), (args.shards, "stratified")):
            cfg = TrainConfig(seed=seed, strategy=strategy).validate(require_io=False)
            vectors = []
            train = shards_lab.run_stratified if strategy == "stratified" else shards_lab.run
            train(vocab, ids, lengths, cfg, shards, vectors=vectors)
            shared = evaluate_word_pairs(WordVectors([vocab.words[i] for i in both], vectors[0][both]),
                                         shards_lab.EVAL / "wordsim353.tsv")
            out.append((shards_lab.quality(vocab, vectors[0])["ws"], shared.spearman, shared.pairs_used))
        print(f"seed {seed}: 1 shard {out[0][0]:.4f} / {out[0][2]} shared pairs {out[0][1]:.4f}; "
              f"{args.shards} shards {out[1][0]:.4f} / shared pairs {out[1][1]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
