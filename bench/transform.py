"""Word2VecModel.transform on a wide table: the Arrow UDF (only the input column goes to
Python and back, pyspark 4.1+) against mapInArrow (whole rows, pyspark 4.0's path).

    python bench/transform.py [--lines 3000] [--reps 2]

Each row holds its tokens, a 20,000-character string and 2,000 integers; the frame is cached
first. Times are Spark's noop writer over the transformed frame, and over its vector column
alone; the last line says whether both paths gave the same vectors, columns and metadata.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from pyspark.sql import functions as F  # noqa: E402

from sparkw2v import Word2Vec  # noqa: E402
from sparkw2v import model as model_module  # noqa: E402
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
    udf = model_module._arrow_udf
    found = {}
    for rep in range(args.reps):
        for label, arrow_udf in (("arrow udf", udf), ("mapInArrow", None)):
            model_module._arrow_udf = arrow_udf
            out = model.transform(wide)
            start = time.perf_counter()
            out.write.format("noop").mode("overwrite").save()
            whole = time.perf_counter() - start
            start = time.perf_counter()
            out.select("vector").write.format("noop").mode("overwrite").save()
            column = time.perf_counter() - start
            print(f"rep {rep} {label:10s}: transform {whole:.2f} s, its vector column alone {column:.2f} s", flush=True)
            found[label] = (np.stack([r.vector.toArray() for r in out.select("vector").collect()]), out.columns,
                            out.schema["vector"].metadata)
    model_module._arrow_udf = udf
    a, b = found["arrow udf"], found["mapInArrow"]
    print("same vectors, columns and metadata:", np.array_equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2])
    spark.stop()


if __name__ == "__main__":
    main()
