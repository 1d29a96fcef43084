"""Getting a SparkSession set up the way training wants it."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

#: Each Spark task is one core; BLAS threads inside a task would fight the other tasks.
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def get_session(app_name: str = "sparkw2v", master: str | None = None, conf: dict | None = None) -> SparkSession:
    """The active session, or a new one (``local[*]`` unless spark-submit set a master).

    Python workers of a local session run this interpreter, so the installed
    NumPy and sparkw2v are the ones they import.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)
    builder = SparkSession.builder.appName(app_name)
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


def describe_job(spark: SparkSession, text: str | None) -> None:
    """Name the Spark jobs that follow in the UI ("sparkw2v: epoch 3/5"); ``None`` clears it."""
    spark.sparkContext.setJobDescription(None if text is None else f"sparkw2v: {text}")
