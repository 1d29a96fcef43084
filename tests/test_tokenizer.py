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
