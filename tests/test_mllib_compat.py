"""sparkw2v.Word2Vec as a drop-in for pyspark.ml.feature.Word2Vec: MLlib's own examples with only
the import changed, MLlib's parameter names and accessors, findSynonyms, and pyspark.ml persistence
(estimator, model, PipelineModel) on top of sparkw2v's versioned Parquet layout."""

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import Tokenizer
from pyspark.ml.linalg import DenseVector, Vectors, VectorUDT
from pyspark.ml.tuning import ParamGridBuilder

from sparkw2v import ConfigError, TrainConfig, Word2Vec, Word2VecModel, layout
from sparkw2v.config import MLLIB_ALIASES
from sparkw2v.corpus import InputError
from sparkw2v.model import TRANSFORM_PARAMS
from sparkw2v.publishing import OutputExistsError

FAST = dict(negative=2, sample=0.0, batch_words=64)  # sparkw2v names: small data trains quickly


@pytest.fixture(scope="module")
def doc(spark):
    sent = ("a b " * 100 + "a c " * 10).split(" ")
    return spark.createDataFrame([(sent,), (sent,)], ["sentence"])


@pytest.fixture(scope="module")
def docstring_model(doc):
    """pyspark.ml.feature.Word2Vec's docstring example, up to fit."""
    word2Vec = Word2Vec(vectorSize=5, seed=42, inputCol="sentence", outputCol="model", **FAST)
    return word2Vec, word2Vec.fit(doc)


def test_mllib_guide_example_runs_with_only_the_import_changed(spark):
    # examples/src/main/python/ml/word2vec_example.py, import changed
    documentDF = spark.createDataFrame([
        ("Hi I heard about Spark".split(" "), ),
        ("I wish Java could use case classes".split(" "), ),
        ("Logistic regression models are neat".split(" "), )
    ], ["text"])

    word2Vec = Word2Vec(vectorSize=3, minCount=0, inputCol="text", outputCol="result")
    model = word2Vec.fit(documentDF)

    result = model.transform(documentDF)
    rows = result.collect()
    for row in rows:
        text, vector = row
        print("Text: [%s] => \nVector: %s\n" % (", ".join(text), str(vector)))

    assert result.columns == ["text", "result"] and len(rows) == 3
    assert all(isinstance(v, DenseVector) and v.size == 3 for _, v in rows)
    assert len(model.wv) == 16                     # minCount=0: every distinct word ("I" twice)
    np.testing.assert_allclose(rows[0].result.toArray(),
                               np.mean([model.wv[w] for w in rows[0].text], axis=0), rtol=1e-5)


def test_mllib_docstring_example(spark, doc, docstring_model, tmp_path):
    word2Vec, model = docstring_model
    temp_path = str(tmp_path)
    assert word2Vec.setMaxIter(10) is word2Vec
    assert word2Vec.getMaxIter() == 10
    word2Vec.clear(word2Vec.maxIter)
    assert word2Vec.getMaxIter() == TrainConfig().epochs == 5        # sparkw2v's default, not MLlib's 1
    assert model.getMinCount() == 5
    assert model.setInputCol("sentence") is model
    vectors = model.getVectors()
    assert vectors.schema["vector"].dataType == VectorUDT()
    assert [r.word for r in vectors.collect()] == ["a", "b", "c"]
    assert [w for w, _ in model.findSynonymsArray("a", 2)] == ["b", "c"]
    synonyms = model.findSynonyms("a", 2)
    assert [(f.name, f.dataType.simpleString()) for f in synonyms.schema] == [("word", "string"),
                                                                               ("similarity", "double")]
    assert synonyms.collect() == [tuple(p) for p in model.findSynonymsArray("a", 2)]
    head = model.transform(doc).head().model
    assert isinstance(head, DenseVector) and head.size == 5
    # transform and getVectors share one broadcast, which unpersist releases; a later use reads it again
    shared = model._payload[0]
    assert model.unpersist() is model and model._payload[0] is shared
    assert model.transform(doc).head().model == head and [r.word for r in model.getVectors().collect()] == ["a", "b", "c"]

    word2vecPath = temp_path + "/word2vec"
    word2Vec.save(word2vecPath)
    loadedWord2Vec = Word2Vec.load(word2vecPath)
    assert loadedWord2Vec.getVectorSize() == word2Vec.getVectorSize()
    assert loadedWord2Vec.getNumPartitions() == word2Vec.getNumPartitions()
    assert loadedWord2Vec.getMinCount() == word2Vec.getMinCount()
    assert loadedWord2Vec.config == word2Vec.config and loadedWord2Vec.uid == word2Vec.uid
    assert loadedWord2Vec.getOutputCol() == "model"
    modelPath = temp_path + "/word2vec-model"
    model.save(modelPath)
    loadedModel = Word2VecModel.load(modelPath)
    assert loadedModel.getVectors().first().word == model.getVectors().first().word
    assert loadedModel.getVectors().first().vector == model.getVectors().first().vector
    assert loadedModel.transform(doc).take(1) == model.transform(doc).take(1)


def test_pipeline_with_tokenizer_and_logistic_regression_fits_saves_and_loads(spark, tmp_path):
    training = spark.createDataFrame([
        (0, "a b c d e spark", 1.0),
        (1, "b d", 0.0),
        (2, "spark f g h", 1.0),
        (3, "hadoop mapreduce", 0.0),
    ] * 5, ["id", "text", "label"])
    test = spark.createDataFrame([(4, "spark i j k"), (5, "l m n"), (6, "spark hadoop spark"),
                                  (7, "apache hadoop")], ["id", "text"])
    tokenizer = Tokenizer(inputCol="text", outputCol="words")
    word2Vec = Word2Vec(vectorSize=4, minCount=1, windowSize=2, inputCol="words", outputCol="features",
                        **FAST)
    lr = LogisticRegression(maxIter=10, regParam=0.001)
    pipeline = Pipeline(stages=[tokenizer, word2Vec, lr])

    model = pipeline.fit(training)
    before = model.transform(test).select("id", "features", "probability", "prediction").collect()
    path = str(tmp_path / "pipeline-model")
    model.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    assert isinstance(loaded.stages[1], Word2VecModel)
    assert loaded.stages[1].getOutputCol() == "features" and loaded.stages[1].getInputCol() == "words"
    assert loaded.transform(test).select("id", "features", "probability", "prediction").collect() == before

    # the stage directory is a sparkw2v model as well: Spark SQL reads its newest version
    stage_dir = next((tmp_path / "pipeline-model" / "stages").glob("*Word2Vec*"))
    assert (stage_dir / "LATEST").read_text().strip() == "1" and (stage_dir / "metadata").is_dir()
    table = spark.read.parquet(str(stage_dir / "versions" / "000001" / "vectors"))
    assert table.columns == ["word", "count", "vector"] and table.count() == len(model.stages[1].wv)

    unfitted = str(tmp_path / "pipeline")
    pipeline.write().overwrite().save(unfitted)
    stage = Pipeline.load(unfitted).getStages()[1]
    assert isinstance(stage, Word2Vec) and stage.config == word2Vec.config
    assert stage.getInputCol() == "words" and stage.getOutputCol() == "features"


def test_find_synonyms_by_word_and_by_vector(docstring_model):
    _, model = docstring_model
    by_word = model.findSynonymsArray("a", 10)
    assert [w for w, _ in by_word] == ["b", "c"]          # the word itself is left out, as in MLlib
    assert by_word == model.most_similar("a", topn=10)
    vec = model.wv["a"]
    for query in (vec, vec.tolist(), Vectors.dense(vec.astype(float)), DenseVector(vec)):
        found = model.findSynonymsArray(query, 3)
        assert found[0][0] == "a" and found[0][1] == pytest.approx(1.0, abs=1e-5)   # a vector: no exclusion
        assert [w for w, _ in found] == ["a", "b", "c"]
    assert model.findSynonyms(Vectors.dense(vec.astype(float)), 1).first().word == "a"
    with pytest.raises(KeyError, match="'zzz' not in vocabulary"):
        model.findSynonymsArray("zzz", 2)
    with pytest.raises(ValueError, match="num must be an integer >= 1"):
        model.findSynonyms("a", 0)
    with pytest.raises(ValueError, match="model's vectors have 5 values"):
        model.findSynonymsArray([1.0, 2.0], 2)
    with pytest.raises(TypeError, match="give a word or a vector, not None"):
        model.findSynonymsArray(None, 2)
    zero = model.findSynonymsArray(Vectors.dense([0.0] * 5), 2)   # a row transform found no word in
    assert len(zero) == 2 and {s for _, s in zero} == {0.0}


def test_find_synonyms_takes_any_integer_num(docstring_model):
    """``num`` may be any integer, NumPy's too (as a range or an array of them gives it); a float,
    a bool or a count below one is refused."""
    _, model = docstring_model
    best = model.findSynonymsArray("a", 2)
    for num in (np.int64(2), np.int32(2), np.uint8(2)):
        assert model.findSynonymsArray("a", num) == best
        assert [tuple(row) for row in model.findSynonyms("a", num).collect()] == best
    for num in (2.0, np.float64(2), True, np.bool_(True), np.int64(0), -1, "2", None):
        with pytest.raises(ValueError, match="num must be an integer >= 1"):
            model.findSynonymsArray("a", num)


def test_a_fitted_model_answers_the_partitions_it_trained_in(spark, doc, docstring_model, tmp_path):
    """numPartitions left unset on the estimator: the model answers the partitions its run trained
    in (Spark's default parallelism), as MLlib's model always answers a number; a value set is the
    value. A saved model loads answering the same."""
    word2Vec, model = docstring_model
    slots = spark.sparkContext.defaultParallelism
    assert word2Vec.getNumPartitions() is None
    assert model.getNumPartitions() == model.getOrDefault("numPartitions") == model.result.info["num_partitions"] == slots
    assert model.extractParamMap()[model.numPartitions] == slots
    one = Word2Vec(vectorSize=5, seed=42, inputCol="sentence", numPartitions=1, **FAST).fit(doc)
    assert one.getNumPartitions() == one.getOrDefault(one.numPartitions) == 1
    for fitted, name in ((model, "unset"), (one, "one")):
        fitted.write().save(str(tmp_path / name))
        loaded = Word2VecModel.load(str(tmp_path / name))
        assert loaded.getNumPartitions() == loaded.getOrDefault("numPartitions") == fitted.getNumPartitions()
    # a version whose Params hold numPartitions as null (saved before models answered it) answers the same
    older = model.copy()
    older._set(numPartitions=None)
    older.write().save(str(tmp_path / "older"))
    loaded = Word2VecModel.load(str(tmp_path / "older"))
    assert loaded.getNumPartitions() == loaded.getOrDefault("numPartitions") == slots


def test_keywords_are_listed_for_help_and_inspect():
    import inspect
    params = inspect.signature(Word2Vec).parameters
    assert [*params][:2] == ["config", "inputCol"] and params["vectorSize"].default == 100
    assert params["outputCol"].default == "vector" and params["vector_size"].kind is inspect.Parameter.KEYWORD_ONLY
    assert set(params) == {"config", *TRANSFORM_PARAMS, *MLLIB_ALIASES, "seed", *TrainConfig.field_names()}
    assert inspect.signature(Word2Vec.setParams).parameters.keys() == inspect.signature(Word2Vec.__init__).parameters.keys()


def test_mllib_names_set_and_get_the_config_fields():
    est = Word2Vec()
    values = {"vectorSize": 7, "minCount": 2, "windowSize": 3, "maxIter": 4, "stepSize": 0.05,
              "numPartitions": 3, "maxSentenceLength": 50, "inputCol": "tokens"}
    assert set(values) == set(MLLIB_ALIASES)
    for alias, value in values.items():
        setter = getattr(est, "set" + alias[0].upper() + alias[1:])
        assert setter(value) is est
        assert getattr(est, "get" + alias[0].upper() + alias[1:])() == value
        assert getattr(est.config, MLLIB_ALIASES[alias]) == value          # one value, two names
        assert est.isSet(alias) and est.getOrDefault(alias) == est.getOrDefault(MLLIB_ALIASES[alias])
    assert est.setSeed(9).getSeed() == 9 and est.setOutputCol("out").getOutputCol() == "out"
    assert Word2Vec(vector_size=7).getVectorSize() == 7 and Word2Vec(vectorSize=7).config.vector_size == 7
    # unset: sparkw2v's defaults; getters report what training uses
    fresh = Word2Vec(text_column="value")
    assert (fresh.getMaxIter(), fresh.getStepSize(), fresh.getInputCol()) == (5, 0.025, "value")
    assert Word2Vec(sg=False).getStepSize() == 0.05 and fresh.getNumPartitions() is None
    # generic Params readers see the same rate; the config keeps "unset" (the default follows sg)
    assert fresh.getOrDefault(fresh.stepSize) == fresh.getOrDefault("alpha") == 0.025 and fresh.config.alpha is None
    assert fresh.copy({fresh.sg: False}).getOrDefault("stepSize") == 0.05
    # param maps, grids and clear work through either name
    assert est.copy({est.vectorSize: 11}).config.vector_size == 11 and est.config.vector_size == 7
    grid = ParamGridBuilder().addGrid(est.maxIter, [1, 2]).build()
    assert [est.copy(m).config.epochs for m in grid] == [1, 2]
    est.clear(est.vectorSize)
    assert est.getVectorSize() == 100 and not est.isSet("vector_size")
    assert "vectorSize: alias of vector_size" in est.explainParams()
    assert {p.name for p in est.params} == {*TrainConfig.field_names(), *MLLIB_ALIASES, *TRANSFORM_PARAMS}
    # only TrainConfig names are stored (so persisted); the param map answers under both names
    assert {p.name for p in est._paramMap} <= {*TrainConfig.field_names(), *TRANSFORM_PARAMS}
    assert {p.name for p in est.extractParamMap()} == {*TrainConfig.field_names(), *MLLIB_ALIASES, *TRANSFORM_PARAMS}


def test_param_maps_and_numbers_behave_as_in_pyspark_ml(spark):
    est = Word2Vec(vectorSize=10, inputCol="words")
    assert est.extractParamMap()[est.vectorSize] == 10 and est.extractParamMap()[est.vector_size] == 10
    assert est.extractParamMap({est.vectorSize: 7})[est.vectorSize] == 7
    assert est.extractParamMap()[est.inputCol] == "words"
    text = Word2Vec(text_column="value")
    assert text.extractParamMap()[text.inputCol] == text.getInputCol() == "value"
    assert text.getOrDefault("inputCol") == text.getOrDefault(text.inputCol) == "value"   # every way of asking
    assert text.getOrDefault("tokens_column") is None and text.isDefined(text.inputCol)
    # pyspark.ml's type converters: whole floats and NumPy numbers are accepted
    assert Word2Vec(vectorSize=10.0).getVectorSize() == 10
    assert type(Word2Vec(vectorSize=np.int64(10)).config.vector_size) is int
    assert type(Word2Vec(stepSize=1).config.alpha) is float
    assert est.copy({est.maxIter: 2.0}).config.epochs == 2
    est.set(est.vectorSize, 12.0)                                         # pyspark's public set(), as readers use
    assert type(est.config.vector_size) is int and est.extractParamMap()[est.stepSize] == est.getStepSize() == 0.025
    assert "(default: 0.025 with sg=True)" in est.explainParam("stepSize")            # the rate training uses
    assert "(default: 0.05 with sg=False)" in Word2Vec(sg=False).explainParam(est.alpha.name)
    est.set(est.vectorSize, 10)
    grid = ParamGridBuilder().addGrid(est.vectorSize, list(np.array([4, 8]))).build()
    assert [est.copy(m).config.vector_size for m in grid] == [4, 8]
    with pytest.raises(ConfigError, match=r"invalid vectorSize=10.5: must be an integer"):
        Word2Vec(vectorSize=10.5)
    with pytest.raises(TypeError, match="keyword arguments"):
        Word2Vec(10)
    # what pyspark.ml persists: TrainConfig names only
    from pyspark.ml.util import DefaultParamsWriter
    import json
    saved = json.loads(DefaultParamsWriter._get_metadata_to_save(est, spark))
    assert set(saved["paramMap"]) <= {*TrainConfig.field_names(), *TRANSFORM_PARAMS}


def test_fitted_model_answers_mllibs_params_and_keeps_the_estimator_uid(docstring_model):
    word2Vec, model = docstring_model
    assert model.uid == word2Vec.uid
    assert model.getOrDefault("vectorSize") == 5 and model.getOrDefault(model.seed) == 42
    assert model.hasParam("maxIter") and model.getOrDefault("stepSize") == model.getStepSize() == 0.025
    names = {p.name for p in model.extractParamMap()}
    assert names == {*MLLIB_ALIASES, "seed", *TRANSFORM_PARAMS}
    assert "vectorSize" in model.explainParams()
    assert model.isSet(model.vectorSize) and model.isSet("maxIter")   # as MLlib's fit copies them
    assert model.getOrDefault(model.maxIter) == word2Vec.getMaxIter()
    assert str(model) == f"Word2VecModel: uid={model.uid}, numWords={len(model.wv)}, vectorSize=5"


def test_transform_output_carries_its_size_and_joined_frames_transform(spark, docstring_model):
    from pyspark.ml.feature import VectorAssembler

    from sparkw2v.corpus import InputError

    _, trained = docstring_model
    model = trained.copy().setInputCol("sentence").setOutputCol("features")
    frame = spark.createDataFrame([(1, "x", ["a", "b"]), (2, "y", ["c", "zz"])], ["id", "title", "sentence"])
    out = model.transform(frame)
    assert out.schema["features"].metadata == {"ml_attr": {"num_attrs": 5}}
    # VectorAssembler with handleInvalid="keep" needs the size from the metadata
    assembled = VectorAssembler(inputCols=["features"], outputCol="all", handleInvalid="keep").transform(out)
    assert assembled.first().all.size == 5
    # a join leaves two columns named "title": transform keeps both, by position
    joined = frame.select("id", "title").join(frame, "id")
    result = model.transform(joined)
    assert result.columns == ["id", "title", "title", "sentence", "features"]
    rows = sorted(result.collect(), key=lambda r: r[0])
    np.testing.assert_allclose(rows[0][4].toArray(), (model.wv["a"] + model.wv["b"]) / 2, rtol=1e-6)
    with pytest.raises(InputError, match="2 columns are named 'title'"):
        model.copy().setInputCol("title").transform(joined)


def test_transform_sends_only_its_column_to_python(spark, docstring_model):
    _, trained = docstring_model
    model = trained.copy().setInputCol("a.b").setOutputCol("vector")
    frame = spark.createDataFrame([(1, "x", ["a", "b", "zz"]), (2, "y", []), (3, "x", None)], ["id", "t", "a.b"])
    frame = frame.join(frame.select("id", "t"), "id")        # two columns named "t"
    out = model.transform(frame)
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert "ArrowEvalPython" in plan and "MapInArrow" not in plan
    assert out.columns == ["id", "t", "a.b", "t", "vector"]
    rows = sorted(out.collect(), key=lambda r: r[0])
    np.testing.assert_allclose(rows[0].vector.toArray(), (model.wv["a"] + model.wv["b"]) / 2, rtol=1e-6)
    assert not rows[1].vector.toArray().any() and not rows[2].vector.toArray().any()
    assert [tuple(r)[:4] for r in rows] == [(1, "x", ["a", "b", "zz"], "x"), (2, "y", [], "y"), (3, "x", None, "x")]


def test_an_estimator_saved_by_mllib_loads_and_its_model_is_refused_clearly(spark, doc, tmp_path):
    from pyspark.ml.feature import Word2Vec as MLlibWord2Vec

    from sparkw2v.corpus import InputError

    mllib = MLlibWord2Vec(vectorSize=4, minCount=1, seed=42, inputCol="sentence", outputCol="v", maxIter=1)
    mllib.save(str(tmp_path / "est"))
    loaded = Word2Vec.load(str(tmp_path / "est"))
    assert (loaded.getVectorSize(), loaded.getSeed(), loaded.getInputCol(), loaded.getOutputCol()) == (
        4, 42, "sentence", "v")
    assert loaded.uid == mllib.uid and loaded.config.min_count == 1 and loaded.config.epochs == 1
    MLlibWord2Vec(inputCol="sentence").save(str(tmp_path / "defaults"))   # MLlib's defaults stay its defaults
    saved = Word2Vec.load(str(tmp_path / "defaults"))
    assert (saved.config.epochs, saved.config.num_partitions, saved.config.max_sentence_length, saved.getStepSize(),
            saved.getSeed(), saved.getOutputCol()) == (1, 1, 1000, 0.025, TrainConfig.seed, f"{saved.uid}__output")
    assert not saved.isSet(saved.maxIter) and not saved.isSet(saved.stepSize)
    assert saved.copy().setParams(sg=False).getStepSize() == 0.05          # CBOW's own rate, as when unset
    MLlibWord2Vec(seed=-3, inputCol="sentence").save(str(tmp_path / "negative"))  # a Java long, as MLlib allows
    assert Word2Vec.load(str(tmp_path / "negative")).getSeed() == 2 ** 64 - 3
    fitted = mllib.fit(doc)
    fitted.save(str(tmp_path / "model"))
    with pytest.raises(InputError, match=r"saved by Spark MLlib \(org.apache.spark.ml.feature.Word2VecModel\), "
                                         r"not sparkw2v: import its vectors .*sparkw2v import --input"):
        Word2VecModel.load(str(tmp_path / "model"))
    with pytest.raises(InputError, match="fitted by Spark MLlib.*sparkw2v import"):
        Word2Vec.load(str(tmp_path / "model"))

    # ... and its vectors import as a sparkw2v model: the same vectors, the same neighbours
    from sparkw2v.cli import main
    assert main(["import", "--input", str(tmp_path / "model"), "--output", str(tmp_path / "imported")]) == 0
    imported = Word2VecModel.load(str(tmp_path / "imported"))
    theirs = {r["word"]: np.array(r["vector"].toArray(), np.float32) for r in fitted.getVectors().collect()}
    assert "" in theirs                     # MLlib's token of a leading space, which sparkw2v leaves out
    del theirs[""]
    assert sorted(imported.wv.words) == sorted(theirs)
    for word, vector in theirs.items():
        np.testing.assert_array_equal(imported.wv[word], vector)
    # averageOver="all" transforms as MLlib's model does: unknown tokens count in the divisor
    rows = spark.createDataFrame([(0, ["a", "zzz", "b", "a"]), (1, ["zzz", "c"]), (2, ["zzz"]), (3, [])],
                                 "id int, sentence array<string>")
    assert (imported.getInputCol(), imported.getOutputCol(), imported.getAverageOver()) == ("sentence", "v", "all")
    mean = imported.transform(rows)                       # MLlib's columns and rule, kept by the import
    expected = {r.id: r.v.toArray() for r in fitted.transform(rows).collect()}
    for row in mean.collect():
        np.testing.assert_allclose(row.v.toArray(), expected[row.id], rtol=1e-5, atol=1e-7)
    known = {r.id: r.v.toArray() for r in imported.setAverageOver("known").transform(rows).collect()}
    np.testing.assert_allclose(known[1], imported.wv["c"], rtol=1e-6)      # unknown tokens left out
    np.testing.assert_allclose(expected[1], imported.wv["c"] / 2, rtol=1e-5)
    word = imported.wv.words[0]
    ours = [w for w, _ in imported.wv.most_similar(word, topn=3)]
    assert ours == [r["word"] for r in fitted.findSynonyms(word, 4).collect() if r["word"]][:3]
    meta = imported.training_metadata()
    assert meta["import_format"] == "spark-mllib" and meta["imported_parameters"]["vectorSize"] == 4
    assert meta["imported_parameters"]["windowSize"] == 5                     # MLlib's defaults it trained with
    # ... and the model's getters answer what MLlib trained with, not sparkw2v's defaults
    assert (imported.getMaxIter(), imported.getMinCount(), imported.getSeed(), imported.getNumPartitions(),
            imported.getMaxSentenceLength(), imported.getWindowSize(), imported.getVectorSize()) == (
        1, 1, 42, 1, 1000, 5, 4)
    assert imported.getStepSize() == 0.025 and meta["parameters"]["epochs"] == 1
    # MLlib 2.2+ saves its words in no order and no counts: no rank is made up from the rows' order
    assert meta["counts"] == "unordered" and imported.wv.words == sorted(imported.wv.words)
    assert main(["import", "--input", str(tmp_path / "model"), "--output", str(tmp_path / "x"), "--binary"]) == 2
    assert main(["import", "--input", str(tmp_path / "model"), "--output", str(tmp_path / "x"), "--limit", "2"]) == 2
    assert main(["import", "--input", str(tmp_path / "est"), "--output", str(tmp_path / "x")]) == 2  # an estimator
    assert not (tmp_path / "x").exists()
    # a saved PipelineModel imports its Word2VecModel stage
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import Tokenizer
    from pyspark.sql import functions as F
    text = doc.select(F.concat_ws(" ", "sentence").alias("text"))
    pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="sentence"), mllib]).fit(text)
    pipeline.save(str(tmp_path / "pipeline"))
    assert main(["import", "--input", str(tmp_path / "pipeline"), "--output", str(tmp_path / "from-pipeline")]) == 0
    stage = {r["word"]: r["vector"].toArray() for r in pipeline.stages[1].getVectors().collect() if r["word"]}
    piped = Word2VecModel.load(str(tmp_path / "from-pipeline"))
    assert all(np.array_equal(piped.wv[w], np.float32(v)) for w, v in stage.items()) and len(piped.wv) == len(stage)
    assert (piped.getInputCol(), piped.getOutputCol(), piped.getAverageOver()) == ("sentence", "v", "all")  # the stage's
    with pytest.raises(InputError, match="saved by Spark MLlib as org.apache.spark.ml.PipelineModel, not as a Word2Vec"):
        Word2Vec.load(str(tmp_path / "pipeline"))
    assert isinstance(PipelineModel.load(str(tmp_path / "pipeline")), PipelineModel)


def test_mllib_names_are_validated_and_named_in_errors():
    with pytest.raises(ConfigError, match=r"invalid vectorSize=0: must be an integer >= 1"):
        Word2Vec(vectorSize=0)
    with pytest.raises(ConfigError, match=r"invalid maxIter=-1"):
        Word2Vec().setMaxIter(-1)
    with pytest.raises(ConfigError, match="vectorSize=5 and vector_size=6 set the same parameter"):
        Word2Vec(vector_size=6, vectorSize=5)
    with pytest.raises(ConfigError, match="vector_size=6 and vectorSize=5 set the same parameter"):
        Word2Vec(vectorSize=5, vector_size=6)
    with pytest.raises(ConfigError, match="unknown parameter.*vectorsize.*known parameters are:.*vectorSize"):
        Word2Vec(vectorsize=3)
    with pytest.raises(ConfigError, match="invalid outputCol=3"):
        Word2Vec(outputCol=3)
    with pytest.raises(TypeError, match="unknown parameter"):     # as pyspark.ml's keyword_only raises
        Word2Vec(foo=1)
    with pytest.raises(ConfigError, match="invalid minCount=-1"):
        Word2Vec(minCount=-1)
    est = Word2Vec()                        # param maps given to fit and grids, as the caller named them
    with pytest.raises(ConfigError, match=r"invalid vectorSize=-1: must be an integer >= 1"):
        est.copy({est.vectorSize: -1})
    with pytest.raises(ConfigError, match=r"invalid vector_size=-1"):
        est.copy({est.vector_size: -1})
    other = Word2Vec()                      # another stage's Params in the map are not this one's
    assert est.copy({other.vectorSize: -1, est.maxIter: 3}).config.replace(epochs=5) == est.config
    assert Word2Vec(minCount=0).config.min_count == 0      # MLlib's guide uses 0: every word
    # set() validates as MLlib's type converters do, and columns must be names
    for param, value, message in ((est.vectorSize, 0, "invalid vectorSize=0"), (est.vectorSize, "abc", "vectorSize='abc'"),
                                  (est.inputCol, 5, "invalid inputCol=5: must be a non-empty string"),
                                  (est.outputCol, 5, "invalid outputCol=5: must be a column name")):
        with pytest.raises(ConfigError, match=message):
            est.set(param, value)
    with pytest.raises(ConfigError, match="invalid inputCol=5"):
        Word2Vec(inputCol=5)
    for setter, value in ((est.setVectorSize, "5"), (est.setStepSize, "0.1"), (est.setSeed, 1.5),
                          (est.setInputCol, ["a"]), (est.setOutputCol, 5)):  # pyspark.ml raises TypeError
        with pytest.raises(TypeError, match="invalid"):
            setter(value)
    assert est.getVectorSize() == 100
    # MLlib's keyword default seed=None: the default seed, as MLlib then uses its own
    assert Word2Vec(seed=None).getSeed() == Word2Vec().setSeed(None).getSeed() == TrainConfig.seed


def test_a_param_map_of_both_names_copies_and_grids_built_on_it_apply_their_values():
    est = Word2Vec(inputCol="toks", vectorSize=8)
    same = est.copy(est.extractParamMap())        # every value under both names, derived ones too
    assert same.config == est.config and same.getStepSize() == 0.025 and same.getInputCol() == "toks"
    grid = ParamGridBuilder().baseOn(est.extractParamMap()).addGrid(est.vectorSize, [4, 5]).build()
    assert [est.copy(m).getVectorSize() for m in grid] == [4, 5]
    grid = ParamGridBuilder().baseOn(est.extractParamMap()).addGrid(est.vector_size, [6]).build()
    assert est.copy(grid[0]).getVectorSize() == 6
    with pytest.raises(ConfigError, match="set the same parameter"):  # both names changed, differently
        est.copy({est.vectorSize: 4, est.vector_size: 5})


def test_an_estimator_rebuilt_from_its_param_map_has_its_settings():
    # MLlib code copies an estimator so: extractParamMap() gives stepSize and inputCol derived
    # from alpha=None and tokens_column=None, which are no conflict with them.
    for est in (Word2Vec(vectorSize=8, inputCol="toks"), Word2Vec(text_column="value"), Word2Vec(sg=False),
                Word2Vec(stepSize=0.01, inputCol="toks")):
        values = {p.name: v for p, v in est.extractParamMap().items()}
        for rebuilt in (Word2Vec(**values), Word2Vec().setParams(**values)):
            assert rebuilt.config == est.config and rebuilt.extractParamMap() == {
                rebuilt.getParam(p.name): v for p, v in est.extractParamMap().items()}
    with pytest.raises(ConfigError, match="set the same parameter"):  # a rate given beside alpha=None: a conflict
        Word2Vec(stepSize=0.01, alpha=None)
    with pytest.raises(ConfigError, match="set the same parameter"):
        Word2Vec(inputCol="words", tokens_column=None)


def test_python_api_errors_name_settings_as_python_does(spark):
    frame = spark.createDataFrame([(["a", "b"],)] * 3, ["toks"])
    with pytest.raises(InputError, match=r"lower min_count \(minCount\) or give more text"):
        Word2Vec(inputCol="toks", minCount=100, numPartitions=1).fit(frame)
    with pytest.raises(InputError, match=r"'id' is bigint, but tokens_column \(inputCol\) needs array<string>"):
        Word2Vec(inputCol="id").fit(spark.range(2))


def test_model_params_survive_save_and_load(spark, docstring_model, tmp_path):
    _, trained = docstring_model
    model = trained.copy()
    path = str(tmp_path / "m")
    model.setOutputCol("features").setInputCol("words")
    model.write().save(path)
    loaded = Word2VecModel.read().load(path)
    assert (loaded.getOutputCol(), loaded.getInputCol(), loaded.uid) == ("features", "words", model.uid)
    np.testing.assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    assert loaded.getVectorSize() == 5 and loaded.getStepSize() == 0.025 and loaded.getSeed() == 42

    with pytest.raises(OutputExistsError, match="already exists"):
        model.write().save(path)
    model.setOutputCol("vec2")
    model.write().overwrite().save(path)                  # a new version; the first is kept
    assert sorted(p.name for p in (tmp_path / "m" / "versions").iterdir()) == ["000001", "000002"]
    assert Word2VecModel.load(path).getOutputCol() == "vec2"

    # a version directory read by itself has the Params it was saved with
    first = Word2VecModel.load(str(tmp_path / "m" / "versions" / "000001"))
    assert (first.getOutputCol(), first.getInputCol(), first.uid) == ("features", "words", model.uid)


def test_fitted_models_overwrite_each_other_in_turn(spark, docstring_model, doc, tmp_path):
    """Try A, try B, keep A: ``write().overwrite().save`` of a model fitted here publishes it
    above whatever is newest, every time, as MLlib's overwrite does (a fitted model changes
    nothing it read from the path)."""
    word2Vec, first = docstring_model
    a = first.copy()
    b = word2Vec.copy({word2Vec.seed: 7}).fit(doc)
    path = str(tmp_path / "ab")
    for model in (a, b, a, b.copy(), a):
        model.write().overwrite().save(path)
    assert layout.published_versions(spark, path) == [3, 4, 5]            # keep_versions: the newest 3
    np.testing.assert_array_equal(Word2VecModel.load(path).wv.vectors, a.wv.vectors)


def test_ml_metadata_never_turns_another_directory_into_a_model(spark, docstring_model, tmp_path):
    word2Vec, model = docstring_model
    other = str(tmp_path / "tokenizer")
    Tokenizer(inputCol="a", outputCol="b").save(other)     # a pyspark.ml directory: metadata/ only
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="not a sparkw2v model directory"):
            model.save(other, overwrite=overwrite)
    assert sorted(p.name for p in (tmp_path / "tokenizer").iterdir() if not p.name.startswith(".")) == [
        "metadata"]
    path = str(tmp_path / "model")
    model.save(path)
    with pytest.raises(OutputExistsError, match="would delete the model"):
        word2Vec.write().overwrite().save(path)
    assert Word2VecModel.load(path).wv.words == model.wv.words
    with pytest.raises(InputError, match="holds a fitted sparkw2v model, not an estimator: load it with"):
        Word2Vec.load(path)
    with pytest.raises(OutputExistsError, match="an estimator is not saved into it"):
        word2Vec.write().save(path)
    estimator = str(tmp_path / "estimator")               # a saved estimator is no model to write over
    word2Vec.write().save(estimator)
    for overwrite in (False, True):
        with pytest.raises(OutputExistsError, match="holds a saved sparkw2v estimator"):
            model.save(estimator, overwrite=overwrite)
    with pytest.raises(OutputExistsError, match="holds a saved sparkw2v estimator"):
        model.write().save(estimator)
    assert Word2Vec.load(estimator).config == word2Vec.config
    # a model directory into which an earlier version saved an estimator still takes new versions
    import shutil
    from pyspark.ml.util import DefaultParamsWriter
    shutil.rmtree(tmp_path / "model" / "metadata")
    DefaultParamsWriter(word2Vec).save(path)
    model.save(path, overwrite=True)
    assert Word2VecModel.load(path).wv.words == model.wv.words


class _Fifty(Word2Vec):
    """A subclass whose constructor takes no arguments, as pyspark.ml's readers make it."""

    def __init__(self):
        super().__init__(vectorSize=50, minCount=1)


def test_a_subclass_saved_with_its_values_loads_them(tmp_path):
    est = _Fifty().setMaxIter(2)
    est.write().save(str(tmp_path / "e"))
    loaded = _Fifty.load(str(tmp_path / "e"))
    assert (type(loaded), loaded.getVectorSize(), loaded.getMaxIter(), loaded.uid) == (_Fifty, 50, 2, est.uid)


def test_gensim_style_zero_and_one_are_booleans():
    assert Word2Vec(sg=0).config.sg is False and Word2Vec(sg=1).config.sg is True
    with pytest.raises(ConfigError, match="invalid sg=2: must be True or False"):
        Word2Vec(sg=2)


def test_string_input_col_is_tokenized_like_text(spark):
    frame = spark.createDataFrame([("A b c a b",), ("b c d a",)] * 10, ["line"])
    est = Word2Vec(vectorSize=4, minCount=1, epochs=1, inputCol="line", **FAST)
    model = est.fit(frame)
    assert model.config.text_column == "line" and model.config.tokens_column is None
    assert set(model.wv.words) == {"a", "b", "c", "d"} and model.getInputCol() == "line"
    assert model.transform(frame).columns == ["line", "vector"]


def test_model_load_names_what_an_estimator_or_pipeline_directory_holds(spark, doc, docstring_model, tmp_path):
    word2Vec, _ = docstring_model
    word2Vec.save(str(tmp_path / "est"))
    with pytest.raises(InputError, match="holds a sparkw2v estimator .*load it with sparkw2v.Word2Vec.load"):
        Word2VecModel.load(str(tmp_path / "est"))
    Pipeline(stages=[word2Vec]).fit(doc).save(str(tmp_path / "pipeline"))
    with pytest.raises(InputError, match="holds a pyspark.ml PipelineModel .*PipelineModel.load: a fitted "
                                         "Word2VecModel is one of its stages"):
        Word2VecModel.load(str(tmp_path / "pipeline"))


def test_loading_a_path_without_a_model_raises_what_mllib_raises(spark, tmp_path):
    # MLlib's load raises AnalysisException (PATH_NOT_FOUND); code that catches it to train instead still does.
    from pyspark.errors import AnalysisException
    from pyspark.sql.utils import AnalysisException as OldName

    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(AnalysisException) as caught:
            Word2VecModel.load(str(path))
        assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, OldName)
        assert caught.value.getCondition() == "PATH_NOT_FOUND" and str(caught.value).startswith(str(path))


def test_a_model_queried_after_unpersist_or_with_a_bad_vector(spark, doc, docstring_model):
    _, model = docstring_model
    before = model.transform(doc).collect()
    model.unpersist()
    assert model.transform(doc).collect() == before          # the executors read it again
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.findSynonymsArray([float("nan")] * 5, 2)


def test_no_spark_of_its_own_after_the_user_stopped_spark(spark, docstring_model, monkeypatch):
    """After ``spark.stop()`` (and no session since), a call that needs Spark says so instead of
    starting a session of sparkw2v's choosing; driver-only queries still answer."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from sparkw2v.errors import SparkStoppedError

    _, model = docstring_model
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)
    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    with pytest.raises(SparkStoppedError, match="stopped its SparkSession"):
        model.findSynonyms("a", 1)
    assert model.findSynonymsArray("a", 1)[0][0] in {"b", "c"}


def test_text_transformed_by_a_model_trained_on_tokens_is_warned_about(spark, caplog):
    import logging

    tokens = spark.createDataFrame([("Spark Java I".split(),), ("Hi I heard about Spark".split(),)] * 5, ["words"])
    model = Word2Vec(vectorSize=4, minCount=1, inputCol="words", **FAST).fit(tokens)
    assert model.training_metadata()["input_tokens"] is True
    text = spark.createDataFrame([("Spark Java I",)], ["line"])
    with caplog.at_level(logging.WARNING, logger="sparkw2v"):
        model.copy().setInputCol("line").transform(text).collect()
        model.transform(tokens).collect()
    warned = [r.getMessage() for r in caplog.records if "trained on array<string> tokens" in r.getMessage()]
    assert len(warned) == 1 and "lowercase=True" in warned[0]


def test_a_missing_input_column_names_both_settings_that_choose_one(spark):
    frame = spark.createDataFrame([(["a", "b"],)], ["words"])
    with pytest.raises(InputError, match=r"input has no column 'text'; its columns are: words \(choose one with "
                                         r"text_column for a column of text, or tokens_column \(inputCol\) for one "
                                         r"of tokens\)"):
        Word2Vec(vectorSize=4, minCount=1).fit(frame)
