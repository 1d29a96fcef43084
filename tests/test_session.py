"""The session sparkw2v starts or joins: --conf, Spark's log level, the driver JVM's options and the
Python worker daemon."""

import logging
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sparkw2v.session import (LOCAL_JIT_OPTIONS, LOCAL_VERIFY_OPTIONS, QUIET_LOG4J, driver_java_options, get_session,
                              one_worker_pool_env, start_python_workers)
from sparkw2v.worker_daemon import import_worker_modules

def test_conf_reaches_the_session(spark, caplog):
    get_session(conf={"spark.sparkw2v.test.setting": "yes", "spark.sql.shuffle.partitions": "2"})
    assert spark.conf.get("spark.sparkw2v.test.setting") == "yes"
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):       # fixed once the JVM runs: named, not lost
        get_session(conf={"spark.executor.cores": "7"})
    assert "spark.executor.cores not applied" in caplog.text
    from sparkw2v.config import ConfigError                         # a bad value is the user's to mend
    with pytest.raises(ConfigError, match="--conf spark.sql.shuffle.partitions=many: .*INVALID_CONF_VALUE"):
        get_session(conf={"spark.sql.shuffle.partitions": "many"})
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"


def test_a_thread_without_an_active_session_gets_the_default_one_untouched(spark):
    """A user's thread (no active session there) reaches the running session as it is: no new
    builder rewriting its app name, master or log level."""
    root = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getRootLogger()
    spark.sparkContext.setLogLevel("WARN")
    try:
        found = []
        worker = threading.Thread(target=lambda: found.append((SparkSession.getActiveSession(), get_session())))
        worker.start()
        worker.join()
        assert found[0][0] is None and found[0][1] is spark
        assert spark.conf.get("spark.app.name") == "sparkw2v-tests" and spark.conf.get("spark.master") == "local[2]"
        assert str(root.getLevel()) == "WARN"
    finally:
        spark.sparkContext.setLogLevel("ERROR")


def test_a_broadcast_released_while_an_exception_unwinds_stays_readable_by_running_tasks(spark):
    """Ctrl-C unwinds through the code that frees a job's broadcasts while the cancelled job's tasks
    may still read them: they are unpersisted then (a destroyed one makes the JVM log a stack
    trace), and destroyed on the normal path."""
    from sparkw2v.session import release_broadcast
    sc = spark.sparkContext
    bc = sc.broadcast([1, 2, 3])
    with pytest.raises(KeyboardInterrupt):
        try:
            raise KeyboardInterrupt
        finally:
            release_broadcast(bc)
    assert bc._jbroadcast.isValid() and sc.parallelize([0], 1).map(lambda _: sum(bc.value)).collect() == [6]
    release_broadcast(bc)
    assert not bc._jbroadcast.isValid()


def test_spark_log_is_quiet_by_default(spark):
    root = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getRootLogger()
    assert str(root.getLevel()) == "ERROR"
    settings = Path(QUIET_LOG4J).read_text()
    assert "rootLogger.level = error" in settings and "PythonGatewayServer" in settings


def test_a_local_training_jvm_gets_c1_no_verifier_and_the_quiet_log_unless_told_otherwise():
    quiet = f"-Dlog4j2.configurationFile={QUIET_LOG4J}"
    light = f"{LOCAL_JIT_OPTIONS} {LOCAL_VERIFY_OPTIONS}"
    assert driver_java_options("", "local[2,4]", "ERROR", light_jvm=True) == f"{quiet} {light}"
    assert driver_java_options("-Da=b", "local[*]", "WARN", light_jvm=True) == light
    assert driver_java_options("-XX:-TieredCompilation", "local", "WARN", light_jvm=True) == LOCAL_VERIFY_OPTIONS
    assert driver_java_options("-Xint", "local[*,4]", "WARN", light_jvm=True) == LOCAL_VERIFY_OPTIONS
    assert driver_java_options("-Dp=/opt/Tiered", "local[2]", "WARN", light_jvm=True) == light  # a path is no choice
    for verify in ("-XX:+UnlockDiagnosticVMOptions -XX:+BytecodeVerificationRemote", "-Xverify:all"):
        assert driver_java_options(verify, "local[2]", "WARN", light_jvm=True) == LOCAL_JIT_OPTIONS
    assert driver_java_options("-Dlog4j2.configurationFile=/x", "local[2]", "ERROR") == ""
    assert driver_java_options("", "local-cluster[2,1,1024]", "WARN", light_jvm=True) == ""   # executors: own JVMs
    assert driver_java_options("", "local[2]", "ERROR") == quiet        # SQL, MLlib and queries keep C2 and the verifier
    assert driver_java_options("", None, "ERROR", light_jvm=True) == quiet   # spark-submit's cluster master
    assert driver_java_options("", "spark://host:7077", "WARN", light_jvm=True) == ""


def test_driver_java_options_of_spark_defaults_conf_are_kept_beside_sparkw2vs(tmp_path):
    """A session started here adds its Java options without replacing the cluster's
    spark.driver.extraJavaOptions from spark-defaults.conf (or the user's SPARK_SUBMIT_OPTS)."""
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.extraJavaOptions -Dsite.option=kept\n")
    script = ("from sparkw2v.session import get_session\n"
              "spark = get_session(master='local[1]', conf={'spark.ui.enabled': 'false'}, light_jvm=True)\n"
              "jvm = spark.sparkContext._jvm\n"
              "args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())\n"
              "print(jvm.System.getProperty('site.option'), jvm.System.getProperty('user.option'),\n"
              "      jvm.System.getProperty('log4j2.configurationFile'), '-XX:TieredStopAtLevel=1' in args,\n"
              "      '-XX:-BytecodeVerificationRemote' in args)\n"
              "bean = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(\n"
              "    jvm.java.lang.Class.forName('com.sun.management.HotSpotDiagnosticMXBean'))\n"
              "print(bean.getVMOption('BytecodeVerificationRemote').getValue())\n")
    env = {**os.environ, "SPARK_CONF_DIR": str(tmp_path), "SPARK_SUBMIT_OPTS": "-Duser.option=also"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["kept", "also", str(QUIET_LOG4J), "True", "True", "false"]


def test_the_driver_heap_is_the_size_the_jvm_was_started_with_whatever_its_collector(tmp_path):
    """Under ParallelGC the JVM reports ~11% less heap than its -Xmx: the memory check read that as
    spark.driver.memory set after the JVM started, and refused sizes measured to train. It now
    reads the -Xmx the JVM was started with."""
    from sparkw2v.memory import heap_option
    assert [heap_option(a) for a in ("-Xmx1400m", "-Xmx2G", "-Xmx1048576", "-Xms1g", "-Xmx")] == [
        1400 << 20, 2 << 30, 1 << 20, None, None]
    script = ("from sparkw2v.session import get_session\n"
              "from sparkw2v.memory import check_memory, driver_heap\n"
              "spark = get_session(master='local[1]', conf={'spark.ui.enabled': 'false', 'spark.driver.memory': '700m',\n"
              "                    'spark.driver.extraJavaOptions': '-XX:+UseParallelGC'}, light_jvm=True)\n"
              "sc = spark.sparkContext\n"
              "reported = sc._jvm.java.lang.Runtime.getRuntime().maxMemory()\n"
              "check_memory(sc.getConf(), 100_000, 210, 'owned_output', driver_heap=driver_heap(sc))   # 4 x 168 MB: 672 MB\n"
              "print(driver_heap(sc), reported < 0.95 * driver_heap(sc))\n")
    env = {**os.environ, "SPARK_CONF_DIR": str(tmp_path)}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(700 << 20), "True"]


def test_rdd_and_arrow_jobs_share_one_pool_of_python_workers(spark):
    """An executor keeps a worker daemon per environment: one, not one for RDD jobs and one for SQL's."""
    def batches(it):
        yield from it
    spark.sparkContext.parallelize(range(4), 2).map(lambda x: x).collect()
    spark.range(4).mapInArrow(batches, "id long").collect()
    jvm = str(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    daemons = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if b"daemon" in command and parent == jvm:
            daemons.append(command.split(b"\0"))
    assert len(daemons) == 1, daemons
    assert daemons[0][1:3] == [b"-m", b"sparkw2v.worker_daemon"]   # a local master's own machine
    assert one_worker_pool_env({}) == {"SPARK_SIMPLIFIED_TRACEBACK": "1"}
    assert one_worker_pool_env({"spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled": "false"}) == {}


def test_the_worker_daemon_imports_the_installed_pyspark_only_when_it_is_the_zips_version(tmp_path, monkeypatch):
    import zipfile

    import pyspark

    from sparkw2v import worker_daemon
    installed = Path(pyspark.__file__).parent / "version.py"
    for name, version, moved in (("same", installed.read_bytes(), True), ("other", b'__version__ = "0.1"\n', False)):
        archive = tmp_path / name / "pyspark.zip"
        archive.parent.mkdir()
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("pyspark/version.py", version)
        path = [str(archive), *sys.path]
        monkeypatch.setattr(sys, "path", list(path))
        worker_daemon._prefer_installed_pyspark()
        assert (sys.path[-1] == str(archive) and sys.path[:-1] == path[1:]) if moved else sys.path == path


def test_the_worker_daemon_ends_a_worker_the_jvm_hung_up_on_quietly_and_nothing_else():
    from sparkw2v.worker_daemon import _quiet_when_hung_up

    def hung_up(sock, authenticated):
        raise BrokenPipeError(32, "Broken pipe")

    def failing_then_hung_up(sock, authenticated):
        try:
            raise KeyError("the task's own error")
        finally:
            raise BrokenPipeError(32, "Broken pipe")

    def failing(sock, authenticated):
        raise ValueError("a bug")

    assert _quiet_when_hung_up(hung_up)(None, True) == 1
    assert _quiet_when_hung_up(lambda sock, authenticated: 0)(None, True) == 0
    with pytest.raises(BrokenPipeError) as raised:    # printed by the daemon, with the error before it
        _quiet_when_hung_up(failing_then_hung_up)(None, True)
    assert isinstance(raised.value.__context__, KeyError)
    with pytest.raises(ValueError):
        _quiet_when_hung_up(failing)(None, True)


def _import_missing(_):
    import nosuchmodule_sparkw2v  # noqa: F401  (what an executor without sparkw2v meets)


def test_executors_without_the_drivers_python_or_modules_are_named_in_one_line(spark):
    from sparkw2v.errors import user_message

    with pytest.raises(Exception) as failed:
        spark.sparkContext.parallelize([1], 1).map(_import_missing).collect()
    message = user_message(failed.value)
    assert message.startswith("the executors' Python has no module 'nosuchmodule_sparkw2v': ship the environment")
    assert "\n" not in message
    java = Exception('Job aborted ... java.io.IOException: Cannot run program "./env/bin/python": error=2, '
                     'No such file or directory\n\tat java.base/java.lang.ProcessBuilder.start')
    assert user_message(java).startswith("the executors could not start Python ./env/bin/python (No such file or "
                                         "directory): ship the environment with --archives")
    assert user_message(ModuleNotFoundError("No module named 'x'")) is None       # the driver's own: a traceback
    assert user_message(Exception('Cannot run program "chmod": error=2, No such file or directory')) is None


def test_a_local_training_session_starts_its_python_workers_in_the_background(spark):
    """The workers' imports happen in a background job, which ends; a cluster's executors are left alone."""
    thread = start_python_workers(spark)
    thread.join(120)
    assert not thread.is_alive()
    assert spark.sparkContext.parallelize(range(4), 2).map(lambda x: x + 1).sum() == 10
    assert list(import_worker_modules(iter([1, 2]))) == []
    assert "sparkw2v.executor" in sys.modules and "pyarrow.compute" in sys.modules
    cluster = types.SimpleNamespace(sparkContext=types.SimpleNamespace(master="spark://10.0.0.1:7077"))
    assert start_python_workers(cluster) is None


def test_a_large_model_comes_a_partition_at_a_time_and_says_when_only_collecting_is_left(spark, monkeypatch):
    """Over the threshold the records come a job per partition: the same records in the same
    order, and ``on_parts`` hears once, after the first job (the one that also runs the stages
    before the shuffle), how many partitions are left. At or under it: one job, no call."""
    from sparkw2v import session
    rdd = spark.sparkContext.parallelize([(i % 4, i) for i in range(12)], 3).partitionBy(4).values()
    heard = []
    monkeypatch.setattr(session, "COLLECT_AT_ONCE_BYTES", 100)
    assert session.collect_model_parts(rdd, 100, heard.append) == rdd.collect() and heard == []
    parts = session.collect_model_parts(rdd, 101, heard.append)
    assert parts == rdd.collect() and sorted(parts) == list(range(12)) and heard == [3]


def test_an_encrypted_broadcast_writes_arrays_and_tables_whole():
    """With spark.io.encryption.enabled PySpark pickles a broadcast into its ChunkedStream, which
    took len() of pickle's PickleBuffer objects and failed on any NumPy array or Arrow table of
    size; sparkw2v's stream (put in PySpark's place at import) writes them as their bytes."""
    import io
    import pickle
    import struct

    import numpy as np
    import pyarrow as pa
    from pyspark.core import broadcast

    from sparkw2v import session

    class Sink(io.BytesIO):
        def close(self):   # the stream closes what it wraps; keep the bytes readable
            pass

    assert broadcast.ChunkedStream is session._BufferChunkedStream
    value = (np.arange(300_000, dtype=np.float32).reshape(3_000, 100), pa.table({"w": [str(i) for i in range(50_000)]}))
    sink = Sink()
    stream = session._BufferChunkedStream(sink, 8192)
    pickle.dump(value, stream, 5)
    stream.close()
    data, frames = sink.getvalue(), []
    while True:   # frames of (length, bytes), then -1
        (length,), data = struct.unpack("!i", data[:4]), data[4:]
        if length < 0:
            break
        frames.append(data[:length])
        data = data[length:]
    array, table = pickle.loads(b"".join(frames))
    assert np.array_equal(array, value[0]) and table.equals(value[1]) and data == b""


def test_training_with_spark_io_encryption_gives_the_unencrypted_vectors(spark, tmp_path):
    """A run with Spark's I/O encryption on (its own JVM: the setting is read as Spark starts)
    trains through the driver every sub-epoch and gives the vectors of the same run without it,
    bit for bit."""
    import numpy as np

    from sparkw2v import Word2VecModel
    from sparkw2v.cli import main

    import gzip
    import itertools

    from .test_corpus import BROWN
    corpus = tmp_path / "brown.txt"   # a model over pickle's 64 KiB frames: its arrays go as PickleBuffers
    with gzip.open(BROWN, "rt") as lines:
        corpus.write_text("".join(itertools.islice(lines, 600)))
    args = ["--input", str(corpus), "--vector-size", "8", "--epochs", "1", "--min-count", "1", "--window", "3",
            "--num-partitions", "2", "--concurrent-shards", "2", "--strategy", "stratified", "--cbow", "--syncs-per-epoch", "8",
            "--seed", "3", "--show", ""]
    done = subprocess.run([sys.executable, "-m", "sparkw2v", "train", "--output", str(tmp_path / "encrypted"), *args,
                           "--master", "local[2]", "--conf", "spark.io.encryption.enabled=true"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cannot exchange rows directly (Spark encrypts its traffic" in done.stderr
    assert main(["train", "--output", str(tmp_path / "plain"), *args]) == 0
    encrypted = Word2VecModel.load(str(tmp_path / "encrypted"), spark=spark)
    plain = Word2VecModel.load(str(tmp_path / "plain"), spark=spark)
    assert (encrypted.metadata["block_exchange"], plain.metadata["block_exchange"]) == ("shuffle", "direct")
    assert np.array_equal(encrypted.wv.vectors, plain.wv.vectors)


def test_a_phase_counts_only_the_stages_that_run(spark):
    """A job lists the stages whose results it reuses too; while it runs they look like stages
    to come, and counting them showed "5/7 tasks" for a phase that then ran 6. Only submitted
    stages count, so the count polled during the job never exceeds what the phase runs."""
    import time

    from sparkw2v import progress

    sc = spark.sparkContext
    phase = progress.Phase("probe", f"{progress.TAG_PREFIX}test-{time.monotonic_ns()}", None, 0.0)
    pairs = sc.parallelize(range(8), 4).map(lambda x: (x % 3, x)).reduceByKey(lambda a, b: a + b, 3)
    sc.addJobTag(phase.tag)
    try:
        pairs.count()                                          # 4 map tasks, then 3 reduce tasks
        started = threading.Event()

        def slow(it):
            time.sleep(1.0)
            return it

        def second():                                          # job tags belong to a thread
            sc.addJobTag(phase.tag)
            started.set()
            pairs.mapPartitions(slow).count()                  # the map stage is skipped: 3 tasks

        job = threading.Thread(target=second)
        job.start()
        started.wait()
        polls = 0
        while job.is_alive():
            progress._count_tasks(sc, phase)
            polls += 1
            time.sleep(0.1)
        job.join()
    finally:
        sc.removeJobTag(phase.tag)
    progress._count_tasks(sc, phase)
    assert polls > 3
    assert (phase.tasks, phase.done, phase.running) == (10, 10, 0)
