"""A model's Parquet tables: written by pyarrow on the driver for a local path and by Spark's
writer from a broadcast elsewhere, they are the tables createDataFrame wrote; vector columns
chunked and read back exactly."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v import tables
from sparkw2v.layout import OUTPUT_VECTORS, VECTORS, VOCAB
from sparkw2v.tables import vector_column, write_parquet, write_spark_parquet, write_tables
from sparkw2v.vocabulary import Vocabulary


def _read(spark, path):
    frame = spark.read.parquet(path)
    table = frame.toArrow()
    return frame.schema, table.sort_by([(name, "ascending") for name in table.column_names
                                        if name in ("word", "id")])


def test_tables_match_the_create_data_frame_way(spark, tmp_path):
    rng = np.random.default_rng(1)
    vocab = Vocabulary(("the", "of", "ünïcode", "a"), np.array([9, 5, 5, 2]))
    w_in, w_out = rng.random((4, 3), dtype=np.float32), rng.random((4, 3), dtype=np.float32)
    write_tables(spark, str(tmp_path / "new"), vocab, w_in, w_out)
    words, counts = pa.array(vocab.words), pa.array(vocab.counts, pa.int64())
    ids = pa.array(np.arange(4, dtype=np.int32))
    old = {VECTORS: pa.table({"word": words, "count": counts, "vector": vector_column(w_in)}),
           VOCAB: pa.table({"word": words, "count": counts, "id": ids}),
           OUTPUT_VECTORS: pa.table({"id": ids, "vector": vector_column(w_out)})}
    for name, table in old.items():
        spark.createDataFrame(table).repartition(1).write.parquet(str(tmp_path / "old" / name))
        new_schema, new = _read(spark, str(tmp_path / "new" / name))
        old_schema, before = _read(spark, str(tmp_path / "old" / name))
        assert new_schema == old_schema
        assert new.equals(before)
        files = [f for f in (tmp_path / "new" / name).iterdir() if f.suffix == ".parquet"]
        assert (tmp_path / "new" / name / "_SUCCESS").exists() and len(files) == 1
        assert pq.read_schema(files[0]) == pq.read_schema(
            next(f for f in (tmp_path / "old" / name).iterdir() if f.suffix == ".parquet"))


@pytest.mark.parametrize("writer", [write_parquet, write_spark_parquet])
def test_rows_are_split_into_files_in_order(spark, tmp_path, writer):
    """Both writers (pyarrow on the driver for a local path, Spark's elsewhere) lay files out alike."""
    table = pa.table({"id": pa.array(np.arange(10, dtype=np.int32)),
                      "vector": vector_column(np.arange(20, dtype=np.float32).reshape(10, 2))})
    writer(spark, table, 4, str(tmp_path / "t"))
    files = sorted(f for f in (tmp_path / "t").iterdir() if f.suffix == ".parquet")
    assert [pq.read_table(f).column("id").to_pylist() for f in files] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert (tmp_path / "t" / "_SUCCESS").exists()
    frame = spark.read.parquet(str(tmp_path / "t"))
    assert frame.schema.simpleString() == "struct<id:int,vector:array<float>>"
    assert frame.orderBy("id").toArrow().column("vector").to_pylist()[9] == [18.0, 19.0]
    writer(spark, table.slice(0, 0), 4, str(tmp_path / "empty"))
    assert spark.read.parquet(str(tmp_path / "empty")).count() == 0


@pytest.mark.parametrize("local, hint", [(True, 5), (True, 2), (False, 5)])
def test_counts_table_is_the_same_whichever_writer(spark, tmp_path, monkeypatch, local, hint):
    """The counts table of a local output is collected and written by the driver; a remote one,
    or one longer than its ``distinct_words`` hint said (past the driver's limit), by Spark's writer."""
    from sparkw2v import counts_table
    monkeypatch.setattr(counts_table, "COUNTS_ON_DRIVER", 4)
    written = []
    monkeypatch.setattr(counts_table, "write_parquet",
                        lambda *a, **k: written.append(True) or write_parquet(*a, **k))
    rows = [("the", 9), ("of", 5), ("ünïcode", 5), ("a", 2), ("zebra", 1)]
    counts = counts_table.counts_frame(spark, spark.createDataFrame(rows, counts_table.COUNTS_SCHEMA))
    counts_table.write_counts(spark, counts, hint, str(tmp_path / "counts"), local)
    assert not written  # 5 rows: past the limit of 4 whatever the hint, and remote goes to Spark anyway
    back = spark.read.parquet(str(tmp_path / "counts"))
    assert sorted(back.select("word", "count", "batch_count").collect()) == sorted((w, c, c) for w, c in rows)
    assert [f.dataType.simpleString() for f in back.schema.fields] == ["string", "bigint", "bigint"]


def test_counts_table_within_the_limit_is_written_by_the_driver(spark, tmp_path, monkeypatch):
    from sparkw2v import counts_table
    written = []
    monkeypatch.setattr(counts_table, "write_parquet",
                        lambda *a, **k: written.append(True) or write_parquet(*a, **k))
    counts = counts_table.counts_frame(spark, spark.createDataFrame([("a", 3), ("b", 1)], counts_table.COUNTS_SCHEMA))
    counts_table.write_counts(spark, counts, 2, str(tmp_path / "counts"), True)
    assert written and sorted(spark.read.parquet(str(tmp_path / "counts")).collect()) == [("a", 3, 3), ("b", 1, 1)]


def test_chart_is_drawn_in_a_thread_of_its_own(monkeypatch):
    import threading

    from sparkw2v import report
    drawn = []
    monkeypatch.setattr(report, "chart_png", lambda meta: drawn.append(threading.current_thread()) or b"png")
    png = report.chart_later({"history": [{"epoch": 1}]})
    assert png() == b"png" and png() == b"png"              # waits once, then keeps the result
    assert len(drawn) == 1 and drawn[0] is not threading.main_thread()


def test_a_driver_table_becomes_a_frame_read_from_a_broadcast_in_order(spark, monkeypatch):
    from sparkw2v import tables

    monkeypatch.setattr(tables, "FRAME_ROWS", 3)
    rng = np.random.default_rng(2)
    table = pa.table({"word": [f"w{i}" for i in range(10)], "count": pa.array(range(10, 0, -1), pa.int64()),
                      "vector": vector_column(rng.random((10, 4), dtype=np.float32))})
    frame = tables.frame_of(spark, table)
    assert frame.rdd.getNumPartitions() == 4                       # 3 + 3 + 3 + 1 rows
    assert frame.toArrow().equals(table)
    empty = tables.frame_of(spark, table.slice(0, 0))
    assert empty.count() == 0 and empty.columns == ["word", "count", "vector"]


def test_vector_columns_are_chunked_and_read_back_exactly(monkeypatch):
    monkeypatch.setattr(tables, "CHUNK_ROWS", 3)
    matrix = np.arange(20, dtype=np.float32).reshape(10, 2)
    column = tables.vector_column(matrix)
    assert column.num_chunks == 4 and len(column) == 10
    np.testing.assert_array_equal(tables.vector_matrix(column), matrix)
