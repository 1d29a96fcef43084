"""Training on Spark: vocabulary, planted structure, determinism, outputs, input errors."""

import json
import logging

import numpy as np
import pytest
from pyspark.sql import types as T

from sparkw2v import TrainConfig, Word2Vec, Word2VecModel
from sparkw2v.cli import main
from sparkw2v.corpus import InputError, build_vocabulary, select_column


def text_frame(spark, lines):
    return spark.createDataFrame([(line,) for line in lines], "text string")


def test_vocabulary_counts_min_count_and_tie_order(spark):
    frame = text_frame(spark, ["b a c a B a", "d d c e", None, ""])
    corpus = select_column(frame, TrainConfig())
    vocab = build_vocabulary(corpus, TrainConfig(min_count=2))
    assert vocab.words == ("a", "b", "c", "d")        # 3, then ties at 2 by word
    assert list(vocab.counts) == [3, 2, 2, 2]
    assert (vocab.corpus_words, vocab.distinct_words) == (10, 5)
    assert build_vocabulary(corpus, TrainConfig(min_count=2, max_vocab_size=2)).words == ("a", "b")
    keep_case = build_vocabulary(corpus, TrainConfig(min_count=1, lowercase=False))
    assert dict(zip(keep_case.words, keep_case.counts))["B"] == 1


def planted_lines(seed=0, groups=2, per_group=8, sentences=1500, length=8):
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(sentences):
        g = rng.integers(groups)
        lines.append(" ".join(f"g{g}w{i}" for i in rng.integers(0, per_group, length)))
    return lines


PLANTED = dict(vector_size=16, window=3, negative=4, min_count=1, sample=0.0, epochs=5, seed=3, batch_words=512)


@pytest.mark.parametrize("sg", [True, False], ids=["sg", "cbow"])
@pytest.mark.parametrize("partitions", [1, 3])
def test_planted_groups_are_nearest_neighbours(spark, sg, partitions):
    frame = text_frame(spark, planted_lines())
    model = Word2Vec(sg=sg, num_partitions=partitions, **PLANTED).fit(frame)
    assert len(model.wv) == 16
    for word in model.wv.words:
        neighbours = [w for w, _ in model.most_similar(word, topn=5)]
        assert all(n[:2] == word[:2] for n in neighbours), (word, neighbours)
    history = model.result.history
    assert len(history) == 5 and history[-1]["loss"] < history[0]["loss"]
    # One sync per epoch: the slowest task's time is at most all tasks' together, at least their mean.
    for h in history:
        assert h["task_seconds"] / partitions - 1e-9 <= h["slowest_task_seconds"] <= h["task_seconds"] + 1e-9


def test_same_seed_and_partitions_give_identical_vectors(spark):
    frame = text_frame(spark, planted_lines(seed=1, sentences=200))
    runs = [Word2Vec(num_partitions=3, syncs_per_epoch=2, **PLANTED).fit(frame).wv.vectors for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])
    other = Word2Vec(num_partitions=3, **{**PLANTED, "seed": 4}).fit(frame).wv.vectors
    assert not np.array_equal(runs[0], other)


def test_summing_on_driver_or_executors_gives_identical_vectors(spark, monkeypatch):
    from sparkw2v import training

    frame = text_frame(spark, planted_lines(seed=1, sentences=200))
    conf = spark.sparkContext.getConf()
    assert training.sums_on_driver(conf, 16, 8, 3)                  # small: the driver sums
    assert not training.sums_on_driver(conf, 1_000_000, 100, 2)     # 0.8 GB: the executors do
    on_driver = Word2Vec(num_partitions=3, syncs_per_epoch=2, **PLANTED).fit(frame).wv.vectors
    monkeypatch.setattr(training, "DIRECT_FRACTION", 0.0)
    on_executors = Word2Vec(num_partitions=3, syncs_per_epoch=2, **PLANTED).fit(frame).wv.vectors
    np.testing.assert_array_equal(on_driver, on_executors)


def test_more_shards_than_concurrent_shards_train_in_chains(spark, monkeypatch):
    """4 shards, 2 at a time: each task trains a chain of 2 shards in corpus order, which gives
    exactly the vectors of 2 shards holding the same records; averaging all 4 at once differs."""
    from sparkw2v import executor

    monkeypatch.setattr(executor, "RECORD_WORDS", 1600)   # 6,400 words: 4 records either way
    frame = text_frame(spark, planted_lines(seed=2, sentences=800)).coalesce(1)
    chained = Word2Vec(num_partitions=4, concurrent_shards=2, **PLANTED).fit(frame)
    info = chained.result.info
    assert (info["num_partitions"], info["concurrent_shards"], info["shard_words"]) == (4, 2, [1600] * 4)
    assert chained.result.history[0]["words"] == 6400
    for word in chained.wv.words:
        assert all(n[:2] == word[:2] for n, _ in chained.most_similar(word, topn=5))
    two_shards = Word2Vec(num_partitions=2, **PLANTED).fit(frame)
    np.testing.assert_array_equal(chained.wv.vectors, two_shards.wv.vectors)
    at_once = Word2Vec(num_partitions=4, concurrent_shards=4, strategy="average", **PLANTED).fit(frame)
    assert at_once.result.info["concurrent_shards"] == 4
    assert not np.array_equal(chained.wv.vectors, at_once.wv.vectors)


def test_diverging_run_stops_with_a_clear_error(spark):
    from sparkw2v.training import DivergedError

    frame = text_frame(spark, planted_lines(seed=2, sentences=200))
    with pytest.raises(DivergedError, match=r"diverged in epoch 1/5.*lower alpha \(stepSize\) or partition_alpha_scale"):
        Word2Vec(num_partitions=2, alpha=1.0, partition_alpha_scale=1e6, **PLANTED).fit(frame)


def test_pretokenized_column_trains_on_tokens_as_given(spark):
    schema = T.StructType([T.StructField("tokens", T.ArrayType(T.StringType()))])
    frame = spark.createDataFrame([(line.split(),) for line in planted_lines(sentences=100)] + [(None,)], schema)
    model = Word2Vec(tokens_column="tokens", **{**PLANTED, "epochs": 1}).fit(frame)
    assert "g0w1" in model.wv and len(model.wv) == 16


def test_cli_writes_vector_table_and_metadata(spark, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(planted_lines(sentences=200)) + "\n")
    out = tmp_path / "model"
    code = main(["train", "--input", str(corpus), "--output", str(out), "--vector-size", "8", "--epochs", "2",
                 "--min-count", "1", "--sample", "0", "--num-partitions", "2", "--show", "g0w0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "g0w0:" in printed and "trained 16 words" in printed

    version = out / "versions" / "000001"
    assert (out / "LATEST").read_text().strip() == "1"
    vectors = spark.read.parquet(str(version / "vectors"))
    assert [(f.name, f.dataType.simpleString()) for f in vectors.schema.fields] == [
        ("word", "string"), ("count", "bigint"), ("vector", "array<float>")]
    assert vectors.count() == 16
    assert all(len(r.vector) == 8 for r in vectors.collect())
    vocab = spark.read.parquet(str(version / "vocab"))
    assert [f.name for f in vocab.schema.fields] == ["word", "count", "id"]
    meta = json.loads((version / "metadata.json").read_text())
    assert meta["version"] == 1 and meta["vocab_size"] == 16 and meta["vector_size"] == 8 and meta["corpus_words"] == 1600
    assert meta["parameters"]["epochs"] == 2 and meta["parameters"]["min_count"] == 1
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert all(h["loss"] > 0 and h["words_per_second"] > 0 for h in meta["history"])
    assert {"numpy", "pyspark", "pyarrow", "sparkw2v"} <= set(meta["versions"])
    assert meta["timings"]["train_seconds"] > 0

    loaded = Word2VecModel.load(str(out), spark=spark)
    assert loaded.wv.words == [r.word for r in vocab.orderBy("id").collect()]
    row = vectors.filter("word = 'g1w3'").first()
    np.testing.assert_array_equal(loaded.wv["g1w3"], np.array(row.vector, dtype=np.float32))
    assert loaded.config.epochs == 2

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# word1\tword2\tscore\ng0w0\tg0w1\t9\ng0w0\tg1w1\t1\ng1w2\tg1w3\t8\ng0w2\tg1w5\t2\n")
    assert main(["evaluate", "--vectors", str(out), "--similarity", str(pairs)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["wordsim_pairs"] == 4 and -1 <= scores["wordsim_spearman"] <= 1

    # An existing output is refused without --overwrite and left as it was.
    before = (version / "metadata.json").read_text()
    assert main(["train", "--input", str(corpus), "--output", str(out), "--min-count", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (version / "metadata.json").read_text() == before
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["LATEST", "metadata", "versions"]


def test_bad_input_gets_one_clear_error_and_writes_nothing(spark, tmp_path, capsys):
    pairs = tmp_path / "x.tsv"
    pairs.write_text("a\tb\t1.0\n")
    assert main(["evaluate", "--vectors", str(tmp_path), "--similarity", str(pairs)]) == 2
    assert "is not a sparkw2v model" in capsys.readouterr().err
    assert main(["evaluate", "--vectors", str(tmp_path), "--similarity", "x.tsv"]) == 2
    assert "--similarity: x.tsv: no such file" in capsys.readouterr().err
    out = tmp_path / "never"
    assert main(["train", "--input", str(tmp_path / "missing.txt"), "--output", str(out)]) == 2
    assert "cannot read text input" in capsys.readouterr().err
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


def test_one_long_line_is_cut_into_sentences(spark, tmp_path):
    corpus = tmp_path / "one-line.txt"
    corpus.write_text(" ".join(planted_lines(seed=3, sentences=2000)) + "\n")   # 16,000 words, one line
    model = Word2Vec(input=str(corpus), max_sentence_length=100, **{**PLANTED, "epochs": 1}).fit_input(spark)
    assert model.result.info["train_words"] == 16_000 and len(model.wv) == 16


def test_working_copies_reuse_one_buffer_per_run_and_matrix():
    """A task's copy of the broadcast model lands in the buffer its worker kept from the
    previous epoch of the same run; a new run or a new shape gets fresh buffers."""
    from sparkw2v import executor
    first = np.arange(6, dtype=np.float32).reshape(3, 2)
    a = executor._working_copy("in", first, "run-1")
    np.testing.assert_array_equal(a, first)
    assert a is not first
    a += 100                                        # the task trains in it
    again = executor._working_copy("in", first * 2, "run-1")
    assert again is a
    np.testing.assert_array_equal(again, first * 2)
    assert executor._working_copy("out", first, "run-1") is not a
    other = executor._working_copy("in", first, "run-2")
    assert other is not a and set(executor._BUFFERS) == {"in"}
    assert executor._working_copy("in", np.zeros((4, 2), np.float32), "run-2").shape == (4, 2)
    executor._BUFFERS.clear()


def test_word_spread_counts_the_shards_a_word_occurs_in(spark):
    """4 shards of 100 lines each: a word in every line is spread over 4, one in the first
    shard's lines only over 1, one in half of one shard's lines and all of another's over 1.8."""
    from sparkw2v.corpus import encode_corpus
    from sparkw2v.training import word_spread
    lines = [f"common {'first' if i < 100 else 'other'} {'half' if 150 <= i < 300 else 'x'} z" for i in range(400)]
    cfg = TrainConfig(min_count=1)
    corpus = select_column(text_frame(spark, lines).coalesce(1), cfg)
    vocab = build_vocabulary(corpus, cfg)
    encoded = encode_corpus(corpus, vocab, cfg, 4)
    try:
        spread = dict(zip(vocab.words, word_spread(encoded, len(vocab))))
    finally:
        encoded.unpersist()
    assert encoded.shard_words == [400] * 4
    assert spread["common"] == pytest.approx(4) and spread["first"] == pytest.approx(1)
    assert spread["half"] == pytest.approx(150 ** 2 / (50 ** 2 + 100 ** 2))
