"""Direct exchange between the tasks of a barrier stage (:mod:`sparkw2v.exchange`), without Spark:
each task is a thread here, with its own partition index and the loopback address."""

import secrets
import socket
import struct
import threading
import time

import numpy as np
import pytest

from sparkw2v.exchange import TOKEN_BYTES, ExchangeError, Peers, Rendezvous, _meet


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
    assert answers == {"zero": ["a:1", "b:2"], "one": ["a:1", "b:2"]}


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


def test_a_task_that_cannot_reach_another_says_to_hand_blocks_on_by_shuffle(meeting):
    token = secrets.token_bytes(TOKEN_BYTES)
    meeting.expect(token, 1)
    with Peers(meeting.address, token, index=0, host="127.0.0.1") as peers:
        closed = socket.create_server(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()                                  # nothing listens there now
        peers.addresses.append(["127.0.0.1", str(port)])
        with pytest.raises(ExchangeError, match=rf"task 0 could not reach task 1 at 127.0.0.1:{port} .*"
                                                r"--block-exchange shuffle") as raised:
            peers.send(1, 0, (0, 0), (b"x",))
    # As the CLI prints it when a Spark job carries it from a worker: one line.
    from sparkw2v.errors import user_message
    carried = RuntimeError(f"Job aborted ... PythonException: Traceback ...\n  File x\n"
                           f"sparkw2v.exchange.ExchangeError: {raised.value}\n\tat org.apache.spark...")
    assert user_message(carried) == str(raised.value)
