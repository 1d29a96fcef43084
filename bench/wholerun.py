"""What a run pays outside the epochs, old way against new, side by side in one session.

    python bench/wholerun.py prepare --corpus /tmp/brown10.txt   # counting + encoding, Python vs SQL/Arrow
    python bench/wholerun.py publish --words 14000,1000000       # write_tables, createDataFrame vs now
    python bench/wholerun.py fixed                                # session start, first job, ...
    python bench/wholerun.py nulls --corpus /tmp/brown10.txt --reps 4   # a table input's null rows
    python bench/wholerun.py cold --repeats 1,10,20 --reps 3     # whole runs: fixed + per-word cost
    python bench/wholerun.py cold --repeats 10 --reps 3 --sql    # ... and SQL builtins counting, fresh too

``prepare`` runs both paths of :mod:`sparkw2v.corpus` (``arrow=False`` is the Python
tokenizer path, the only one before) on the same input, alternately, and reports
corpus words per second of counting + vocabulary + encoding; beside them, counting alone in
Spark SQL builtins, for scale. ``publish`` writes
random models of the given sizes with the former ``spark.createDataFrame`` feed, with
:func:`sparkw2v.tables.write_tables` (pyarrow on the driver for a local path) and
as a whole publish (:func:`sparkw2v.publishing.write_model`: tables, hashes, metadata). ``cold``
runs ``sparkw2v train`` (one epoch, a fresh process and session each time) on Brown repeated
1, 10, 20, ... times, in turn, and fits counting + encoding seconds to ``fixed + words / rate``:
what a fresh session pays once, and the words per second of the work itself. Whole-process
times against gensim and MLlib are in ``bench/compare.py`` (column "process s").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proctree import tree_cpu  # noqa: E402  (bench/, the script's own folder)


def _session(cores: int):
    """A local session as ``sparkw2v train`` starts one (C1 JIT only)."""
    from sparkw2v.session import get_session
    return get_session("bench-wholerun", master=f"local[{cores}]",
                       conf={"spark.ui.enabled": "false", "spark.driver.memory": "4g"}, light_jvm=True)


def prepare(args) -> None:
    from sparkw2v import TrainConfig
    from sparkw2v.corpus import build_vocabulary, encode_corpus, read_input, word_counts

    spark = _session(args.cores)
    cfg = TrainConfig(input=args.corpus, min_count=5, num_partitions=args.partitions)
    corpus = read_input(spark, cfg)
    spark.range(4, numPartitions=args.cores).rdd.map(lambda x: x).count()  # Python workers started
    rows = []
    for rep in range(args.reps):
        started, cpu = time.perf_counter(), tree_cpu()
        words = _sql_builtin_count(corpus, cfg)
        done, done_cpu = time.perf_counter(), tree_cpu()
        rows.append((rep, "SQL builtins (count)", done - started, float("nan"), done - started,
                     words / (done - started), done_cpu - cpu, float("nan"), words / (done_cpu - cpu)))
        for arrow in (False, True):
            started, cpu = time.perf_counter(), tree_cpu()
            with corpus.tokens_kept():  # as training.fit: the Arrow path tokenizes once
                vocab = build_vocabulary(corpus, cfg, word_counts(corpus, cfg, arrow=arrow))
                counted, counted_cpu = time.perf_counter(), tree_cpu()
                encoded = encode_corpus(corpus, vocab, cfg, args.partitions, arrow=arrow)
                done, done_cpu = time.perf_counter(), tree_cpu()
            encoded.unpersist()
            words = vocab.corpus_words
            rows.append((rep, "python (before)" if not arrow else "arrow", counted - started,
                         done - counted, done - started, words / (done - started), counted_cpu - cpu,
                         done_cpu - counted_cpu, words / (done_cpu - cpu)))
    print(f"corpus {args.corpus}: {vocab.corpus_words} words, {len(vocab)} in vocabulary, "
          f"local[{args.cores}], {args.partitions} shards")
    print(f"{'rep':>3}  {'path':<20}{'count s':>9}{'encode s':>10}{'total s':>9}{'words/s':>12}"
          f"{'count cpu':>11}{'encode cpu':>12}{'words/cpu-s':>13}")
    for rep, path, c, e, t, wps, cc, ec, wpc in rows:
        print(f"{rep:>3}  {path:<20}{c:>9.2f}{e:>10.2f}{t:>9.2f}{wps:>12.0f}{cc:>11.2f}{ec:>12.2f}{wpc:>13.0f}")
    print("wall seconds on a shared machine are disturbed by others' load; cpu = CPU seconds of the "
          "driver, JVM and Python workers together")


def _sql_builtin_count(corpus, cfg) -> int:
    """Counting alone in Spark SQL builtins (``lower``, ``split``, ``explode``, ``groupBy``), the
    distinct words brought to the driver; returns the corpus words. Not sparkw2v's tokenizer (a regex split keeps empty strings, filtered here): for scale."""
    from pyspark.sql import functions as F

    tokens = (corpus.frame.select(F.explode(F.split(F.lower(F.col(corpus.frame.columns[0])), r"\s+")).alias("word"))
              .where(F.length("word") > 0))
    counts = tokens.groupBy("word").count().toArrow()   # every word: Brown's are few
    return int(pa.compute.sum(counts.column("count")).as_py() or 0)


def _old_write_tables(spark, directory, vocab, w_in, w_out) -> None:
    """write_tables as it was: spark.createDataFrame of Arrow tables, then repartition."""
    from sparkw2v.layout import OUTPUT_VECTORS, VECTORS, VOCAB
    from sparkw2v.tables import vector_column

    def frame(table, rows_per_file):
        return spark.createDataFrame(table).repartition(max(1, -(-table.num_rows // rows_per_file)))

    rows_per_file = max(1, (128 << 20) // (4 * w_in.shape[1] + 32))
    words = pa.array(vocab.words, type=pa.string())
    counts = pa.array(vocab.counts, type=pa.int64())
    ids = pa.array(np.arange(len(vocab), dtype=np.int32))
    frame(pa.table({"word": words, "count": counts, "vector": vector_column(w_in)}),
          rows_per_file).write.parquet(f"{directory}/{VECTORS}")
    frame(pa.table({"word": words, "count": counts, "id": ids}), 1 << 22).write.parquet(f"{directory}/{VOCAB}")
    frame(pa.table({"id": ids, "vector": vector_column(w_out)}),
          rows_per_file).write.parquet(f"{directory}/{OUTPUT_VECTORS}")


def _whole_publish(spark, directory, vocab, w_in, w_out) -> None:
    """A whole publish as ``Word2VecModel.save`` does it: tables, hashes, metadata, LATEST."""
    from sparkw2v.publishing import write_model
    write_model(spark, directory, vocab, w_in, w_out, {"timings": {}})


def publish(args) -> None:
    from sparkw2v.tables import write_tables
    from sparkw2v.vocabulary import Vocabulary

    spark = _session(args.cores)
    spark.range(4, numPartitions=args.cores).rdd.map(lambda x: x).count()
    root = Path(tempfile.mkdtemp(prefix="sparkw2v-bench-publish-"))
    print(f"{'words':>9} {'dims':>5}  {'way':<26}{'seconds':>9}")
    try:
        for n in (int(x) for x in args.words.split(",")):
            rng = np.random.default_rng(0)
            vocab = Vocabulary(tuple(f"w{i}" for i in range(n)), np.arange(n, 0, -1, dtype=np.int64))
            w_in = rng.random((n, args.dims), dtype=np.float32)
            w_out = rng.random((n, args.dims), dtype=np.float32)
            for rep in range(args.reps):
                ways = (("createDataFrame (before)", _old_write_tables), ("write_tables", write_tables),
                        ("write_model (whole publish)", _whole_publish))
                for name, write in ways[1:] if args.new_only else ways:
                    target = root / f"{n}-{rep}-{name.split()[0]}"
                    started = time.perf_counter()
                    write(spark, str(target), vocab, w_in, w_out)
                    print(f"{n:>9} {args.dims:>5}  {name:<26}{time.perf_counter() - started:>9.2f}", flush=True)
                    shutil.rmtree(target)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _passthrough(batches):
    yield from batches


def fixed(args) -> None:
    """What a run pays once: session start, then each kind of Spark work a run uses (a JVM job,
    Python workers, a SQL aggregate, Arrow batches through Python, reading a text file, a
    broadcast), the first time and the second."""
    started = time.perf_counter()
    spark = _session(args.cores)
    session = time.perf_counter()
    sc = spark.sparkContext
    corpus = str(ROOT / "sparkw2v" / "data" / "brown.txt.gz")
    counts = sc.broadcast(np.arange(14_000, dtype=np.int64))
    kinds = (("JVM job", lambda: spark.range(10).count()),
             ("Python job (workers start)", lambda: sc.parallelize(range(4), args.cores).map(lambda x: x).count()),
             ("SQL aggregate", lambda: spark.range(1000, numPartitions=args.cores).groupBy("id").count().collect()),
             ("Arrow through Python (mapInArrow)", lambda: spark.range(1000, numPartitions=args.cores)
              .mapInArrow(_passthrough, "id long").collect()),
             ("reading Brown (gzip text)", lambda: spark.read.text(corpus).count()),
             ("job reading a 14K-count broadcast", lambda: sc.parallelize(range(4), args.cores)
              .map(lambda x: int(counts.value[0])).count()))
    print(f"{'session start':<36}{session - started:>7.2f} s")
    for name, work in kinds:
        times = []
        for _ in range(2):
            begun = time.perf_counter()
            work()
            times.append(time.perf_counter() - begun)
        print(f"{name:<36}{times[0]:>7.2f} s first, {times[1]:.2f} s again")
    counts.destroy()


def nulls(args) -> None:
    """What counting a table input's null rows adds: the corpus written as Parquet (one file per
    partition), its vocabulary counted, then :func:`sparkw2v.corpus.null_rows` over the cached
    tokens, and a trivial Spark job for scale."""
    from pyspark.sql import functions as F

    from sparkw2v import TrainConfig
    from sparkw2v.corpus import count_vocabulary, null_rows, read_input, word_counts

    spark = _session(args.cores)
    with tempfile.TemporaryDirectory() as scratch:
        table = f"{scratch}/corpus.parquet"
        spark.read.text(args.corpus).withColumnRenamed("value", "text").repartition(args.partitions).write.parquet(table)
        cfg = TrainConfig(input=table, input_format="parquet", min_count=5, num_partitions=args.partitions)
        corpus = read_input(spark, cfg)
        print(f"{'rep':>3}  {'count s':>8}  {'null_rows s':>11}  {'trivial job s':>13}")
        for rep in range(args.reps):
            with corpus.tokens_kept():
                started = time.perf_counter()
                count_vocabulary(corpus, cfg, word_counts(corpus, cfg))
                counted = time.perf_counter()
                null_rows(corpus, cfg)
                nulled = time.perf_counter()
                spark.range(args.cores, numPartitions=args.cores).agg(F.sum("id")).first()
                trivial = time.perf_counter() - nulled
            print(f"{rep:>3}  {counted - started:>8.2f}  {nulled - counted:>11.3f}  {trivial:>13.3f}")


def cold(args) -> None:
    """Counting + encoding in whole runs of ``sparkw2v train``, each in a fresh process, on
    Brown repeated ``--repeats`` times (in turn, ``--reps`` rounds), fitted to
    ``seconds = fixed + words / rate`` by least squares."""
    import gzip

    brown = ROOT / "sparkw2v" / "data" / "brown.txt.gz"
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        text = gzip.decompress(brown.read_bytes())
        corpora = {}
        for repeat in (int(r) for r in args.repeats.split(",")):
            corpora[repeat] = f"{scratch}/brown{repeat}.txt"
            with open(corpora[repeat], "wb") as out:
                for _ in range(repeat):
                    out.write(text)
        print(f"{'rep':>3}  {'corpus':>9}  {'words':>11}  {'count s':>7}  {'encode s':>8}  {'both s':>6}  "
              f"{'session s':>9}  {'process s':>9}" + (f"  {'SQL count':>9}" if args.sql else ""))
        for rep in range(args.reps):
            for repeat, corpus in corpora.items():
                output = f"{scratch}/model{repeat}"
                cmd = [sys.executable, "-m", "sparkw2v", "train", "--input", corpus, "--output", output,
                       "--num-partitions", str(args.partitions), "--master", f"local[{args.cores}]",
                       "--epochs", "1", "--overwrite"]
                started = time.perf_counter()
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                process = time.perf_counter() - started
                version = sorted(Path(output, "versions").iterdir())[-1]
                meta = json.loads((version / "metadata.json").read_text())
                timings, words = meta["timings"], meta["corpus_words"]
                both = timings["count_seconds"] + timings["encode_seconds"]
                runs.append((words, both))
                sql = ""
                if args.sql:  # the suggested JVM route, counting alone, in a fresh process too
                    out = subprocess.run([sys.executable, __file__, "sqlcount", "--corpus", corpus,
                                          "--cores", str(args.cores)], env=env, check=True,
                                         capture_output=True, text=True).stdout
                    sql = f"  {json.loads(out.strip().splitlines()[-1])['seconds']:>9.2f}"
                print(f"{rep:>3}  {'x' + str(repeat):>9}  {words:>11,}  {timings['count_seconds']:>7.2f}  "
                      f"{timings['encode_seconds']:>8.2f}  {both:>6.2f}  {timings['session_seconds']:>9.2f}  "
                      f"{process:>9.2f}{sql}", flush=True)
    words, seconds = np.array(runs, dtype=np.float64).T
    if np.unique(words).size < 2:
        return  # a fit needs two corpus sizes
    design = np.column_stack([np.ones_like(words), words])
    (fixed_s, per_word), *_ = np.linalg.lstsq(design, seconds, rcond=None)
    residual = seconds - design @ np.array([fixed_s, per_word])
    print(f"counting + encoding = {fixed_s:.2f} s + words / {1 / per_word:,.0f} words/s "
          f"(residuals {residual.min():+.2f} to {residual.max():+.2f} s, {len(runs)} runs)")


def sqlcount(args) -> None:
    """Counting alone in Spark SQL builtins in this fresh process's session (for ``cold --sql``):
    prints the seconds from the opened input to the counts on the driver, as JSON."""
    from sparkw2v import TrainConfig
    from sparkw2v.corpus import read_input

    spark = _session(args.cores)
    cfg = TrainConfig(input=args.corpus, min_count=5, num_partitions=args.partitions)
    corpus = read_input(spark, cfg)  # opened first, as train's counting phase starts after it
    started = time.perf_counter()
    words = _sql_builtin_count(corpus, cfg)
    print(json.dumps({"seconds": time.perf_counter() - started, "words": words}))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("prepare", "publish", "fixed", "nulls", "cold", "sqlcount"))
    parser.add_argument("--corpus", default="/tmp/brown10.txt", help="text corpus, one sentence per line")
    parser.add_argument("--partitions", type=int, default=2, help="shards to encode into")
    parser.add_argument("--cores", type=int, default=2, help="local[N]")
    parser.add_argument("--reps", type=int, default=2, help="repetitions of each side")
    parser.add_argument("--words", default="14000,1000000", help="model sizes to publish")
    parser.add_argument("--dims", type=int, default=100)
    parser.add_argument("--repeats", default="1,10,20", help="cold: Brown repeated this many times, comma list")
    parser.add_argument("--sql", action="store_true", help="cold: also count with SQL builtins in a fresh process")
    parser.add_argument("--new-only", action="store_true", help="publish: skip the former createDataFrame way")
    args = parser.parse_args(argv)
    {"prepare": prepare, "publish": publish, "fixed": fixed, "nulls": nulls, "cold": cold,
     "sqlcount": sqlcount}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
