"""Streaming: a version per batch, exactly-once restarts, batches racing other writers."""


import re

import numpy as np
import pytest

from sparkw2v import ConfigError, TrainConfig, Word2VecModel, layout, publishing, vector_table
from sparkw2v.cli import main
from sparkw2v.config import StreamConfig
from sparkw2v.streaming import StreamError, run_stream
from sparkw2v.vocabulary import Vocabulary

from .test_continuation import COSINE_BOUND, FILES, SETTINGS, _flags, _write, cosines, group_lines, words_in


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


def test_a_stream_never_publishes_where_it_reads(spark, tmp_path, capsys):
    """A version published inside the watched folder (or as it, or where its pattern matches) would
    be read back as new files, and a source reaching into the model's directory would read the
    model's files and lose its own to publishing: refused before the stream starts, in one line
    naming both paths; a pattern that only matches beside the model is accepted."""
    landing, empty, feeds = tmp_path / "landing", tmp_path / "empty", tmp_path / "feeds"
    for folder in (landing / "in", empty, tmp_path / "model" / "_staging" / "in", feeds / "a" / "incoming"):
        folder.mkdir(parents=True)
    for source, output in ((landing, landing / "model"), (tmp_path / "land*", landing / "m"),
                           (f"{landing}/*", landing / "model"), (empty, empty)):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"output {output} lies inside the --source {source}: the stream would read the model's files as "
                "input; choose an --output outside it")):
            run_stream(spark, TrainConfig(output=str(output)),
                       StreamConfig(source=str(source), checkpoint=str(tmp_path / "ck"), available_now=True))
        assert not (tmp_path / "ck").exists() and not (landing / "model").exists()
    for source, output in ((tmp_path / "model" / "_staging" / "in", tmp_path / "model"),
                           (f"{feeds}/*/*", feeds / "model")):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"--source {source} reaches into the output {output}: the stream would read the model's files as "
                "input, and publishing deletes files there; choose an --output outside it")):
            run_stream(spark, TrainConfig(output=str(output)),
                       StreamConfig(source=str(source), checkpoint=str(tmp_path / "ck"), available_now=True))
        assert not (tmp_path / "ck").exists()
    publishing.check_outside_input(spark, str(feeds / "model"), f"{feeds}/*/incoming", stream=True)
    capsys.readouterr()
    assert main(["stream", "--source", str(landing), "--checkpoint", str(tmp_path / "ck"), "--output",
                 str(landing / "model"), "--available-now"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sparkw2v: error: output {landing / 'model'} lies inside the "
                                                   f"--source {landing}: "), err


def _refused(spark, source, checkpoint, output, message, **options) -> None:
    """run_stream refuses these paths with ``message`` before the stream writes any progress."""
    with pytest.raises(publishing.OutputPathError, match=re.escape(message)):
        run_stream(spark, TrainConfig(output=str(output), **SETTINGS),
                   StreamConfig(source=str(source), checkpoint=str(checkpoint), available_now=True, **options))
    assert not (checkpoint / "metadata").exists() and not output.exists()


def test_a_stream_checkpoint_inside_its_output_is_refused(spark, tmp_path, capsys):
    """Spark's progress files in the model's directory stop the stream publishing (a directory
    holding them is no model; a version's directory holding them blocks that number), or go with
    an old version to retention: refused before the stream starts, in one line naming both paths.
    A checkpoint holding the output is accepted."""
    landing, model = tmp_path / "landing", tmp_path / "model"
    landing.mkdir()
    for checkpoint in (model, model / "ck", model / "_staging" / "ck", model / "versions" / "000001" / "ck"):
        _refused(spark, landing, checkpoint, model, f"--checkpoint {checkpoint} lies inside the output {model}, whose "
                 "directory holds only what publishing writes: the stream's versions would be refused there, or the "
                 "checkpoint deleted with an old version; choose a --checkpoint outside it")
    for checkpoint, output in ((tmp_path / "ck", model), (tmp_path / "ck", tmp_path / "ck" / "model")):
        publishing.check_stream_checkpoint(spark, str(checkpoint), str(landing), str(output))
    capsys.readouterr()
    assert main(["stream", "--source", str(landing), "--checkpoint", str(model / "ck"), "--output", str(model),
                 "--available-now"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sparkw2v: error: --checkpoint {model / 'ck'} lies inside the "
                                                   f"output {model}, "), err


def test_a_stream_checkpoint_where_its_source_reads_is_refused(spark, tmp_path):
    """Where the source reads Spark's progress files they are trained as words: the checkpoint as
    the source, matched by its pattern (``feeds/*``: its metadata file), inside the folder read with
    recursiveFileLookup=true (all of them), or reached into (``feeds/*/*``: ``feeds/ck/offsets``).
    Refused before the stream starts; a pattern passing beside the checkpoint is accepted."""
    landing, feeds, model = tmp_path / "landing", tmp_path / "feeds", tmp_path / "model"
    for folder in (landing, feeds / "a" / "in"):
        folder.mkdir(parents=True)
    for source, checkpoint in ((landing, landing), (landing, landing / "ck"), (f"{feeds}/*", feeds / "ck")):
        _refused(spark, source, checkpoint, model, f"--checkpoint {checkpoint} lies inside the --source {source}: the "
                 "stream would read its progress files as input; choose a --checkpoint outside it",
                 source_options=(("recursiveFileLookup", "true"),))
    _refused(spark, f"{feeds}/*/*", feeds / "ck", model, f"--source {feeds}/*/* reaches into the --checkpoint "
             f"{feeds / 'ck'}: the stream would read its progress files as input; choose a --checkpoint outside it")
    publishing.check_stream_checkpoint(spark, str(feeds / "ck"), f"{feeds}/*/in", str(model))


# -- streamed models and other writers ---------------------------------------------------------


def test_saving_a_loaded_streamed_model_writes_a_new_version_with_its_counts(spark, tmp_path, caplog):
    import logging

    source, out, copy = tmp_path / "landing", tmp_path / "model", tmp_path / "copy"
    source.mkdir()
    (source / "part-0.txt").write_text("\n".join(FILES[0] + ["g0w1 rare g0w2"]) + "\n")
    run_stream(spark, TrainConfig(output=str(out), **SETTINGS),
               StreamConfig(source=str(source), checkpoint=str(tmp_path / "cp"), available_now=True))
    # a checkpoint and an output that are not one stream's are named before the stream starts
    from sparkw2v.streaming import _warn_unmatched_checkpoint
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        _warn_unmatched_checkpoint(spark, str(out), str(tmp_path / "cp"))              # one stream's: quiet
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        _warn_unmatched_checkpoint(spark, str(tmp_path / "other"), str(tmp_path / "cp"))
        _warn_unmatched_checkpoint(spark, str(out), str(tmp_path / "new-cp"))
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "has committed 1 batches of its stream, but" in said[0] and "holds none of them" in said[0]
    assert "holds batches of 1 other stream(s), and --checkpoint" in said[1] and "trained twice" in said[1]
    loaded = Word2VecModel.load(str(out), spark=spark)
    assert loaded.metadata["stream_batch_id"] == 0
    loaded.save(str(out), overwrite=True)
    loaded.save(str(copy))
    for path, version in ((out, 2), (copy, 1)):
        meta = vector_table.read_metadata(spark, str(path))
        assert meta["version"] == version                          # the writer's, not the loaded one's
        assert "stream_batch_id" not in meta and "stream" not in meta and "counts_table" not in meta
        assert meta["parameters"] == loaded.metadata["parameters"]
        counts = {r["word"]: r["count"] for r in spark.read.parquet(
            str(path / "versions" / f"{version:06d}" / "counts")).collect()}
        assert counts["rare"] == 1                                 # below min_count, still carried


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


