"""Which exceptions are the user's to fix, and how to say so in one line.

Every module's error for bad input, settings or files derives from :class:`UserError`
(this module imports nothing of the package, so any module can use it); the CLI prints
such errors as one line, ``sparkw2v: error: ...``, and exits with code 2.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """An error the user can fix (bad settings, input, paths or files); its message says how."""


class DamagedModelError(UserError, ValueError):
    """A model file does not match what was recorded when it was published (or cannot be read)."""


class ConcurrentPublishError(UserError, RuntimeError):
    """Another writer published a version of the output after the version this run continued.

    ``why`` says what the refused publish expected (``publishing.CREATED``: no version yet;
    otherwise the model was built on, loaded from or saved as an older version)."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why


class VersionsRemovedError(UserError, RuntimeError):
    """Retention (another writer publishing often with a small ``keep_versions``) removed every
    version a reader tried while it read them; the model itself is intact."""


class SparkStoppedError(UserError, RuntimeError):
    """A call needs Spark after the process stopped its SparkSession, and none runs now."""


class StorageFullError(UserError, OSError):
    """The filesystem ran out of space while publishing; earlier versions are intact.
    Raised as ``StorageFullError(errno.ENOSPC, message)``; prints as the message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


def user_message(exc: BaseException) -> str | None:
    """A one-line message for errors caused by input, settings, files or the executors' Python
    environment; None for bugs."""
    if isinstance(exc, (UserError, FileNotFoundError)):
        return " ".join(str(exc).split("\n")[:1]) or type(exc).__name__
    return (executor_environment_message(exc) or exchange_message(exc) or too_few_slots_message(exc)
            or executors_lost_message(exc))


_EXCHANGE = re.compile(r"\b(?:ExchangeError|UnreachableError): (task \d+ could not [^\n]+)")
_UNREACHABLE = re.compile(r"\bUnreachableError: (task \d+ could not (?:reach|listen) [^;\n]+)")


def exchange_message(exc: BaseException) -> str | None:
    """One line for a Spark job whose stratified tasks could not reach each other or the driver
    for direct hand-overs, or could not meet through it (``sparkw2v.exchange.ExchangeError`` or its
    ``UnreachableError`` raised in a worker); None otherwise."""
    found = _EXCHANGE.search(str(exc))
    return found.group(1).strip() if found else None


def unreachable_cause(exc: BaseException) -> str | None:
    """For a Spark job that failed because a stratified task could not connect to another task or
    to the driver, or could not listen at its executor's address (``sparkw2v.exchange.UnreachableError``
    raised in a worker, and carried as text), what it could not reach and why, without the message's
    advice; None for any other failure (a block cut short, a wrong token, a task's own error)."""
    found = _UNREACHABLE.search(str(exc))
    return found.group(1).strip() if found else None


#: Spark's words for a job that stopped because executors were lost or their shuffle output could not
#: be read: the output gone or unreachable (a node, a network, an external shuffle service), or a
#: task's executor gone (a process that exits with code 52 ran out of heap).
_EXECUTORS_LOST = re.compile(r"(?:Most recent failure reason: |most recent failure: [^\n]*?: )?"
                             r"((?:org\.apache\.spark\.shuffle\.)?(?:MetadataFetchFailedException|FetchFailedException|"
                             r"ExecutorLostFailure)[^\n]*)")


def executors_lost_message(exc: BaseException) -> str | None:
    """One line for a Spark job that stopped, after Spark's attempts at the stage, because executors
    were lost (out of memory, killed by the cluster manager, a node gone) or the shuffle output they
    wrote could not be read; None otherwise."""
    text = str(exc)
    found = _EXECUTORS_LOST.search(text) if "org.apache.spark" in text else None
    if found is None:
        return None
    return (f"Spark stopped the job after losing executors or the shuffle output they wrote "
            f"({found.group(1).strip()[:200]}): the executors' logs in the cluster manager's UI say why; one "
            "that exited with code 52 ran out of heap (raise spark.executor.memory, spark-submit "
            "--executor-memory)")


def cluster_stop(exc: BaseException) -> bool:
    """Whether a run ended because the cluster failed it (executors or their output lost, too few
    task slots left), not for a reason of its own: the same command can go on from a checkpoint."""
    return too_few_slots_cause(exc) is not None or executors_lost_message(exc) is not None


_NO_PROGRAM = re.compile(r'Cannot run program "([^"]+)"[^\n]*?error=\d+, ([^\n]+)')
_NO_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([^']+)'")
_SHIP = ("ship the environment with --archives ENV.tar.gz#env and PYSPARK_PYTHON=./env/bin/python, or "
         "sparkw2v alone with --py-files (README, \"Running on a cluster\")")


#: What a stop for too few task slots says (``sparkw2v.exchange.TooFewSlotsError``), and what
#: :func:`too_few_slots_cause` looks for.
TOO_FEW_SLOTS = "fewer task slots than the stratified tasks that hand blocks to each other"
_SLOTS = re.compile(r"BarrierJobSlotsNumberCheckFailed|\[SPARK-24819\]")
_SLOTS_WATCHED = re.compile(rf"(the cluster had {re.escape(TOO_FEW_SLOTS)} [^\n]*?\))")


def too_few_slots_cause(exc: BaseException) -> str | None:
    """For a Spark job of stratified tasks that hand blocks to each other, ended because the
    cluster had fewer task slots than its tasks (an executor lost and not replaced): Spark's
    refusal of a new job (``BarrierJobSlotsNumberCheckFailed``) or ``sparkw2v.exchange.SlotWatch``'s
    cancellation of a retried stage (``TooFewSlotsError``), what happened; else None."""
    text = str(exc)
    found = _SLOTS_WATCHED.search(text)
    if found:
        return found.group(1)
    if _SLOTS.search(text):
        return f"the cluster had {TOO_FEW_SLOTS} (an executor lost and not replaced in time)"
    return None


def too_few_slots_message(exc: BaseException) -> str | None:
    """One line for :func:`too_few_slots_cause`'s failure, saying how to go on; None otherwise."""
    cause = too_few_slots_cause(exc)
    if cause is None:
        return None
    return (f"{cause}, after waiting spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures x .interval "
            "(40 x 15 s by default) for a replacement; --block-exchange auto (the default) goes on with a Spark "
            "shuffle per sub-epoch then, and --block-exchange shuffle needs no slot per shard")


def executor_environment_message(exc: BaseException) -> str | None:
    """One line for a Spark job that failed because the executors could not start the Python
    the driver asked for, or could not import sparkw2v or its dependencies there; None otherwise
    (an import error of the driver itself is its own, not the executors')."""
    if isinstance(exc, ImportError):
        return None
    text = str(exc)
    found = _NO_PROGRAM.search(text)
    if found and ("python" in found.group(1).rsplit("/", 1)[-1].lower() or "PythonWorkerFactory" in text):
        return (f"the executors could not start Python {found.group(1)} ({found.group(2).strip()}): {_SHIP}, "
                "or set PYSPARK_PYTHON to a Python every node has")
    found = _NO_MODULE.search(text)
    if found and ("PythonException" in type(exc).__name__ or "Py4J" in type(exc).__name__
                  or "org.apache.spark" in text):
        return f"the executors' Python has no module {found.group(1)!r}: {_SHIP}"
    return None


def first_line(exc: BaseException) -> str:
    """One line that says what went wrong: for an error from the JVM, its root cause's class and
    message (Py4J's own first line names only the call that failed), else ``exc``'s first line."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            while java.getCause() is not None and java.getCause() != java:
                java = java.getCause()
            text = str(java.toString())
        except Exception:  # the gateway is gone: fall back to Python's text
            text = str(exc)
    else:
        text = str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:400]
