"""Direct exchange: the tasks of one barrier stage send each other raw buffers over TCP.

Stratified training hands every output block to the task that trains against it next after
each sub-epoch. Through a Spark shuffle that costs a stage per sub-epoch and about 6 ns per
byte moved (BENCHMARKS.md, "Cost of a sync and projected scaling"). When every task of an
epoch can run at once (a task slot per shard, the cluster case), a group of sub-epochs runs
as one barrier stage (``RDD.barrier()``), whose tasks all run together: each task listens on
a TCP port on its executor's host, the tasks learn each other's addresses from a small
server on the driver (:class:`Rendezvous`; Spark's own ``allGather`` takes about a second per
call), and blocks go straight from task to task.

Spark retries a barrier stage as a whole, from the same inputs, so a retried stage gives the
same result. Every connection starts with the stage's random token (made on the driver and
sent with the tasks); a connection that does not is closed unread. A task that cannot connect
to another or to the driver, or cannot listen at its executor's address, raises
:class:`UnreachableError` (a firewall between executors, or NAT):
under ``block_exchange = "auto"`` the driver then trains with a shuffle per sub-epoch instead
(``training._stratified_epoch``). A connection to another task that gets no answer (a firewall
that drops packets) takes :data:`CONNECT_TIMEOUT` to fail, and Spark tries a failed barrier stage
four times: under ``auto`` the task reports it to the driver's :class:`Rendezvous`, which then
fails the stage's next attempts on the same two hosts at once, with the same error.

A lost executor that is not replaced leaves fewer task slots than a barrier stage's tasks: Spark
then waits for them without limit when it retries the stage, and :class:`SlotWatch` ends that wait
after as long as Spark itself waits for a new job's slots, with :class:`TooFewSlotsError`, which
``auto`` answers as it answers :class:`UnreachableError`.

Driver side: :func:`unavailable_reason`, :class:`SlotWatch` and :class:`Rendezvous`. Executor side:
:class:`Peers`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from .errors import TOO_FEW_SLOTS

log = logging.getLogger("sparkw2v")

#: Seconds a task waits for the blocks of one sub-epoch before giving up. A peer that fails
#: ends the stage sooner (Spark kills its other tasks); this bounds a peer that hangs.
RECEIVE_TIMEOUT = 3600.0
#: Seconds a task waits for the other tasks of its stage to register with the rendezvous.
#: Spark starts a barrier stage's tasks together, so they register within moments of each
#: other; this bounds the wait of a task whose stage attempt has already failed.
MEET_TIMEOUT = 600.0
#: Seconds a task waits for a connection to another task or to the driver to be accepted. A
#: listening socket accepts at once, in its host's kernel; no answer means a firewall drops
#: the connection.
CONNECT_TIMEOUT = 30.0
#: Bytes of the token every connection starts with.
TOKEN_BYTES = 16
#: The partition a task sends to the :class:`Rendezvous` in place of its own to report a connection
#: that timed out, and the count the rendezvous answers a registration with to pass that report on.
_REPORT = -1
_REPORTED = 0xFFFFFFFF
#: Seconds a task spends reporting a connection that timed out (a report that cannot be made is dropped).
REPORT_TIMEOUT = 5.0
# A message: tag, sender, two ints of the caller's, number of parts; then each part's length;
# then the parts.
_FRAME = "<qiqqI"
_LENGTH = "<Q"


#: What to do when tasks cannot reach each other.
UNREACHABLE = ("where executors cannot reach each other (and the driver) on ephemeral TCP ports, train with "
               "--block-exchange shuffle (block_exchange = 'shuffle')")


class ExchangeError(RuntimeError):
    """Direct hand-overs failed: a block did not arrive (a peer closed its connection mid-message,
    or the wait timed out), or the tasks of a stage did not meet."""


class UnreachableError(ExchangeError):
    """A task could not connect to another task of its stage or to the driver's :class:`Rendezvous`:
    refused, no route, a name that does not resolve, or no answer within :data:`CONNECT_TIMEOUT`;
    or could not listen at the address Spark gives its executor (one its host does not own, behind
    NAT or in a container), where no task could connect to it. Its message reads ``task N could not
    reach WHAT at HOST:PORT (CAUSE); HINT`` (``task N could not listen at HOST (CAUSE): ...; HINT``):
    in a failed Spark job's text, :func:`sparkw2v.errors.unreachable_cause` finds it by its class name.
    ``timed_out``: no answer within the timeout, rather than a refusal."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Message:
    """One message received: its ``tag``, the ``sender``'s partition, the sender's two ints
    (``info``) and its raw ``parts``."""

    tag: int
    sender: int
    info: tuple[int, int]
    parts: tuple[bytearray, ...]


# -- driver ---------------------------------------------------------------------------------------

def task_slots(sc) -> int | None:
    """Tasks the session can run at once now (Spark's own count, as its barrier scheduling
    checks it: 0 with no executor); None if Spark does not say."""
    try:
        jsc = sc._jsc.sc()
        return int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))
    except Exception:  # noqa: BLE001 - a Spark without this method: treat as unknown
        return None


def unavailable_reason(sc, tasks: int) -> str | None:
    """Why ``tasks`` tasks cannot run as one barrier stage in this session, or None if they can."""
    reason = refusing_setting(sc)
    if reason is not None:
        return reason
    failed = _UNREACHED.get(sc.applicationId)
    if failed is not None:
        return f"tasks of this Spark application could not connect earlier ({failed})"
    slots = task_slots(sc) or 0   # unknown: as none
    if slots < tasks:
        return f"{tasks} tasks must run at once and the session has {slots} task slots"
    try:
        rendezvous(sc)
    except OSError as exc:
        return f"the driver cannot listen for the tasks' addresses ({exc})"
    return None


def refusing_setting(sc) -> str | None:
    """The Spark setting that rules the direct exchange out whatever the cluster (dynamic
    allocation, encryption), said as :func:`unavailable_reason` says it, or None."""
    conf = sc.getConf()
    if conf.get("spark.dynamicAllocation.enabled", "false").strip().lower() == "true":
        return "Spark's dynamic allocation is on (spark.dynamicAllocation.enabled), which barrier stages refuse"
    encrypted = [key for key in ENCRYPTION_SETTINGS if conf.get(key, "false").strip().lower() == "true"]
    if encrypted:
        return f"Spark encrypts its traffic ({', '.join(encrypted)}) and direct hand-overs would not"
    return None


class TooFewSlotsError(ExchangeError):
    """The cluster kept fewer task slots than the tasks of a barrier stage for longer than Spark
    waits for them (an executor lost and not replaced), so the stage could not run again; raised
    on the driver by :class:`SlotWatch`. Its message holds :data:`~sparkw2v.errors.TOO_FEW_SLOTS`, by which
    :func:`sparkw2v.errors.too_few_slots_cause` finds it (as Spark's own refusal of such a stage)."""


#: Seconds of too few task slots after which :class:`SlotWatch` says, once, that it waits for them.
NOTICE_AFTER = 30.0


def barrier_wait(sc) -> float:
    """Seconds Spark waits for enough task slots before it refuses a job with a barrier stage
    (``spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures`` x ``.interval``, 40 x 15 s by
    default): how long :class:`SlotWatch` waits too."""
    conf = sc._jsc.sc().conf()
    key = "spark.scheduler.barrier.maxConcurrentTasksCheck."
    return float(conf.getInt(key + "maxFailures", 40)) * float(conf.getTimeAsSeconds(key + "interval", "15s"))


class SlotWatch:
    """Cancels the Spark jobs of a barrier epoch once the cluster has had fewer task slots than its
    ``tasks`` for ``grace`` seconds (default :func:`barrier_wait`).

    Spark refuses a new job whose barrier stage needs more slots than the cluster has only after
    that wait, but a barrier stage retried within a running job (a lost executor's tasks run
    again) waits for the slots without limit. The watch polls :func:`task_slots` from a thread of
    its own (after :data:`NOTICE_AFTER` seconds short it logs, once, why the epoch stands still);
    its jobs are those the starting thread submits until :meth:`stop` (a Spark job tag).
    After a cancellation :attr:`starved` says why (:func:`slots_watched` raises it as
    :class:`TooFewSlotsError`)."""

    def __init__(self, sc, tasks: int, grace: float | None = None, poll: float = 5.0) -> None:
        self.sc, self.tasks, self.poll = sc, tasks, poll
        self.grace = barrier_wait(sc) if grace is None else grace
        self.tag = f"sparkw2v-barrier-{id(self):x}-{time.monotonic_ns()}"
        self.starved: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sparkw2v-slot-watch", daemon=True)

    def start(self) -> "SlotWatch":
        """Tag the calling thread's jobs from now on, and start watching."""
        self.sc.addJobTag(self.tag)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and tagging (safe to call whether or not :meth:`start` ran or finished)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sc.removeJobTag(self.tag)

    def __enter__(self) -> "SlotWatch":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _watch(self) -> None:
        short_since, noticed = None, False
        while not self._stop.wait(self.poll):
            slots = task_slots(self.sc)
            if slots is None or slots >= self.tasks:   # Spark does not say, or enough
                if noticed:
                    log.info("the cluster has a task slot for each of the %d stratified tasks again", self.tasks)
                short_since, noticed = None, False
                continue
            now = time.monotonic()
            short_since = now if short_since is None else short_since
            if not noticed and NOTICE_AFTER <= now - short_since < self.grace:   # say why the epoch stands still
                noticed = True
                log.warning("the cluster has %d task slot%s for the %d stratified tasks that hand blocks to each other "
                            "(an executor lost?): waiting up to %.0f s in all for a replacement "
                            "(spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures x .interval)",
                            slots, "" if slots == 1 else "s", self.tasks, self.grace)
            if self.starved is None and now - short_since >= self.grace:
                self.starved = (f"the cluster had {TOO_FEW_SLOTS} ({slots} slot{'' if slots == 1 else 's'} for "
                                f"{self.tasks} tasks for {now - short_since:.0f} s: an executor lost and not replaced)")
            if self.starved is not None:   # again at every poll: a job submitted since is cancelled too
                self.sc.cancelJobsWithTag(self.tag)


@contextlib.contextmanager
def slots_watched(sc, tasks: int, on: bool = True) -> Iterator[SlotWatch | None]:
    """Jobs the calling thread submits inside, watched by a :class:`SlotWatch` (if ``on``): an error
    they end in after the watch cancelled them is raised as :class:`TooFewSlotsError`."""
    if not on:
        yield None
        return
    watch = SlotWatch(sc, tasks).start()
    try:
        yield watch
    except Exception as exc:
        if watch.starved:
            raise TooFewSlotsError(watch.starved) from exc
        raise
    finally:
        try:
            watch.stop()
        except Exception:   # noqa: BLE001 - the JVM gone: the error that stopped the work is the one to report
            pass


def remember_unreachable(sc, cause: str) -> None:
    """Record that direct hand-overs of this Spark application failed to connect (``cause``):
    :func:`unavailable_reason` then says so, and later runs in the same session (a stream's
    batches, another ``fit``) use the shuffle from the start instead of failing a stage first."""
    _UNREACHED[sc.applicationId] = cause


_UNREACHED: dict[str, str] = {}

#: Settings that encrypt Spark's own traffic: with one on, blocks are not sent directly in the clear.
ENCRYPTION_SETTINGS = ("spark.network.crypto.enabled", "spark.io.encryption.enabled", "spark.ssl.enabled")

_RENDEZVOUS: dict[tuple[str, str], "Rendezvous"] = {}


def rendezvous(sc) -> "Rendezvous":
    """This driver's :class:`Rendezvous` (one per driver address), started on first use."""
    conf = sc.getConf()
    host = conf.get("spark.driver.host") or socket.gethostname()
    bind = conf.get("spark.driver.bindAddress") or host
    found = _RENDEZVOUS.get((host, bind))
    if found is None:
        found = _RENDEZVOUS[(host, bind)] = Rendezvous(host, bind)
    return found


class Rendezvous:
    """A server on the driver that tells the tasks of a barrier stage each other's addresses.

    :meth:`expect` names a stage's token and its number of tasks; each task connects, sends the
    token, its partition and its address, and once every partition has a live registration, each
    gets the list of addresses in partition order. Connections with another token are closed. A
    task of a retried stage replaces its partition's earlier registration, and a registration
    whose task has gone (its connection closed) is dropped before anyone is answered. Each answer
    carries the meeting's number (1, 2, ... per token). For a stage expected with ``fail_fast``, a
    task's report that its connection to another task timed out is kept with its meeting's number
    and the two tasks' hosts; the next meeting of that token, if its tasks are on both hosts, is
    answered with the report instead of the addresses: its tasks raise the same
    :class:`UnreachableError` at once, so Spark's retries of the stage fail in moments, not after a
    timeout each (and that meeting passes the report on to the one after). A meeting on other hosts
    (an executor lost with its host, and replaced elsewhere), and any later one, meets as usual.
    """

    def __init__(self, host: str, bind: str) -> None:
        self._server = _listen(bind)
        self.address = (host, self._server.getsockname()[1])
        self._tasks: dict[bytes, int] = {}
        self._fail_fast: set[bytes] = set()
        self._meetings: dict[bytes, int] = {}   # groups answered so far, per token
        self._reported: dict[bytes, list[tuple[int, str, str, bytes]]] = {}   # (meeting, host, peer's host, error)
        self._waiting: dict[bytes, dict[int, tuple[socket.socket, bytes]]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="sparkw2v-rendezvous", daemon=True).start()

    def expect(self, token: bytes, tasks: int, fail_fast: bool = False) -> None:
        """Tasks with ``token`` may meet, ``tasks`` of them per stage attempt; with ``fail_fast``,
        after a task reports a connection to another that timed out, a later attempt meeting on
        the same two hosts fails at once."""
        with self._lock:
            self._tasks[token] = tasks
            if fail_fast:
                self._fail_fast.add(token)

    def forget(self, tokens) -> None:
        """``tokens``' stages will not run again (their results are no longer needed)."""
        with self._lock:
            for token in tokens:
                self._tasks.pop(token, None)
                self._fail_fast.discard(token)
                self._meetings.pop(token, None)
                self._reported.pop(token, None)
                for sock, _ in self._waiting.pop(token, {}).values():
                    sock.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._register, args=(sock,), name="sparkw2v-rendezvous-task",
                             daemon=True).start()

    def _register(self, sock: socket.socket) -> None:
        try:
            sock.settimeout(60.0)   # a task sends its registration at once
            token = bytes(_read_exactly(sock, TOKEN_BYTES))
            index, size = struct.unpack("<iI", _read_exactly(sock, 8))
            address = bytes(_read_exactly(sock, size)) if size < 4096 else b""
        except (OSError, EOFError):
            sock.close()
            return
        with self._lock:
            tasks = self._tasks.get(token)
            if tasks is not None and index == _REPORT and token in self._fail_fast:
                fields = address.split(b"\n", 3)   # meeting, host, peer's host, error
                if len(fields) == 4 and fields[0].isdigit() and len(self._reported.setdefault(token, [])) < 64:
                    self._reported[token].append((int(fields[0]), fields[1].decode(errors="replace"),
                                                  fields[2].decode(errors="replace"), fields[3]))
                sock.close()
                return
            if tasks is None or not 0 <= index < tasks or not address:
                sock.close()
                return
            group = self._waiting.setdefault(token, {})
            if index in group:
                group[index][0].close()
            group[index] = (sock, address)
            if len(group) < tasks:
                return
            # A task sends nothing after registering: a readable connection has closed.
            gone = [i for i, (member, _) in group.items() if select.select([member], [], [], 0)[0]]
            for i in gone:
                group.pop(i)[0].close()
            if gone:
                return
            del self._waiting[token]
            number = self._meetings[token] = self._meetings.get(token, 0) + 1
            hosts = {group[i][1].decode(errors="replace").rsplit(":", 1)[0] for i in group}
            report = next((r for r in self._reported.get(token, ())
                           if r[0] == number - 1 and r[1] in hosts and r[2] in hosts), None)
            if report is not None:   # the previous attempt, on these hosts, could not connect: fail as it did
                self._reported[token].append((number, *report[1:]))   # and so will the next one here
        if report is not None:
            reply = struct.pack("<II", _REPORTED, len(report[3])) + report[3]
        else:
            reply = struct.pack("<II", tasks, number) + b"".join(struct.pack("<I", len(group[i][1])) + group[i][1]
                                                                 for i in range(tasks))
        for member, _ in group.values():
            try:
                member.sendall(reply)
            except OSError:
                pass
            member.close()


# -- executors ------------------------------------------------------------------------------------

class Peers:
    """This task's end of the exchange, for the tasks of the running barrier stage.

    ``send(dest, tag, info, parts)`` sends buffers to task ``dest``; ``receive(tag, count)``
    waits for ``count`` messages tagged ``tag`` and returns them in sender order. Opening it
    waits for every task of the stage to register its address with the driver's
    :class:`Rendezvous` at ``where``; use it as a context manager, so its sockets and threads
    end with the task.
    """

    def __init__(self, where: tuple[str, int], token: bytes, index: int | None = None, host: str | None = None,
                 timeout: float = RECEIVE_TIMEOUT) -> None:
        if index is None:   # this task's partition and executor host (tests give their own)
            from pyspark import BarrierTaskContext

            context = BarrierTaskContext.get()
            index = context.partitionId()
            host = context.getTaskInfos()[index].address.rsplit(":", 1)[0]
        self.index = index
        self.token = token
        self.timeout = timeout
        self._where, self._host = where, host
        try:
            self._server = _listen(host)
        except OSError as exc:
            if not _foreign_address(exc):   # out of file descriptors, say: the task's own failure
                raise
            raise UnreachableError(f"task {index} could not listen at {host} ({exc or type(exc).__name__}): other "
                                   f"tasks could not connect to it there; {UNREACHABLE}") from None
        self._inbox: dict[int, list[Message]] = {}
        self._failure: str | None = None
        self._arrived = threading.Condition()
        self._inbound: list[socket.socket] = []
        self._outbound: dict[int, socket.socket] = {}
        threading.Thread(target=self._accept, name="sparkw2v-exchange-accept", daemon=True).start()
        try:
            met = _meet(where, token, self.index, f"{host}:{self._server.getsockname()[1]}",
                        min(timeout, MEET_TIMEOUT))
        except OSError as exc:   # connected, then no answer (tasks that never came) or a broken connection;
            # a connection not made is _meet's UnreachableError, which goes on as it is
            self.close()
            raise ExchangeError(f"task {self.index} could not meet its stage's other tasks through the driver at "
                                f"{where[0]}:{where[1]} ({exc or type(exc).__name__}); {UNREACHABLE}") from None
        except EOFError:   # the rendezvous closed the registration unanswered: a token it does not expect
            self.close()
            raise ExchangeError(f"task {self.index} was turned away by the driver at {where[0]}:{where[1]}: its stage "
                                "attempt is no longer expected (a retried, cancelled or finished stage, or another "
                                "application's token)") from None
        except BaseException:
            self.close()
            raise
        met, self._meeting = met
        self.addresses = [a.rsplit(":", 1) for a in met]

    def __enter__(self) -> "Peers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, dest: int, tag: int, info: tuple[int, int], parts) -> None:
        """Send the bytes-like ``parts`` to task ``dest`` as one message."""
        sock = self._outbound.get(dest)
        if sock is None:
            host, port = self.addresses[dest]
            try:
                sock = _connect((_bare(host), int(port)), min(self.timeout, CONNECT_TIMEOUT), self.index,
                                f"task {dest}")
            except UnreachableError as exc:
                if exc.timed_out:   # the stage's later attempts would each wait as long: the driver tells them
                    _report(self._where, self.token, self._meeting, self._host, host, str(exc))
                raise
            sock.settimeout(self.timeout)
            sock.sendall(self.token)
            self._outbound[dest] = sock
        # As bytes; an empty part (an array with a zero in its shape cannot be cast) as no bytes.
        views = [memoryview(part).cast("B") if memoryview(part).nbytes else memoryview(b"") for part in parts]
        sock.sendall(struct.pack(_FRAME, tag, self.index, info[0], info[1], len(views))
                     + b"".join(struct.pack(_LENGTH, view.nbytes) for view in views))
        for view in views:
            sock.sendall(view)

    def receive(self, tag: int, count: int) -> list[Message]:
        """The ``count`` messages tagged ``tag``, in sender order, once all have arrived."""
        deadline = time.monotonic() + self.timeout
        with self._arrived:
            while len(self._inbox.get(tag, ())) < count:
                if self._failure is not None:
                    raise ExchangeError(f"task {self.index}: {self._failure}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ExchangeError(
                        f"task {self.index}: {len(self._inbox.get(tag, ()))} of the {count} blocks of "
                        f"sub-epoch {tag} arrived within {self.timeout:g} s")
                self._arrived.wait(min(left, 1.0))
            return sorted(self._inbox.pop(tag), key=lambda message: message.sender)

    def close(self) -> None:
        """Close every socket; the threads reading them end."""
        for sock in [self._server, *self._outbound.values(), *self._inbound]:
            try:   # shutdown first: close alone does not wake a thread blocked on the socket
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._outbound.clear()

    # -- threads --

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._server.accept()
            except OSError:   # closed
                return
            self._inbound.append(sock)
            threading.Thread(target=self._read, args=(sock,), name="sparkw2v-exchange-read", daemon=True).start()

    def _read(self, sock: socket.socket) -> None:
        try:
            if _read_exactly(sock, TOKEN_BYTES) != self.token:
                sock.close()
                return
            header_size, length_size = struct.calcsize(_FRAME), struct.calcsize(_LENGTH)
            while True:
                header = _read_exactly(sock, header_size, eof_ok=True)
                if header is None:   # the sender is done
                    return
                tag, sender, a, b, n = struct.unpack(_FRAME, header)
                lengths = struct.unpack(f"<{n}Q", _read_exactly(sock, n * length_size)) if n else ()
                parts = tuple(_read_exactly(sock, length) for length in lengths)
                with self._arrived:
                    self._inbox.setdefault(tag, []).append(Message(tag, sender, (a, b), parts))
                    self._arrived.notify_all()
        except (OSError, EOFError) as exc:
            with self._arrived:
                if self._failure is None:
                    self._failure = f"a connection from another task broke in the middle of a block ({exc})"
                self._arrived.notify_all()


def _listen(host: str) -> socket.socket:
    """A listening socket on an ephemeral port of ``host`` (a name or an IPv4 or IPv6 address, which
    Spark writes in brackets)."""
    family = socket.getaddrinfo(_bare(host), 0, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((_bare(host), 0), family=family, backlog=1024)


def _bare(host: str) -> str:
    """``host`` without the brackets of an IPv6 address as Spark writes it (``[::1]``), as sockets take it."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


#: Why a task cannot listen at an address: its host does not own it (NAT, a container that advertises its
#: host's address), or the host has no such address family (IPv6 turned off).
_FOREIGN = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


def _foreign_address(exc: OSError) -> bool:
    """Whether :func:`_listen` failed because the address is not this host's to listen at (or its
    name does not resolve here), rather than for want of resources."""
    return isinstance(exc, socket.gaierror) or exc.errno in _FOREIGN


def _connect(where: tuple[str, int], timeout: float, index: int, what: str) -> socket.socket:
    """A connection from task ``index`` to ``what`` (another task, or the driver) at ``where``;
    :class:`UnreachableError` if it cannot be made within ``timeout`` seconds."""
    try:
        return socket.create_connection(where, timeout=timeout)
    except OSError as exc:
        raise UnreachableError(f"task {index} could not reach {what} at {where[0]}:{where[1]} "
                               f"({exc or type(exc).__name__}); {UNREACHABLE}",
                               timed_out=isinstance(exc, TimeoutError)) from None


def _report(where: tuple[str, int], token: bytes, meeting: int, host: str, peer: str, message: str) -> None:
    """Tell the driver's :class:`Rendezvous` at ``where`` that in meeting ``meeting`` of this stage
    a task on ``host`` could not reach one on ``peer`` (``message``: the :class:`UnreachableError`'s
    text); nothing if the report cannot be made."""
    encoded = (f"{meeting}\n{host}\n{peer}\n".encode() + message.encode())[:4095]
    try:
        with socket.create_connection(where, timeout=REPORT_TIMEOUT) as sock:
            sock.sendall(token + struct.pack("<iI", _REPORT, len(encoded)) + encoded)
    except OSError:
        pass


def _meet(where: tuple[str, int], token: bytes, index: int, address: str,
          timeout: float) -> tuple[list[str], int]:
    """Register this task's ``address`` with the driver's :class:`Rendezvous` at ``where``; every
    task's address, in partition order, once all have registered (within ``timeout`` seconds), and
    the meeting's number. The previous attempt's reported :class:`UnreachableError` is raised here."""
    with _connect(where, min(timeout, CONNECT_TIMEOUT), index, "the driver") as sock:
        sock.settimeout(timeout)
        encoded = address.encode()
        sock.sendall(token + struct.pack("<iI", index, len(encoded)) + encoded)
        # The tasks and the meeting's number; or _REPORTED and the length of the error that follows.
        n, number_or_length = struct.unpack("<II", _read_exactly(sock, 8))
        if n == _REPORTED:   # the previous attempt of this stage could not connect: fail as it did
            raise UnreachableError(bytes(_read_exactly(sock, number_or_length)).decode(errors="replace"),
                                   timed_out=True)
        addresses = []
        for _ in range(n):
            (size,) = struct.unpack("<I", _read_exactly(sock, 4))
            addresses.append(bytes(_read_exactly(sock, size)).decode())
        return addresses, number_or_length


def _read_exactly(sock: socket.socket, size: int, eof_ok: bool = False) -> bytearray | None:
    """``size`` bytes from ``sock``; None at a clean end (``eof_ok``) before the first byte."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            if eof_ok and got == 0:
                return None
            raise EOFError(f"connection closed after {got} of {size} bytes")
        got += n
    return buffer
