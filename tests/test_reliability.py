"""Failures a long run must survive: retried tasks, a killed driver, interrupted publishing,
models too big for the memory given, and messy text."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sparkw2v import TrainConfig, Word2VecModel
from sparkw2v import filesystem, integrity, layout, publishing, vector_table
from sparkw2v.cli import main
from sparkw2v.corpus import build_vocabulary, select_column
from sparkw2v.memory import MemoryEstimateError, check_memory

from .conftest import checkpoint_dir
from .test_training import planted_lines

RUN = ["--vector-size", "8", "--epochs", "3", "--min-count", "1", "--sample", "0", "--window", "3",
       "--num-partitions", "2", "--batch-words", "512", "--seed", "7", "--show", ""]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "planted.txt"
    path.write_text("\n".join(planted_lines(seed=5, sentences=600)) + "\n")
    return path


@pytest.fixture(scope="module")
def undisturbed(spark, corpus, tmp_path_factory):
    """The reference: the same run, in this process, with nothing going wrong."""
    out = tmp_path_factory.mktemp("ref") / "model"
    assert main(["train", "--input", str(corpus), "--output", str(out), *RUN]) == 0
    return Word2VecModel.load(str(out), spark=spark)


def run_cli(args, env_extra, **kwargs):
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, **env_extra}
    return subprocess.Popen([sys.executable, "-m", "sparkw2v", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def test_retried_task_gives_bit_identical_vectors(spark, corpus, undisturbed, tmp_path):
    marker, out = tmp_path / "failed-once", tmp_path / "model"
    # no --master: the default local master retries failed tasks (local[N,4])
    proc = run_cli(["--input", str(corpus), "--output", str(out), *RUN],
                   {"SPARKW2V_TEST_FAIL_TASK": f"1:1:{marker}"})      # epoch 2, partition 1, first attempt
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log.decode()[-3000:]
    assert marker.exists()                                                 # the failure did happen
    retried = Word2VecModel.load(str(out), spark=spark)
    np.testing.assert_array_equal(retried.wv.vectors, undisturbed.wv.vectors)


@pytest.mark.parametrize("owned", ["both", "output"])
def test_a_barrier_stage_retried_after_a_task_fails_mid_exchange_gives_the_same_vectors(spark, corpus, tmp_path,
                                                                                          owned):
    """Stratified skip-gram exchanging directly: task 1 fails in epoch 2 while its peer waits for
    it (owning both matrices' rows: after sending its first output block; owning output rows: in
    its first sub-epoch's training); Spark retries the whole barrier stage and the vectors equal
    those trained through Spark (a shuffle, or a job, per sub-epoch)."""
    stratified = ["--strategy", "stratified", "--owned-rows", owned, "--syncs-per-epoch", "4",
                  "--epochs", "2"]   # RUN's 3 epochs cut to 2: the failure is in the last
    reference = tmp_path / "shuffled"
    assert main(["train", "--input", str(corpus), "--output", str(reference), *RUN, *stratified,
                 "--block-exchange", "shuffle"]) == 0
    marker, out = tmp_path / "failed-once", tmp_path / "model"
    proc = run_cli(["--input", str(corpus), "--output", str(out), *RUN, *stratified, "--block-exchange", "direct",
                    "--master", "local[2,4]"], {"SPARKW2V_TEST_FAIL_TASK": f"1:1:{marker}"})
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log.decode()[-3000:]
    assert marker.exists()                                                 # the failure did happen
    retried = Word2VecModel.load(str(out), spark=spark)
    assert retried.training_metadata()["block_exchange"] == "direct"
    np.testing.assert_array_equal(retried.wv.vectors, Word2VecModel.load(str(reference), spark=spark).wv.vectors)


def test_killed_run_resumes_to_the_same_vectors(spark, corpus, undisturbed, tmp_path):
    out = tmp_path / "model"
    proc = run_cli(["--input", str(corpus), "--output", str(out), "--checkpoint-interval", "0", *RUN],
                   {"SPARKW2V_TEST_PAUSE_AFTER_CHECKPOINT": "300"})
    deadline = time.monotonic() + 600                                    # a loaded machine is slow
    while not (checkpoint := checkpoint_dir(out, 1) / "metadata.json").exists() and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)                                   # the driver and its JVM
    proc.wait()
    assert checkpoint.exists(), "the run never wrote its first checkpoint"
    assert not (out / "versions").exists()                                # nothing was published

    assert main(["train", "--input", str(corpus), "--output", str(out), "--resume", *RUN]) == 0
    resumed = Word2VecModel.load(str(out), spark=spark)
    np.testing.assert_array_equal(resumed.wv.vectors, undisturbed.wv.vectors)
    meta = resumed.training_metadata()
    assert meta["resumed_after_epoch"] == 1 and [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    assert not (out / "_staging").exists()                                # checkpoint removed after publish


def test_a_terminated_run_says_so_in_one_line_and_points_to_resume(spark, corpus, tmp_path):
    """SIGTERM (kill, a scheduler's stop) ends the run as Ctrl-C does: exit 130 and one line."""
    out = tmp_path / "model"
    proc = run_cli(["--input", str(corpus), "--output", str(out), "--checkpoint-interval", "0", *RUN],
                   {"SPARKW2V_TEST_PAUSE_AFTER_CHECKPOINT": "300"})
    deadline = time.monotonic() + 600
    while not (checkpoint_dir(out, 1) / "metadata.json").exists() and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)                                       # the driver only
    try:
        log, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    lines = log.decode().strip().splitlines()
    assert proc.returncode == 130, lines[-20:]
    assert lines[-1] == ("sparkw2v: interrupted; run the same command with --resume to continue from its last "
                         "checkpoint, if one was written")
    from sparkw2v.checkpoint import Checkpoints
    assert Checkpoints(spark, str(out)).newest_epoch() == 1              # what a rerun warns about


def test_resume_refuses_changed_settings(spark, corpus, tmp_path, capsys, monkeypatch):
    from sparkw2v import checkpoint, vector_table

    out = tmp_path / "model"
    args = ["--input", str(corpus), "--output", str(out), "--checkpoint-interval", "0", "--keep-checkpoints"]
    assert main(["train", *args, *RUN]) == 0
    assert checkpoint_dir(out, 2).exists()                                # kept, the newest only
    assert not checkpoint_dir(out, 1).exists()
    changed = [a if a != "7" else "8" for a in RUN]                       # another seed
    with monkeypatch.context() as patched:                                # refused before its matrices are read
        def unread(*args, **kwargs):
            raise AssertionError("a checkpoint of other settings had its matrices read")
        patched.setattr(vector_table, "read_model", unread)
        patched.setattr(checkpoint, "_read_blocks_checkpoint", unread)
        assert main(["train", *args, "--resume", "--overwrite", *changed]) == 2
    assert "seed=7 (now 8)" in capsys.readouterr().err

    # Without --num-partitions the shards follow the cluster's parallelism, which can change.
    from sparkw2v.checkpoint import Checkpoints, ResumeError
    from sparkw2v.config import TrainConfig
    checkpoints = Checkpoints(spark, str(out))
    saved = checkpoints.latest()
    assert saved.shards == 2 and saved.format == 3
    cfg = TrainConfig.from_mapping(saved.parameters)
    checkpoints.check_resumable(saved, cfg, saved.vocab, 2)
    with pytest.raises(ResumeError, match="trained on 2 shards, this run would use 3; pass --num-partitions 2"):
        checkpoints.check_resumable(saved, cfg, saved.vocab, 3)
    # reader options must match too; a checkpoint from before they existed read with none
    with pytest.raises(ResumeError, match=r"input_options=\[\] \(now \[\['sep', ';'\]\]\)"):
        checkpoints.check_resumable(saved, cfg.replace(input_options={"sep": ";"}), saved.vocab, 2)
    import dataclasses
    before = dataclasses.replace(saved, parameters={k: v for k, v in saved.parameters.items() if k != "input_options"})
    checkpoints.check_resumable(before, cfg, saved.vocab, 2)
    spelled = dataclasses.replace(saved, parameters={**saved.parameters, "input_options": [["header", "x"], ["sep", ";"]]})
    checkpoints.check_resumable(spelled, cfg.replace(input_options=["HEADER=x", "Sep=;"]), saved.vocab, 2)
    # a run without --num-partitions on a 3-core cluster, told to pass --num-partitions 2: accepted
    saved.parameters["num_partitions"] = None
    checkpoints.check_resumable(saved, cfg.replace(num_partitions=2), saved.vocab, 2)
    # the shards trained at once (by default the cluster's slots) must match as well
    assert saved.concurrent == 2
    checkpoints.check_resumable(saved, cfg, saved.vocab, 2, 2)
    with pytest.raises(ResumeError, match="trained 2 shards at once, this run would train 1; "
                                          "pass --concurrent-shards 2"):
        checkpoints.check_resumable(saved, cfg, saved.vocab, 2, 1)
    # a checkpoint whose 'auto' strategy was averaging, resumed where 'auto' now picks stratified:
    # told which --strategy continues it
    with pytest.raises(ResumeError, match="strategy='average' \\(now 'stratified'\\); pass --strategy average or"):
        checkpoints.check_resumable(saved, cfg.replace(strategy="auto"), saved.vocab, 2, 8)
    # stratified records its output blocks (shared from 16 shards at once): a run whose schedule
    # dealt another number is not continued on this one; a format-1 checkpoint, which may not
    # record them, is not checked on them
    from sparkw2v.checkpoint import _training_parameters
    wide = cfg.replace(strategy="stratified", num_partitions=16, concurrent_shards=16)
    params = _training_parameters(wide, 16)
    assert params["output_blocks"] == 8 and _training_parameters(wide.replace(concurrent_shards=8), 8)["output_blocks"] == 8
    unshared = dataclasses.replace(saved, parameters={**params, "output_blocks": 16}, shards=16, concurrent=16)
    with pytest.raises(ResumeError, match="output_blocks=16 \\(now 8\\)"):
        checkpoints.check_resumable(unshared, wide, saved.vocab, 16, 16)
    checkpoints.check_resumable(dataclasses.replace(unshared, parameters={**params}), wide, saved.vocab, 16, 16)
    older = {k: v for k, v in params.items() if k != "output_blocks"}
    with pytest.raises(ResumeError, match="output_blocks=None \\(now 8\\)"):
        checkpoints.check_resumable(dataclasses.replace(unshared, parameters=older), wide, saved.vocab, 16, 16)
    checkpoints.check_resumable(dataclasses.replace(unshared, parameters=older, format=1), wide, saved.vocab, 16, 16)
    # stratified records the rows its tasks owned: a checkpoint from before owned_rows (skip-gram
    # owned both matrices, as 'auto' does) continues; one that owned output rows is not continued
    # owning both, and is told how
    assert params["owned_rows"] == "both"
    pairs = dataclasses.replace(unshared, parameters={k: v for k, v in params.items() if k != "owned_rows"})
    checkpoints.check_resumable(pairs, wide, saved.vocab, 16, 16)
    owned = dataclasses.replace(unshared, parameters=_training_parameters(wide.replace(owned_rows="output"), 16))
    with pytest.raises(ResumeError, match="owned_rows='output' \\(now 'both'\\); pass --owned-rows output or run with"):
        checkpoints.check_resumable(owned, wide, saved.vocab, 16, 16)
    # a format-1 checkpoint without concurrent_shards trained all its shards at once; checkpoints
    # store batch_words as the number used, which the default (None) resolves to
    assert _training_parameters(TrainConfig())["batch_words"] == 2048
    assert _training_parameters(TrainConfig(sg=False))["batch_words"] == 1024
    saved.format = 1
    saved.concurrent = None
    saved.parameters.pop("concurrent_shards")
    checkpoints.check_resumable(saved, cfg, saved.vocab, 2, 2)
    with pytest.raises(ResumeError, match="trained 2 shards at once, this run would train 1"):
        checkpoints.check_resumable(saved, cfg, saved.vocab, 2, 1)

    # matrices of another shape than the vocabulary and vector_size call for: one line, before training
    saved = checkpoints.latest()
    wide = np.hstack([saved.w_in, saved.w_in[:, :1]])
    checkpoints.save(saved.epochs_done, saved.vocab, wide, wide, TrainConfig.from_mapping(saved.parameters),
                     saved.history, saved.shards, saved.concurrent)
    capsys.readouterr()
    assert main(["train", *args, "--resume", "--overwrite", *RUN]) == 2
    err = capsys.readouterr().err
    assert "its input vectors are 16 x 9, but this run needs 16 x 8 (vocabulary x vector_size)" in err, err
    assert err.count("\n") == 1
    # a checkpoint whose output vectors were deleted is damaged, not someone else's
    import shutil
    checkpoints.save(saved.epochs_done, saved.vocab, saved.w_in, saved.w_out,
                     TrainConfig.from_mapping(saved.parameters), saved.history, saved.shards, saved.concurrent)
    shutil.rmtree(next((out / "_staging" / "checkpoint").glob("run-*/epoch-*")) / "output_vectors")
    assert main(["train", *args, "--resume", "--overwrite", *RUN]) == 2
    err = capsys.readouterr().err
    assert "output" in err and "missing" in err and "belong" not in err and err.count("\n") == 1, err


def test_failed_publish_leaves_previous_version_intact(spark, tmp_path, monkeypatch):
    from sparkw2v.vocabulary import Vocabulary
    vocab = Vocabulary(("a", "b"), np.array([3, 2]), 5, 2)
    first = np.arange(4, dtype=np.float32).reshape(2, 2)
    out = str(tmp_path / "model")
    publishing.write_model(spark, out, vocab, first, first, {})

    real_write_text = filesystem.HadoopFS.write_text

    def fail_on_metadata(self, path, text):
        if path.endswith("metadata.json"):
            raise OSError("disk full (simulated)")
        return real_write_text(self, path, text)

    monkeypatch.setattr(filesystem.HadoopFS, "write_text", fail_on_metadata)
    with pytest.raises(OSError, match="simulated"):
        publishing.write_model(spark, out, vocab, first + 1, first, {}, overwrite=True)
    monkeypatch.undo()
    assert layout.published_versions(spark, out) == [1]
    np.testing.assert_array_equal(vector_table.read_model(spark, out).w_in, first)
    assert not (tmp_path / "model" / "_staging").exists()                 # the partial version is gone


def test_versions_latest_pointer_and_retention(spark, tmp_path):
    from sparkw2v.vocabulary import Vocabulary
    vocab = Vocabulary(("a", "b"), np.array([3, 2]), 5, 2)
    out = str(tmp_path / "model")
    for k in range(4):
        publishing.write_model(spark, out, vocab, np.full((2, 2), k, np.float32), np.zeros((2, 2), np.float32),
                               {}, overwrite=True, keep_versions=2)
    assert layout.published_versions(spark, out) == [3, 4]
    assert (tmp_path / "model" / "LATEST").read_text().strip() == "4"
    assert vector_table.read_model(spark, out).w_in[0, 0] == 3
    assert vector_table.read_metadata(spark, out)["version"] == 4
    (tmp_path / "model" / ".LATEST.crc").unlink()                         # edited by hand below
    (tmp_path / "model" / "LATEST").write_text("2\n")                     # a pointer to a deleted version
    assert vector_table.read_model(spark, out).w_in[0, 0] == 3
    # A pointer left behind (two writers, or a writer killed between its rename and LATEST) names
    # a complete older version: readers still get the newest, and the next publish moves it on.
    (tmp_path / "model" / "LATEST").write_text("3\n")
    assert vector_table.read_model(spark, out).w_in[0, 0] == 3
    assert vector_table.resolve(spark, out).endswith("versions/000004")
    assert vector_table.read_model(spark, out + "/versions/000004").w_in[0, 0] == 3


def test_output_holding_other_data_is_never_written(spark, corpus, tmp_path, capsys):
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "orders.parquet").write_text("not ours")
    assert main(["train", "--input", str(corpus), "--output", str(lake), "--overwrite", *RUN]) == 2
    assert "is not a sparkw2v model directory" in capsys.readouterr().err
    assert sorted(p.name for p in lake.iterdir()) == ["orders.parquet"]


def test_memory_estimate_sizes_a_local_driver_for_the_layout_training_will_choose(spark):
    """A local driver's copies of the model depend on how the epoch reaches it: the layout named
    for the check is the one ``train_encoded`` trains (local[2]: 2 task slots)."""
    from sparkw2v.training import _memory_layout
    sc = spark.sparkContext
    cases = [(dict(), 2, "average"),                                           # 2 shards: averaged
             (dict(strategy="stratified"), 2, "owned_both"),                   # skip-gram owns both matrices
             (dict(sg=False, strategy="stratified"), 2, "owned_output"),       # CBOW: its tasks exchange rows
             (dict(sg=False, strategy="stratified", block_exchange="shuffle"), 2, "average"),   # a job per sub-epoch
             (dict(sg=False, strategy="stratified"), 4, "average"),            # 4 tasks cannot meet on 2 slots
             (dict(strategy="stratified", owned_rows="output"), 2, "owned_output")]
    assert [_memory_layout(TrainConfig(**settings), sc, chains) for settings, chains, _ in cases] == \
        [layout for _, _, layout in cases]


def test_memory_estimate_names_the_setting_to_change():
    local = {"spark.master": "local[2]", "spark.driver.memory": "1g"}
    check_memory(local, 100_000, 100)                                   # 80 MB: fine
    # 223 MB: 3 copies fit in 1g, but a local driver is its executors too: how many copies it holds
    # depends on the layout (averaging: 7; stratified owning both matrices: 6; owning output rows: 4)
    with pytest.raises(MemoryEstimateError, match=r"needs about 1\.5 GiB of driver memory \(a local master: the "
                                                  r"driver is its executors too\).*at least 2g \(spark-submit"):
        check_memory(local, 278_498, 100)
    check_memory(local, 278_498, 100, "owned_output")
    with pytest.raises(MemoryEstimateError, match=r"needs about 1\.2 GiB .* at least 2g "):
        check_memory(local, 278_498, 100, "owned_both")
    check_memory({**local, "spark.driver.memory": "1400m"}, 278_498, 100, "owned_both")
    # spark.driver.memory set after the driver JVM started (a script's --conf under spark-submit):
    # the JVM's own heap counts, and the message says why the two differ
    with pytest.raises(MemoryEstimateError, match=r"but the driver JVM runs with 1\.0 GiB although spark\.driver\."
                                                  r"memory says 1\.4 GiB \(set after the JVM started"):
        check_memory({**local, "spark.driver.memory": "1400m"}, 278_498, 100, "owned_both", driver_heap=1 << 30)
    check_memory({**local, "spark.driver.memory": "1400m"}, 278_498, 100, "owned_both", driver_heap=1400 << 20)
    # A cluster's driver holds fewer copies, still by the layout (averaging 4.5, owning both 3, owning
    # output rows 3.5): a 280 MB model's averaging does not fit 1g (a driver that ran out of heap
    # collecting the tasks' results hung there), the stratified layouts do.
    yarn = {**local, "spark.master": "yarn", "spark.executor.memory": "1g"}
    with pytest.raises(MemoryEstimateError, match=r"needs about 1\.2 GiB of driver memory, but spark\.driver\.memory "
                                                  r"is 1\.0 GiB: raise spark\.driver\.memory to at least 2g"):
        check_memory(yarn, 350_000, 100, "average")
    for layout in ("owned_both", "owned_output"):
        check_memory(yarn, 350_000, 100, layout)
    with pytest.raises(MemoryEstimateError, match="raise spark.driver.memory .* at least"):
        check_memory(local, 2_000_000, 300)                              # 4.8 GB model
    with pytest.raises(MemoryEstimateError, match="spark.driver.maxResultSize"):
        check_memory({**local, "spark.driver.memory": "64g"}, 2_000_000, 300)
    check_memory({**local, "spark.driver.memory": "64g", "spark.driver.maxResultSize": "0"}, 2_000_000, 300)
    # a stratified epoch's large model comes a task's part a job: 16 parts of 4.8 GB fit 1g's results
    check_memory({**local, "spark.driver.memory": "64g"}, 2_000_000, 300, "owned_both", 16)
    # ... but from 16 shards two tasks share each output block, and a job brings its parts to each
    # task that trains it next: twice a task's share (302 MB) does not fit 512m's results
    small_results = {**local, "spark.driver.memory": "64g", "spark.driver.maxResultSize": "512m"}
    with pytest.raises(MemoryEstimateError, match=r"each job collects about 576\.0 MiB of the model's rows"):
        check_memory(small_results, 2_000_000, 300, "owned_both", 16)
    check_memory(small_results, 2_000_000, 300, "owned_both", 15)         # an odd count is not shared
    check_memory(small_results, 2_000_000, 300, "owned_output", 16)       # each task sends its own share
    with pytest.raises(MemoryEstimateError, match=r"each job collects about 1\.1 GiB of the model's rows"):
        check_memory({**local, "spark.driver.memory": "64g"}, 2_000_000, 300, "owned_output", 4)
    cluster = {"spark.master": "yarn", "spark.driver.memory": "64g", "spark.driver.maxResultSize": "0",
               "spark.executor.memory": "4g"}
    # 458 MiB: two copies fit 1g, but not beside the 300 MiB Spark reserves (executors ran out of heap)
    with pytest.raises(MemoryEstimateError, match=r"needs about 915\.5 MiB per executor beside the 300\.0 MiB Spark "
                                                  r"reserves, but spark.executor.memory is 1\.0 GiB: raise "
                                                  r"spark.executor.memory to at least 2g"):
        check_memory({**cluster, "spark.executor.memory": "1g"}, 12_000, 5_000)
    check_memory({**cluster, "spark.executor.memory": "2g"}, 12_000, 5_000)
    with pytest.raises(MemoryEstimateError, match="raise spark.executor.memory"):
        check_memory(cluster, 2_000_000, 300)
    with pytest.raises(MemoryEstimateError, match="raise spark.executor.memory"):   # executors: JVMs of their own
        check_memory({**cluster, "spark.master": "local-cluster[2,1,1024]"}, 2_000_000, 300)
    with pytest.raises(MemoryEstimateError, match="spark.executor.pyspark.memory"):
        check_memory({**cluster, "spark.executor.memory": "32g", "spark.executor.pyspark.memory": "8g",
                      "spark.executor.cores": "4"}, 2_000_000, 300)


def test_messy_text_is_counted_not_fatal(spark, tmp_path):
    long_token = "x" * 5000
    path = tmp_path / "messy.txt"
    path.write_bytes(b"3.14 don't e-mail \xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xe6\x9d\xb1\xe4\xba\xac\n"
                     b"\n   \n"
                     b"broken \xff\xfe bytes caf\xc3\xa9\n"
                     + long_token.encode() + b" 3.14\n")
    frame = spark.read.text(str(path)).withColumnRenamed("value", "text")
    vocab = build_vocabulary(select_column(frame, TrainConfig()), TrainConfig(min_count=1))
    counts = dict(zip(vocab.words, vocab.counts))
    assert counts["3.14"] == 2
    for word in ["don't", "e-mail", "москва", "東京", "café", "broken", "bytes", long_token]:
        assert counts.get(word) == 1, word
    assert vocab.corpus_words == 11                                        # the invalid bytes make one token


def test_memory_check_runs_before_training(spark, tmp_path, capsys, monkeypatch):
    import sparkw2v.memory as memory
    monkeypatch.setattr(memory, "LOCAL_COPIES", dict.fromkeys(memory.LAYOUTS, 10**9))   # any model is "too big"
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(planted_lines(sentences=50)) + "\n")
    assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "m"), *RUN]) == 2
    assert "spark.driver.memory" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_empty_input_and_wrong_column_fail_in_one_line(spark, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    out = tmp_path / "m"
    assert main(["train", "--input", str(empty), "--output", str(out)]) == 2
    assert "the input holds no words" in capsys.readouterr().err
    spark.createDataFrame([(1, "a b")], "id int, body string").write.parquet(str(tmp_path / "docs"))
    assert main(["train", "--input", str(tmp_path / "docs"), "--input-format", "parquet", "--output", str(out)]) == 2
    assert "no column 'text'; its columns are: id, body" in capsys.readouterr().err
    assert main(["train", "--input", str(tmp_path / "docs"), "--input-format", "parquet", "--text-column", "id",
                 "--output", str(out)]) == 2
    assert "column 'id' is int" in capsys.readouterr().err
    assert not out.exists()


# -- one line, not a traceback --------------------------------------------------------------------

def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("sparkw2v: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_truncated_gzip_input_is_named_in_one_line(spark, corpus, tmp_path, capsys):
    import gzip
    whole = gzip.compress(corpus.read_bytes())
    truncated = tmp_path / "part.txt.gz"
    truncated.write_bytes(whole[:len(whole) // 2])
    out = tmp_path / "m"
    assert main(["train", "--input", str(truncated), "--output", str(out), *RUN]) == 2
    line = one_line_error(capsys)
    assert "part.txt.gz: it is damaged or truncated" in line and "EOFException" in line
    assert not out.exists()


def test_input_inside_a_model_directory_is_refused(spark, tmp_path, capsys):
    from sparkw2v.vocabulary import Vocabulary
    out = tmp_path / "model"
    publishing.write_model(spark, str(out), Vocabulary(("a", "b"), np.array([3, 2])),
                           np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), {})
    for given in (out, out / "LATEST", out / "versions" / "000001" / "vectors", out / "versions" / "*"):
        assert main(["train", "--input", str(given), "--output", str(out), "--overwrite", *RUN]) == 2
        assert f"is inside the sparkw2v model directory file:{out}" in one_line_error(capsys)
    assert layout.published_versions(spark, str(out)) == [1]
    # a pattern over a directory that holds a model beside the text (dir/* matches dir/model)
    (tmp_path / "notes.txt").write_text("a b a b\n")
    assert main(["train", "--input", str(tmp_path / "*"), "--output", str(tmp_path / "m2"), *RUN]) == 2
    assert f"matches the sparkw2v model directory file:{out}" in one_line_error(capsys)


def test_a_parquet_dataset_read_as_text_is_refused(spark, tmp_path, capsys):
    data = tmp_path / "docs"
    spark.createDataFrame([("a b c",)], "body string").write.parquet(str(data))
    for given in (data, data / "*.parquet"):
        assert main(["train", "--input", str(given), "--output", str(tmp_path / "m"), *RUN]) == 2
        line = one_line_error(capsys)
        assert "holds parquet files (part-" in line and "pass --input-format parquet" in line, line
    assert not (tmp_path / "m").exists()


def test_missing_input_is_one_line_without_spark_warnings(tmp_path):
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run([sys.executable, "-m", "sparkw2v", "train", "--input", str(tmp_path / "nope.txt"),
                           "--output", str(tmp_path / "m")], env=env, capture_output=True, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.splitlines()[-1] == f"sparkw2v: error: cannot read text input '{tmp_path / 'nope.txt'}': " \
                                   "path does not exist"
    assert "FileStreamSink" not in err and "\tat " not in err and "Exception" not in err, err


def test_disk_full_while_the_driver_writes_the_counts_is_one_line_and_keeps_the_previous_version(
        spark, corpus, tmp_path, capsys, monkeypatch):
    """A local output's counts table is written by the driver (pyarrow): a full disk there is the
    same one line, with nothing staged left behind."""
    import errno

    from sparkw2v import counts_table
    out = tmp_path / "model"
    assert main(["train", "--input", str(corpus), "--output", str(out), *RUN]) == 0
    capsys.readouterr()
    real_write = counts_table.write_parquet

    def full(spark_, table, rows, path):
        real_write(spark_, table, rows, path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(counts_table, "write_parquet", full)
    assert main(["train", "--input", str(corpus), "--output", str(out), "--overwrite", *RUN]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"sparkw2v: error: no space left on device while publishing to {out}")
    assert "version 1 is intact and still the one read" in line
    monkeypatch.undo()
    assert layout.published_versions(spark, str(out)) == [1]
    assert not (out / "_staging").exists()


def test_disk_full_while_publishing_is_one_line_and_keeps_the_previous_version(spark, corpus, tmp_path,
                                                                               capsys, monkeypatch):
    import errno
    out = tmp_path / "model"
    assert main(["train", "--input", str(corpus), "--output", str(out), *RUN]) == 0
    before = Word2VecModel.load(str(out), spark=spark).wv.vectors.copy()
    capsys.readouterr()
    java_trace = ("An error occurred while calling o123.parquet.\n: org.apache.spark.SparkException: "
                  "Job aborted.\n" + "\tat org.apache.spark.Something(Something.scala:1)\n" * 600
                  + "Caused by: java.io.IOException: No space left on device\n\tat java.io.FileOutputStream")
    real_write_tables = publishing.write_tables
    failures = iter([RuntimeError(java_trace),                                    # Spark's write fails
                     OSError(errno.ENOSPC, "No space left on device")])           # a Python-level write

    def full(*args, **kwargs):
        real_write_tables(*args, **kwargs)
        raise next(failures)

    monkeypatch.setattr(publishing, "write_tables", full)
    for _ in range(2):
        assert main(["train", "--input", str(corpus), "--output", str(out), "--overwrite", *RUN,
                     "--checkpoint-interval", "3600"]) == 2
        line = one_line_error(capsys)
        assert line.startswith(f"sparkw2v: error: no space left on device while publishing to {out}")
        assert "version 1 is intact and still the one read" in line and len(line) < 400
    monkeypatch.undo()
    assert layout.published_versions(spark, str(out)) == [1]
    np.testing.assert_array_equal(Word2VecModel.load(str(out), spark=spark).wv.vectors, before)
    assert not (out / "_staging").exists()


def test_a_checkpoint_taken_over_by_one_resume_is_refused_to_another_until_that_run_stops(spark, tmp_path):
    from sparkw2v.checkpoint import Checkpoints, ResumeError
    from sparkw2v.vocabulary import Vocabulary

    vocab, cfg = Vocabulary(("a", "b"), np.array([3, 2]), 5, 2), TrainConfig(vector_size=4)
    killed = Checkpoints(spark, str(tmp_path / "model"))
    killed.save(1, vocab, np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32), cfg, [{"epoch": 1}])
    killed.stop_heartbeat()
    first, second = Checkpoints(spark, str(tmp_path / "model")), Checkpoints(spark, str(tmp_path / "model"))
    try:
        assert first.resume(cfg, vocab).epochs_done == 1           # before its own first checkpoint
        with pytest.raises(ResumeError, match="its run is still training"):
            second.resume(cfg, vocab)
    finally:
        first.stop_heartbeat()                                      # stopped (failed) before superseding it
    assert second.resume(cfg, vocab).epochs_done == 1               # resumable again
    second.stop_heartbeat()
    # a heartbeat caught while its run rewrites it (empty, its .crc not matching) is a live run's
    beat = tmp_path / "model" / "_staging" / "checkpoint" / killed.run_dir.rsplit("/", 1)[1] / "heartbeat"
    beat.parent.mkdir(parents=True, exist_ok=True)
    beat.write_text("")
    with pytest.raises(ResumeError, match="being rewritten"):
        Checkpoints(spark, str(tmp_path / "model")).resume(cfg, vocab)
    beat.unlink()


def test_a_damaged_checkpoint_record_is_refused_not_resumed_wrongly(spark, tmp_path):
    """One flipped bit must not turn 'epochs_done': 1 into 3 and make --resume publish a one-epoch
    model as three (no .crc beside the file, as on S3)."""
    import json

    from sparkw2v.checkpoint import Checkpoints
    from sparkw2v.errors import DamagedModelError
    from sparkw2v.vocabulary import Vocabulary

    vocab = Vocabulary(("a", "b"), np.array([3, 2]), 5, 2)
    checkpoints = Checkpoints(spark, str(tmp_path / "model"))
    checkpoints.save(1, vocab, np.ones((2, 4), np.float32), np.zeros((2, 4), np.float32), TrainConfig(vector_size=4),
                     [{"epoch": 1}])
    assert checkpoints.latest().epochs_done == 1
    record = checkpoint_dir(tmp_path / "model", 1) / "metadata.json"
    record.with_name(".metadata.json.crc").unlink()
    intact = record.read_text()
    record.write_text(intact.replace('"epochs_done": 1', '"epochs_done": 3'))
    with pytest.raises(DamagedModelError, match="does not match the SHA-256 it recorded of itself"):
        checkpoints.latest()
    unsealed = json.loads(intact)
    del unsealed[integrity.SEAL]                                          # as older checkpoints were written
    record.write_text(json.dumps({**unsealed, "epochs_done": 3}))
    with pytest.raises(DamagedModelError, match="records 3 epochs done and 1 epochs of history"):
        checkpoints.latest()
    record.write_text(json.dumps({k: v for k, v in unsealed.items() if k != "history"}))
    with pytest.raises(DamagedModelError, match="records 1 epochs done and no epochs of history"):
        checkpoints.latest()
    record.write_text(json.dumps(unsealed))
    assert checkpoints.latest().epochs_done == 1
    # a damaged data file of a checkpoint: the advice is to start over, not to restore or publish
    part = next((record.parent / "vectors").glob("part-*"))
    part.with_name(f".{part.name}.crc").unlink(missing_ok=True)
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(DamagedModelError) as err:
        checkpoints.latest()
    assert str(err.value).endswith("(bit rot or an edit); the checkpoint cannot be resumed: run without --resume "
                                   "to start over"), err.value


def test_runs_into_one_output_at_once_keep_their_own_checkpoints(spark, tmp_path):
    """Two runs checkpointing into one output never replace, read or remove each other's
    checkpoints; --resume refuses a run still training (its heartbeat) and takes over the most
    recent checkpoint of a stopped one that fits its settings; abandoned ones go after a day."""
    import shutil

    from sparkw2v.checkpoint import Checkpoints, ResumeError
    from sparkw2v.vocabulary import Vocabulary

    out = tmp_path / "model"
    vocab, cfg = Vocabulary(("a", "b"), np.array([3, 2]), 5, 2), TrainConfig(vector_size=4)

    def save(run, epochs, value, settings=cfg):
        return run.save(epochs, vocab, np.full((2, 4), value, np.float32), np.zeros((2, 4), np.float32), settings,
                        [{"epoch": e + 1} for e in range(epochs)])
    first, second = Checkpoints(spark, str(out)), Checkpoints(spark, str(out))
    mine = save(first, 1, 1.0)
    save(second, 1, 2.0)                                                  # the same epoch, at the same time
    save(second, 2, 2.0)
    second.clear()                                                        # the second run published
    assert Word2VecModel.load(mine, spark=spark).wv.vectors[0, 0] == 1.0  # the first run's is intact
    assert first.newest_epoch() == 1

    resumed = Checkpoints(spark, str(out))
    with pytest.raises(ResumeError, match="its run is still training"):   # the first one's heartbeat beats
        resumed.resume(cfg, vocab)
    assert resumed.running_elsewhere()
    first.stop_heartbeat()                                                # the first run stopped (or was killed)
    assert resumed.resume(cfg, vocab).w_in[0, 0] == 1.0
    save(resumed, 2, 3.0)                                                 # supersedes the one it resumed
    assert not (out / "_staging" / "checkpoint" / mine.rsplit("/", 2)[1]).exists()
    assert resumed.newest_epoch() == 2
    resumed.stop_heartbeat()

    other = Checkpoints(spark, str(out))                                  # a newer run with other settings
    save(other, 1, 4.0, cfg.replace(window=3))
    other.stop_heartbeat()
    taker = Checkpoints(spark, str(out))
    assert taker.resume(cfg, vocab).w_in[0, 0] == 3.0                     # the newest that fits, not the newest
    with pytest.raises(ResumeError, match=r"run-\w+/epoch-000001: it was written with window=3"):
        Checkpoints(spark, str(out)).resume(cfg.replace(window=4), vocab)  # the error names the checkpoint
    shutil.rmtree(checkpoint_dir(out, 1).parent)

    # A checkpoint written directly under checkpoint/ (before runs had directories) is resumable too.
    legacy = out / "_staging" / "checkpoint" / "epoch-000002"
    shutil.move(str(checkpoint_dir(out, 2)), legacy)
    assert Checkpoints(spark, str(out)).latest().w_in[0, 0] == 3.0

    abandoned = Checkpoints(spark, str(out))
    save(abandoned, 1, 5.0)
    abandoned.stop_heartbeat()
    fresh = Checkpoints(spark, str(out))
    save(fresh, 1, 6.0)
    fresh.clear()                                                         # others wrote within the day: kept
    assert legacy.exists() and checkpoint_dir(out, 1).exists()
    Checkpoints(spark, str(out)).clear(older_than=-1)                     # a day later: swept
    assert not (out / "_staging").exists()


def test_checkpoints_record_the_negative_group_in_effect():
    """The group in effect, a number (the setting's default is None): a later default cannot
    change what a resumed run trains with."""
    from sparkw2v.checkpoint import _training_parameters
    assert _training_parameters(TrainConfig())["negative_group"] == 1
    assert _training_parameters(TrainConfig(sg=False))["negative_group"] == 16


def test_a_job_stopped_by_lost_executors_is_one_line_naming_the_likely_cause():
    """Spark's text for a job whose executors were lost (their shuffle output gone, or the task's
    executor gone) becomes one line that says where to look and what exit code 52 means; other
    Spark failures stay tracebacks (bugs)."""
    from sparkw2v.errors import cluster_stop, user_message
    fetch = RuntimeError(
        "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: ResultStage 12 (collect at "
        "training.py:759) has failed the maximum allowable number of times: 4. Most recent failure reason: "
        "org.apache.spark.shuffle.MetadataFetchFailedException: Missing an output location for shuffle 2 partition 0\n"
        "\tat org.apache.spark.MapOutputTracker$.validateStatus(MapOutputTracker.scala:1739)")
    assert user_message(fetch) == (
        "Spark stopped the job after losing executors or the shuffle output they wrote (org.apache.spark.shuffle."
        "MetadataFetchFailedException: Missing an output location for shuffle 2 partition 0): the executors' logs "
        "in the cluster manager's UI say why; one that exited with code 52 ran out of heap (raise "
        "spark.executor.memory, spark-submit --executor-memory)")
    unreachable = RuntimeError(   # every executor alive, an external shuffle service out of reach
        ": org.apache.spark.SparkException: Job aborted due to stage failure: ResultStage 5 has failed the maximum "
        "allowable number of times: 4. Most recent failure reason: org.apache.spark.shuffle.FetchFailedException: "
        "Failed to connect to worker-3/10.0.0.7:7337\n")
    assert "losing executors or the shuffle output they wrote (org.apache.spark.shuffle.FetchFailedException: " \
           "Failed to connect to worker-3/10.0.0.7:7337)" in user_message(unreachable)
    assert cluster_stop(fetch) and cluster_stop(unreachable)       # the CLI says how to go on (--resume)
    lost = RuntimeError(
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 failed 4 times, "
        "most recent failure: Lost task 0.3 in stage 3.0 (TID 12) (10.0.0.5 executor 1): ExecutorLostFailure "
        "(executor 1 exited caused by one of the running tasks) Reason: Command exited with code 52\n")
    assert user_message(lost).startswith("Spark stopped the job after losing executors or the shuffle output they "
                                         "wrote (ExecutorLostFailure (executor 1 exited caused by one of the running "
                                         "tasks) Reason: Command exited with code 52)")
    bug = RuntimeError(": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 "
                       "failed 4 times, most recent failure: ... PythonException: ZeroDivisionError: division by zero")
    assert user_message(bug) is None and not cluster_stop(bug)
