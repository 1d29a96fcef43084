"""word2vec C formats: round trips, gensim in both directions, malformed files, CLI export/import;
models saved by Spark MLlib imported."""

import bz2
import gzip
import lzma
import json

import numpy as np
import pytest
from gensim.models import KeyedVectors

from sparkw2v import publishing, vector_table
from sparkw2v.cli import main
from sparkw2v.interchange import (FormatError, detect_binary, read_vocab_counts, read_word2vec,
                                  write_vocab_counts, write_word2vec)
from sparkw2v.vocabulary import Vocabulary

WORDS = ["the", "café", "日本語", "naïve", "</s>", "a\u200bb"]  # U+200B zero-width space: no whitespace


def _matrix(n=len(WORDS), d=7, seed=0, extremes=False):
    m = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    if extremes:
        m[0, 0], m[1, 1] = 1e-30, -3.4e38  # tiny and huge float32 values survive too
    return m


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz"])
def test_round_trip_keeps_words_order_and_exact_float32(tmp_path, binary, suffix):
    path = str(tmp_path / f"vectors{suffix}")
    m = _matrix(extremes=True)
    write_word2vec(path, WORDS, m, binary=binary)
    if suffix:  # compressed as gensim compresses by name, and read back so by gensim
        with {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}[suffix](path, "rb") as f:
            assert f.readline() == b"6 7\n"
        assert KeyedVectors.load_word2vec_format(path, binary=binary).index_to_key == WORDS
    assert detect_binary(path) is binary
    for mode in (None, binary):  # auto-detected and stated
        words, vectors = read_word2vec(path, binary=mode)
        assert words == WORDS and vectors.dtype == np.float32
        # binary is bit-exact by construction; text uses 9 significant digits, also exact for float32
        np.testing.assert_array_equal(vectors, m)
    words, vectors = read_word2vec(path, limit=2)
    assert words == WORDS[:2] and vectors.shape == (2, 7)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_binary_whose_first_floats_hold_a_newline_byte_is_detected_as_binary(tmp_path, suffix):
    # The first row's float bytes read b"xy\n@": up to that byte, the row looks like text ("w xy").
    path = str(tmp_path / f"vectors.bin{suffix}")
    m = _matrix()
    m[0, 0] = np.frombuffer(b"xy\n@", dtype="<f4")[0]
    write_word2vec(path, WORDS, m, binary=True)
    assert detect_binary(path) is True
    words, vectors = read_word2vec(path)
    assert words == WORDS
    np.testing.assert_array_equal(vectors, m)


def test_gensims_empty_key_in_a_binary_file_keeps_every_row_in_place(tmp_path):
    # gensim writes the key "" (from line.split(" ") on a double space) as a row starting with b" ".
    path = str(tmp_path / "empty.bin")
    kv = KeyedVectors(5)
    kv.add_vectors(["the", "", "cat", "sat"], np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32))
    kv.save_word2vec_format(path, binary=True)
    words, vectors = read_word2vec(path)
    assert words == ["the", "", "cat", "sat"]
    np.testing.assert_array_equal(vectors, KeyedVectors.load_word2vec_format(path, binary=True).vectors)


def test_a_text_file_whose_first_word_is_not_utf8_is_detected_as_text(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"3 2\ncaf\xe9 0 1\n\xe9t\xe9 1 0\nx 1 1\n")   # short values: the probe reaches row 2's word
    assert detect_binary(str(path)) is False
    words, vectors = read_word2vec(str(path), unicode_errors="replace")
    assert words == ["caf\ufffd", "\ufffdt\ufffd", "x"]
    np.testing.assert_array_equal(vectors, [[0, 1], [1, 0], [1, 1]])


def test_a_damaged_gzip_file_is_one_clear_error(tmp_path):
    good = gzip.compress(b"3 2\na 1 2\nb 3 4\nc 5 6\n")
    crc = bytearray(good)
    crc[-8] ^= 0xFF                                    # the CRC of the data no longer matches
    for name, content in (("crc.gz", bytes(crc)), ("tail.gz", good + b"garbage!")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(FormatError, match=f"{name}: damaged compressed data"):
            read_word2vec(str(path))


def test_the_binary_hint_is_given_for_the_first_row_only(tmp_path):
    later = tmp_path / "later.txt"
    later.write_bytes(b"2 2\na 1 2\nb 1 2 3\n")       # a text file: its first row reads as text
    with pytest.raises(FormatError, match=r"line 3: expected a word and 2 numbers, got 3 numbers$"):
        read_word2vec(str(later))
    glove = tmp_path / "glove.txt"
    glove.write_bytes(b"a 1 2\nb 3 4\n")               # no header: nothing to do with binary
    with pytest.raises(FormatError, match=r"need it added$"):
        read_word2vec(str(glove))


def test_vocab_counts_words_follow_unicode_errors_as_the_vectors_words_do(tmp_path):
    path = tmp_path / "latin1.vocab"
    path.write_bytes(b"caf\xe9 10\nb 3\n")
    assert read_vocab_counts(str(path), unicode_errors="replace") == {"caf\ufffd": 10, "b": 3}
    with pytest.raises(FormatError, match=r"line 1: word .* is not valid UTF-8 .*--unicode-errors replace"):
        read_vocab_counts(str(path))


def test_write_refuses_what_read_refuses_and_writes_upper_case_suffixes_compressed(tmp_path):
    for bad in (np.array([[1e39, 1.0]]), np.array([[np.nan, 1.0]]), np.array([[np.inf, 1.0]])):
        with pytest.raises(FormatError, match="word 'a' holds a NaN, an infinity or a value beyond float32"):
            write_word2vec(str(tmp_path / "bad.txt"), ["a"], bad)
    assert not (tmp_path / "bad.txt").exists()
    with pytest.raises(FormatError, match="cannot be written as UTF-8"):
        write_word2vec(str(tmp_path / "s.txt"), ["a\udcff"], np.ones((1, 2)))    # a lone surrogate
    path = tmp_path / "v.GZ"
    write_word2vec(str(path), ["a", "b"], np.ones((2, 2)))
    assert path.read_bytes()[:2] == b"\x1f\x8b"                                   # gzip, as gensim reads .GZ
    assert KeyedVectors.load_word2vec_format(str(path)).index_to_key == ["a", "b"]


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files(tmp_path, binary):
    path, counts_path = str(tmp_path / "v.w2v"), str(tmp_path / "counts.txt")
    m, counts = _matrix(extremes=True), [60, 50, 40, 30, 20, 10]
    write_word2vec(path, WORDS, m, binary=binary)
    write_vocab_counts(counts_path, WORDS, counts)
    kv = KeyedVectors.load_word2vec_format(path, binary=binary, fvocab=counts_path)
    assert kv.index_to_key == WORDS
    np.testing.assert_array_equal(kv.vectors, m)
    assert [kv.get_vecattr(w, "count") for w in WORDS] == counts


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_gensims_files(tmp_path, binary):
    m = _matrix(extremes=True)
    kv = KeyedVectors(vector_size=7)
    kv.add_vectors(WORDS, m)
    for i, w in enumerate(WORDS):
        kv.set_vecattr(w, "count", 100 - i)
    path, counts_path = str(tmp_path / "g.w2v.gz"), str(tmp_path / "g.vocab")
    kv.save_word2vec_format(path, fvocab=counts_path, binary=binary)  # binary rows: no trailing "\n"
    words, vectors = read_word2vec(path)  # format auto-detected
    assert words == WORDS
    np.testing.assert_array_equal(vectors, m)  # gensim's text is the shortest float32 repr: exact
    assert read_vocab_counts(counts_path) == {w: 100 - i for i, w in enumerate(WORDS)}


def test_reads_word2vec_c_text_rows_with_trailing_space(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"2 3\n</s> 0.004003 0.004419 -0.003830 \nthe -0.1 0.2 0.3 \n")
    words, vectors = read_word2vec(str(path))
    assert words == ["</s>", "the"]
    np.testing.assert_allclose(vectors[1], [-0.1, 0.2, 0.3], rtol=1e-6)


@pytest.mark.parametrize("word", ["two words", "tab\there", "new\nline", "no\u00a0break", ""])
def test_words_the_format_cannot_hold_are_refused_by_name(tmp_path, word):
    path = tmp_path / "v.txt"
    with pytest.raises(FormatError, match="cannot be written in word2vec format") as info:
        write_word2vec(str(path), ["ok", word], np.zeros((2, 2), np.float32))
    assert repr(word) in str(info.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # no partial or temporary file


@pytest.mark.parametrize("binary", [False, True])
def test_what_export_writes_import_reads_back(tmp_path, binary):
    """A 70,000-character word (a URL or a blob in crawled text) round-trips, as gensim reads it; a
    word longer than the readers take is refused on export, naming how many."""
    from sparkw2v.interchange import _MAX_WORD_BYTES

    path = tmp_path / "long.w2v"
    words = ["u" * 70_000, "b"]
    write_word2vec(str(path), words, _matrix(2, 3), binary=binary)
    read, matrix = read_word2vec(str(path))
    assert read == words and np.array_equal(matrix, _matrix(2, 3))
    assert KeyedVectors.load_word2vec_format(str(path), binary=binary).index_to_key == words
    with pytest.raises(FormatError, match=r"'x{40}'\.\.\. \(1,048,577 bytes\) and 1 more cannot be written"):
        write_word2vec(str(tmp_path / "longer.w2v"), ["x" * (_MAX_WORD_BYTES + 1), "y" * (_MAX_WORD_BYTES + 2), "c"],
                       _matrix(3, 3), binary=binary)


def test_duplicate_words_and_existing_output_are_refused(tmp_path):
    path = str(tmp_path / "v.txt")
    with pytest.raises(FormatError, match="'a' appears more than once"):
        write_word2vec(path, ["a", "b", "a"], np.zeros((3, 2), np.float32))
    write_word2vec(path, ["a"], np.ones((1, 2), np.float32))
    with pytest.raises(publishing.OutputExistsError, match="already exists"):
        write_word2vec(path, ["b"], np.zeros((1, 2), np.float32))
    write_word2vec(path, ["b"], np.zeros((1, 2), np.float32), overwrite=True)
    assert read_word2vec(path)[0] == ["b"]


def _binary_rows(rows, header=None, d=2):
    out = [header or f"{len(rows)} {d}\n".encode()]
    for word, vec in rows:
        out += [word + b" ", np.asarray(vec, "<f4").tobytes(), b"\n"]
    return b"".join(out)


@pytest.mark.parametrize("content, binary, message", [
    (b"", None, "line 1: expected a header"),
    (b"hello 0.1 0.2\n", None, "line 1: expected a header .*GloVe"),
    (b"2 x\na 1\n", None, "line 1: expected a header"),
    (b"2 2\na 1 2\nb 1\n", False, "line 3: expected a word and 2 numbers, got 1 numbers"),
    (b"2 2\na 1 2\nb 1 2 3\n", False, "line 3: expected a word and 2 numbers, got 3"),
    (b"2 2\na 1 2\nb 1 oops\n", False, "line 3: 'oops' is not a number"),
    (b"3 2\na 1 2\nb 1 2\n", False, "ends after 2 of the 3 rows"),
    (b"1 2\na 1 2\nb 1 2\n", False, "line 3: more rows than the 1"),
    (b"2 2\na 1 2\na 3 4\n", False, "line 3: word 'a' repeats row 1"),
    (b"1 2\n\xff\xfe 1 2\n", False, "line 2: word .* is not valid UTF-8"),
    (_binary_rows([(b"a", [1, 2]), (b"b", [3, 4])])[:-6], True,
     r"row 2 \(word 'b'\) is truncated: 3 of its 8"),
    (_binary_rows([(b"a", [1, 2])], header=b"3 2\n"), True, "ends after 1 of the 3 rows"),
    (_binary_rows([(b"a", [1, 2]), (b"b", [3, 4])], header=b"1 2\n"), True, "more data after the 1 rows"),
    (_binary_rows([(b"a", [1, 2]), (b"a", [3, 4])]), True, "row 2: word 'a' repeats row 1"),
    (b"1 2\n" + b"x" * 70000, True, "row 1: no space after the word"),
    # not finite: refused rather than served as vectors whose similarities are NaN
    (b"2 2\na 1 2\nb nan 2\n", None, r"line 3: word 'b' holds nan \(NaN, infinite, or beyond float32"),
    (b"2 2\na 1e39 2\nb -inf 2\n", None, r"line 2: word 'a' holds inf .*, as do 1 more rows"),
    (_binary_rows([(b"a", [1, 2]), (b"b", [np.inf, 4])]), None, "row 2: word 'b' holds inf"),
    # a malformed first text row is read as text (detection), so its error names the line
    (b"2 2\na 1 2 3\nb 1 2\n", None, "line 2: expected a word and 2 numbers, got 3"),
    (b"2 2\na 1 2 3\nb 1 2\n", None, r"got 3 numbers \(read as text, .*give --binary, in Python binary=True\)$"),
    (b"2 2\na 1 2 3\nb 1 2\n", False, "got 3 numbers$"),   # stated as text: no hint
    (b"2 2\na 0,5 2\nb 1 2\n", None, "line 2: '0,5' is not a number"),
    (b"1 2\ncaf\xe9 1 2\n", None, "line 2: word .* is not valid UTF-8 .* --unicode-errors replace"),
])
def test_malformed_files_name_the_line_or_row(tmp_path, content, binary, message):
    path = tmp_path / "bad.w2v"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        read_word2vec(str(path), binary=binary)


@pytest.mark.parametrize("binary", [False, True])
def test_words_that_are_not_utf8_are_read_as_gensim_reads_them_when_asked(tmp_path, binary):
    path = tmp_path / "latin1.w2v"
    path.write_bytes(_binary_rows([(b"caf\xe9", [1, 2]), (b"b", [3, 4])]) if binary else
                     b"2 2\ncaf\xe9 1 2\nb 3 4\n")
    assert read_word2vec(str(path), unicode_errors="replace")[0] == ["caf\ufffd", "b"]
    assert read_word2vec(str(path), unicode_errors="ignore")[0] == ["caf", "b"]
    assert KeyedVectors.load_word2vec_format(str(path), binary=binary,
                                             unicode_errors="replace").index_to_key == ["caf\ufffd", "b"]


def test_truncated_binary_is_detected_and_damaged_gzip_and_missing_files_are_clear(tmp_path):
    good = tmp_path / "good.bin"
    write_word2vec(str(good), ["a", "b", "c"], _matrix(3, 50), binary=True)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(FormatError, match=r"row 3 \(word 'c'\) is truncated"):
        read_word2vec(str(cut))
    for suffix, compress in ((".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)):
        cut = tmp_path / f"cut.txt{suffix}"                    # compressed data cut short
        cut.write_bytes(compress(b"3 2\na 1 2\nb 3 4\nc 5 6\n")[:-9])
        with pytest.raises(FormatError, match="damaged compressed data"):
            read_word2vec(str(cut))
    zstd = tmp_path / "v.txt"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(FormatError, match="v.txt is zstd-compressed: decompress it first"):
        read_word2vec(str(zstd))
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        read_word2vec(str(tmp_path / "missing.txt"))
    bad_counts = tmp_path / "counts.txt"
    bad_counts.write_bytes(b"a 3\nb three\n")
    with pytest.raises(FormatError, match="line 2: expected 'word count'"):
        read_vocab_counts(str(bad_counts))
    bad_counts.write_bytes(b"a 3\nb 99999999999999999999\n")     # beyond int64, where counts are held
    with pytest.raises(FormatError, match=r"line 2: expected 'word count' \(a count from 0 to 2\^63 - 1\)"):
        read_vocab_counts(str(bad_counts))


# -- model directories and the command line --------------------------------------------------

@pytest.fixture(scope="module")
def model_dir(spark, tmp_path_factory):
    """A small trained-looking model: counts with a tie, so order is count desc, then word."""
    vocab = Vocabulary.from_counts([("zebra", 9), ("apple", 5), ("mango", 5), ("kiwi", 2), ("éclair", 1)], 1)
    w_in = _matrix(len(vocab), 6, seed=1)
    path = str(tmp_path_factory.mktemp("model") / "m")
    publishing.write_model(spark, path, vocab, w_in, np.ones_like(w_in), {"parameters": {"vector_size": 6}})
    return path, vocab, w_in


@pytest.mark.parametrize("fmt", ["word2vec-text", "word2vec-binary"])
def test_cli_export_writes_what_gensim_reads_in_model_order(spark, model_dir, tmp_path, capsys, fmt):
    path, vocab, w_in = model_dir
    out, counts = tmp_path / "out.w2v", tmp_path / "counts.txt"
    argv = ["export", "--vectors", path, "--format", fmt, "--output", str(out), "--vocab-counts", str(counts)]
    assert main(argv) == 0
    assert "exported 5 words x 6 dims" in capsys.readouterr().out
    kv = KeyedVectors.load_word2vec_format(str(out), binary=fmt.endswith("binary"), fvocab=str(counts))
    assert kv.index_to_key == list(vocab.words) == ["zebra", "apple", "mango", "kiwi", "éclair"]
    np.testing.assert_array_equal(kv.vectors, w_in)
    assert [kv.get_vecattr(w, "count") for w in vocab.words] == vocab.counts.tolist()
    assert main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


def test_cli_import_keeps_file_order_with_rank_counts_and_loads(spark, tmp_path, capsys):
    from sparkw2v.model import Word2VecModel

    words = ["zulu", "alpha", "mike", "日本"]  # not alphabetical: the file's order must survive
    m = _matrix(4, 5, seed=2)
    src = tmp_path / "in.bin.gz"
    write_word2vec(str(src), words, m, binary=True)
    out = str(tmp_path / "imported")
    assert main(["import", "--input", str(src), "--output", out]) == 0
    assert "imported 4 words x 5 dims" in capsys.readouterr().out
    model = Word2VecModel.load(out, spark=spark)
    assert model.wv.words == words and model.vocab.counts.tolist() == [4, 3, 2, 1]
    np.testing.assert_array_equal(model.wv.vectors, m)
    assert model.metadata["counts"] == "rank" and model.metadata["import_format"] == "word2vec-binary"
    assert model.config.vector_size == 5 and model.wv.most_similar("zulu", topn=1)

    assert main(["import", "--input", str(src), "--output", out]) == 2
    assert "already exists" in capsys.readouterr().err
    # ranks are not counts: exporting them as a counts file is refused
    assert main(["export", "--vectors", out, "--format", "word2vec-text", "--output", str(tmp_path / "x.txt"),
                 "--vocab-counts", str(tmp_path / "c.txt")]) == 2
    assert "no real word counts" in capsys.readouterr().err


def test_cli_import_with_real_counts_orders_by_count(spark, tmp_path, capsys):
    from sparkw2v.model import Word2VecModel

    words, m = ["b", "a", "c"], _matrix(3, 4, seed=3)
    src, counts = tmp_path / "in.txt", tmp_path / "counts.txt"
    write_word2vec(str(src), words, m)
    counts.write_text("a 7\nb 7\nc 9\nunused 1\n")
    out = str(tmp_path / "m")
    assert main(["import", "--input", str(src), "--text", "--vocab-counts", str(counts),
                 "--output", out]) == 0
    model = Word2VecModel.load(out, spark=spark)
    assert model.wv.words == ["c", "a", "b"] and model.vocab.counts.tolist() == [9, 7, 7]
    np.testing.assert_array_equal(model.wv.vectors, m[[2, 1, 0]])
    assert model.metadata["counts"] == "vocab-counts"
    meta = json.loads(json.dumps(model.metadata))
    assert meta["imported_from"].endswith("in.txt")
    # the counted word without a vector is kept among the running counts, as training keeps them
    kept = {r["word"]: r["count"] for r in spark.read.parquet(f"{out}/versions/000001/counts").collect()}
    assert kept == {"a": 7, "b": 7, "c": 9, "unused": 1}

    counts.write_text("a 7\n")
    assert main(["import", "--input", str(src), "--vocab-counts", str(counts), "--output", out,
                 "--overwrite"]) == 2
    assert "no count for 2 of the 3 words" in capsys.readouterr().err


def test_cli_import_reports_missing_and_garbled_input_in_one_line(spark, tmp_path, capsys):
    out = str(tmp_path / "m")
    assert main(["import", "--input", str(tmp_path / "nope.bin"), "--output", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkw2v: error: input") and "nope.bin does not exist" in err
    assert err.count("\n") == 1
    garbled = tmp_path / "garbled.txt"
    garbled.write_bytes(b"2 3\nfoo 1 2 3\nbar 1 2\n")
    assert main(["import", "--input", str(garbled), "--output", out]) == 2
    err = capsys.readouterr().err
    assert "line 3: expected a word and 3 numbers, got 2" in err and err.count("\n") == 1
    assert main(["import", "--input", str(garbled), "--output", out, "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


def _mllib_directory(path, data) -> str:
    """A model directory as Spark MLlib's Word2VecModel.save lays it out, with the Arrow table
    ``data`` as data/."""
    import pyarrow.parquet as pq
    (path / "metadata").mkdir(parents=True)
    (path / "metadata" / "part-00000").write_text(json.dumps(
        {"class": "org.apache.spark.ml.feature.Word2VecModel", "sparkVersion": "2.1.0", "uid": "w2v_1",
         "paramMap": {"vectorSize": 3}}) + "\n")
    (path / "data").mkdir()
    pq.write_table(data, str(path / "data" / "part-00000.parquet"))
    return str(path)


def test_models_saved_by_older_and_newer_spark_mllib_import(spark, tmp_path):
    import pyarrow as pa
    from sparkw2v.interchange import read_mllib_model
    vectors = np.arange(9, dtype=np.float32).reshape(3, 3)
    # Spark 2.0-2.1: one row, the words' indices and their vectors concatenated in index order
    old = _mllib_directory(tmp_path / "old", pa.table({
        "wordIndex": pa.array([[("b", 1), ("c", 2), ("a", 0)]], pa.map_(pa.string(), pa.int32())),
        "wordVectors": pa.array([vectors.ravel().tolist()], pa.list_(pa.float32()))}))
    read = read_mllib_model(spark, old)
    assert read.words == ["a", "b", "c"] and read.parameters == {"vectorSize": 3} and read.ordered
    np.testing.assert_array_equal(read.vectors, vectors)
    # its wordIndex is MLlib's frequency order: imported as ranks, and --limit keeps the most frequent
    assert main(["import", "--input", old, "--output", str(tmp_path / "old-model"), "--limit", "2"]) == 0
    kept = vector_table.read_model(spark, str(tmp_path / "old-model"))
    assert kept.vocab.words == ("a", "b") and kept.vocab.counts.tolist() == [3, 2]
    gapped = _mllib_directory(tmp_path / "gapped", pa.table({
        "wordIndex": pa.array([[("a", 0), ("b", 5), ("c", 2)]], pa.map_(pa.string(), pa.int32())),
        "wordVectors": pa.array([vectors.ravel().tolist()], pa.list_(pa.float32()))}))
    with pytest.raises(FormatError, match="its wordIndex does not number the 3 words 0 to 2"):
        read_mllib_model(spark, gapped)
    # a part file cut to nothing (Spark would skip it, and its words with it)
    empty = _mllib_directory(tmp_path / "empty", pa.table({
        "word": ["x"], "vector": pa.array([[1.0]], pa.list_(pa.float32()))}))
    (tmp_path / "empty" / "data" / "part-00001.parquet").write_bytes(b"")
    with pytest.raises(FormatError, match=r"part-00001.parquet is damaged: 0 bytes"):
        read_mllib_model(spark, empty)
    # Spark 2.2 and later: a row per word; vectors of unequal length are refused naming the word
    ragged = _mllib_directory(tmp_path / "ragged", pa.table({
        "word": ["x", "y"], "vector": pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float32()))}))
    with pytest.raises(FormatError, match="the vector of 'y' has 1 numbers, the first word's 2"):
        read_mllib_model(spark, ragged)
    repeated = _mllib_directory(tmp_path / "repeated", pa.table({
        "word": ["x", "x"], "vector": pa.array([[1.0], [3.0]], pa.list_(pa.float32()))}))
    with pytest.raises(FormatError, match="word 'x' repeats row 1"):
        read_mllib_model(spark, repeated)
