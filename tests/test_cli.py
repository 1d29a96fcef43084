"""What a person running sparkw2v sees: help text, --version, --conf, the phases' log lines, the
closing line and ``sparkw2v info``."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from sparkw2v import __version__, progress, report
from sparkw2v.cli import build_parser, closing_times, conf_pair, main

from .test_training import planted_lines

RUN = ["--vector-size", "8", "--epochs", "2", "--min-count", "1", "--sample", "0", "--window", "3",
       "--num-partitions", "2", "--batch-words", "512", "--seed", "3", "--show", ""]


def _help(*command: str) -> str:
    parser = build_parser()
    if not command:
        return parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command[0]]
    return sub.format_help()


@pytest.mark.parametrize("command", ["train", "stream", "evaluate", "export", "import", "info"])
def test_help_has_one_default_per_option_and_none_on_flags(command):
    text = " ".join(_help(command).split())
    assert "(default: True)" not in text and "(default: False)" not in text and "(default: None)" not in text
    assert "--conf KEY=VALUE" in text and "--master" in text and "--verbose" in text
    for entry in re.split(r" (?=--?[a-z])", text):                           # one option's help each
        assert entry.count("(default") + entry.count("(the default)") <= 1, entry


def test_train_help_shows_required_options_and_the_output_layout():
    text = " ".join(_help("train").split())
    assert text.startswith("usage: sparkw2v train (--input PATH | --input-table NAME) --output PATH")
    assert "--output PATH model path: each run publishes OUTPUT/versions/NNNNNN/ (required)" in text
    assert "(required, or --input-table)" in text
    assert "OUTPUT/versions/NNNNNN/" in text and "OUTPUT/LATEST" in text
    assert "--sg skip-gram (the default) --cbow continuous bag of words (CBOW)" in text
    assert "--save-counts" in text and "--no-save-counts write no counts/ table" in text
    stream = " ".join(_help("stream").split())
    assert stream.startswith("usage: sparkw2v stream --source PATH --checkpoint PATH --output PATH")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparkw2v {__version__}"


def test_a_flag_and_its_opposite_are_refused_together(capsys):
    args = build_parser().parse_args(["train", "--input", "i", "--output", "o", "--cbow"])
    assert args.sg is False
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--input", "i", "--output", "o", "--sg", "--cbow"])
    assert exit_info.value.code == 2
    assert "argument --cbow: not allowed with argument --sg" in capsys.readouterr().err


def test_a_master_spark_refuses_is_one_line_naming_it(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n" * 20)
    done = subprocess.run([sys.executable, "-m", "sparkw2v", "train", "--input", str(corpus), "--output",
                           str(tmp_path / "m"), "--master", "local[0]"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("sparkw2v: error: Spark did not start with master 'local[0]': "
                                                    "org.apache.spark.SparkException: Asked to run locally with 0 "
                                                    "threads")
    assert "Fatal Python error" not in done.stderr
    assert not (tmp_path / "m").exists()
    usage = subprocess.run([sys.executable, "-m", "sparkw2v", "train", "--no-such-flag"], capture_output=True,
                           text=True, timeout=60)                # argparse's exit code and usage come through
    assert usage.returncode == 2 and "unrecognized arguments: --no-such-flag" in usage.stderr


@pytest.mark.parametrize("ending, code", [("raise KeyboardInterrupt", 130), ("return None", 0), ("return 3", 3),
                                          ("raise SystemExit('no')", 1), ("raise RuntimeError('bug')", 1)])
def test_the_program_ends_with_its_commands_exit_code_after_atexit(ending, code):
    script = ("import atexit\nfrom sparkw2v.cli import run\natexit.register(print, 'atexit ran')\n"
              f"def command(argv):\n    {ending}\nrun(command=command)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == code and done.stdout == "atexit ran\n", (done.returncode, done.stdout, done.stderr)


def test_conf_pairs_are_parsed_and_bad_ones_refused(capsys):
    assert conf_pair("spark.executor.memory=4g") == ("spark.executor.memory", "4g")
    assert conf_pair("spark.driver.extraJavaOptions=-Da=b") == ("spark.driver.extraJavaOptions", "-Da=b")
    args = build_parser().parse_args(["info", "m", "--conf", "a.b=1", "--conf", "c=2"])
    assert args.conf == [("a.b", "1"), ("c", "2")]
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["info", "m", "--conf", "no-equals-sign"])
    assert exit_info.value.code == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    """One CLI run with its log records and stdout."""
    corpus = tmp_path_factory.mktemp("cli") / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=4, sentences=300)) + "\n")
    out = tmp_path_factory.mktemp("cli") / "model"
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("sparkw2v").addHandler(handler)
    try:
        import contextlib
        import io
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            assert main(["train", "--input", str(corpus), "--output", str(out), *RUN]) == 0
    finally:
        logging.getLogger("sparkw2v").removeHandler(handler)
    return out, [r.getMessage() for r in records], stdout.getvalue()


def test_each_phase_is_logged_when_not_on_a_terminal(trained):
    _, messages, _ = trained
    assert not progress.TRACKER.live
    for phase in ("counting done: ", "encoding done: ", "publish done: "):
        assert any(m.startswith(phase) for m in messages), (phase, messages)
    encode = next(m for m in messages if m.startswith("encoding done: "))
    assert re.search(r"\d+ tasks, [\d.]+s, [\d.]+[KM]? words/s", encode), encode
    assert any(m.startswith("epoch 2/2: ") for m in messages)                  # training's own line


def test_closing_line_has_the_wall_time_and_phases(trained):
    _, _, stdout = trained
    line = next(line for line in stdout.splitlines() if line.startswith("run took "))
    for phase in ("starting Spark", "counting", "encoding", "training", "publishing"):
        assert f" {phase} " in line, line
    assert re.fullmatch(r"run took [\dmhs.]+: .*", line)
    assert "(default" not in closing_times({"counting": 1.0})


def test_a_later_run_in_the_same_process_counts_its_time_from_its_own_start(trained, tmp_path, capsys):
    """A notebook or a test calling ``main`` again: its closing line and its recorded session time
    cover that call, not the time since the process imported the CLI."""
    corpus = tmp_path / "planted.txt"
    corpus.write_text("\n".join(planted_lines(seed=4, sentences=300)) + "\n")
    time.sleep(1.0)  # the module was imported earlier still: a stale start would show at least this
    capsys.readouterr()
    started = time.perf_counter()
    assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "model"), *RUN]) == 0
    wall = time.perf_counter() - started
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("run took "))
    h, m, s = re.match(r"run took (?:(\d+)h)?(?:(\d+)m)?([\d.]+)?s?:", line).groups()
    took = 3600 * int(h or 0) + 60 * int(m or 0) + float(s or 0)
    meta = json.loads((tmp_path / "model" / "versions" / "000001" / "metadata.json").read_text())
    assert took <= wall + 0.6, (line, wall)   # the line rounds
    assert meta["timings"]["session_seconds"] <= wall, (meta["timings"], wall)


def test_metadata_records_the_spark_run_and_info_prints_it(spark, trained, capsys):
    out, _, _ = trained
    meta = json.loads((out / "versions" / "000001" / "metadata.json").read_text())
    assert meta["spark"]["master"] == spark.sparkContext.master
    assert meta["spark"]["app_id"] == spark.sparkContext.applicationId
    assert {"session_seconds", "count_seconds", "encode_seconds", "train_seconds",
            "publish_seconds"} <= set(meta["timings"])
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    capsys.readouterr()
    assert main(["info", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "versions/000001" in text and re.search(r"^version +1, written ", text, re.M)
    assert spark.sparkContext.applicationId in text and f"master {spark.sparkContext.master}" in text
    assert "vector_size=8" in text and "epochs=2" in text                      # parameters that differ
    assert re.search(r"^history +epoch +words +words/s +loss", text, re.M)
    assert re.search(r"^timings +count [\dmhs.]+, encode [\dmhs.]+", text, re.M)
    assert main(["info", str(out), "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    assert main(["info", str(out / "nothing-here"), "-q"]) == 2


def test_info_reads_a_local_model_without_spark(trained, tmp_path, capsys, monkeypatch, caplog):
    from sparkw2v import cli, session

    out, _, _ = trained
    assert main(["info", str(out), "--json", "-q"]) == 0                   # through Spark (a session is running)
    through_spark = capsys.readouterr().out
    monkeypatch.setattr(session, "default_filesystem_is_local", lambda master, conf: True)
    monkeypatch.setattr(cli, "_session", lambda *a, **k: pytest.fail("info started Spark for a local model"))
    assert main(["info", str(out), "--json", "-q"]) == 0
    assert capsys.readouterr().out == through_spark
    assert main(["info", str(out), "-q"]) == 0
    assert re.search(r"^version +1, written ", capsys.readouterr().out, re.M)
    assert main(["info", str(tmp_path / "nothing-here"), "-q"]) == 2
    assert capsys.readouterr().err.strip() == f"sparkw2v: error: {tmp_path / 'nothing-here'} does not exist"
    damaged = tmp_path / "damaged"                                          # a damaged metadata.json is named
    shutil.copytree(out / "versions" / "000001", damaged)
    (damaged / "metadata.json").write_text((damaged / "metadata.json").read_text().replace('"epochs": 2', '"epochs": 3'))
    assert main(["info", str(damaged), "-q"]) == 2
    assert "metadata.json is damaged: its content does not match the SHA-256" in capsys.readouterr().err
    partial = tmp_path / "partial"                                          # a version missing a table's files
    shutil.copytree(out / "versions" / "000001", partial)
    shutil.rmtree(partial / "vectors")
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert main(["info", str(partial), "-q"]) == 0
    assert any(re.search(r"partial is not whole: .*vectors/part-\S+ is missing.*reading it fails until its files "
                         "are restored", r.getMessage()) for r in caplog.records), caplog.records


def test_chart_is_drawn_when_matplotlib_is_installed(trained, tmp_path):
    out, _, _ = trained
    meta = json.loads((out / "versions" / "000001" / "metadata.json").read_text())
    assert report.chart_png({**meta, "history": []}) is None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert report.chart_png(meta) is None
        assert not (out / "versions" / "000001" / report.CHART).exists()
        return
    assert report.chart_available()
    png = (out / "versions" / "000001" / report.CHART).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["info", str(out), "--chart", str(tmp_path / "c.png"), "-q"]) == 0
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_info_chart_without_matplotlib_fails_before_printing_the_report(trained, tmp_path, monkeypatch, capsys):
    out, _, _ = trained
    monkeypatch.setattr(report, "chart_available", lambda: False)
    assert main(["info", str(out), "--chart", str(tmp_path / "c.png"), "-q"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""                        # no report printed before the refusal
    assert "no chart for" in captured.err and "matplotlib is not installed" in captured.err
    assert not (tmp_path / "c.png").exists()


def test_wall_time_counts_from_a_parent_jvms_start(spark, monkeypatch):
    from sparkw2v import cli

    assert cli.jvm_head_start(spark) == 0.0  # this process started the JVM
    runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")  # as under spark-submit: the JVM started Python
    monkeypatch.setattr(cli.os, "getppid", lambda: int(runtime.getPid()))
    head = cli.jvm_head_start(spark)
    age = time.time() - int(runtime.getStartTime()) / 1000
    assert head == pytest.approx(max(0.0, age - (time.perf_counter() - cli.STARTED)), abs=1.0)


def test_bad_evaluation_files_fail_before_spark_starts_naming_their_option(tmp_path, capsys):
    latin = tmp_path / "pairs.tsv"
    latin.write_bytes("caf\xe9\tcoffee\t5.0\n".encode("latin-1"))
    args = ["train", "--input", str(tmp_path / "any.txt"), "--output", str(tmp_path / "m"), *RUN]
    assert main([*args, "--eval-similarity", str(latin)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sparkw2v: error: --eval-similarity: ") and "is not utf-8 text" in err, err
    assert main([*args, "--eval-analogies", str(tmp_path)]) == 2
    assert "--eval-analogies: " in capsys.readouterr().err
    assert main(["evaluate", "--vectors", str(tmp_path / "m"), "--similarity", str(latin)]) == 2
    assert "--similarity: " in capsys.readouterr().err
    assert main(["evaluate", "--vectors", str(tmp_path / "m"), "--analogies", str(latin),
                 "--restrict-vocab", "0"]) == 2
    assert "invalid --restrict-vocab 0" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_an_output_that_cannot_be_made_fails_before_training(spark, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n" * 20)
    assert main(["train", "--input", str(corpus), "--output", str(corpus / "sub"), *RUN]) == 2
    err = capsys.readouterr().err
    assert f"output {corpus / 'sub'} cannot be made: {corpus} is not a directory" in err, err
    assert "vocabulary" not in err                                      # nothing was counted
    for link in (tmp_path / "dangling", tmp_path / "dangling-parent"):  # a symbolic link to nothing
        link.symlink_to(tmp_path / "gone")
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")               # and a loop of links
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    for output, target in ((tmp_path / "dangling", "gone"), (tmp_path / "dangling-parent" / "m", "gone"),
                           (tmp_path / "loop-a" / "m", "loop-b")):
        assert main(["train", "--input", str(corpus), "--output", str(output), *RUN]) == 2
        err = capsys.readouterr().err
        assert f"is a symbolic link to {tmp_path / target}, which leads to no file or directory" in err, err
        assert "vocabulary" not in err


def test_a_local_output_that_may_not_be_written_is_refused_before_spark_starts(tmp_path, capsys, monkeypatch):
    from sparkw2v import cli

    def no_spark(*args, **kwargs):
        raise AssertionError("Spark was started")
    monkeypatch.setattr(cli, "_session", no_spark)
    for name in ("HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_CONF_DIR", "HADOOP_HOME", "PYSPARK_GATEWAY_PORT",
                 "PYSPARK_SUBMIT_ARGS"):
        monkeypatch.delenv(name, raising=False)
    from pyspark import SparkContext
    active = SparkContext._active_spark_context
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)   # as in a fresh process
    model = tmp_path / "model"
    (model / "versions" / "000001").mkdir(parents=True)
    (model / "versions" / "000001" / "metadata.json").write_text("{}")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    (tmp_path / "file").write_text("x")
    args = ["train", "--input", str(tmp_path / "any.txt"), *RUN]
    for output, message in ((model, "already exists; pass --overwrite"),
                            (f"file://{model}", "already exists; pass --overwrite"),
                            (tmp_path / "other" / ".." / "model", "already exists; pass --overwrite"),
                            (tmp_path / "other", "is not a sparkw2v model directory (it holds notes.txt)"),
                            (tmp_path / "file", "is a file, not a model directory; choose another --output"),
                            (tmp_path / "file" / "m", "is not a directory")):
        assert main([*args, "--output", str(output)]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    # Paths as Hadoop reads them: "%20" is no space, and ".." is taken by the text before a link is followed.
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "model").symlink_to(model)
    (tmp_path / "deep" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "deep" / "sub")
    (tmp_path / "deep" / "elsewhere").symlink_to(model)
    for output in (f"file://{tmp_path}/a%20b/model", f"{tmp_path}/link/../elsewhere"):
        with pytest.raises(AssertionError, match="Spark was started"):
            main([*args, "--output", output])
    # Where another filesystem may be the default, or the output goes on for a continuation, Spark decides.
    for extra in (["--master", "spark://127.0.0.1:7077"], ["--conf", "spark.hadoop.fs.defaultFS=hdfs://nn:8020"],
                  ["--from-model", str(model)]):
        with pytest.raises(AssertionError, match="Spark was started"):
            main([*args, "--output", str(model), *extra])
    for name, value in (("HADOOP_CONF_DIR", str(tmp_path)), ("PYSPARK_SUBMIT_ARGS", "--conf x=y pyspark-shell")):
        monkeypatch.setenv(name, value)
        with pytest.raises(AssertionError, match="Spark was started"):
            main([*args, "--output", str(model)])
        monkeypatch.delenv(name)
    monkeypatch.setattr(SparkContext, "_active_spark_context", active or object())   # a session of its own
    with pytest.raises(AssertionError, match="Spark was started"):
        main([*args, "--output", str(model)])


def test_cli_errors_name_settings_as_the_flags_typed(spark, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c\n" * 3)
    args = ["train", "--input", str(corpus), "--output", str(tmp_path / "m"), *RUN]
    assert main([*args, "--min-count", "100"]) == 2
    assert "lower --min-count or give more text" in capsys.readouterr().err


def test_export_refuses_one_file_for_vectors_and_counts(trained, tmp_path, capsys):
    out, _, _ = trained
    same = tmp_path / "same.txt"
    assert main(["export", "--vectors", str(out), "--format", "word2vec-text", "--output", str(same),
                 "--vocab-counts", str(same)]) == 2
    assert "would both be written to" in capsys.readouterr().err and not same.exists()


def test_info_on_a_missing_path_says_it_does_not_exist(spark, tmp_path, capsys):
    assert main(["info", str(tmp_path / "nomodel")]) == 2
    assert capsys.readouterr().err.strip() == f"sparkw2v: error: {tmp_path / 'nomodel'} does not exist"


def test_a_failure_after_a_signal_is_reported_as_the_interruption(monkeypatch, capsys):
    """Py4J turns an interrupted call into errors of its own; after SIGTERM they mean 'interrupted'."""
    import signal

    from sparkw2v import cli

    def cut_short(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except KeyboardInterrupt:
            raise RuntimeError("cannot access local variable 'sockfile'") from None
        return 0

    monkeypatch.setitem(cli.COMMANDS, "info", cut_short)
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    assert main(["info", "x"]) == 130
    assert capsys.readouterr().err.strip() == "sparkw2v: interrupted"
    # the process goes on as before: its own handlers, and logging on
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous
    assert logging.root.manager.disable == logging.NOTSET

    def broken(args):
        raise RuntimeError("a bug")
    monkeypatch.setitem(cli.COMMANDS, "info", broken)
    with pytest.raises(RuntimeError, match="a bug"):                   # no signal this time: a bug is a bug
        main(["info", "x"])


def test_an_interrupted_run_points_to_what_continues_it(monkeypatch, capsys):
    """--resume for a checkpointed run; a run continuing --from-model, where --resume is refused,
    is run again (an adversarial run found it pointed to --resume)."""
    from sparkw2v import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "train", interrupted)
    assert main(["train", "--input", "in.txt", "--output", "out"]) == 130
    assert capsys.readouterr().err.strip().endswith("run the same command with --resume to continue from its last "
                                                    "checkpoint, if one was written")
    assert main(["train", "--input", "in.txt", "--from-model", "out", "--output", "out"]) == 130
    assert capsys.readouterr().err.strip() == ("sparkw2v: interrupted; run the same command again: a run continuing "
                                               "--from-model writes no checkpoints and starts over")


def test_a_signal_while_spark_starts_ends_the_command_in_one_line(monkeypatch, tmp_path, capsys):
    """Spark's session starts on a thread of its own while the main thread waits, so a Ctrl-C then
    ends `train` as a later one does: one line, exit 130. Started on the main thread, PySpark's
    SparkContext replaced the command's SIGINT handler with its own, whose reentrant Py4J call logged
    tracebacks (as the stand-in below does), and a signal inside its launch of the driver JVM left
    that JVM running."""
    import signal
    import threading

    from pyspark import SparkContext

    from sparkw2v import cli, session

    def pyspark_handler(signum, frame):
        print("Traceback (most recent call last): ... py4j.protocol.Py4JNetworkError", file=sys.stderr)
        raise KeyboardInterrupt

    release, on_main = threading.Event(), []

    def starting(*args, **kwargs):
        on_main.append(threading.current_thread() is threading.main_thread())
        if on_main[-1]:  # as SparkContext does on the main thread
            signal.signal(signal.SIGINT, pyspark_handler)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while Spark starts
        release.wait(30)
        raise AssertionError("the start is abandoned, not waited for")

    corpus = tmp_path / "in.txt"
    corpus.write_text("a b c\n")
    monkeypatch.setattr(session, "get_session", starting)
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)  # a process that has not started Spark
    previous = signal.getsignal(signal.SIGINT)
    try:
        assert main(["train", "--input", str(corpus), "--output", str(tmp_path / "model"), "-q"]) == 130
    finally:
        release.set()
    assert capsys.readouterr().err == ("sparkw2v: interrupted; run the same command with --resume to continue from "
                                       "its last checkpoint, if one was written\n")
    assert on_main == [False]
    assert signal.getsignal(signal.SIGINT) == previous


def test_printed_words_escape_control_characters(capsys):
    from sparkw2v.cli import _printable

    assert _printable("café") == "café" and _printable("a\x1b[2Jb\x00") == "a\\x1b[2Jb\\x00"
    assert _printable("x\u2028y") == "x\\u2028y" and _printable("\U000e0001") == "\\U000e0001"


def test_spark_stopped_under_a_run_is_reported_as_the_interruption(monkeypatch, capsys):
    """Under spark-submit a SIGTERM reaches the JVM, whose shutdown hook stops Spark; the run's next
    Spark call fails with Py4J's text of a stopped context, which is the interruption, in one line."""
    from sparkw2v import cli

    def stopped_under_us(args):
        raise RuntimeError("An error occurred while calling o24.binaryFiles. : java.lang.IllegalStateException: "
                           "Cannot call methods on a stopped SparkContext.\n" + "\tat org.apache.spark...\n" * 100)

    monkeypatch.setitem(cli.COMMANDS, "info", stopped_under_us)
    monkeypatch.setattr(cli, "_spark_stopped", lambda: True)
    with pytest.raises(RuntimeError):                                   # not under spark-submit: a traceback
        main(["info", "x"])
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    assert main(["info", "x"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparkw2v: interrupted: Spark's driver stopped during the run (spark-submit's JVM was "
                          "signalled, killed or failed: An error occurred while calling o24.binaryFiles.")
    assert "\n" not in err
    monkeypatch.setattr(cli, "_spark_stopped", lambda: False)              # a running Spark: a bug's traceback
    with pytest.raises(RuntimeError):
        main(["info", "x"])


def test_a_run_the_cluster_stopped_says_how_to_go_on(monkeypatch, capsys):
    """Executors (or their shuffle output) lost for good end the run in one line that, as for an
    interrupted run, says to run the same command with --resume."""
    from sparkw2v import cli

    def lost(args):
        raise RuntimeError(": org.apache.spark.SparkException: Job aborted due to stage failure: ResultStage 5 has "
                           "failed the maximum allowable number of times: 4. Most recent failure reason: "
                           "org.apache.spark.shuffle.FetchFailedException: Failed to connect to worker-3/10.0.0.7:7337\n")

    monkeypatch.setitem(cli.COMMANDS, "train", lost)
    assert main(["train", "--input", "in.txt", "--output", "out"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparkw2v: error: Spark stopped the job after losing executors or the shuffle output")
    assert err.endswith("; run the same command with --resume to continue from its last checkpoint, if one was "
                        "written") and "\n" not in err


def test_a_running_spark_is_not_taken_for_a_stopped_one(spark):
    from sparkw2v.cli import _spark_stopped

    assert _spark_stopped() is False


def test_a_master_flag_under_spark_submit_is_refused_unless_it_is_spark_submits(spark, monkeypatch):
    from pyspark import SparkConf

    from sparkw2v import cli
    from sparkw2v.config import ConfigError

    cli._refuse_master_under_submit("local[2]")                          # not under spark-submit: a master is chosen
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    monkeypatch.setattr(SparkConf, "get", lambda self, key, default=None:
                        "spark://head:7077" if key == "spark.master" else default)
    with pytest.raises(ConfigError, match=r"--master local\[2\] is for runs outside spark-submit: this job runs under "
                                          r"spark-submit --master spark://head:7077"):
        cli._refuse_master_under_submit("local[2]")
    cli._refuse_master_under_submit("spark://head:7077")


def test_an_output_inside_another_model_is_refused_before_training(spark, tmp_path, capsys):
    """A model trained into another's version directory would be deleted with no word by that
    model's retention: refused in one line naming the model, before anything is counted."""
    import numpy as np

    from sparkw2v.publishing import write_model
    from sparkw2v.vocabulary import Vocabulary

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(planted_lines(seed=4, sentences=50)) + "\n")
    parent = tmp_path / "parent"
    write_model(spark, str(parent), Vocabulary(("a", "b"), np.array([3, 2])), np.ones((2, 2), np.float32),
                np.ones((2, 2), np.float32), {})
    for output in (parent / "versions" / "000001" / "mine", parent / "versions" / "000001" / "mine" / "deeper"):
        assert main(["train", "--input", str(corpus), "--output", str(output), *RUN]) == 2
        err = capsys.readouterr().err
        assert f"sparkw2v: error: output {output} lies inside the sparkw2v model " in err, err
        assert f"{parent}, whose retention or replacement would delete it: choose another --output" in err, err
        assert "vocabulary" not in err and not (parent / "versions" / "000001" / "mine").exists()


def test_an_output_inside_the_input_is_refused_before_training(spark, tmp_path, capsys):
    """The next run would read the model's files as input (and be refused with a hint about Parquet
    files): an output inside the input directory, or inside a directory its pattern matches, is
    refused on the first run."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("\n".join(planted_lines(seed=4, sentences=50)) + "\n")
    for given, output in ((corpus, corpus / "model"), (f"{corpus}/", corpus / "sub" / "model"),
                          (tmp_path / "c*", corpus / "model")):
        assert main(["train", "--input", str(given), "--output", str(output), *RUN]) == 2
        err = capsys.readouterr().err
        assert (f"sparkw2v: error: output {output} lies inside the input {given}: the next run would read the "
                "model's files as input; choose an --output outside it") in err, err
        assert "vocabulary" not in err and sorted(p.name for p in corpus.iterdir()) == ["a.txt"]
    # a pattern that matches the files beside the output, not a directory holding it, reads no model
    assert main(["train", "--input", str(corpus / "*.txt"), "--output", str(corpus / "model"), *RUN]) == 0
    assert main(["train", "--input", str(corpus / "*.txt"), "--output", str(corpus / "model"), "--overwrite",
                 *RUN]) == 0
