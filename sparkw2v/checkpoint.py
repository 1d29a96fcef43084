"""Epoch checkpoints: what a killed run needs to continue exactly where it stopped.

After an epoch the driver writes the matrices (as the Parquet tables of a
model) and ``metadata.json`` with the epoch, history and parameters under
``OUTPUT/_staging/checkpoint/run-ID/epoch-NNNNNN``. Stratified skip-gram's tasks write
the blocks of rows they hold instead (a ``blocks`` table beside the vocabulary's),
so the model never passes through the driver. A checkpoint directory is written
under a temporary name and renamed when complete, and only a run's newest is kept.

Each run writes in a directory of its own (``run-ID``), with a heartbeat while it trains, so
two runs into one output at once never read, replace or remove each other's checkpoints.
``--resume`` continues the most recently written checkpoint that fits its settings (or one
written directly under ``checkpoint/``, as before run directories), refuses it while its run
still trains, and removes it once its own checkpoint supersedes it.

Nothing else is needed to resume bit for bit: the learning rate is a function
of the epoch, and every shard's random stream is derived from (seed, epoch,
sync, partition index), so no RNG state has to be saved.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field, fields

import numpy as np
from pyspark.sql import SparkSession

from . import filesystem, stratified, vector_table
from .config import TrainConfig
from .errors import DamagedModelError, StorageFullError, UserError
from .integrity import RESTORE_ADVICE, metadata_text, table_files, verify_tables
from .layout import CHECKPOINT, METADATA, OUTPUT_VECTORS, STAGING, VECTORS, VOCAB, strip_slash
from .session import cleaning_up
from .staging import STALE_SECONDS, drop_empty_staging, remove_if_only_hidden
from .tables import read_vocabulary, write_tables, write_vocabulary
from .vocabulary import Vocabulary

log = logging.getLogger("sparkw2v")

#: Layout of a checkpoint. Format 2 always records the shards trained at once, the strategy in
#: effect and, for stratified runs, the output blocks. Format 3 adds ``layout``: "matrices" (the
#: model's tables) or "blocks" (the vocabulary table and the tasks' blocks table,
#: :func:`sparkw2v.stratified.write_blocks`). A checkpoint without a format is format 1, whose
#: files may lack any of format 2's records: it is read as having trained all its shards at once
#: by averaging, and its output blocks are not checked.
FORMAT = 3
#: The table of a "blocks" checkpoint that holds the rows.
BLOCKS = "blocks"

#: Settings that may differ between a run and the run resuming it; all others must match.
RUN_ONLY = ("output", "overwrite", "resume", "keep_checkpoints", "keep_versions", "checkpoint_interval",
            "save_counts", "block_exchange")


class ResumeError(UserError, ValueError):
    """A checkpoint cannot be resumed with this input or these settings."""


@dataclass(kw_only=True)
class CheckpointSettings:
    """What a checkpoint's metadata.json records: enough to tell whether a run may continue it."""

    epochs_done: int
    history: list[dict]
    parameters: dict
    shards: int | None = None  # shards the run trained on (None: a checkpoint that did not record it)
    concurrent: int | None = None  # shards trained at once (None: not recorded)
    format: int = FORMAT
    path: str = ""  # where it was read from
    metadata: dict = field(default_factory=dict, repr=False, compare=False)  # metadata.json as read


@dataclass(kw_only=True)
class Checkpoint(CheckpointSettings):
    """A checkpoint with its vocabulary and both matrices, its files checked."""

    vocab: Vocabulary
    w_in: np.ndarray
    w_out: np.ndarray | None   # None: its output table is missing (refused by check_matrices)


#: Settings newer than checkpoint format 3: a checkpoint without one was written with its default.
ADDED_SETTINGS = ("input_options", "owned_rows")


def _training_parameters(cfg: TrainConfig, concurrent: int | None = None) -> dict:
    params = {k: v for k, v in cfg.persisted().items() if k not in RUN_ONLY}
    if concurrent is not None:  # the strategy in effect ('auto' picks one from the shards trained at once)
        params["strategy"] = cfg.strategy_for(concurrent)
        if params["strategy"] == "stratified":  # shared from config.SHARE_OUTPUT_FROM: the schedule changes
            params["output_blocks"] = stratified.output_blocks(concurrent)
            params["owned_rows"] = cfg.effective_owned_rows   # what 'auto' picks may change
    # The values in effect, not None for "the default": a later default cannot change a resumed run.
    params["batch_words"] = cfg.effective_batch_words
    params["negative_group"] = cfg.effective_negative_group
    # Spark's option keys ignore case, and their order means nothing.
    params["input_options"] = sorted([key.lower(), value] for key, value in cfg.input_options)
    return params


#: Seconds between the heartbeats of a run that checkpoints (``run-ID/heartbeat``, rewritten
#: with the driver's host and process id while it trains, removed when it stops). A heartbeat
#: older than :data:`LIVE_SECONDS`, or of a process that no longer exists on this host, is a
#: run that was killed.
HEARTBEAT_SECONDS = 10
LIVE_SECONDS = 60
HEARTBEAT = "heartbeat"


class Checkpoints:
    """The checkpoints of one output path (driver side): this run's, written in a directory of
    its own with a heartbeat while the run trains, and the other runs' found there (read only
    by ``--resume``, and only once their heartbeat has stopped)."""

    def __init__(self, spark: SparkSession, output: str):
        self.spark = spark
        self.output = strip_slash(output)
        self.root = f"{self.output}/{STAGING}/{CHECKPOINT}"
        self.fs = filesystem.HadoopFS(spark, self.root)
        self.run_dir = f"{self.root}/run-{uuid.uuid4().hex[:12]}"
        self.taken: str | None = None   # the checkpoint resumed from, until superseded
        self._beating: threading.Event | None = None
        self._taking = threading.Lock()   # the heartbeat thread reads ``taken``

    def newest_epoch(self) -> int | None:
        """Epochs done by the most recently written complete checkpoint of any run here (None: none)."""
        newest = self._found()
        return _epochs_of(newest[0][2]) if newest else None

    def running_elsewhere(self) -> bool:
        """Whether another run of this output is training now (:meth:`_live`)."""
        return any(self._live(run) for run in self._runs())

    def _complete(self, directory: str) -> list[str]:
        """The complete checkpoints directly in ``directory``, oldest epoch first."""
        return [f"{directory}/{n}" for n in sorted(self.fs.list_names(directory))
                if _epochs_of(n) is not None and self.fs.exists(f"{directory}/{n}/{METADATA}")]

    def _runs(self) -> list[str]:
        return [f"{self.root}/{n}" for n in self.fs.list_names(self.root) if n.startswith("run-")]

    def _found(self) -> list[tuple[float, int, str]]:
        """(written, epochs, path) of the complete checkpoints of every run (and under the root
        itself, as before run directories), most recently written first."""
        found = []
        for directory in (self.root, *self._runs()):
            for path in self._complete(directory):
                try:
                    found.append((self.fs.modified(f"{path}/{METADATA}"), _epochs_of(path), path))
                except Exception:   # removed meanwhile by its run
                    continue
        return sorted(found, reverse=True)

    def _beat_time(self, run: str) -> float:
        """When ``run`` last showed life: its heartbeat, else its newest checkpoint (0: never)."""
        times = []
        for path in (f"{run}/{HEARTBEAT}", *(f"{c}/{METADATA}" for c in self._complete(run))):
            try:
                times.append(self.fs.modified(path))
            except Exception:
                continue
        return max(times, default=0.0)

    def _live(self, run: str) -> str | None:
        """How the run with directory ``run`` (not this one) shows it is training now, or None:
        its heartbeat is recent and, on this host, its process exists."""
        if run == self.run_dir or not run.startswith(f"{self.root}/run-"):
            return None
        try:
            age = time.time() - self.fs.modified(f"{run}/{HEARTBEAT}")
        except Exception:   # no heartbeat: stopped
            return None
        if age > LIVE_SECONDS:
            return None
        try:
            beat = json.loads(self.fs.read_text(f"{run}/{HEARTBEAT}"))
        except Exception:   # caught while its run rewrites it (empty, or its .crc not yet matching): alive
            return f"its heartbeat {age:.0f}s ago, being rewritten"
        if beat.get("host") == socket.gethostname() and beat.get("pid") != os.getpid():
            try:
                os.kill(int(beat["pid"]), 0)
            except ProcessLookupError:
                return None
            except (PermissionError, KeyError, TypeError, ValueError):
                pass
        return f"its heartbeat {age:.0f}s ago, from process {beat.get('pid')} on {beat.get('host')}"

    def _beat(self) -> None:
        """Rewrite this run's heartbeat, and the heartbeat of the run whose checkpoint it took over:
        another ``--resume`` then finds that checkpoint in use until this run supersedes it."""
        text = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()})
        self.fs.write_text(f"{self.run_dir}/{HEARTBEAT}", text)
        with self._taking:
            taken_run = self._taken_run()
            if taken_run is not None:
                self.fs.write_text(f"{taken_run}/{HEARTBEAT}", text)

    def _taken_run(self) -> str | None:
        """The run directory of the checkpoint this run took over (None: none, or one under the root)."""
        run = self.taken.rsplit("/", 1)[0] if self.taken else None
        return run if run is not None and run.startswith(f"{self.root}/run-") else None

    def _start_heartbeat(self) -> None:
        """Rewrite ``run-ID/heartbeat`` every :data:`HEARTBEAT_SECONDS` until :meth:`stop_heartbeat`."""
        if self._beating is not None:
            return
        self._beat()
        stop = self._beating = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    self._beat()
                except Exception:   # the session is gone: so is the run
                    return
        threading.Thread(target=beat, name="sparkw2v-checkpoint-heartbeat", daemon=True).start()

    def stop_heartbeat(self) -> None:
        """This run has stopped training: its checkpoints may be resumed by another run."""
        if self._beating is None:
            return
        self._beating.set()
        self._beating = None
        try:
            self.fs.delete(f"{self.run_dir}/{HEARTBEAT}")
            self.fs.remove_if_empty(self.run_dir)
            with self._taking:   # a checkpoint taken over and not superseded may be resumed again
                taken_run = self._taken_run()
                if taken_run is not None:
                    self.fs.delete(f"{taken_run}/{HEARTBEAT}")
        except Exception:   # the session is gone
            pass

    def save(self, epochs_done: int, vocab: Vocabulary, w_in: np.ndarray | None, w_out: np.ndarray | None,
             cfg: TrainConfig, history: list[dict], shards: int | None = None,
             concurrent: int | None = None, blocks=None, deal: str = "") -> str:
        """Write the checkpoint after ``epochs_done`` epochs from the matrices, or with ``blocks``
        (an RDD of the blocks stratified tasks hold, dealt as ``deal`` says:
        :func:`stratified.owners_digest`) from the tasks; returns its path."""
        started = time.perf_counter()
        self._start_heartbeat()
        name = f"epoch-{epochs_done:06d}"
        tmp = f"{self.run_dir}/tmp-{uuid.uuid4().hex[:8]}"
        try:
            if blocks is None:
                write_tables(self.spark, tmp, vocab, w_in, w_out)
                layout, tables = "matrices", (VECTORS, VOCAB, OUTPUT_VECTORS)
            else:
                write_vocabulary(self.spark, tmp, vocab)
                stratified.write_blocks(self.spark, blocks, f"{tmp}/{BLOCKS}")
                layout, tables = "blocks", (VOCAB, BLOCKS)
            extra = {} if blocks is None else {"owners_sha256": deal}
            state = {"format": FORMAT, "layout": layout, **extra, "epochs_done": epochs_done, "history": history,
                     "parameters": _training_parameters(cfg, concurrent), "vocab_size": len(vocab),
                     "vector_size": int(w_in.shape[1]) if blocks is None else cfg.vector_size, "shards": shards,
                     "concurrent_shards": concurrent,
                     "files": table_files(self.fs, tmp, tables, sized=(BLOCKS,)),
                     "corpus_words": vocab.corpus_words, "distinct_words": vocab.distinct_words}
            self.fs.write_text(f"{tmp}/{METADATA}", metadata_text(state))
            if self.fs.exists(f"{self.run_dir}/{name}"):
                self.fs.delete(f"{self.run_dir}/{name}")
            self.fs.rename(tmp, f"{self.run_dir}/{name}")
        except BaseException as exc:
            full = filesystem.storage_full(exc)
            with cleaning_up("remove a partial checkpoint"):
                if self.fs.exists(tmp):
                    self.fs.delete(tmp)
            if full:
                raise StorageFullError(errno.ENOSPC, f"no space left on device while writing a checkpoint "
                                       f"under {self.root}; nothing was published (earlier checkpoints and "
                                       "versions are intact). Free space and run again with --resume") from None
            raise
        path = f"{self.run_dir}/{name}"
        for old in self._complete(self.run_dir):
            if old != path:
                self.fs.delete(old)
        self._drop_taken()
        log.info("checkpoint after epoch %d written in %.1fs (%s)", epochs_done, time.perf_counter() - started,
                 "from the tasks' blocks" if blocks is not None else "from the driver")
        return path

    def _drop_taken(self) -> None:
        """Remove the checkpoint this run resumed from (this run's own now supersedes it), and its
        run's directory once empty."""
        with self._taking:
            if self.taken is None:
                return
            taken, self.taken = self.taken, None
            self.fs.delete(taken)
            parent = taken.rsplit("/", 1)[0]
            if parent != self.root:   # a stopped run's directory, with the heartbeat this run kept in it
                self.fs.delete(f"{parent}/{HEARTBEAT}")
                self.fs.remove_if_empty(parent)

    @staticmethod
    def blocks_path(path: str) -> str:
        """The blocks table of the "blocks" checkpoint at ``path``."""
        return f"{path}/{BLOCKS}"

    def latest(self) -> Checkpoint | None:
        """The most recently written complete checkpoint here (or None), taken over by this run:
        its first checkpoint, or :meth:`clear`, removes it. :class:`ResumeError` if it belongs
        to a run still training."""
        found = self._found()
        if not found:
            return None
        self._refuse_live(found[0][2])
        checkpoint = self.load(found[0][2])
        self.taken = checkpoint.path
        return checkpoint

    def resume(self, cfg: TrainConfig, vocab: Vocabulary, shards: int | None = None,
               concurrent: int | None = None) -> Checkpoint | None:
        """The most recently written checkpoint here that this run can continue
        (:meth:`check_resumable`), taken over as :meth:`latest` takes one; None if there is
        none; the newest one's :class:`ResumeError` if none fits, or if the newest that fits
        belongs to a run still training."""
        refused = None
        for _, _, path in self._found():
            try:  # the settings first: a checkpoint of other settings is refused without reading its matrices
                settings = self.load_settings(path)
                self.check_settings(settings, cfg, shards, concurrent)
                checkpoint = self._with_matrices(settings)
                self.check_matrices(checkpoint, cfg, vocab)
            except ResumeError as exc:
                refused = refused or exc
                continue
            self._refuse_live(path)
            with self._taking:
                self.taken = path
            self._start_heartbeat()   # marks the checkpoint taken, for another --resume
            return checkpoint
        if refused is not None:
            raise refused
        return None

    def _refuse_live(self, path: str) -> None:
        run = path.rsplit("/", 1)[0]
        shown = self._live(run)
        if shown:
            raise ResumeError(f"cannot resume from {path}: its run is still training ({shown}); a run "
                              "cannot be continued while it trains. Run without --resume to train a new "
                              f"model, or with --resume once that run has stopped (its heartbeat is "
                              f"{LIVE_SECONDS}s old or its process is gone)")

    def load(self, path: str) -> Checkpoint:
        """The complete checkpoint at ``path``, its files checked."""
        return self._with_matrices(self.load_settings(path))

    def load_settings(self, path: str) -> CheckpointSettings:
        """What the checkpoint at ``path`` records (its metadata.json), without reading its tables."""
        name = path.rsplit("/", 1)[1]
        meta = vector_table.read_metadata(self.spark, path)
        written = int(meta.get("format", 1))
        if written > FORMAT or meta.get("layout", "matrices") not in ("matrices", "blocks"):
            raise ResumeError(f"cannot resume from {path}: its checkpoint is format {written} "
                              f"(layout {meta.get('layout')!r}), written by a newer sparkw2v (this one reads formats "
                              f"1 to {FORMAT}); resume with that version, or run without --resume to start over")
        if written < 3 and meta.get("parameters", {}).get("strategy") == "stratified":
            log.warning("--resume: %s was written before stratified runs dealt their blocks once per run; the "
                        "run continues with this version's deal, so it will not equal an uninterrupted run of "
                        "either version bit for bit", path)
        epochs, history = meta.get("epochs_done"), meta.get("history")
        if not isinstance(history, list) or epochs != _epochs_of(name) or len(history) != epochs:
            raise DamagedModelError(f"{path}/{METADATA} is damaged: it records {epochs} epochs done "
                                    f"and {len(history) if isinstance(history, list) else 'no'} epochs of history "
                                    f"in checkpoint {name}; run without --resume to start over")
        return CheckpointSettings(epochs_done=int(epochs), history=list(history),
                                  parameters=dict(meta["parameters"]), shards=meta.get("shards"),
                                  concurrent=meta.get("concurrent_shards"), format=written, path=path, metadata=meta)

    def _with_matrices(self, settings: CheckpointSettings) -> Checkpoint:
        """``settings``' checkpoint with its vocabulary and matrices, read and checked."""
        path, meta = settings.path, settings.metadata
        try:
            if meta.get("layout") == "blocks":
                vocab, w_in, w_out = _read_blocks_checkpoint(self.spark, path, meta)
            else:
                loaded = vector_table.read_model(self.spark, path)
                vocab, w_in, w_out = loaded.vocab, loaded.w_in, loaded.w_out
        except DamagedModelError as exc:  # a checkpoint is not restored: the run starts over
            message = str(exc).removesuffix(f"; {RESTORE_ADVICE}")
            raise DamagedModelError(f"{message}; the checkpoint cannot be resumed: run without --resume to start "
                                    "over") from None
        values = {f.name: getattr(settings, f.name) for f in fields(CheckpointSettings)}
        return Checkpoint(**values, vocab=vocab, w_in=w_in, w_out=w_out)

    def check_resumable(self, checkpoint: Checkpoint, cfg: TrainConfig, vocab: Vocabulary,
                        shards: int | None = None, concurrent: int | None = None) -> None:
        """Refuse to resume ``checkpoint`` (:class:`ResumeError`) unless both
        :meth:`check_settings` and :meth:`check_matrices` accept it."""
        self.check_settings(checkpoint, cfg, shards, concurrent)
        self.check_matrices(checkpoint, cfg, vocab)

    def check_settings(self, checkpoint: CheckpointSettings, cfg: TrainConfig, shards: int | None = None,
                       concurrent: int | None = None) -> None:
        """Refuse to resume if the settings, the number of shards or of shards trained at once
        differ from the checkpointed run's (without --num-partitions and --concurrent-shards,
        both follow Spark's default parallelism, which a restarted cluster may change)."""
        where = checkpoint.path or self.root
        legacy = checkpoint.format < 2   # FORMAT: all shards at once, averaged, output blocks unknown
        recorded = checkpoint.shards if legacy and checkpoint.concurrent is None else checkpoint.concurrent
        wanted = _training_parameters(cfg, concurrent if concurrent is not None else recorded)
        parameters = {"strategy": "average", **checkpoint.parameters} if legacy else dict(checkpoint.parameters)
        # A setting added after the checkpoint was written is its default there (it has no other).
        defaults = _training_parameters(TrainConfig())
        if parameters.get("strategy") == "stratified":   # before owned_rows, stratified skip-gram owned both matrices
            parameters.setdefault("owned_rows", "both" if parameters.get("sg", True) else "output")
        parameters.update({k: defaults[k] for k in ADDED_SETTINGS if k not in parameters})
        if concurrent is None and recorded is None:  # no shard count to tell the strategy in effect
            wanted.pop("strategy", None)
            parameters.pop("strategy", None)
        if legacy and "output_blocks" not in parameters:
            wanted.pop("output_blocks", None)
        # A checkpoint that records its shard counts is checked on those counts, so resuming with
        # --num-partitions N after the cluster's parallelism changed is allowed.
        ignored = {"num_partitions"} if checkpoint.shards is not None and shards is not None else set()
        if checkpoint.concurrent is not None and concurrent is not None:
            ignored.add("concurrent_shards")
        changed = sorted(k for k in (set(wanted) | set(parameters)) - ignored if wanted.get(k) != parameters.get(k))
        if changed:
            diffs = ", ".join(f"{k}={parameters.get(k)!r} (now {wanted.get(k)!r})" for k in changed)
            # 'auto' picks the strategy from the shards at once, and a newer version may pick another.
            hint = (f"pass --strategy {parameters['strategy']} or " if "strategy" in changed and cfg.strategy == "auto"
                    and parameters.get("strategy") else
                    f"pass --owned-rows {parameters['owned_rows']} or " if "owned_rows" in changed
                    and cfg.owned_rows == "auto" and parameters.get("owned_rows") in ("output", "both") else "")
            raise ResumeError(f"cannot resume from {where}: it was written with {diffs}; {hint}run with the "
                              "same settings, or without --resume to start over")
        if shards is not None and checkpoint.shards is not None and shards != checkpoint.shards:
            raise ResumeError(f"cannot resume from {where}: it was trained on {checkpoint.shards} shards, "
                              f"this run would use {shards}; pass --num-partitions {checkpoint.shards}, or "
                              "run without --resume to start over")
        if concurrent is not None and recorded is not None and concurrent != recorded:
            raise ResumeError(f"cannot resume from {where}: it trained {recorded} shards at once, "
                              f"this run would train {concurrent}; pass --concurrent-shards "
                              f"{recorded}, or run without --resume to start over")

    def check_matrices(self, checkpoint: Checkpoint, cfg: TrainConfig, vocab: Vocabulary) -> None:
        """Refuse to resume if the input's vocabulary differs from the checkpointed run's, or the
        matrices are missing or of another shape than ``vocab`` and ``cfg.vector_size`` call for."""
        where = checkpoint.path or self.root
        if checkpoint.vocab.words != vocab.words or not np.array_equal(checkpoint.vocab.counts, vocab.counts):
            raise ResumeError(f"cannot resume from {where}: the input's vocabulary differs from the "
                              "checkpointed run's (the input changed); run without --resume to start over")
        expected = (len(vocab), cfg.vector_size)
        for name, matrix in (("input", checkpoint.w_in), ("output", checkpoint.w_out)):
            shape = None if matrix is None else tuple(matrix.shape)
            if shape is None:
                raise ResumeError(f"cannot resume from {where}: its {name} vectors are missing (the "
                                  "checkpoint is damaged); run without --resume to start over")
            if shape != expected:
                raise ResumeError(f"cannot resume from {where}: its {name} vectors are "
                                  f"{shape[0]} x {shape[1]}, but this run needs "
                                  f"{expected[0]} x {expected[1]} (vocabulary x vector_size); the checkpoint "
                                  "does not belong to this run. Run without --resume to start over")

    def clear(self, older_than: float = STALE_SECONDS) -> None:
        """Remove this run's checkpoints and the one it resumed from; other runs' only once
        ``older_than`` seconds have passed since they last showed life (runs killed and never
        resumed), with what killed writes left under the root; then the checkpoint and staging
        directories, if nothing else is in them."""
        self.stop_heartbeat()
        self.fs.delete(self.run_dir)
        self._drop_taken()
        now = time.time()
        for run in self._runs():
            if now - self._beat_time(run) > older_than:
                log.info("removed %s, the checkpoints of a run of this output that stopped over a day ago", run)
                self.fs.delete(run)
        for name in self.fs.list_names(self.root):   # as before run directories: epoch-N, tmp-*
            if name.startswith(("epoch-", "tmp-")):
                try:
                    written = self.fs.modified(f"{self.root}/{name}/{METADATA}") \
                        if _epochs_of(name) is not None else self.fs.modified(f"{self.root}/{name}")
                except Exception:
                    written = 0.0
                if now - written > older_than:
                    self.fs.delete(f"{self.root}/{name}")
        remove_if_only_hidden(self.fs, self.root)
        drop_empty_staging(self.fs, self.output)


def _epochs_of(path: str) -> int | None:
    """The epochs done by the checkpoint directory ``path`` (``.../epoch-NNNNNN``), from its name."""
    name = path.rsplit("/", 1)[-1]
    return int(name[6:]) if name.startswith("epoch-") and name[6:].isdigit() else None


def _read_blocks_checkpoint(spark: SparkSession, path: str, meta: dict) -> tuple[Vocabulary, np.ndarray, np.ndarray]:
    """The vocabulary and both matrices of a "blocks" checkpoint, its files checked against its
    metadata (the blocks' by size, then by Parquet's page checksums as they are read): the rows
    of every block put back where the run's deal (from the seed, the counts and the shards
    trained at once) placed them."""
    verify_tables(spark, path, meta, (VOCAB, BLOCKS))
    vocab = read_vocabulary(spark, path, meta)
    params, tasks, dim = meta["parameters"], int(meta["concurrent_shards"]), int(meta["vector_size"])
    owner_in, owner_out = stratified.block_owners(vocab.counts, params["sample"], tasks, params["seed"])
    if stratified.owners_digest(owner_in, owner_out) != meta.get("owners_sha256"):
        raise ResumeError(f"cannot resume from {path}: this sparkw2v deals the run's rows into blocks otherwise "
                          "than the version that wrote the checkpoint did (its blocks hold rows without their "
                          "ids); resume with that version, or run without --resume to start over")
    # Read and checked (Parquet's page checksums) by the executors, as the next epoch would read them.
    try:
        held = stratified.read_blocks(spark, f"{path}/{BLOCKS}", tasks).collect()
    except Exception as exc:
        damaged = [line.split("OSError: ", 1)[1].strip() for line in str(exc).splitlines()
                   if "OSError: " in line and " is damaged: " in line]
        if damaged:
            raise DamagedModelError(damaged[0][:400]) from None
        raise
    w_in = np.full((len(vocab), dim), np.nan, dtype=np.float32)
    w_out = np.full((len(vocab), dim), np.nan, dtype=np.float32)
    stratified.collect_blocks(held, w_in, w_out, owner_in, owner_out)
    if not (np.isfinite(w_in.sum(dtype=np.float64)) and np.isfinite(w_out.sum(dtype=np.float64))):
        raise DamagedModelError(f"{path}/{BLOCKS} does not hold every row of the run's blocks: "
                                             "the checkpoint is incomplete or damaged")
    return vocab, w_in, w_out
