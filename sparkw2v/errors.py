"""Which exceptions are the user's to fix, and how to say so in one line.

Every module's error for bad input, settings or files derives from :class:`UserError`
(this module imports nothing of the package, so any module can use it); the CLI prints
such errors as one line, ``sparkw2v: error: ...``, and exits with code 2.
"""

from __future__ import annotations


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


class SparkStoppedError(UserError, RuntimeError):
    """A call needs Spark after the process stopped its SparkSession, and none runs now."""


class StorageFullError(UserError, OSError):
    """The filesystem ran out of space while publishing; earlier versions are intact.
    Raised as ``StorageFullError(errno.ENOSPC, message)``; prints as the message alone."""

    def __str__(self) -> str:
        return str(self.strerror)


def user_message(exc: BaseException) -> str | None:
    """A one-line message for errors caused by input, settings or files; None for bugs."""
    if isinstance(exc, (UserError, FileNotFoundError)):
        return " ".join(str(exc).split("\n")[:1]) or type(exc).__name__
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
