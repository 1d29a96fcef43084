"""CBOW with output rows owned, input rows combined: a screen without Spark.

    python bench/cbow_owned_proto.py --shards 8 --seeds 1,2,3                      # sum input changes per sub-epoch
    python bench/cbow_owned_proto.py --shards 8 --seeds 1,2,3 --input mean         # their update-weighted mean
    python bench/cbow_owned_proto.py --shards 1 --seeds 1,2,3                      # the same code, one shard

Averaging CBOW loses accuracy as the words each shard trains between syncs grow. Here the
output rows are dealt into K blocks each epoch and owned as in ``sparkw2v.stratified``: in
sub-epoch ``s`` shard ``p`` trains only the centres of its own text whose word is in output
block ``(p + s) mod K``, with negatives from that block, so no two shards write one output
row. Context (input) rows cannot be owned (a centre's contexts fall in every block): each
shard trains a copy of the input matrix and the copies' changes are summed (or averaged)
after every sub-epoch. Shards run one after another here, which gives what K tasks at once
would (their output rows are disjoint, their input copies independent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from shards_lab import encode, over_seeds, quality, shards_of  # noqa: E402
from sparkw2v import stratified  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.kernel import KernelStats, cbow_step, sentence_room, window_offsets  # noqa: E402
from sparkw2v.sampling import keep_probabilities, negative_table  # noqa: E402
from sparkw2v.training import initial_weights, learning_rate  # noqa: E402


def cbow_examples(tokens, starts, keep_prob, window, rng):
    """One epoch's CBOW examples of a shard: centre ids, their ``(m, 2 window)`` context ids and
    which of those are real (subsampled, reduced windows, cut at sentence edges)."""
    total = int(starts[-1]) if starts.size else 0
    sentence_of = np.repeat(np.arange(starts.size - 1, dtype=np.int32), np.diff(starts))
    keep = rng.random(total, dtype=np.float32) < keep_prob[tokens[:total]]
    words, sentence_of = tokens[:total][keep], sentence_of[keep]
    if words.size < 2:
        return np.zeros(0, np.int32), np.zeros((0, 2 * window), np.int32), np.zeros((0, 2 * window), bool)
    reduced = rng.integers(1, window + 1, size=words.size, dtype=np.int32)
    left, right = sentence_room(sentence_of)
    offsets = window_offsets(window)
    valid = (np.abs(offsets) <= reduced[:, None]) & (offsets >= -left[:, None]) & (offsets <= right[:, None])
    contexts = words[np.clip(np.arange(words.size)[:, None] + offsets, 0, words.size - 1)]
    has = valid.any(axis=1)
    return words[has].astype(np.int32), contexts[has].astype(np.int32), valid[has]


def run(vocab, ids, lengths, cfg: TrainConfig, k: int, sub_epochs: int, combine_input: str, step_centres: int) -> dict:
    shards = shards_of(ids, lengths, k)
    keep = keep_probabilities(vocab.counts, cfg.sample)
    rounds = max(1, -(-sub_epochs // k))
    group = cfg.effective_negative_group
    draws = cfg.negative_draws_for(group)
    weight = np.float32(cfg.negative / draws)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    stats = KernelStats()
    for epoch in range(cfg.epochs):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, epoch, 0xCB0]))
        owner = stratified.assign_blocks(stratified.pair_load(vocab.counts, cfg.sample), k, rng)
        tables = []
        for q in range(k):
            rows = np.flatnonzero(owner == q)
            tables.append(rows[negative_table(vocab.counts[rows], cfg.ns_exponent,
                                              size=max(1 << 16, 64 * rows.size))].astype(np.int32))
        cells = []  # per shard: (centres, contexts, valid) and, per (round, block), the example indices
        for p, (tokens, starts) in enumerate(shards):
            c, ctx, val = cbow_examples(tokens, starts, keep, cfg.window, np.random.default_rng([cfg.seed, epoch, p]))
            round_of = (np.arange(c.size) * rounds) // max(c.size, 1)
            key = round_of * k + owner[c]
            order = np.argsort(key, kind="stable")
            bounds = np.searchsorted(key[order], np.arange(rounds * k + 1))
            cells.append((c, ctx, val, order, bounds))
        for r in range(rounds):
            for s in range(k):
                at = (r * k + s) / (rounds * k)
                a0 = learning_rate(cfg, (epoch + at) / cfg.epochs)
                a1 = learning_rate(cfg, (epoch + at + 1 / (rounds * k)) / cfg.epochs)
                start = w_in.copy()
                total, counts = np.zeros_like(w_in), np.zeros(len(vocab), np.float32)
                for p, (c, ctx, val, order, bounds) in enumerate(cells):
                    q = (p + s) % k
                    picked = order[bounds[r * k + q]:bounds[r * k + q + 1]]
                    if not picked.size:
                        continue
                    copy = start.copy() if k > 1 else w_in
                    crng = np.random.default_rng([cfg.seed, epoch, r, s, p, 0xCE11])
                    for lo in range(0, picked.size, step_centres):
                        part = picked[lo:lo + step_centres]
                        m = part.size
                        g = -(-m // group)
                        negs = tables[q][crng.integers(0, tables[q].size, size=(g, draws))]
                        alpha = np.float32(a0 + (a1 - a0) * lo / picked.size)
                        cbow_step(copy, w_out, c[part], ctx[part], val[part], negs, alpha, False, stats,
                                  cap=16, weight=weight)
                    if k > 1:
                        change = copy - start
                        touched = np.bincount(ctx[picked][val[picked]], minlength=len(vocab)).astype(np.float32)
                        if combine_input == "sum":
                            total += change
                        else:
                            total += change * touched[:, None]
                            counts += touched
                if k > 1:
                    if combine_input == "sum":
                        w_in = start + total
                    else:
                        w_in = start + np.divide(total, counts[:, None], out=np.zeros_like(total),
                                                 where=counts[:, None] > 0)
    return quality(vocab, w_in)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--sub-epochs", type=int, default=128, help="sub-epochs (input syncs) per epoch")
    parser.add_argument("--input", choices=("sum", "mean"), default="sum", help="how input copies combine")
    parser.add_argument("--step", type=int, default=0, help="centres per step (0: 1024 / shards, at least 32)")
    args = parser.parse_args(argv)
    vocab, ids, lengths = encode(args.corpus, 5)
    step = args.step or max(32, 1024 // args.shards)
    _, scores = over_seeds(args.seeds, lambda seed: run(vocab, ids, lengths, TrainConfig(sg=False, seed=seed).validate(
        require_io=False), args.shards, args.sub_epochs, args.input, step))
    print(f"CBOW, output rows owned, {args.shards} shards, {args.sub_epochs} sub-epochs, input {args.input}, "
          f"step {step}: {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
