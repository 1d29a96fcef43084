"""One local SparkSession per test process (pytest-xdist runs two): 2 cores, UI off, no task retries.

Its driver JVM compiles with C1 only, as the CLI's local training sessions do
(``get_session(light_jvm=True)``): the tests' Spark jobs are many and small."""

import os
import sys

import pytest


@pytest.fixture(scope="session")
def spark():
    from sparkw2v.session import get_session

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = get_session("sparkw2v-tests", master="local[2]", conf={
        "spark.ui.enabled": "false",
        "spark.task.maxFailures": "1",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.driver.memory": "1g",
    }, light_jvm=True)
    yield session
    session.stop()


def checkpoint_dir(output, epoch: int):
    """Where a run wrote its checkpoint after ``epoch`` epochs under ``output`` (a run's own
    ``_staging/checkpoint/run-ID/`` directory), or a path that does not exist yet."""
    from pathlib import Path

    found = sorted(Path(output).glob(f"_staging/checkpoint/run-*/epoch-{epoch:06d}"))
    return found[-1] if found else Path(output) / "_staging" / "checkpoint" / "run-none" / f"epoch-{epoch:06d}"
