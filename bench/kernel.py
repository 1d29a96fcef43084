"""Our NumPy kernel alone (one process, no Spark) against gensim workers=1, in one run.

Both train on the same tokenized corpus with the same hyperparameters; the
kernel gets it encoded to int32 ids the way the Spark job encodes shards.
BLAS is limited to one thread so the comparison is one core against one core.

    python bench/kernel.py                 # skip-gram, bundled Brown corpus, 1 seed
    python bench/kernel.py --cbow --seeds 3
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.evaluation import evaluate  # noqa: E402
from sparkw2v.kernel import KernelParams, train_shard  # noqa: E402
from sparkw2v.sampling import keep_probabilities, negative_table  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402
from sparkw2v.vectors import WordVectors  # noqa: E402
from sparkw2v.vocabulary import Vocabulary  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
HYPER = dict(vector_size=100, window=5, min_count=5, epochs=5, negative=5, sample=1e-3)


def load(path: str) -> list[list[str]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [line.lower().split() for line in fh if line.strip()]


def score(words, matrix) -> dict:
    return evaluate(WordVectors(words, matrix), similarity_path=str(EVAL / "wordsim353.tsv"),
                    analogy_path=str(EVAL / "questions-words.txt"))


def run_ours(sentences, sg: bool, seed: int, batch_words: int, shared_by: int, shared_draws: int) -> dict:
    counts = Counter(w for s in sentences for w in s)
    vocab = Vocabulary.from_counts(counts.items(), HYPER["min_count"])
    index = vocab.index()
    encoded = [np.array([index[w] for w in s if w in index], dtype=np.int32) for s in sentences]
    encoded = [e for e in encoded if e.size]
    tokens = np.concatenate(encoded)
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([e.size for e in encoded], out=starts[1:])
    w_in, w_out = initial_weights(len(vocab), HYPER["vector_size"], seed)
    keep = keep_probabilities(vocab.counts, HYPER["sample"])
    table = negative_table(vocab.counts, 0.75)
    draws = shared_draws or TrainConfig(sg=sg).negative_draws_for(shared_by)
    params = KernelParams(sg=sg, window=HYPER["window"], negative=HYPER["negative"], chunk_words=batch_words,
                          shared_by=shared_by, shared_draws=draws)
    alpha0, alpha1, epochs = (0.025 if sg else 0.05), 1e-4, HYPER["epochs"]
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    for e in range(epochs):
        a = alpha0 - (alpha0 - alpha1) * e / epochs
        b = alpha0 - (alpha0 - alpha1) * (e + 1) / epochs
        train_shard(w_in, w_out, tokens, starts, keep, table, params, a, b, rng)
    seconds = time.perf_counter() - started
    return {"train": seconds, **score(vocab.words, w_in)}


def run_gensim(sentences, sg: bool, seed: int) -> dict:
    from gensim.models import Word2Vec
    model = Word2Vec(vector_size=HYPER["vector_size"], window=HYPER["window"], min_count=HYPER["min_count"],
                     negative=HYPER["negative"], sample=HYPER["sample"], sg=int(sg), workers=1, seed=seed)
    model.build_vocab(sentences)
    started = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=HYPER["epochs"])
    seconds = time.perf_counter() - started
    return {"train": seconds, **score(list(model.wv.index_to_key), model.wv.vectors)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--cbow", dest="sg", action="store_false")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--batch-words", type=int, help="default: the library's (2048 skip-gram, 1024 CBOW)")
    parser.add_argument("--only-ours", action="store_true", help="skip the gensim run")
    parser.add_argument("--shared-by", type=int,
                        help="centres sharing one draw of negatives (default: the library's negative_group, "
                             "1 skip-gram, 16 CBOW)")
    parser.add_argument("--shared-draws", type=int, default=0,
                        help="negatives per shared draw (0: the library's default for --shared-by)")
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.batch_words = args.batch_words or TrainConfig(sg=args.sg).effective_batch_words
    args.shared_by = args.shared_by or TrainConfig(sg=args.sg).effective_negative_group
    sentences = load(args.corpus)
    corpus_words = sum(len(s) for s in sentences)
    rows = {}
    trainers = [("sparkw2v kernel", lambda s: run_ours(sentences, args.sg, s, args.batch_words, args.shared_by,
                                                       args.shared_draws))]
    if not args.only_ours:
        trainers.append(("gensim workers=1", lambda s: run_gensim(sentences, args.sg, s)))
    for name, run in trainers:
        runs = [run(seed) for seed in range(args.first_seed, args.first_seed + args.seeds)]
        rows[name] = {k: statistics.mean(r[k] for r in runs) for k in ("train", "wordsim_spearman", "analogy_3cosadd")}
        rows[name]["words_per_second"] = corpus_words * HYPER["epochs"] / rows[name]["train"]
        print(f"  {name}: " + ", ".join(f"{r['train']:.1f}s ws {r['wordsim_spearman']:.3f} an "
                                        f"{r['analogy_3cosadd']:.3f}" for r in runs), file=sys.stderr)
    ours = rows["sparkw2v kernel"]
    print(f"{'skip-gram' if args.sg else 'CBOW'}, {corpus_words} words, {HYPER}, mean of {args.seeds} seed(s)")
    print(f"{'trainer':<20}{'train s':>9}{'words/s':>11}{'WS353':>8}{'analogy':>9}{'ours/peer':>11}")
    for name, r in rows.items():
        print(f"{name:<20}{r['train']:>9.1f}{r['words_per_second']:>11.0f}{r['wordsim_spearman']:>8.3f}"
              f"{r['analogy_3cosadd']:>9.3f}{ours['words_per_second'] / r['words_per_second']:>10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
