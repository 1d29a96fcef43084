"""Kernel time of a stratified CBOW round against one plain pass, on one core.

    python bench/owned_cost.py [--words 300000] [--blocks 1,8,32]

A stratified CBOW task reads its round's text in each of the round's K sub-epochs and trains
the centres of one output block each time (``train_shard`` with ``centre_mask``). This times
one such pass per block (up to 8 of them) and reports a round, K passes, against the plain
kernel's one pass over the same words.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from shards_lab import encode  # noqa: E402
from sparkw2v import stratified  # noqa: E402
from sparkw2v.kernel import KernelParams, train_shard  # noqa: E402
from sparkw2v.sampling import keep_probabilities, negative_table  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--words", type=int, default=300_000)
    parser.add_argument("--blocks", default="1,8,32")
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    lengths = lengths[:np.searchsorted(np.cumsum(lengths), args.words)]
    ids = ids[:lengths.sum()]
    starts = np.concatenate(([0], np.cumsum(lengths)))
    keep, table = keep_probabilities(vocab.counts, 1e-3), negative_table(vocab.counts, 0.75)
    params = KernelParams(sg=False, window=5, negative=5, chunk_words=1024, shared_by=16, shared_draws=16)
    for k in [int(b) for b in args.blocks.split(",")]:
        owner = stratified.output_owners(vocab.counts, 1e-3, k, 1, 0)
        w_in, w_out = initial_weights(len(vocab), 100, 1)
        passes = min(k, 8)
        started = time.perf_counter()
        for s in range(passes):
            if k == 1:
                train_shard(w_in, w_out, ids, starts, keep, table, params, 0.05, 0.04, np.random.default_rng(1))
                continue
            mask, negatives = stratified.owned_negatives(stratified.owned_block(0, s, k, 1, 0)[1], vocab.counts, owner, 0.75)
            train_shard(w_in, w_out, ids, starts, keep, negatives, params, 0.05, 0.04, np.random.default_rng(1),
                        None, mask, stratified.owned_negative_rng(1, 0, s, k, 0))
        per_pass = (time.perf_counter() - started) / passes
        print(f"{k} blocks: {per_pass:.3f} s per sub-epoch pass, {per_pass * k:.2f} s per round of {ids.size:,} words",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
