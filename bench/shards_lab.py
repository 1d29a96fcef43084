"""N shards trained at once, without Spark: a quick bench for combine rules and sync schedules.

    python bench/shards_lab.py --shards 8 --seeds 1,2,3 --combine spread --syncs 16
    python bench/shards_lab.py --shards 32 --cbow --combine mean --syncs 1
    python bench/shards_lab.py --shards 64 --strategy stratified

Does what ``train`` does with ``num_partitions = concurrent_shards = N`` in one process: the
same shard layout (records of whole sentences, ~64K words or fewer, dealt round-robin as from
one input file), the same kernel, random streams, learning rates and combine rule
(:mod:`sparkw2v.combine`) and the same packed float16 changes, summed in shard order; on Brown
at 8 shards, seed 1, it gives Spark's scores to the digit. It needs no JVM and skips Spark's
per-task costs: use it to try rules and schedules, then confirm with ``bench/scaling.py``.
``--bands`` also reports WordSim-353 over each third of its pairs by word frequency and the mean
row norms per frequency band (where a variant gains or loses).

``--strategy stratified`` trains as the library does with the rows ``--owned-rows`` picks
(``TrainConfig.effective_owned_rows``): owning output rows only (CBOW, and skip-gram with
``--owned-rows output``), each shard's ``executor.train_partition`` per sub-epoch with the
changes summed, as averaging does; owning both (skip-gram), :mod:`sparkw2v.stratified`'s executor
functions with the shuffle and broadcasts done here. Both give Spark's vectors bit for bit (4
shards, 2 epochs, the first 8,000 lines of Brown).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparkw2v import combine, stratified  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.evaluation import evaluate  # noqa: E402
from sparkw2v.executor import RECORD_WORDS, train_partition  # noqa: E402
from sparkw2v.training import averaging_schedule, initial_weights, learning_rate, sync_task  # noqa: E402
from sparkw2v.vectors import WordVectors  # noqa: E402
from sparkw2v.vocabulary import Vocabulary  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def encode(path: str, min_count: int, shuffle: int | None = None) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
    """Vocabulary, token ids and sentence lengths of a whitespace-tokenised, lower-cased text file;
    with ``shuffle``, its lines in the order ``random.Random(shuffle).shuffle`` gives them."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as fh:
        text = list(fh)
    if shuffle is not None:
        random.Random(shuffle).shuffle(text)
    lines = [line.lower().split() for line in text]
    vocab = Vocabulary.from_counts(Counter(w for s in lines for w in s).items(), min_count)
    index = vocab.index()
    ids, lengths = [], []
    for sentence in lines:
        kept = [index[w] for w in sentence if w in index]
        if kept:
            ids.extend(kept)
            lengths.append(len(kept))
    return vocab, np.array(ids, np.int32), np.array(lengths, np.int64)


def quality(vocab, w_in: np.ndarray) -> dict:
    """WordSim-353 Spearman and 3CosAdd analogy accuracy of input vectors ``w_in``."""
    scores = evaluate(WordVectors(vocab.words, w_in), EVAL / "wordsim353.tsv", EVAL / "questions-words.txt",
                      methods=("3cosadd",))
    return {"ws": scores["wordsim_spearman"] or 0.0, "analogy": scores["analogy_3cosadd"]}


#: Frequency-rank bands (0-based ranks, lower bound inclusive) of ``--bands``' row norms.
NORM_BANDS = (0, 100, 1000, 4000)


def bands(vocab, w_in: np.ndarray, w_out: np.ndarray) -> dict:
    """Where the scores come from, by word frequency: WordSim-353 Spearman over each third of its
    pairs (by the rarer word's frequency rank: ``ws_t1`` the most frequent third), and the mean
    norm of the input and output rows in each band of :data:`NORM_BANDS`."""
    from sparkw2v.evaluation import _read_pairs, spearman
    order = np.argsort(-np.asarray(vocab.counts), kind="stable")
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    index = vocab.index()
    pairs = [(index[a.lower()], index[b.lower()], s) for a, b, s in
             _read_pairs(EVAL / "wordsim353.tsv", "\t", "utf-8") if a.lower() in index and b.lower() in index]
    a, b, human = (np.array(c) for c in zip(*pairs))
    unit = w_in / np.maximum(np.linalg.norm(w_in, axis=1, keepdims=True), 1e-12)
    cosine = np.einsum("ij,ij->i", unit[a], unit[b])
    rarer = np.maximum(rank[a], rank[b])
    third = np.searchsorted(np.quantile(rarer, [1 / 3, 2 / 3]), rarer, side="left")
    out = {f"ws_t{t + 1}": spearman(human[third == t], cosine[third == t]) for t in range(3)}
    edges = list(NORM_BANDS) + [order.size]
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = order[lo:hi]
        out[f"norm_in_{lo}"] = float(np.linalg.norm(w_in[rows], axis=1).mean())
        out[f"norm_out_{lo}"] = float(np.linalg.norm(w_out[rows], axis=1).mean())
    return out


def shards_of(ids: np.ndarray, lengths: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Records of whole sentences of at least ``min(RECORD_WORDS, words / n)`` words, record r in
    shard r mod n, as ``corpus.encode_corpus`` lays out one input partition."""
    record_words = max(1, min(RECORD_WORDS, -(-ids.size // n)))
    ends = np.cumsum(lengths)
    records, first, start = [], 0, 0
    while first < lengths.size:
        last = int(np.searchsorted(ends, start + record_words, side="left"))  # sentence closing the record
        last = min(last, lengths.size - 1)
        records.append((first, last + 1))
        start, first = int(ends[last]), last + 1
    starts = np.concatenate([[0], ends])
    shards = []
    for s in range(n):
        mine = records[s::n]
        tokens = np.concatenate([ids[starts[a]:starts[b]] for a, b in mine]) if mine else np.zeros(0, np.int32)
        lens = np.concatenate([lengths[a:b] for a, b in mine]) if mine else np.zeros(0, np.int64)
        sentence_starts = np.zeros(lens.size + 1, np.int64)
        np.cumsum(lens, out=sentence_starts[1:])
        shards.append((tokens, sentence_starts))
    return shards


def run(vocab, ids, lengths, cfg: TrainConfig, n: int, owned: bool = False, vectors: list | None = None,
        output_mean: bool = False, input_every: int = 1) -> dict:
    """Averaging; ``owned``: stratified owning output rows (owned per sub-epoch, changes summed). The
    library's schedule (``training.averaging_schedule``, ``training.sync_task``) and task function
    (``executor.train_partition``); the updates are summed here in shard order. ``vectors``: the
    trained input and output matrices are appended to it (to compare with Spark's). ``output_mean`` (a screen):
    shared output rows take their sharers' mean change, not the sum. ``input_every`` (a screen): the
    summed input-row changes are added every that many syncs (and at each epoch's end), so the
    tasks between read stale input rows, as they would if only the output blocks moved per sync."""
    shards = shards_of(ids, lengths, n)
    records = [[((i, 0, 0), (tokens, np.diff(starts)))] if tokens.size else [] for i, (tokens, starts) in
               enumerate(shards)]

    schedule = _schedule(vocab, ids, cfg, shards, owned)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    started = time.perf_counter()
    for epoch in range(cfg.epochs):
        _average_epoch(vocab, cfg, schedule, records, epoch, w_in, w_out, owned, output_mean, input_every)
    seconds = time.perf_counter() - started
    if vectors is not None:
        vectors.append((w_in, w_out))
    return {**quality(vocab, w_in), "seconds": seconds,
            "syncs_per_epoch": schedule.syncs}


def _schedule(vocab, ids, cfg: TrainConfig, shards: list, owned: bool = False):
    """``training.averaging_schedule`` for these shards."""
    def spread():
        counts = np.stack([np.bincount(t, minlength=len(vocab)) for t, _ in shards]).astype(np.float64)
        squares = (counts ** 2).sum(0)
        return np.divide(counts.sum(0) ** 2, squares, out=np.ones(len(vocab)), where=squares > 0)
    busy = sum(1 for tokens, _ in shards if tokens.size)
    return averaging_schedule(vocab, cfg, busy, ids.size, len(shards), spread, owned)


def _average_epoch(vocab, cfg: TrainConfig, schedule, records: list, epoch: int, w_in: np.ndarray,
                   w_out: np.ndarray, owned: bool = False, output_mean: bool = False, input_every: int = 1) -> None:
    """One epoch of averaging's syncs (``owned``: stratified training's owning output rows), in place: each shard's
    ``train_partition``, the changes summed in shard order and applied by the schedule's rule."""
    rule, key = schedule.rule, uuid.uuid4().hex
    model, tables = _Held((w_in, w_out)), _Held((vocab.counts, schedule.rates))
    owners = _Held(stratified.output_owners(vocab.counts, cfg.sample, schedule.owned_blocks, cfg.seed, epoch)) \
        if owned else None
    pending = None
    for sync in range(schedule.syncs):
        task = sync_task(cfg, schedule, epoch, sync, len(vocab), key)
        summed = None
        for index in range(len(records)):
            for block, value in train_partition(index, records[index], task, model, tables, owners):
                if block == 0:  # one block of all the rows; the other record is the stats
                    summed = combine.unpack_block(value[1]) if summed is None else combine.add_into(summed, value[1])
        n_in, n_out, touched, d_in, d_out = summed
        pending = d_in if pending is None else pending + d_in
        if (sync + 1) % input_every == 0 or sync + 1 == schedule.syncs:
            rule.apply(w_in, n_in, touched[0], pending)
            pending = None
        if owned and output_mean:  # a screen: shared output rows take the sharers' mean change
            d_out /= np.maximum(touched[1], 1)[:, None]
        rule.apply(w_out, n_out, touched[1], d_out)


class _Held:
    """Stands in for a broadcast: ``.value``."""

    def __init__(self, value):
        self.value = value


def run_stratified(vocab, ids, lengths, cfg: TrainConfig, n: int, vectors: list | None = None,
                   average_last: int = 0, average_syncs: int | None = None) -> dict:
    """What ``train`` does with ``strategy = 'stratified'``: the library's executor functions,
    with the shuffle and the broadcasts done in this process. ``average_last`` (a screen, not in the
    library): the last that many epochs train by averaging instead (each shard's copy by the window
    kernel, merged by ``cfg.combine``), with the rule's syncs per epoch or ``average_syncs``."""
    shards = shards_of(ids, lengths, n)
    records = [[((i, 0, 0), (tokens, np.diff(starts)))] if tokens.size else [] for i, (tokens, starts) in
               enumerate(shards)]
    g = stratified.output_blocks(n)
    rounds = stratified.rounds_per_epoch(n, ids.size, cfg.syncs_per_epoch, g)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    owners = _Held((vocab.counts, *stratified.block_owners(vocab.counts, cfg.sample, n, cfg.seed)))
    started = time.perf_counter()
    if average_last:
        averaged = dataclasses.replace(cfg, syncs_per_epoch=average_syncs)
        schedule = _schedule(vocab, ids, averaged, shards)
    for epoch in range(cfg.epochs):
        if epoch >= cfg.epochs - average_last:
            _average_epoch(vocab, averaged, schedule, records, epoch, w_in, w_out)
            continue
        task = stratified.PairTask(cfg.seed, epoch, cfg.window, cfg.sample, n, rounds, g)
        routed = [[] for _ in range(n)]
        for index, recs in enumerate(records):
            for p, value in stratified.route_pairs(index, recs, task, owners):
                routed[p].append((p, value))
        pairs = routed
        # The blocks each task holds, moved between sub-epochs as Spark's shuffle moves them.
        first = tuple(stratified.pairing(cfg.seed, epoch, 0, g)[0].tolist())
        held = {b: list(stratified.deal_blocks(b, (), owners, _Held((w_in, w_out)), first)) for b in range(n)}
        for r in range(rounds):
            for s in range(g):
                cell = stratified.CellTask(cfg.seed, epoch, r, s, n, rounds, cfg.negative, cfg.ns_exponent,
                                           *sub_epoch_alphas(cfg, epoch, r * g + s, rounds * g),
                                           stratified.step_pairs(n), cfg.vector_size, g,
                                           stratified.next_holders(cfg.seed, epoch, r, s, rounds, g))
                moved = {p: [] for p in range(n)}
                for p in range(n):
                    round_pairs = [record for record in pairs[p] if record[1][2] == r]
                    for key, block in stratified.train_sub_epoch(p, round_pairs + held[p], cell, owners):
                        moved[key].append((key, block))
                held = moved
        stratified.collect_blocks([record for blocks in held.values() for record in blocks], w_in, w_out,
                                  owners.value[1], owners.value[2])
    seconds = time.perf_counter() - started
    if vectors is not None:
        vectors.append((w_in, w_out))
    return {**quality(vocab, w_in), "seconds": seconds,
            "syncs_per_epoch": rounds * g}


def sub_epoch_alphas(cfg: TrainConfig, epoch: int, step: int, steps: int) -> tuple[float, float]:
    """The learning rate at the start and end of sub-epoch ``step`` of an epoch of ``steps``."""
    at = step / steps
    return (learning_rate(cfg, (epoch + at) / cfg.epochs),
            learning_rate(cfg, (epoch + at + 1 / steps) / cfg.epochs))


def over_seeds(seeds: str, train: Callable[[int], dict]) -> tuple[list[dict], str]:
    """``train(seed)`` for every seed of ``seeds`` ("1,2,3"), each result printed as a JSON line
    (with its seconds, if it has none); returns the results and their scores' mean ± standard
    deviation, as text."""
    runs = []
    for seed in [int(s) for s in seeds.split(",")]:
        started = time.perf_counter()
        result = train(seed)
        result.setdefault("seconds", time.perf_counter() - started)
        runs.append(result)
        print(json.dumps({"seed": seed, **result}), flush=True)
    ws, analogy = np.array([r["ws"] for r in runs]), np.array([r["analogy"] for r in runs])
    return runs, f"WS353 {ws.mean():.3f} ± {ws.std():.3f}, analogy {analogy.mean():.4f} ± {analogy.std():.4f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--shuffle-sentences", type=int, metavar="SEED",
                        help="train on the corpus's lines in a random order (random.Random(SEED).shuffle): "
                             "Brown is sorted by genre, and its order alone moves one shard's WordSim-353")
    parser.add_argument("--shards", type=int, default=8, help="shards trained at once")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--cbow", action="store_true")
    parser.add_argument("--combine", default=TrainConfig.combine)
    parser.add_argument("--strategy", default="average", choices=("average", "stratified"))
    parser.add_argument("--syncs", type=int, help="syncs per epoch (default: the rule's choice)")
    parser.add_argument("--alpha-scale", type=float, help="partition_alpha_scale (default: the rule's)")
    parser.add_argument("--alpha", type=float, help="TrainConfig.alpha, the initial learning rate (default: the mode's)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--batch-words", type=int, help="TrainConfig.batch_words (default: the mode's)")
    parser.add_argument("--share-from", type=int,
                        help=f"shards from which output blocks are shared (default {stratified.SHARE_OUTPUT_FROM})")
    parser.add_argument("--step-pairs-by-blocks", type=int,
                        help=f"skip-gram's pairs per step times blocks (default {stratified.STEP_PAIRS_BY_BLOCKS})")
    parser.add_argument("--output-mean", action="store_true",
                        help="stratified CBOW: a shared output row takes its sharers' mean change (a screen)")
    parser.add_argument("--average-last", type=int, default=0,
                        help="stratified skip-gram: train the last N epochs by averaging instead (a screen)")
    parser.add_argument("--average-syncs", type=int,
                        help="syncs per epoch of those averaged epochs (default: the rule's choice)")
    parser.add_argument("--bands", action="store_true",
                        help="also report WordSim-353 per third of its pairs by word frequency, and row norms "
                             "per frequency band")
    parser.add_argument("--owned-rows", default=TrainConfig.owned_rows, choices=("auto", "output", "both"),
                        help="stratified skip-gram: the rows a task owns (TrainConfig.owned_rows)")
    parser.add_argument("--input-every", type=int, default=1,
                        help="stratified CBOW: add the input rows' summed changes every N syncs (a screen)")
    args = parser.parse_args(argv)
    if args.share_from:
        stratified.SHARE_OUTPUT_FROM = args.share_from
    if args.step_pairs_by_blocks:
        stratified.STEP_PAIRS_BY_BLOCKS = args.step_pairs_by_blocks
    vocab, ids, lengths = encode(args.corpus, args.min_count, args.shuffle_sentences)

    def train(seed: int) -> dict:
        cfg = TrainConfig(sg=not args.cbow, seed=seed, combine=args.combine, syncs_per_epoch=args.syncs,
                          partition_alpha_scale=args.alpha_scale, min_count=args.min_count,
                          batch_words=args.batch_words, alpha=args.alpha, epochs=args.epochs,
                          owned_rows=args.owned_rows).validate(require_io=False)
        vectors: list = []
        if args.strategy == "stratified" and cfg.effective_owned_rows == "output":  # changes summed
            result = run(vocab, ids, lengths, cfg, args.shards, owned=True, vectors=vectors,
                         output_mean=args.output_mean, input_every=args.input_every)
        elif args.strategy == "stratified":
            result = run_stratified(vocab, ids, lengths, cfg, args.shards, vectors=vectors,
                                    average_last=args.average_last, average_syncs=args.average_syncs)
        else:
            result = run(vocab, ids, lengths, cfg, args.shards, vectors=vectors)
        return {**result, **bands(vocab, *vectors[0])} if args.bands else result
    runs, scores = over_seeds(args.seeds, train)
    if args.bands:
        keys = [k for k in runs[0] if k.startswith(("ws_t", "norm_"))]
        print("means by frequency: " + ", ".join(f"{k} {np.mean([r[k] for r in runs]):.4f}" for k in keys))
    print(f"{args.shards} shards, {args.combine}, {'CBOW' if args.cbow else 'skip-gram'}, "
          f"{runs[0]['syncs_per_epoch']} syncs/epoch: {scores} ({len(runs)} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
