"""Stratified skip-gram with fewer output blocks than tasks, screened without Spark.

    python bench/shared_out_proto.py --shards 64 --sharers 2 --seeds 1,2,3

K tasks own K input blocks as the library does, but the output rows are dealt into
G = K / sharers blocks: in sub-epoch ``s`` task ``p`` trains cell ``(p, (p + s) mod G)``, so
``sharers`` tasks train against each output block at once, each from the same copy, and
their changes to it are summed after the sub-epoch (input rows stay exact: one owner). A
round is G sub-epochs; rounds per epoch keep 128 sub-epochs. With ``--sharers 1`` it is the
library's scheme with the library's pairs, random streams, steps and kernel, and gives
``bench/shards_lab.py --strategy stratified``'s scores to the digit.

The question it answers: does quality at K shards follow the number of output blocks
(a block of 1/K of the vocabulary per sub-epoch) or the number of writers?
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
from sparkw2v import stratified  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.executor import shard_arrays  # noqa: E402
from sparkw2v.kernel import skipgram_pairs, train_pairs  # noqa: E402
from sparkw2v.sampling import keep_probabilities  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def run(vocab, ids, lengths, cfg: TrainConfig, k: int, sharers: int) -> dict:
    if k % sharers:
        raise SystemExit(f"--shards {k} is not a multiple of --sharers {sharers}")
    g = k // sharers
    shards = shards_of(ids, lengths, k)
    rounds = stratified.rounds_per_epoch(g, ids.size, cfg.syncs_per_epoch)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    keep = keep_probabilities(vocab.counts, cfg.sample)
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x57A7]))
        load = stratified.pair_load(vocab.counts, cfg.sample)
        owner_in, owner_out = stratified.assign_blocks(load, k, rng), stratified.assign_blocks(load, g, rng)
        rows_in = [np.flatnonzero(owner_in == p) for p in range(k)]
        rows_out = [np.flatnonzero(owner_out == q) for q in range(g)]
        tables = [stratified.block_negatives(vocab.counts, rows_out[q], cfg.ns_exponent, ids=True) for q in range(g)]
        # cells[r][p][q]: (x, y) of round r, input block p, output block q, source partitions in order
        cells = [[[([], []) for _ in range(g)] for _ in range(k)] for _ in range(rounds)]
        for index, (tokens, starts) in enumerate(shards):
            if not tokens.size:
                continue
            t, st = shard_arrays([((index, 0, 0), (tokens, np.diff(starts)))])
            x, y, _ = skipgram_pairs(t, st, keep, cfg.window, stratified._rng(cfg.seed, epoch, index, 0x9A1))
            round_of = (np.arange(x.size, dtype=np.int64) * rounds) // max(x.size, 1)
            key = (owner_in[x].astype(np.int64) * rounds + round_of) * g + owner_out[y]
            order = np.argsort(key, kind="stable")
            bounds = np.searchsorted(key[order], np.arange(k * rounds * g + 1))
            x, y = x[order], y[order]
            for p in range(k):
                for r in range(rounds):
                    for q in range(g):
                        c = (p * rounds + r) * g + q
                        cells[r][p][q][0].append(x[bounds[c]:bounds[c + 1]])
                        cells[r][p][q][1].append(y[bounds[c]:bounds[c + 1]])
        for r in range(rounds):
            for s in range(g):
                alpha_start, alpha_end = sub_epoch_alphas(cfg, epoch, r * g + s, rounds * g)
                changes = []  # (rows, change) of every sharer but a block's last, in sharer order
                for p in range(k):
                    q = (p + s) % g
                    x = np.concatenate(cells[r][p][q][0])
                    y = np.concatenate(cells[r][p][q][1])
                    step = min(stratified.step_pairs(k), max(16, 2 * min(rows_in[p].size, rows_out[q].size)))
                    cell_rng = stratified._rng(cfg.seed, epoch, r, s, p, 0xCE11)
                    rows = rows_out[q]
                    before = w_out[rows]
                    train_pairs(w_in, w_out, x, y, tables[q], cfg.negative, alpha_start, alpha_end, cell_rng, step)
                    if p // g < sharers - 1:  # every sharer starts from the sub-epoch's copy of the block
                        changes.append((rows, w_out[rows] - before))
                        w_out[rows] = before
                for rows, change in changes:  # the last sharer's rows plus the others' changes
                    w_out[rows] += change
    return quality(vocab, w_in)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--sharers", type=int, default=2, help="tasks training against one output block at once")
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    _, scores = over_seeds(args.seeds, lambda seed: run(vocab, ids, lengths, TrainConfig(seed=seed).validate(
        require_io=False), args.shards, args.sharers))
    print(f"{args.shards} shards, {args.shards // args.sharers} output blocks ({args.sharers} tasks each): {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
