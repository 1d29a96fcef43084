"""Config: validation messages, TOML files, CLI flags."""

import json

import numpy as np
import pytest

from sparkw2v.cli import build_parser, config_from_args
from sparkw2v.config import ConfigError, ConfigTypeError, TrainConfig


@pytest.mark.parametrize("changes, message", [
    ({"vector_size": 0}, "invalid vector_size=0: must be an integer >= 1"),
    ({"window": -1}, "invalid window=-1"),
    ({"sample": 1.5}, "invalid sample=1.5: must be below 1"),
    ({"alpha": 0.0}, "invalid alpha=0.0"),
    ({"min_alpha": 0.5}, "must not exceed alpha"),
    ({"input_format": "xml"}, "invalid input_format='xml': must be one of text, parquet"),
    ({"token_pattern": "("}, "not a regular expression"),
    ({"token_pattern": "x*"}, "must not match the empty string"),
    ({"token_pattern": "(,|;)+"}, "must not have capturing groups"),
    ({"epochs": 2.5}, "invalid epochs=2.5"),
    ({"negative_group": 0}, "invalid negative_group=0: must be an integer >= 1"),
    ({"negative_draws": 0}, "invalid negative_draws=0: must be an integer >= 1"),
    ({"ns_exponent": 100.0}, "invalid ns_exponent=100.0: must be a number in [0, 10.0]"),
    ({"ns_exponent": float("inf")}, "invalid ns_exponent=inf: must be a number in [0, 10.0]"),
    ({"ns_exponent": float("nan")}, "invalid ns_exponent=nan: must be a number >= 0"),
    ({"negative": 1_000_000}, "invalid negative=1000000: must be at most 1000"),
    ({"window": 2 ** 31}, "invalid window=2147483648: must be below 2"),
])
def test_bad_values_are_rejected_with_a_clear_message(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("*", r"\*").replace("[", r"\[")):
        TrainConfig(**changes).validate(require_io=False)


@pytest.mark.parametrize("changes", [{"vector_size": "5"}, {"epochs": 2.5}, {"sample": "1e-3"}, {"alpha": True},
                                     {"seed": 1.5}, {"sg": "yes"}, {"combine": 3}, {"text_column": ["a"]}])
def test_values_of_the_wrong_type_are_type_errors_too(changes):
    """As pyspark.ml's type converters raise TypeError; still a ConfigError (a ValueError)."""
    with pytest.raises(TypeError, match=f"invalid {next(iter(changes))}=") as caught:
        TrainConfig(**changes).validate(require_io=False)
    assert isinstance(caught.value, ConfigError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("changes", [{"vector_size": 0}, {"sample": 1.5}, {"seed": -1}, {"combine": "max"},
                                     {"text_column": ""}])
def test_values_of_the_right_type_out_of_range_are_not_type_errors(changes):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**changes).validate(require_io=False)
    assert not isinstance(caught.value, TypeError)


def test_input_and_output_are_required_for_a_run():
    with pytest.raises(ConfigError, match=r"^no input given: give --input PATH .* or --input-table NAME$"):
        TrainConfig(output="x").validate()
    with pytest.raises(ConfigError, match="exactly one of --input PATH or --input-table NAME, not both"):
        TrainConfig(input="x", input_table="t", output="x").validate()
    with pytest.raises(ConfigError, match=r"^no output given: give --output PATH"):
        TrainConfig(input="x").validate()
    TrainConfig(input="x", output="y").validate()


def test_alpha_default_depends_on_architecture():
    assert TrainConfig(sg=True).effective_alpha == 0.025
    assert TrainConfig(sg=False).effective_alpha == 0.05


def test_shared_negatives_follow_the_vocabulary_and_the_draw_rule():
    from sparkw2v.training import negative_group

    assert negative_group(64, 14_000) == 64
    assert negative_group(64, 1_000) == 7       # at most one centre per 128 vocabulary words
    assert negative_group(64, 16) == 1          # a tiny vocabulary: every centre draws its own
    cfg = TrainConfig()
    assert cfg.negative_draws_for(64) == 8 and cfg.negative_draws_for(1) == 5
    assert TrainConfig(negative=15).negative_draws_for(64) == 15
    assert TrainConfig(negative_draws=32).negative_draws_for(64) == 32
    cbow = TrainConfig(sg=False)
    assert cbow.effective_negative_group == 16 and TrainConfig().effective_negative_group == 1
    assert cbow.negative_draws_for(16) == 16 and cbow.negative_draws_for(1) == 5
    assert TrainConfig(sg=False, negative_group=1).effective_negative_group == 1


def test_default_toml_lists_every_setting_with_its_default():
    text = open("conf/default.toml").read()
    for name in TrainConfig.field_names():
        assert f"{name} = " in text, name
    assert TrainConfig.from_toml("conf/default.toml") == TrainConfig()
    demo = TrainConfig.from_toml("conf/brown.toml").validate(require_io=False)   # the main command's: two shards
    assert demo.num_partitions == 2 and demo.input == "sparkw2v/data/brown.txt.gz"


def test_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("windw = 3\n")
    with pytest.raises(ConfigError, match="unknown setting.*windw"):
        TrainConfig.from_toml(bad)
    bad.write_text('window = "five"\n')
    with pytest.raises(ConfigError, match="invalid window='five'.*expected int"):
        TrainConfig.from_toml(bad)
    bad.write_text("window = 2\n[a]\nepochs = 1\n[b]\nwindow = 7\n")      # tables are flattened: once each
    with pytest.raises(ConfigError, match=r"sets window twice \(the top level and \[b\]\); keep one"):
        TrainConfig.from_toml(bad)
    bad.write_text("[a]\nwindow = 3\n[b]\nepochs = 2\n")
    assert (TrainConfig.from_toml(bad).window, TrainConfig.from_toml(bad).epochs) == (3, 2)


def test_a_tokens_column_and_a_text_column_are_not_given_together():
    with pytest.raises(ConfigError, match=r"invalid text_column='body': give it or tokens_column \(inputCol\), "
                                          "not both"):
        TrainConfig(tokens_column="words", text_column="body").validate(require_io=False)
    assert TrainConfig(tokens_column="words").validate(require_io=False).text_column == "text"


def test_flags_override_toml_which_overrides_defaults(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("window = 3\nepochs = 2\nsg = false\n")
    args = build_parser().parse_args(["train", "--config", str(conf), "--epochs", "7", "--input", "i",
                                      "--output", "o", "--keep-case"])
    cfg = config_from_args(args)
    assert (cfg.window, cfg.epochs, cfg.sg, cfg.lowercase, cfg.vector_size) == (3, 7, False, False, 100)
    assert config_from_args(build_parser().parse_args(["train", "--cbow"])).sg is False


def test_ns_exponent_from_the_command_line_is_one_line(capsys):
    from sparkw2v.cli import main
    assert main(["train", "--input", "x", "--output", "y", "--ns-exponent", "inf"]) == 2
    err = capsys.readouterr().err
    assert err == "sparkw2v: error: invalid --ns-exponent=inf: must be a number in [0, 10.0] (0.75: word2vec's; " \
                  "1: by frequency; 0: uniform)\n"


def test_column_options_are_refused_for_text_files():
    """A text file's lines are the text: a column option given for one would be ignored silently."""
    TrainConfig(input="c.txt", tokens_column="t").validate(require_io=False)   # an estimator's fit(df) reads columns
    with pytest.raises(ConfigError, match="invalid tokens_column='t': applies to --input-format parquet"):
        TrainConfig(input="c.txt", output="o", tokens_column="t").validate()
    with pytest.raises(ConfigError, match="invalid text_column='body'"):
        TrainConfig(input="c.txt", output="o", text_column="body").validate()
    TrainConfig(input="c.parquet", input_format="parquet", output="o", text_column="body").validate()
    TrainConfig(input_table="t", output="o", tokens_column="toks").validate()


def test_numbers_are_converted_as_pyspark_ml_converts_them():
    from sparkw2v.config import convert_number

    assert convert_number("vector_size", 10.0) == 10 and type(convert_number("vector_size", 10.0)) is int
    assert convert_number("vector_size", 10.5) == 10.5                   # left for validate to refuse
    assert type(convert_number("alpha", 1)) is float and type(convert_number("sample", np.float32(0.5))) is float
    assert type(convert_number("epochs", np.int32(3))) is int and convert_number("text_column", "x") == "x"
    assert convert_number("sg", np.bool_(False)) is False and convert_number("epochs", True) is True


def test_command_line_errors_name_the_flags_and_the_commands_usage(capsys, tmp_path):
    from sparkw2v.cli import main
    assert main(["train", "--input", "x", "--output", "y", "--vector-size", "0"]) == 2
    assert capsys.readouterr().err == "sparkw2v: error: invalid --vector-size=0: must be an integer >= 1\n"
    (tmp_path / "c.toml").write_text("vector_size = 0\n")                   # a file's value keeps the file's name
    assert main(["train", "--input", "x", "--output", "y", "--config", str(tmp_path / "c.toml")]) == 2
    assert capsys.readouterr().err == "sparkw2v: error: invalid vector_size=0: must be an integer >= 1\n"
    with pytest.raises(SystemExit):
        main(["train", "--input", "x", "--bogus"])
    err = capsys.readouterr().err
    assert err.startswith("usage: sparkw2v train") and "unrecognized arguments: --bogus" in err


def test_reader_options_from_python_toml_and_metadata(tmp_path):
    cfg = TrainConfig(input_options={"sep": ";", "multiLine": True, "samplingRatio": 0.5})
    assert cfg.input_options == (("sep", ";"), ("multiLine", "true"), ("samplingRatio", "0.5"))
    assert TrainConfig(input_options=["sep=a=b", "SEP=|"]).input_options == (("SEP", "|"),)   # keys ignore case
    assert TrainConfig.from_mapping(json.loads(json.dumps(cfg.to_dict()))) == cfg             # metadata round trip
    inline, table = tmp_path / "inline.toml", tmp_path / "table.toml"
    inline.write_text('input_format = "csv"\ninput_options = { sep = ";", header = false }\n')
    table.write_text('[input]\ninput_format = "csv"\n[input_options]\nsep = ";"\nheader = false\n')
    for path in (inline, table):
        loaded = TrainConfig.from_toml(path)
        assert loaded.input_options == (("sep", ";"), ("header", "false")) and loaded.input_format == "csv"
    for bad in ("sep", {"sep": None}, 5, [("a",)]):
        with pytest.raises(ConfigError, match="invalid input_options=.*must be reader options: KEY=VALUE"):
            TrainConfig(input_options=bad)
    assert TrainConfig(input_options=["lineSep=\\n", "sep=\\t"]).input_options == (("lineSep", "\n"), ("sep", "\\t"))
    with pytest.raises(ConfigError, match="Spark's text reader reads UTF-8 only"):
        TrainConfig(input="x", output="o", input_options={"encoding": "latin1"}).validate()
    from sparkw2v.config import StreamConfig
    with pytest.raises(ConfigError, match="invalid source_options='charset=latin1': Spark's text reader"):
        StreamConfig(source="s", checkpoint="c", source_options=["charset=latin1"]).validate()
    from sparkw2v import Word2Vec                                                          # as a Param
    est = Word2Vec(input_options={"sep": ";"})
    assert est.config.input_options == (("sep", ";"),) and "input_options: Spark reader option" in est.explainParams()
    with pytest.raises(ConfigError, match=r"invalid input_options='sep=;': applies to files read with input; a "
                                          r"catalog table \(input_table\) is read with its own options"):
        TrainConfig(input_table="t", output="o", input_options={"sep": ";"}).validate()


def test_reader_option_flags_add_to_the_config_file(tmp_path, capsys):
    from sparkw2v.cli import main
    toml = tmp_path / "c.toml"
    toml.write_text('input_options = { sep = ";", header = false }\n')
    args = build_parser().parse_args(["train", "--config", str(toml), "--input-option", "sep=|",
                                      "--input-option", "encoding=UTF-16"])
    assert config_from_args(args).input_options == (("header", "false"), ("sep", "|"), ("encoding", "UTF-16"))
    stream = build_parser().parse_args(["stream", "--source", "s", "--source-option", "sep=;"])
    assert stream.source_options == [("sep", ";")] and not hasattr(stream, "input_options")
    assert main(["train", "--input-table", "t", "--output", "o", "--input-option", "sep=;"]) == 2
    assert capsys.readouterr().err == ("sparkw2v: error: invalid --input-option='sep=;': applies to files read "
                                       "with --input; a catalog table (--input-table) is read with its own options\n")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--input-option", "sep"])
    assert "argument --input-option: expected KEY=VALUE, got 'sep'" in capsys.readouterr().err


@pytest.mark.parametrize("value, error", [(True, ConfigTypeError), ("3", ConfigTypeError), (0, ConfigError)])
def test_stream_settings_are_checked_as_training_settings_are(value, error):
    from sparkw2v.config import StreamConfig
    with pytest.raises(error, match="invalid max_files_per_trigger=.*: must be an integer >= 1"):
        StreamConfig(source="s", checkpoint="c", max_files_per_trigger=value).validate()
    with pytest.raises(ConfigError, match="invalid format='?xml'?: must be one of text, "):
        StreamConfig(source="s", checkpoint="c", format="xml").validate()
    with pytest.raises(ConfigError, match="invalid max_files_per_trigger=2147483648: must be an integer from 1 to "
                                          "2147483647"):
        StreamConfig(source="s", checkpoint="c", max_files_per_trigger=2**31).validate()


def test_a_config_file_with_a_byte_order_mark_and_flags_that_turn_its_booleans_off(tmp_path):
    path = tmp_path / "team.toml"
    text = "window = 3\noverwrite = true\nresume = true\nkeep_checkpoints = true\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert TrainConfig.from_toml(path).window == 3                       # a Windows editor's BOM is read past
    parser = build_parser()
    args = parser.parse_args(["train", "--config", str(path), "--input", "i", "--output", "o", "--no-overwrite",
                              "--no-resume", "--no-keep-checkpoints"])
    cfg = config_from_args(args)
    assert (cfg.overwrite, cfg.resume, cfg.keep_checkpoints, cfg.window) == (False, False, False, 3)
    path.write_bytes(b"window = 3\xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        TrainConfig.from_toml(path)
