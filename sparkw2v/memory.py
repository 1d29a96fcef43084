"""Will the model fit? An estimate from vocabulary size × vector size, checked before training.

The driver broadcasts both matrices and collects the tasks' results (averaging's combined updates,
or the stratified model's parts), so its JVM holds three to four and a half copies of the model,
by the layout trained (:data:`DRIVER_COPIES`, measured); each executor JVM keeps the broadcast
blocks, and each Python task holds the broadcast model, its working copy and the update blocks
it ships. A local master's driver JVM is its executors too: it holds more copies
(:data:`LOCAL_COPIES`, measured). The check is deliberately rough (a factor, not an accounting):
it exists to turn an out-of-memory crash (or a driver that hangs once a thread collecting task
results ran out of heap) an hour into a run into a one-line message before it.
"""

from __future__ import annotations

import re
from typing import Callable

from .config import setting
from .errors import UserError
from .session import collects_in_parts, is_local_master
from .stratified import output_blocks

#: Copies of the model (both matrices) a cluster's driver JVM holds, by the layout trained
#: (:data:`LAYOUTS`): the heap a 145K x 192 model (223 MB) needed on a standalone cluster of two
#: executors, measured and rounded up to a half (BENCHMARKS.md, "Driver memory a cluster needs, by
#: layout").
DRIVER_COPIES = {"average": 4.5, "owned_both": 3, "owned_output": 3.5}
#: Copies of the model a local master's driver JVM holds, being its executors too (the tasks' results
#: and shuffled blocks beside the broadcast), by the layout trained (:data:`LAYOUTS`): each the
#: driver heap a 278K x 100 model needed, measured (BENCHMARKS.md, "Driver memory a local master
#: needs, by layout").
LOCAL_COPIES = {"average": 7, "owned_both": 6, "owned_output": 4}
#: What :func:`check_memory` tells apart: averaging (and output rows owned, summed by a Spark job per
#: sub-epoch), stratified owning both matrices, and output rows owned with the tasks exchanging them.
LAYOUTS = tuple(LOCAL_COPIES)
#: Copies each executor JVM holds (broadcast blocks and shuffled update blocks).
EXECUTOR_COPIES = 2
#: Heap Spark keeps out of an executor's use (its reserved system memory, 300 MiB).
EXECUTOR_RESERVED = 300 << 20
#: Copies a Python task holds (broadcast value, working copy, update blocks).
TASK_COPIES = 3

_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class MemoryEstimateError(UserError, ValueError):
    """The model will not fit in the memory Spark was given; the message says what to change."""


def parse_size(text: str, default_unit: str) -> int:
    """Bytes in a Spark size setting such as ``4g``, ``512m`` or ``1024`` (in ``default_unit``)."""
    match = re.fullmatch(r"\s*(\d+)\s*([bkmgtp]?)i?b?\s*", str(text).lower())
    if not match:
        raise ValueError(f"not a size: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2) or default_unit]


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def setting_size(n: float) -> str:
    """``n`` bytes, rounded up to a size Spark and Java take as a setting: ``2g``, ``850m``."""
    return f"{-(-int(n) // (1 << 30))}g" if n > 1 << 30 else f"{-(-int(n) // (1 << 20))}m"


def driver_heap(sc) -> int | None:
    """Bytes of heap the running driver JVM was started with (its last ``-Xmx``, which
    spark.driver.memory becomes), or None if it cannot be asked. Without an ``-Xmx``, the heap the
    JVM reports: under some collectors (ParallelGC) that leaves out a survivor space, ~11% less."""
    try:
        jvm = sc._jvm
        arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
        sizes = [heap_option(str(a)) for a in arguments]
        sizes = [n for n in sizes if n is not None]
        return sizes[-1] if sizes else int(jvm.java.lang.Runtime.getRuntime().maxMemory())
    except Exception:  # noqa: BLE001 - Spark Connect, a stopped context: the setting alone then
        return None


def heap_option(argument: str) -> int | None:
    """Bytes of a JVM ``-Xmx`` option (``-Xmx1400m``, ``-Xmx2g``, ``-Xmx1073741824``), else None."""
    size = argument.strip()[4:] if argument.strip().startswith("-Xmx") else ""
    try:
        return parse_size(size, "b") if size else None
    except ValueError:
        return None


def driver_memory(conf) -> int:
    """Bytes of spark.driver.memory (Spark's default 1g when unset)."""
    return parse_size(conf.get("spark.driver.memory", None) or "1g", "m")


def max_result_size(conf) -> int:
    """Bytes of spark.driver.maxResultSize (default 1g); 0 means no limit."""
    return parse_size(conf.get("spark.driver.maxResultSize", None) or "1g", "b")


def model_bytes(vocab_size: int, vector_size: int) -> int:
    """Both float32 matrices."""
    return 2 * 4 * vocab_size * vector_size


def check_memory(conf, vocab_size: int, vector_size: int, layout: str = "average", tasks: int = 1,
                 driver_heap: int | None = None) -> None:
    """Raise :class:`MemoryEstimateError` if the model will not fit; ``conf`` is a SparkConf (or has
    ``get``), ``layout`` one of :data:`LAYOUTS` (what a local master's driver holds depends on it),
    ``tasks`` the shards trained at once (a stratified epoch's large model comes a task's part a job),
    ``driver_heap`` the running driver JVM's heap if known (spark.driver.memory set after the JVM
    started, as a script's own setting under spark-submit is, does not change it)."""
    get: Callable[[str, str | None], str | None] = conf.get
    size = model_bytes(vocab_size, vector_size)
    shape = f"{vocab_size:,} words x {vector_size} dimensions x 2 matrices = {human(size)}"
    lower = f"or lower {setting('vector_size')}, set {setting('max_vocab_size')} or raise {setting('min_count')}"

    driver = asked = driver_memory(conf)
    has = f"spark.driver.memory is {human(driver)}"
    if driver_heap:
        driver = driver_heap
        if asked > 1.1 * driver_heap:
            has = (f"the driver JVM runs with {human(driver_heap)} although spark.driver.memory says "
                   f"{human(asked)} (set after the JVM started: under spark-submit it goes to spark-submit)")
    local = is_local_master(get("spark.master", None) or "local")   # the executors are the driver's JVM
    copies = (LOCAL_COPIES if local else DRIVER_COPIES)[layout]
    if copies * size > driver:
        raise MemoryEstimateError(
            f"the model ({shape}) needs about {human(copies * size)} of driver memory"
            f"{' (a local master: the driver is its executors too)' if local else ''}, but {has}: "
            f"raise spark.driver.memory to at least {setting_size(copies * size * 1.25)} (spark-submit "
            f"--driver-memory, or --conf spark.driver.memory=... when sparkw2v starts Spark itself: it "
            f"takes effect as the driver starts), {lower}")
    results = max_result_size(conf)
    collected = 4 * vocab_size * (2 * vector_size + 4)
    what = "each sync collects about {} of combined updates"
    if layout != "average" and collects_in_parts(size):
        # Owning both matrices, a shared output block's parts reach each task that trains it next,
        # and each such task's result holds them: a job collects about twice a task's share then.
        holders = 2 if layout == "owned_both" and output_blocks(tasks) < tasks else 1
        collected, what = -(-collected * holders // max(1, tasks)), "each job collects about {} of the model's rows"
    if results and collected > 0.9 * results:
        raise MemoryEstimateError(
            f"{what.format(human(collected))} ({shape}), but "
            f"spark.driver.maxResultSize is {human(results)}: raise spark.driver.maxResultSize to at "
            f"least {setting_size(collected * 1.25)} (or 0 for no limit), {lower}")
    if local:
        return  # the executors are the driver's JVM (local-cluster's are not)
    executor = parse_size(get("spark.executor.memory", None) or "1g", "m")
    if EXECUTOR_COPIES * size > executor - EXECUTOR_RESERVED:
        raise MemoryEstimateError(
            f"the model ({shape}) needs about {human(EXECUTOR_COPIES * size)} per executor beside the "
            f"{human(EXECUTOR_RESERVED)} Spark reserves, but spark.executor.memory is {human(executor)}: raise "
            f"spark.executor.memory to at least {setting_size(EXECUTOR_COPIES * size * 1.25 + EXECUTOR_RESERVED)} "
            f"(spark-submit --executor-memory), {lower}")
    python = get("spark.executor.pyspark.memory", None)
    cores = int(get("spark.executor.cores", None) or 1)
    if python and TASK_COPIES * size * cores > parse_size(python, "m"):
        raise MemoryEstimateError(
            f"each training task holds about {human(TASK_COPIES * size)} in Python ({shape}), "
            f"{cores} per executor, but spark.executor.pyspark.memory is {human(parse_size(python, 'm'))}: "
            f"raise spark.executor.pyspark.memory, lower spark.executor.cores, {lower}")
