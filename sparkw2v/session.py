"""Getting a SparkSession set up the way training wants it."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from pyspark import RDD, Broadcast, SparkContext
from pyspark.core import broadcast as pyspark_broadcast
from pyspark.serializers import ChunkedStream
from pyspark.sql import DataFrame, SparkSession

from . import progress
from .config import ConfigError
from .errors import UserError, first_line

log = logging.getLogger("sparkw2v")

#: Attempts per task under a local master chosen by default (a plain ``local[N]`` allows one).
LOCAL_TASK_ATTEMPTS = 4
#: A local master, whose one JVM runs the driver and the tasks: ``local``, ``local[N]`` or
#: ``local[*]`` (group 1: N), with task attempts ``[N,F]`` (group 2: F).
_LOCAL = re.compile(r"local(?:\[(\d+|\*)(?:,(\d+))?\])?")
#: Spark SQL's setting that adds ``SPARK_SIMPLIFIED_TRACEBACK=1`` to its Python workers' environment.
SIMPLIFIED_TRACEBACK = "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled"
#: Java options that choose the JIT compilers.
_JIT_OPTION = re.compile(r"-XX:[+-]?Tiered|-Xint\b|-Xcomp\b")
_VERIFY_OPTION = re.compile(r"BytecodeVerification|-Xverify\b|-noverify\b")

#: Each Spark task is one core; BLAS threads inside a task would fight the other tasks.
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Log4j 2 configuration that keeps Spark's own log at ERROR from the JVM's first line on.
QUIET_LOG4J = Path(__file__).parent / "data" / "log4j2-quiet.properties"
#: Java options of a driver JVM started here to train on a local master: the C1 JIT compiler
#: only. That JVM is the executor too, and training's JVM work (reading text, Arrow batches,
#: shuffles) is light next to the Python kernel, so C2's compile threads cost more CPU than its
#: faster code saves (BENCHMARKS.md, "The driver JVM's JIT compilers").
#: JVM-heavy work (Spark SQL over the vectors, MLlib) needs C2, so other sessions keep the JVM's
#: default. A JIT option in the user's ``spark.driver.extraJavaOptions`` replaces it.
LOCAL_JIT_OPTIONS = "-XX:TieredStopAtLevel=1"
#: Java options of the same JVM: classes from the class path (Spark's, Hadoop's and the user's
#: jars) loaded without the bytecode verifier, which checks every class a run loads (about 1.5
#: s of a run's start, counting and encoding; BENCHMARKS.md, "The driver JVM's JIT compilers").
#: The JDK's own classes are never verified either. A JVM started by spark-submit keeps its
#: verifier, and a verification option in the user's ``spark.driver.extraJavaOptions`` replaces it.
LOCAL_VERIFY_OPTIONS = "-XX:+UnlockDiagnosticVMOptions -XX:-BytecodeVerificationRemote"


class _BufferChunkedStream(ChunkedStream):
    """PySpark's ChunkedStream, taking any contiguous buffer. With ``spark.io.encryption.enabled``
    the driver pickles a broadcast's value into a ChunkedStream (protocol 5), and pickle hands a
    NumPy array's or an Arrow table's memory to ``write`` as a ``PickleBuffer``, which has no
    ``len``: every broadcast of a model, a table or the vocabulary then fails ("Could not
    serialize broadcast"). Here it is written as the bytes it holds."""

    def write(self, data) -> None:
        super().write(data if isinstance(data, (bytes, bytearray)) else memoryview(data).cast("B"))


def _mend_encrypted_broadcasts() -> None:
    """Make encrypted broadcasts write through :class:`_BufferChunkedStream` (driver side; the
    executors read a broadcast without one)."""
    if getattr(pyspark_broadcast, "ChunkedStream", None) is ChunkedStream:
        pyspark_broadcast.ChunkedStream = _BufferChunkedStream


_mend_encrypted_broadcasts()


def release_broadcast(broadcast: Broadcast) -> None:
    """Free a broadcast once its jobs are done: destroy it. While an exception unwinds (Ctrl-C,
    a failed job), tasks of the cancelled job may still be reading it, and a destroyed broadcast
    makes them log a Java stack trace: then only its executors' copies are dropped, and the
    driver's goes when the broadcast is garbage-collected."""
    if sys.exc_info()[0] is not None:
        broadcast.unpersist()
    else:
        broadcast.destroy()


def unpersist_unless_gone(cached: Broadcast | DataFrame | RDD) -> None:
    """Unpersist a garbage-collected owner's broadcast or cached frame (a ``weakref.finalize``
    callback), unless its SparkContext is gone already."""
    with contextlib.suppress(Exception):
        cached.unpersist()


def drop_shuffle_files(sc: SparkContext) -> None:
    """Let Spark delete the shuffle files of RDDs the driver no longer references: their cleaner
    acts when the driver JVM collects them, and without a collection that waits for its periodic
    one (30 minutes). Skipped while an exception unwinds (the JVM may be gone)."""
    if sys.exc_info()[0] is None:
        sc._jvm.System.gc()


#: Results of about this many bytes or fewer (an epoch's model) come to the driver in one job; larger
#: ones a partition at a time (:func:`collect_model_parts`). In local mode the executors are the
#: driver's JVM: a 278K x 100 model's parts collected at once, beside its broadcast, ran a 1g
#: driver out of heap or lost a task result (BENCHMARKS.md, "The owned layout's exchange").
COLLECT_AT_ONCE_BYTES = 64 << 20


def collects_in_parts(nbytes: int) -> bool:
    """Whether :func:`collect_model_parts` brings a model of ``nbytes`` a partition at a time."""
    return nbytes > COLLECT_AT_ONCE_BYTES


def first_collect_tasks(nbytes: int, partitions: int) -> int:
    """Tasks that collect in the first job of :func:`collect_model_parts` over ``partitions``
    partitions (the ones after it only collect: ``on_parts``)."""
    return 1 if collects_in_parts(nbytes) else partitions


def collect_model_parts(rdd: RDD, nbytes: int, on_parts: Callable[[int], None] | None = None) -> list:
    """``rdd``'s records (the parts of a model of about ``nbytes``) on the driver: in one job up to
    :data:`COLLECT_AT_ONCE_BYTES`, else a partition at a time (a job each), so that the driver JVM
    holds one partition's results at once. ``rdd`` must read a shuffle's output (as an epoch's
    blocks and shares do), so that those jobs read it rather than train again.

    Collected a partition at a time, the first job also runs everything before the shuffle (the
    training) and the others only collect: ``on_parts(n)`` is called between them, with the ``n``
    partitions left, so that progress reports those jobs as a phase of their own."""
    if not collects_in_parts(nbytes):
        return rdd.collect()
    # Jobs run from this thread (not toLocalIterator's serving thread), so they carry its job tags.
    sc, partitions = rdd.context, rdd.getNumPartitions()
    records = sc.runJob(rdd, _records, [0])   # the first job: the training, and the first partition
    if on_parts is not None and partitions > 1:
        on_parts(partitions - 1)
    for partition in range(1, partitions):
        records.extend(sc.runJob(rdd, _records, [partition]))
    return records


def _records(records: Iterable) -> Iterable:
    return records


@contextlib.contextmanager
def cleaning_up(what: str) -> Iterator[None]:
    """Clean-up while another error unwinds: a failure of its own (the JVM gone, the gateway cut by
    Ctrl-C) is logged at debug level, so the error reported stays the one that stopped the work."""
    try:
        yield
    except Exception:
        log.debug("could not %s while an error unwound", what, exc_info=True)


def _default_session() -> SparkSession | None:
    """The session ``SparkSession.builder`` made first in this process, if it is still running."""
    session = SparkSession._instantiatedSession
    return session if session is not None and session.sparkContext._jsc is not None else None


def get_session(app_name: str = "sparkw2v", master: str | None = None, conf: Mapping[str, str] | None = None,
                spark_log_level: str = "ERROR", light_jvm: bool = False) -> SparkSession:
    """The active (or default) session, or a new one (``local[*]`` unless spark-submit set a master).

    ``conf`` holds Spark settings (``--conf KEY=VALUE``); on an already active session
    only those Spark allows to change at run time are applied, the others are named in
    a warning. ``spark_log_level`` is the level of Spark's own log in a new session
    (ERROR: Spark's warnings and startup lines are not shown; WARN is Spark's default).
    ``light_jvm``: the session is for training, whose JVM work is light; a local driver JVM
    started here then compiles with C1 only (:data:`LOCAL_JIT_OPTIONS`).
    Python workers of a local session run this interpreter, so the installed NumPy and
    sparkw2v are the ones they import.

    Without ``master``, a plain local master (``local``, ``local[N]``, ``local[*]``, the
    default) gets task retries, ``local[N,4]``, so that a failed task (a killed Python
    worker) is retried as on a cluster, where ``spark.task.maxFailures`` (4) applies. A
    ``master`` given here is used as it is.
    """
    conf = dict(conf or {})
    # The thread's active session, else the process's default one: a thread the user started
    # (a web server's worker, a thread pool) has no active session, but its builder would
    # still take the default one and rewrite its settings.
    active = SparkSession.getActiveSession() or _default_session()
    if active is not None:
        require_classic(active, "sparkw2v")
        _apply_runtime_conf(active, conf)
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)
    builder = SparkSession.builder.appName(app_name)
    master = master or default_master()
    if master:
        builder = builder.master(master)
    for key, value in SINGLE_THREAD_ENV.items():
        builder = builder.config(f"spark.executorEnv.{key}", value)
    for key, value in one_worker_pool_env(conf).items():
        builder = builder.config(f"spark.executorEnv.{key}", value)
    if "spark.python.daemon.module" not in conf and local_daemon_importable(master):
        builder = builder.config("spark.python.daemon.module", "sparkw2v.worker_daemon")
    # sparkw2v shows its own progress (sparkw2v.progress); Spark's console bars would interleave with it.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    added = driver_java_options(conf.get("spark.driver.extraJavaOptions", ""), master, spark_log_level, light_jvm)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        with _submit_opts(added):
            spark = builder.getOrCreate()
    except Exception as exc:  # a bad master or setting: the JVM refused to start, or Spark to begin
        settings = "".join(f", --conf {k}={v}" for k, v in conf.items())
        raise SparkStartError(f"Spark did not start with master {master!r}{settings}: {_java_reason(exc)}") from None
    require_classic(spark, "sparkw2v")  # SPARK_REMOTE or spark.api.mode=connect in the environment
    spark.sparkContext.setLogLevel(spark_log_level.upper())  # the JVM may have started before us (spark-submit)
    return spark


class SparkStartError(UserError):
    """Spark refused a master or setting: the session could not start."""


class ConnectSessionError(UserError, TypeError):
    """A Spark Connect session or DataFrame was given where sparkw2v needs a classic one."""


#: The oldest Spark sparkw2v runs on: transform and the SQL functions are Arrow UDFs (``arrow_udf``).
MIN_SPARK = (4, 1)


class SparkVersionError(UserError):
    """The driver's pyspark or the cluster's Spark is older than :data:`MIN_SPARK`."""


def require_classic(spark_or_frame: object, what: str) -> None:
    """Refuse a Spark Connect session or DataFrame, or a Spark older than :data:`MIN_SPARK`,
    before any work: training, transform, publishing and the SQL functions run RDD jobs,
    broadcasts, Hadoop filesystem calls and Arrow UDFs, which only a classic session
    (spark-submit, pyspark, a local master) of Spark 4.1 or later offers."""
    module = type(spark_or_frame).__module__ or ""
    if not module.startswith("pyspark.sql.connect."):
        spark = getattr(spark_or_frame, "sparkSession", spark_or_frame)
        require_version(what, spark.version)
        return
    kind = "DataFrame" if "dataframe" in module else "session"
    raise ConnectSessionError(
        f"{what} needs a classic Spark session, and this {kind} is Spark Connect's: sparkw2v runs RDD jobs "
        "and broadcasts, which Spark Connect does not offer. Run it under spark-submit or pyspark against "
        "the cluster's master, or build the session with SparkSession.builder.master(...) (with "
        "spark.api.mode=classic), not .remote(...)")


def require_version(what: str, spark_version: str) -> None:
    """Raise :class:`SparkVersionError` if the session's Spark or this driver's pyspark is older
    than :data:`MIN_SPARK`."""
    import pyspark

    for who, version in (("the session's Spark", spark_version), ("this driver's pyspark", pyspark.__version__)):
        if (_major_minor(version) or MIN_SPARK) < MIN_SPARK:
            raise SparkVersionError(
                f"{what} needs Spark {'.'.join(map(str, MIN_SPARK))} or later, and {who} is {version}: run it "
                f"with a newer Spark (on a cluster, the nodes' Spark; locally, pip install 'pyspark>=4.1,<5')")


def _major_minor(version: str) -> tuple[int, int] | None:
    """``(4, 1)`` from ``4.1.0``, ``4.1.0.dev1`` or ``4.1``; None if unreadable (a vendor's own scheme)."""
    found = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def _java_reason(exc: Exception) -> str:
    """Why Spark did not start: :func:`~sparkw2v.errors.first_line`, unless the JVM itself exited
    (it has printed its own message)."""
    if "JAVA_GATEWAY_EXITED" in str(exc):
        return "the Java process exited at start (its own message is printed above)"
    return first_line(exc)


def _local_match(master: str) -> re.Match | None:
    return _LOCAL.fullmatch(master.replace(" ", ""))


def is_local_master(master: str | None) -> bool:
    """Whether ``master`` runs driver and tasks in one JVM here (``local``, ``local[N]``,
    ``local[*]``, with or without task attempts); ``local-cluster`` is not."""
    return bool(master) and _local_match(master) is not None


def driver_java_options(options: str, master: str | None, spark_log_level: str, light_jvm: bool = False) -> str:
    """The Java options a driver JVM started here needs besides the user's ``options``: the
    quiet log4j configuration (read before the JVM's first line) when Spark's log is at ERROR,
    and with ``light_jvm`` :data:`LOCAL_JIT_OPTIONS` and :data:`LOCAL_VERIFY_OPTIONS` for a local
    master (one JVM; not ``local-cluster``), each unless the user chose it (a log4j configuration
    file; a ``-XX:...Tiered...`` option, ``-Xint`` or ``-Xcomp``; a ``BytecodeVerification``
    option, ``-Xverify`` or ``-noverify``)."""
    added = []
    if spark_log_level.upper() == "ERROR" and "log4j2.configurationFile" not in options:
        added.append(f"-Dlog4j2.configurationFile={QUIET_LOG4J}")
    if light_jvm and is_local_master(master):
        if not _JIT_OPTION.search(options):
            added.append(LOCAL_JIT_OPTIONS)
        if not _VERIFY_OPTION.search(options):
            added.append(LOCAL_VERIFY_OPTIONS)
    return " ".join(added)


@contextlib.contextmanager
def _submit_opts(options: str) -> Iterator[None]:
    """``options`` put before any ``SPARK_SUBMIT_OPTS`` while a session starts: spark-submit
    gives them to the driver JVM ahead of ``spark.driver.extraJavaOptions``, so the user's
    value of that setting, from ``--conf`` or from ``spark-defaults.conf``, is kept whole
    (setting it here would replace the file's) and wins where both set the same option."""
    old = os.environ.get("SPARK_SUBMIT_OPTS")
    if options:
        os.environ["SPARK_SUBMIT_OPTS"] = f"{options} {old or ''}".strip()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SPARK_SUBMIT_OPTS", None)
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = old


def one_worker_pool_env(conf: Mapping[str, str]) -> dict[str, str]:
    """Executor environment that lets RDD jobs and Arrow (SQL) jobs share one pool of Python
    workers. An executor keeps a worker daemon per distinct environment, and Spark SQL adds
    ``SPARK_SIMPLIFIED_TRACEBACK=1`` to its workers' (unless its simplified tracebacks are off):
    without it in the RDD jobs' too, encoding and training would start a second daemon and
    second workers, each importing NumPy and sparkw2v again (BENCHMARKS.md, "What a run pays once")."""
    if "spark.executorEnv.SPARK_SIMPLIFIED_TRACEBACK" in conf or \
            conf.get(SIMPLIFIED_TRACEBACK, "true").strip().lower() == "false":
        return {}
    return {"SPARK_SIMPLIFIED_TRACEBACK": "1"}


def local_daemon_importable(master: str | None) -> bool:
    """Whether this machine's executor can start :mod:`sparkw2v.worker_daemon`: a local master
    (no spark-submit, whose executors may run another Python), and sparkw2v importable by a
    fresh interpreter there (installed, or found through the working directory or PYTHONPATH
    that the JVM passes on), not only through this process's own ``sys.path``."""
    if "PYSPARK_GATEWAY_PORT" in os.environ or not is_local_master(master):
        return False
    import importlib.util
    import site

    spec = importlib.util.find_spec("sparkw2v")
    if spec is None or spec.origin is None:
        return False
    home = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
    roots = [*site.getsitepackages(), site.getusersitepackages(), os.getcwd(),
             *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    installed = any(os.path.abspath(r) == home for r in roots if r)
    editable = any(name.startswith("__editable__") and "sparkw2v" in name for name in sys.modules)
    return installed or editable


def start_python_workers(spark: SparkSession) -> threading.Thread | None:
    """On a local master, start the Python workers (and their imports of NumPy, pyarrow and
    sparkw2v) in a background job, so that they start while the driver reads the input's
    listing and plans the first query instead of inside the first job's tasks (a training
    run's counting; BENCHMARKS.md, "What a run pays once"). Its failure is left to the
    first real job to report. The process waits for it at exit (at most
    :data:`STARTING_WAIT` seconds): a run that fails at once (a missing input) would otherwise
    stop Spark under the job, which logs an error. Returns the background thread (None on other
    masters)."""
    from .worker_daemon import import_worker_modules

    sc = spark.sparkContext
    if not is_local_master(sc.master):
        return None
    slots = sc.defaultParallelism

    def run() -> None:
        try:
            sc.setJobDescription("sparkw2v: starting Python workers")   # this thread's jobs, in the Spark UI
            sc.parallelize(range(slots), slots).mapPartitions(import_worker_modules).count()
        except Exception:  # a stopped context, a worker that cannot start: the real work reports it
            log.debug("starting the Python workers ahead failed", exc_info=True)

    thread = threading.Thread(target=run, name="sparkw2v-start-workers", daemon=True)
    if not _STARTING:
        atexit.register(_wait_for_starting)
    _STARTING[:] = [t for t in _STARTING if t.is_alive()] + [thread]
    thread.start()
    return thread


#: Seconds the process waits at exit for :func:`start_python_workers`' jobs.
STARTING_WAIT = 10.0
_STARTING: list[threading.Thread] = []


def _wait_for_starting() -> None:
    for thread in _STARTING:
        thread.join(STARTING_WAIT)


def default_master() -> str | None:
    """The master to use when none is given: spark-submit's (or ``local[*]``), with task
    retries if it is a plain local master; None leaves spark-submit's cluster master alone."""
    from pyspark import SparkConf, SparkContext

    if "PYSPARK_GATEWAY_PORT" in os.environ:  # under spark-submit: its settings are the JVM's properties
        SparkContext._ensure_initialized()
        configured = SparkConf().get("spark.master", None) or "local[*]"
    else:  # no JVM yet: starting one here would start it without the session's Java options
        configured = "local[*]"
    plain = _local_match(configured)
    if plain is None or plain.group(2) is not None:  # a cluster, or attempts already chosen
        return None
    return f"local[{plain.group(1) or 1},{LOCAL_TASK_ATTEMPTS}]"


def default_filesystem_is_local(master: str | None, conf: Mapping[str, str]) -> bool:
    """Whether a path without a scheme will name the local filesystem in the session a command
    is about to start: a local master started here, with no Hadoop settings (a configuration
    directory, ``spark.hadoop.*``, a ``spark-defaults.conf``) that could make another filesystem
    the default. False when unsure, so that only Spark decides then."""
    from pyspark import SparkContext

    # spark-submit's settings are the JVM's; a running context or PYSPARK_SUBMIT_ARGS has its own
    if SparkContext._active_spark_context is not None or \
            any(name in os.environ for name in ("PYSPARK_GATEWAY_PORT", "PYSPARK_SUBMIT_ARGS")):
        return False
    if master and not is_local_master(master):
        return False
    if any(os.environ.get(name) for name in ("HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_CONF_DIR", "HADOOP_HOME")):
        return False
    if any(key.startswith("spark.hadoop.") for key in conf):
        return False
    from pyspark.find_spark_home import _find_spark_home

    conf_dir = Path(os.environ.get("SPARK_HOME") or _find_spark_home()) / "conf"
    return not any((conf_dir / name).exists() for name in ("spark-defaults.conf", "core-site.xml", "hdfs-site.xml"))


def _apply_runtime_conf(spark: SparkSession, conf: dict[str, str]) -> None:
    fixed = []
    for key, value in conf.items():
        if spark.conf.get(key, None) == value:
            continue
        try:
            spark.conf.set(key, value)
        except Exception as exc:
            if "CANNOT_MODIFY" not in str(exc):   # a bad value, not a setting fixed once the session runs
                raise ConfigError(f"--conf {key}={value}: {first_line(exc)}") from None
            fixed.append(key)
    if fixed:
        log.warning("the Spark session was already running: %s not applied (give them to spark-submit or "
                    "when the session is created)", ", ".join(fixed))


def describe_job(spark: SparkSession, text: str | None, words: int | None = None,
                 tasks: int | None = None, part_of: tuple[str, float] | None = None,
                 collect_tasks: int = 0) -> None:
    """Name the Spark jobs that follow in the UI ("sparkw2v: epoch 3/5") and start that phase of
    the progress report (:mod:`sparkw2v.progress`; ``words``: how many the phase goes through,
    ``tasks``: how many tasks its jobs run, if known, the last ``collect_tasks`` of them only
    collecting results, ``part_of``: (the epoch it is a share of, that share)). ``None`` clears it."""
    spark.sparkContext.setJobDescription(None if text is None else f"sparkw2v: {text}")
    progress.begin(spark.sparkContext, text, words, tasks, part_of, collect_tasks)
