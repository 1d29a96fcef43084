"""The stratified path's pair kernel against the window kernel, side by side in one process.

    python bench/pair_kernel.py [--corpus PATH] [--repeats 2]

One epoch of Brown through :func:`sparkw2v.kernel.train_shard` (the window kernel that
averaging trains with) and through :func:`skipgram_pairs` + :func:`train_pairs` (what a
stratified cell runs) at the step sizes of 8, 16, 32 and 64 blocks; words/s counts corpus
words, forming the pairs included. The last line gives each step size's best speed as a share
of the window kernel's best (``bench/sync_cost.py``'s ``PAIR_KERNEL_SHARE``).
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
from sparkw2v.kernel import KernelParams, train_shard  # noqa: E402
from sparkw2v.pair_kernel import skipgram_pairs, train_pairs  # noqa: E402
from sparkw2v.sampling import keep_probabilities, negative_table  # noqa: E402
from sparkw2v.stratified import step_pairs  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    starts = np.concatenate(([0], np.cumsum(lengths)))
    keep, table = keep_probabilities(vocab.counts, 1e-3), negative_table(vocab.counts, 0.75)
    best = {}
    for _ in range(args.repeats):
        w_in, w_out = initial_weights(len(vocab), 100, 1)
        started = time.perf_counter()
        train_shard(w_in, w_out, ids, starts, keep, table, KernelParams(), 0.025, 0.02, np.random.default_rng(1))
        speed = ids.size / (time.perf_counter() - started)
        best["window"] = max(best.get("window", 0.0), speed)
        line = [f"window kernel {speed:,.0f} words/s"]
        for blocks in (8, 16, 32, 64):
            w_in, w_out = initial_weights(len(vocab), 100, 1)
            rng = np.random.default_rng(1)
            started = time.perf_counter()
            x, y, _ = skipgram_pairs(ids, starts, keep, 5, rng)
            train_pairs(w_in, w_out, x, y, table, 5, 0.025, 0.02, rng, step_pairs(blocks))
            speed = ids.size / (time.perf_counter() - started)
            best[step_pairs(blocks)] = max(best.get(step_pairs(blocks), 0.0), speed)
            line.append(f"pairs, steps of {blocks} blocks ({step_pairs(blocks)}) {speed:,.0f} words/s")
        print("; ".join(line), flush=True)
    print("share of the window kernel, by pairs per step: "
          + ", ".join(f"{step}: {best[step] / best['window']:.2f}" for step in best if step != "window"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
