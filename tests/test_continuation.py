"""Continued training (``--from-model``, ``fit`` with ``from_model``): the vocabulary grows, old rows
keep their place, every count is kept so rare words can enter later, and bad settings are refused."""

import numpy as np
import pytest

from sparkw2v import ConfigError, TrainConfig, Word2Vec, Word2VecModel, layout, tables
from sparkw2v.cli import main
from sparkw2v.continuation import BaseModel, empty_base, grow_vocabulary, merge_counts, remap_weights
from sparkw2v.interchange import write_word2vec
from sparkw2v.vocabulary import Vocabulary

SETTINGS = dict(vector_size=12, window=3, negative=4, min_count=5, sample=0.0, epochs=2, seed=3,
                batch_words=512, num_partitions=2, keep_versions=5)
#: Documented in continuation.py: mean cosine of every old word's vector to its previous version
#: after a batch of new text at continue_alpha = alpha / 4 (measured: 0.9999 here, minimum 0.999).
COSINE_BOUND = 0.99


def group_lines(seed, sentences, extra=()):
    """Sentences of planted topic groups (g0w0..g0w7, g1w0..g1w7); ``extra`` lines appended."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(sentences):
        g = rng.integers(2)
        lines.append(" ".join(f"g{g}w{i}" for i in rng.integers(0, 8, 8)))
    return lines + list(extra)



#: "late" occurs 3 times in file 2 and 3 in file 3: with min_count 5 it enters at the third
#: batch. "soon" occurs 6 times in file 2 and enters at the second.
FILES = [group_lines(1, 250),
         group_lines(2, 150, ["g0w1 late g0w2", "late g0w3", "g0w4 late"] + ["soon g1w1 g1w2"] * 6),
         group_lines(3, 150, ["g0w5 late", "late g0w6 g0w7", "g0w1 late"])]


def words_in(lines):
    return sum(len(line.split()) for line in lines)


def cosines(old: Word2VecModel, new: Word2VecModel) -> np.ndarray:
    a = np.stack([old.wv[w] for w in old.wv.words])
    b = np.stack([new.wv[w] for w in old.wv.words])
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_grow_vocabulary_keeps_old_words_and_adds_those_reaching_min_count():
    base = Vocabulary(("the", "cat", "rare"), np.array([10, 6, 2]))  # "rare": entered under a lower min_count
    totals = {"the": 14, "cat": 6, "rare": 2, "dog": 7, "emu": 4, "ant": 7}
    vocab = grow_vocabulary(base, totals, min_count=5, max_vocab_size=None, corpus_words=40, distinct_words=6)
    assert vocab.words == ("the", "ant", "dog", "cat", "rare")      # count desc, then word
    assert vocab.counts.tolist() == [14, 7, 7, 6, 2]
    assert (vocab.corpus_words, vocab.distinct_words) == (40, 6)
    capped = grow_vocabulary(base, totals, min_count=5, max_vocab_size=4, corpus_words=40, distinct_words=6)
    assert capped.words == ("the", "ant", "cat", "rare")            # one free slot: the first new word


def test_remap_weights_moves_rows_by_word_and_initialises_new_rows():
    d = 4
    old = Vocabulary(("a", "b"), np.array([5, 3]))
    w_in = np.array([[1, 1, 1, 1], [2, 2, 2, 2]], np.float32)
    w_out = np.array([[-1, -1, -1, -1], [-2, -2, -2, -2]], np.float32)
    base = BaseModel(old, w_in, w_out, {})
    vocab = Vocabulary(("c", "b", "a"), np.array([9, 6, 5]))
    new_in, new_out = remap_weights(base, vocab, seed=1, round_key=0)
    np.testing.assert_array_equal(new_in[1:], [[2] * 4, [1] * 4])
    np.testing.assert_array_equal(new_out, [[0] * 4, [-2] * 4, [-1] * 4])
    assert np.all(np.abs(new_in[0]) <= 0.5 / d) and np.any(new_in[0] != 0)   # word2vec's initial range
    again, _ = remap_weights(base, vocab, seed=1, round_key=0)
    other, _ = remap_weights(base, vocab, seed=1, round_key=1)
    np.testing.assert_array_equal(again, new_in)
    assert not np.array_equal(other[0], new_in[0])
    fresh_in, fresh_out = remap_weights(empty_base(d), vocab, seed=1, round_key=0)
    assert fresh_in.shape == (3, d) and not fresh_out.any()
    # a stream whose words are all below min_count so far publishes an empty model
    empty = tables.vector_column(np.zeros((0, d), np.float32))
    assert len(empty) == 0 and empty.num_chunks == 1


def test_merge_counts_adds_running_and_batch_counts(spark):
    base = BaseModel(Vocabulary(("a",), np.array([9])), np.zeros((1, 2), np.float32),
                     np.zeros((1, 2), np.float32), {},
                     counts=spark.createDataFrame([("a", 9), ("b", 2)], "word string, count bigint"))
    new = spark.createDataFrame([("b", 3), ("c", 1), ("a", 1)], "word string, count bigint")
    rows = {r.word: (r["count"], r.batch_count) for r in merge_counts(spark, base, new)[0].collect()}
    assert rows == {"a": (10, 1), "b": (5, 3), "c": (1, 1)}
    no_table = BaseModel(base.vocab, base.w_in, base.w_out, {})       # a model written by 'train'
    rows = {r.word: (r["count"], r.batch_count) for r in merge_counts(spark, no_table, new)[0].collect()}
    assert rows == {"a": (10, 1), "b": (3, 3), "c": (1, 1)}


def test_train_from_model_adds_a_version_with_new_words(spark, tmp_path, capsys):
    out = tmp_path / "model"
    first = _write(tmp_path / "a.txt", FILES[0])
    second = _write(tmp_path / "b.txt", FILES[1])
    assert main(["train", "--input", first, "--output", str(out), "--show", "", *_flags(SETTINGS)]) == 0
    # continuing a model into its own path adds a version; no --overwrite needed
    assert main(["train", "--input", second, "--from-model", str(out), "--output", str(out), "--show", "",
                 *_flags(SETTINGS)]) == 0
    assert layout.published_versions(spark, str(out)) == [1, 2]
    # the same command again (say, after a crash that came once version 2 was published) is refused
    assert main(["train", "--input", second, "--from-model", str(out), "--output", str(out), "--show", "",
                 *_flags(SETTINGS)]) == 2
    assert "was already trained on these input files" in capsys.readouterr().err
    assert layout.published_versions(spark, str(out)) == [1, 2]
    # an older version continued into its own path: refused before training, with or without --overwrite
    third = _write(tmp_path / "c0.txt", FILES[2])
    for extra in ([], ["--overwrite"]):
        assert main(["train", "--input", third, "--from-model", layout.version_path(str(out), 1), "--output",
                     str(out), "--show", "", *extra, *_flags(SETTINGS)]) == 2
        assert "is version 1 of" in capsys.readouterr().err
    assert layout.published_versions(spark, str(out)) == [1, 2]
    # another model continued into it without --overwrite: refused by the output check alone
    assert main(["train", "--input", third, "--from-model", layout.version_path(str(out), 1), "--output",
                 str(tmp_path / "elsewhere"), "--show", "", *_flags(SETTINGS)]) == 0
    assert main(["train", "--input", second, "--from-model", str(tmp_path / "elsewhere"), "--output", str(out),
                 "--show", "", *_flags(SETTINGS)]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "built on that model" not in err
    assert layout.published_versions(spark, str(out)) == [1, 2]
    old = Word2VecModel.load(layout.version_path(str(out), 1), spark=spark)
    new = Word2VecModel.load(str(out), spark=spark)
    assert "soon" in new.wv and "soon" not in old.wv and len(new.wv) == len(old.wv) + 1
    meta = new.metadata
    assert {k: meta["continued_from"][k] for k in ("path", "version")} == {
        "path": layout.version_path(str(out), 1), "version": 1}
    assert len(meta["continued_from"]["input_digest"]) == 16
    assert meta["parameters"]["from_model"] == str(out) and meta["new_words_sample"] == ["soon"]
    assert (out / "versions" / "000002" / "counts" / "_SUCCESS").exists()
    assert cosines(old, new).mean() > COSINE_BOUND

    # the Python API shares the code: fit on a DataFrame with from_model
    frame = spark.createDataFrame([(line,) for line in FILES[2]] + [(None,)], "text string")
    model = Word2Vec(from_model=str(out), **SETTINGS).fit(frame)
    assert "late" in model.wv                                            # 3 (file 2) + 3 (file 3) >= 5
    assert model.training_metadata()["null_rows"] == 1
    # fit_input continues as fit does, keeping the estimator's outputCol and uid
    est = Word2Vec(from_model=str(out), input=_write(tmp_path / "c.txt", FILES[2]), outputCol="features",
                   **SETTINGS)
    continued = est.fit_input(spark)
    assert continued.getOutputCol() == "features" and continued.uid == est.uid
    assert model.save(str(out), overwrite=True).endswith("000003")


def test_train_saves_every_count_so_rare_words_can_enter_later(spark, tmp_path):
    out, bare = tmp_path / "model", tmp_path / "bare"
    first = _write(tmp_path / "a.txt", [*FILES[0], "g0w1 rare g0w2", "rare g1w3", "g0w4 rare"])
    more = _write(tmp_path / "b.txt", ["g0w1 rare g0w2 g0w3", "g1w1 rare g1w2 g1w4"])
    assert main(["train", "--input", first, "--output", str(out), "--show", "", *_flags(SETTINGS)]) == 0
    stored = {r["word"]: r["count"] for r in spark.read.parquet(str(out / "versions" / "000001" / "counts")).collect()}
    assert stored["rare"] == 3 and len(stored) == 17                 # below min_count, but counted
    assert "rare" not in Word2VecModel.load(str(out), spark=spark).wv
    assert main(["train", "--input", more, "--from-model", str(out), "--output", str(out), "--show", "",
                 *_flags(SETTINGS)]) == 0
    grown = Word2VecModel.load(str(out), spark=spark)
    assert grown.wv.counts[grown.wv.words.index("rare")] == 5       # 3 remembered + 2 new

    # --no-save-counts: no table, so the three earlier occurrences are forgotten
    assert main(["train", "--input", first, "--output", str(bare), "--show", "", "--no-save-counts",
                 *_flags(SETTINGS)]) == 0
    assert not (bare / "versions" / "000001" / "counts").exists()
    assert main(["train", "--input", more, "--from-model", str(bare), "--output", str(bare), "--show", "",
                 *_flags(SETTINGS)]) == 0
    assert "rare" not in Word2VecModel.load(str(bare), spark=spark).wv


def test_a_counts_table_that_was_listed_is_read_or_refused_never_forgotten(spark, tmp_path, capsys):
    """A version whose metadata lists counts/ files continues from them even without the table's
    _SUCCESS marker, and is refused as damaged when they are gone (it once continued as a version
    without counts, forgetting the rare words for good)."""
    import shutil

    first = _write(tmp_path / "a.txt", [*FILES[0], "g0w1 rare g0w2", "rare g1w3", "g0w4 rare"])
    more = _write(tmp_path / "b.txt", ["g0w1 rare g0w2 g0w3", "g1w1 rare g1w2 g1w4"])
    for case in ("no_success", "deleted"):
        out = tmp_path / case
        assert main(["train", "--input", first, "--output", str(out), "--show", "", *_flags(SETTINGS)]) == 0
        counts = out / "versions" / "000001" / "counts"
        if case == "deleted":
            shutil.rmtree(counts)
        else:
            (counts / "_SUCCESS").unlink()
            (counts / "._SUCCESS.crc").unlink(missing_ok=True)
        capsys.readouterr()
        code = main(["train", "--input", more, "--from-model", str(out), "--output", str(out), "--show", "",
                     *_flags(SETTINGS)])
        if case == "deleted":
            assert code == 2 and "counts/part-" in capsys.readouterr().err   # named as missing
            assert layout.published_versions(spark, str(out)) == [1]
        else:
            assert code == 0
            grown = Word2VecModel.load(str(out), spark=spark)
            assert grown.wv.counts[grown.wv.words.index("rare")] == 5       # 3 remembered + 2 new


def test_continuation_refuses_rank_counts_and_bad_rates(spark, tmp_path, capsys):
    vectors = tmp_path / "vectors.txt"
    write_word2vec(str(vectors), ["a", "b"], np.ones((2, 3), np.float32))
    imported = tmp_path / "imported"
    assert main(["import", "--input", str(vectors), "--output", str(imported)]) == 0
    text = _write(tmp_path / "a.txt", FILES[0])
    capsys.readouterr()
    assert main(["train", "--input", text, "--from-model", str(imported), "--output", str(tmp_path / "m"),
                 "--show", ""]) == 2
    err = capsys.readouterr().err
    assert "no real word counts" in err and "--vocab-counts" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--input", text, "--from-model", str(imported), "--output", str(tmp_path / "m"),
                 "--continue-alpha", "2"]) == 2
    assert "invalid --continue-alpha=2.0: must be a number in (0, 1]" in capsys.readouterr().err
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="continue_alpha"):
            Word2Vec(continue_alpha=bad)
    with pytest.raises(ConfigError, match="cannot be combined with --from-model"):
        TrainConfig(from_model="m", resume=True).validate(require_io=False)


def _write(path, lines) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _flags(settings: dict) -> list[str]:
    flags = []
    for name, value in settings.items():
        flags += [f"--{name.replace('_', '-')}", str(value)]
    return flags


def test_a_continued_model_whose_base_was_pruned_says_so_when_saved_again(spark, tmp_path):
    from sparkw2v.continuation import BaseDeletedError

    out = tmp_path / "model"
    first, second = _write(tmp_path / "a.txt", FILES[0]), _write(tmp_path / "b.txt", FILES[1])
    assert main(["train", "--input", first, "--output", str(out), "--show", "", *_flags(SETTINGS)]) == 0
    continued = Word2Vec(input=second, from_model=str(out), output=str(out),
                         **{**SETTINGS, "keep_versions": 1}).fit_input(spark)
    continued.save(str(out), overwrite=True)                              # version 2; version 1 is pruned
    assert layout.published_versions(spark, str(out)) == [2]
    with pytest.raises(BaseDeletedError) as err:                          # its counts came from version 1
        continued.save(str(tmp_path / "elsewhere"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("cannot save: this continued model's word counts are read "
                                                      f"from the version it continued, {out}/versions/000001")


def test_continuing_on_another_objective_or_with_no_room_is_said(caplog):
    import logging

    from sparkw2v.continuation import continue_config

    params = {"sg": True, "window": 5, "negative": 5, "ns_exponent": 0.75}
    base = BaseModel(Vocabulary(("a", "b"), np.array([3, 2])), np.zeros((2, 4), np.float32),
                     np.zeros((2, 4), np.float32), {"parameters": params})
    with caplog.at_level(logging.INFO, logger="sparkw2v"):
        assert continue_config(base, TrainConfig(**params)).vector_size == 4     # the model's size, said at INFO
        assert [r.levelno for r in caplog.records if r.name == "sparkw2v"] == [logging.INFO]
        continue_config(base, TrainConfig(sg=False, window=3, max_vocab_size=2))
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "trained with sg=True (now False), window=5 (now 3): this run trains it on another objective" in said[0]
    assert "max_vocab_size=2 and the model holds 2 words already: no new word can enter" in said[1]
