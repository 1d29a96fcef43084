"""Word2VecModel.transform on a wide table against the same rows with only their tokens.

    python bench/transform.py [--lines 3000] [--reps 2]

Each wide row holds its tokens, a 20,000-character string and 2,000 integers; both frames
are cached first. Times are Spark's noop writer over the transformed frame. transform sends
only its input column to Python (an Arrow UDF), so the other columns should cost little.
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
    args = parser.parse_args()
    spark = get_session(master="local[2]", conf={"spark.ui.enabled": "false"})
    words = spark.read.text(args.corpus).limit(args.lines).select(F.split("value", " ").alias("words"))
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


if __name__ == "__main__":
    main()
