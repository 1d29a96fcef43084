"""Counting and encoding: the Arrow path gives exactly what the Python tokenizer gives."""

import contextlib
import gzip
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import DataFrame

from sparkw2v import TrainConfig
from sparkw2v.corpus import build_vocabulary, encode_corpus, select_column, word_counts
from sparkw2v.shard_records import shard_arrays

BROWN = Path(__file__).resolve().parent.parent / "sparkw2v" / "data" / "brown.txt.gz"

#: Lines that exercise the tokenizer's edges: Unicode whitespace (incl. U+001C..U+001F, NBSP,
#: U+3000), leading/trailing separators, case, nulls, empty and blank lines, long lines.
EDGE_LINES = [
    "The cat  sat\ton the\u00a0MAT", "  leading and trailing  ", None, "", "   ",
    "x\x1cy\x1dz\x1ew\x1fv", "ideo\u3000graphic\u2003space\u2028sep", "Straße ΟΔΟΣ İstanbul ĳ",
    " ".join(f"w{i % 37}" for i in range(95)), "the the the cat cat",
    # every character of the Basic Multilingual Plane between two letters: whitespace splits
    "".join(f"a{chr(c)}" for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000),
]


def _shards(encoded):
    parts = encoded.shards.glom().collect()
    return [shard_arrays(records) for records in parts], [[key for key, _ in records] for records in parts]


def _cached(spark):
    return len(spark.sparkContext._jsc.getPersistentRDDs())


def _same_encoding(spark, corpus, cfg, num_shards, chains=None, kept=True):
    """Vocabulary and shards of the Arrow path (tokenized once if ``kept``, as training does)
    and the Python path; asserts they are identical."""
    before = _cached(spark)
    with corpus.tokens_kept() if kept else contextlib.nullcontext():
        arrow_counts = word_counts(corpus, cfg)
        assert isinstance(arrow_counts, DataFrame)
        vocab = build_vocabulary(corpus, cfg, arrow_counts)
        assert _cached(spark) == before + kept  # the tokenized input, cached for encoding
        new = encode_corpus(corpus, vocab, cfg, num_shards, chains)
        assert _cached(spark) == before + 1  # the shards only: the tokenized input is dropped
    old_vocab = build_vocabulary(corpus, cfg, word_counts(corpus, cfg, arrow=False))
    assert vocab.words == old_vocab.words
    assert vocab.counts.tolist() == old_vocab.counts.tolist()
    assert (vocab.corpus_words, vocab.distinct_words) == (old_vocab.corpus_words, old_vocab.distinct_words)
    old = encode_corpus(corpus, vocab, cfg, num_shards, chains, arrow=False)
    try:
        (new_arrays, new_keys), (old_arrays, old_keys) = _shards(new), _shards(old)
        assert new.shard_words == old.shard_words
        assert new_keys == old_keys
        for (ids, starts), (old_ids, old_starts) in zip(new_arrays, old_arrays):
            assert ids.dtype == old_ids.dtype and np.array_equal(ids, old_ids)
            assert np.array_equal(starts, old_starts)
    finally:
        new.unpersist()
        old.unpersist()
    return vocab, new_arrays


@pytest.mark.parametrize("num_shards,chains,kept", [(2, None, True), (5, 2, False)])
def test_arrow_encoding_matches_python_on_brown(spark, num_shards, chains, kept):
    with gzip.open(BROWN, "rt", encoding="utf-8") as fh:
        lines = [line.rstrip("\n") for _, line in zip(range(6000), fh)]
    frame = spark.createDataFrame([(line,) for line in lines], "text string").repartition(3)
    # Short pieces and small records: sentence cuts and record boundaries both occur often.
    cfg = TrainConfig(min_count=3, max_sentence_length=7)
    vocab, arrays = _same_encoding(spark, select_column(frame, cfg), cfg, num_shards, chains, kept)
    assert len(vocab) > 1000 and sum(ids.size for ids, _ in arrays) > 50_000


@pytest.mark.parametrize("lowercase", [True, False])
def test_arrow_tokenizer_matches_python_on_edge_cases(spark, lowercase):
    frame = spark.createDataFrame([(line,) for line in EDGE_LINES * 3], "text string").repartition(2)
    cfg = TrainConfig(min_count=1, max_sentence_length=10, lowercase=lowercase)
    vocab, _ = _same_encoding(spark, select_column(frame, cfg), cfg, 3)
    assert ("x" in vocab.words) and ("\u00a0" not in "".join(vocab.words))
    assert ("mat" in vocab.words) == lowercase


def test_arrow_encoding_of_token_column_matches_python(spark):
    rows = [(["A", "b", None, "", "c"],), (None,), ([],), (["b"] * 12,), (["c", "A"],)]
    frame = spark.createDataFrame(rows, "tokens array<string>")
    cfg = TrainConfig(min_count=1, max_sentence_length=5, tokens_column="tokens", text_column="text")
    vocab, _ = _same_encoding(spark, select_column(frame, cfg), cfg, 2)
    assert vocab.words == ("b", "A", "c")  # not lower-cased; ties by word


def test_custom_token_pattern_keeps_the_python_tokenizer(spark):
    frame = spark.createDataFrame([("a,b;;c,a",), ("b,a",)], "text string")
    cfg = TrainConfig(min_count=1, token_pattern="[,;]+")
    corpus = select_column(frame, cfg)
    assert not isinstance(word_counts(corpus, cfg), DataFrame)
    vocab = build_vocabulary(corpus, cfg)
    assert dict(zip(vocab.words, vocab.counts.tolist())) == {"a": 3, "b": 2, "c": 1}
    encoded = encode_corpus(corpus, vocab, cfg, 2)
    try:
        arrays, _ = _shards(encoded)
        ids = np.concatenate([a for a, _ in arrays])
        assert sorted(vocab.words[i] for i in ids) == sorted("abcaba")
    finally:
        encoded.unpersist()


def test_tokens_kept_drops_the_cache_when_encoding_never_comes(spark):
    frame = spark.createDataFrame([("a b a",), ("c",)], "text string")
    cfg = TrainConfig(min_count=1)
    corpus = select_column(frame, cfg)
    before = _cached(spark)
    with pytest.raises(RuntimeError):
        with corpus.tokens_kept():
            assert build_vocabulary(corpus, cfg).words == ("a", "b", "c")
            assert _cached(spark) == before + 1
            raise RuntimeError("training failed before encoding")
    assert _cached(spark) == before


def test_every_count_comes_with_the_vocabulary_when_few_enough(spark):
    """The counting pass also brings the words below min_count to the driver, so the counts
    table needs no job of its own when the model is saved; not when a partition holds too many."""
    from sparkw2v.corpus import count_vocabulary

    frame = spark.createDataFrame([("a b a c d a b",), ("e a b",)], "text string").repartition(2)
    cfg = TrainConfig(min_count=2)
    corpus = select_column(frame, cfg)
    counts = word_counts(corpus, cfg)
    vocab, every = count_vocabulary(corpus, cfg, counts, all_words=10)
    assert vocab.words == ("a", "b") and vocab.distinct_words == 5
    assert dict(zip(every.column("word").to_pylist(), every.column("count").to_pylist())) == {
        "a": 4, "b": 3, "c": 1, "d": 1, "e": 1}
    assert count_vocabulary(corpus, cfg, counts, all_words=1)[1] is None   # 3 rare words in 2 partitions
    assert count_vocabulary(corpus, cfg, counts)[1] is None                 # not asked for
    fewer = count_vocabulary(corpus, cfg, counts, all_words=1)[0]
    assert fewer.words == vocab.words and fewer.counts.tolist() == vocab.counts.tolist()


def test_what_counts_as_not_text(caplog):
    """Half the kept words with undecodable bytes or C0 controls: refused; C1 controls (valid
    UTF-8, as text decoded twice is full of them) and terminal colour codes are no encoding
    problem and get no warning about one."""
    import logging

    from sparkw2v.corpus import InputError, check_decoded
    from sparkw2v.vocabulary import Vocabulary

    def vocab(pairs):
        return Vocabulary.from_counts(pairs, 1)
    with pytest.raises(InputError, match=r"f.txt does not look like text: 72% of its words"):
        check_decoded(vocab([("a\ufffdb", 10), ("ok", 5), ("x\x01", 3)]), TrainConfig(input="f.txt"))
    twice = "привет мир".encode().decode("latin-1")      # every word holds C1 controls
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        check_decoded(vocab([(w, 5) for w in twice.split()]), TrainConfig())
        check_decoded(vocab([("\x1b[31merror\x1b[0m", 2), ("ok", 5)]), TrainConfig())
        assert not caplog.messages
        check_decoded(vocab([("caf\ufffd", 2), ("the", 30)]), TrainConfig())
    assert len(caplog.messages) == 1 and "1 vocabulary words hold bytes that are not UTF-8" in caplog.messages[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):   # a line without spaces is one long word
        check_decoded(vocab([("\ufffd" + "x" * 300_000, 2), ("the", 30)]), TrainConfig())
    assert len(caplog.messages) == 1 and len(caplog.messages[0]) < 600
    assert "xxx'... (300,001 characters)" in caplog.messages[0]


def test_many_chunks_per_partition_encode_as_the_python_path(monkeypatch):
    """Without Spark: a partition cut into many small chunks (each with its own distinct words)
    and fed in several Arrow batches gives the records, counts and null rows of the Python path."""
    import pyarrow as pa
    import pyspark

    from sparkw2v import executor
    from sparkw2v.tokenizer import TokenizerSpec

    monkeypatch.setattr(executor, "CHUNK_TOKENS", 40)
    context = type("Ctx", (), {"partitionId": lambda self: 1})()
    monkeypatch.setattr(pyspark.TaskContext, "get", staticmethod(lambda: context))
    lines = EDGE_LINES[:-1] * 2 + ["one two three"] * 30
    cfg = TrainConfig(min_count=1, max_sentence_length=6)
    task = executor.EncodeTask(TokenizerSpec.from_config(cfg), False, 3, record_words=25)
    batches = [pa.RecordBatch.from_arrays([pa.array(lines[i:i + 7], pa.string())], names=["text"])
               for i in range(0, len(lines), 7)]
    rows = pa.Table.from_batches(list(executor.tokenize_batches(iter(batches), task))).to_pylist()
    chunks = [r for r in rows if r["words"] is not None]
    assert len(chunks) >= 4
    counts = {r["word"]: r["count"] for r in rows if r["word"] is not None}
    assert sum(1 for r in rows if r["word"] is None and r["count"] is not None and r["words"] is None) == 1
    expected = {}
    for line in lines:
        for word in (line.lower().split() if line else []):
            expected[word] = expected.get(word, 0) + 1
    assert counts == expected
    words = sorted(expected, key=lambda w: (-expected[w], w))[:-3]      # some words outside the vocabulary
    chunk_table = pa.Table.from_pylist(chunks).select(["ids", "lengths", "words"])
    got = [executor.record_of_row(tuple(r.values())) for batch in executor.encode_token_rows(
        iter(chunk_table.to_batches(max_chunksize=2)), task, type("Bc", (), {"value": pa.array(words)})())
        for r in pa.Table.from_batches([batch]).to_pylist()]
    index = {w: i for i, w in enumerate(words)}
    want = list(executor.encode_partition(1, iter(lines), task, type("Bc", (), {"value": index})()))
    assert [key for key, _ in got] == [key for key, _ in want] and len(want) > 3
    for (_, (ids, lengths)), (_, (want_ids, want_lengths)) in zip(got, want):
        assert ids.tolist() == want_ids.tolist() and lengths.tolist() == want_lengths.tolist()
