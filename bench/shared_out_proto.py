"""Stratified skip-gram with fewer output blocks than tasks, screened without Spark.

    python bench/shared_out_proto.py --shards 64 --sharers 2 --seeds 1,2,3

K tasks own K input blocks as the library does, but the output rows are dealt into
G = K / sharers blocks: in sub-epoch ``s`` task ``p`` trains cell ``(p, (p + s) mod G)``, so
``sharers`` tasks train against each output block at once, each from the same copy, and
their changes to it are summed after the sub-epoch (input rows stay exact: one owner). A
round is G sub-epochs; rounds per epoch keep 128 sub-epochs. It uses the library's pairs,
random streams, steps and kernel, on the full matrices: with ``--sharers 1`` it gives the
unshared scheme's scores, with 2 those of the library's default from ``SHARE_OUTPUT_FROM`` shards
(``bench/shards_lab.py --strategy stratified``, to the digit, before 9bd412a drew a fresh pairing
for every round: it keeps the cyclic one), and it can try other counts.

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

from shards_lab import _Held, encode, over_seeds, quality, shards_of, sub_epoch_alphas  # noqa: E402
from sparkw2v import stratified  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.pair_kernel import train_pairs  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def run(vocab, ids, lengths, cfg: TrainConfig, k: int, sharers: int) -> dict:
    if k % sharers:
        raise SystemExit(f"--shards {k} is not a multiple of --sharers {sharers}")
    g = k // sharers
    shards = shards_of(ids, lengths, k)
    rounds = stratified.rounds_per_epoch(k, ids.size, cfg.syncs_per_epoch, g)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x57A7]))
        load = stratified.pair_load(vocab.counts, cfg.sample)
        owner_in, owner_out = stratified.assign_blocks(load, k, rng), stratified.assign_blocks(load, g, rng)
        rows_in = [np.flatnonzero(owner_in == p) for p in range(k)]
        rows_out = [np.flatnonzero(owner_out == q) for q in range(g)]
        tables = [stratified.block_negatives(vocab.counts, rows_out[q], cfg.ns_exponent, ids=True) for q in range(g)]
        task = stratified.PairTask(cfg.seed, epoch, cfg.window, cfg.sample, k, rounds, g)
        routed = [[] for _ in range(k)]   # each input block's records, source partitions in order
        for index, (tokens, starts) in enumerate(shards):
            records = [((index, 0, 0), (tokens, np.diff(starts)))] if tokens.size else []
            for p, value in stratified.route_pairs(index, records, task, _Held((vocab.counts, owner_in, owner_out))):
                routed[p].append(value)
        for r in range(rounds):
            for s in range(g):
                alpha_start, alpha_end = sub_epoch_alphas(cfg, epoch, r * g + s, rounds * g)
                changes = []  # (rows, change) of every sharer but a block's last, in sharer order
                for p in range(k):
                    q = (p + s) % g
                    x, y, _ = stratified.cell_pairs([v for v in routed[p] if v[2] == r], q)
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
