"""Word2VecModel.transform on a wide table against the same rows with only their tokens, or
against Spark MLlib's Word2VecModel.transform on the same token rows.

    python bench/transform.py [--lines 3000] [--reps 2]
    python bench/transform.py --against-mllib [--lines 0] [--reps 3]

Each wide row holds its tokens, a 20,000-character string and 2,000 integers; both frames
are cached first. Times are Spark's noop writer over the transformed frame. transform sends
only its input column to Python (an Arrow UDF), so the other columns should cost little.
``--against-mllib`` fits both estimators with the same settings (100 dimensions, minCount 5,
one iteration, so the vocabularies are equal) and times sparkw2v's transform with
``averageOver`` "known" and "all" beside MLlib's, alternated (``--lines 0``: every line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from pyspark.sql import functions as F  # noqa: E402

from sparkw2v import Word2Vec  # noqa: E402
from sparkw2v.session import get_session  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="sparkw2v/data/brown.txt.gz")
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--against-mllib", action="store_true", help="time MLlib's transform beside ours")
    args = parser.parse_args()
    spark = get_session(master="local[2]", conf={"spark.ui.enabled": "false"})
    text = spark.read.text(args.corpus)
    words = (text.limit(args.lines) if args.lines else text).select(F.split("value", " ").alias("words"))
    if args.against_mllib:
        against_mllib(words, args.reps)
        spark.stop()
        return
    model = Word2Vec(vectorSize=20, minCount=2, inputCol="words", maxIter=1, numPartitions=1).fit(words)
    wide = words.select("words", F.repeat(F.lit("x"), 20000).alias("blob"),
                        F.array(*[F.lit(i) for i in range(2000)]).alias("ints")).cache()
    wide.count()
    narrow = words.cache()
    narrow.count()
    for rep in range(args.reps):
        for label, frame in (("tokens only", narrow), ("wide rows", wide)):
            out = model.transform(frame)
            start = time.perf_counter()
            out.write.format("noop").mode("overwrite").save()
            print(f"rep {rep} {label:11s}: transform {time.perf_counter() - start:.2f} s", flush=True)
    spark.stop()


def against_mllib(words, reps: int) -> None:
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    words = words.cache()
    rows = words.count()
    settings = dict(vectorSize=100, minCount=5, inputCol="words", outputCol="vector", maxIter=1, numPartitions=1)
    ours = Word2Vec(**settings).fit(words)
    theirs = MLlibWord2Vec(seed=1, **settings).fit(words)
    print(f"{rows:,} rows; vocabulary: ours {len(ours.wv):,} words, MLlib's {theirs.getVectors().count():,}")
    models = {"sparkw2v, averageOver='known'": ours, "sparkw2v, averageOver='all'": ours.copy().setAverageOver("all"),
              "Spark MLlib": theirs}
    for rep in range(reps):
        for label, model in models.items():
            out = model.transform(words)
            start = time.perf_counter()
            out.write.format("noop").mode("overwrite").save()
            seconds = time.perf_counter() - start
            print(f"rep {rep} {label:30s}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
