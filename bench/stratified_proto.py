"""Stratified skip-gram variants, screened without Spark: the cells of a sub-epoch trained one
after another on the full matrices.

    python bench/stratified_proto.py --shards 16 --seeds 1,2,3                       # the library's scheme
    python bench/stratified_proto.py --shards 16 --seeds 1,2,3 --negatives global    # whole-vocabulary negatives
    python bench/stratified_proto.py --shards 16 --seeds 1,2,3 --step 32             # shorter steps
    python bench/stratified_proto.py --shards 16 --seeds 1,2,3 --repeat-cap 16       # capped repeats

Uses the library's pairs (:func:`sparkw2v.stratified.route_pairs`), blocks, learning rates,
random streams and pair kernel as they were before 07d87bf and 9bd412a (blocks dealt every
epoch, the fixed cyclic pairing ``(p + s) mod K``): with the defaults it gave ``bench/shards_lab.py
--strategy stratified``'s scores of those builds to the digit below ``stratified.SHARE_OUTPUT_FROM`` shards (it
does not share output blocks; ``bench/shared_out_proto.py`` does). Because the matrices are not cut into blocks,
it can try what a task could not do (negatives outside its output block).
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
from sparkw2v.sampling import negative_table  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402


def block_tables(counts: np.ndarray, owner_out: np.ndarray, blocks: int, exponent: float) -> list[np.ndarray]:
    """Each output block's negative table in vocabulary ids, as :func:`stratified.train_cell` builds it."""
    tables = []
    for q in range(blocks):
        rows = np.flatnonzero(owner_out == q)
        local = negative_table(counts[rows], exponent, size=max(1 << 16, 64 * rows.size))
        tables.append(rows[local].astype(np.int32))
    return tables


def route_epoch(vocab, records: list, cfg: TrainConfig, n: int, rounds: int, epoch: int):
    """The epoch's blocks as the library deals them (``n`` of each, not shared) and every input
    block's :func:`stratified.route_pairs` records: ``(owner_in, owner_out, routed)``."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0x57A7]))
    load = stratified.pair_load(vocab.counts, cfg.sample)
    owner_in, owner_out = stratified.assign_blocks(load, n, rng), stratified.assign_blocks(load, n, rng)
    task = stratified.PairTask(cfg.seed, epoch, cfg.window, cfg.sample, n, rounds)
    routed = [[] for _ in range(n)]
    for index, recs in enumerate(records):
        for p, value in stratified.route_pairs(index, recs, task, _Held((vocab.counts, owner_in, owner_out))):
            routed[p].append(value)
    return owner_in, owner_out, routed


def run(vocab, ids, lengths, cfg: TrainConfig, n: int, negatives: str, step: int, repeat_cap: int) -> dict:
    shards = shards_of(ids, lengths, n)
    records = [[((i, 0, 0), (t, np.diff(st)))] if t.size else [] for i, (t, st) in enumerate(shards)]
    rounds = stratified.rounds_per_epoch(n, ids.size, cfg.syncs_per_epoch)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    whole = negative_table(vocab.counts, cfg.ns_exponent)
    for epoch in range(cfg.epochs):
        owner_in, owner_out, routed = route_epoch(vocab, records, cfg, n, rounds, epoch)
        tables = block_tables(vocab.counts, owner_out, n, cfg.ns_exponent)
        sizes_in, sizes_out = np.bincount(owner_in, minlength=n), np.bincount(owner_out, minlength=n)
        for r in range(rounds):
            for s in range(n):
                alpha_start, alpha_end = sub_epoch_alphas(cfg, epoch, r * n + s, rounds * n)
                for p in range(n):
                    q = (p + s) % n
                    x, y, _ = stratified.cell_pairs([v for v in routed[p] if v[2] == r], q)
                    pairs = min(step or stratified.step_pairs(n), max(16, 2 * min(sizes_in[p], sizes_out[q])))
                    train_pairs(w_in, w_out, x, y, tables[q] if negatives == "block" else whole, cfg.negative,
                                alpha_start, alpha_end, stratified._rng(cfg.seed, epoch, r, s, p, 0xCE11), pairs,
                                repeat_cap=repeat_cap)
    return quality(vocab, w_in)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--negatives", choices=("block", "global"), default="block")
    parser.add_argument("--step", type=int, default=0, help="pairs per step (0: the library's)")
    parser.add_argument("--repeat-cap", type=int, default=0)
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    _, scores = over_seeds(args.seeds, lambda seed: run(vocab, ids, lengths, TrainConfig(seed=seed).validate(
        require_io=False), args.shards, args.negatives, args.step, args.repeat_cap))
    print(f"{args.shards} shards, negatives {args.negatives}, step {args.step or 'default'}, cap {args.repeat_cap}: "
          f"{scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
