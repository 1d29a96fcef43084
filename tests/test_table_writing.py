"""Publishing: the tables written now (pyarrow on the driver for a local path, Spark's writer
from a broadcast elsewhere) are the tables createDataFrame wrote."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v.vector_table import (OUTPUT_VECTORS, VECTORS, VOCAB, vector_column, write_parquet,
                                   write_spark_parquet, write_tables)
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
