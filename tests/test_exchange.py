"""Direct exchange between the tasks of a barrier stage (:mod:`sparkw2v.exchange`), without Spark:
each task is a thread here, with its own partition index and the loopback address."""

import contextlib
import errno
import functools
import logging
import secrets
import socket
import struct
import threading
import time
import traceback

import numpy as np
import pytest

from sparkw2v import exchange
from sparkw2v.errors import exchange_message, unreachable_cause, user_message
from sparkw2v.exchange import TOKEN_BYTES, ExchangeError, Peers, Rendezvous, UnreachableError, _meet


def _run_tasks(k, body):
    """``body(index)`` in k threads at once; their results in index order (a thread's error re-raised)."""
    results, errors = [None] * k, []

    def run(i):
        try:
            results[i] = body(i)
        except BaseException as exc:   # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(k)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]
    return results


def unreachable_port() -> int:
    """A loopback port nothing listens on (bound, then closed): a connection to it is refused at once."""
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return port


@pytest.fixture
def silent_address():
    """A loopback address that answers no connection: its listening socket's queue is full and
    never accepted from, so a new connection times out, as through a firewall that drops packets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    waiting = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        try:
            sock.connect(server.getsockname())
        except BlockingIOError:
            pass
        waiting.append(sock)
    time.sleep(0.1)
    yield "127.0.0.1:%d" % server.getsockname()[1]
    for sock in (*waiting, server):
        sock.close()


def _carried(exc: BaseException) -> RuntimeError:
    """``exc`` as a failed Spark job carries it from a Python worker: its last line, as Python prints
    it, inside the JVM's text."""
    line = "".join(traceback.format_exception_only(exc)).strip()
    return RuntimeError(f"Job aborted due to stage failure ... org.apache.spark.api.python.PythonException: "
                        f"Traceback (most recent call last):\n  File x\n{line}\n\tat org.apache.spark...")


def _closed(sock) -> bool:
    """Whether the other end closed ``sock`` without sending anything (a reset counts)."""
    try:
        return sock.recv(16) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def meeting():
    return Rendezvous("127.0.0.1", "127.0.0.1")


def test_tasks_hand_buffers_around_a_ring_and_to_several_receivers(meeting):
    k, token = 3, secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, k)
    blocks = [np.random.default_rng(i).normal(size=(700, 33)).astype(np.float32) for i in range(k)]

    def task(i):
        with Peers(meeting.address, token, index=i, host="127.0.0.1") as peers:
            # tag 0: a ring, raw array memory and bytes in one message
            peers.send((i + 1) % k, 0, (7, i), (memoryview(blocks[i]), b"tail%d" % i))
            (ring,) = peers.receive(0, 1)
            # tag 1: everyone sends to task 0 (in whatever order they get there)
            peers.send(0, 1, (i, 0), (bytes([i]) * (i + 1),))
            gathered = peers.receive(1, k) if i == 0 else []
            return ring, gathered

    results = _run_tasks(k, task)
    for i, (ring, _) in enumerate(results):
        sender = (i - 1) % k
        assert (ring.tag, ring.sender, ring.info) == (0, sender, (7, sender))
        np.testing.assert_array_equal(np.frombuffer(ring.parts[0], np.float32).reshape(700, 33), blocks[sender])
        assert ring.parts[1] == b"tail%d" % sender
    assert [(m.sender, bytes(m.parts[0])) for m in results[0][1]] == [(i, bytes([i]) * (i + 1)) for i in range(k)]


def test_tasks_on_an_ipv6_host_as_spark_writes_it_hand_buffers_around(meeting):
    """Spark writes an executor's IPv6 address in brackets (``[::1]``); a task listens and connects
    there without them, and its peers parse its registered address (``[::1]:port``) back."""
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 2)

    def task(i):
        with Peers(meeting.address, token, index=i, host="[::1]") as peers:
            peers.send(1 - i, 0, (i, 0), (b"from %d" % i,))
            (message,) = peers.receive(0, 1)
            return bytes(message.parts[0]), peers.addresses[1 - i][0]

    assert _run_tasks(2, task) == [(b"from 1", "[::1]"), (b"from 0", "[::1]")]
    meeting.forget([token])


def test_the_rendezvous_answers_once_every_partition_has_a_live_registration(meeting):
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 2)
    # A task of a failed attempt registered partition 0 and died: its registration is dropped.
    gone = socket.create_connection(meeting.address)
    gone.sendall(token + struct.pack("<iI", 0, 9) + b"dead:9999")
    time.sleep(0.2)
    gone.close()
    time.sleep(0.2)
    answers = {}
    late = threading.Thread(target=lambda: answers.update(one=_meet(meeting.address, token, 1, "b:2", 10)))
    late.start()
    time.sleep(0.5)
    assert late.is_alive()       # partition 0's only registration had gone: no answer yet
    answers["zero"] = _meet(meeting.address, token, 0, "a:1", 10)
    late.join(10)
    assert answers == {"zero": (["a:1", "b:2"], 1), "one": (["a:1", "b:2"], 1)}   # the token's first meeting


def test_a_connection_without_the_token_is_closed_unread(meeting):
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 1)
    with socket.create_connection(meeting.address, timeout=5) as stranger:
        stranger.sendall(secrets.token_bytes(TOKEN_BYTES) + struct.pack("<iI", 0, 3) + b"x:1")
        assert _closed(stranger)             # no addresses given
    with Peers(meeting.address, token, index=0, host="127.0.0.1") as peers:
        host, port = peers.addresses[0]
        with socket.create_connection((host, int(port)), timeout=5) as stranger:
            stranger.sendall(b"\0" * TOKEN_BYTES + struct.pack("<qiqqI", 0, 0, 0, 0, 0))
            assert _closed(stranger)
        peers.send(0, 3, (0, 0), (b"own",))       # a task may send to itself
        assert [bytes(m.parts[0]) for m in peers.receive(3, 1)] == [b"own"]


def test_a_block_cut_short_or_late_is_an_error_naming_the_task_and_sub_epoch(meeting):
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 1)
    with Peers(meeting.address, token, index=0, host="127.0.0.1", timeout=0.3) as peers:
        with pytest.raises(ExchangeError, match=r"task 0: 0 of the 1 blocks of sub-epoch 5 arrived within 0.3 s"):
            peers.receive(5, 1)
        host, port = peers.addresses[0]
        with socket.create_connection((host, int(port))) as broken:   # promises 100 bytes, sends 10
            broken.sendall(token + struct.pack("<qiqqI", 6, 0, 0, 0, 1) + struct.pack("<Q", 100) + b"x" * 10)
        with pytest.raises(ExchangeError, match="task 0: a connection from another task broke in the middle"):
            peers.receive(6, 1)


def test_direct_hand_overs_need_a_slot_per_task_and_no_dynamic_allocation(spark):
    from pyspark import SparkConf

    from sparkw2v.exchange import task_slots, unavailable_reason
    sc = spark.sparkContext
    assert task_slots(sc) == 2                                  # the tests' local[2]
    assert unavailable_reason(sc, 2) is None
    assert unavailable_reason(sc, 3) == "3 tasks must run at once and the session has 2 task slots"

    def with_setting(key):   # a context whose settings turn ``key`` on
        return type("Context", (), {"_jsc": sc._jsc, "getConf": staticmethod(
            lambda: SparkConf(loadDefaults=False).set(key, "true"))})

    assert "dynamic allocation" in unavailable_reason(with_setting("spark.dynamicAllocation.enabled"), 2)
    assert unavailable_reason(with_setting("spark.io.encryption.enabled"), 2) == \
        "Spark encrypts its traffic (spark.io.encryption.enabled) and direct hand-overs would not"


def test_a_slot_watch_cancels_only_its_jobs_once_slots_have_been_short_for_sparks_wait(spark, monkeypatch, caplog):
    """A barrier stage retried within a running job waits for its slots without limit. The watch
    cancels the jobs submitted inside it once the cluster has had fewer slots than tasks for its
    grace period (by default Spark's own wait for a new job's slots), and only those."""
    from py4j.protocol import Py4JJavaError

    from sparkw2v.errors import too_few_slots_cause, too_few_slots_message
    from sparkw2v.exchange import SlotWatch, TooFewSlotsError, barrier_wait
    sc = spark.sparkContext
    assert barrier_wait(sc) == 40 * 15.0                       # Spark's defaults

    def slow(_):
        time.sleep(10)
        return 1

    slots = {"now": 2}
    monkeypatch.setattr(exchange, "task_slots", lambda _sc: slots["now"])
    with SlotWatch(sc, 2, grace=0.3, poll=0.05) as watch:      # enough slots: nothing happens
        assert sc.parallelize(range(2), 2).map(lambda x: x + 1).sum() == 3
    assert watch.starved is None

    slots["now"] = 1
    started = time.monotonic()
    with SlotWatch(sc, 2, grace=0.3, poll=0.05) as watch:
        with pytest.raises(Py4JJavaError) as cancelled:
            sc.parallelize(range(2), 2).map(slow).sum()
    assert 0.3 <= time.monotonic() - started < 10               # cancelled, not waited for
    assert "cancel" in str(cancelled.value).lower()
    assert watch.starved.startswith("the cluster had fewer task slots than the stratified tasks that hand "
                                    "blocks to each other (1 slot for 2 tasks for ")
    error = TooFewSlotsError(watch.starved)
    assert too_few_slots_cause(error) == watch.starved
    assert too_few_slots_message(error).startswith(watch.starved + ", after waiting spark.scheduler.barrier.")
    assert user_message(error) == too_few_slots_message(error)
    # Jobs outside the watch keep running while slots are short; no executor at all is short too,
    # a Spark that does not say is not; and Spark's own refusal of a new barrier job is recognised.
    assert sc.parallelize(range(2), 2).map(lambda x: x + 1).sum() == 3
    # Slots short for a while, then back before the grace period ends: said, and nothing cancelled.
    monkeypatch.setattr(exchange, "NOTICE_AFTER", 0.1)
    slots["now"] = 1
    with caplog.at_level(logging.INFO, logger="sparkw2v"):
        with SlotWatch(sc, 2, grace=30.0, poll=0.02) as watch:
            time.sleep(0.5)
            slots["now"] = 2
            time.sleep(0.2)
    assert watch.starved is None
    assert [r.getMessage() for r in caplog.records] == [
        "the cluster has 1 task slot for the 2 stratified tasks that hand blocks to each other (an executor lost?): "
        "waiting up to 30 s in all for a replacement (spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures x "
        ".interval)", "the cluster has a task slot for each of the 2 stratified tasks again"]

    monkeypatch.setattr(exchange, "SlotWatch", functools.partial(SlotWatch, grace=0.0, poll=0.02))
    for reported, starves in ((None, False), (0, True)):
        slots["now"] = reported
        with pytest.raises(TooFewSlotsError) if starves else contextlib.nullcontext():
            with exchange.slots_watched(sc, 2) as watch:
                sc.parallelize(range(2), 2).map(lambda x: time.sleep(1) or x).sum()
        assert (watch.starved is not None) == starves
    spark_refusal = RuntimeError("An error occurred while calling o1080.parquet.\n: org.apache.spark.scheduler."
                                 "BarrierJobSlotsNumberCheckFailed: [SPARK-24819]: Barrier execution mode does not "
                                 "allow run a barrier stage that requires more slots than the total number of slots")
    assert too_few_slots_cause(spark_refusal).endswith("(an executor lost and not replaced in time)")
    assert too_few_slots_cause(RuntimeError("Job 3 cancelled")) is None


def test_a_task_that_cannot_reach_another_says_to_hand_blocks_on_by_shuffle(meeting):
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 1)
    with Peers(meeting.address, token, index=0, host="127.0.0.1") as peers:
        port = unreachable_port()
        peers.addresses.append(["127.0.0.1", str(port)])
        with pytest.raises(UnreachableError, match=rf"task 0 could not reach task 1 at 127.0.0.1:{port} .*"
                                                   r"--block-exchange shuffle") as raised:
            peers.send(1, 0, (0, 0), (b"x",))
    # As the CLI prints it when a Spark job carries it from a worker: one line.
    carried = _carried(raised.value)
    assert "sparkw2v.exchange.UnreachableError: task 0 could not reach" in str(carried)
    assert user_message(carried) == str(raised.value)
    # What 'auto' names when it falls back to the shuffle: the cause, without the advice.
    assert unreachable_cause(carried) == str(raised.value).split(";")[0]
    assert unreachable_cause(carried).startswith(f"task 0 could not reach task 1 at 127.0.0.1:{port} (")


def test_a_task_that_cannot_listen_at_its_executors_address_is_unreachable(meeting, monkeypatch):
    """The address Spark gives an executor may not be one of its host's own (NAT, a container that
    advertises its host's address, spark.driver.host beside spark.driver.bindAddress): no task could
    connect to a task there, so 'auto' shuffles instead and 'direct' stops with one line, rather
    than the run ending in an OSError's traceback."""
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 1)
    foreign = "198.51.100.7"   # TEST-NET-2: not an address of this host
    with pytest.raises(UnreachableError, match=rf"^task 0 could not listen at {foreign} \(.+\): .*"
                                               r"--block-exchange shuffle") as raised:
        Peers(meeting.address, token, index=0, host=foreign)
    carried = _carried(raised.value)
    assert unreachable_cause(carried) == str(raised.value).split(";")[0]
    assert user_message(carried) == str(raised.value)
    with pytest.raises(UnreachableError, match=r"^task 1 could not listen at no-such-host\.invalid \("):
        Peers(meeting.address, token, index=1, host="no-such-host.invalid")   # a name that does not resolve here
    meeting.forget([token])
    # A task out of resources is its own failure, not the network's: the run stops as before.
    def starved(host):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(exchange, "_listen", starved)
    with pytest.raises(OSError) as starved:
        Peers(meeting.address, token, index=0, host="127.0.0.1")
    assert not isinstance(starved.value, UnreachableError)


def test_a_stage_whose_task_timed_out_connecting_fails_its_retries_at_once(meeting, monkeypatch, silent_address):
    """A connection to another task that gets no answer (a firewall dropping packets) fails after
    CONNECT_TIMEOUT, and Spark tries a failed barrier stage four times. For a stage expected with
    fail_fast ('auto', which then trains with a shuffle), the task reports the timeout to the
    rendezvous, and the next attempt, if its tasks meet on the same two hosts, gets the same
    UnreachableError from it at once, and so on; an attempt on other hosts (the silent peer's host
    lost and replaced) meets as usual, and so do later ones. A refusal is not reported (it fails at
    once anyway), nor is a timeout in a stage expected without fail_fast ('direct': Spark's retries
    go on as before)."""
    monkeypatch.setattr(exchange, "CONNECT_TIMEOUT", 0.2)
    refused = f"127.0.0.1:{unreachable_port()}"
    silent = silent_address

    def meet(token, addresses):   # one attempt's tasks registering these addresses: what each gets
        return _run_tasks(len(addresses), lambda i: _catch(lambda: _meet(meeting.address, token, i, addresses[i], 10)))

    here = ["127.0.0.1:1", "127.0.0.1:2"]
    for fail_fast, address, reported in ((True, silent, True), (True, refused, False), (False, silent, False)):
        token = secrets.token_bytes(TOKEN_BYTES)
        meeting.expect(token, 2, fail_fast=fail_fast)

        def first_attempt(i):   # task 1 registers an address task 0 cannot connect to
            if i == 1:
                return _meet(meeting.address, token, 1, address, 10)
            with Peers(meeting.address, token, index=0, host="127.0.0.1") as peers:
                peers.send(1, 0, (0, 0), (b"block",))

        with pytest.raises(UnreachableError, match=rf"^task 0 could not reach task 1 at {address} \(") as failed:
            _run_tasks(2, first_attempt)
        assert failed.value.timed_out == (address == silent)
        deadline = time.monotonic() + 5   # the report travels on a connection of its own
        while reported and token not in meeting._reported and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        if reported:   # every task of the next attempts on these hosts fails at once, with the first's error
            assert meet(token, here) == [str(failed.value)] * 2
            assert meet(token, here) == [str(failed.value)] * 2
            assert time.monotonic() - started < 2
            assert unreachable_cause(_carried(UnreachableError(str(failed.value)))) == str(failed.value).split(";")[0]
            assert meet(token, ["10.0.0.1:7", "10.0.0.2:7"]) == [(["10.0.0.1:7", "10.0.0.2:7"], 4)] * 2
            assert meet(token, here) == [(here, 5)] * 2   # the attempt before met: no report stands
        else:          # the next attempt meets as the first did
            assert meet(token, here) == [(here, 2)] * 2
        meeting.forget([token])
        assert token not in meeting._reported

    # A report made in a meeting is for the next one only: one that arrives after the next attempt
    # met (a late report) stops nothing; one that arrives while the next attempt's tasks are
    # registering fails them all, those already waiting too.
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 2, fail_fast=True)
    error = f"task 0 could not reach task 1 at 127.0.0.1:2 (timed out); {exchange.UNREACHABLE}"
    assert meet(token, here) == [(here, 1)] * 2 and meet(token, here) == [(here, 2)] * 2
    exchange._report(meeting.address, token, 1, "127.0.0.1", "127.0.0.1", error)   # meeting 1's, late
    time.sleep(0.2)
    assert meet(token, here) == [(here, 3)] * 2
    got = {}
    first = threading.Thread(target=lambda: got.update(zero=_catch(lambda: _meet(meeting.address, token, 0, here[0], 10))))
    first.start()
    time.sleep(0.3)              # task 0 of meeting 4 waits at the rendezvous
    exchange._report(meeting.address, token, 3, "127.0.0.1", "127.0.0.1", error)   # meeting 3's
    time.sleep(0.2)
    got["one"] = _catch(lambda: _meet(meeting.address, token, 1, here[1], 10))
    first.join(10)
    assert got == {"zero": error, "one": error}
    meeting.forget([token])


def _catch(call):
    """``call()``, or the text of the UnreachableError it raised."""
    try:
        return call()
    except UnreachableError as exc:
        return str(exc)


def test_only_a_connection_that_cannot_be_made_counts_as_unreachable(meeting, monkeypatch):
    """What sends 'auto' to the shuffle (errors.unreachable_cause) is an UnreachableError: a task
    that cannot connect to the driver (refused, or no answer within CONNECT_TIMEOUT) or to another
    task. Tasks that connected and then did not meet, a wrong token, a block cut short, a task's
    own error and Spark's own connection failures are not."""
    port = unreachable_port()
    with pytest.raises(UnreachableError, match=rf"^task 2 could not reach the driver at 127.0.0.1:{port} \(.+\); "
                                               r"where executors cannot reach") as refused:
        Peers(("127.0.0.1", port), secrets.token_bytes(TOKEN_BYTES), index=2, host="127.0.0.1")
    assert unreachable_cause(_carried(refused.value)) == str(refused.value).split(";")[0]
    monkeypatch.setattr(exchange, "CONNECT_TIMEOUT", 0.2)
    started = time.monotonic()
    with pytest.raises(UnreachableError, match=r"task 0 could not reach the driver at 192.0.2.1:9 \(") as silent:
        Peers(("192.0.2.1", 9), secrets.token_bytes(TOKEN_BYTES), index=0, host="127.0.0.1")   # TEST-NET-1: no route
    assert time.monotonic() - started < 5 and unreachable_cause(_carried(silent.value))

    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 2)                                         # the other task never comes
    with pytest.raises(ExchangeError, match=r"task 0 could not meet its stage's other tasks through the driver "
                                            r"at .* \(timed out\)") as late:
        Peers(meeting.address, token, index=0, host="127.0.0.1", timeout=0.3)
    assert not isinstance(late.value, UnreachableError)
    assert exchange_message(_carried(late.value)) == str(late.value)   # still one line under 'direct'
    meeting.forget([token])
    with pytest.raises(ExchangeError, match=r"^task 0 was turned away by the driver at .*: its stage attempt is "
                                            r"no longer expected") as stranger:   # a token the driver does not know
        Peers(meeting.address, secrets.token_bytes(TOKEN_BYTES), index=0, host="127.0.0.1", timeout=5)
    cut = ExchangeError("task 1: a connection from another task broke in the middle of a block "
                        "(connection closed after 10 of 100 bytes)")
    own = RuntimeError("SPARKW2V_TEST_FAIL_TASK: failing epoch 1 partition 1 on purpose")
    for other in (late.value, stranger.value, cut, own):
        assert unreachable_cause(_carried(other)) is None, other
    spark_own = RuntimeError("org.apache.spark.shuffle.FetchFailedException: Failed to connect to host/10.0.0.2:7337"
                             "\nCaused by: java.net.ConnectException: Connection refused: task 3 could not reach")
    assert unreachable_cause(spark_own) is None
