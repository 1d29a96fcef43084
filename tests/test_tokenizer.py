"""Tokenization: whitespace, case, regex, long lines and sentence pieces."""

from sparkw2v import tokenizer
from sparkw2v.tokenizer import TokenizerSpec, sentences, split_text


def test_default_lowercases_and_splits_on_whitespace():
    assert list(split_text("The  cat\tsat\n", TokenizerSpec())) == [["the", "cat", "sat"]]


def test_keep_case_and_regex():
    spec = TokenizerSpec(lowercase=False, pattern=r"[,\s]+")
    assert list(split_text("Hello, World,again", spec)) == [["Hello", "World", "again"]]


def test_long_sentences_are_cut_into_pieces():
    spec = TokenizerSpec(max_sentence_length=3)
    assert list(split_text("a b c d e f g", spec)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]


def test_a_line_longer_than_a_segment_keeps_every_token(monkeypatch):
    monkeypatch.setattr(tokenizer, "SEGMENT_CHARS", 10)
    words = [f"w{i}" for i in range(100)]
    pieces = list(split_text(" ".join(words), TokenizerSpec(max_sentence_length=7)))
    assert [w for p in pieces for w in p] == words
    assert all(len(p) == 7 for p in pieces[:-1])


def test_nulls_and_empty_rows_are_skipped_and_unicode_passes_through():
    rows = [None, "", "Ünïcode 漢字 x" * 1, "  "]
    assert list(sentences(rows, TokenizerSpec(), pretokenized=False)) == [["ünïcode", "漢字", "x"]]
    assert list(sentences([["a", None, "b"], None], TokenizerSpec(), pretokenized=True)) == [["a", "b"]]


def test_transform_means_are_the_same_with_arrow_split_and_the_python_tokenizer():
    """transform splits text on whitespace with Arrow (no Python per row); a token pattern of
    whitespace goes through the Python tokenizer: both give the same means, nulls and
    non-ASCII lines included."""
    import numpy as np
    import pyarrow as pa

    from sparkw2v import executor

    lines = ["The jury said", None, "", "  \t ", "İstanbul ΣΟΦΟΣ the Ünïcode\tjury", "unknown words only"]
    words = ["the", "jury", "said", "i̇stanbul", "σοφος", "ünïcode"]
    matrix = np.arange(len(words) * 3, dtype=np.float32).reshape(-1, 3)
    table = pa.table({"word": pa.array(words), "vector": pa.ListArray.from_arrays(
        pa.array(np.arange(0, matrix.size + 1, 3, dtype=np.int32)), pa.array(matrix.ravel()))})

    class Payload:  # stands for the broadcast (word, vector) table in a worker
        value = table

    batch = pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], ["text"])
    means = {}
    for over_all in (True, False):   # MLlib's divisor, then the mean of known words (kept below)
        for pattern in (None, r"\s+"):
            task = executor.MeanVectorTask(False, TokenizerSpec(True, pattern, 10_000), f"t{pattern}", over_all)
            out = executor.mean_vector_column(batch.column(0), task, Payload()).to_pylist()
            means[pattern] = np.array(out, dtype=np.float32)
        assert np.array_equal(means[None], means[r"\s+"])
    assert np.allclose(means[None][0], matrix[:3].mean(axis=0)) and not means[None][1:4].any()
    assert np.allclose(means[None][4], matrix[[3, 4, 0, 5, 1]].mean(axis=0))
