"""Reading the input: text files and their folders, Parquet/ORC/JSON/CSV, catalog tables, reader
options, and the one-line refusals of input that cannot be trained on."""

import logging

import os
from contextlib import contextmanager

import numpy as np
import pytest

from sparkw2v import TrainConfig, Word2Vec, Word2VecModel
from sparkw2v.cli import main
from sparkw2v.corpus import LARGE_VAR_TYPES, InputError, select_column

from .test_training import PLANTED, planted_lines

def test_bad_input_gets_one_clear_error_and_writes_nothing(spark, tmp_path, capsys):
    pairs = tmp_path / "x.tsv"
    pairs.write_text("a\tb\t1.0\n")
    assert main(["evaluate", "--vectors", str(tmp_path), "--similarity", str(pairs)]) == 2
    assert "is not a sparkw2v model" in capsys.readouterr().err
    assert main(["evaluate", "--vectors", str(tmp_path), "--similarity", "x.tsv"]) == 2
    assert "--similarity: x.tsv: no such file" in capsys.readouterr().err
    out = tmp_path / "never"
    assert main(["train", "--input", str(tmp_path / "missing.txt"), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot read text input" in err and "relative paths" not in err
    assert main(["train", "--input", "no/such/corpus.txt", "--output", str(out)]) == 2     # as a config file gives it
    assert (f"'no/such/corpus.txt': path does not exist (relative paths are read from the current directory, "
            f"{os.getcwd()})") in capsys.readouterr().err
    small = tmp_path / "small.txt"
    small.write_text("just a few words\n")
    assert main(["train", "--input", str(small), "--output", str(out)]) == 2
    assert "min_count=5" in capsys.readouterr().err
    assert main(["train", "--input", str(small), "--output", str(out), "--window", "0"]) == 2
    assert "invalid --window=0" in capsys.readouterr().err
    assert not out.exists()


def test_wrong_columns_are_named(spark):
    frame = spark.createDataFrame([(1, ["a"])], "n int, toks array<string>")
    with pytest.raises(InputError, match="no column 'text'; its columns are: n, toks"):
        select_column(frame, TrainConfig())
    with pytest.raises(InputError, match="column 'n' is int.*must be string"):
        select_column(frame, TrainConfig(text_column="n"))
    with pytest.raises(InputError, match="needs array<string>"):
        select_column(frame, TrainConfig(tokens_column="n"))


def test_catalog_table_and_parquet_inputs(spark, tmp_path):
    lines = planted_lines(seed=2, sentences=150)
    frame = spark.createDataFrame([(i, line) for i, line in enumerate(lines)], "id int, body string")
    frame.createOrReplaceTempView("sparkw2v_docs")
    quick = {**PLANTED, "epochs": 1}
    from_table = Word2Vec(input_table="sparkw2v_docs", text_column="body", **quick).fit_input(spark)
    frame.write.parquet(str(tmp_path / "docs"))
    from_parquet = Word2Vec(input=str(tmp_path / "docs"), input_format="parquet", text_column="body",
                            **quick).fit_input(spark)
    assert from_table.wv.words == from_parquet.wv.words and len(from_table.wv) == 16
    with pytest.raises(InputError, match="cannot read table.*needs --conf spark.sql.catalogImplementation=hive"):
        Word2Vec(input_table="no_such_table", **quick).fit_input(spark)
    text = tmp_path / "plain.txt"
    text.write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"cannot read parquet input .*plain.txt.*is not a Parquet file"):
        Word2Vec(input=str(text), input_format="parquet", **quick).fit_input(spark)   # the JVM's root cause


def test_text_that_is_not_utf8_is_trained_with_a_warning_naming_a_word(spark, tmp_path, caplog):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("\n".join(planted_lines(seed=3, sentences=150) + ["caf\xe9 na\xefve"] * 5).encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        model = Word2Vec(input=str(corpus), **{**PLANTED, "epochs": 1}).fit_input(spark)
    assert "caf\ufffd" in model.wv
    assert any("hold bytes that are not UTF-8" in m and "caf\ufffd" in m for m in caplog.messages), caplog.messages


def test_a_compressed_file_read_as_text_is_refused_before_training(spark, tmp_path):
    import gzip
    text = "\n".join(planted_lines(seed=3, sentences=2000)).encode()
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.txt").write_bytes(text)
    (landing / "b.txt").write_bytes(gzip.compress(text))   # gzip bytes under a name Spark reads as plain text
    # one such file among text files: found by its first bytes, before any Spark job
    with pytest.raises(InputError, match=r"b.txt is gzip-compressed, and read as text its bytes would be trained "
                                         r"as words; give it the extension .*\(.gz, .bz2, .zst\).*Nothing was trained"):
        Word2Vec(input=str(landing), **{**PLANTED, "min_count": 1, "epochs": 1}).fit_input(spark)
    (landing / "b.txt").rename(landing / "b.txt.gz")
    assert Word2Vec(input=str(landing), **{**PLANTED, "min_count": 1, "epochs": 1}).fit_input(spark).wv
    corpus = tmp_path / "corpus.txt"            # compressed bytes without gzip's signature: a NUL byte tells
    corpus.write_bytes(gzip.compress(text)[10:])
    with pytest.raises(InputError, match=r"corpus.txt is binary \(it holds NUL bytes\).*Nothing was trained"):
        Word2Vec(input=str(corpus), **{**PLANTED, "min_count": 1, "epochs": 1}).fit_input(spark)
    corpus.write_bytes(gzip.compress(text)[10:].replace(b"\x00", b"\x01"))   # and without NULs: the words tell
    with pytest.raises(InputError, match=r"corpus.txt does not look like text: \d+% of its words hold bytes that "
                                         r"are not UTF-8 text .*\.gz.*Nothing was trained"):
        Word2Vec(input=str(corpus), **{**PLANTED, "min_count": 1, "epochs": 1}).fit_input(spark)
    # continuing a model (and each stream batch) checks the new text as well, before anything is written
    text = tmp_path / "day1.txt"
    text.write_text("\n".join(planted_lines(seed=3, sentences=300)))
    out = tmp_path / "model"
    assert main(["train", "--input", str(text), "--output", str(out), "--min-count", "1", "--epochs", "1",
                 "--vector-size", "8", "--num-partitions", "1"]) == 0
    assert main(["train", "--input", str(corpus), "--from-model", str(out), "--output", str(out),
                 "--min-count", "1", "--epochs", "1"]) == 2
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["000001"]


def test_a_directory_is_read_with_its_subdirectories_and_a_binary_file_among_them_is_refused(spark, tmp_path):
    from sparkw2v.corpus import read_input
    lake = tmp_path / "lake"
    (lake / "2024" / "01").mkdir(parents=True)
    (lake / "2024" / "02").mkdir()
    (lake / "_tmp").mkdir()
    (lake / "2024" / "01" / "a.txt").write_text("alpha beta\ngamma\n")
    (lake / "2024" / "02" / "b.txt").write_text("delta\n")
    (lake / "_tmp" / "partial.txt").write_text("hidden\n")        # names starting with _ or . are skipped
    (lake / "top.txt").write_text("epsilon\n")
    corpus = read_input(spark, TrainConfig(input=str(lake)))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["alpha beta", "delta", "epsilon", "gamma"]
    (lake / "2024" / "02" / "archive.bin").write_bytes(bytes(range(256)) * 8)   # no known signature: a NUL byte
    with pytest.raises(InputError, match=r"archive.bin is binary \(it holds NUL bytes\), and read as text its "
                                         r"bytes would be trained as words; move it out of the input, or leave "
                                         r"it out with the reader option pathGlobFilter"):
        read_input(spark, TrainConfig(input=str(lake)))
    # Files Spark's pathGlobFilter leaves out are not read, so not refused either.
    corpus = read_input(spark, TrainConfig(input=str(lake), input_options={"pathGlobFilter": "*.txt"}))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["alpha beta", "delta", "epsilon", "gamma"]


def test_csv_fields_may_hold_line_breaks_and_a_json_array_is_named(spark, tmp_path, caplog):
    import csv
    from sparkw2v.corpus import read_input
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows([(1, "first line\nsecond line"), (2, "third")])
    corpus = read_input(spark, TrainConfig(input=str(path), input_format="csv"))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["first line\nsecond line", "third"]
    (tmp_path / "headless.csv").write_text("1,alpha beta\n2,gamma\n")
    with pytest.raises(InputError, match="its columns are: 1, alpha beta: a CSV file needs a header row"):
        read_input(spark, TrainConfig(input=str(tmp_path / "headless.csv"), input_format="csv"))
    array = tmp_path / "array.json"
    array.write_text('[\n {"text": "a b"},\n {"text": "c d"}\n]\n')
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        read_input(spark, TrainConfig(input=str(array), input_format="json"))
    assert any("not JSON objects" in m and "needs input_options={'multiLine': 'true'}" in m
               for m in caplog.messages), caplog.messages


def test_reader_options_reach_spark_and_override_sparkw2v_own(spark, tmp_path, caplog):
    from sparkw2v.corpus import read_input
    array = tmp_path / "array.json"
    array.write_text('[\n {"text": "a b"},\n {"text": "c d"}\n]\n')
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        corpus = read_input(spark, TrainConfig(input=str(array), input_format="json",
                                               input_options={"multiLine": True}))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["a b", "c d"] and not caplog.messages
    (tmp_path / "semi.csv").write_bytes("id;text\n1;caf\xe9 au lait\n".encode("latin-1"))
    corpus = read_input(spark, TrainConfig(input=str(tmp_path / "semi.csv"), input_format="csv",
                                           input_options=["sep=;", "encoding=ISO-8859-1"]))
    assert [r[0] for r in corpus.frame.collect()] == ["caf\u00e9 au lait"]
    (tmp_path / "headless.csv").write_text("1,alpha beta\n2,gamma\n")   # header=false overrides ours
    corpus = read_input(spark, TrainConfig(input=str(tmp_path / "headless.csv"), input_format="csv",
                                           text_column="_c1", input_options=["header=false"]))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["alpha beta", "gamma"]
    latin = tmp_path / "latin.json"                                      # JSON Lines in Latin-1
    latin.write_bytes('{"text": "caf\u00e9 noir"}\n{"text": "th\u00e9"}\n'.encode("latin-1"))
    corpus = read_input(spark, TrainConfig(input=str(latin), input_format="json",
                                           input_options=["encoding=ISO-8859-1", "lineSep=\\n"]))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["caf\u00e9 noir", "th\u00e9"]
    lines = tmp_path / "lines.txt"
    lines.write_text("one two|three four")
    corpus = read_input(spark, TrainConfig(input=str(lines), input_options=["lineSep=|"]))
    assert sorted(r[0] for r in corpus.frame.collect()) == ["one two", "three four"]
    with pytest.raises(InputError, match=r"cannot read csv input .* with sep=;, encoding=no-such-charset: "):
        read_input(spark, TrainConfig(input=str(tmp_path / "semi.csv"), input_format="csv",
                                      input_options=["sep=;", "encoding=no-such-charset"]))
    with pytest.raises(InputError, match=r"one column, 'id;text': are its fields separated by ';'\? Read it "
                                         r"with input_options=\{'sep': ';'\}"):
        read_input(spark, TrainConfig(input=str(tmp_path / "semi.csv"), input_format="csv"))
    (tmp_path / "wide.csv").write_bytes("id,text\n1,alpha beta\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"header of NUL bytes: its CSV files look UTF-16 encoded; read them with "
                                         r"input_options=\{'encoding': 'UTF-16'\}"):
        read_input(spark, TrainConfig(input=str(tmp_path / "wide.csv"), input_format="csv"))
    corpus = read_input(spark, TrainConfig(input=str(tmp_path / "wide.csv"), input_format="csv",
                                           input_options=["encoding=UTF-16"]))
    assert [r[0] for r in corpus.frame.collect()] == ["alpha beta"]


def test_csv_files_listing_their_columns_in_another_order_are_refused_not_read_by_position(spark, tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "a.csv").write_text("id,text\n1,alpha beta\n")
    (folder / "b.csv").write_text("text,id\ngamma delta,2\n")
    with pytest.raises(InputError, match=r"cannot read input file .*b\.csv: CSV header does not conform to the "
                                         r"schema\. Header: text, id Schema: id, text .*: the CSV files of one input "
                                         r"need the same columns in the same order"):
        Word2Vec(input=str(folder), input_format="csv", **{**PLANTED, "epochs": 1}).fit_input(spark)


def test_null_rows_are_counted_and_named_not_dropped_silently(spark, tmp_path, caplog):
    # A Parquet folder whose later file was written with another column name: Spark takes the
    # schema from the first file and reads the other's rows as null text.
    lines = planted_lines(seed=4, sentences=120)
    parts = {"text": tmp_path / "a", "body": tmp_path / "b"}
    spark.createDataFrame([(t,) for t in lines] + [(None,)] * 3, "text string").coalesce(1).write.parquet(str(parts["text"]))
    spark.createDataFrame([(t,) for t in lines[:40]], "body string").coalesce(1).write.parquet(str(parts["body"]))
    docs = tmp_path / "docs"
    docs.mkdir()
    for prefix, folder in zip(("part-a", "part-b"), parts.values()):
        (docs / f"{prefix}.parquet").write_bytes(next(folder.glob("part-*.parquet")).read_bytes())
    quick = {**PLANTED, "epochs": 1}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        model = Word2Vec(input=str(docs), input_format="parquet", **quick).fit_input(spark)
    assert any("43 rows are null in column 'text'" in m for m in caplog.messages), caplog.messages
    assert model.result.info["null_rows"] == 43 and len(model.wv) == 16
    # The Python tokenizer's path (a token pattern) counts them too.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        Word2Vec(input=str(docs), input_format="parquet", token_pattern=r"\S+", **quick).fit_input(spark)
    assert any("43 rows are null in column 'text'" in m for m in caplog.messages), caplog.messages
    # In CSV the usual cause is a quoted field read on into the next rows: the warning says so
    from sparkw2v.corpus import warn_null_rows
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        warn_null_rows(2, TrainConfig(input_format="csv"))
    assert "fewer fields than the header" in caplog.text and "{'escape': '\"'}" in caplog.text, caplog.text
    # Text with nothing but nulls is refused, naming them.
    spark.createDataFrame([(None,)] * 5, "text string").write.parquet(str(tmp_path / "nulls"))
    with pytest.raises(InputError, match="the input holds no words: 5 rows, all null in column 'text'"):
        Word2Vec(input=str(tmp_path / "nulls"), input_format="parquet", **quick).fit_input(spark)


def test_files_spark_would_skip_silently_are_named(spark, tmp_path, caplog):
    from sparkw2v.corpus import check_input_path
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "_a.txt").write_text("alpha beta\n")
    (texts / "b.txt").write_text("gamma delta\n")
    with pytest.raises(InputError, match=r"Spark skips files whose names start with '\.' or '_' \(_a.txt\)"):
        check_input_path(spark, str(texts / "_a.txt"), "text")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        check_input_path(spark, str(texts / "*.txt"), "text")
    assert any("1 matched file is skipped" in m and "_a.txt" in m for m in caplog.messages), caplog.messages
    (texts / "_SUCCESS").write_text("")                       # a writer's bookkeeping: no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        check_input_path(spark, str(texts / "[b_]*"), "text")
    assert not any("_SUCCESS" in m for m in caplog.messages), caplog.messages
    with pytest.raises(InputError, match=r"pathGlobFilter.*\*\.md.* matches none of its 1 files"):
        check_input_path(spark, str(texts), "text", (("pathGlobFilter", "*.md"),))
    import tarfile
    with tarfile.open(tmp_path / "corpus.tar.gz", "w:gz") as archive:
        archive.add(texts / "b.txt", arcname="b.txt")
    with pytest.raises(InputError, match="holds the tar archive corpus.tar.gz: .*extract it"):
        check_input_path(spark, str(tmp_path / "corpus.tar.gz"), "text")
    (texts / "2024-01-01T10:00:00.txt").write_text("epsilon\n")   # Hadoop cannot open it
    with pytest.raises(InputError, match="cannot read input file .*2024-01-01T10:00:00.txt: .*cannot hold ':'"):
        check_input_path(spark, str(texts), "text")
    # Table files in a subfolder beside files, and beside key=value folders, are not read by Spark
    tables = tmp_path / "tables"
    frame = spark.createDataFrame([("a b",)], "text string")
    frame.write.parquet(str(tables))
    frame.write.parquet(str(tables / "old"))
    frame.write.parquet(str(tables / "day=1"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        check_input_path(spark, str(tables), "parquet")
    assert any("subfolders (old/)" in m and "recursiveFileLookup" in m for m in caplog.messages), caplog.messages
    assert any("beside key=value partition folders (day=1/)" in m for m in caplog.messages), caplog.messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        check_input_path(spark, str(tables), "parquet", (("recursiveFileLookup", "true"),))
        check_input_path(spark, str(tables / "old"), "parquet")
    assert not caplog.messages


def test_column_names_resolve_as_spark_resolves_them(spark):
    frame = spark.createDataFrame([(1, "a b")], "id int, Text string")
    assert select_column(frame, TrainConfig()).frame.collect()[0][0] == "a b"   # 'text' names 'Text'
    both = spark.createDataFrame([("x", "y")], "text string, Text string")
    with pytest.raises(InputError, match="columns 'text', 'Text', which differ in case only"):
        select_column(both, TrainConfig())
    with pytest.raises(InputError, match="no column 'body'"):
        select_column(frame, TrainConfig(text_column="body"))
    raw = spark.createDataFrame([(b"a b",)], "text binary")
    with pytest.raises(InputError, match="is binary.*spark.sql.parquet.binaryAsString=true"):
        select_column(raw, TrainConfig())


@contextmanager
def session_setting(spark, key: str, value: str):
    """``key`` set to ``value`` on the shared session within the block, then as it was."""
    before = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def test_large_arrow_types_train_transform_and_query_as_the_default_ones(spark, tmp_path):
    """Under spark.sql.execution.arrow.useLargeVarTypes Spark hands Python large strings and
    binaries and expects them back: fitting text and tokens, transform, getVectors, findSynonyms
    and a save and load give what they give without it."""
    lines = planted_lines(sentences=300)
    frame = spark.createDataFrame([(i, line, line.split()) for i, line in enumerate(lines)] + [(-1, None, None)],
                                  "id int, text string, tokens array<string>").repartition(2)
    settings = {**PLANTED, "epochs": 2, "num_partitions": 2}

    def run():
        models = [Word2Vec(text_column="text", **settings).fit(frame),
                  Word2Vec(tokens_column="tokens", **settings).fit(frame)]
        model = models[0]
        return (models, model.transform(frame).orderBy("id").select("vector").collect(),
                model.copy().setInputCol("tokens").transform(frame).orderBy("id").select("vector").collect(),
                model.getVectors().collect(), model.findSynonyms("g0w1", 3).collect())

    plain = run()
    with session_setting(spark, LARGE_VAR_TYPES, "true"):
        large = run()
        large[0][0].save(str(tmp_path / "m"))
        loaded = Word2VecModel.load(str(tmp_path / "m"))
    for a, b in zip(plain[0], large[0]):
        assert a.wv.words == b.wv.words and a.vocab.corpus_words == b.vocab.corpus_words
        np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)
    assert large[1:] == plain[1:]
    assert loaded.wv.words == plain[0][0].wv.words
    np.testing.assert_array_equal(loaded.wv.vectors, plain[0][0].wv.vectors)
