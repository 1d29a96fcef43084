"""A process and its descendants, read from Linux /proc: what the benchmarks sum over
(the driver, its JVM, Spark's Python workers)."""

from __future__ import annotations

import os


def tree_sum(pid: int, value) -> float:
    """``value(stat_fields)`` summed over ``pid`` and all its descendants, where ``stat_fields``
    are the fields of ``/proc/PID/stat`` after the command name (processes that vanish while
    being read count as 0)."""
    children: dict[int, list[int]] = {}
    values: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            values[int(entry)] = value(fields)
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        total += values.get(p, 0.0)
        stack.extend(children.get(p, []))
    return total


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    page = os.sysconf("SC_PAGE_SIZE")
    return int(tree_sum(pid, lambda f: int(f[21]) * page))


def tree_cpu(pid: int | None = None) -> float:
    """CPU seconds used so far by ``pid`` (default: this process) and all its descendants: less
    disturbed than wall time by other users' load on a shared machine."""
    tick = os.sysconf("SC_CLK_TCK")
    return tree_sum(pid or os.getpid(), lambda f: (int(f[11]) + int(f[12])) / tick)
