"""Ctrl-C and SIGTERM during a CLI command: held back while a version is committed, and what
the command had completed when one arrived.

Publishing a version is one step to its readers: the rename into ``versions/`` (the commit),
then ``LATEST`` and retention. An interrupt between the two would leave the version published
but the command reporting it interrupted, and its advice to run again would train and publish
a second version (retention then deleting an old one). So the CLI's signal handler asks
:func:`hold` first: inside :func:`deferred` the signal waits for the section's end (a second
one is not held back), and :func:`completed` records the step that an interrupt must not be
reported as undone. Both apply to the main thread only, where signal handlers run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_depth = 0
_pending: int | None = None
_completed: str | None = None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def reset() -> None:
    """A new command starts: nothing held back, nothing completed."""
    global _depth, _pending, _completed
    _depth, _pending, _completed = 0, None, None


def hold(signum: int) -> bool:
    """For the signal handler: True if signal ``signum`` waits for the end of a deferred section
    (then it is delivered again there); False if the handler should stop the command now."""
    global _pending
    if _depth == 0 or _pending is not None:   # a second interrupt while one waits: now
        return False
    _pending = signum
    return True


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Interrupts arriving in the block are delivered when it ends (main thread only)."""
    global _depth, _pending
    if not _main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            signum, _pending = _pending, None
            signal.raise_signal(signum)   # the installed handler runs now, with nothing held back


def completed(step: str) -> None:
    """Record that the command completed ``step`` ("published PATH"): an interrupt after it
    reports that, not a run to start again (main thread only)."""
    global _completed
    if _main_thread():
        _completed = step


def completed_step() -> str | None:
    """The last step :func:`completed` recorded since :func:`reset`, if any."""
    return _completed
