"""Progress of a run, phase by phase, from Spark's status tracker.

A phase is what :func:`sparkw2v.session.describe_job` names ("counting", "encoding",
"epoch 3/5", "publish"); it lasts until the next description. Each phase's
Spark jobs carry a job tag of their own, so the tasks of exactly that phase can be
counted with ``sc.statusTracker()``. An epoch of many syncs or sub-epochs is a run of
phases that are each a share of it (``part_of``): they are reported as the epoch's progress
(share done, words/s, ETA), and the 30-second log line counts from the epoch's start, so
an epoch of 128 short phases still logs every 30 seconds.

* On a terminal (the CLI, stderr a tty) a daemon thread redraws one live line twice a
  second: phase, tasks done of those of its stages started, words/s and an ETA.
* Everywhere else (a log file, spark-submit on a cluster, a notebook, the Python API)
  the same goes to the ``sparkw2v`` logger at INFO: one line when a phase ends, and
  one every 30 seconds inside a phase that runs longer.

Phases are process-wide: two trainings running at once in one driver share them.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

log = logging.getLogger("sparkw2v")

#: Seconds between two looks at the status tracker.
POLL_SECONDS = 0.5
#: Seconds between two log lines inside one long phase when there is no live line.
HEARTBEAT_SECONDS = 30.0
TAG_PREFIX = "sparkw2v-phase-"


@dataclass
class Phase:
    label: str
    tag: str
    words: int | None
    started: float
    expected_tasks: int | None = None  # when known: jobs over a long lineage list skipped stages too
    collect_tasks: int = 0  # the last of those tasks only bring results to the driver (no ETA from them)
    tasks: int = 0
    done: int = 0
    running: int = 0
    last_log: float = field(default=0.0)
    #: The phase is ``share`` of the phase ``whole`` (an epoch), which started at ``whole_started``
    #: and had ``before`` of it done when this phase began.
    whole: str | None = None
    share: float = 0.0
    before: float = 0.0
    whole_started: float = 0.0
    #: The exception being handled where the phase began (a ``fit`` inside an ``except``), if any.
    error_before: BaseException | None = None

    def status(self, now: float, previous_seconds: float | None) -> str:
        """``epoch 2/5: 3/8 tasks, 310K words/s, ETA 12s`` (the parts known so far); for a share of
        an epoch ``epoch 2/5: 46%, 4m10s, 310K words/s, ETA 4m51s (sub-epoch 60/128: 2/3 tasks)``."""
        elapsed = now - self.started
        # A task reports only when it ends: until then an epoch's few long tasks show as running.
        tasks = f"{self.done}/{self.tasks} tasks" if self.done else f"{self.running} of {self.tasks} tasks running"
        working = self.tasks - self.collect_tasks if self.tasks > self.collect_tasks else self.tasks
        fraction = min(self.done / working, 1.0) if working else 0.0
        if self.whole is not None:
            return self._whole_status(now, tasks if self.tasks else "starting", fraction)
        parts = [tasks if self.tasks else "starting", format_seconds(elapsed)]
        if self.words and fraction > 0:
            parts.append(f"{format_count(self.words * fraction / max(elapsed, 1e-9))} words/s")
        if working < self.tasks and fraction == 1 and self.done < self.tasks:
            parts.append("collecting the results")
        elif 0 < fraction < 1:
            parts.append("ETA " + format_seconds(elapsed / fraction - elapsed))
        elif fraction == 0 and previous_seconds and previous_seconds > elapsed:
            parts.append("ETA ~" + format_seconds(previous_seconds - elapsed))  # as long as the last one
        return f"{self.label}: " + ", ".join(parts)

    def _whole_status(self, now: float, tasks: str, fraction: float) -> str:
        done = self.before + self.share * fraction
        elapsed = now - self.whole_started
        parts = [f"{done:.0%}", format_seconds(elapsed)]
        if self.words and self.share and done > 0:
            parts.append(f"{format_count(self.words / self.share * done / max(elapsed, 1e-9))} words/s")
        if 0 < done < 1:
            parts.append("ETA " + format_seconds(elapsed / done - elapsed))
        own = self.label[len(self.whole):].strip() if self.label.startswith(self.whole) else self.label
        return f"{self.whole}: " + ", ".join(parts) + f" ({own}: {tasks})"


class Tracker:
    """The current phase of this driver and the thread that reports on it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()  # the log filter clears the line from inside _run
        self._phase: Phase | None = None
        self._sc = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._shown = 0  # width of the live line on screen (0: none)
        self._previous: dict[str, float] = {}  # seconds of the last phase by label without numbers (epochs' ETA)
        self.live = False
        self.stream: TextIO = sys.stderr
        self._warned_idle = False  # said once that no executor has joined (or one has: nothing to say)

    def configure(self, live: bool, stream: TextIO | None = None) -> None:
        """``live``: redraw a status line on ``stream`` (the CLI on a terminal); else log only."""
        self.live = live
        self.stream = stream or sys.stderr

    def begin(self, sc, label: str | None, words: int | None = None, tasks: int | None = None,
              part_of: tuple[str, float] | None = None, collect_tasks: int = 0) -> None:
        """End the current phase and start ``label`` (``None``: no phase) with the jobs that follow
        (``tasks``: how many they run, if known, the last ``collect_tasks`` of them only bringing
        results to the driver; ``part_of``: the phase is this share of a whole, such as one sync
        of an epoch, whose phases follow one another)."""
        now = time.monotonic()
        with self._lock:
            ended, self._phase = self._phase, None
            if label is not None:
                phase = Phase(label, f"{TAG_PREFIX}{next(self._ids)}", words, now, tasks, collect_tasks,
                              last_log=now, error_before=sys.exc_info()[1])
                if part_of is not None:
                    phase.whole, phase.share, phase.whole_started = part_of[0], part_of[1], now
                    if ended is not None and ended.whole == phase.whole:  # the same epoch goes on
                        phase.before = ended.before + ended.share
                        phase.whole_started, phase.last_log = ended.whole_started, ended.last_log
                self._phase = phase
            self._sc = sc
        if ended is not None:
            _untag(sc, ended.tag)
            # Ended while an error of its own unwinds (a ``finally`` clears the phase): it did not
            # finish. An error the caller was already handling when the phase began is not its.
            error = sys.exc_info()[1]
            self._finish(ended, now, stopped=error is not None and error is not ended.error_before)
        if self._phase is not None:
            sc.addJobTag(self._phase.tag)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sparkw2v-progress", daemon=True)
                self._thread.start()

    def clear_line(self) -> None:
        """Erase the live line (before a log line is written to the same terminal)."""
        with self._lock:
            if self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0

    # -- inside ------------------------------------------------------------------------------

    def _finish(self, phase: Phase, now: float, stopped: bool = False) -> None:
        try:
            _count_tasks(self._sc, phase)
        except Exception:  # a stopped context: report the time without the tasks
            pass
        seconds = now - phase.started
        self._previous[_shape(phase.label)] = seconds
        self.clear_line()
        parts = [f"{phase.done} tasks" if phase.done else None, format_seconds(seconds),
                 f"{format_count(phase.words / max(seconds, 1e-9))} words/s" if phase.words else None]
        # An epoch has its own line from training (words, words/s, loss, learning rate).
        level = logging.DEBUG if phase.label.startswith("epoch") else logging.INFO
        log.log(level, "%s %s: %s", phase.label, "stopped" if stopped else "done", ", ".join(p for p in parts if p))

    def _run(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            with self._lock:
                phase, sc = self._phase, self._sc
            if phase is None:
                continue
            try:
                _count_tasks(sc, phase)
            except Exception:  # the context stopped (end of the run): nothing left to report
                if getattr(sc, "_jsc", None) is None:
                    return
                continue
            now = time.monotonic()
            if phase.done or phase.running:  # executors came: one leaving later (dynamic allocation) is normal
                self._warned_idle = True
            if not self._warned_idle and phase.tasks > 0 and phase.done == 0 and phase.running == 0 \
                    and now - phase.started >= HEARTBEAT_SECONDS and _no_executor(sc):
                self._warned_idle = True
                self.clear_line()
                log.warning("no executor has joined this application in %s: does a worker offer what it asks for "
                            "(spark.executor.memory=%s, spark.executor.cores=%s)? Spark's word for it is 'Initial "
                            "job has not accepted any resources'; the cluster manager's UI shows why",
                            format_seconds(now - phase.started), sc.getConf().get("spark.executor.memory", "1g"),
                            sc.getConf().get("spark.executor.cores", "all of a worker's"))
            with self._lock:
                if phase is not self._phase:  # ended while we were counting
                    continue
                line = phase.status(now, self._previous.get(_shape(phase.label)))
                if self.live:
                    self._draw(line)
                elif now - phase.last_log >= HEARTBEAT_SECONDS:
                    phase.last_log = now
                    log.info("%s", line)

    def _draw(self, line: str) -> None:
        width = 119
        line = line[:width]
        self.stream.write("\r" + line + " " * max(0, self._shown - len(line)))
        self.stream.flush()
        self._shown = len(line)


def _shape(label: str) -> str:
    """``epoch 3/5`` -> ``epoch #/#``: phases of one shape take about as long as each other."""
    return re.sub(r"\d+", "#", label)


def _no_executor(sc) -> bool:
    """Whether a cluster application has no executor yet (a local master is its own executor)."""
    try:
        return not sc.master.startswith("local") and sc._jsc.sc().getExecutorMemoryStatus().size() <= 1
    except Exception:  # a stopped context
        return False


def _untag(sc, tag: str) -> None:
    try:
        sc.removeJobTag(tag)
    except Exception:  # a stopped context has no tags to remove
        pass


def _count_tasks(sc, phase: Phase) -> None:
    """Tasks of the phase's stages that were submitted: a running job also lists stages still to
    come and stages it will skip (their results are there already), and only the former ever run,
    so a stage counts from its submission and the count only grows."""
    tracker = sc._jsc.statusTracker()
    total = done = running = 0
    for job_id in sc._jsc.sc().statusTracker().getJobIdsForTag(phase.tag):
        job = tracker.getJobInfo(job_id)
        for stage_id in (job.stageIds() if job is not None else ()):
            stage = tracker.getStageInfo(stage_id)
            if stage is None or stage.submissionTime() <= 0:
                continue
            total += stage.numTasks()
            done += stage.numCompletedTasks()
            running += stage.numActiveTasks()
    phase.tasks, phase.done = phase.expected_tasks or max(phase.tasks, total), max(phase.done, done)
    phase.running = running


def format_seconds(seconds: float) -> str:
    """``4.2s``, ``3m05s``, ``2h03m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def format_count(value: float) -> str:
    """``950``, ``12.3K``, ``1.25M``."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e4:
        return f"{value / 1e3:.0f}K"
    if value >= 1e3:
        return f"{value / 1e3:.1f}K"
    return f"{value:.0f}"


class _ClearLiveLine(logging.Filter):
    """Erases the live line before a ``sparkw2v`` record is written, so lines never mix."""

    def filter(self, record: logging.LogRecord) -> bool:
        TRACKER.clear_line()
        return True


TRACKER = Tracker()
log.addFilter(_ClearLiveLine())


def configure(live: bool, stream: TextIO | None = None) -> None:
    """Show a live line on ``stream`` (default stderr) when ``live``; otherwise log phases only."""
    TRACKER.configure(live, stream)


def begin(sc, label: str | None, words: int | None = None, tasks: int | None = None,
          part_of: tuple[str, float] | None = None, collect_tasks: int = 0) -> None:
    """Start the phase ``label`` (see :func:`sparkw2v.session.describe_job`)."""
    TRACKER.begin(sc, label, words, tasks, part_of, collect_tasks)
