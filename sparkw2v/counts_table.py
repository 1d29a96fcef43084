"""The running-counts table (``counts/``: every word seen, for continued training).

A version is staged and published with its table inside
(:func:`sparkw2v.publishing.publish_with_counts`). Versions whose metadata names a
``counts_table`` were published by earlier code in two steps, the table staged under
``_staging`` and moved into the version after it was published; a writer stopped between
the two steps left a complete staged table, which the version's next reader moves in
(:func:`finish_counts_move`).
"""

from __future__ import annotations

import logging

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from .filesystem import HadoopFS
from .layout import COUNTS, STAGING, root_of
from .staging import drop_empty_staging
from .tables import write_parquet, write_spark_parquet

log = logging.getLogger("sparkw2v")

#: The schema of a corpus's word counts (the counts table without ``batch_count``).
COUNTS_SCHEMA = "word string, count bigint"


def staged_counts_path(directory: str, meta: dict) -> str | None:
    """Where a published version's counts table waits under ``_staging`` before it is moved in,
    if its metadata names one; ``directory`` is the version's."""
    root = root_of(directory)
    if not meta.get("counts_table") or root is None:
        return None
    return f"{root}/{STAGING}/{meta['counts_table']}"


def finish_counts_move(fs: HadoopFS, location: str, meta: dict) -> None:
    """Move the version at ``location``'s counts table in from ``_staging`` if its writer stopped
    between publishing the version and moving the table (the second of the two steps)."""
    source = staged_counts_path(location, meta)
    if source and not fs.exists(f"{location}/{COUNTS}/_SUCCESS") and fs.exists(f"{source}/_SUCCESS"):
        log.info("moving the counts of %s in from %s (publishing was interrupted)", location, source)
        move_counts_in(fs, source, location)
        drop_empty_staging(fs, root_of(location))


def move_counts_in(fs: HadoopFS, source: str, location: str) -> None:
    """Move the staged counts table ``source`` in as the version at ``location``'s ``counts/``.
    Readers finishing an interrupted two-step publish (:func:`finish_counts_move`) may race: the
    one that finds the table already moved is done too."""
    try:
        fs.rename(source, f"{location}/{COUNTS}")
    except Exception:  # OSError, or the JVM's FileNotFoundException for a source moved meanwhile
        if fs.exists(source) or not fs.exists(f"{location}/{COUNTS}/_SUCCESS"):
            raise


def counts_staged(fs: HadoopFS, directory: str, meta: dict) -> bool:
    """Whether the staged counts table of the version at ``directory`` holds the files (names and
    sizes) its metadata lists for ``counts/``."""
    staged = staged_counts_path(directory, meta)
    if staged is None or not fs.exists(f"{staged}/_SUCCESS"):
        return False
    listed = {k[len(COUNTS) + 1:]: v["bytes"] for k, v in (meta.get("files") or {}).items()
              if k.startswith(f"{COUNTS}/")}
    return fs.data_files(staged) == listed


#: Distinct words up to which a local output's counts table is collected and written by the
#: driver (pyarrow, ~16 bytes a word): a Spark write job costs over a second even for a few rows.
COUNTS_ON_DRIVER = 4_000_000


def write_counts(spark: SparkSession, counts: DataFrame | pa.Table, distinct_words: int, path: str,
                 local: bool) -> None:
    """Write the counts table (word, count, batch_count) as the Parquet directory ``path``: by
    the driver when ``local`` and at most :data:`COUNTS_ON_DRIVER` words, else by Spark's writer
    (a file per 4M words). An Arrow table is already on the driver: no job reads it."""
    if isinstance(counts, pa.Table):
        if local and counts.num_rows <= COUNTS_ON_DRIVER:
            write_parquet(spark, counts, COUNTS_ON_DRIVER, path)
        else:
            write_spark_parquet(spark, counts, COUNTS_ON_DRIVER, path)
        return
    if local and distinct_words <= COUNTS_ON_DRIVER:
        # ``distinct_words`` is a hint; the limit keeps a longer table off the driver.
        table = counts.select("word", "count", "batch_count").limit(COUNTS_ON_DRIVER + 1).toArrow()
        if table.num_rows <= COUNTS_ON_DRIVER:
            write_parquet(spark, table, COUNTS_ON_DRIVER, path)
            return
        distinct_words = table.num_rows
    counts.repartition(max(1, -(-distinct_words // COUNTS_ON_DRIVER))).write.parquet(path)


def counts_frame(spark: SparkSession, counts) -> DataFrame | pa.Table:
    """The (word, count) DataFrame, RDD or Arrow table of a whole corpus as a counts table: its
    batch was all of it (an Arrow table stays one)."""
    if isinstance(counts, pa.Table):
        return counts.select(["word", "count"]).append_column("batch_count", counts.column("count"))
    frame = counts if isinstance(counts, DataFrame) else spark.createDataFrame(counts, COUNTS_SCHEMA)
    return frame.withColumn("batch_count", F.col("count"))
