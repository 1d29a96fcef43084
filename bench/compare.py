"""Side-by-side benchmark: sparkw2v vs gensim Word2Vec vs Spark MLlib Word2Vec.

Every trainer runs in its own subprocess on the same corpus and machine, in one
invocation, so the table compares like with like. Peak memory is the largest
resident set of the subprocess and all its children (the JVM and Python
workers for Spark runs), sampled every 50 ms.

    python bench/compare.py                       # bundled Brown corpus, skip-gram, all peers
    python bench/compare.py --cbow --seeds 3      # CBOW, mean of 3 seeds
    python bench/compare.py --peers ours,gensim1 --repeat 4 --partitions 2,8

Words/s is corpus words x epochs / training seconds. Training seconds exclude
Spark start-up; for gensim they exclude build_vocab; MLlib's fit() cannot be
split, so its training seconds include its vocabulary pass.

"process s" is what a user times: from starting the subprocess (interpreter,
imports, Spark's start, reading the corpus) to the model saved on disk (ours: a
published version; gensim: ``KeyedVectors.save``; MLlib: ``model.save``).
Scoring the vectors afterwards is not included.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proctree import tree_rss  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT / "sparkw2v" / "data" / "brown.txt.gz"
EVAL = ROOT.parent / "shared" / "eval"
HYPER = dict(vector_size=100, window=5, min_count=5, epochs=5, negative=5, sample=1e-3)


# -- the trainers, each run inside a subprocess -------------------------------------------------

def _sentences(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [line.split() for line in fh if line.strip()]


def _score(words, matrix, counts=None) -> dict:
    from sparkw2v.evaluation import evaluate
    from sparkw2v.vectors import WordVectors
    wv = WordVectors(words, matrix, counts)
    return evaluate(wv, similarity_path=str(EVAL / "wordsim353.tsv"),
                    analogy_path=str(EVAL / "questions-words.txt"))


def run_gensim(args) -> dict:
    from gensim.models import Word2Vec as G
    sentences = _sentences(args.corpus)
    words = sum(len(s) for s in sentences)
    started = time.perf_counter()
    model = G(vector_size=HYPER["vector_size"], window=HYPER["window"], min_count=HYPER["min_count"],
              negative=HYPER["negative"], sample=HYPER["sample"], sg=int(args.sg), workers=args.workers,
              seed=args.seed)
    model.build_vocab(sentences)
    trained = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=HYPER["epochs"])
    done = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        model.wv.save(f"{out}/vectors.kv")
        published = time.time()
    wv = model.wv
    counts = [wv.get_vecattr(w, "count") for w in wv.index_to_key]
    return {"wall": done - started, "train": done - trained, "corpus_words": words, "published_at": published,
            **_score(list(wv.index_to_key), wv.vectors, counts)}


def _spark(cores: int, jit: str = "library"):
    """A local session as ``sparkw2v train`` starts one (``jit='library'``: C1 only, see
    ``sparkw2v.session.LOCAL_JIT_OPTIONS``), or with the JVM's own compilers (``'default'``, what
    an MLlib user's session has: MLlib's training is JVM work and ran over 10x slower on C1)."""
    from sparkw2v.session import get_session
    return get_session("bench", master=f"local[{cores}]", conf={"spark.ui.enabled": "false",
                                                                "spark.driver.memory": "4g"},
                       light_jvm=jit == "library")


def run_ours(args) -> dict:
    from sparkw2v import TrainConfig, Word2Vec
    from sparkw2v.session import start_python_workers
    spark = _spark(args.cores)
    start_python_workers(spark)   # as sparkw2v train does
    cfg = TrainConfig(input=args.corpus, sg=args.sg, num_partitions=args.partitions, seed=args.seed,
                      syncs_per_epoch=args.syncs, **({"combine": args.combine} if args.combine else {}), **HYPER)
    started = time.perf_counter()
    model = Word2Vec(cfg).fit_input(spark)
    done = time.perf_counter()
    info = model.result.info
    with tempfile.TemporaryDirectory() as out:
        model.save(f"{out}/model")
        published = time.time()
    history = model.result.history
    # Overhead: epoch wall time not spent inside training tasks (tasks run min(P, cores) at a time).
    parallel = min(info["num_partitions"], args.cores)
    overhead = sum(h["seconds"] - h["task_seconds"] / parallel for h in history)
    # Without the wait for the slowest task: launching, creating the broadcast, collecting, combining
    # (reading the broadcast and pickling results happen inside tasks; JSON output only).
    outside = sum(h["seconds"] - h.get("slowest_task_seconds", h["task_seconds"] / parallel) for h in history)
    return {"wall": done - started, "train": info["train_seconds"], "corpus_words": model.vocab.corpus_words,
            "published_at": published, **{k: v for k, v in info.items() if k in PHASES},
            "epoch_overhead": overhead / max(info["train_seconds"], 1e-9),
            "outside_tasks": outside / max(info["train_seconds"], 1e-9),
            **_score(model.wv.words, model.wv.vectors, model.vocab.counts)}


def run_mllib(args) -> dict:
    import numpy as np
    from pyspark.ml.feature import Word2Vec as M
    from pyspark.sql import functions as F
    spark = _spark(args.cores, args.mllib_jit)
    frame = spark.read.text(args.corpus).select(F.split(F.trim("value"), r"\s+").alias("tokens"))
    frame = frame.filter(F.size("tokens") > 0).cache()
    words = frame.select(F.sum(F.size("tokens"))).first()[0]
    started = time.perf_counter()
    model = M(vectorSize=HYPER["vector_size"], windowSize=HYPER["window"], minCount=HYPER["min_count"],
              maxIter=HYPER["epochs"], numPartitions=args.partitions, seed=args.seed,
              inputCol="tokens").fit(frame)
    done = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        model.write().save(f"{out}/model")
        published = time.time()
    rows = model.getVectors().collect()
    words_list = [r.word for r in rows]
    matrix = np.array([r.vector.toArray() for r in rows], dtype=np.float32)
    return {"wall": done - started, "train": done - started, "corpus_words": words, "published_at": published,
            **_score(words_list, matrix)}


#: Our phases reported beside the table (seconds, from the run's info dict).
PHASES = ("count_seconds", "encode_seconds", "train_seconds")

RUNNERS = {"gensim": run_gensim, "ours": run_ours, "mllib": run_mllib}


# -- the parent: subprocesses, memory sampling, the table ---------------------------------------

def measure(peer: str, options: list[str], args) -> dict:
    cmd = [sys.executable, __file__, "--run-one", peer, "--corpus", args.corpus, *options]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out:
        spawned = time.time()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.05)
        out.seek(0)
        lines = out.read().decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{peer} {' '.join(options)} failed (exit {proc.returncode}); run it alone: "
                           f"{' '.join(cmd)}")
    result = json.loads(lines[-1])
    result["process"] = result.pop("published_at") - spawned
    result["peak_mb"] = peak / 2**20
    result["words_per_second"] = result["corpus_words"] * HYPER["epochs"] / result["train"]
    return result


def _enlarge(corpus: str, repeat: int) -> str:
    if repeat <= 1:
        return corpus
    target = Path(tempfile.gettempdir()) / f"sparkw2v-bench-x{repeat}-{Path(corpus).name}"
    if not target.exists():
        with open(target, "wb") as out:
            for _ in range(repeat):
                with open(corpus, "rb") as src:
                    shutil.copyfileobj(src, out)
    return str(target)  # concatenated gzip members are one valid gzip stream


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="text corpus, one sentence per line")
    parser.add_argument("--repeat", type=int, default=1, help="concatenate the corpus N times")
    parser.add_argument("--cbow", dest="sg", action="store_false", help="CBOW instead of skip-gram")
    parser.add_argument("--peers", default="ours,gensim1,gensim2,mllib",
                        help="comma list of: ours, gensim1, gensim2, mllib")
    parser.add_argument("--partitions", default="1,2,8", help="MLlib numPartitions to run (ours: --ours-partitions)")
    parser.add_argument("--ours-partitions", default="2", help="our partitions to run, comma list")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per configuration (mean reported)")
    parser.add_argument("--cores", type=int, default=2, help="local[N] for Spark runs")
    parser.add_argument("--syncs", type=int, help="our syncs_per_epoch (default: the library's)")
    parser.add_argument("--combine", help="our combine rule (default: the library's)")
    parser.add_argument("--min-count", type=int, default=HYPER["min_count"], help="every trainer's min_count")
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument("--mllib-jit", choices=("default", "library"), default="default",
                        help="MLlib's driver JVM: the JVM's own JIT compilers (default), or sparkw2v's "
                             "local choice (C1 only)")
    # internal: run one trainer and print its JSON result
    parser.add_argument("--run-one", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--partitions-one", dest="partitions_one", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    HYPER["min_count"] = args.min_count

    if args.run_one:
        args.partitions = args.partitions_one
        result = RUNNERS[args.run_one](args)
        print(json.dumps(result))
        return 0

    args.corpus = _enlarge(args.corpus, args.repeat)
    mode = (["--cbow"] if not args.sg else []) + ["--min-count", str(args.min_count)]
    configs = []
    for peer in args.peers.split(","):
        if peer == "ours":
            for n in args.ours_partitions.split(","):
                options = ["--partitions-one", n, "--cores", str(args.cores)]
                options += ["--syncs", str(args.syncs)] if args.syncs else []
                options += ["--combine", args.combine] if args.combine else []
                configs.append((f"sparkw2v p={n}", "ours", options))
        elif peer in ("gensim1", "gensim2"):
            configs.append((f"gensim workers={peer[-1]}", "gensim", ["--workers", peer[-1]]))
        elif peer == "mllib":
            for n in args.partitions.split(","):
                configs.append((f"mllib p={n}", "mllib", ["--partitions-one", n, "--cores", str(args.cores),
                                                          "--mllib-jit", args.mllib_jit]))
        else:
            parser.error(f"unknown peer {peer!r}")
    results = {}
    for label, peer, options in configs:
        runs = []
        for seed in range(1, args.seeds + 1):
            runs.append(measure(peer, [*options, *mode, "--seed", str(seed)], args))
            print(f"  {label} seed {seed}: {runs[-1]['train']:.1f}s, ws {runs[-1]['wordsim_spearman']:.3f}, "
                  f"analogy {runs[-1]['analogy_3cosadd']:.3f}", file=sys.stderr, flush=True)
        results[label] = {key: statistics.mean(r[key] for r in runs) for key in runs[0]
                          if isinstance(runs[0][key], (int, float))}
        if args.seeds > 1:
            for key in ("wordsim_spearman", "analogy_3cosadd"):
                results[label][key + "_sd"] = statistics.stdev(r[key] for r in runs)
    # The ratio column compares peers to our run with as many partitions as cores (else our first run).
    ours_label = next((k for k in results if k == f"sparkw2v p={args.cores}"),
                      next((k for k in results if k.startswith("sparkw2v")), None))
    ours = results.get(ours_label)
    print(f"\ncorpus {args.corpus} x{args.repeat}, {'skip-gram' if args.sg else 'CBOW'}, {HYPER}, "
          f"{args.seeds} seed(s), local[{args.cores}] for Spark")
    header = f"{'trainer':<20}{'process s':>10}{'wall s':>8}{'train s':>9}" \
             f"{'words/s':>11}{'peak MB':>9}{'WS353':>8}{'analogy':>9}" \
             f"{'speed ratio':>13}{'WS ratio':>10}{'analogy ratio':>15}{'process ratio':>15}"
    print(header)
    for label, r in results.items():
        ratios = [f"{ours[key] / r[key]:.2f}x" if ours and r[key] else "-"
                  for key in ("words_per_second", "wordsim_spearman", "analogy_3cosadd")]
        process = f"{r['process'] / ours['process']:.2f}x" if ours else "-"
        print(f"{label:<20}{r['process']:>10.1f}{r['wall']:>8.1f}{r['train']:>9.1f}"
              f"{r['words_per_second']:>11.0f}{r['peak_mb']:>9.0f}"
              f"{r['wordsim_spearman']:>8.3f}{r['analogy_3cosadd']:>9.3f}{ratios[0]:>13}{ratios[1]:>10}{ratios[2]:>15}"
              f"{process:>15}")
    print(f"ratios are {ours_label} / each trainer (speed: words/s; process: each trainer's process "
          "seconds / ours; >1 means ours is faster or better)")
    for label, r in results.items():
        if label.startswith("sparkw2v"):
            print(f"{label} phases: " + ", ".join(f"{k.replace('_seconds', '')} {r[k]:.1f}s"
                                                  for k in PHASES if k in r))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
