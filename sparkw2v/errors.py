"""Which exceptions are the user's to fix, and how to say so in one line."""

from __future__ import annotations

from .checkpoint import ResumeError
from .config import ConfigError
from .corpus import InputError
from .interchange import FormatError
from .memory import MemoryEstimateError
from .streaming import StreamError
from .training import DivergedError
from .vector_table import OutputExistsError

USER_ERRORS = (ConfigError, InputError, OutputExistsError, FileNotFoundError, ResumeError, MemoryEstimateError,
               FormatError, StreamError, DivergedError)


def user_message(exc: BaseException) -> str | None:
    """A one-line message for errors caused by input or settings; None for bugs."""
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return None
