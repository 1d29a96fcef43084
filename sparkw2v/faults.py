"""Faults injected on purpose, so the reliability tests can show what a failure leaves behind.

Two environment variables switch them on. Each is read once, when this module is imported (by
the driver, and by each Python worker); a real run sets neither, and each hook is then one
comparison:

* ``SPARKW2V_TEST_FAIL_TASK="EPOCH:PARTITION:MARKER_FILE"``: the first attempt of that training
  task (the one that finds no MARKER_FILE) fails half-way through its work, after creating
  MARKER_FILE, to show that Spark's retry gives the same vectors (a retried barrier stage
  numbers its task attempts from 0 again, so the file, not the attempt number, tells).
* ``SPARKW2V_TEST_PAUSE_AFTER_CHECKPOINT=SECONDS``: the driver holds still after every
  checkpoint, so a test can kill the run between epochs.
"""

from __future__ import annotations

import os
import time

FAIL_TASK_ENV = "SPARKW2V_TEST_FAIL_TASK"
PAUSE_ENV = "SPARKW2V_TEST_PAUSE_AFTER_CHECKPOINT"


def _fail_task(spec: str | None) -> tuple[int, int, str] | None:
    if not spec:
        return None
    try:
        epoch, partition, marker = spec.split(":", 2)
        return int(epoch), int(partition), marker
    except ValueError:
        raise ValueError(f"{FAIL_TASK_ENV} must be EPOCH:PARTITION:MARKER_FILE, not {spec!r}") from None


def _pause_seconds(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        raise ValueError(f"{PAUSE_ENV} must be a number of seconds, not {value!r}") from None


_FAIL_TASK = _fail_task(os.environ.get(FAIL_TASK_ENV))
_PAUSE_SECONDS = _pause_seconds(os.environ.get(PAUSE_ENV))


def fail_first_attempt(epoch: int, partition: int) -> None:
    """Executor side: raise in the first attempt of the task named by ``SPARKW2V_TEST_FAIL_TASK``."""
    if _FAIL_TASK is None or (epoch, partition) != _FAIL_TASK[:2] or os.path.exists(_FAIL_TASK[2]):
        return
    open(_FAIL_TASK[2], "a").close()
    raise RuntimeError(f"{FAIL_TASK_ENV}: failing epoch {epoch} partition {partition} on purpose")


def pause_after_checkpoint() -> None:
    """Driver side: sleep ``SPARKW2V_TEST_PAUSE_AFTER_CHECKPOINT`` seconds after a checkpoint."""
    if _PAUSE_SECONDS:
        time.sleep(_PAUSE_SECONDS)
