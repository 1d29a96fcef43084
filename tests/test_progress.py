"""Progress lines and the run summary's text, without Spark."""

import json

from sparkw2v import progress, report


class Context:
    """What Tracker.begin touches; without _jsc its reporting thread ends at once."""

    def addJobTag(self, tag):
        pass

    def removeJobTag(self, tag):
        pass

    def statusTracker(self):
        raise RuntimeError("stopped")

def test_an_epoch_of_many_short_phases_reports_the_epochs_progress_and_keeps_its_log_clock():
    """An epoch of 128 syncs or sub-epochs is 128 phases of a few seconds: each says how far the
    epoch is, and the 30-second log line counts from the epoch's start, not the phase's."""
    tracker, sc = progress.Tracker(), Context()
    tracker.begin(sc, "epoch 2/5 sub-epoch 1/4", words=250, part_of=("epoch 2/5", 0.25))
    first = tracker._phase
    tracker.begin(sc, "epoch 2/5 sub-epoch 2/4", words=250, part_of=("epoch 2/5", 0.25))
    second = tracker._phase
    assert (second.before, second.whole_started, second.last_log) == (0.25, first.whole_started, first.last_log)
    second.tasks, second.done = 4, 2
    assert second.status(second.whole_started + 15.0, None) == (
        "epoch 2/5: 38%, 15.0s, 25 words/s, ETA 25.0s (sub-epoch 2/4: 2/4 tasks)")
    tracker.begin(sc, "epoch 3/5 rounds 1-2 of 8", words=250, part_of=("epoch 3/5", 0.25))
    third = tracker._phase   # another epoch: its own clock and share
    assert third.before == 0.0 and third.whole_started > second.whole_started
    tracker.begin(sc, "checkpoint after epoch 3", words=None)
    assert tracker._phase.whole is None
    tracker.begin(sc, None)


def test_live_line_and_summary_text():
    phase = progress.Phase("epoch 2/5", "t", words=1_000_000, started=0.0, tasks=4, done=1)
    assert phase.status(10.0, None) == "epoch 2/5: 1/4 tasks, 10.0s, 25K words/s, ETA 30.0s"
    # An epoch in one barrier stage, then a stage collecting its 4 tasks' results: the ETA and
    # words/s come from the training tasks; once they are done, the collecting is said.
    barrier = progress.Phase("epoch 2/5", "t", words=1_000_000, started=0.0, tasks=8, collect_tasks=4, running=4)
    assert barrier.status(10.0, 20.0) == "epoch 2/5: 4 of 8 tasks running, 10.0s, ETA ~10.0s"
    barrier.done = 4
    assert barrier.status(20.0, 20.0) == "epoch 2/5: 4/8 tasks, 20.0s, 50K words/s, collecting the results"
    barrier.done = 6
    assert barrier.status(21.0, 20.0) == "epoch 2/5: 6/8 tasks, 21.0s, 48K words/s, collecting the results"
    waiting = progress.Phase("epoch 3/5", "t", words=None, started=0.0)
    assert waiting.status(2.0, 12.0) == "epoch 3/5: starting, 2.0s, ETA ~10.0s"
    waiting.tasks, waiting.running = 8, 2                      # tasks report only when they end
    assert waiting.status(4.0, 12.0) == "epoch 3/5: 2 of 8 tasks running, 4.0s, ETA ~8.0s"
    assert progress.format_seconds(125) == "2m05s" and progress.format_seconds(7300) == "2h01m"
    text = report.summary({"version": 3, "vocab_size": 10, "vector_size": 4, "history": [], "evaluation":
                           {"wordsim_spearman": 0.5}}, "m/versions/000003")
    assert "version    3" in text and "wordsim_spearman" in text
    text = report.summary({"version": 1, "corpus_words": 900, "distinct_words": 40, "null_rows": 1234}, "m")
    assert "corpus     900 words, 40 distinct, 1,234 null rows;" in text
    from sparkw2v.config import TrainConfig
    stored = json.loads(json.dumps(TrainConfig(window=3).to_dict()))                 # as metadata.json holds it
    text = report.summary({"version": 1, "parameters": stored}, "m/versions/000001")
    assert "parameters window=3 (other settings at their defaults)" in text


def test_shards_and_chains_are_named_as_they_train():
    from sparkw2v.report import describe_shards
    assert describe_shards(4, 4) == "4 shards at once" and describe_shards(8, 2) == "8 shards, 2 at once"
    assert describe_shards(1, 1) == "1 shard" and describe_shards(0, 0) == "no shards"
    text = report.summary({"version": 1, "corpus_words": 9, "num_partitions": 8, "concurrent_shards": 2}, "m")
    assert "vocabulary words per epoch, 8 shards, 2 at once" in text


def test_a_cluster_that_gives_no_executor_is_said_once(monkeypatch, caplog):
    """A job that asks for more than any worker offers waits for ever; Spark's own warning is below
    the log level, so the tracker says it, once, after a heartbeat's time without a task."""
    import logging
    import time

    class Status:
        def size(self):
            return 1                                         # the driver's block manager only

    class Cluster(Context):
        master = "spark://127.0.0.1:7077"
        _jsc = type("J", (), {"sc": lambda self: type("S", (), {"getExecutorMemoryStatus": lambda s: Status()})()})()

        def getConf(self):
            conf = {"spark.executor.memory": "4g"}
            return type("C", (), {"get": lambda self, key, default: conf.get(key, default)})()

    def pending(sc, phase):
        phase.tasks = 1                                    # one task waits for an executor

    monkeypatch.setattr(progress, "_count_tasks", pending)
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", 0.05)
    tracker, sc = progress.Tracker(), Cluster()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        tracker.begin(sc, "counting")
        time.sleep(0.5)
        tracker.begin(sc, "encoding")
        time.sleep(0.3)
        tracker.begin(sc, None)
    said = [r.getMessage() for r in caplog.records if "no executor has joined" in r.getMessage()]
    assert len(said) == 1 and "spark.executor.memory=4g" in said[0] and "Initial job has not accepted" in said[0]
    assert not progress._no_executor(type("L", (), {"master": "local[2]"})())


def test_a_phase_ended_by_an_error_is_not_called_done(caplog):
    """A phase is cleared in a ``finally``: while an error unwinds, its line says it stopped (a
    checkpoint cut short by a signal was logged as done)."""
    import logging

    tracker, sc = progress.Tracker(), Context()
    with caplog.at_level(logging.INFO, logger="sparkw2v"):
        tracker.begin(sc, "publish")
        tracker.begin(sc, None)
        tracker.begin(sc, "checkpoint after epoch 2")
        try:
            try:
                raise OSError("Cannot call methods on a stopped SparkContext")
            finally:
                tracker.begin(sc, None)
        except OSError:
            pass
        try:
            raise KeyError("the caller's own, handled")
        except KeyError:                                    # a fit in a fallback: its phases finish
            tracker.begin(sc, "counting")
            tracker.begin(sc, None)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("publish done: ") and lines[1].startswith("checkpoint after epoch 2 stopped: ")
    assert lines[2].startswith("counting done: ")
