"""The query object, WordVectors: read-only lookups and gensim's answers."""

import numpy as np
import pytest

from sparkw2v.vectors import WordVectors


def test_lookups_are_read_only_views_and_the_callers_matrix_stays_writeable():
    matrix = np.eye(3, dtype=np.float32)
    wv = WordVectors(["a", "b", "c"], matrix)
    with pytest.raises(ValueError):
        wv["a"][0] = 5.0
    matrix[0, 0] = 2.0                     # the trainer keeps updating its own array
    assert wv["a"][0] == 2.0
    with pytest.raises(KeyError, match="'zzz' not in vocabulary"):
        wv["zzz"]
    assert "b" in wv and len(wv) == 3
    assert [w for w, _ in wv.most_similar("a", topn=5)] == ["b", "c"]


def test_topn_none_gives_every_words_similarity_as_gensim_does():
    wv = WordVectors(["a", "b", "c"], np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))
    every = wv.most_similar("a", topn=None)
    np.testing.assert_allclose(every, [1.0, 2 ** -0.5, 0.0], atol=1e-6)   # vocabulary order, "a" included
    assert wv.most_similar_cosmul(["a"], topn=None).shape == (3,)
    assert [w for w, _ in wv.most_similar("a", topn=1)] == ["b"]


def test_a_zero_query_vector_scores_zero_and_no_query_is_an_error():
    wv = WordVectors(["a", "b", "c"], np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))
    assert [score for _, score in wv.most_similar(np.zeros(2, np.float32), topn=2)] == [0.0, 0.0]
    with pytest.raises(ValueError, match="needs at least one word or vector"):
        wv.most_similar([])




@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")   # gensim's own init_sims
def test_query_terms_are_read_as_gensim_reads_them():
    """Words, row numbers, vectors (a 2-D array: one per row) and (term, weight) pairs give gensim's
    answers; a term of another kind is a TypeError naming it, not a silently wrong answer."""
    from gensim.models import KeyedVectors

    words = "the a i king money river bank town x y z".split()
    matrix = np.random.default_rng(0).standard_normal((len(words), 8)).astype(np.float32)
    ours, theirs = WordVectors(words, matrix), KeyedVectors(8)
    theirs.add_vectors(words, matrix)
    queries = [({"positive": [4]}, "most_similar"), ({"positive": [np.int64(4)], "negative": ["a"]}, "most_similar"),
               ({"positive": [("money", 2.0), "river"]}, "most_similar"),
               ({"positive": np.stack([matrix[1], matrix[2]])}, "most_similar"),
               ({"positive": "money"}, "most_similar_cosmul"),
               ({"positive": ["money", "bank"], "negative": ["a"]}, "most_similar_cosmul")]
    for kwargs, method in queries:
        got, want = getattr(ours, method)(topn=4, **kwargs), getattr(theirs, method)(topn=4, **kwargs)
        assert [w for w, _ in got] == [w for w, _ in want], (method, kwargs)
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    for term in (None, 1.5, "x y"):
        with pytest.raises((TypeError, KeyError)):
            ours.most_similar(positive=[term])
    with pytest.raises(KeyError, match="row 11 not in vocabulary of 11 words"):
        ours.most_similar(positive=[11])
    with pytest.raises(ValueError, match="at least one positive"):
        ours.most_similar_cosmul(negative=["money"])


def test_gensims_names_for_lookups():
    words = ["a", "b", "c"]
    matrix = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
    wv = WordVectors(words, matrix)
    assert wv.index_to_key == words and wv.key_to_index == {"a": 0, "b": 1, "c": 2}
    np.testing.assert_array_equal(wv[1], matrix[1])
    np.testing.assert_array_equal(wv[["c", 0]], matrix[[2, 0]])
    assert wv.similar_by_word("a", topn=1) == wv.most_similar("a", topn=1)
    assert wv.similar_by_vector(matrix[2], topn=2) == wv.most_similar([matrix[2]], topn=2)
    with pytest.raises(KeyError, match="row 3 not in vocabulary"):
        wv[3]


def test_gensims_similarity_methods_give_gensims_answers():
    """distance(s), n_similarity, doesnt_match, rank, closer_than, most_similar_to_given,
    get_mean_vector, relative_cosine_similarity and cosine_similarities answer as gensim's."""
    from gensim.models import KeyedVectors

    words = "the a i king queen money river bank town x y z".split()
    matrix = np.random.default_rng(1).standard_normal((len(words), 6)).astype(np.float32)
    ours, theirs = WordVectors(words, matrix), KeyedVectors(6)
    theirs.add_vectors(words, matrix)
    assert ours.distance("king", "bank") == pytest.approx(theirs.distance("king", "bank"), abs=1e-6)
    np.testing.assert_allclose(ours.distances("king"), theirs.distances("king"), atol=1e-6)
    np.testing.assert_allclose(ours.distances(matrix[3], ["x", "the"]), theirs.distances(matrix[3], ["x", "the"]),
                               atol=1e-6)
    assert ours.n_similarity(["king", "a"], ["queen"]) == pytest.approx(theirs.n_similarity(["king", "a"], ["queen"]),
                                                                        abs=1e-6)
    group = ["king", "queen", "money", "river", "z"]
    assert ours.doesnt_match(group) == theirs.doesnt_match(group)
    assert [w for _, w in ours.rank_by_centrality(group)] == [w for _, w in theirs.rank_by_centrality(group)]
    for a, b in [("king", "queen"), ("river", "the"), ("x", "z")]:
        assert ours.closer_than(a, b) == theirs.closer_than(a, b)
        assert ours.rank(a, b) == theirs.rank(a, b)
    assert ours.most_similar_to_given("king", group[1:]) == theirs.most_similar_to_given("king", group[1:])
    assert ours.relative_cosine_similarity("king", "queen", 3) == pytest.approx(
        theirs.relative_cosine_similarity("king", "queen", 3), abs=1e-6)
    for kwargs in [{}, {"pre_normalize": False}, {"post_normalize": True}, {"weights": [2.0, -1.0, 0.5]}]:
        keys = ["king", 4, matrix[5]]
        np.testing.assert_allclose(ours.get_mean_vector(keys, **kwargs), theirs.get_mean_vector(keys, **kwargs),
                                   atol=1e-6)
    np.testing.assert_allclose(ours.get_mean_vector(["king", "nope"]), theirs.get_mean_vector(["king", "nope"]),
                               atol=1e-6)
    np.testing.assert_allclose(WordVectors.cosine_similarities(matrix[0], matrix),
                               KeyedVectors.cosine_similarities(matrix[0], matrix), atol=1e-6)
    assert ours.has_index_for("x") and ours.has_index_for(11) and not ours.has_index_for("nope")
    assert ours.get_index("nope", -1) == -1 and ours.get_index(3) == 3


def test_gensims_similarity_methods_name_what_they_cannot_use():
    wv = WordVectors(["a", "b", "c"], np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32))
    with pytest.raises(KeyError, match="'nope' not in vocabulary"):
        wv.n_similarity(["a", "nope"], ["b"])          # gensim passes the word over silently
    with pytest.raises(ZeroDivisionError):
        wv.n_similarity([], ["b"])
    with pytest.raises(KeyError, match="'nope' not in vocabulary"):
        wv.get_mean_vector(["a", "nope"], ignore_missing=False)
    with pytest.raises(ValueError, match="one weight per key"):
        wv.get_mean_vector(["a", "b"], weights=[1.0])
    with pytest.raises(ValueError, match="none of the words"):
        wv.doesnt_match(["nope", "zzz"])
    assert wv.doesnt_match(["a", "b", "c", "nope"]) in {"a", "c"}
    assert wv.distances(np.zeros(2, np.float32)).tolist() == [1.0, 1.0, 1.0]
    assert 1 in wv and 3 not in wv and [w for _, w in wv.rank_by_centrality(["a", 7, "q", 2])] != []
    zero = WordVectors(["a", "b"], np.zeros((2, 2), np.float32))
    assert np.isnan(zero.relative_cosine_similarity("a", "b", 1))
