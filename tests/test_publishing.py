"""Versions on disk stay whole and right: no lost update between writers, no damaged, partial
or foreign file served, literal paths, readers told when retention removed their version."""

import json
import logging
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from sparkw2v import (Word2Vec, Word2VecModel, counts_table, filesystem, integrity, layout, publishing, sql, staging,
                      tables, vector_table)
from sparkw2v.cli import main
from sparkw2v.errors import ConcurrentPublishError, DamagedModelError
from sparkw2v.vocabulary import Vocabulary

from .test_training import planted_lines

WORDS = ("the", "man", "woman", "king", "queen")
COUNTS = np.array([50, 40, 30, 20, 10], dtype=np.int64)
TINY = ["--vector-size", "8", "--epochs", "1", "--min-count", "1", "--sample", "0", "--window", "2",
        "--num-partitions", "1", "--batch-words", "512", "--seed", "3", "--show", ""]


def matrix(value: float, rows: int = len(WORDS)) -> np.ndarray:
    return np.full((rows, 4), value, dtype=np.float32) + np.arange(rows, dtype=np.float32)[:, None]


def publish(spark, path, value, words=WORDS, counts=COUNTS, **kwargs) -> str:
    vocab = Vocabulary(tuple(words), np.asarray(counts, dtype=np.int64))
    m = matrix(value, len(words))
    return publishing.write_model(spark, str(path), vocab, m, m * 0, {}, overwrite=True, **kwargs).location


def vectors_file(path) -> str:
    """The (one) vectors part file of the newest version under ``path``."""
    return str(sorted((path / "versions").glob("*/vectors/part-*.parquet"))[-1])


def sql_error(spark, query) -> str:
    with pytest.raises(Exception) as info:
        spark.sql(query).collect()
    return str(info.value)


# -- 1. compare-and-swap publishing -------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from sparkw2v import publishing
    from sparkw2v.session import get_session
    from sparkw2v.vocabulary import Vocabulary
    spark = get_session(master="local[1]", conf={"spark.ui.enabled": "false"})
    out, tag = sys.argv[1], int(sys.argv[2])
    vocab = Vocabulary(("a", "b"), np.array([2, 1]))
    for i in range(3):
        m = np.full((2, 2), tag * 100 + i, np.float32)
        publishing.write_model(spark, out, vocab, m, m, {"writer": tag, "round": i}, overwrite=True,
                               keep_versions=100)
""")


def test_two_processes_publishing_at_once_get_a_version_each(spark, tmp_path):
    out = tmp_path / "model"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    procs = [subprocess.Popen([sys.executable, str(script), str(out), str(tag)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for tag in (1, 2)]
    for proc in procs:
        log, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, log.decode()[-3000:]
    assert layout.published_versions(spark, str(out)) == list(range(1, 7))
    seen = set()
    for v in range(1, 7):
        directory = layout.version_path(str(out), v)
        meta = vector_table.read_metadata(spark, directory)
        assert sorted(os.listdir(directory)) == sorted(os.listdir(layout.version_path(str(out), 1)))
        loaded = vector_table.read_model(spark, directory)                 # files match the metadata
        assert loaded.w_in[0, 0] == meta["writer"] * 100 + meta["round"]   # and belong to its writer
        seen.add((meta["writer"], meta["round"]))
    assert len(seen) == 6                                                 # nothing lost or doubled


def test_a_clean_up_that_fails_while_an_error_unwinds_leaves_that_error_reported(spark, caplog):
    """The JVM gone (or Ctrl-C cutting the gateway) makes the clean-up's own calls fail: the error
    that stopped the publish is the one raised, and the clean-up's is logged at debug level."""
    class GatewayGone:
        def exists(self, path):
            raise ConnectionError("gateway gone")

    with caplog.at_level(logging.DEBUG, logger="sparkw2v"), pytest.raises(ValueError, match="^what stopped it$"):
        with publishing._removed_on_failure(spark, GatewayGone(), "/m", "/m/_staging/version-1"):
            raise ValueError("what stopped it")
    assert any("could not remove /m/_staging/version-1" in r.getMessage() for r in caplog.records)


def test_losing_the_rename_race_is_detected_and_undone(spark, tmp_path):
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    fs = filesystem.HadoopFS(spark, str(out))
    staged = str(out / "_staging" / "version-late")
    vocab = Vocabulary(WORDS, COUNTS)
    tables.write_tables(spark, staged, vocab, matrix(2.0), matrix(0.0))
    fs.write_text(f"{staged}/metadata.json", json.dumps({"publish_id": "late"}))
    assert not publishing._claim(fs, staged, layout.version_path(str(out), 1), "late")
    assert os.path.isdir(staged)                                          # taken back out
    assert "version-late" not in os.listdir(out / "versions" / "000001")
    assert vector_table.read_model(spark, str(out)).w_in[0, 0] == 1.0


def test_tidying_staging_never_removes_what_another_writer_is_staging(spark, tmp_path, monkeypatch):
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    fs = filesystem.HadoopFS(spark, str(out))
    theirs = out / "_staging" / "version-theirs" / "vectors"
    theirs.mkdir(parents=True)
    (theirs / "part-00000.parquet").write_bytes(b"being written")
    # This writer listed _staging just before the other one made its directory there.
    monkeypatch.setattr(fs, "list_names", lambda path, hidden=False: [])
    staging.drop_empty_staging(fs, str(out))
    assert (theirs / "part-00000.parquet").read_bytes() == b"being written"
    monkeypatch.undo()
    # _staging removed between the existence check and the listing reads as empty.
    answers = iter([True, False])
    monkeypatch.setattr(fs, "exists", lambda path: next(answers))
    assert fs.list_names(str(out / "_staging" / "gone")) == []
    # ... or removed and made again by another writer: the new directory is listed.
    again, checks = out / "_staging" / "again", []

    def made_after_the_first_listing(path):
        checks.append(path)
        if len(checks) == 2:
            again.mkdir()
            (again / "version-new").write_bytes(b"")
        return True
    monkeypatch.setattr(fs, "exists", made_after_the_first_listing)
    assert fs.list_names(str(again)) == ["version-new"] and len(checks) == 2
    monkeypatch.undo()
    (again / "version-new").unlink()
    again.rmdir()
    (theirs / "part-00000.parquet").unlink()
    (out / "_staging" / ".left.crc").write_bytes(b"")
    for directory in (theirs, theirs.parent):
        directory.rmdir()
    staging.drop_empty_staging(fs, str(out))                               # hidden leftovers only: tidied
    assert not (out / "_staging").exists()


def test_a_damaged_pyspark_ml_metadata_is_written_again_by_the_next_publish(spark, tmp_path, caplog, capsys):
    """The versions are the model: a truncated ``metadata/part-00000`` does not make the output
    "not a sparkw2v model directory". With --overwrite the next version is published, with one
    warning naming the file, and metadata/ is written again; without, the usual refusal. A
    metadata/ naming another class beside sparkw2v versions is refused, naming that class."""
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=1, sentences=80)) + "\n")
    out = tmp_path / "model"
    args = ["train", "--input", str(corpus), "--output", str(out), *TINY]
    assert main(args) == 0
    part = out / "metadata" / "part-00000"
    intact = part.read_text()
    part.write_text(intact[:20])
    (part.parent / ".part-00000.crc").unlink(missing_ok=True)
    capsys.readouterr()
    assert main(args) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert main([*args, "--overwrite"]) == 0
    warned = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
    assert warned == [f"{out}/metadata is damaged (no pyspark.ml metadata can be read from it): publishing writes "
                      "it again"], warned
    assert layout.published_versions(spark, str(out)) == [1, 2]
    assert json.loads(part.read_text())["class"] == json.loads(intact)["class"]      # written again
    part.write_text(intact.replace(json.loads(intact)["class"], "pyspark.ml.feature.Word2VecModel"))
    (part.parent / ".part-00000.crc").unlink(missing_ok=True)
    capsys.readouterr()
    assert main([*args, "--overwrite"]) == 2
    assert f"output {out} holds sparkw2v versions, but its metadata/ names pyspark.ml.feature.Word2VecModel, not a " \
           "sparkw2v model" in capsys.readouterr().err
    assert layout.published_versions(spark, str(out)) == [1, 2]


def test_an_interrupt_while_a_version_is_committed_waits_and_then_names_the_published_version(
        spark, tmp_path, monkeypatch, capsys):
    """SIGTERM between the claim of a version and LATEST naming it: LATEST is written and the old
    versions beyond --keep-versions go before the run stops, and its line names the version it
    published instead of advising a run again (which would publish a second one). An interrupt
    after publishing, while the neighbours print, says the same; one before it still points to
    --resume. A second signal while one waits stops the run at once."""
    import signal

    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=1, sentences=80)) + "\n")
    out = tmp_path / "model"
    args = ["train", "--input", str(corpus), "--output", str(out), "--overwrite", "--keep-versions", "1", *TINY]
    assert main(args) == 0
    point = publishing._point_latest

    def signalled(*a, times=1):
        for _ in range(times):
            signal.raise_signal(signal.SIGTERM)
        return point(*a)

    monkeypatch.setattr(publishing, "_point_latest", signalled)
    capsys.readouterr()
    assert main(args) == 130
    err = capsys.readouterr().err.strip()
    version = str(out / "versions" / "000002")
    assert err.startswith("sparkw2v: interrupted after it published ") and err.endswith(
        "versions/000002, which is complete: there is nothing to resume or run again"), err
    assert (out / "LATEST").read_text().strip() == "2"                      # LATEST was written
    assert layout.published_versions(spark, str(out)) == [2]               # retention ran: version 1 went
    assert Word2VecModel.load(version, spark=spark).wv.vectors.shape[1] == 8

    monkeypatch.setattr(publishing, "_point_latest", point)
    from sparkw2v import cli
    monkeypatch.setattr(cli, "_print_neighbours", lambda *a, **k: signal.raise_signal(signal.SIGINT))
    assert main(args) == 130
    assert "interrupted after it published " in capsys.readouterr().err
    monkeypatch.setattr(publishing, "_point_latest", lambda *a: signalled(*a, times=2))
    assert main(args) == 130                               # the second signal stops it before LATEST is written
    assert "interrupted after it published " in capsys.readouterr().err
    assert (out / "LATEST").read_text().strip() == "3"                      # the version before: readers pass over it
    assert layout.published_versions(spark, str(out))[-1] == 4
    monkeypatch.setattr(publishing, "write_tables", lambda *a, **k: signal.raise_signal(signal.SIGTERM))
    assert main(args) == 130                                               # before the commit: resume
    assert "--resume" in capsys.readouterr().err


def test_continuing_a_version_that_is_no_longer_the_newest_is_refused(spark, tmp_path):
    first, second = tmp_path / "day1.txt", tmp_path / "day2.txt"
    first.write_text("\n".join(planted_lines(seed=1, sentences=80)) + "\n")
    second.write_text("\n".join(planted_lines(seed=2, sentences=80)) + "\n" + "newword " * 20 + "\n")
    out = tmp_path / "model"
    assert main(["train", "--input", str(first), "--output", str(out), *TINY]) == 0
    # This process continues version 1 ...
    ours = Word2Vec(input=str(second), from_model=str(out), output=str(out), vector_size=8, epochs=1,
                    min_count=1, sample=0.0, window=2, num_partitions=1, seed=3).fit_input(spark)
    # ... while another process continues version 1 too, and publishes first.
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    other = subprocess.run([sys.executable, "-m", "sparkw2v", "train", "--input", str(second), "--from-model",
                            str(out), "--output", str(out), *TINY], env=env, capture_output=True, timeout=300)
    assert other.returncode == 0, other.stderr.decode()[-3000:]
    with pytest.raises(ConcurrentPublishError, match=r"version 2 of .* appeared .* while this run continued "
                                                     r"version 1.*Run again to continue version 2"):
        ours.save(str(out), overwrite=True)
    assert layout.published_versions(spark, str(out)) == [1, 2]           # version 2 is not superseded
    assert "newword" in Word2VecModel.load(str(out), spark=spark).wv
    assert not (out / "_staging").exists()


def _another_writer_publishes_while_tables_are_written(monkeypatch, spark, path) -> None:
    """The next ``write_tables`` first lets another writer publish a version of ``path``."""
    original = publishing.write_tables

    def racing(*args, **kwargs):
        monkeypatch.setattr(publishing, "write_tables", original)
        publish(spark, path, 9.0)
        return original(*args, **kwargs)
    monkeypatch.setattr(publishing, "write_tables", racing)


def test_without_overwrite_only_the_first_version_is_published(spark, tmp_path, monkeypatch):
    """Two writers creating one new output without overwrite: the one that claims second publishes
    nothing (it is told who came first), instead of adding a version above the other's."""
    out = tmp_path / "model"
    vocab = Vocabulary(WORDS, COUNTS)
    _another_writer_publishes_while_tables_are_written(monkeypatch, spark, out)
    with pytest.raises(ConcurrentPublishError, match=r"got version 1 from another writer .* only into an output "
                                                     r"that has no version yet; publish with overwrite"):
        publishing.write_model(spark, str(out), vocab, matrix(1.0), matrix(0.0), {})
    assert layout.published_versions(spark, str(out)) == [1]
    assert vector_table.read_model(spark, str(out)).w_in[0, 0] == 9.0    # the other writer's
    assert not (out / "_staging").exists()


def test_a_loaded_model_saved_back_never_hides_a_newer_version(spark, tmp_path, monkeypatch):
    """pyspark.ml's load, change, ``write().overwrite().save(path)``: if another writer published
    meanwhile, the save is refused rather than put above it; saving again after its own save,
    a rollback to an older version, and a path emptied since are fine."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    publish(spark, out, 2.0)
    loaded = Word2VecModel.load(str(out), spark=spark)
    publish(spark, out, 3.0)                                              # another writer, after the load
    with pytest.raises(ConcurrentPublishError, match=r"version 3 of .* appeared .* after this model was loaded "
                                                     r"from it \(version 2 was the newest then\)"):
        loaded.write().overwrite().save(str(out))
    assert layout.published_versions(spark, str(out)) == [1, 2, 3]

    older = Word2VecModel.load(str(out / "versions" / "000001"), spark=spark)   # a rollback to version 1
    older.setOutputCol("vec").write().overwrite().save(str(out))
    again = older.save(str(out), overwrite=True)                          # after its own save: fine
    assert again.endswith("versions/000005")
    assert Word2VecModel.load(str(out), spark=spark).wv.vectors[0, 0] == 1.0
    publish(spark, out, 6.0)
    with pytest.raises(ConcurrentPublishError, match=r"version 6 of .* after this model was published there as "
                                                     r"version 5"):
        older.save(str(out), overwrite=True)
    shutil.rmtree(out)                                                    # emptied (pyspark.ml's pipeline overwrite)
    assert older.save(str(out), overwrite=True).endswith("versions/000001")


def test_a_cli_run_that_loses_its_output_to_another_writer_keeps_its_model(spark, tmp_path, monkeypatch, capsys,
                                                                           caplog):
    """The output was empty when the run started; another writer published there while it
    trained: nothing of the other's is hidden, and the run's model is published beside it."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(planted_lines(seed=1, sentences=60)) + "\n")
    out = tmp_path / "model"
    _another_writer_publishes_while_tables_are_written(monkeypatch, spark, out)
    assert main(["train", "--input", str(corpus), "--output", f"{out}/.", *TINY, "--keep-versions", "1"]) == 2
    err = capsys.readouterr().err.strip()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("model-unpublished-")]
    assert len(kept) == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"sparkw2v: error: not published: {out}/. got a version from another writer while this "
                          "run trained (it had none when the run started)"), err
    assert f"This run's model is kept, published at {kept[0]}: use it there, or make it the next version" in err
    assert not (out / "_staging").exists()                                # its checkpoints went with it
    assert vector_table.read_model(spark, str(out)).w_in[0, 0] == 9.0   # the other writer's, untouched
    mine = Word2VecModel.load(str(kept[0]), spark=spark)
    assert mine.metadata["parameters"]["seed"] == 3 and (kept[0] / "versions" / "000001" / "counts").is_dir()
    # and the command the error gives makes it the output's next version, counts and all
    # (kept by import's own --keep-versions, 3, not the kept model's training setting, 1)
    assert main(["import", "--input", str(kept[0]), "--output", str(out), "--overwrite", "-q"]) == 0
    assert layout.published_versions(spark, str(out)) == [1, 2]
    second = Word2VecModel.load(str(out), spark=spark)
    assert second.wv.words == mine.wv.words and np.array_equal(second.wv.vectors, mine.wv.vectors)
    assert (out / "versions" / "000002" / "counts").is_dir()
    assert main(["import", "--input", str(kept[0]), "--output", str(out), "--limit", "3", "-q"]) == 2
    assert "is a sparkw2v model: --binary, --text, --vocab-counts, --limit and --unicode-errors do not apply" in \
        capsys.readouterr().err
    # the other writer published after training but before this run's publish began: the same
    later = tmp_path / "later"
    real_fit = Word2Vec.fit_input

    def fit_then_a_rival_publishes(self, session):
        trained = real_fit(self, session)
        publish(spark, later, 8.0)
        return trained
    monkeypatch.setattr(Word2Vec, "fit_input", fit_then_a_rival_publishes)
    assert main(["train", "--input", str(corpus), "--output", str(later), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"sparkw2v: error: not published: {later} got a version from another writer while this "
                          "run trained (it had none when the run started)") and "\n" not in err, err
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("later-unpublished-")]) == 1
    assert layout.published_versions(spark, str(later)) == [1]
    assert main(["import", "--input", str(out), "--output", f"{out}/", "--overwrite", "-q"]) == 2
    assert "--input and --output are the same model" in capsys.readouterr().err
    # saved over its own path after that path was deleted (pyspark.ml's pipeline overwrite): said, not silent
    reloaded = Word2VecModel.load(str(kept[0]), spark=spark)
    shutil.rmtree(kept[0])
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        reloaded.save(str(kept[0]), overwrite=True)
    assert any("is saved without its word counts" in r.getMessage() for r in caplog.records), caplog.records


def test_a_lost_output_whose_model_cannot_be_kept_either_says_both_in_one_line(spark, tmp_path, monkeypatch,
                                                                              capsys):
    """Keeping the model beside the output fails too (a full disk, no permission): one line with both."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(planted_lines(seed=1, sentences=60)) + "\n")
    out = tmp_path / "model"
    _another_writer_publishes_while_tables_are_written(monkeypatch, spark, out)
    real_save = Word2VecModel.save

    def full_beside(self, path, *args, **kwargs):
        if "-unpublished-" in str(path):
            raise OSError(28, "No space left on device")
        return real_save(self, path, *args, **kwargs)
    monkeypatch.setattr(Word2VecModel, "save", full_beside)
    assert main(["train", "--input", str(corpus), "--output", str(out), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"sparkw2v: error: not published: {out} got a version"), err
    assert "Keeping this run's model at " in err and err.endswith("failed too: [Errno 28] No space left on device")
    assert vector_table.read_model(spark, str(out)).w_in[0, 0] == 9.0   # the other writer's, untouched


def test_a_continuation_that_loses_is_kept_but_not_offered_to_be_put_above_the_newer_version(
        spark, tmp_path, monkeypatch, capsys):
    first, second = tmp_path / "day1.txt", tmp_path / "day2.txt"
    first.write_text("\n".join(planted_lines(seed=1, sentences=60)) + "\n")
    second.write_text("\n".join(planted_lines(seed=2, sentences=60)) + "\n")
    out = tmp_path / "model"
    assert main(["train", "--input", str(first), "--output", str(out), *TINY]) == 0
    _another_writer_publishes_while_tables_are_written(monkeypatch, spark, out)
    assert main(["train", "--input", str(second), "--from-model", str(out), "--output", str(out), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert "while this run continued version 1; publishing would drop what version 2 added. Run again to " \
           "continue version 2. This run's model is kept, published at " in err and err.endswith(": use it there"), err
    assert "import" not in err and layout.published_versions(spark, str(out)) == [1, 2]


def test_a_version_removed_after_a_load_is_named_as_removed(spark, tmp_path):
    out = tmp_path / "model"
    for value in (1.0, 2.0, 3.0):
        publish(spark, out, value)
    loaded = Word2VecModel.load(str(out), spark=spark)
    shutil.rmtree(out / "versions" / "000003")
    with pytest.raises(ConcurrentPublishError, match=r"version 3 of .*, which this model was built on, loaded from "
                                                     r"or saved as, was removed meanwhile \(its newest is version 2\)"):
        loaded.save(str(out), overwrite=True)
    link = tmp_path / "link"                                              # another spelling of the same model
    link.symlink_to(out)
    assert layout.same_path(spark, str(link), str(out)) and layout.same_path(spark, f"{link}/", str(out))
    publish(spark, out, 4.0)
    again = Word2VecModel.load(str(out / "versions" / "000002"), spark=spark)
    publish(spark, out, 5.0)
    with pytest.raises(ConcurrentPublishError, match=r"version 4 of .*link appeared .* \(version 3 was the newest then\)"):
        again.save(str(link), overwrite=True)
    # the path removed and another model published there under the same number (A, B, A)
    newest = Word2VecModel.load(str(out), spark=spark)
    shutil.rmtree(out)
    for value in (6.0, 7.0, 8.0, 9.0):
        publish(spark, out, value)
    assert layout.published_versions(spark, str(out))[-1] == 4 == layout.version_of(newest.source)
    with pytest.raises(ConcurrentPublishError, match=r"version 4 of .* is not the one this model was loaded from: "
                                                     r"the path was removed and another model published there"):
        newest.save(str(out), overwrite=True)



def test_a_version_replaced_while_a_save_claims_the_next_is_not_built_over(spark, tmp_path, monkeypatch):
    """The path removed and published again under the same number between the save's check and
    its claim: the claim is checked again and undone."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    loaded = Word2VecModel.load(str(out), spark=spark)
    original = publishing._claim

    def replaced_first(*args, **kwargs):
        monkeypatch.setattr(publishing, "_claim", original)
        shutil.rmtree(out / "versions")
        publish(spark, out, 7.0)                                          # another model's version 1
        return original(*args, **kwargs)
    monkeypatch.setattr(publishing, "_claim", replaced_first)
    with pytest.raises(ConcurrentPublishError, match=r"version 1 of .* is not the one this model was loaded from"):
        loaded.save(str(out), overwrite=True)
    assert layout.published_versions(spark, str(out)) == [1]
    assert Word2VecModel.load(str(out), spark=spark).wv.vectors[0, 0] == pytest.approx(7.0)
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())


def test_a_kept_model_is_named_beside_the_output_however_it_is_spelled():
    from sparkw2v.cli import _beside

    assert _beside("m/.", "x") == "m-x" and _beside("a/m/", "x") == "a/m-x"
    assert _beside("s3a://bucket/models/m/", "x") == "s3a://bucket/models/m-x"
    assert _beside("file:///tmp/m/.", "x") == "file:///tmp/m-x"


# -- 2./3. checksums, file list and row counts ---------------------------------------------------


def test_damage_detail_quotes_the_java_exception_without_py4js_prefix():
    py4j = ("An error occurred while calling o93.open.\n: org.apache.hadoop.fs.ChecksumException: Checksum error: "
            "/m/part-0.parquet at 114176 exp: 1661250 got: -9\n\tat org.apache.hadoop.fs.FSInputChecker.verify")
    assert integrity.damage_detail(Exception(py4j)) == ("org.apache.hadoop.fs.ChecksumException: Checksum error: "
                                                        "/m/part-0.parquet at 114176 exp: 1661250 got: -9")
    assert integrity.damage_detail(OSError("disk gone")) == "disk gone"

def flip_byte(path: str) -> None:
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("with_crc", [True, False], ids=["crc", "no-crc"])
def test_a_flipped_byte_fails_every_read_path_naming_the_file(spark, tmp_path, capsys, with_crc):
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    sql.register(spark, str(out), name="rot")                          # registered while still whole
    damaged = vectors_file(out)
    flip_byte(damaged)
    if not with_crc:
        os.remove(os.path.join(os.path.dirname(damaged), f".{os.path.basename(damaged)}.crc"))
    name = os.path.basename(damaged)
    with pytest.raises(DamagedModelError, match=f"{name} is damaged"):
        Word2VecModel.load(str(out), spark=spark)
    with pytest.raises(DamagedModelError, match=f"{name} is damaged"):
        sql.register(spark, str(out), name="rot2")
    assert f"{name} is damaged" in sql_error(spark, "SELECT * FROM rot_most_similar('man', 2)")
    assert f"{name} is damaged" in sql_error(spark, "SELECT * FROM rot_vectors")
    assert main(["export", "--vectors", str(out), "--format", "word2vec-text",
                 "--output", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparkw2v: error: ") and f"{name} is damaged" in err and "\n" not in err
    assert not (tmp_path / "v.txt").exists()


def test_a_damaged_vocabulary_table_is_refused_too(spark, tmp_path):
    """vocab/ is for Spark SQL readers (loading reads vectors/): it is checked all the same."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    part = next((out / "versions" / "000001" / "vocab").glob("part-*.parquet"))
    part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    part.write_bytes(part.read_bytes()[:-40])
    with pytest.raises(DamagedModelError, match=f"vocab/{part.name} is damaged: .* \\(truncated or replaced\\)"):
        Word2VecModel.load(str(out), spark=spark)


def test_missing_extra_or_short_files_are_never_served(spark, tmp_path, monkeypatch, capsys):
    real_write = tables.write_parquet
    monkeypatch.setattr(tables, "write_parquet", lambda s, t, rows, path: real_write(s, t, 2, path))  # 2 rows a file
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    monkeypatch.undo()
    parts = sorted((out / "versions" / "000001" / "vectors").glob("part-*.parquet"))
    assert len(parts) == 3
    hidden = tmp_path / parts[0].name
    parts[0].rename(hidden)                                               # a part file goes missing
    with pytest.raises(DamagedModelError, match=f"{parts[0].name} is missing: .*2 of the 3 files"):
        Word2VecModel.load(str(out), spark=spark)
    with pytest.raises(DamagedModelError, match="is missing"):
        sql.register(spark, str(out), name="part")
    assert main(["export", "--vectors", str(out), "--format", "word2vec-text",
                 "--output", str(tmp_path / "v.txt")]) == 2
    assert "is missing" in capsys.readouterr().err
    hidden.rename(parts[0])
    extra = parts[0].with_name("part-99999-stray.snappy.parquet")        # a file that is not listed
    extra.write_bytes(parts[1].read_bytes())
    with pytest.raises(DamagedModelError, match="part-99999-stray.snappy.parquet does not belong"):
        Word2VecModel.load(str(out), spark=spark)
    extra.unlink()
    # a truncated file (the 202-line trace export gave)
    (parts[2].parent / f".{parts[2].name}.crc").unlink()
    parts[2].write_bytes(parts[2].read_bytes()[:-40])
    assert main(["export", "--vectors", str(out), "--format", "word2vec-text",
                 "--output", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{parts[2].name} is damaged" in err and "truncated" in err and err.count("\n") == 1


def test_a_file_list_removed_or_a_listed_table_deleted_is_never_served(spark, tmp_path):
    """A version without its file list is not an older, unchecked one, and a deleted output_vectors/
    must not let a continued run start from zero output weights."""
    import shutil

    out = tmp_path / "model"
    location = publish(spark, out, 1.0)
    version = out / "versions" / "000001"
    shutil.rmtree(version / "output_vectors")
    with pytest.raises(DamagedModelError, match="output_vectors/part-.* is missing"):
        vector_table.read_model(spark, location)
    assert vector_table.read_model(spark, location, with_output=False).w_out is None   # vectors alone: fine
    meta = json.loads((version / "metadata.json").read_text())
    del meta["files"]
    (version / ".metadata.json.crc").unlink()
    (version / "metadata.json").write_text(json.dumps(meta))              # any edit: its own digest differs
    with pytest.raises(DamagedModelError, match="metadata.json is damaged: its content does not match the SHA-256"):
        Word2VecModel.load(str(out), spark=spark)
    del meta["metadata_sha256"]                                           # and without its digest
    (version / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DamagedModelError, match="records its own SHA-256, but metadata_sha256 is missing"):
        Word2VecModel.load(str(out), spark=spark)
    (version / "metadata.json").write_text(json.dumps({**meta, "format_version": 2}))   # as format 2 wrote it
    with pytest.raises(DamagedModelError, match="lists no files, but its format \\(version 2\\) records every file"):
        Word2VecModel.load(str(out), spark=spark)


def test_a_version_still_being_copied_into_place_is_not_read(spark, tmp_path, caplog):
    """Where a directory rename is a copy (S3), a newer version may lack files while LATEST still
    names the older one: readers keep the older; once every listed file is there, the newer."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    publish(spark, out, 2.0)
    (out / ".LATEST.crc").unlink(missing_ok=True)
    (out / "LATEST").write_text("1\n")
    part = sorted((out / "versions" / "000002" / "vectors").glob("part-*.parquet"))[0]
    aside = tmp_path / part.name
    part.rename(aside)
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):            # passed over, and said so
        assert vector_table.resolve(spark, str(out)).endswith("versions/000001")
    assert any(r.getMessage().startswith(f"{out}/versions/000002 passed over, still being copied into place or "
                                         f"damaged ({out}/versions/000002/vectors/{part.name} is missing")
               for r in caplog.records), caplog.records
    # a writer that read version 1 is told why version 2 stops it, and what to do
    loaded = Word2VecModel.load(str(out), spark=spark)
    with pytest.raises(ConcurrentPublishError, match=r"is missing: .*, so readers pass version 2 of .* over and "
                                                     r"this run read version 1, .* If no writer is still copying it "
                                                     r"into place, remove .*versions/000002"):
        loaded.save(str(out), overwrite=True)
    aside.rename(part)
    assert vector_table.resolve(spark, str(out)).endswith("versions/000002")   # LATEST left behind
    # with two versions above the one LATEST names, the newest one in place is read
    publish(spark, out, 3.0)
    (out / ".LATEST.crc").unlink(missing_ok=True)
    (out / "LATEST").write_text("1\n")
    sorted((out / "versions" / "000003" / "vectors").glob("part-*.parquet"))[0].unlink()
    assert vector_table.resolve(spark, str(out)).endswith("versions/000002")
    # without a LATEST (a path's first versions, or one lost), too
    (out / "LATEST").unlink()
    (out / ".LATEST.crc").unlink(missing_ok=True)
    assert vector_table.resolve(spark, str(out)).endswith("versions/000002")
    assert vector_table.resolve(None, str(out)).endswith("versions/000002")     # and read without Spark


def test_a_version_appears_with_its_counts_table(spark, tmp_path, monkeypatch):
    """The counts table is inside the version when the version is renamed into versions/, before
    LATEST names it (it was once moved in after, and a direct reader of LATEST's version found no
    counts/ for 30-40 ms of every publish)."""
    seen = []
    after = publishing._after_publish

    def check_then_point(spark_, fs, path, version, keep):
        directory = pathlib.Path(path) / "versions" / f"{version:06d}"
        seen.append((directory / "counts" / "_SUCCESS").exists())
        after(spark_, fs, path, version, keep)

    monkeypatch.setattr(publishing, "_after_publish", check_then_point)
    day = tmp_path / "day.txt"
    day.write_text("\n".join(planted_lines(seed=1, sentences=40)) + "\n")
    out = tmp_path / "model"
    assert main(["train", "--input", str(day), "--output", str(out), *TINY]) == 0
    assert main(["train", "--input", str(day), "--from-model", str(out), "--output", str(out), *TINY]) == 0
    assert seen == [True, True]
    meta = vector_table.read_metadata(spark, str(out))
    assert "counts_table" not in meta and any(name.startswith("counts/") for name in meta["files"])
    assert not (out / "_staging").exists()


def _as_published_in_two_steps(version: pathlib.Path, staged: str) -> None:
    """Give ``version``'s metadata the ``counts_table`` entry (re-sealed) of a version published by
    earlier code, which staged the counts table apart and moved it in after the rename."""
    meta = json.loads((version / "metadata.json").read_text())
    meta.pop(integrity.SEAL)
    (version / "metadata.json").write_text(integrity.metadata_text({**meta, "counts_table": staged}, indent=2))
    (version / ".metadata.json.crc").unlink(missing_ok=True)


def test_a_version_whose_counts_were_not_yet_moved_in_is_served_and_continued(spark, tmp_path):
    """A version published by earlier code in two steps whose writer was killed after publishing
    version 2 but before moving its counts table in from _staging (and before LATEST): readers get
    version 2, loading moves the table in, and continuing the path publishes version 3 (before:
    version 1 was served and every continuation failed with "version 2 appeared")."""
    days = [tmp_path / f"day{i}.txt" for i in (1, 2, 3)]
    for i, day in enumerate(days, 1):
        day.write_text("\n".join(planted_lines(seed=i, sentences=60)) + "\n" + f"word{i} " * 20 + "\n")
    out = tmp_path / "model"
    assert main(["train", "--input", str(days[0]), "--output", str(out), *TINY]) == 0
    assert main(["train", "--input", str(days[1]), "--from-model", str(out), "--output", str(out), *TINY]) == 0
    version2 = out / "versions" / "000002"

    def interrupt_before_the_move():
        staged = "counts-twostep01"
        _as_published_in_two_steps(version2, staged)
        (out / "_staging").mkdir(exist_ok=True)
        (version2 / "counts").rename(out / "_staging" / staged)
        (out / ".LATEST.crc").unlink(missing_ok=True)
        (out / "LATEST").write_text("1\n")
        return out / "_staging" / staged

    staged = interrupt_before_the_move()
    part = sorted(staged.glob("part-*"))[0]
    part.write_bytes(part.read_bytes()[:-1])           # a staged table not yet whole: not in place
    assert vector_table.resolve(spark, str(out)).endswith("versions/000001")
    shutil.rmtree(out / "_staging")
    shutil.rmtree(out / "versions" / "000002")
    assert main(["train", "--input", str(days[1]), "--from-model", str(out), "--output", str(out), *TINY]) == 0
    version2 = out / "versions" / "000002"

    staged = interrupt_before_the_move()
    assert vector_table.resolve(spark, str(out)).endswith("versions/000002")
    model = Word2VecModel.load(str(out), spark=spark)
    assert "word2" in model.wv and (version2 / "counts" / "_SUCCESS").exists() and not staged.exists()

    interrupt_before_the_move()
    assert main(["train", "--input", str(days[2]), "--from-model", str(out), "--output", str(out), *TINY]) == 0
    assert layout.published_versions(spark, str(out)) == [1, 2, 3]
    latest = Word2VecModel.load(str(out), spark=spark)
    assert {"word1", "word2", "word3"} <= set(latest.wv.words)
    assert latest.metadata["continued_from"]["version"] == 2
    assert not (out / "_staging").exists()


def test_two_readers_both_moving_the_counts_in_is_no_failure(spark, tmp_path):
    """A version published in two steps by earlier code whose counts table was not yet moved in:
    two readers finishing the publish at once; whichever comes second finds it moved and is done."""
    out = tmp_path / "model"
    location = publish(spark, out, 1.0)
    staged = out / "_staging" / "counts-race"
    staged.mkdir(parents=True)
    (staged / "part-0.parquet").write_bytes(b"x")
    (staged / "_SUCCESS").write_bytes(b"")
    fs = filesystem.HadoopFS(spark, str(out))
    counts_table.move_counts_in(fs, str(staged), location)             # the first mover
    counts_table.move_counts_in(fs, str(staged), location)             # the second: already in place
    assert (out / "versions" / "000001" / "counts" / "part-0.parquet").exists() and not staged.exists()
    with pytest.raises(Exception):                                      # neither there nor staged: a real failure
        counts_table.move_counts_in(fs, str(staged), str(out / "versions" / "000009"))


def test_rows_are_checked_against_metadata_for_older_versions_too(spark, tmp_path):
    out = tmp_path / "model"
    location = publish(spark, out, 1.0)
    meta_path = out / "versions" / "000001" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    del meta["files"], meta["metadata_sha256"]                            # as format 1 wrote it
    meta["format_version"] = 1
    meta["vocab_size"] = 7
    (meta_path.parent / ".metadata.json.crc").unlink()
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DamagedModelError, match="holds 5 rows, but metadata.json says the vocabulary has 7"):
        vector_table.read_model(spark, location)
    sql.register(spark, str(out), name="rows")
    assert "hold 5 rows, but its metadata.json says 7" in sql_error(spark, "SELECT rows_vector('man')")


def test_corrupt_metadata_names_the_file(spark, tmp_path, capsys):
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    meta_path = out / "versions" / "000001" / "metadata.json"
    (meta_path.parent / ".metadata.json.crc").unlink()
    meta_path.write_text(meta_path.read_text()[:-30])
    with pytest.raises(DamagedModelError, match="metadata.json is damaged: not valid JSON"):
        Word2VecModel.load(str(out), spark=spark)
    assert main(["export", "--vectors", str(out), "--format", "word2vec-text",
                 "--output", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{meta_path} is damaged: not valid JSON" in err and err.count("\n") == 1


# -- 4. literal paths -----------------------------------------------------------------------------

def test_paths_with_glob_characters_are_literal(spark, tmp_path, capsys):
    ours, sibling = tmp_path / "m[1]", tmp_path / "m1"
    publish(spark, sibling, 9.0, words=("other", "words", "here"), counts=[3, 2, 1])
    publish(spark, ours, 1.0)
    loaded = Word2VecModel.load(str(ours), spark=spark)
    assert loaded.wv.words == list(WORDS) and loaded.wv["the"][0] == 1.0
    sql.register(spark, str(ours), name="lit")
    assert spark.sql("SELECT count(*) FROM lit_vectors").first()[0] == len(WORDS)
    assert spark.sql("SELECT lit_vector('the')[0]").first()[0] == 1.0
    assert [r[0] for r in spark.sql("SELECT word FROM lit_most_similar('the', 2)").collect()]
    assert main(["export", "--vectors", str(ours), "--format", "word2vec-text",
                 "--output", str(tmp_path / "v.txt")]) == 0
    assert (tmp_path / "v.txt").read_text().splitlines()[0] == f"{len(WORDS)} 4"
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the\tman\t5.0\nman\tking\t3.0\nwoman\tqueen\t1.0\n")
    assert main(["evaluate", "--vectors", str(ours), "--similarity", str(pairs)]) == 0
    capsys.readouterr()
    import shutil
    shutil.rmtree(sibling)                                                 # no sibling: still readable
    assert Word2VecModel.load(str(ours), spark=spark).wv["the"][0] == 1.0
    sql.register(spark, str(ours), name="lit")


# -- 5. readers and retention ----------------------------------------------------------------------

def test_a_reader_outrun_by_retention_says_so_not_that_the_model_is_damaged(spark, tmp_path, monkeypatch):
    """Every version a reader tries is removed while it reads it: after a few tries it gives up
    with its own error, not DamagedModelError (the model is intact; found by an adversarial run)."""
    from sparkw2v.errors import VersionsRemovedError

    out = tmp_path / "model"
    publish(spark, out, 1.0, keep_versions=1)
    real = vector_table._read_version
    value = [1.0]

    def outrun(spark_, location, with_output):
        value[0] += 1
        publish(spark, out, value[0], keep_versions=1)                     # removes the version being read
        return real(spark_, location, with_output)

    monkeypatch.setattr(vector_table, "_read_version", outrun)
    with pytest.raises(VersionsRemovedError, match="versions in a row were removed .* raise keep_versions") as info:
        Word2VecModel.load(str(out), spark=spark)
    assert not isinstance(info.value, DamagedModelError)
    monkeypatch.setattr(vector_table, "_read_version", real)
    assert float(Word2VecModel.load(str(out), spark=spark).wv["the"][0]) == value[0]


def test_evaluate_scores_and_records_the_version_it_read_whatever_retention_removes(spark, tmp_path, monkeypatch,
                                                                                   capsys):
    """`sparkw2v evaluate --record` while another writer publishes with keep_versions=1: the
    version removed while it is read is replaced by the newest (it once failed, calling the
    removed version incomplete), and scores for a version removed after scoring are refused in
    one line, not written into a directory made again for them (found by an adversarial run)."""
    out = tmp_path / "model"
    publish(spark, out, 1.0, keep_versions=1)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("the\tman\t5.0\nking\tqueen\t8.0\nwoman\tman\t6.0\n")
    real = vector_table._read_version

    def racing_writer(spark_, location, with_output):
        if location.endswith("000001"):            # evaluate has resolved version 1; a writer replaces it
            publish(spark, out, 2.0, keep_versions=1)
        return real(spark_, location, with_output)

    monkeypatch.setattr(vector_table, "_read_version", racing_writer)
    assert main(["evaluate", "--vectors", str(out), "--similarity", str(pairs), "--record"]) == 0
    assert "versions/000002/evaluation.json" in capsys.readouterr().out
    assert (out / "versions" / "000002" / "evaluation.json").exists()
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["000002"]
    monkeypatch.setattr(vector_table, "_read_version", real)
    # scored, then removed before the scores are recorded
    location = vector_table.resolve(spark, str(out))
    publish(spark, out, 3.0, keep_versions=1)
    with pytest.raises(ConcurrentPublishError, match="version 2 of .* was deleted .* nothing was recorded"):
        publishing.record_evaluation(spark, location, {"wordsim_spearman": 0.5})
    assert sorted(p.name for p in (out / "versions").iterdir()) == ["000003"]


def test_a_reader_whose_version_retention_removes_mid_read_reads_the_newest(spark, tmp_path, monkeypatch):
    """Another writer publishing with keep_versions=1 deletes the version a reader has resolved
    and is reading: the reader takes the newest version instead of reporting damage; a version
    damaged in place is still reported."""
    out = tmp_path / "model"
    publish(spark, out, 1.0, keep_versions=1)
    real = vector_table._read_version
    reads = []

    def racing_writer(spark_, location, with_output):
        reads.append(location)
        if len(reads) == 1:                  # the reader resolved version 1; a writer replaces it now
            publish(spark, out, 2.0, keep_versions=1)
        return real(spark_, location, with_output)

    monkeypatch.setattr(vector_table, "_read_version", racing_writer)
    model = Word2VecModel.load(str(out), spark=spark)
    assert [r.rsplit("/", 1)[1] for r in reads] == ["000001", "000002"]
    assert model.source.endswith("versions/000002") and float(model.wv["the"][0]) == 2.0
    monkeypatch.setattr(vector_table, "_read_version", real)
    flip_byte(vectors_file(out))
    with pytest.raises(DamagedModelError, match="000002/vectors/part-.* is damaged"):
        Word2VecModel.load(str(out), spark=spark)


def test_a_registered_reader_learns_in_one_line_that_retention_removed_its_version(spark, tmp_path):
    out = tmp_path / "model"
    publish(spark, out, 1.0, keep_versions=1)
    sql.register(spark, str(out), name="kept")
    assert spark.sql("SELECT kept_vector('the')[0]").first()[0] == 1.0
    assert spark.sql("SELECT count(*) FROM kept_vectors").first()[0] == len(WORDS)
    publish(spark, out, 2.0, keep_versions=1)                              # deletes version 1
    assert layout.published_versions(spark, str(out)) == [2]
    gone = "was deleted (retention keeps only the newest versions)"
    for query in ("SELECT kept_vector('the')", "SELECT * FROM kept_most_similar('the', 2)",
                  "SELECT * FROM kept_analogy('the', 'man', 'woman', 1)", "SELECT * FROM kept_vectors"):
        message = sql.worker_message(sql_error(spark, query))             # what jobs/query.py prints
        assert gone in message or "is missing (deleted by retention" in message, message
    sql.register(spark, str(out), name="kept")                            # registering again reads v2
    assert spark.sql("SELECT kept_vector('the')[0]").first()[0] == 2.0
    # registered by the version's own directory: the message names the model path to register again
    sql.register(spark, str(out / "versions" / "000002"), name="pinned")
    publish(spark, out, 3.0, keep_versions=1)
    message = sql.worker_message(sql_error(spark, "SELECT pinned_vector('the')"))
    assert message.startswith(f"version 2 of file:{out} was deleted") or \
        message.startswith(f"version 2 of {out} was deleted"), message


# -- 7. words are strings, not fixed-width NumPy strings ----------------------------------------

def test_words_differing_by_a_trailing_nul_keep_their_vectors(spark, tmp_path):
    words = ("nul\x00", "nul", "a")
    out = tmp_path / "model"
    vocab = Vocabulary(words, np.array([5, 5, 1]))
    m = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    publishing.write_model(spark, str(out), vocab, m, m, {})
    loaded = Word2VecModel.load(str(out), spark=spark)
    assert loaded.wv.words == ["nul", "nul\x00", "a"]                     # count, then word as str
    np.testing.assert_array_equal(loaded.wv["nul"], [0, 1])
    np.testing.assert_array_equal(loaded.wv["nul\x00"], [1, 0])
    sql.register(spark, str(out), name="nul")
    got = dict(spark.sql("SELECT word, nul_vector(word) FROM nul_vectors").collect())
    assert got["nul"] == [0.0, 1.0] and got["nul\x00"] == [1.0, 0.0]


def test_leftovers_of_killed_publishes_are_swept_once_stale(spark, tmp_path):
    """A writer killed while publishing leaves a staged version, counts table or pointer under
    _staging, or its staged version inside a version directory (it lost the rename race for
    that number and was killed before taking it back out): the next publish removes those older
    than a day, but not a counts table a published version still names (its move in was
    interrupted) nor a checkpoint."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    staged = out / "_staging"
    for name in ("version-dead0001", "counts-dead0002", "LATEST-dead0003", "counts-pending1"):
        (staged / name).mkdir(parents=True)
        (staged / name / "part-0.parquet").write_bytes(b"x")
    (staged / "checkpoint" / "epoch-000001").mkdir(parents=True)
    meta_path = out / "versions" / "000001" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["counts_table"] = "counts-pending1"
    (meta_path.parent / ".metadata.json.crc").unlink()
    meta_path.write_text(integrity.metadata_text(meta, indent=2))
    fresh = tmp_path / "model" / "_staging" / "version-live0004"
    fresh.mkdir()
    inside = out / "versions" / "000001"
    for name in ("version-lost0005", "version-live0006"):                 # losers of the rename race
        (inside / name / "vectors").mkdir(parents=True)
    day_old = time.time() - staging.STALE_SECONDS - 60
    for name in ("version-dead0001", "counts-dead0002", "LATEST-dead0003", "counts-pending1", "checkpoint"):
        os.utime(staged / name, (day_old, day_old))
    os.utime(inside / "version-lost0005", (day_old, day_old))
    fs = filesystem.HadoopFS(spark, str(out))
    swept = staging.sweep_staging(spark, fs, str(out))
    assert sorted(swept) == ["_staging/LATEST-dead0003", "_staging/counts-dead0002", "_staging/version-dead0001",
                             "versions/000001/version-lost0005"]
    assert sorted(p.name for p in staged.iterdir() if not p.name.startswith(".")) == [
        "checkpoint", "counts-pending1", "version-live0004"]
    assert sorted(p.name for p in inside.iterdir() if p.name.startswith("version-")) == ["version-live0006"]
    assert Word2VecModel.load(str(out), spark=spark).wv.words == list(WORDS)


def test_a_newest_version_without_its_metadata_is_named_by_readers_and_writers(spark, tmp_path, caplog):
    """A version directory without metadata.json (a writer still copying it in, or damage) is not
    read; a reader says which version it reads instead, and a publish that finds the number taken
    by it says what it is rather than blaming other writers."""
    import logging

    out = tmp_path / "model"
    publish(spark, out, 1.0)
    publish(spark, out, 2.0)
    (out / "versions" / "000002" / "metadata.json").unlink()
    (out / "versions" / "000002" / ".metadata.json.crc").unlink()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert vector_table.resolve(spark, str(out)).endswith("/versions/000001")
    assert "names version 2, which has no metadata.json" in caplog.text and "reading version 1" in caplog.text
    with pytest.raises(ConcurrentPublishError, match="000002 exists but is incomplete"):
        publish(spark, out, 3.0)
    assert layout.published_versions(spark, str(out)) == [1]
    # The version LATEST names removed altogether (by hand): the reader says so, once per process.
    shutil.rmtree(out / "versions" / "000002")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert vector_table.resolve(spark, str(out)).endswith("/versions/000001")
        assert vector_table.resolve(spark, str(out)).endswith("/versions/000001")
    assert [r.getMessage() for r in caplog.records] == [
        f"{out}/LATEST names version 2, which is not there (removed): reading version 1, the newest in place"]


def test_a_save_knows_what_it_published_without_reading_it_back(spark, tmp_path, monkeypatch):
    """Another writer's retention may delete a version the moment it is published: the save that
    published it still succeeds (before, it read the version back and failed after publishing)."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    loaded = Word2VecModel.load(str(out), spark=spark)

    def gone(*args, **kwargs):
        raise FileNotFoundError("deleted by another writer's retention")
    monkeypatch.setattr(vector_table, "read_metadata", gone)
    monkeypatch.setattr(vector_table, "resolve", gone)
    monkeypatch.setattr(publishing, "read_metadata", gone)
    assert loaded.save(str(out), overwrite=True).endswith("versions/000002")
    monkeypatch.undo()
    assert loaded.save(str(out), overwrite=True).endswith("versions/000003")     # its own save expected


def test_scores_recorded_while_others_record_and_read_are_never_read_as_damage(spark, tmp_path):
    import threading
    location = publish(spark, tmp_path / "m", 1.0)
    failures, seen = [], []

    def recorder(tag):
        for i in range(25):
            try:
                publishing.record_evaluation(spark, location, {"writer": tag, "round": i})
            except Exception as exc:  # noqa: BLE001 - any failure fails the test below
                failures.append(exc)

    def reader():
        for _ in range(40):
            try:
                seen.append(vector_table.read_metadata(spark, location).get("evaluation"))
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

    threads = [threading.Thread(target=recorder, args=(t,)) for t in ("a", "b")] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert all(e is None or set(e) == {"writer", "round"} for e in seen)
    assert vector_table.read_metadata(spark, location)["evaluation"]["round"] == 24
    local = location.removeprefix("file:")
    assert not [n for n in os.listdir(local) if n.startswith(".evaluation.json-")], os.listdir(local)   # no leftovers


def test_retention_removes_versions_left_half_deleted_below_the_newest(spark, tmp_path, caplog):
    """A deletion by retention that was interrupted (metadata.json gone first, as on S3) leaves a
    directory no listing of versions sees again: the next publish removes it, saying so, once its
    files are an hour old, but never an incomplete directory above the newest version or one with
    fresh files (another writer's, perhaps still arriving)."""
    out = tmp_path / "model"
    for value in (1.0, 2.0, 3.0):
        publish(spark, out, value)
    half = out / "versions" / "000001"
    (half / "metadata.json").unlink()
    (half / ".metadata.json.crc").unlink()
    shutil.rmtree(half / "vocab")
    hours_ago = time.time() - 2 * 3600
    for file in half.rglob("*"):
        os.utime(file, (hours_ago, hours_ago))
    # Other writers' versions still being copied into place (fresh files): kept, below or above.
    for name in ("000000", "000009"):
        (out / "versions" / name / "vectors").mkdir(parents=True)
        (out / "versions" / name / "vectors" / "part-0.parquet").write_bytes(b"arriving")
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        publish(spark, out, 4.0, keep_versions=1)
    assert sorted(p.name for p in (out / "versions").iterdir() if not p.name.startswith(".")) == \
        ["000000", "000004", "000009"]
    assert (f"removed 1 incomplete version directory below version 4 of {out} (versions/000001): an earlier "
            "deletion by retention was interrupted") in caplog.text, caplog.text
    assert Word2VecModel.load(str(out), spark=spark).wv.vectors[0, 0] == 4.0


def test_a_model_is_never_published_inside_another(spark, tmp_path):
    """Inside another model's version (or anywhere under it) a model would be deleted with no word
    by that model's retention or replacement: refused, naming the model it lies in."""
    out = tmp_path / "model"
    publish(spark, out, 1.0)
    for inside in (out / "versions" / "000001" / "mine", out / "versions" / "000002", out / "_staging" / "m"):
        with pytest.raises(publishing.OutputPathError, match=re.escape(f"output {inside} lies inside the sparkw2v "
                                                                       f"model file:{out}, whose retention")):
            publish(spark, inside, 2.0)
        assert not inside.exists()
    assert layout.published_versions(spark, str(out)) == [1]


def test_an_output_inside_any_alternative_of_an_input_pattern_is_refused(spark, tmp_path):
    """Hadoop's globbing, and so Spark's reader, expands braces that hold slashes (``{a/x,b}``, nested
    too) into whole patterns: an output inside a directory any of them matches is refused, one
    outside all of them accepted. A stream's source is held apart from its output further: the
    output may not be matched by it either, nor may it reach into the output through a model's
    own names (``*`` for ``versions``). A pattern Hadoop cannot read (an unclosed brace) refuses
    nothing: reading the input reports it."""
    d = tmp_path / "data"
    check = publishing.check_outside_input
    for given, inside in ((f"{d}/{{a/x,b*}}/*", ("a/x/new/model", "bee/new/model")),
                          (f"{d}/{{a/{{x,y}},b/z}}/in", ("a/y/in/model", "b/z/in/deeper/model", "a/x/in/m")),
                          (f"{d}/{{a/x,b}}", ("a/x/model", "b/model"))):
        for output in inside:
            with pytest.raises(publishing.OutputPathError, match=re.escape(
                    f"output {d / output} lies inside the input {given}: the next run would read the model's "
                    "files as input; choose an --output outside it")):
                check(spark, str(d / output), given)
    for given, outside in ((f"{d}/{{a/x,b*}}/*", ("a/model", "a/y/new/model", "c/new/model", "model", "a/x")),
                           (f"{d}/{{a/{{x,y}},b/z}}/in", ("a/z/in/model", "b/in/model", "b/z/out/model", "a/x")),
                           (f"{d}/{{a/x,b}}", ("a/model", "bx/model", "b", "a/x")),   # b, a/x: the input itself
                           (f"{d}/{{a/x,b/*.txt", ("a/x/model", "b/c.txt/model"))):   # unclosed
        for output in outside:
            check(spark, str(d / output), given)
    # a stream's source: matched (a/x/model) or the source itself (b) too, and reaching in (a/x/*: a/x/versions)
    for given, output in ((f"{d}/{{a/x,b*}}/*", "a/x/new/model"), (f"{d}/{{a/x,b*}}/*", "bee/new/model"),
                          (f"{d}/{{a/x,b*}}/*", "a/x/model"), (f"{d}/{{a/x,b}}", "b")):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"output {d / output} lies inside the --source {given}: the stream would read")):
            check(spark, str(d / output), given, stream=True)
    with pytest.raises(publishing.OutputPathError, match=re.escape(
            f"--source {d}/{{a/x,b*}}/* reaches into the output {d / 'a' / 'x'}: the stream would read the model's "
            "files as input, and publishing deletes files there; choose an --output outside it")):
        check(spark, str(d / "a" / "x"), f"{d}/{{a/x,b*}}/*", stream=True)
    for output in ("a/model", "a/y/new/model", "model"):
        check(spark, str(d / output), f"{d}/{{a/x,b*}}/*", stream=True)


def test_an_input_pattern_holds_only_the_paths_it_matches(spark, tmp_path):
    r"""Hadoop reads the pattern ``in[1]`` as ``in1`` (a class matching ``1``), while an output is a
    literal path: ``in[1]/model`` is a directory named ``in[1]``, outside the input, and accepted
    (before, the components were compared as text and it was refused as inside). An output inside
    a path the pattern does match is still refused (a stream's output matched by its source too),
    and so is one a component without a wildcard names once Hadoop drops its backslash escapes
    (``in\[1\]`` reads ``in[1]``, ``i\n1`` reads ``in1``, not a regular expression's newline)."""
    d = tmp_path / "data"
    check = publishing.check_outside_input
    for given, output in ((f"{d}/in[1]", "in[1]/model"), (f"{d}/in[1]", "in[1]"), (f"{d}/in[2]", "in1/model"),
                          (f"{d}/in\\[1\\]/*", "in[1]")):   # names the model's own path: the input's checks
        check(spark, str(d / output), given)
    check(spark, str(d / "in[1]" / "model"), f"{d}/in[1]", stream=True)
    for given, output in ((f"{d}/in[1]", "in1/model"), (f"{d}/in[12]", "in1/model"), (f"{d}/*", "in[1]/model"),
                          (f"{d}/in\\[1\\]", "in[1]/model"), (f"{d}/i\\n1", "in1/model"), (f"{d}/in{{[1],2}}", "in1/model")):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"output {d / output} lies inside the input {given}: the next run would read the model's "
                "files as input; choose an --output outside it")):
            check(spark, str(d / output), given)
    for given, output in ((f"{d}/*", "model"), (f"{d}/in[12]", "in1"), (f"{d}/*", "in[1]")):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"output {d / output} lies inside the --source {given}: the stream would read")):
            check(spark, str(d / output), given, stream=True)
    with pytest.raises(publishing.OutputPathError, match=re.escape(
            f"input {d}/in[1]/* reaches into the output {d / 'in1'}: resuming")):
        check(spark, str(d / "in1"), f"{d}/in[1]/*")


def test_train_publishes_beside_an_input_pattern_that_does_not_match_the_output(spark, tmp_path):
    """`train --input 'data/in[1]' --output 'data/in[1]/model'` trains on ``data/in1`` and publishes
    into a new directory literally named ``in[1]`` (before, it was refused as inside the input)."""
    data = tmp_path / "data"
    (data / "in1").mkdir(parents=True)
    (data / "in1" / "a.txt").write_text("\n".join(planted_lines(seed=2, sentences=40)) + "\n")
    model = data / "in[1]" / "model"
    assert main(["train", "--input", f"{data}/in[1]", "--output", str(model), *TINY]) == 0
    assert layout.published_versions(spark, str(model)) == [1]
    assert sorted(os.listdir(data / "in1")) == ["a.txt"]


def _two_folders(tmp_path):
    """``data/a/x.txt`` (text to train on) and where a model beside ``a`` goes, ``data/model``."""
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "x.txt").write_text("\n".join(planted_lines(seed=2, sentences=40)) + "\n")
    return data, data / "model"


FIT = dict(vector_size=8, epochs=1, min_count=1, sample=0.0, window=2, num_partitions=1, batch_words=512, seed=3,
           checkpoint_interval=0.0)


def _refused_in_python_and_cli(spark, capsys, given, model, message: str) -> None:
    """Word2Vec.fit_input and `train` refuse ``given`` and ``model`` with ``message`` before reading
    the input."""
    with pytest.raises(publishing.OutputPathError, match=re.escape(message)):
        Word2Vec(input=str(given), output=str(model), **FIT).fit_input(spark)
    assert not model.exists()
    capsys.readouterr()
    assert main(["train", "--input", str(given), "--output", str(model), *TINY]) == 2
    err = capsys.readouterr().err
    assert err == f"sparkw2v: error: {message}\n", err
    assert not model.exists()


def test_an_output_inside_the_input_is_refused_in_python_as_under_the_cli(spark, tmp_path, capsys):
    """Word2Vec.fit_input, which `train` runs too, refuses an output inside its input before reading
    it (before, a Python caller's model was published there and the next run read it as input)."""
    data, model = _two_folders(tmp_path)
    _refused_in_python_and_cli(spark, capsys, data, model, f"output {model} lies inside the input {data}: the next "
                               "run would read the model's files as input; choose an --output outside it")


def test_an_input_pattern_reaching_into_the_output_is_refused(spark, tmp_path, capsys):
    """``dir/*/*`` beside the output ``dir/model`` matches ``dir/model/_staging``: an interrupted
    run's --resume would read its own checkpoint there as input (refused, with a hint about Parquet
    files), and the next run the published versions. Refused before training; a pattern passing
    beside the model trains, and one naming a path inside it (``dir/model/*``) is left to the input's
    own checks."""
    data, model = _two_folders(tmp_path)
    _refused_in_python_and_cli(spark, capsys, f"{data}/*/*", model, f"input {data}/*/* reaches into the output "
                               f"{model}: resuming an interrupted run, and the next run, would read the model's files "
                               "(checkpoints, versions) as input; choose an --output outside it")
    for inside in (f"{model}/LATEST", f"{model}/*"):
        publishing.check_outside_input(spark, str(model), inside)
    trained = Word2Vec(input=f"{data}/*/*.txt", output=str(model), **FIT).fit_input(spark)
    assert trained.save(str(model)).endswith("versions/000001") and len(trained.wv) > 10


def test_a_root_input_holds_every_output(spark, tmp_path):
    """``/`` and ``file:///`` as the input: the output lies inside it (before, ``file:///`` failed with a
    Java URISyntaxException and ``/`` let any output through)."""
    from sparkw2v.layout import strip_slash

    assert [strip_slash(p) for p in ("/", "file:///", "file:/", "hdfs://nn/", "/data//")] == \
        ["/", "file:/", "file:/", "hdfs://nn", "/data"]
    for given in ("/", "file:///"):
        with pytest.raises(publishing.OutputPathError, match=re.escape(
                f"output {tmp_path / 'model'} lies inside the input {given}")):
            publishing.check_outside_input(spark, str(tmp_path / "model"), given)


def test_fit_input_refuses_an_output_that_cannot_hold_a_model_before_training(spark, tmp_path, monkeypatch):
    """A Python caller's ``output`` that is a directory of other files, or lies inside another model,
    is refused before training (before, the run trained and ``save`` refused it); one that holds a
    model is left to ``save``, which decides whether it may be replaced."""
    from sparkw2v import training

    data, model = _two_folders(tmp_path)
    trained = Word2Vec(input=str(data / "a"), output=str(model), **FIT).fit_input(spark)
    trained.save(str(model))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep\n")
    monkeypatch.setattr(training, "fit", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(publishing.OutputExistsError, match=r"foreign exists and is not a sparkw2v model directory"):
        Word2Vec(input=str(data / "a"), output=str(foreign), **FIT).fit_input(spark)
    with pytest.raises(publishing.OutputPathError, match=r"lies inside the sparkw2v model"):
        Word2Vec(input=str(data / "a"), output=str(model / "versions" / "000001" / "x"), **FIT).fit_input(spark)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    monkeypatch.undo()
    again = Word2Vec(input=str(data / "a"), output=str(model), **FIT).fit_input(spark)   # a model: fine
    again.write().overwrite().save(str(model))
    assert layout.published_versions(spark, str(model)) == [1, 2]
