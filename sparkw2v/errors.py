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
    """Another writer published a version of the output after the version this run continued."""


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
