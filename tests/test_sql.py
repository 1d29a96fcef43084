"""SQL functions over a hand-made vector table whose answers are known in closed form."""

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sparkw2v import sql
from sparkw2v.publishing import write_model
from sparkw2v.tables import vector_column
from sparkw2v.vectors import WordVectors
from sparkw2v.vocabulary import Vocabulary

# Rows in vocabulary order (count descending). Unit vectors: man (1,0,0), king (.6,0,.8),
# queen (0,.6,.8), it's (.8,.6,0), so the cosines are exact decimals.
TABLE = [
    ("the", 50, (0, 0, 1)),
    ("man", 40, (1, 0, 0)),
    ("woman", 30, (0, 1, 0)),
    ("king", 20, (3, 0, 4)),
    ("queen", 10, (0, 3, 4)),
    ("it's", 9, (4, 3, 0)),
    ("back\\slash", 8, (0, 0, -2)),
    ("semi;colon", 7, (-1, 0, 0)),
    ("dash--dash", 6, (0, -5, 0)),
    ('say "hi"', 5, (0, 0, 0)),  # a zero vector
]
WORDS = [w for w, _, _ in TABLE]
MATRIX = np.array([v for _, _, v in TABLE], dtype=np.float32)
TRICKY = ["it's", "back\\slash", "semi;colon", "dash--dash", 'say "hi"']


@pytest.fixture(scope="module")
def model_path(spark, tmp_path_factory):
    vocab = Vocabulary(tuple(WORDS), np.array([c for _, c, _ in TABLE], dtype=np.int64))
    path = str(tmp_path_factory.mktemp("sql") / "model")
    write_model(spark, path, vocab, MATRIX, np.zeros_like(MATRIX), {})
    return path


@pytest.fixture(scope="module")
def registered(spark, model_path):
    """``t_*`` from the path, ``o_*`` from an in-memory WordVectors (broadcast)."""
    sql.register(spark, model_path, name="t")
    counts = np.array([c for _, c, _ in TABLE], dtype=np.int64)
    sql.register(spark, WordVectors(WORDS, MATRIX, counts), name="o")
    return spark


def rows(spark, query, args=None, **named):
    return [tuple(r) for r in spark.sql(query, args=args or named or None).collect()]


def approx(pairs):
    return [(w, pytest.approx(s, abs=1e-6)) for w, s in pairs]


# -- most_similar ---------------------------------------------------------------------------

def test_most_similar_known_neighbours_ties_to_the_more_frequent_word(registered):
    got = rows(registered, "SELECT * FROM t_most_similar('man', 3)")
    # cosines with (1,0,0) are the x of each unit vector; the zero scores tie, "the" is first.
    assert got == approx([("it's", 0.8), ("king", 0.6), ("the", 0.0)])
    assert rows(registered, "SELECT * FROM t_most_similar('king', 2)") == approx([("the", 0.8), ("queen", 0.64)])


def test_most_similar_edges_unknown_k_zero_k_too_large_default_k(registered):
    got = {}
    for case, word, score in rows(registered, """
            SELECT c.name, n.word, n.similarity
            FROM VALUES ('unknown', 'nope', 3), ('null word', NULL, 3), ('k=0', 'man', 0), ('k<0', 'man', -4),
                        ('null k', 'man', NULL), ('k too large', 'man', 1000) AS c(name, w, k),
                 LATERAL t_most_similar(c.w, c.k) n"""):
        got.setdefault(case, []).append((word, score))
    assert list(got) == ["k too large"]   # every other case returns no rows
    assert sorted(got["k too large"], key=lambda ws: (-ws[1], WORDS.index(ws[0]))) == approx([
        ("it's", 0.8), ("king", 0.6), ("the", 0), ("woman", 0), ("queen", 0), ("back\\slash", 0),
        ("dash--dash", 0), ('say "hi"', 0), ("semi;colon", -1)])   # all words but "man"
    assert len(rows(registered, "SELECT * FROM t_most_similar('man')")) == 9   # k defaults to 10


def test_sql_answers_equal_word_vectors_for_every_word(registered):
    wv = WordVectors(WORDS, MATRIX)
    query = registered.createDataFrame([(w,) for w in WORDS], "q string")
    query.createOrReplaceTempView("sql_test_queries")
    got = {}
    for q, word, score in rows(registered, "SELECT q, n.word, n.similarity FROM sql_test_queries, "
                                           "LATERAL t_most_similar(q, 20) n"):
        got.setdefault(q, []).append((word, score))
    # order within a query is not kept by the join: compare as sets, then check order on one word
    for word in WORDS:
        assert sorted(got[word]) == approx(sorted(wv.most_similar(word, topn=20)))


# -- analogy ----------------------------------------------------------------------------------

def test_analogy_is_3cosadd_and_matches_word_vectors(registered):
    # king - man + woman on unit vectors = (-0.4, 1, 0.8); queen . that = 1.24, |that| = sqrt(1.8)
    got = rows(registered, "SELECT * FROM t_analogy('man', 'king', 'woman', 2)")
    assert got == approx([("queen", 1.24 / math.sqrt(1.8)), ("the", 0.8 / math.sqrt(1.8))])
    assert got == approx(WordVectors(WORDS, MATRIX).analogy("man", "king", "woman", topn=2))
    assert rows(registered, "SELECT word FROM t_analogy('man', 'king', 'woman')") == [("queen",)]  # k=1


def test_analogy_edges(registered):
    assert rows(registered, "SELECT * FROM t_analogy('man', 'king', 'nope', 3)") == []
    assert rows(registered, "SELECT * FROM t_analogy('man', NULL, 'woman', 3)") == []
    assert rows(registered, "SELECT * FROM t_analogy('man', 'king', 'woman', 0)") == []
    assert rows(registered, "SELECT * FROM t_analogy('man', 'king', 'woman', NULL)") == []
    assert len(rows(registered, "SELECT * FROM t_analogy('man', 'king', 'woman', 99)")) == 7


def test_arguments_of_the_wrong_kind_give_no_rows_or_null_not_tracebacks(registered):
    for k in ("'abc'", "CAST('NaN' AS DOUBLE)", "CAST('Infinity' AS DOUBLE)", "CAST('-Infinity' AS DOUBLE)",
              "true", "array(1)"):
        assert rows(registered, f"SELECT * FROM t_most_similar('man', {k})") == [], k
        assert rows(registered, f"SELECT * FROM t_analogy('man', 'king', 'woman', {k})") == [], k
    assert len(rows(registered, "SELECT * FROM t_most_similar('man', 2.9)")) == 2     # rounded down
    assert len(rows(registered, "SELECT * FROM t_most_similar('man', '3')")) == 3     # a numeric string
    for word in ("123", "array('man')", "1.5"):
        assert rows(registered, f"SELECT * FROM t_most_similar({word}, 3)") == [], word
        assert rows(registered, f"SELECT * FROM t_analogy({word}, 'king', 'woman', 3)") == [], word
    (got,) = rows(registered, "SELECT t_cosine('a', 'b'), t_cosine(array('a'), array('b')), "
                              "t_cosine(array('1', '2'), array(1, 2)), t_vector(42), t_similarity(1, 2)")
    assert got == (None, None, None, None, None)


# -- scalar functions -------------------------------------------------------------------------

def test_vector_similarity_cosine_values_and_nulls(registered):
    (got,) = rows(registered, """
        SELECT t_vector('king'), t_vector('nope'), t_vector(NULL),
               t_similarity('king', 'queen'), t_similarity('man', 'semi;colon'),
               t_similarity('king', 'nope'), t_similarity(NULL, 'king'), t_similarity('king', 'say "hi"'),
               t_cosine(array(3, 4), array(4, 3)), t_cosine(t_vector('king'), t_vector('queen')),
               t_cosine(array(1.0, 2.0), array(1.0)), t_cosine(array(), array()),
               t_cosine(array(1, NULL), array(1, 2)), t_cosine(NULL, array(1)), t_cosine(array(0, 0), array(1, 2))
    """)
    assert got[0] == [3.0, 0.0, 4.0]
    assert got[1:3] == (None, None)
    assert got[3:5] == (pytest.approx(0.64), pytest.approx(-1.0))
    assert got[5:8] == (None, None, 0.0)             # a zero vector has cosine 0, as in WordVectors
    assert got[8:10] == (pytest.approx(0.96), got[3])  # w2v_cosine of two vectors == w2v_similarity
    assert got[10:14] == (None, None, None, None)   # different lengths, empty, NULL element, NULL
    assert got[14] == 0.0


def test_cosine_batch_mixed_lengths_in_one_batch():
    a = pa.array([[1, 0], [3, 4, 0], None, [2, 2], [1.5]], type=pa.list_(pa.float64()))
    b = pa.array([[0, 1], [4, 3, 0], [1, 1], [1, 1, 1], [-3.0]], type=pa.list_(pa.float64()))
    assert sql.cosine_batch(a, b).to_pylist() == [0.0, pytest.approx(0.96), None, None, pytest.approx(-1.0)]
    # values whose float32 squares overflow or underflow, or beyond float32: still the cosine
    wide = pa.array([[1e20, 1.0], [1e-25, 2e-25], [1e39, 1.0], [3.0, 4.0]], pa.list_(pa.float64()))
    twice = pa.array([[2e20, 2.0], [2e-25, 4e-25], [1e39, 1.0], [3.0, 4.0]], pa.list_(pa.float64()))
    assert sql.cosine_batch(wide, twice).to_pylist() == [pytest.approx(1.0)] * 4
    # NaN or infinity in either array: NaN, without NumPy's warnings
    odd = pa.array([[float("nan"), 1.0], [float("inf"), 1.0], [1e39, float("nan")]], pa.list_(pa.float64()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sql.cosine_batch(odd, pa.array([[1.0, 1.0]] * 3, pa.list_(pa.float64()))).to_pylist()
    assert all(math.isnan(x) for x in got), got


def test_words_with_quotes_backslashes_semicolons_and_dashes_as_parameters(registered):
    wv = WordVectors(WORDS, MATRIX)
    got = rows(registered, "SELECT w, t_vector(w), t_similarity(w, 'the') FROM (SELECT explode(:words) AS w)",
               words=TRICKY)
    assert got == [(w, MATRIX[WORDS.index(w)].tolist(), pytest.approx(wv.similarity(w, "the"))) for w in TRICKY]
    neighbours = rows(registered, "SELECT w, n.word FROM (SELECT explode(:words) AS w), "
                                  "LATERAL t_most_similar(w, 20) n", words=TRICKY)
    for word in TRICKY:
        assert sorted(n for w, n in neighbours if w == word) == sorted(set(WORDS) - {word})
    assert rows(registered, "SELECT * FROM t_most_similar(:w, :k)", w="it's", k=1) == approx([("man", 0.8)])
    assert rows(registered, "SELECT * FROM t_analogy(:a, :b, :c, 1)", a="it's", b="man", c="semi;colon") \
        == approx(wv.analogy("it's", "man", "semi;colon"))
    # positional parameters, and the words read back from the view
    (sim, view), = rows(registered, "SELECT t_similarity(?, ?), (SELECT collect_list(word) FROM t_vectors "
                                    "WHERE word IN (?, ?))", args=["it's", "dash--dash", TRICKY[1], TRICKY[4]])
    assert sim == pytest.approx(-0.6) and sorted(view) == sorted([TRICKY[1], TRICKY[4]])


# -- registration ----------------------------------------------------------------------------

def test_object_and_path_registrations_answer_alike(registered):
    for query in ("SELECT * FROM {}_most_similar('queen', 4)", "SELECT * FROM {}_analogy('man', 'king', 'woman', 3)",
                  "SELECT {0}_similarity('king', 'queen'), {0}_vector('dash--dash')",
                  "SELECT word, count FROM {}_vectors ORDER BY word"):
        assert rows(registered, query.format("o")) == rows(registered, query.format("t"))


def test_register_a_word2vec_model_and_bad_arguments(spark, model_path):
    from sparkw2v.model import Word2VecModel

    sql.register(spark, Word2VecModel.load(model_path, spark=spark), name="m")
    assert rows(spark, "SELECT word FROM m_most_similar('woman', 1)") == [("queen",)]
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        sql.register(spark, str(Path(model_path).parent / "missing"), name="x")
    with pytest.raises(FileNotFoundError, match="the model path is empty"):   # an unset shell variable
        sql.register(spark, "", name="x")
    with pytest.raises(FileNotFoundError, match="not a sparkw2v model"):
        sql.register(spark, str(Path(model_path).parent), name="x")
    with pytest.raises(ValueError, match="SQL identifier"):
        sql.register(spark, model_path, name="x; DROP TABLE y")
    with pytest.raises(TypeError):
        sql.register(spark, 42, name="x")


@pytest.mark.parametrize("table", ["output_vectors", "vocab"])
def test_a_version_missing_a_table_the_view_does_not_read_is_refused_as_load_refuses_it(
        spark, model_path, tmp_path, table):
    """The view reads vectors/ only, but a version without its other tables is damaged:
    registering it fails naming the missing file, as Word2VecModel.load does."""
    from sparkw2v.errors import DamagedModelError
    from sparkw2v.model import Word2VecModel

    copy = tmp_path / "model"
    shutil.copytree(model_path, copy)
    version = next((copy / "versions").iterdir())
    part = next(p for p in (version / table).iterdir() if p.name.startswith("part-"))
    part.unlink()
    with pytest.raises(DamagedModelError, match=rf"{table}/{part.name} is missing: the version is incomplete"):
        sql.register(spark, str(copy), name="damaged")
    with pytest.raises(DamagedModelError, match=rf"{table}/{part.name} is missing"):
        Word2VecModel.load(str(copy), spark=spark)


def test_pyarrow_paths_read_hadoop_file_uris():
    fs, paths = sql._pyarrow_paths(("file:///tmp/a%20b%2520'c;--/part-0.parquet", "file:/tmp/x/part-1.parquet"))
    assert paths == ["/tmp/a b%20'c;--/part-0.parquet", "/tmp/x/part-1.parquet"]


# -- executor pieces, without Spark ------------------------------------------------------------

def test_files_are_read_in_vocabulary_order_batch_by_batch(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(sql, "BATCH_ROWS", 2)
    shuffled = [5, 0, 9, 3, 7, 1, 8, 2, 6, 4]
    for part, rows in enumerate((shuffled[:6], shuffled[6:])):
        pq.write_table(pa.table({"word": [WORDS[i] for i in rows], "count": [TABLE[i][1] for i in rows],
                                 "vector": [MATRIX[i].tolist() for i in rows]},
                                schema=pa.schema([("word", pa.string()), ("count", pa.int64()),
                                                  ("vector", pa.list_(pa.float32()))])),
                       tmp_path / f"part-{part}.parquet", row_group_size=3)
    table = sql.read_vector_files(tuple(f"file://{p}" for p in sorted(tmp_path.glob("*.parquet"))))
    assert table.words == WORDS
    np.testing.assert_array_equal(table.matrix, MATRIX)


def test_top_k_breaks_ties_at_the_cut_by_row():
    scores = np.array([0.0, 0.5, 0.0, 0.0, 0.5, 0.0], dtype=np.float32)
    assert sql.top_k(scores.copy(), list("abcdef"), [1], 3) == [("e", 0.5), ("a", 0.0), ("c", 0.0)]
    assert sql.top_k(scores.copy(), list("abcdef"), [], 0) == []
    assert [w for w, _ in sql.top_k(scores.copy(), list("abcdef"), [0], 99)] == list("becdf")


def test_worker_cache_keeps_at_most_max_cached_tables(monkeypatch):
    class Loaded:  # stands for a Broadcast in a worker
        def __init__(self):
            self.value = pa.table({"word": ["a"], "count": [1], "vector": vector_column(np.ones((1, 2), np.float32))})

    monkeypatch.setattr(sql, "_TABLES", sql.WorkerCache(keys=sql.MAX_CACHED))
    sources = [sql.VectorSource(broadcast=Loaded(), token=str(i)) for i in range(3)]
    first = sql.vectors_for(sources[0])
    assert sql.vectors_for(sources[0]) is first
    sql.vectors_for(sources[1]), sql.vectors_for(sources[2])
    assert len(sql._TABLES.held) == sql.MAX_CACHED and sources[0].key not in sql._TABLES.held


# -- jobs/query.py ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def query_job():
    spec = importlib.util.spec_from_file_location("query_job", Path(__file__).parents[1] / "jobs" / "query.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_query_job_prints_and_writes(spark, model_path, query_job, tmp_path, capsys):
    assert query_job.main(["--vectors", model_path, "--name", "j", "--limit", "2",
                           "--sql", "SELECT * FROM j_most_similar('man', 5)"]) == 0
    out = capsys.readouterr().out
    assert "it's" in out and "king" in out and "the " not in out and "only showing top 2 rows" in out

    output = str(tmp_path / "out")
    assert query_job.main(["--vectors", model_path, "--name", "j", "--output", output, "--format", "json",
                           "--sql", "SELECT word, t.vector FROM j_analogy('man', 'king', 'woman', 1) "
                                   "JOIN j_vectors t USING (word)"]) == 0
    written = [json.loads(line) for f in sorted(Path(output).glob("part-*.json")) for line in f.read_text().splitlines()]
    assert written == [{"word": "queen", "vector": [0.0, 3.0, 4.0]}]

    csv_out = str(tmp_path / "csv")
    assert query_job.main(["--vectors", model_path, "--name", "j", "--output", csv_out, "--format", "csv",
                           "--sql", "SELECT word, vector FROM j_vectors WHERE word = 'king'"]) == 0
    text = "".join(f.read_text() for f in sorted(Path(csv_out).glob("part-*.csv")))
    assert text.splitlines() == ["word,vector", 'king,"[3.0,0.0,4.0]"']
    # an existing --output is replaced only with --overwrite, and named in one line otherwise
    again = ["--vectors", model_path, "--name", "j", "--output", csv_out, "--format", "csv",
             "--sql", "SELECT word FROM j_vectors WHERE word = 'queen'"]
    capsys.readouterr()
    assert query_job.main(again) == 2
    assert capsys.readouterr().err.strip() == (f"query: error: --output {csv_out} already exists; pass --overwrite "
                                               "to replace it, or choose another --output")
    assert "".join(f.read_text() for f in sorted(Path(csv_out).glob("part-*.csv"))) == text
    assert query_job.main([*again, "--overwrite"]) == 0
    assert "".join(f.read_text() for f in sorted(Path(csv_out).glob("part-*.csv"))).splitlines() == ["word", "queen"]
    # a query that fails while it runs leaves the result it was to replace as it was
    failing = [*again[:-1], "SELECT word, CAST(raise_error('boom') AS STRING) AS x FROM j_vectors", "--overwrite"]
    assert query_job.main(failing) == 2
    assert "boom" in capsys.readouterr().err.strip().splitlines()[-1]
    assert "".join(f.read_text() for f in sorted(Path(csv_out).glob("part-*.csv"))).splitlines() == ["word", "queen"]
    assert sorted(p.name for p in tmp_path.iterdir() if ".query-" in p.name) == []
    # an --output that is a symbolic link to the folder holding the model: never replaced
    alias = tmp_path / "alias"
    alias.symlink_to(Path(model_path).parent)
    assert query_job.main([*again[:4], "--output", str(alias), *again[6:], "--overwrite"]) == 2
    assert "holds the model being queried" in capsys.readouterr().err
    assert (Path(model_path) / "LATEST").exists()


def test_a_query_failing_while_it_writes_prints_one_line_not_sparks_traces(model_path, tmp_path):
    """In its own process (Spark's log configured as the job starts it): the writer's traces of
    the failed task attempts stay out of stderr; the error is one line. (Python workers the JVM
    hangs up on: test_session's worker daemon test.)"""
    done = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "jobs" / "query.py"), "--vectors",
                           model_path, "--master", "local[1,2]", "--output", str(tmp_path / "out"),
                           "--sql", "SELECT word, raise_error('boom') AS x FROM w2v_vectors"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if not line.startswith("WARNING: Using incubator modules")]
    assert lines == ["query: error: [USER_RAISED_EXCEPTION] boom SQLSTATE: P0001"], done.stderr[-3000:]


def test_query_job_errors_are_one_line_and_exit_2(spark, model_path, query_job, tmp_path, capsys):
    missing = str(tmp_path / "no-model")
    assert query_job.main(["--vectors", missing, "--sql", "SELECT 1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(f"{missing} does not exist")
    assert query_job.main(["--vectors", "", "--sql", "SELECT 1"]) == 2
    assert capsys.readouterr().err.strip() == ("query: error: the model path is empty: give the directory a "
                                               "model was published to")
    assert query_job.main(["--vectors", model_path, "--name", "j", "--sql", "SELECT * FROM nowhere"]) == 2
    # PySpark itself logs SQL errors (a JSON line); ours is the last line, one line long
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("query: error: [TABLE_OR_VIEW_NOT_FOUND]")
    # the query's own runtime errors: wrong arguments to a table function, a division by zero
    for sql, error in (("SELECT * FROM j_most_similar('a', 3, 4)", "[UDTF_EVAL_METHOD_ARGUMENTS_DO_NOT_MATCH"),
                       ("SELECT 1/0", "[DIVIDE_BY_ZERO]"),
                       # scalar functions, which Spark checks only when a worker calls them
                       ("SELECT j_similarity('woman')", "j_similarity takes (word_a, word_b)"),
                       ("SELECT j_vector('woman', 'man')", "j_vector takes (word)"),
                       ("SELECT j_cosine(array(1, 2))", "j_cosine takes (vector_a, vector_b)")):
        assert query_job.main(["--vectors", model_path, "--name", "j", "--sql", sql]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"query: error: {error}"), sql
    # --output never replaces a model, the model's parent or a directory inside a model
    for output in (model_path, str(Path(model_path).parent), str(Path(model_path) / "vectors" / "x")):
        before = sorted(str(p) for p in Path(model_path).rglob("*"))
        assert query_job.main(["--vectors", model_path, "--name", "j", "--output", output, "--overwrite",
                               "--sql", "SELECT 1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "choose another --output" in err, err
        assert sorted(str(p) for p in Path(model_path).rglob("*")) == before
    with pytest.raises(SystemExit) as exit_:
        query_job.main(["--help"])
    assert exit_.value.code == 0 and "--vectors PATH" in capsys.readouterr().out


def test_query_job_never_overwrites_a_directory_holding_another_model(spark, model_path, query_job, tmp_path,
                                                                      capsys):
    """--overwrite deletes --output whole: a directory holding a sparkw2v model at any depth (published
    versions, or a single version's directory) is refused in one line and left as it was."""
    vocab = Vocabulary(tuple(WORDS), np.array([c for _, c, _ in TABLE], dtype=np.int64))
    results = tmp_path / "results"
    deep = results / "team" / "prod_model"
    write_model(spark, str(deep), vocab, MATRIX, np.zeros_like(MATRIX), {})
    (results / "notes.txt").write_text("mine")
    snapshot = tmp_path / "snapshots"
    shutil.copytree(deep / "versions" / "000001", snapshot / "old" / "v1")
    (tmp_path / "plain" / "meta").mkdir(parents=True)                   # a metadata.json of no model
    (tmp_path / "plain" / "meta" / "metadata.json").write_text("{}")
    for output, model in ((results, deep), (snapshot, snapshot / "old" / "v1")):
        before = sorted(str(p) for p in output.rglob("*"))
        assert query_job.main(["--vectors", model_path, "--output", str(output), "--overwrite",
                               "--sql", "SELECT 1 AS x"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"query: error: --output {output} holds the sparkw2v model {model}, which --overwrite would delete: a "
            "query result is never written over a model; choose another --output")
        assert sorted(str(p) for p in output.rglob("*")) == before
    assert query_job.main(["--vectors", model_path, "--output", str(tmp_path / "plain"), "--overwrite",
                           "--sql", "SELECT 1 AS x"]) == 0
    assert not (tmp_path / "plain" / "meta").exists()


@pytest.mark.parametrize("deletions", [1, 2])
def test_query_job_queries_the_newest_version_when_retention_deleted_the_one_it_registered(
        spark, query_job, tmp_path, capsys, monkeypatch, deletions):
    """Another writer keeping one version publishes between the job's registration and its query:
    the job registers the newest version and runs the query again, once; then it says to run
    the job again (not the advice to Python callers to register again)."""
    vocab = Vocabulary(tuple(WORDS), np.array([c for _, c, _ in TABLE], dtype=np.int64))
    path = str(tmp_path / "model")
    write_model(spark, path, vocab, MATRIX, np.zeros_like(MATRIX), {})
    registered = sql.register
    calls = []

    def register_then_another_writer_publishes(spark, vectors, name="w2v"):
        registered(spark, vectors, name=name)
        calls.append(vectors)
        if len(calls) <= deletions:
            write_model(spark, path, vocab, MATRIX, np.zeros_like(MATRIX), {}, overwrite=True, keep_versions=1)
    monkeypatch.setattr(sql, "register", register_then_another_writer_publishes)
    code = query_job.main(["--vectors", path, "--sql", "SELECT * FROM w2v_most_similar('man', 2)"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert calls == [path, path]
    assert (f"query: version 1 of {path} was deleted (retention keeps only the newest versions); "
            "querying the newest version") in lines, captured.err
    assert "sparkw2v.sql.register" not in captured.err
    if deletions == 1:
        assert code == 0 and "it's" in captured.out and "king" in captured.out, captured
    else:
        assert code == 2 and lines[-1] == (
            f"query: error: version 2 of {path} was deleted (retention keeps only the newest versions), as was the "
            "version registered before it; run the job again (another writer publishes often and keeps few versions)")
