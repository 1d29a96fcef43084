"""Stratified skip-gram with the H heaviest rows of both matrices replicated on every task,
screened without Spark: the cells of a sub-epoch trained one after another on the full
matrices, each from the sub-epoch's start for the replicated rows, whose changes are then
combined (``--combine``: sum, mean, or sum / sqrt(K)); the other rows are owned as in
:mod:`sparkw2v.stratified`. A pair with a replicated row goes to a random cell that owns its
other row, and the replicated rows join every block's negative table at 1/K of their weight.

    python bench/hot_rows_proto.py --shards 64 --seeds 1,2,3 --hot 64 --combine sqrt
    python bench/hot_rows_proto.py --shards 64 --seeds 1,2,3 --hot 0 --syncs 1024   # the library's scheme
    python bench/hot_rows_proto.py --shards 1 --seeds 1,2,3 --hot 0 --min-count 1   # the pair kernel alone

With ``--hot 0`` it gave ``bench/shards_lab.py --strategy stratified``'s scores to the digit
(64 shards, seeds 1-3) before output blocks were shared from ``stratified.SHARE_OUTPUT_FROM`` shards
and before 9bd412a drew a fresh pairing for every round; it trains unshared output blocks in the cyclic order. ``--table`` (negative table slots) and ``--step`` (pairs per step)
override the library's choices.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from shards_lab import encode, over_seeds, quality, shards_of, sub_epoch_alphas
from sparkw2v import stratified
from sparkw2v.config import TrainConfig
from sparkw2v.pair_kernel import skipgram_pairs, train_pairs
from sparkw2v.sampling import keep_probabilities, negative_table
from sparkw2v.training import initial_weights

TABLE = STEP = 0


def run(vocab, ids, lengths, cfg, n, hot, hot_neg_scale, combine):
    hot_scale = {"sum": 1.0, "mean": 1.0 / n, "sqrt": n ** -0.5}[combine]
    shards = shards_of(ids, lengths, n)
    rounds = stratified.rounds_per_epoch(n, ids.size, cfg.syncs_per_epoch)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    counts = vocab.counts
    load = stratified.pair_load(counts, cfg.sample)
    hot_rows = np.argsort(-load, kind="stable")[:hot]
    is_hot = np.zeros(counts.size, bool); is_hot[hot_rows] = True
    keep = keep_probabilities(counts, cfg.sample)
    m = counts.astype(np.float64) ** cfg.ns_exponent
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x57A7]))
        cold_load = np.where(is_hot, 0.0, load)
        owner_in = stratified.assign_blocks(cold_load, n, rng)
        owner_out = stratified.assign_blocks(cold_load, n, rng)
        cell_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x407]))
        # cell (round, p, q) -> its pairs from each source partition, in partition order
        cells = {}
        for index, (tokens, starts) in enumerate(shards):
            x, y, _ = skipgram_pairs(tokens, starts, keep, cfg.window, stratified._rng(cfg.seed, epoch, index, 0x9A1))
            r_of = (np.arange(x.size, dtype=np.int64) * rounds) // max(x.size, 1)
            p = np.where(is_hot[x], cell_rng.integers(0, n, x.size), owner_in[x])
            q = np.where(is_hot[y], cell_rng.integers(0, n, y.size), owner_out[y])
            key = (r_of * n + p) * n + q
            o = np.argsort(key, kind="stable")
            b = np.searchsorted(key[o], np.arange(rounds * n * n + 1))
            xo, yo = x[o], y[o]
            for c in range(rounds * n * n):
                if b[c + 1] > b[c]:
                    cells.setdefault(c, []).append((xo[b[c]:b[c + 1]], yo[b[c]:b[c + 1]]))
        tables = []
        for q in range(n):
            cold = np.flatnonzero((owner_out == q) & ~is_hot)
            rows = np.concatenate([cold, hot_rows])
            wts = np.concatenate([m[cold], m[hot_rows] * hot_neg_scale / n])
            tables.append(negative_table(wts, 1.0, size=TABLE or max(1 << 16, 64 * rows.size), ids=rows))
        sizes_in, sizes_out = np.bincount(owner_in, minlength=n), np.bincount(owner_out, minlength=n)
        for r in range(rounds):
            for s in range(n):
                a0, a1 = sub_epoch_alphas(cfg, epoch, r * n + s, rounds * n)
                snap_in, snap_out = w_in[hot_rows].copy(), w_out[hot_rows].copy()
                acc_in, acc_out = np.zeros_like(snap_in), np.zeros_like(snap_out)
                for p in range(n):
                    q = (p + s) % n
                    parts = cells.get((r * n + p) * n + q, [])
                    if not parts:
                        continue
                    x = np.concatenate([a for a, _ in parts]); y = np.concatenate([c for _, c in parts])
                    w_in[hot_rows] = snap_in; w_out[hot_rows] = snap_out
                    step = min(STEP or stratified.step_pairs(n), max(16, 2 * min(sizes_in[p], sizes_out[q])))
                    train_pairs(w_in, w_out, x, y, tables[q], cfg.negative, a0, a1,
                                stratified._rng(cfg.seed, epoch, r, s, p, 0xCE11), step)
                    acc_in += w_in[hot_rows] - snap_in; acc_out += w_out[hot_rows] - snap_out
                w_in[hot_rows] = snap_in + acc_in * hot_scale; w_out[hot_rows] = snap_out + acc_out * hot_scale
    return quality(vocab, w_in)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(ROOT / "sparkw2v/data/brown.txt.gz"))
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--hot", type=int, default=64, help="rows replicated (the heaviest by expected pairs)")
    ap.add_argument("--hot-neg-scale", type=float, default=1.0, help="their negative-table weight, times 1/K")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--combine", choices=("sum", "mean", "sqrt"), default="sum",
                    help="how the replicated rows' changes from the K cells are combined")
    ap.add_argument("--syncs", type=int, default=None)
    ap.add_argument("--table", type=int, default=0)
    ap.add_argument("--step", type=int, default=0)
    a = ap.parse_args()
    TABLE, STEP = a.table, a.step
    vocab, ids, lengths = encode(a.corpus, a.min_count)
    _, scores = over_seeds(a.seeds, lambda seed: run(
        vocab, ids, lengths, TrainConfig(seed=seed, syncs_per_epoch=a.syncs).validate(require_io=False),
        a.shards, a.hot, a.hot_neg_scale, a.combine))
    print(f"{a.shards} shards, {a.syncs or 'default'} sub-epochs, {a.hot} rows replicated ({a.combine}), "
          f"table {a.table or 'default'}, step {a.step or 'default'}: {scores}")
