"""spark-submit entry point: run SQL over a trained vector table.

    spark-submit jobs/query.py --vectors out/brown \\
        --sql "SELECT * FROM w2v_most_similar('money', 10)"

Registers the model with :func:`sparkw2v.sql.register` (``w2v_vectors``, ``w2v_vector``,
``w2v_similarity``, ``w2v_cosine``, ``w2v_most_similar``, ``w2v_analogy``), runs the query and
prints the result, or writes it with ``--output``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid
from typing import Sequence

FORMATS = ("parquet", "csv", "json")


def build_parser() -> argparse.ArgumentParser:
    from sparkw2v.cli import conf_pair

    parser = argparse.ArgumentParser(
        prog="query.py", description="Run a Spark SQL query over a trained sparkw2v model.",
        epilog="Functions (prefix = --name): NAME_vectors (view: word, count, vector), NAME_vector(word), "
               "NAME_similarity(a, b), NAME_cosine(vec_a, vec_b), NAME_most_similar(word, k), "
               "NAME_analogy(a, b, c, k).")
    parser.add_argument("--vectors", required=True, metavar="PATH",
                        help="model directory written by 'sparkw2v train' or Word2VecModel.save")
    parser.add_argument("--sql", required=True, metavar="QUERY",
                        help="the query, e.g. \"SELECT * FROM w2v_most_similar('money', 10)\"")
    parser.add_argument("--name", default="w2v",
                        help="prefix of the view and functions (default: w2v)")
    parser.add_argument("--output", metavar="PATH", help="write the result here instead of printing it")
    parser.add_argument("--format", choices=FORMATS, default="parquet",
                        help="format for --output (default: parquet); csv writes arrays as JSON text")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --output if it exists, once the result is written (a query that fails "
                             "leaves it as it was)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="at most N rows (default: 20 when printing, all when writing)")
    parser.add_argument("--master", help="Spark master when not run by spark-submit (default: local[*,4], all cores with 4 attempts per task)")
    parser.add_argument("--conf", metavar="KEY=VALUE", action="append", type=conf_pair, default=[],
                        help="a Spark setting, e.g. --conf spark.executor.memory=4g (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Spark's own warnings")
    return parser



def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 0:
        return _fail("--limit must be 0 or more")

    from pyspark.errors import PySparkException, PythonException

    from sparkw2v.session import get_session
    from sparkw2v.sql import register, version_deleted, worker_message

    spark = get_session("sparkw2v-query", master=args.master, conf=dict(args.conf),
                        spark_log_level="WARN" if args.verbose else "ERROR")
    for attempt in range(QUERY_ATTEMPTS):
        try:
            register(spark, args.vectors, name=args.name)
        except (FileNotFoundError, ValueError) as exc:  # not a model; --name not an identifier
            return _fail(str(exc))
        refused = attempt == 0 and args.output and _output_refused(spark, args.output, args.vectors, args.overwrite)
        if refused:
            return _fail(refused)
        try:
            _run(spark, args)
            return 0
        except PythonException as exc:  # from a worker: a damaged file, a version deleted by retention,
            deleted = version_deleted(exc)                      # or arguments a function does not take
            if deleted is not None and attempt + 1 < QUERY_ATTEMPTS:
                print(f"query: {deleted}; querying the newest version", file=sys.stderr)
                continue
            if deleted is not None:
                return _fail(f"{deleted}, as was the version registered before it; run the job again (another "
                             "writer publishes often and keeps few versions)")
            message = worker_message(exc) or _pyspark_error(exc) or _arguments_error(exc, args.name)
            if message is None:
                raise
            return _fail(message)
        except PySparkException as exc:  # the query's own error: bad SQL, an unknown table, wrong arguments, 1/0
            return _fail(str(exc).strip().splitlines()[0])
    return 0


#: Times the job registers the model and runs the query: once more if retention deleted the
#: version it registered before the query read it.
QUERY_ATTEMPTS = 2


def _run(spark, args: argparse.Namespace) -> None:
    """Run the query over the registered model; print its result, or write it to ``--output``."""
    result = spark.sql(args.sql)
    if args.output:
        _write(result if args.limit is None else result.limit(args.limit), args)
        print(f"wrote {args.output} ({args.format})")
    else:
        result.show(n=20 if args.limit is None else args.limit, truncate=False)


def _output_refused(spark, output: str, vectors: str, overwrite: bool) -> str | None:
    """Why ``--output`` may not be written, or None: it is a sparkw2v model or lies inside one, it
    holds the model being queried or any other model (at any depth: ``overwrite`` deletes it
    whole), or it exists and ``overwrite`` is not given (with it, the output is replaced once the
    result is written)."""
    from sparkw2v.filesystem import HadoopFS
    from sparkw2v.layout import model_containing, model_key, model_within

    model = model_containing(spark, output)
    if model is not None:
        return (f"--output {output} is the sparkw2v model {model} or lies inside it: a query result is "
                "never written over a model; choose another --output")
    fs = HadoopFS(spark, output)
    out, read = model_key(spark, output), model_key(spark, vectors)
    if read == out or read.startswith(out.rstrip("/") + "/"):
        return f"--output {output} holds the model being queried ({vectors}); choose another --output"
    if not fs.exists(output):
        return None
    if not overwrite:
        return f"--output {output} already exists; pass --overwrite to replace it, or choose another --output"
    held = model_within(spark, output)   # one listing of a result directory
    if held is not None:
        return (f"--output {output} holds the sparkw2v model {held}, which --overwrite would delete: a query "
                "result is never written over a model; choose another --output")
    return None


def _write(frame, args: argparse.Namespace) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, MapType, StructType

    from sparkw2v.corpus import column_ref
    from sparkw2v.filesystem import HadoopFS

    if args.format == "csv":  # CSV holds no arrays: write them as JSON text
        columns = [column_ref(f.name) for f in frame.schema.fields]
        frame = frame.select(*[F.to_json(c).alias(f.name) if isinstance(f.dataType, (ArrayType, MapType, StructType))
                               else c for c, f in zip(columns, frame.schema.fields)])
    # Written beside --output, then moved in: a query that fails leaves the previous result as it was.
    fs = HadoopFS(frame.sparkSession, args.output)
    output = args.output.rstrip("/")
    written = f"{output}.query-{uuid.uuid4().hex[:8]}"
    writer = frame.write.mode("errorifexists").format(args.format)
    if args.format == "csv":
        writer = writer.option("header", "true")
    try:
        writer.save(written)
    except BaseException:
        with contextlib.suppress(Exception):
            if fs.exists(written):
                fs.delete(written)
        raise
    if fs.exists(output):   # refused before the query unless --overwrite
        fs.delete(output)
    fs.rename(written, output)   # if this fails, its error names where the result stays


def _pyspark_error(exc: BaseException) -> str | None:
    """The first line of a PySpark error with an error class (``[UDTF_EVAL_METHOD_ARGUMENTS_...]``)
    that a worker raised for the query, or None (then it is a bug's traceback, shown as it is)."""
    import re

    found = re.findall(r"PySpark\w*Error: (\[[A-Z0-9_.]+\][^\n]*)", str(exc))
    return found[-1].strip() if found else None


#: The scalar SQL functions' arguments, by the name of the Python function that computes each.
_SCALAR_ARGUMENTS = {"vector": ("vector", "word"), "similarity": ("similarity", "word_a, word_b"),
                     "_cosine": ("cosine", "vector_a, vector_b")}


def _arguments_error(exc: BaseException, name: str) -> str | None:
    """One line for a scalar function called with the wrong number of arguments (Spark checks
    only when a worker calls it), or None."""
    import re

    found = re.search(r"TypeError: (?:[\w.<>]*\.)?(\w+)\(\) (missing \d+ required positional argument|takes \d+ "
                      r"positional argument)", str(exc))
    if found is None or found.group(1) not in _SCALAR_ARGUMENTS:
        return None
    function, arguments = _SCALAR_ARGUMENTS[found.group(1)]
    return f"{name}_{function} takes ({arguments}); check the number of arguments"


def _fail(message: str) -> int:
    print(f"query: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    from sparkw2v.cli import run
    run(command=main)
