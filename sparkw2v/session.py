"""Getting a SparkSession set up the way training wants it."""

from __future__ import annotations

import os
import re
import sys

from pyspark.sql import SparkSession

#: Attempts per task under a local master chosen by default (a plain ``local[N]`` allows one).
LOCAL_TASK_ATTEMPTS = 4
_PLAIN_LOCAL = re.compile(r"local(?:\[(\d+|\*)\])?")

#: Each Spark task is one core; BLAS threads inside a task would fight the other tasks.
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def get_session(app_name: str = "sparkw2v", master: str | None = None, conf: dict | None = None) -> SparkSession:
    """The active session, or a new one (``local[*]`` unless spark-submit set a master).

    Python workers of a local session run this interpreter, so the installed
    NumPy and sparkw2v are the ones they import. Without ``master``, a plain local
    master (``local``, ``local[N]``, ``local[*]``, the default) gets task retries,
    ``local[N,4]``, so that a failed task (a killed Python worker) is retried as on a
    cluster, where ``spark.task.maxFailures`` (4) applies. A ``master`` given here is
    used as it is.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)
    builder = SparkSession.builder.appName(app_name)
    master = master or default_master()
    if master:
        builder = builder.master(master)
    for key, value in SINGLE_THREAD_ENV.items():
        builder = builder.config(f"spark.executorEnv.{key}", value)
    # sparkw2v logs one line per epoch; Spark's console bars would interleave with them.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def default_master() -> str | None:
    """The master to use when none is given: spark-submit's (or ``local[*]``), with task
    retries if it is a plain local master; None leaves spark-submit's cluster master alone."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # spark-submit's settings are the JVM's system properties
    configured = SparkConf().get("spark.master", None) or "local[*]"
    plain = _PLAIN_LOCAL.fullmatch(configured.replace(" ", ""))
    if plain is None:
        return None
    return f"local[{plain.group(1) or 1},{LOCAL_TASK_ATTEMPTS}]"


def describe_job(spark: SparkSession, text: str | None) -> None:
    """Name the Spark jobs that follow in the UI ("sparkw2v: epoch 3/5"); ``None`` clears it."""
    spark.sparkContext.setJobDescription(None if text is None else f"sparkw2v: {text}")
