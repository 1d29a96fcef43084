"""The pyspark.ml face of the model: Params, Pipeline, transform, save/load round trip."""

import numpy as np
import pytest
from pyspark.ml import Pipeline

from sparkw2v import ConfigError, TrainConfig, Word2Vec, Word2VecModel
from sparkw2v.corpus import InputError

LINES = ["a b c a b", "b c d", "c d a a", "d a b c"] * 10
SMALL = dict(vector_size=8, window=2, negative=2, min_count=1, sample=0.0, epochs=1, seed=5, batch_words=64)


@pytest.fixture(scope="module")
def model(spark):
    frame = spark.createDataFrame([(line,) for line in LINES], "text string")
    return Word2Vec(num_partitions=1, **SMALL).fit(frame)


def test_every_config_field_is_a_param_with_its_default():
    est = Word2Vec(vector_size=7)
    assert set(TrainConfig.field_names()) <= {p.name for p in est.params}   # and MLlib's aliases
    assert est.getOrDefault("vector_size") == 7 and est.config.vector_size == 7
    assert est.getOrDefault("window") == TrainConfig().window
    assert "default: 100, current: 7" in est.explainParam("vector_size")


def test_bad_and_unknown_params_are_rejected_by_name():
    with pytest.raises(ConfigError, match="invalid window=0"):
        Word2Vec(window=0)
    with pytest.raises(ConfigError, match="unknown parameter.*vectorsize"):
        Word2Vec(vectorsize=3)


def test_fit_param_map_overrides_and_pipeline(spark):
    frame = spark.createDataFrame([(line,) for line in LINES], "text string")
    est = Word2Vec(num_partitions=1, **SMALL)
    assert est.fit(frame, {est.vector_size: 4}).wv.vector_size == 4
    assert est.config.vector_size == 8                 # the param map applied to a copy only
    fitted = Pipeline(stages=[est]).fit(frame)
    assert fitted.stages[0].wv.vector_size == 8
    assert fitted.transform(frame).columns == ["text", "vector"]


def test_transform_text_column_gives_mean_of_known_words(spark, model):
    frame = spark.createDataFrame([("A b zzz",), ("zzz",), (None,), ("",)], "text string")
    rows = model.transform(frame).collect()
    np.testing.assert_allclose(rows[0].vector.toArray(), (model.wv["a"] + model.wv["b"]) / 2, rtol=1e-6)
    for row in rows[1:]:                                # no known word: zeros, as MLlib gives
        np.testing.assert_array_equal(row.vector.toArray(), np.zeros(8))


def test_transform_token_column_with_nulls(spark, model):
    frame = spark.createDataFrame([(1, ["d", None, "d", "c", "nope"]), (2, None), (3, [])],
                                  "id int, words array<string>")
    out = model.setInputCol("words").setOutputCol("features").transform(frame).orderBy("id").collect()
    model.setInputCol("text").setOutputCol("vector")
    np.testing.assert_allclose(out[0].features.toArray(), (2 * model.wv["d"] + model.wv["c"]) / 3, rtol=1e-6)
    assert out[1].features.toArray().sum() == 0 and out[2].features.toArray().sum() == 0


def test_average_over_all_tokens_is_set_on_the_estimator_kept_by_save_and_checked(spark, model, tmp_path):
    frame = spark.createDataFrame([(line,) for line in LINES], "text string")
    est = Word2Vec(num_partitions=1, averageOver="all", **SMALL)
    fitted = est.fit(frame)
    assert fitted.getAverageOver() == "all" and model.getAverageOver() == "known"
    rows = spark.createDataFrame([(" a b\tzzz  zzz \n",)], "text string")    # 4 tokens, whitespace at both ends
    vector = fitted.transform(rows).first().vector.toArray()
    np.testing.assert_allclose(vector, (fitted.wv["a"] + fitted.wv["b"]) / 4, rtol=1e-6)
    fitted.save(str(tmp_path / "m"))
    assert Word2VecModel.load(str(tmp_path / "m")).getAverageOver() == "all"
    est.save(str(tmp_path / "est"))
    assert Word2Vec.load(str(tmp_path / "est")).getAverageOver() == "all"
    assert Word2Vec(averageOver=None).getAverageOver() == "known"
    for bad in ("mean", 1, ["all"]):
        with pytest.raises(ConfigError, match=r"invalid averageOver=.*: must be one of 'known', 'all'"):
            Word2Vec(averageOver=bad)
        with pytest.raises(ConfigError, match=r"invalid averageOver=.*: must be one of 'known', 'all'"):
            model.copy().setAverageOver(bad)
        with pytest.raises((TypeError, ValueError), match=r"invalid averageOver=.*: must be one of"):
            model.copy({model.averageOver: bad})             # pyspark's own paths check it too
        with pytest.raises((TypeError, ValueError), match=r"invalid averageOver=.*: must be one of"):
            model.copy().set(model.averageOver, bad)
    assert "averageOver: what transform divides" in fitted.explainParams()


def test_transform_errors_name_the_column(spark, model):
    with pytest.raises(InputError, match="no column 'text'"):
        model.transform(spark.createDataFrame([(1,)], "x int"))
    with pytest.raises(InputError, match="'text' is int"):
        model.transform(spark.createDataFrame([(1,)], "text int"))
    with pytest.raises(InputError, match="'vector' already exists"):
        model.transform(spark.createDataFrame([("a", 1)], "text string, vector int"))
    for bad in (5, "", None):                                   # refused when set, as the estimator does
        with pytest.raises(ConfigError, match=r"invalid (inputCol|outputCol)=.*: must be a column name"):
            model.copy().setInputCol(bad)
        with pytest.raises(ConfigError, match=r"invalid outputCol=.*: must be a column name"):
            model.copy().setOutputCol(bad)


def test_a_column_name_with_a_dot_is_one_name_in_fit_and_transform(spark):
    frame = spark.createDataFrame([(line.split(),) for line in LINES], "`my.words` array<string>")
    fitted = Word2Vec(inputCol="my.words", num_partitions=1, **SMALL).fit(frame)
    assert len(fitted.wv) == 4
    assert fitted.setInputCol("my.words").transform(frame).select("vector").count() == len(LINES)


def test_saved_model_loads_and_transforms_the_same(spark, model, tmp_path):
    model.save(str(tmp_path / "m"))
    loaded = Word2VecModel.load(str(tmp_path / "m"), spark=spark)
    np.testing.assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    assert loaded.config == model.config and loaded.getInputCol() == "text"
    frame = spark.createDataFrame([("a b c d",)], "text string")
    np.testing.assert_array_equal(loaded.transform(frame).first().vector.toArray(),
                                  model.transform(frame).first().vector.toArray())
    vectors = loaded.getVectors(spark)
    assert vectors.columns == ["word", "vector"] and vectors.count() == len(model.wv)


def test_evaluation_scores_are_recorded_in_metadata(spark, model, tmp_path):
    import json

    from sparkw2v.cli import main
    from sparkw2v.vector_table import read_metadata

    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("a\tb\t9.0\na\tc\t5.0\nb\td\t1.0\nzz\ta\t3.0\n")
    scores = model.evaluate(str(pairs), restrict_vocab=None)
    assert scores["wordsim_pairs"] == 3 and scores["wordsim_coverage"] == pytest.approx(0.75)
    path = str(tmp_path / "model")
    model.save(path)
    recorded = read_metadata(spark, path)["evaluation"]
    assert recorded["wordsim_spearman"] == pytest.approx(scores["wordsim_spearman"])
    assert recorded["similarity_file"] == str(pairs) and recorded["analogy_file"] is None

    # 'sparkw2v evaluate --record' stores new scores beside the version; metadata.json is not rewritten
    before = (tmp_path / "model" / "versions" / "000001" / "metadata.json").read_text()
    pairs.write_text("a\tb\t1.0\nc\td\t2.0\n")
    assert main(["evaluate", "--vectors", path, "--similarity", str(pairs), "--record", "-q"]) == 0
    assert (tmp_path / "model" / "versions" / "000001" / "metadata.json").read_text() == before
    assert (tmp_path / "model" / "versions" / "000001" / "evaluation.json").exists()
    meta = read_metadata(spark, path)
    assert meta["evaluation"]["wordsim_pairs"] == 2
    assert meta["parameters"]["vector_size"] == 8       # the rest of the metadata is kept
    assert json.loads(json.dumps(meta)) == meta


def test_recorded_scores_are_kept_named_and_never_lost(spark, model, tmp_path, caplog, capsys):
    """Scores of the other kind survive a later recording; a file that scores nothing is an error
    and records nothing; malformed lines are counted; a damaged evaluation.json hides only the
    scores, and a new recording replaces it."""
    import json
    import logging

    from sparkw2v.cli import main
    from sparkw2v.vector_table import read_metadata

    path = str(tmp_path / "model")
    model.save(path)
    pairs, questions = tmp_path / "pairs.tsv", tmp_path / "questions.txt"
    pairs.write_text("a\tb\t9.0\na\tc\t5.0\nb\td\t1.0\na c 4.0\na\tb\tn/a\n")
    questions.write_text(": one\na b c d\nb a d c\na b c\n")
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        assert main(["evaluate", "--vectors", path, "--similarity", str(pairs), "--record", "-q"]) == 0
    assert any(f"2 of the 5 lines of {pairs} are not word1'\\t'word2'\\t'score" in r.getMessage()
               and "(line 4: 'a c 4.0')" in r.getMessage() for r in caplog.records), caplog.records
    assert main(["evaluate", "--vectors", path, "--analogies", str(questions), "--record", "-q"]) == 0
    recorded = read_metadata(spark, path)["evaluation"]
    assert recorded["wordsim_pairs"] == 3 and recorded["similarity_file"] == str(pairs)   # kept
    assert recorded["analogy_questions"] == 2 and recorded["analogy_file"] == str(questions)

    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("zz\tyy\t1.0\n")
    capsys.readouterr()
    assert main(["evaluate", "--vectors", path, "--similarity", str(unknown), "--record", "-q"]) == 2
    assert f"--similarity {unknown}: none of its word pairs has every word in the vocabulary" in capsys.readouterr().err
    assert read_metadata(spark, path)["evaluation"] == recorded           # nothing recorded

    evaluation = tmp_path / "model" / "versions" / "000001" / "evaluation.json"
    evaluation.write_text('{"wordsim_pairs": 3,')                      # cut short
    (evaluation.parent / ".evaluation.json.crc").unlink(missing_ok=True)
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        meta = read_metadata(spark, path)
    sealed = json.loads((evaluation.parent / "metadata.json").read_text()).get("evaluation")
    assert meta.get("evaluation") == sealed and meta["vocab_size"] == len(model.wv)   # metadata.json's own
    assert any("evaluation.json is damaged: not valid JSON" in r.getMessage() and "record them again" in r.getMessage()
               for r in caplog.records)
    assert main(["evaluate", "--vectors", path, "--similarity", str(pairs), "--record", "-q"]) == 0
    assert read_metadata(spark, path)["evaluation"]["wordsim_pairs"] == 3


def test_fit_and_save_leave_nothing_cached(spark, tmp_path):
    def cached():
        return spark.sparkContext._jsc.getPersistentRDDs().size()

    frame = spark.createDataFrame([(line,) for line in LINES], "text string")
    before = cached()
    model = Word2Vec(num_partitions=1, **SMALL).fit(frame)
    assert cached() == before                    # a model that is never saved holds nothing
    path = str(tmp_path / "model")
    model.save(path)
    assert (tmp_path / "model" / "versions" / "000001" / "counts" / "_SUCCESS").exists()
    continued = Word2Vec(from_model=path, num_partitions=1, **SMALL).fit(frame)
    continued.save(path, overwrite=True)
    assert cached() == before


@pytest.mark.parametrize("on_driver", [True, False])
def test_saved_counts_are_the_training_runs_whatever_became_of_the_input(spark, tmp_path, monkeypatch, on_driver):
    """fit(df) keeps every word's count of its run (on the driver, or cached on the executors for
    a vocabulary too large for it): saving never reads the input again, so an input changed or
    deleted since changes nothing, and every save writes them (a second save too)."""
    import gc

    import pyarrow as pa
    import pyarrow.parquet as pq
    from sparkw2v import training

    if not on_driver:
        monkeypatch.setattr(training, "_words_on_driver", lambda spark: 0)
    corpus = tmp_path / "in"
    corpus.mkdir()
    (corpus / "part.txt").write_text("\n".join(LINES + ["rare"]) + "\n")
    model = Word2Vec(num_partitions=1, text_column="value", **{**SMALL, "min_count": 2}).fit(
        spark.read.text(str(corpus)))
    assert "rare" not in model.wv and isinstance(model.result.counts, pa.Table) == on_driver
    (corpus / "part.txt").write_text("recession " * 50 + "\n")       # a new day's export
    first = model.save(str(tmp_path / "model"))
    (corpus / "part.txt").unlink()
    corpus.rmdir()
    second = model.save(str(tmp_path / "model"), overwrite=True)
    model.save(str(tmp_path / "elsewhere"))
    model.copy().save(str(tmp_path / "copied"))                   # a copy shares the run's counts
    for version in (first, second, *(str(tmp_path / d / "versions" / "000001") for d in ("elsewhere", "copied"))):
        table = pq.read_table(version.removeprefix("file:") + "/counts").to_pydict()
        counts = dict(zip(table["word"], table["count"]))
        assert counts == {"a": 50, "b": 40, "c": 40, "d": 30, "rare": 1}, version
    cached = spark.sparkContext._jsc.getPersistentRDDs().size()
    del model
    gc.collect()                                                   # released with the last model that holds them
    assert spark.sparkContext._jsc.getPersistentRDDs().size() == cached - (0 if on_driver else 1)


def test_saving_into_the_checkpointed_output_by_another_spelling_removes_the_checkpoints(spark, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(LINES) + "\n")
    out = tmp_path / "model"
    model = Word2Vec(input=str(corpus), output=f"file://{out}", checkpoint_interval=0, num_partitions=1,
                     **{**SMALL, "epochs": 2}).fit_input(spark)
    assert (out / "_staging" / "checkpoint").exists()     # what a failed save would resume from
    model.save(str(out) + "/")
    assert Word2VecModel.load(str(out), spark=spark).wv.vector_size == SMALL["vector_size"]
    assert not (out / "_staging").exists()


def test_a_version_carries_its_own_params(spark, model, tmp_path):
    """A reader of a version gets the Params saved with it, even while (or if) ``path/metadata``,
    written after the version is published, still holds the previous save's."""
    import shutil

    path = str(tmp_path / "model")
    model.copy().setOutputCol("first").save(path)
    stale = tmp_path / "stale-metadata"
    shutil.copytree(tmp_path / "model" / "metadata", stale)
    model.copy().setOutputCol("second").save(path, overwrite=True)
    shutil.rmtree(tmp_path / "model" / "metadata")
    shutil.copytree(stale, tmp_path / "model" / "metadata")   # as between the publish and its Params
    assert Word2VecModel.load(path, spark=spark).getOutputCol() == "second"
    assert Word2VecModel.load(f"{path}/versions/000001", spark=spark).getOutputCol() == "first"


def _spark_connect_stand_in(module: str):
    """An object whose class lives where Spark Connect's do (the tests have no gRPC client)."""
    return type("ConnectStandIn", (), {"__module__": module})()


def test_a_spark_connect_session_is_refused_before_any_work(model, tmp_path):
    from sparkw2v.session import ConnectSessionError
    from sparkw2v.sql import register

    frame = _spark_connect_stand_in("pyspark.sql.connect.dataframe")
    session = _spark_connect_stand_in("pyspark.sql.connect.session")
    path = str(tmp_path / "model")
    calls = {"Word2Vec.fit": lambda: Word2Vec(**SMALL).fit(frame),
             "Word2Vec.fit_input": lambda: Word2Vec(input=str(tmp_path / "none.txt"), **SMALL).fit_input(session),
             "Word2VecModel.transform": lambda: model.transform(frame),
             "Word2VecModel.save": lambda: model.save(path, spark=session),
             "Word2VecModel.load": lambda: Word2VecModel.load(path, spark=session),
             "sparkw2v.sql.register": lambda: register(session, model)}
    for what, call in calls.items():
        with pytest.raises(ConnectSessionError) as err:
            call()
        message = str(err.value)
        assert message.startswith(f"{what} needs a classic Spark session") and "\n" not in message
        assert "Spark Connect" in message and "spark-submit" in message
    assert "this DataFrame is Spark Connect's" in str(pytest.raises(ConnectSessionError, model.transform, frame).value)
    assert not (tmp_path / "model").exists()


def test_a_spark_older_than_4_1_is_refused_before_any_work(spark, model, tmp_path, monkeypatch):
    import pyspark

    from sparkw2v.session import SparkVersionError, require_version

    old_session = type("OldSpark", (), {"version": "4.0.1", "sparkContext": spark.sparkContext})()
    path = str(tmp_path / "model")
    with pytest.raises(SparkVersionError) as err:
        model.save(path, spark=old_session)
    assert str(err.value).startswith("Word2VecModel.save needs Spark 4.1 or later, and the session's Spark is 4.0.1")
    assert not (tmp_path / "model").exists()
    monkeypatch.setattr(pyspark, "__version__", "4.0.0")
    with pytest.raises(SparkVersionError, match="this driver's pyspark is 4.0.0"):
        model.transform(spark.createDataFrame([("a b",)], ["text"]))
    monkeypatch.setattr(pyspark, "__version__", "4.1.0.dev2")
    require_version("x", "4.3.0")                 # development builds and newer Sparks pass
    require_version("x", "custom-build")          # a version that is not major.minor is not judged


def _examples(doc: str) -> list[str]:
    """The code blocks (after a line ending in ``::``) of a docstring, dedented."""
    import textwrap

    blocks, lines = [], doc.splitlines()
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::"):
            continue
        body = []
        for following in lines[i + 1:]:
            if following.strip() and not following.startswith(" " * 8):
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip())
    return blocks


@pytest.mark.parametrize("cls", [Word2Vec, Word2VecModel])
def test_the_docstring_examples_run_as_written(spark, cls, tmp_path, monkeypatch, capsys):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])    # the repository, as the examples say
    examples = _examples(cls.__doc__)
    assert examples
    for code in examples:
        exec(compile(code.replace("/tmp/", f"{tmp_path}/"), f"{cls.__name__} example", "exec"), {})
    out = capsys.readouterr().out
    assert out.strip()                                        # each example prints what it shows


def test_fit_without_input_col_names_the_token_columns_it_passes_over(spark, caplog):
    import logging
    frame = spark.createDataFrame([(line, line.split()[1:]) for line in LINES], "text string, filtered array<string>")
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        Word2Vec(num_partitions=1, **SMALL).fit(frame)
    assert any("inputCol is not set, so it trains on column 'text', tokenized" in m and "setInputCol('filtered')" in m
               for m in caplog.messages), caplog.messages
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        Word2Vec(inputCol="text", num_partitions=1, **SMALL).fit(frame)
    assert not any("inputCol is not set" in m for m in caplog.messages)
    assert not any("fit_input" in m for m in caplog.messages)
    caplog.clear()                            # settings that only fit_input reads are named, not dropped silently
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        Word2Vec(inputCol="text", input="/data/x", input_options={"sep": ";"}, num_partitions=1, **SMALL).fit(frame)
    assert any("Word2Vec.fit trains on the DataFrame it is given; input, input_options are read by fit_input(spark) "
               "only, and ignored here" in m for m in caplog.messages), caplog.messages


class _Held:
    """A stand-in for a broadcast: what ``transform``'s executor function reads is ``.value``."""

    def __init__(self, value):
        self.value = value


def _mean_vectors(column, words, matrix, *, pretokenized, pattern=None, over_all=True, key="k"):
    import pyarrow as pa

    from sparkw2v import executor, tables
    from sparkw2v.tokenizer import TokenizerSpec

    table = pa.table({"word": pa.array(words, pa.string()), "vector": tables.vector_column(matrix)})
    task = executor.MeanVectorTask(pretokenized, TokenizerSpec(True, pattern), key, over_all)
    out = executor.mean_vector_column(column, task, _Held(table))
    return np.asarray(out.flatten().to_numpy(), np.float32).reshape(len(column), matrix.shape[1])


def test_average_over_all_tokens_counts_what_mllib_counts_without_spark():
    import pyarrow as pa

    matrix = np.array([[1, 2], [3, 5]], np.float32)
    tokens = pa.array([["a", None, "", "zz"], ["b", "a", "a"], [], None], pa.list_(pa.string()))
    got = _mean_vectors(tokens, ["a", "b"], matrix, pretokenized=True, key="t1")
    # MLlib divides by every element of the array, null and "" included; no token: zeros
    np.testing.assert_allclose(got, [matrix[0] / 4, (2 * matrix[0] + matrix[1]) / 3, [0, 0], [0, 0]], rtol=1e-6)
    text = pa.array(["A,b,,zz", " a b ", None], pa.string())
    got = _mean_vectors(text, ["a", "b"], matrix, pretokenized=False, pattern=",+", key="t2")
    np.testing.assert_allclose(got[0], (matrix[0] + matrix[1]) / 3, rtol=1e-6)   # a custom pattern's tokens
    got = _mean_vectors(text, ["a", "b"], matrix, pretokenized=False, key="t3")
    np.testing.assert_allclose(got[1], (matrix[0] + matrix[1]) / 2, rtol=1e-6)   # edge whitespace is no token


def test_a_long_row_is_averaged_to_float32_precision():
    import pyarrow as pa

    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(50, 8)).astype(np.float32)
    words = [f"w{i}" for i in range(50)]
    ids = rng.integers(0, 50, size=200_000)
    tokens = pa.array([[words[i] for i in ids], ["w1", "w2"]], pa.list_(pa.string()))
    got = _mean_vectors(tokens, words, matrix, pretokenized=True, over_all=False, key="t4")
    exact = matrix.astype(np.float64)[ids].mean(axis=0)
    np.testing.assert_allclose(got[0], exact, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[1], (matrix[1] + matrix[2]) / 2, rtol=1e-6)
