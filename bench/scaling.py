"""Quality and speed against shards trained at once: the cluster case, measured.

    python bench/scaling.py --shards 1,2,4,8,16,32,64 --seeds 3 --modes sg,cbow \
        --mllib 1,2,8,32 --plot bench/scaling.png --json bench/scaling.json

Every sparkw2v run sets ``num_partitions = concurrent_shards = N``: N shards train from the
same broadcast model and are combined, as N task slots of a cluster do (never chains of
shards). On a 2-core machine the N tasks of a sync run two at a time, so words/s here is not
a cluster's; the quality is. Each line (``--lines``, JSON objects of Word2Vec settings with a
``label``) is one curve; the default is the library's defaults. Spark MLlib's Word2Vec runs
at ``--mllib`` partitions (skip-gram only; it has no CBOW) for reference.

Prints one Markdown table per mode (mean and standard deviation over seeds of WordSim-353
Spearman and 3CosAdd analogy accuracy, training words/s, syncs per epoch, the driver's
combining seconds per sync), and writes a PNG plot of quality against shards when
``--plot`` is given (needs matplotlib, a benchmark-only dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sparkw2v import Word2Vec  # noqa: E402
from sparkw2v.evaluation import evaluate  # noqa: E402
from sparkw2v.session import get_session  # noqa: E402
from sparkw2v.vectors import WordVectors  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
HYPER = dict(vector_size=100, window=5, min_count=5, epochs=5, negative=5, sample=1e-3)


def _scores(words, matrix) -> tuple[float, float]:
    s = evaluate(WordVectors(words, matrix), EVAL / "wordsim353.tsv", EVAL / "questions-words.txt",
                 methods=("3cosadd",))
    return float(s["wordsim_spearman"] or 0.0), float(s["analogy_3cosadd"])


def run_ours(frame, settings: dict, shards: int, sg: bool, seed: int) -> dict:
    params = {k: v for k, v in settings.items() if k != "label"}
    model = Word2Vec(text_column="value", sg=sg, seed=seed, num_partitions=shards, concurrent_shards=shards,
                     **HYPER, **params).fit(frame)
    info, history = model.result.info, model.result.history
    ws, analogy = _scores(model.wv.words, model.wv.vectors)
    syncs = sum(h.get("syncs", 1) for h in history)
    return {"ws": ws, "analogy": analogy, "words_per_second": info["words_per_second"],
            "train_seconds": info["train_seconds"], "syncs_per_epoch": syncs / len(history),
            "combine_seconds_per_sync": sum(h.get("combine_seconds", 0.0) for h in history) / max(syncs, 1),
            "rule": info.get("combine") or info.get("strategy"), "alpha_scale": info.get("alpha_scale")}


def run_mllib(tokens, shards: int, seed: int) -> dict:
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec
    started = time.perf_counter()
    model = MLlibWord2Vec(vectorSize=HYPER["vector_size"], windowSize=HYPER["window"], minCount=HYPER["min_count"],
                          maxIter=HYPER["epochs"], numPartitions=shards, seed=seed, inputCol="tokens").fit(tokens)
    seconds = time.perf_counter() - started
    rows = model.getVectors().collect()
    ws, analogy = _scores([r.word for r in rows], np.array([r.vector.toArray() for r in rows], np.float32))
    return {"ws": ws, "analogy": analogy, "train_seconds": seconds}


def _summary(runs: list[dict]) -> dict:
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if values:
            out[key] = float(np.mean(values))
            out[key + "_sd"] = float(np.std(values))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(ROOT / "sparkw2v" / "data" / "brown.txt.gz"))
    parser.add_argument("--repeat", type=int, default=1, help="train on the corpus repeated this many times")
    parser.add_argument("--shards", default="1,2,4,8,16,32,64", help="shards trained at once (comma list)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", default="sg,cbow", help="sg, cbow or both")
    parser.add_argument("--lines", nargs="*", default=['{"label": "default"}'],
                        help="JSON objects of Word2Vec settings, each with a label: one curve each")
    parser.add_argument("--mllib", default="1,2,8,32", help="Spark MLlib numPartitions ('' for none)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("--plot", help="write a PNG plot of quality against shards here")
    parser.add_argument("--from-json", nargs="*", help="plot and tabulate these earlier --json files; run nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        merged = None
        for path in args.from_json:
            part = json.loads(Path(path).read_text())
            merged = part if merged is None else {**merged, "runs": {**merged["runs"], **part["runs"]}}
        print(table(merged))
        if args.plot:
            plot(merged, args.plot)
        return 0

    spark = get_session("sparkw2v-bench-scaling", master=f"local[{args.cores}]",
                        conf={"spark.ui.enabled": "false", "spark.driver.memory": "6g"})
    spark.sparkContext.setLogLevel("ERROR")
    from pyspark.sql import functions as F
    frame = spark.read.text(args.corpus)
    for _ in range(args.repeat - 1):
        frame = frame.unionAll(spark.read.text(args.corpus))
    frame = frame.coalesce(1).cache()
    frame.count()
    shard_counts = [int(x) for x in args.shards.split(",") if x]
    lines = [json.loads(x) for x in args.lines]
    results: dict = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
                     "corpus": args.corpus, "repeat": args.repeat, "seeds": args.seeds, "runs": {}}
    for mode in args.modes.split(","):
        sg = mode == "sg"
        print(f"\n### {'skip-gram' if sg else 'CBOW'}: shards trained at once, {args.seeds} seeds\n", flush=True)
        print("| line | shards | WS353 | analogy | words/s | syncs/epoch | combine s/sync |\n"
              "|---|---:|---:|---:|---:|---:|---:|", flush=True)
        for line in lines:
            for n in shard_counts:
                runs = [run_ours(frame, line, n, sg, seed) for seed in range(1, args.seeds + 1)]
                s = _summary(runs)
                results["runs"][f"{mode}|{line['label']}|{n}"] = {"summary": s, "runs": runs}
                print(f"| {line['label']} | {n} | {s['ws']:.3f} ± {s['ws_sd']:.3f} | {s['analogy']:.4f} ± "
                      f"{s['analogy_sd']:.4f} | {s['words_per_second']:,.0f} | {s['syncs_per_epoch']:.0f} | "
                      f"{s['combine_seconds_per_sync']:.3f} |", flush=True)
        if sg and args.mllib:
            tokens = frame.select(F.split(F.trim("value"), r"\s+").alias("tokens")).filter(F.size("tokens") > 0)
            tokens = tokens.cache()
            for n in [int(x) for x in args.mllib.split(",") if x]:
                runs = [run_mllib(tokens, n, seed) for seed in range(1, args.seeds + 1)]
                s = _summary(runs)
                results["runs"][f"{mode}|Spark MLlib|{n}"] = {"summary": s, "runs": runs}
                print(f"| Spark MLlib | {n} | {s['ws']:.3f} ± {s['ws_sd']:.3f} | {s['analogy']:.4f} ± "
                      f"{s['analogy_sd']:.4f} | | | |", flush=True)
            tokens.unpersist()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(results, args.plot)
    spark.stop()
    return 0


def table(results: dict) -> str:
    """Every summarised run as one Markdown table: mode, line, shards, quality, words/s, syncs."""
    out = ["| mode | line | shards | WS353 | analogy | words/s | syncs/epoch | combine s/sync |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    def order(key):
        mode, label, n = key.split("|")
        return mode != "sg", "MLlib" in label, label, int(n)
    for key in sorted(results["runs"], key=order):
        mode, label, n = key.split("|")
        s = results["runs"][key]["summary"]
        speed = f"{s['words_per_second']:,.0f}" if "words_per_second" in s else ""
        syncs = f"{s['syncs_per_epoch']:.0f}" if "syncs_per_epoch" in s else ""
        cost = f"{s['combine_seconds_per_sync']:.3f}" if "combine_seconds_per_sync" in s else ""
        out.append(f"| {'skip-gram' if mode == 'sg' else 'CBOW'} | {label} | {n} | {s['ws']:.3f} ± {s['ws_sd']:.3f} | "
                   f"{s['analogy']:.4f} ± {s['analogy_sd']:.4f} | {speed} | {syncs} | {cost} |")
    return "\n".join(out)


def plot(results: dict, path: str) -> None:
    """Quality against shards trained at once: one panel per mode and measure, one line per curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves: dict = {}
    for key, value in results["runs"].items():
        mode, label, n = key.split("|")
        curves.setdefault((mode, label), []).append((int(n), value["summary"]))
    modes = sorted({m for m, _ in curves}, key=lambda m: m != "sg")
    palette = plt.get_cmap("tab20").colors   # one colour per curve: more curves than tab10 has colours
    fig, axes = plt.subplots(len(modes), 2, figsize=(10, 3.6 * len(modes)), squeeze=False)
    for row, mode in enumerate(modes):
        for col, (measure, title) in enumerate((("ws", "WordSim-353 (Spearman)"), ("analogy", "analogy (3CosAdd)"))):
            ax = axes[row][col]
            mode_curves = [(label, points) for (m, label), points in sorted(curves.items()) if m == mode]
            for i, (label, points) in enumerate(mode_curves):
                points.sort()
                xs = [n for n, _ in points]
                ax.errorbar(xs, [s[measure] for _, s in points], yerr=[s[measure + "_sd"] for _, s in points],
                            marker="o", capsize=3, label=label, color=palette[(2 * i) % 20 + (2 * i) // 20 % 2],
                            linestyle="--" if "MLlib" in label else "-")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("shards trained at once")
            ax.set_title(f"{'skip-gram' if mode == 'sg' else 'CBOW'}: {title}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, framealpha=0.6)
    counts = sorted({len(v["summary"]["seeds"]) if "seeds" in v["summary"] else results["seeds"]
                     for v in results["runs"].values()})
    seeds = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    fig.suptitle(f"Brown{' x%d' % results['repeat'] if results['repeat'] > 1 else ''}, mean of "
                 f"{seeds} seeds per point ({results['date']}, {results['machine']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
