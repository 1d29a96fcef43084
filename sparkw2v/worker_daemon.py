"""PySpark's Python worker daemon, starting faster on the machine it was installed on.

Spark starts each executor's daemon with ``pyspark.zip`` first on ``PYTHONPATH``, and Python
compiles every module it imports from a zip anew (zips hold no ``.pyc``), so the daemon
listens much later than with pyspark imported from site-packages (BENCHMARKS.md, "What a
run pays once"). When the installed pyspark is the zip's version (byte-equal ``version.py``),
this daemon puts the zip after it; either way it imports the worker module once, before
forking, instead of in every forked worker. :func:`import_worker_modules` is the task that
starts a local session's workers ahead of its first job. A worker whose task the JVM gave up
on (a failed or cancelled job closes its socket) ends quietly instead of printing a ``BrokenPipeError``
traceback: the JVM reports why the task ended (with
``spark.python.daemon.killWorkerOnFlushFailure=false`` pyspark prints its own flush message).
:func:`sparkw2v.session.get_session` uses this daemon (``spark.python.daemon.module``) only for
a local master, whose executor is this machine.
"""

import importlib
import importlib.machinery
import os
import sys
import zipfile
from typing import Iterable, Iterator


def _prefer_installed_pyspark() -> None:
    zips = [p for p in sys.path if p.endswith("pyspark.zip")]
    if not zips:
        return
    rest = [p for p in sys.path if p not in zips]
    spec = importlib.machinery.PathFinder.find_spec("pyspark", rest)
    if spec is None or not spec.submodule_search_locations:
        return
    try:
        with zipfile.ZipFile(zips[0]) as archive:
            zipped = archive.read("pyspark/version.py")
        with open(os.path.join(list(spec.submodule_search_locations)[0], "version.py"), "rb") as fh:
            installed = fh.read()
    except (OSError, KeyError, zipfile.BadZipFile):
        return
    if installed == zipped:
        sys.path[:] = rest + zips


def _quiet_when_hung_up(worker):
    """``pyspark.daemon.worker`` that ends a worker without a traceback when the JVM has closed
    the task's socket (the worker's last flush fails). A broken pipe raised while another error
    was being handled still propagates, so that error is printed."""
    def run(sock, authenticated):
        try:
            return worker(sock, authenticated)
        except (BrokenPipeError, ConnectionResetError) as exc:
            if exc.__context__ is not None:
                raise
            return 1
    return run


def import_worker_modules(rows: Iterable) -> Iterator:
    """A task that imports what counting, encoding and training tasks import, then yields
    nothing (:func:`sparkw2v.session.start_python_workers`)."""
    import pyarrow.compute  # noqa: F401
    import sparkw2v.executor  # noqa: F401

    return iter(())


if __name__ == "__main__":
    _prefer_installed_pyspark()
    import pyspark.daemon

    pyspark.daemon.worker = _quiet_when_hung_up(pyspark.daemon.worker)

    if len(sys.argv) > 1:
        importlib.import_module(sys.argv[1])   # the worker module each forked worker runs
    pyspark.daemon.manager()
