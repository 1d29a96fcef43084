"""What a Python worker keeps between the tasks of one run or model.

Spark reuses a Python worker for task after task (``spark.python.worker.reuse``), so what a
task builds from a broadcast or from files can serve the tasks that follow it. Spark stops
Python workers that sit idle for a minute, which frees what they hold after the work ends.
"""

from __future__ import annotations

from collections import OrderedDict


class WorkerCache:
    """The values of the ``keys`` most recently used keys (a run, a run's epoch, a model), one
    dict per key; using another key drops the least recently used one's values."""

    def __init__(self, keys: int = 1) -> None:
        self.keys = keys
        self.held: OrderedDict[object, dict] = OrderedDict()

    def of(self, key: object) -> dict:
        """The values kept for ``key`` (empty the first time), making room for it first."""
        values = self.held.get(key)
        if values is None:
            while len(self.held) >= self.keys:
                self.held.popitem(last=False)
            values = self.held[key] = {}
        self.held.move_to_end(key)
        return values

    def clear(self) -> None:
        self.held.clear()
