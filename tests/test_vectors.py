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
