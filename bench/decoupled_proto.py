"""Stratified skip-gram with negatives decoupled from the positive pairs, screened without Spark.

Each positive pair (x, y) of a round draws its ``negative`` words from the whole vocabulary by
count^0.75, as word2vec does; a negative v is trained in the cell (block_in[x], block_out[v])
of the same round, so each input row meets exactly SGNS's negatives, each in the sub-epoch
where it holds their block. Positive and negative items are trained one item per update
(label 1 or 0), interleaved at random within a cell, in steps of the library's size.

    python bench/decoupled_proto.py --shards 8 --seeds 1,2,3
    python bench/decoupled_proto.py --shards 1 --seeds 1,2,3      # the item kernel alone
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from shards_lab import encode, over_seeds, quality, shards_of, sub_epoch_alphas  # noqa: E402
from stratified_proto import route_epoch  # noqa: E402
from sparkw2v import stratified  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.kernel import KernelStats, sigmoid_inplace  # noqa: E402
from sparkw2v.scatter import ScatterPlan  # noqa: E402
from sparkw2v.sampling import negative_table  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def train_items(w_in, w_out, x, v, label, alpha0, alpha1, step, plan_steps=64) -> None:
    """SGD on items (x, v, label): sigmoid(w_in[x] . w_out[v]) towards label, ``step`` items
    per step (repeated rows' updates summed), the rate linear from alpha0 to alpha1."""
    n = x.size
    if n == 0:
        return
    stats = KernelStats(in_updates=np.zeros(w_in.shape[0], np.int64), out_updates=np.zeros(w_out.shape[0], np.int64))
    edges = np.arange(0, n + step, step).clip(max=n)
    for first in range(0, edges.size - 1, plan_steps):
        cuts = edges[first:first + plan_steps + 1]
        lo, hi = int(cuts[0]), int(cuts[-1])
        sizes = np.diff(cuts)
        in_plan = ScatterPlan(w_in.shape[0], x[lo:hi], None, 0, stats.in_updates, w_in.dtype, sizes=sizes)
        out_plan = ScatterPlan(w_out.shape[0], v[lo:hi], None, 0, stats.out_updates, w_out.dtype, sizes=sizes)
        for i, (a, b) in enumerate(zip(cuts[:-1].tolist(), cuts[1:].tolist())):
            alpha = np.float32(alpha0 + (alpha1 - alpha0) * (a / n))
            h = w_in.take(x[a:b], axis=0)
            o = w_out.take(v[a:b], axis=0)
            g = label[a:b] - sigmoid_inplace(np.einsum("ij,ij->i", h, o))
            g *= alpha
            in_plan.apply(i, w_in, o * g[:, None])
            out_plan.apply(i, w_out, h * g[:, None])


def run(vocab, ids, lengths, cfg: TrainConfig, n: int, step: int) -> dict:
    shards = shards_of(ids, lengths, n)
    records = [[((i, 0, 0), (t, np.diff(st)))] if t.size else [] for i, (t, st) in enumerate(shards)]
    rounds = stratified.rounds_per_epoch(n, ids.size, cfg.syncs_per_epoch)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    whole = negative_table(vocab.counts, cfg.ns_exponent)
    k = cfg.negative
    for epoch in range(cfg.epochs):
        _, owner_out, routed = route_epoch(vocab, records, cfg, n, rounds, epoch)
        draw = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0xDEC0]))
        for r in range(rounds):
            # Every cell's items for this round: its positives, and the negatives of every pair of
            # input block p whose word falls in its output block.
            cells = {}
            for p in range(n):
                sources = [v for v in routed[p] if v[2] == r]
                xs, ys = [], []
                for q in range(n):
                    x, y, _ = stratified.cell_pairs(sources, q)
                    xs.append(x)
                    ys.append(y)
                    cells[p, q] = [x, y]
                x_all, y_all = np.concatenate(xs), np.concatenate(ys)
                negs = whole[draw.integers(0, whole.size, size=(x_all.size, k))]
                keep = negs != y_all[:, None]
                nx = np.repeat(x_all, k)[keep.ravel()]
                nv = negs.ravel()[keep.ravel()]
                nq = owner_out[nv]
                order = np.argsort(nq, kind="stable")
                bounds = np.searchsorted(nq[order], np.arange(n + 1))
                for q in range(n):
                    sel = order[bounds[q]:bounds[q + 1]]
                    cells[p, q] += [nx[sel], nv[sel]]
            for s in range(n):
                alpha_start, alpha_end = sub_epoch_alphas(cfg, epoch, r * n + s, rounds * n)
                for p in range(n):
                    q = (p + s) % n
                    px, py, mx, mv = cells[p, q]
                    x = np.concatenate((px, mx)).astype(np.int32)
                    v = np.concatenate((py, mv)).astype(np.int32)
                    label = np.concatenate((np.ones(px.size, np.float32), np.zeros(mx.size, np.float32)))
                    # Positives keep their corpus order; negatives go in at random places.
                    key = np.concatenate((np.arange(px.size) / max(px.size, 1), draw.random(mx.size)))
                    perm = np.argsort(key, kind="stable")
                    train_items(w_in, w_out, x[perm], v[perm], label[perm], alpha_start, alpha_end,
                                step * (k + 1))
    return quality(vocab, w_in)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--step", type=int, default=0, help="positive pairs per step (0: the library's)")
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    step = args.step or stratified.step_pairs(args.shards)
    _, scores = over_seeds(args.seeds, lambda seed: run(vocab, ids, lengths, TrainConfig(seed=seed).validate(
        require_io=False), args.shards, step))
    print(f"{args.shards} shards, decoupled negatives, steps of {step} pairs: {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
