"""Command line: ``sparkw2v train``, ``stream``, ``evaluate``, ``export``, ``import``, ``info``;
``jobs/*.py`` call the same functions.

Flags are generated from :class:`~sparkw2v.config.TrainConfig`, so names, help
and defaults live in one place. Settings come from the defaults, then
``--config FILE.toml``, then flags.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Callable, NoReturn, Sequence

from . import __version__, interrupts
from .config import (NOT_STREAM_FIELDS, OPTION_FIELDS, ConfigError, StreamConfig, TrainConfig, flag_of,
                     settings_named_as_flags)
from .report import describe_shards

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: When this call of :func:`main` started its work (the closing line's wall time counts from here):
#: the module's import for a process's first call, so that Python's start-up counts; a later call
#: in the same process (tests, a notebook) counts from its own start.
STARTED = time.perf_counter()
_main_calls = 0

log = logging.getLogger("sparkw2v")

#: Words whose neighbours are printed after training when present (else frequent words).
PROBE_WORDS = ("money", "government", "church", "war", "city", "children", "music", "king")

_TYPES = {"int": int, "float": float, "str": str}


#: Settings a command cannot run without (they may also come from --config), shown in the help.
REQUIRED = {"input": "required, or --input-table", "output": "required",
            "source": "required", "checkpoint": "required"}


def add_config_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig,
                         exclude: Sequence[str] = ()) -> None:
    """One flag per field of ``cls`` (TrainConfig, StreamConfig), grouped as in the dataclass;
    defaults left unset, so that flags given override ``--config``."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        group_name = f.metadata["group"]
        group = groups.get(group_name) or groups.setdefault(group_name, parser.add_argument_group(group_name))
        flag = flag_of(f.name)
        base = f.type.replace(" | None", "")
        help_text = f.metadata["help"]
        if f.name in REQUIRED:
            help_text += f" ({REQUIRED[f.name]})"
        elif base == "bool":
            help_text += " (the default)" if f.default else ""
        elif f.default not in (None, ()) and "(default" not in help_text:
            help_text += f" (default: {f.default})"
        if base == "bool":
            # a flag and its opposite (--sg / --cbow) exclude each other: argparse names both
            pair = group.add_mutually_exclusive_group() if "negated" in f.metadata else group
            pair.add_argument(flag, dest=f.name, action="store_true", default=argparse.SUPPRESS, help=help_text)
            if "negated" in f.metadata:
                opposite = f.metadata.get("negated_help", f"opposite of {flag}")
                pair.add_argument("--" + f.metadata["negated"], dest=f.name, action="store_false",
                                   default=argparse.SUPPRESS,
                                   help=opposite + ("" if f.default else " (the default)"))
        elif f.name in OPTION_FIELDS:
            group.add_argument(flag, dest=f.name, action="append", type=conf_pair, default=argparse.SUPPRESS,
                               metavar=f.metadata["metavar"], help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=_TYPES[base], default=argparse.SUPPRESS,
                               metavar=_metavar(f.name, base), help=help_text)


_METAVARS = {"input": "PATH", "output": "PATH", "from_model": "MODEL", "source": "PATH", "checkpoint": "PATH",
             "input_table": "NAME", "text_column": "COLUMN", "tokens_column": "COLUMN", "token_pattern": "REGEX",
             "input_format": "FORMAT", "format": "FORMAT", "combine": "RULE", "trigger_interval": "DURATION"}


def _metavar(name: str, base: str) -> str:
    return _METAVARS.get(name) or {"int": "N", "float": "X"}.get(base, name.upper())


def conf_pair(text: str) -> tuple[str, str]:
    """``--conf KEY=VALUE`` as (key, value); the value may hold further '=' signs."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def config_from_args(args: argparse.Namespace, exclude: Sequence[str] = ()) -> TrainConfig:
    """Defaults, overridden by ``--config`` TOML, overridden by flags; ``exclude``d fields
    keep their defaults (a TOML file's values for them are ignored with a warning)."""
    cfg = TrainConfig.from_toml(args.config) if getattr(args, "config", None) else TrainConfig()
    ignored = [name for name in exclude if getattr(cfg, name) != getattr(TrainConfig(), name)]
    if ignored:
        log.warning("%s: %s ignored here", args.config, ", ".join(ignored))
        cfg = cfg.replace(**{name: getattr(TrainConfig(), name) for name in ignored})
    given = {name: getattr(args, name) for name in TrainConfig.field_names() if hasattr(args, name)}
    if "input_options" in given:  # flags add to the file's options; of one key given twice, the flag's
        given["input_options"] = (*cfg.input_options, *given["input_options"])
    return cfg.replace(**given)


TRAIN_USAGE = ("sparkw2v train (--input PATH | --input-table NAME) --output PATH [options]\n"
               "       sparkw2v train --config FILE.toml [options]")
LAYOUT = ("A version is OUTPUT/versions/NNNNNN/ (vectors/, vocab/, output_vectors/, counts/ as Parquet; "
          "metadata.json; report.png with matplotlib installed), and OUTPUT/LATEST names the newest; "
          "readers given OUTPUT read the newest version.")


#: Each command's own parser (set by :func:`build_parser`), for its usage in errors.
COMMAND_PARSERS: dict[str, argparse.ArgumentParser] = {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparkw2v", description="Distributed word2vec on Apache Spark.")
    parser.add_argument("--version", action="version", version=f"sparkw2v {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_command(sub)
    _add_stream_command(sub)
    _add_evaluate_command(sub)
    _add_export_command(sub)
    _add_import_command(sub)
    _add_info_command(sub)
    COMMAND_PARSERS.update(sub.choices)
    return parser


def _add_train_command(sub: "argparse._SubParsersAction") -> None:
    """train: settings from TrainConfig, then how the run reports."""
    train = sub.add_parser("train", help="train word vectors and publish them as a new version of OUTPUT",
                           usage=TRAIN_USAGE,
                           description="Train word2vec on text and publish it as a new version of OUTPUT. " + LAYOUT
                                       + " Settings come from the defaults, then --config, then flags.")
    train.add_argument("--config", metavar="FILE", help="TOML file of settings (see conf/default.toml)")
    add_config_arguments(train)
    run = train.add_argument_group("run")
    run.add_argument("--eval-similarity", metavar="FILE",
                     help="score the vectors on word pairs (WordSim-353 format) and record it in metadata.json")
    run.add_argument("--eval-analogies", metavar="FILE",
                     help="score the vectors on analogies (questions-words format) and record it in metadata.json")
    run.add_argument("--show", metavar="WORDS", default=None,
                     help="comma-separated words whose nearest neighbours are printed after training "
                          f"(default: the first five of {', '.join(PROBE_WORDS)} in the vocabulary, else "
                          "five frequent words); '' prints none")
    _add_common(train)


def _add_stream_command(sub: "argparse._SubParsersAction") -> None:
    """stream: StreamConfig and the training settings a stream uses."""
    stream = sub.add_parser(
        "stream", help="follow a landing folder and publish a new model version per batch of new files",
        usage="sparkw2v stream --source PATH --checkpoint PATH --output PATH [options]",
        description="Follow --source with Spark Structured Streaming. Each batch of new files adds its "
                    "word counts to the running counts (words enter the vocabulary at --min-count), trains "
                    "on the batch starting from the newest version of --output (the first batch: "
                    "--from-model, or nothing) and publishes the next version of --output. A restart with "
                    "the same --checkpoint neither skips nor retrains a batch. " + LAYOUT)
    stream.add_argument("--config", metavar="FILE",
                        help="TOML file of training settings (see conf/default.toml; input settings ignored)")
    add_config_arguments(stream, StreamConfig)
    add_config_arguments(stream, TrainConfig, exclude=NOT_STREAM_FIELDS)
    _add_common(stream)


def _add_evaluate_command(sub: "argparse._SubParsersAction") -> None:
    """evaluate: score a model on similarity and analogy files."""
    evaluate = sub.add_parser("evaluate", help="score a model on word-similarity and analogy files",
                              description="Score a model's newest version (or one version) on word pairs "
                                          "rated by people (Spearman correlation with cosine similarity, as "
                                          "gensim's evaluate_word_pairs) and on analogy questions (accuracy, "
                                          "3CosAdd and 3CosMul, as gensim's evaluate_word_analogies). Prints "
                                          "the scores as JSON.")
    evaluate.add_argument("--vectors", required=True, metavar="MODEL",
                          help="model path written by 'sparkw2v train' (its newest version) or one version")
    evaluate.add_argument("--similarity", metavar="FILE", help="word pairs with scores (WordSim-353 format)")
    evaluate.add_argument("--analogies", metavar="FILE", help="analogy questions (questions-words format)")
    evaluate.add_argument("--restrict-vocab", type=int, default=300_000, metavar="N",
                          help="answer analogies from the N most frequent words (default: 300000)")
    evaluate.add_argument("--record", action="store_true",
                          help="also store the scores with the model version (evaluation.json, read as "
                               "\"evaluation\" of its metadata)")
    _add_common(evaluate)


def _add_export_command(sub: "argparse._SubParsersAction") -> None:
    """export: a model as a word2vec C text or binary file."""
    export = sub.add_parser("export", help="write a model's vectors in the word2vec C text or binary format",
                            description="Write the word vectors of a model (its newest version) as a "
                                        "word2vec.c / gensim file, most frequent word first. A .gz name is "
                                        "compressed.")
    export.add_argument("--vectors", required=True, metavar="MODEL",
                        help="model path written by 'sparkw2v train' or 'sparkw2v import'")
    export.add_argument("--format", required=True, choices=("word2vec-text", "word2vec-binary"),
                        help="word2vec-text: a 'words dims' header, then one 'word v1 v2 ...' line per word; "
                             "word2vec-binary: the same header, then each word followed by its float32 values "
                             "(word2vec.c -binary 1, gensim binary=True)")
    export.add_argument("--output", required=True, metavar="FILE", help="local file to write")
    export.add_argument("--vocab-counts", metavar="FILE",
                        help="also write 'word count' lines (gensim's fvocab, word2vec -save-vocab)")
    export.add_argument("--overwrite", action="store_true", help="replace existing output files")
    _add_common(export)


def _add_import_command(sub: "argparse._SubParsersAction") -> None:
    """import: a word2vec file, an MLlib model or another sparkw2v model as a model."""
    imp = sub.add_parser("import", help="turn a word2vec C text or binary file, a Spark MLlib model or another "
                                        "sparkw2v model into a model",
                         description="Read a word2vec.c / gensim vector file (optionally .gz), a model directory "
                                     "saved by Spark MLlib's Word2VecModel, or a sparkw2v model (its current "
                                     "version, with its output vectors and counts), and publish it as a model "
                                     "(OUTPUT/versions/NNNNNN/). Without --vocab-counts a word2vec file's row order "
                                     "is kept and counts are ranks (metadata.json says \"counts\": \"rank\").")
    imp.add_argument("--input", required=True, metavar="PATH",
                     help="a local word2vec file (.gz is decompressed), a model directory saved by Spark MLlib's "
                          "Word2VecModel, or a sparkw2v model (any path Spark reads)")
    kind = imp.add_mutually_exclusive_group()
    kind.add_argument("--binary", dest="binary", action="store_const", const=True, default=None,
                      help="the file is binary (default: detected from its first row)")
    kind.add_argument("--text", dest="binary", action="store_const", const=False, help="the file is text")
    imp.add_argument("--vocab-counts", metavar="FILE", help="'word count' lines giving the real counts")
    imp.add_argument("--limit", type=int, metavar="N", help="read only the first N vectors (default: all)")
    imp.add_argument("--unicode-errors", choices=("strict", "replace", "ignore"), default="strict",
                     help="words that are not valid UTF-8 (in the vectors and in --vocab-counts): refuse the file "
                          "(strict, the default), read their bad bytes as U+FFFD (replace) or drop them (ignore), "
                          "as gensim's unicode_errors")
    imp.add_argument("--output", required=True, metavar="MODEL", help="model path to write")
    imp.add_argument("--overwrite", action="store_true", help="publish a new version of an existing --output")
    keep = TrainConfig().keep_versions  # training's default, so both commands keep alike
    imp.add_argument("--keep-versions", type=int, default=keep, metavar="N",
                     help=f"versions of --output kept after publishing, the newest N (default: {keep})")
    _add_common(imp)


def _add_info_command(sub: "argparse._SubParsersAction") -> None:
    """info: what a published version records."""
    info = sub.add_parser("info", help="print a model version's training report",
                          description="Print what a published version records: version, the Spark master "
                                      "and application it ran on, parameters that differ from the defaults, "
                                      "corpus and vocabulary, timings, per-epoch history and scores.")
    info.add_argument("model", metavar="MODEL", help="model path (its newest version) or one version directory")
    info.add_argument("--json", action="store_true", help="print metadata.json as it is")
    info.add_argument("--chart", metavar="FILE.png",
                      help="also draw the version's chart into FILE.png (needs matplotlib)")
    _add_common(info)


def _add_common(parser: argparse.ArgumentParser) -> None:
    common = parser.add_argument_group("spark and output")
    common.add_argument("--master", help="Spark master when not run by spark-submit (default: local[*,4], all cores with 4 attempts per task)")
    common.add_argument("--conf", metavar="KEY=VALUE", action="append", type=conf_pair, default=[],
                        help="a Spark setting, e.g. --conf spark.executor.memory=4g (repeatable); settings the "
                             "driver JVM needs at start (spark.driver.memory) work here when sparkw2v starts "
                             "Spark itself, and go to spark-submit itself under spark-submit")
    common.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging, Spark's own warnings and full tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors, no progress")


def _session(args: argparse.Namespace, app_name: str = "sparkw2v", light_jvm: bool = False):
    """The SparkSession of a command, with its --master, --conf and Spark's log level
    (``light_jvm``: training's, see :func:`sparkw2v.session.get_session`)."""
    from .session import get_session

    if args.master:
        _refuse_master_under_submit(args.master)
    return _start_interruptibly(lambda: get_session(app_name, master=args.master, conf=dict(args.conf),
                                                    spark_log_level="WARN" if args.verbose else "ERROR",
                                                    light_jvm=light_jvm))


def _start_interruptibly(start: Callable[[], SparkSession]) -> SparkSession:
    """``start()``, a session that may start Spark, run in a thread of its own while the main
    thread waits, so that SIGINT and SIGTERM while Spark starts end the command as later ones do
    (:func:`_interrupted`: one line, exit 130). On the main thread PySpark's SparkContext replaces
    the SIGINT handler with one that cancels jobs through a reentrant Py4J call, which logs
    tracebacks; and a signal inside PySpark's launch of the driver JVM removes the folder the JVM
    is about to announce its port in, so the JVM fails with a Java stack trace and stays running.
    Waiting here, the main thread is in neither: the abandoned start ends with this process (the
    JVM ends when its standard input closes)."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None or threading.current_thread() is not threading.main_thread():
        return start()
    started: list[SparkSession] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            started.append(start())
        except BaseException as exc:  # noqa: BLE001 - raised again on the main thread
            failed.append(exc)

    starting = threading.Thread(target=run, name="sparkw2v-start-spark", daemon=True)
    starting.start()
    starting.join()
    if failed:
        raise failed[0]
    spark = started[0]
    # The JVM's active session is per thread (Py4J gives each Python thread its own); as on the
    # thread that made it, code running from the main thread finds it as the active one.
    spark._jvm.SparkSession.setActiveSession(spark._jsparkSession)
    return spark


def _refuse_master_under_submit(master: str) -> None:
    """Under spark-submit (which starts the JVM before this Python), a ``--master`` other than
    spark-submit's would silently move the whole run onto it (a cluster job run inside the driver)."""
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    submitted = SparkConf().get("spark.master", None)
    if submitted and submitted != master:
        raise ConfigError(f"--master {master} is for runs outside spark-submit: this job runs under spark-submit "
                          f"--master {submitted}, which it would replace; give the master to spark-submit only")


def _setup_logging(args: argparse.Namespace) -> None:
    from . import progress

    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    # Other libraries' INFO lines (matplotlib's font cache, py4j) only with --verbose.
    logging.basicConfig(level=level if args.verbose else max(level, logging.WARNING),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S",
                        stream=sys.stderr)
    log.setLevel(level)
    logging.getLogger("py4j").setLevel(max(level, logging.WARNING))  # streaming's callback server chatter
    progress.configure(live=sys.stderr.isatty() and not args.quiet)


def jvm_head_start(spark) -> float:
    """Seconds the JVM ran before this process started its work: under spark-submit the JVM
    starts first and then starts Python, and the user's wait begins with the JVM. 0 when
    this process started the JVM, or the JVM is not its parent (an older session)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return 0.0
    try:
        runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
        if int(runtime.getPid()) != os.getppid():
            return 0.0
        age = time.time() - int(runtime.getStartTime()) / 1000
    except Exception:  # no gateway, or a JVM without these calls: the wall time starts here
        return 0.0
    return max(0.0, age - (time.perf_counter() - STARTED))


def cmd_train(args: argparse.Namespace) -> int:
    from .model import Word2Vec
    from .filesystem import local_output_path
    from .layout import root_of, same_path
    from .publishing import check_output
    from .session import start_python_workers

    global STARTED
    cfg = config_from_args(args).validate()
    # Unreadable evaluation files must not cost a training run: read them before it.
    _check_evaluation_files(similarity=("--eval-similarity", args.eval_similarity),
                            analogies=("--eval-analogies", args.eval_analogies))
    if not cfg.from_model:  # a local output that may not be written fails now, not after Spark's start
        from .session import default_filesystem_is_local

        local = local_output_path(cfg.output, default_filesystem_is_local(args.master, dict(args.conf)))
        if local is not None:
            check_output(None, local, cfg.overwrite)
    spark = _session(args, light_jvm=True)
    start_python_workers(spark)
    STARTED -= jvm_head_start(spark)  # the closing line's wall time and "starting Spark" include it
    phases = {"starting Spark": time.perf_counter() - STARTED}
    overwrite = cfg.overwrite
    if cfg.from_model:
        # Continuing a model (or one of its versions) into its own path adds a version: that is the
        # point, not an overwrite. Whether it continues the newest version is checked as it starts.
        base = root_of(cfg.from_model) or cfg.from_model
        overwrite = overwrite or same_path(spark, base, cfg.output)
    check_output(spark, cfg.output, overwrite)
    model = Word2Vec(cfg).fit_input(spark)   # refuses an output inside the input before it reads it
    info = model.result.info
    info["session_seconds"] = phases["starting Spark"]  # recorded in metadata.json's timings
    phases.update(counting=info.get("count_seconds"), encoding=info.get("encode_seconds"),
                  training=info.get("train_seconds"))
    if args.eval_similarity or args.eval_analogies:
        started = time.perf_counter()
        scores = model.evaluate(args.eval_similarity, args.eval_analogies)
        phases["evaluating"] = time.perf_counter() - started
        print("evaluation: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in sorted(scores.items())))
    started = time.perf_counter()
    location = _publish_or_keep(spark, model, cfg.output, overwrite)
    phases["publishing"] = time.perf_counter() - started
    shards = describe_shards(info.get("num_partitions"), info.get("concurrent_shards"))
    print(f"trained {len(model.wv)} words x {model.wv.vector_size} dims on {info['train_words']:,} words "
          f"({_count(cfg.epochs, 'epoch')}, {shards}, {info['words_per_second']:,.0f} words/s) and wrote {location}")
    print(closing_times(phases))
    _print_neighbours(model.wv, args.show)
    return 0


def _publish_or_keep(spark, model, output: str, overwrite: bool) -> str:
    """Publish ``model`` to ``output``. If that is refused because another writer published there
    while it trained (the output was checked before training), publish it instead as a model of
    its own beside ``output`` and raise an error naming both, so that the training is not lost."""
    from .errors import ConcurrentPublishError
    from .layout import is_model
    from .publishing import CREATED, OutputExistsError

    try:
        return model.save(output, overwrite=overwrite)
    except (ConcurrentPublishError, OutputExistsError) as exc:
        created = getattr(exc, "why", None) == CREATED or (
            isinstance(exc, OutputExistsError) and not overwrite and is_model(spark, output))
        reason = (f"not published: {output} got a version from another writer while this run trained (it had none "
                  "when the run started), and without --overwrite a run publishes only the first version of its "
                  "output") if created else str(exc)
        kept = _beside(output, f"unpublished-{time.strftime('%Y%m%dT%H%M%S')}-{os.urandom(2).hex()}")
        try:
            model.save(kept)
        except Exception as failed:  # noqa: BLE001 - the refusal is the error to report
            text = str(failed).strip()
            raise type(exc)(f"{reason}. Keeping this run's model at {kept} failed too: "
                            f"{text.splitlines()[0] if text else type(failed).__name__}") from None
        model.clear_checkpoints()
        # A model built on an older version must not be put above a newer one: only a fresh one is offered.
        advice = (f"use it there, or make it the next version of {output} with: sparkw2v import --input {kept} "
                  f"--output {output} --overwrite") if created else "use it there"
        raise type(exc)(f"{reason}. This run's model is kept, published at {kept}: {advice}") from None


def _beside(path: str, suffix: str) -> str:
    """``PATH-suffix`` beside the model path ``path`` (normalised: ``m/.`` and ``m/`` are ``m``)."""
    import posixpath
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(path)
    if parts.scheme and len(parts.scheme) > 1:  # a URI (not a Windows drive letter)
        return urlunsplit(parts._replace(path=posixpath.normpath(parts.path or "/") + f"-{suffix}"))
    return os.path.normpath(path) + f"-{suffix}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _check_evaluation_files(similarity: tuple[str, str | None], analogies: tuple[str, str | None]) -> None:
    """Read the given evaluation files as scoring will; a bad one raises an error naming its
    option (each argument: the flag and its path, or None)."""
    from .evaluation import EvaluationDataError, check_files

    for (flag, path), keyword in ((similarity, "similarity_path"), (analogies, "analogy_path")):
        if path is None:
            continue
        try:
            check_files(**{keyword: path})
        except EvaluationDataError as exc:
            raise EvaluationDataError(f"{flag}: {exc}") from None


def closing_times(phases: dict[str, float | None]) -> str:
    """``run took 44.4s: starting Spark 9.1s, counting 7.9s, ..., other 2.0s`` (wall time since start)."""
    from .progress import format_seconds

    total = time.perf_counter() - STARTED
    known = {name: seconds for name, seconds in phases.items() if seconds is not None}
    other = total - sum(known.values())
    parts = [f"{name} {format_seconds(seconds)}" for name, seconds in known.items()]
    if parts and other >= 0.05:
        parts.append(f"other {format_seconds(other)}")
    return f"run took {format_seconds(total)}" + (": " + ", ".join(parts) if parts else "")


def cmd_stream(args: argparse.Namespace) -> int:
    from .streaming import run_stream

    cfg = config_from_args(args, exclude=NOT_STREAM_FIELDS).validate(require_io=False)
    if not cfg.output:
        raise ConfigError("give --output PATH: the model the stream publishes versions of")
    options = StreamConfig(**{name: getattr(args, name) for name in StreamConfig.__dataclass_fields__
                              if hasattr(args, name)}).validate()
    spark = _session(args)
    batches = run_stream(spark, cfg, options)
    published = [b for b in batches if b.get("version")]
    print(f"processed {len(batches)} batch(es), published {len(published)} version(s) of {cfg.output}"
          + (f"; newest: {published[-1]['location']}" if published else ""))
    print(closing_times({}))
    return 0


def _print_neighbours(wv, show: str | None) -> None:
    if show == "":
        return
    if show is None:
        words = [w for w in PROBE_WORDS if w in wv][:5] or list(wv.words[100:105])
    else:
        words = [w.strip() for w in show.split(",") if w.strip()]
    for word in words:
        if word not in wv:
            print(f"{word}: not in vocabulary")
            continue
        neighbours = ", ".join(f"{_printable(w)} {s:.2f}" for w, s in wv.most_similar(word, topn=8))
        print(f"{_printable(word)}: {neighbours}")


def _printable(word: str) -> str:
    """``word`` with control and other unprintable characters escaped, so a terminal shows them as text."""
    if word.isprintable():
        return word
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 0x100 else
                   f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in word)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .model import Word2VecModel

    if not args.similarity and not args.analogies:
        raise ConfigError("give --similarity FILE and/or --analogies FILE")
    if args.restrict_vocab < 1:
        raise ConfigError(f"invalid --restrict-vocab {args.restrict_vocab}: must be at least 1")
    _check_evaluation_files(similarity=("--similarity", args.similarity), analogies=("--analogies", args.analogies))
    from .publishing import record_evaluation

    spark = _session(args)
    # Loading reads the newest version again if retention removes the one it is reading; the
    # version it read (``source``) is the one scored and recorded.
    model = Word2VecModel.load(args.vectors, spark=spark)
    location = model.source
    scores = model.evaluate(args.similarity, args.analogies, restrict_vocab=args.restrict_vocab)
    print(json.dumps(scores, indent=2, sort_keys=True))
    _refuse_nothing_scored(scores, args)
    if args.record:
        print(f"recorded the scores in {record_evaluation(spark, location, model.metadata['evaluation'])}")
    return 0


def _refuse_nothing_scored(scores: dict, args: argparse.Namespace) -> None:
    """An evaluation file none of whose pairs or questions the vocabulary holds scores nothing:
    an error, as in gensim, and nothing recorded (a wrong file, or another case folding)."""
    from .evaluation import EvaluationDataError

    empty = [f"{option} {path}: none of its {what} has every word in the vocabulary"
             for option, path, count, what in (("--similarity", args.similarity, "wordsim_pairs", "word pairs"),
                                               ("--analogies", args.analogies, "analogy_questions", "questions"))
             if path and scores.get(count) == 0]
    if empty:
        raise EvaluationDataError("; ".join(empty) + f" (the {args.restrict_vocab:,} most frequent words); "
                                  + ("nothing was recorded" if args.record else "nothing was scored"))


def cmd_export(args: argparse.Namespace) -> int:
    from .interchange import FORMATS, check_export_files, export_model

    check_export_files(args.output, args.vocab_counts, args.overwrite)   # local files: before Spark starts
    spark = _session(args)
    n, d = export_model(spark, args.vectors, args.output, binary=FORMATS[args.format],
                        vocab_counts=args.vocab_counts, overwrite=args.overwrite)
    counts = f" and counts to {args.vocab_counts}" if args.vocab_counts else ""
    print(f"exported {n} words x {d} dims from {args.vectors} to {args.output} ({args.format}){counts}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .interchange import import_model
    from .layout import is_model, same_path

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    if args.keep_versions < 1:
        raise ConfigError(f"--keep-versions must be at least 1, got {args.keep_versions}")
    spark = _session(args)
    if is_model(spark, args.input):  # a sparkw2v model: its current version becomes --output's next
        if args.binary is not None or args.vocab_counts or args.limit is not None or args.unicode_errors != "strict":
            raise ConfigError(f"{args.input} is a sparkw2v model: --binary, --text, --vocab-counts, --limit and "
                              "--unicode-errors do not apply (its current version is published as it is)")
        if same_path(spark, args.input, args.output):
            raise ConfigError(f"--input and --output are the same model ({args.output}): its newest version is "
                              "already its newest (to publish an older one again, give that version's path, "
                              f"{args.output}/versions/NNNNNN)")
        from .model import Word2VecModel

        model = Word2VecModel.load(args.input, spark=spark)
        # The output's versions are kept by this command's --keep-versions, not the input's training setting.
        model.config = model.config.replace(keep_versions=args.keep_versions)
        location = model.save(args.output, overwrite=args.overwrite, spark=spark)
        print(f"imported {len(model.wv)} words x {model.wv.vector_size} dims from {model.source}; wrote {location}")
        return 0
    done = import_model(spark, args.input, args.output, binary=args.binary, vocab_counts=args.vocab_counts,
                        limit=args.limit, overwrite=args.overwrite, keep_versions=args.keep_versions,
                        unicode_errors=args.unicode_errors)
    print(f"imported {done.words} words x {done.vector_size} dims from {args.input} ({done.counts}); "
          f"wrote {done.location}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from .filesystem import local_output_path
    from .report import chart_available, chart_png, summary
    from .session import default_filesystem_is_local
    from .filesystem import filesystem_of
    from .vector_table import not_in_place, read_metadata, resolve

    # A local model is read without Spark (its start would be most of the command's time).
    local = local_output_path(args.model, default_filesystem_is_local(args.master, dict(args.conf)))
    spark = _session(args) if local is None else None
    location = resolve(spark, args.model if local is None else local)
    meta = read_metadata(spark, location)
    if args.chart and (not meta.get("history") or not chart_available()):  # before printing the report
        why = ("it has no per-epoch history (an imported model, or one trained before histories were kept)"
               if not meta.get("history") else "matplotlib is not installed (pip install 'sparkw2v[report]')")
        raise ConfigError(f"no chart for {location}: {why}")
    print(json.dumps(meta, indent=2, sort_keys=True) if args.json else summary(meta, location))
    wrong = not_in_place(filesystem_of(spark, location), location)  # sizes against the file list, no reading
    if wrong is not None:
        log.warning("%s is not whole: %s; reading it fails until its files are restored", location, wrong)
    if args.chart:
        png = chart_png(meta)
        if png is None:
            raise ConfigError(f"no chart for {location}: drawing it failed (the warning above says why)")
        with open(args.chart, "wb") as fh:
            fh.write(png)
        print(f"wrote {args.chart}")
    return 0


COMMANDS = {"train": cmd_train, "stream": cmd_stream, "evaluate": cmd_evaluate, "export": cmd_export,
            "import": cmd_import, "info": cmd_info}


#: Set when SIGINT or SIGTERM arrived: whatever the command raises afterwards is the interruption.
_signalled = False


def _interrupted(signum, frame) -> None:
    """SIGINT (Ctrl-C) and SIGTERM (kill, a scheduler): stop the command. The Py4J calls this
    cuts short, and the JVM going down with the process group, make Py4J log errors through the
    root logger: logging is off until the command has said it was interrupted."""
    global _signalled
    if interrupts.hold(signum):  # a version being committed: delivered again once it is
        return
    _signalled = True
    logging.disable(logging.CRITICAL)  # undone when main() returns
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    global _signalled, STARTED, _main_calls
    _signalled = False
    if _main_calls:
        STARTED = time.perf_counter()
    _main_calls += 1
    interrupts.reset()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # the command's own usage, not the top-level one
        COMMAND_PARSERS[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args)
    main_thread = threading.current_thread() is threading.main_thread()
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) if main_thread else None
    if main_thread:
        signal.signal(signal.SIGTERM, _interrupted)
        signal.signal(signal.SIGINT, _interrupted)
    hint = ("; run the same command with --resume to continue from its last checkpoint, if one was "
            "written" if args.command == "train" else "")
    if args.command == "train" and getattr(args, "from_model", None):   # --resume is refused there
        hint = "; run the same command again: a run continuing --from-model writes no checkpoints and starts over"
    try:
        with settings_named_as_flags():  # messages name settings as the flags the user typed
            return _run(args, hint)
    finally:  # a process that goes on (tests, a notebook) gets its handlers and logging back
        logging.disable(logging.NOTSET)
        if handlers is not None:
            signal.signal(signal.SIGINT, handlers[0])
            signal.signal(signal.SIGTERM, handlers[1])


def _spark_stopped() -> bool:
    """Whether this process's SparkContext has been stopped from the JVM's side (its shutdown hook
    runs when spark-submit's JVM is signalled) or its JVM is gone."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None or sc._jsc is None:
        return False
    try:
        return bool(sc._jsc.sc().isStopped())
    except Exception:  # the gateway is gone with the JVM
        return True


def _run(args: argparse.Namespace, hint: str) -> int:
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(f"sparkw2v: interrupted{_interrupted_hint(hint)}", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for users; the traceback with --verbose
        if _signalled:  # the signal cut a call short, which then failed in its own way
            print(f"sparkw2v: interrupted{_interrupted_hint(hint)}", file=sys.stderr)
            return 130
        if os.environ.get("PYSPARK_GATEWAY_PORT") and _spark_stopped():
            # Under spark-submit a signal reaches the JVM, whose shutdown hook stops Spark under us;
            # so do a scheduler's kill and a JVM that ran out of memory: the first line says which.
            from .errors import first_line
            print(f"sparkw2v: interrupted: Spark's driver stopped during the run (spark-submit's JVM was signalled, "
                  f"killed or failed: {first_line(exc)}){_interrupted_hint(hint)}", file=sys.stderr)
            return 130
        if args.verbose:
            raise
        from .errors import cluster_stop, user_message
        message = user_message(exc)
        if message is None:
            raise
        if cluster_stop(exc):   # the run stopped, as an interrupted one: how to go on
            message += hint
        field = getattr(exc, "field", None)
        if isinstance(exc, ConfigError) and field in vars(args) and field != "config":
            # given as a flag, named as typed (a config file's value keeps the file's name for it)
            message = str(exc.named(flag_of(field)))
        print(f"sparkw2v: error: {message}", file=sys.stderr)
        return 2


def _interrupted_hint(hint: str) -> str:
    """What follows "interrupted": ``hint`` (how to go on), or, once the command has published
    its version, that version: running the command again would publish another."""
    step = interrupts.completed_step()
    if step is None:
        return hint
    return f" after it {step}, which is complete: there is nothing to resume or run again"


def run(argv: Sequence[str] | None = None, command: Callable[[Sequence[str] | None], int] = main) -> NoReturn:
    """The ``sparkw2v`` program (and ``python -m sparkw2v``, ``jobs/*.py``): ``command``, then
    the process ends with its exit code (as ``sys.exit`` gives it) after the ``atexit``
    functions, without the rest of Python's finalization. With Spark's gateway still open,
    Py4J's connection finalizers can abort the interpreter there ("Fatal Python error:
    PyThreadState_Get", exit 134) after the command has succeeded or failed; the driver's JVM
    ends by itself when its stdin closes, as it does after a normal exit."""
    try:
        code = command(argv)
    except SystemExit as exc:  # argparse's usage errors and --help
        code = exc.code
    except KeyboardInterrupt:  # a command without its own handler (jobs/query.py): the shell's code for it
        print("interrupted", file=sys.stderr)
        code = 130
    except BaseException:  # a bug's traceback (or any error with --verbose), as Python prints it
        traceback.print_exc()
        code = 1
    if not isinstance(code, int):  # as sys.exit: None is success, anything else is printed and fails
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    atexit._run_exitfuncs()  # what registered to run at exit (pyspark's profiler dumps, coverage) still runs
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
