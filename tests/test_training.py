"""Training on Spark: vocabulary, planted structure, determinism, outputs."""

import json

import numpy as np
import pytest
from pyspark.sql import types as T

from sparkw2v import TrainConfig, Word2Vec, Word2VecModel
from sparkw2v.cli import main
from sparkw2v.corpus import build_vocabulary, select_column


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
    assert other is not a and set(executor._BUFFERS.of("run-2")) == {"in"}
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
