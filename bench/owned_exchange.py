"""What the direct exchange of the output-owned layout moves and costs per sub-epoch on 8-128
executor cores (one task per core): CBOW, and skip-gram with ``--owned-rows output``.

    python bench/owned_exchange.py [--vocab 1000000] [--corpus-words 1e9] [--dim 100] \\
        [--cores 8,16,32,64,128] [--network-gbps 10] [--json out.json]
    python bench/owned_exchange.py --count CORPUS --shards K [--min-count 1]   # the model against counted rows
    python bench/owned_exchange.py --make-corpus /tmp/zipf.txt                 # the Zipf text of BENCHMARKS.md

After each sub-epoch (128 an epoch) every task sends each share's task its changes to that
share, and each share's task answers with the rows of its share the asking task reads next: the
words of its next slice of text and its next output block (``executor.rows_read``). Before
session 46 a task received instead every row any task had changed (an all-gather), about the
whole model on a large vocabulary whatever the core count; now a share's task answers only
the asked rows that changed since the asker last had them, so "rows read" below is an upper
bound. This prints, per core count, the rows
and bytes a task receives both ways, and the time they cost against the kernel's time for the
sub-epoch's text, from terms measured here:

* the CBOW kernel's speed on a synthetic Zipf shard over the vocabulary, training the centres of
  one output block of G (words of the slice read per second, for each G projected),
* the CPU time per row of the exchange's own work (the float16 changes unpacked, the shares
  summed, rows copied in and out), timed on NumPy arrays of the vocabulary's width,
* the sockets: a loopback TCP transfer's seconds per byte, timed here; the network:
  ``--network-gbps`` for each task (as the stratified projection of ``sync_cost.py`` assumes),
  every byte a task sends or receives charged once to each.

Expected rows follow a Zipf model (as ``sync_cost.rows_touched``). ``--count`` checks it on a
real corpus: it trains one CBOW epoch of K tasks in one process with the library's task function
(the driver's sums, in partition order) and counts, per task and sub-epoch, the rows every
changed row would be and the rows the exchange answers, next to the model's figures for that
corpus's vocabulary and size.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync_cost import rows_touched, zipf_probabilities, zipf_tokens  # noqa: E402
from sparkw2v import combine, stratified  # noqa: E402
from sparkw2v.config import SHARE_OUTPUT_FROM, TrainConfig  # noqa: E402
from sparkw2v.kernel import KernelParams, train_shard  # noqa: E402
from sparkw2v.sampling import keep_probabilities  # noqa: E402

SUB_EPOCHS = stratified.SUB_EPOCHS


def rows_present(vocab: int, words: float) -> float:
    """Expected distinct words in ``words`` Zipf words (before subsampling): the input rows a task reads."""
    p = zipf_probabilities(vocab)
    return float(vocab - np.exp(words * np.log1p(-p)).sum())


def cbow_speed(vocab: int, dim: int, words: int, blocks: int, seed: int = 0) -> float:
    """CPU words/s of the CBOW kernel training one output block's centres of a Zipf shard."""
    rng = np.random.default_rng(seed)
    counts = np.maximum(1, np.round(zipf_probabilities(vocab) * 1e9)).astype(np.int64)
    tokens = zipf_tokens(rng, vocab, words)
    starts = np.arange(0, words + 1, 20, dtype=np.int64)
    owner = stratified.output_owners(counts, 1e-3, blocks, seed=1, epoch=1)
    mask, table = stratified.owned_negatives(0, counts, owner, 0.75)
    cfg = TrainConfig(sg=False)
    kernel = KernelParams(sg=False, window=cfg.window, negative=cfg.negative, chunk_words=cfg.effective_batch_words,
                          shared_by=1, shared_draws=cfg.negative)
    w_in = ((rng.random((vocab, dim), dtype=np.float32) - 0.5) / dim)
    w_out = np.zeros((vocab, dim), np.float32)
    keep = keep_probabilities(counts, 1e-3)
    started = time.process_time()
    train_shard(w_in, w_out, tokens, starts, keep, table, kernel, 0.025, 0.02, rng, None, mask,
                np.random.default_rng(seed + 1))
    return words / (time.process_time() - started)


def per_row_seconds(dim: int, rows: int = 200_000, tasks: int = 8) -> dict:
    """CPU seconds per row of the exchange's work, on ``rows`` random rows of a 1M-row matrix."""
    rng = np.random.default_rng(0)
    target = np.zeros((1_000_000, dim), np.float32)
    ids = np.sort(rng.choice(target.shape[0], rows, replace=False)).astype(np.int64)
    values = rng.random((rows, dim), dtype=np.float32)
    half = values.astype(np.float16)
    out = {}
    started = time.perf_counter()
    target[ids] = values
    out["copy_in"] = (time.perf_counter() - started) / rows
    started = time.perf_counter()
    sent = target[ids]
    out["copy_out"] = (time.perf_counter() - started) / rows
    started = time.perf_counter()
    half.astype(np.float32)
    out["unpack"] = (time.perf_counter() - started) / rows
    pieces = [(np.sort(rng.choice(ids, rows // tasks, replace=False)), values[:rows // tasks]) for _ in range(tasks)]
    started = time.perf_counter()
    combine.add_in_order(target, pieces)
    out["sum"] = (time.perf_counter() - started) / rows
    del sent
    return out


def socket_seconds_per_byte(size: int = 256 << 20) -> float:
    """Seconds per byte to send a buffer to another process's thread over loopback TCP and receive it
    (the CPU work of :class:`~sparkw2v.exchange.Peers`' sockets, without a network's limit)."""
    import socket
    import threading
    payload = np.random.default_rng(0).integers(0, 255, size, dtype=np.uint8).tobytes()
    server = socket.create_server(("127.0.0.1", 0))
    got = bytearray(size)

    def receive() -> None:
        conn, _ = server.accept()
        view, done = memoryview(got), 0
        while done < size:
            done += conn.recv_into(view[done:], size - done)
        conn.close()

    reader = threading.Thread(target=receive)
    reader.start()
    started = time.perf_counter()
    with socket.create_connection(server.getsockname()) as sock:
        sock.sendall(payload)
        reader.join()
    seconds = time.perf_counter() - started
    server.close()
    return seconds / size


def project(vocab: int, corpus: float, dim: int, cores: list[int], gbps: float, speeds: dict,
            per_row: dict, window: int = 5) -> list[dict]:
    """Per core count K (G output blocks, R = 128 / G rounds): rows a task receives and sends per
    sub-epoch, and their time against the kernel's.

    A task's slice of a round holds ``corpus / (K R)`` words, read in each of the round's G
    sub-epochs to train the centres of one output block; a sub-epoch trains ``corpus / 128``
    centres over all tasks. Input rows changed in a sub-epoch: the words within a reduced window
    of a trained centre (about ``min(window + 1, G)`` positions per centre); output rows changed:
    each block's centres and negatives. Every changed row went to every task before; now a task
    receives the words of its slice changed in the last sub-epoch, and the rows of its next
    output block changed since it last trained it (a round earlier: every sub-epoch trains every
    block), i.e. about 1/G of a sub-epoch's output rows changed."""
    p = zipf_probabilities(vocab)
    kept = p * keep_probabilities(p * 1e9, 1e-3)
    network = gbps * 1e9 / 8
    _, out_changed = rows_touched(vocab, corpus / SUB_EPOCHS)      # all blocks' centres and negatives
    found = []
    for k in cores:
        outs = k // 2 if k >= SHARE_OUTPUT_FROM else k
        rounds = max(1, SUB_EPOCHS // outs)
        slice_words = corpus / k / rounds
        reach = min(window + 1, outs)
        in_changed_p = 1 - np.exp(-reach * corpus / SUB_EPOCHS * kept)   # per word: changed by some task
        in_slice_p = 1 - np.exp(-slice_words * p)                            # per word: in my slice
        in_changed = float(in_changed_p.sum())
        read_in = float(in_slice_p.sum())
        now_in = float((in_slice_p * in_changed_p).sum())
        # A block's rows changed in a round (G sub-epochs of a task's training, all in that block).
        now_out = min(vocab / outs, rows_touched(vocab, outs * corpus / SUB_EPOCHS)[1] / outs)
        own_in = float((1 - np.exp(-reach * corpus / SUB_EPOCHS / k * kept)).sum())
        own_out = min(vocab / outs, rows_touched(vocab, outs * corpus / SUB_EPOCHS / k)[1] / outs)
        row_bytes = dim * 4 + 8
        sent_changes = (own_in + own_out) * row_bytes      # reduce-scatter: each task's changes, once
        asks = (read_in + vocab / outs) * 12               # ids and syncs of the rows read next
        cpu_changes = (own_in + own_out) * (per_row["unpack"] + per_row["sum"])
        kernel_s = slice_words / speeds[outs]
        row: dict = {"cores": k, "output_blocks": outs, "rounds": rounds, "slice_words": slice_words,
               "kernel_s": kernel_s, "rows_sent": own_in + own_out, "rows_read": read_in + vocab / outs,
               "rows_before": in_changed + out_changed, "rows_now": now_in + now_out,
               "rows_sent_in": own_in, "rows_sent_out": own_out, "rows_now_in": now_in, "rows_now_out": now_out}
        ideal_s = corpus / k / SUB_EPOCHS / speeds[1]     # the task's centres, by the plain kernel
        row["ideal_s"] = ideal_s
        for name, rows, extra in (("before", in_changed + out_changed, 0.0), ("now", now_in + now_out, asks)):
            received = rows * row_bytes
            # Bytes a task sends and receives (its changes, the asks and answers, each way about
            # as much as the other), each through its socket and the network.
            seconds = ((sent_changes + received + extra) * 2 * (1 / network + per_row.get("socket_per_byte", 0.0))
                       + cpu_changes + rows * (per_row["copy_in"] + per_row["copy_out"]))
            row[f"mb_{name}"] = received / 1e6
            row[f"exchange_s_{name}"] = seconds
            row[f"efficiency_{name}"] = kernel_s / (kernel_s + seconds)
            row[f"of_plain_{name}"] = ideal_s / (kernel_s + seconds)
        found.append(row)
    return found


def write_zipf_text(path: str, vocab: int = 300_000, words: int = 6_000_000, seed: int = 7) -> None:
    """The synthetic corpus of BENCHMARKS.md's runs: ``words`` words drawn from 1/rank over
    ``vocab`` words ("w0" the most frequent), 20 to a line."""
    tokens = zipf_tokens(np.random.default_rng(seed), vocab, words)
    with open(path, "w", encoding="utf-8") as fh:
        for first in range(0, words, 20):
            fh.write(" ".join(f"w{t}" for t in tokens[first:first + 20]) + "\n")


class _Held:
    def __init__(self, value) -> None:
        self.value = value


def count(path: str, shards: int, min_count: int, dim: int = 100, seed: int = 1) -> dict:
    """One CBOW epoch of ``shards`` tasks owning output rows, in one process: per task and sub-epoch,
    the mean rows received as every changed row (an all-gather) and as the exchange answers them."""
    from shards_lab import encode
    from sparkw2v.executor import TrainTask, rows_read, train_partition
    from sparkw2v.shard_records import corpus_order, shard_arrays
    from sparkw2v.training import initial_weights
    vocab, ids, lengths = encode(path, min_count)
    counts = np.asarray(vocab.counts)
    cuts = np.searchsorted(np.cumsum(lengths), np.arange(1, shards) * ids.size / shards)
    bounds = np.concatenate(([0], cuts, [lengths.size]))
    starts = np.concatenate(([0], np.cumsum(lengths)))
    records = [[((p, p, 0), (ids[starts[a]:starts[b]], lengths[a:b]))] for p, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    outs = stratified.output_blocks(shards)
    rounds = stratified.rounds_per_epoch(shards, ids.size, None, outs)
    cfg = TrainConfig(sg=False)
    kernel = KernelParams(sg=False, window=cfg.window, negative=cfg.negative, chunk_words=cfg.effective_batch_words,
                          shared_by=1, shared_draws=cfg.negative)
    w_in, w_out = initial_weights(len(vocab), dim, seed)
    tables = _Held((counts, None))
    owners = _Held(stratified.output_owners(counts, cfg.sample, outs, seed, 0))
    texts = [shard_arrays(sorted(r, key=corpus_order)) for r in records]
    tasks = [TrainTask(kernel=kernel, seed=seed, epoch=0, sync=s, syncs_per_epoch=rounds * outs, alpha_start=0.025,
                       alpha_end=0.025, sample=cfg.sample, ns_exponent=0.75, block_rows=1 << 30, weighted=False,
                       tables_key="count", owned_blocks=outs) for s in range(rounds * outs)]
    changed_at = [np.full(len(vocab), -1), np.full(len(vocab), -1)]
    fresh_at = [np.full((shards, len(vocab)), -1), np.full((shards, len(vocab)), -1)]
    before = read = 0
    now, sent = [0, 0], [0, 0]
    model = _Held((w_in, w_out))
    for step, task in enumerate(tasks):
        shipped = [list(train_partition(p, records[p], task, model, tables, owners)) for p in range(shards)]
        pieces = [combine.shipped_rows(rows, 1 << 30)[1:] for rows in shipped]
        for m, target in enumerate((w_in, w_out)):
            changed = combine.add_in_order(target, [piece[m] for piece in pieces])
            changed_at[m][changed] = step
            before += changed.size * shards
            sent[m] += sum(piece[m][0].size for piece in pieces)
        if step + 1 < len(tasks):
            for p in range(shards):
                for m, rows in enumerate(rows_read(p, *texts[p], tasks[step + 1], tables, owners)):
                    now[m] += int(np.count_nonzero(changed_at[m][rows] > fresh_at[m][p, rows]))
                    read += rows.size
                    fresh_at[m][p, rows] = step
    per = shards * len(tasks)
    return {"corpus": path, "words": int(ids.size), "vocab": len(vocab), "shards": shards, "output_blocks": outs,
            "sub_epochs": len(tasks), "rows_sent": sum(sent) / per, "rows_read": read / per,
            "rows_before": before / per, "rows_now": sum(now) / per, "rows_sent_in": sent[0] / per,
            "rows_sent_out": sent[1] / per, "rows_now_in": now[0] / per, "rows_now_out": now[1] / per}


def report(rows: list[dict], speeds: dict, args) -> str:
    lines = [f"vocabulary {args.vocab:,}, {args.corpus_words:,.0f} words, d = {args.dim}, {SUB_EPOCHS} sub-epochs "
             f"an epoch, {args.network_gbps:g} Gb/s; CBOW kernel, words of a slice a second on one core, by output "
             "blocks: " + ", ".join(f"{g}: {v:,.0f}" for g, v in sorted(speeds.items())), "",
             "| cores | output blocks | slice words | kernel s (plain kernel) | rows sent | rows received: every "
             "changed row / changed rows read | MB received | exchange s | efficiency | of the plain kernel |",
             "|---:|---:|---:|---|---:|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cores']} | {r['output_blocks']} | {r['slice_words']:,.0f} | {r['kernel_s']:.2f} "
                     f"({r['ideal_s']:.2f}) | "
                     f"{r['rows_sent']:,.0f} | {r['rows_before']:,.0f} / {r['rows_now']:,.0f} | "
                     f"{r['mb_before']:,.0f} / {r['mb_now']:,.0f} | "
                     f"{r['exchange_s_before']:.2f} / {r['exchange_s_now']:.2f} | "
                     f"{r['efficiency_before']:.0%} / {r['efficiency_now']:.0%} | "
                     f"{r['of_plain_before']:.0%} / {r['of_plain_now']:.0%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=1_000_000)
    parser.add_argument("--corpus-words", type=float, default=1e9)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--cores", default="8,16,32,64,128")
    parser.add_argument("--network-gbps", type=float, default=10.0)
    parser.add_argument("--kernel-words", type=int, default=300_000,
                        help="words of the Zipf shard timed at the fewest output blocks (more for more blocks)")
    parser.add_argument("--json", help="write the terms and the projection here")
    parser.add_argument("--make-corpus", metavar="PATH",
                        help="write the synthetic Zipf corpus (300K words, 6M words of text, seed 7) and stop")
    parser.add_argument("--count", metavar="CORPUS", help="count rows on this corpus instead (one CBOW epoch)")
    parser.add_argument("--shards", type=int, default=8, help="with --count: tasks (shards at once)")
    parser.add_argument("--min-count", type=int, default=5, help="with --count")
    args = parser.parse_args(argv)
    if args.make_corpus:
        write_zipf_text(args.make_corpus)
        return 0
    if args.count:
        counted = count(args.count, args.shards, args.min_count, args.dim)
        modelled = project(counted["vocab"], counted["words"], args.dim, [args.shards], args.network_gbps,
                           {counted["output_blocks"]: 1.0, 1: 1.0}, {k: 0.0 for k in ("unpack", "sum", "copy_in", "copy_out")})[0]
        print(f"{counted['corpus']}: {counted['words']:,} words, vocabulary {counted['vocab']:,}, {args.shards} shards, "
              f"{counted['output_blocks']} output blocks, {counted['sub_epochs']} sub-epochs; rows per task and sub-epoch:")
        for key in ("rows_sent", "rows_sent_in", "rows_sent_out", "rows_read", "rows_before", "rows_now",
                    "rows_now_in", "rows_now_out"):
            print(f"  {key:12s} counted {counted[key]:>10,.0f}   Zipf model {modelled[key]:>10,.0f}")
        if args.json:
            Path(args.json).write_text(json.dumps({"counted": counted, "modelled": modelled}, indent=1))
        return 0
    cores = [int(c) for c in args.cores.split(",")]
    blocks = sorted({k // 2 if k >= SHARE_OUTPUT_FROM else k for k in cores})
    speeds = {g: cbow_speed(args.vocab, args.dim, args.kernel_words * g // blocks[0], blocks=g) for g in [1] + blocks}
    per_row = per_row_seconds(args.dim)
    per_row["socket_per_byte"] = socket_seconds_per_byte()
    rows = project(args.vocab, args.corpus_words, args.dim, cores, args.network_gbps, speeds, per_row)
    print(report(rows, speeds, args))
    print("\nper row, µs: " + ", ".join(f"{k} {v * 1e6:.3f}" for k, v in per_row.items() if k != "socket_per_byte")
          + f"; loopback socket {per_row['socket_per_byte'] * 1e9:.2f} ns a byte")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cbow_slice_words_per_second": speeds,
                                               "per_row_seconds": per_row, "projection": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
