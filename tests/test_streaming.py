"""Streaming and continued training: growing vocabulary, versions per batch, exactly-once restarts."""


import numpy as np
import pytest

from sparkw2v import ConfigError, TrainConfig, Word2Vec, Word2VecModel, layout, publishing, tables, vector_table
from sparkw2v.cli import main
from sparkw2v.config import StreamConfig
from sparkw2v.continuation import BaseModel, empty_base, grow_vocabulary, merge_counts, remap_weights
from sparkw2v.interchange import write_word2vec
from sparkw2v.streaming import StreamError, run_stream
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


# -- pure functions ----------------------------------------------------------------------------

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
    rows = {r.word: (r["count"], r.batch_count) for r in merge_counts(spark, base, new).collect()}
    assert rows == {"a": (10, 1), "b": (5, 3), "c": (1, 1)}
    no_table = BaseModel(base.vocab, base.w_in, base.w_out, {})       # a model written by 'train'
    rows = {r.word: (r["count"], r.batch_count) for r in merge_counts(spark, no_table, new).collect()}
    assert rows == {"a": (10, 1), "b": (3, 3), "c": (1, 1)}


# -- streaming ---------------------------------------------------------------------------------

def test_stream_publishes_a_version_per_batch_and_survives_restarts(spark, tmp_path):
    source, out, checkpoint = tmp_path / "landing", tmp_path / "model", tmp_path / "checkpoint"
    source.mkdir()
    cfg = TrainConfig(output=str(out), **SETTINGS)
    options = StreamConfig(source=str(source), checkpoint=str(checkpoint), available_now=True)
    models = []
    for i, lines in enumerate(FILES):
        (source / f"part-{i}.txt").write_text("\n".join(lines) + "\n")
        batches = run_stream(spark, cfg, options)
        # each run is a restart from the checkpoint: it sees only the file that is new
        assert [b["batch_id"] for b in batches] == [i] and batches[0]["words"] == words_in(lines)
        assert layout.published_versions(spark, str(out)) == list(range(1, i + 2))
        assert (out / "LATEST").read_text().strip() == str(i + 1)
        models.append(Word2VecModel.load(str(out), spark=spark))
        meta = models[-1].metadata
        assert meta["stream_batch_id"] == i and meta["batch_words"] == words_in(lines)

        if i == 1:  # a crash after publishing batch 1 but before its commit: the batch is replayed
            for name in ("1", ".1.crc"):                                 # the file and its local checksum
                (checkpoint / "commits" / name).unlink(missing_ok=True)
            replayed = run_stream(spark, cfg, options)
            assert replayed == [{"batch_id": 1, "skipped": True, "version": None}]
            assert layout.published_versions(spark, str(out)) == [1, 2]          # not trained twice
            assert (checkpoint / "commits" / "1").exists()

    first, second, third = models
    assert len(first.wv) == 16 and "soon" not in first.wv
    assert "soon" in second.wv and "late" not in second.wv               # late: 3 < min_count
    assert "late" in third.wv and third.wv.counts[third.wv.words.index("late")] == 6
    assert third.metadata["corpus_words"] == sum(words_in(f) for f in FILES)
    assert third.metadata["continued_from"]["version"] == 2
    # planted groups still hold, and old words moved little
    assert all(n.startswith("g1") for n, _ in third.most_similar("g1w3", topn=3))
    for old, new in ((first, second), (second, third)):
        assert cosines(old, new).mean() > COSINE_BOUND, cosines(old, new)


def test_stream_from_model_and_bad_sources(spark, tmp_path, capsys):
    base_dir = tmp_path / "base"
    assert main(["train", "--input", _write(tmp_path / "a.txt", FILES[0]), "--output", str(base_dir),
                 "--show", "", *_flags(SETTINGS)]) == 0
    source, out = tmp_path / "landing", tmp_path / "model"
    source.mkdir()
    _write(source / "b.txt", FILES[1])
    assert main(["stream", "--source", str(source), "--checkpoint", str(tmp_path / "ck"), "--output", str(out),
                 "--from-model", str(base_dir), "--available-now", *_flags(SETTINGS)]) == 0
    meta = vector_table.read_metadata(spark, str(out))
    assert meta["version"] == 1 and meta["continued_from"]["version"] == 1 and meta["new_words"] == 1
    assert meta["vocab_size"] == 17                                      # 16 from the base model + "soon"

    import gzip   # a compressed file landed under a text name, beside a text file: refused by its first bytes
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write(mixed / "c.txt", FILES[2])
    (mixed / "d.txt").write_bytes(gzip.compress("\n".join(FILES[1]).encode()))
    capsys.readouterr()
    assert main(["stream", "--source", str(mixed), "--checkpoint", str(tmp_path / "ck4"), "--output",
                 str(tmp_path / "m4"), "--available-now", *_flags(SETTINGS)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sparkw2v: error: stream batch 0: ")
    assert "d.txt is gzip-compressed" in err and "Nothing was trained" in err
    assert not layout.published_versions(spark, str(tmp_path / "m4"))

    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["stream", "--source", str(empty), "--format", "csv", "--checkpoint", str(tmp_path / "ck2"),
                 "--output", str(tmp_path / "m2"), "--available-now"]) == 2
    assert "needs one file with a header" in capsys.readouterr().err
    with pytest.raises(StreamError, match="does not exist"):
        run_stream(spark, TrainConfig(output=str(tmp_path / "m3")),
                   StreamConfig(source=str(tmp_path / "nowhere"), checkpoint=str(tmp_path / "ck3")))
    with pytest.raises(ConfigError, match="not both"):
        StreamConfig(source="s", checkpoint="c", available_now=True, trigger_interval="1m").validate()


def test_source_options_reach_the_stream_reader_and_csv_reads_as_train_reads_it(spark, tmp_path):
    from sparkw2v.streaming import open_source
    source = tmp_path / "semi"
    source.mkdir()
    (source / "a.csv").write_text('id;text\n1;alpha beta\n2;"gamma\ndelta"\n')   # a quoted line break too
    corpus = open_source(spark, TrainConfig(output="o"), StreamConfig(
        source=str(source), checkpoint=str(tmp_path / "ck"), format="csv", source_options=["sep=;"]))
    query = corpus.frame.writeStream.format("memory").queryName("semi_rows").trigger(availableNow=True).start()
    query.awaitTermination()
    assert sorted(r[0] for r in spark.table("semi_rows").collect()) == ["alpha beta", "gamma\ndelta"]


# -- batch continuation --------------------------------------------------------------------------

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


def test_saving_a_loaded_streamed_model_writes_a_new_version_with_its_counts(spark, tmp_path):
    source, out, copy = tmp_path / "landing", tmp_path / "model", tmp_path / "copy"
    source.mkdir()
    (source / "part-0.txt").write_text("\n".join(FILES[0] + ["g0w1 rare g0w2"]) + "\n")
    run_stream(spark, TrainConfig(output=str(out), **SETTINGS),
               StreamConfig(source=str(source), checkpoint=str(tmp_path / "cp"), available_now=True))
    loaded = Word2VecModel.load(str(out), spark=spark)
    assert loaded.metadata["stream_batch_id"] == 0
    loaded.save(str(out), overwrite=True)
    loaded.save(str(copy))
    for path, version in ((out, 2), (copy, 1)):
        meta = vector_table.read_metadata(spark, str(path))
        assert meta["version"] == version                          # the writer's, not the loaded one's
        assert "stream_batch_id" not in meta and "stream" not in meta and "counts_table" in meta
        assert meta["parameters"] == loaded.metadata["parameters"]
        counts = {r["word"]: r["count"] for r in spark.read.parquet(
            str(path / "versions" / f"{version:06d}" / "counts")).collect()}
        assert counts["rare"] == 1                                 # below min_count, still carried


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


def test_a_batch_trains_again_on_a_version_another_writer_published_meanwhile(spark, tmp_path, monkeypatch):
    from sparkw2v import continuation
    from sparkw2v.streaming import BatchTrainer

    from .test_training import planted_lines

    out, checkpoint = tmp_path / "model", tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "metadata").write_text('{"id": "stream-1"}')
    cfg = TrainConfig(output=str(out), vector_size=8, epochs=1, min_count=1, sample=0.0, num_partitions=1, seed=3)
    trainer = BatchTrainer(spark, cfg, StreamConfig(source=str(tmp_path), checkpoint=str(checkpoint)))
    frame = spark.createDataFrame([(line,) for line in planted_lines(sentences=40)], "value string")
    real_publish, rivals = continuation.publish, []

    def publish_after_a_rival(session, path, *args, **kwargs):
        if not rivals:  # another writer publishes while the batch trained on "nothing yet"
            rival = np.ones((1, 8), np.float32)
            rivals.append(publishing.write_model(spark, path, Vocabulary(("rival",), np.array([7])), rival,
                                                 rival, {}, overwrite=True))
        return real_publish(session, path, *args, **kwargs)

    monkeypatch.setattr(continuation, "publish", publish_after_a_rival)
    trainer(frame, 0)
    assert layout.published_versions(spark, str(out)) == [1, 2]
    newest = Word2VecModel.load(str(out), spark=spark)
    assert "rival" in newest.wv and "g0w0" in newest.wv                   # built on the rival's version
    assert newest.metadata["continued_from"]["version"] == 1
    assert [b["version"] for b in trainer.batches] == [2]


def test_a_replayed_batch_is_skipped_after_another_writer_built_on_its_version(spark, tmp_path):
    """A stream crashed after publishing batch 1 and before committing it; another writer
    continued that version (and a loaded copy was saved) before the stream restarted. The replayed
    batch is found in the newest version's record of stream batches, so it is not trained twice."""
    from sparkw2v.streaming import BatchTrainer

    out, checkpoint = tmp_path / "model", tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "metadata").write_text('{"id": "stream-1"}')
    cfg = TrainConfig(output=str(out), **SETTINGS)
    options = StreamConfig(source=str(tmp_path), checkpoint=str(checkpoint))
    frames = [spark.createDataFrame([(line,) for line in lines], "value string") for lines in FILES]
    trainer = BatchTrainer(spark, cfg, options)
    trainer(frames[0], 0)
    trainer(frames[1], 1)
    assert vector_table.read_metadata(spark, str(out))["streams"] == {"stream-1": 1}
    other = _write(tmp_path / "other.txt", group_lines(9, 60))
    assert main(["train", "--input", other, "--from-model", str(out), "--output", str(out), "--show", "",
                 *_flags(SETTINGS)]) == 0                                 # version 3, by another writer
    Word2VecModel.load(str(out), spark=spark).save(str(out), overwrite=True)   # version 4, a loaded copy
    for version in (3, 4):
        meta = vector_table.read_metadata(spark, layout.version_path(str(out), version))
        assert meta["streams"] == {"stream-1": 1} and "stream_batch_id" not in meta
    restarted = BatchTrainer(spark, cfg, options)
    restarted(frames[1], 1)                                               # the replay
    assert restarted.batches == [{"batch_id": 1, "skipped": True, "version": None}]
    assert layout.published_versions(spark, str(out)) == [1, 2, 3, 4]
    restarted(frames[2], 2)                                               # the next batch builds on version 4
    meta = vector_table.read_metadata(spark, str(out))
    assert meta["version"] == 5 and meta["continued_from"]["version"] == 4
    assert meta["streams"] == {"stream-1": 2} and meta["stream_batch_id"] == 2
    expected = sum(words_in(f) for f in FILES) + words_in(group_lines(9, 60))
    assert meta["corpus_words"] == expected                               # every batch counted once


def test_a_batch_cut_short_by_the_streams_stop_fails_in_a_short_message(monkeypatch):
    """Spark's stream thread matches a failed batch's text with a pattern that recurses per
    character: a batch failing while the query stops must not hand it a full traceback."""
    from sparkw2v.streaming import BatchTrainer

    trainer = BatchTrainer(spark=None, cfg=TrainConfig(), options=StreamConfig())
    cause = RuntimeError("job cancelled\n" + "\tat org.apache.spark.Frame(Frame.scala:1)\n" * 500)

    def cancelled(frame, batch_id):
        try:
            raise cause
        except RuntimeError as exc:
            raise ValueError("collect failed") from exc

    monkeypatch.setattr(trainer, "_run", cancelled)
    with pytest.raises(ValueError) as running:  # a failure while the query runs is passed on whole
        trainer(None, 4)
    assert running.value.__cause__ is cause
    trainer.stopping = True
    with pytest.raises(StreamError, match="stream batch 4 was cut short by the stream's stop") as stopped:
        trainer(None, 4)
    import traceback
    text = "".join(traceback.format_exception(stopped.value))
    assert len(text) < 1000 and "Frame.scala" not in text
    assert isinstance(trainer.error, ValueError) and trainer.error.__cause__ is cause  # kept for the caller


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
