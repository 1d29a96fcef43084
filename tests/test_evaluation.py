"""Evaluation: Spearman by hand, word pairs and analogies on hand-built vectors, gensim parity."""

import json

import numpy as np
import pytest

from sparkw2v.config import ConfigError
from sparkw2v.evaluation import (EvaluationDataError, evaluate, evaluate_analogies, evaluate_word_pairs,
                                 pearson, spearman)
from sparkw2v.vectors import WordVectors


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def at_angles(**degrees):
    """Unit 2-D vectors at the given angles, in the order given (most frequent first)."""
    rad = np.deg2rad(list(degrees.values()))
    return WordVectors(list(degrees), np.stack([np.cos(rad), np.sin(rad)], axis=1))


# -- spearman ------------------------------------------------------------------------------------

def test_spearman_monotone_cases_are_plus_and_minus_one():
    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 1000]) == pytest.approx(1.0)
    assert spearman(x, [3.0, 2.5, 0.0, -1.0, -50.0]) == pytest.approx(-1.0)
    assert spearman(x, np.exp(x)) == pytest.approx(1.0)        # ranks only: non-linear is still 1


def test_spearman_hand_computed():
    # No ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)); d = (-1, 1, -1, 1, 0) -> 1 - 24/120.
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # Tie in x: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4); Pearson of those = 4.5 / sqrt(4.5 * 5).
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(np.sqrt(0.9))
    # Two ties: ranks (1.5, 1.5, 3.5, 3.5) vs (1, 2, 3, 4) -> 4 / sqrt(4 * 5).
    assert spearman([7, 7, 9, 9], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(4 / np.sqrt(20))
    # Ties on both sides, unsorted input: ranks (3, 1.5, 1.5, 4) vs (2.5, 1, 2.5, 4);
    # deviations (.5, -1, -1, 1.5) and (0, -1.5, 0, 1.5) -> 3.75 / sqrt(4.5 * 4.5).
    assert spearman([5, 1, 1, 8], [2, 0, 2, 3]) == pytest.approx(3.75 / 4.5)


def test_spearman_undefined_and_bad_input():
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))             # constant input
    assert np.isnan(spearman([1], [2]))
    assert np.isnan(pearson([1, 2], [3, 3]))
    with pytest.raises(ValueError):
        spearman([1, 2, 3], [1, 2])


def test_spearman_matches_scipy_with_many_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 6, 200), rng.integers(0, 4, 200) + 0.1 * rng.integers(0, 6, 200)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


# -- word pairs ----------------------------------------------------------------------------------

PAIRS = """\
# The WordSimilarity-353 style: comments first
# Word 1\tWord 2\tHuman (mean)
CAT\tdog\t9.0
cat\tTree\t5.0
dog\tcar\t1.0
cat\tcar\t2.0
cat\tunicorn\t8.0
not a pair line
"""


def test_word_pairs_skip_oov_and_fold_case(tmp_path):
    wv = at_angles(cat=0, dog=10, tree=45, car=80)
    path = write(tmp_path / "pairs.tsv", PAIRS)
    result = evaluate_word_pairs(wv, path)
    # Cosines cat-dog .985, cat-tree .707, dog-car .342, cat-car .174: ranks (4, 3, 2, 1) vs human (4, 3, 1, 2).
    assert result.spearman == pytest.approx(0.8)
    cosines = np.cos(np.deg2rad([10, 45, 70, 80]))
    assert result.pearson == pytest.approx(np.corrcoef([9.0, 5.0, 1.0, 2.0], cosines)[0, 1])
    assert (result.pairs_used, result.pairs_total) == (4, 5)
    assert result.oov_ratio == pytest.approx(0.2)
    assert result.coverage == pytest.approx(0.8)

    exact = evaluate_word_pairs(wv, path, case_insensitive=False)   # CAT and Tree are now unknown
    assert (exact.pairs_used, exact.pairs_total) == (2, 5)
    assert exact.spearman == pytest.approx(-1.0)                     # human (1, 2) vs cosine (.342, .174)

    short = evaluate_word_pairs(wv, path, restrict_vocab=3)          # car is outside the first 3 words
    assert (short.pairs_used, short.pairs_total) == (2, 5)


def test_word_pairs_case_folding_takes_most_frequent_spelling(tmp_path):
    # "Paris" comes before "paris", so "paris" in the file means the "Paris" row (as in gensim).
    wv = WordVectors(["Paris", "france", "paris", "london"],
                     np.array([[1, 0], [1, 0.1], [0, 1], [0.5, 1]], dtype=np.float32))
    path = write(tmp_path / "pairs.tsv", "paris\tfrance\t9\nparis\tlondon\t3\n")
    assert evaluate_word_pairs(wv, path).spearman == pytest.approx(1.0)
    assert evaluate_word_pairs(wv, path, case_insensitive=False).spearman == pytest.approx(-1.0)


def test_word_pairs_file_without_pairs_is_an_error(tmp_path):
    with pytest.raises(EvaluationDataError):
        evaluate_word_pairs(at_angles(a=0, b=1), write(tmp_path / "x.tsv", "# only a comment\na b\n"))


# -- analogies -----------------------------------------------------------------------------------

Z = [0, 0, 0, 0]
ANALOGY_VECTORS = {
    # dims 0-3: royal, male, female, person. woman - man + king = (1, 0, 1, 0) = queen (up to 0.1).
    "man": [0, 1, 0, 1] + Z, "woman": [0, 0, 1, 1] + Z, "king": [1, 1, 0, 0] + Z,
    "queen": [1, 0, 1, 0.1] + Z, "prince": [1, 1, 0, 0.5] + Z,
    # dims 4-7: a, b, c orthonormal. For "a : b :: c : ?" (cos with a is 0 for both candidates):
    #   c_twin   = (0, 0, 4, 1): cos b 0,    cos c .970 -> 3CosAdd .970, 3CosMul .5 * .985 / .5 = .985
    #   balanced = (0, 3, 3, 5): cos b .457, cos c .457 -> 3CosAdd .915, 3CosMul .729^2 / .5    = 1.062
    # so 3CosAdd answers c_twin (one big similarity dominates) and 3CosMul answers balanced.
    "a": Z + [1, 0, 0, 0], "b": Z + [0, 1, 0, 0], "c": Z + [0, 0, 1, 0],
    "c_twin": Z + [0, 0, 4, 1], "balanced": Z + [0, 3, 3, 5],
}

QUESTIONS = """\
: royalty
man woman king queen
WOMAN Man queen king
king queen man woman
man woman king prince
man woman king unicorn
man woman king

: offsets
a b c balanced
"""


def analogy_vectors(**extra):
    table = {**ANALOGY_VECTORS, **extra}
    return WordVectors(list(table), np.array(list(table.values()), dtype=np.float32))


def test_analogies_per_section_and_total(tmp_path):
    wv = analogy_vectors()
    result = evaluate_analogies(wv, write(tmp_path / "q.txt", QUESTIONS))
    assert result.methods == ("3cosadd", "3cosmul")
    assert [s.name for s in result.sections] == ["royalty", "offsets"]
    royalty, offsets = result.sections
    # royalty: the unicorn question is skipped, the 3-word line is not a question; prince is wrong.
    assert (royalty.questions_used, royalty.questions_total) == (4, 5)
    assert royalty.correct == {"3cosadd": 3, "3cosmul": 3}
    assert royalty.accuracy == {"3cosadd": 0.75, "3cosmul": 0.75}
    # offsets: the expected answer is the balanced one, which only 3CosMul picks.
    assert offsets.accuracy == {"3cosadd": 0.0, "3cosmul": 1.0}
    assert result.section("offsets") is offsets
    assert result.correct == {"3cosadd": 3, "3cosmul": 4}
    assert result.accuracy == {"3cosadd": pytest.approx(3 / 5), "3cosmul": pytest.approx(4 / 5)}
    assert (result.questions_used, result.questions_total) == (5, 6)
    assert result.coverage == pytest.approx(5 / 6)
    # The answers the query object gives one question at a time.
    assert wv.analogy("a", "b", "c")[0][0] == "c_twin"
    assert wv.most_similar_cosmul(["b", "c"], ["a"], topn=1)[0][0] == "balanced"
    assert wv.analogy("man", "woman", "king")[0][0] == "queen"

    only_add = evaluate_analogies(wv, tmp_path / "q.txt", methods=["3CosAdd"])
    assert only_add.methods == ("3cosadd",) and only_add.accuracy == {"3cosadd": pytest.approx(0.6)}
    exact = evaluate_analogies(wv, tmp_path / "q.txt", case_insensitive=False)
    assert exact.section("royalty").questions_used == 3                 # "WOMAN Man ..." is now unknown


def test_restrict_vocab_drops_rare_word_from_questions_and_answers(tmp_path):
    # A rare word exactly at woman - man + king: with it, it beats queen; restricted away, queen wins.
    wv = analogy_vectors(empress=[1, 0, 1, 0] + Z)
    path = write(tmp_path / "q.txt", ": royalty\nman woman king queen\nman woman king empress\n")
    full = evaluate_analogies(wv, path)
    assert (full.questions_used, full.correct) == (2, {"3cosadd": 1, "3cosmul": 1})
    assert full.accuracy["3cosadd"] == 0.5
    restricted = evaluate_analogies(wv, path, restrict_vocab=len(wv) - 1)
    assert (restricted.questions_used, restricted.questions_total) == (1, 2)
    assert restricted.accuracy == {"3cosadd": 1.0, "3cosmul": 1.0}


def test_case_variant_of_a_question_word_is_not_an_answer(tmp_path):
    # "Woman" (a rare spelling of the question word "woman") sits exactly on the answer direction.
    wv = analogy_vectors(Woman=[1, 0, 1, 0] + Z)
    path = write(tmp_path / "q.txt", ": royalty\nman woman king queen\n")
    assert evaluate_analogies(wv, path).accuracy == {"3cosadd": 1.0, "3cosmul": 1.0}
    assert evaluate_analogies(wv, path, case_insensitive=False).accuracy == {"3cosadd": 0.0, "3cosmul": 0.0}


def test_batches_agree_with_one_question_at_a_time(tmp_path):
    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(60)]
    wv = WordVectors(words, rng.standard_normal((60, 8)).astype(np.float32))
    quads = [rng.choice(60, 4, replace=False) for _ in range(40)]
    lines = [" ".join(words[i] for i in q) for q in quads]
    # Make the expected answer the true top candidate for half the questions, so both outcomes occur.
    for k, q in enumerate(quads[:20]):
        a, b, c = (words[i] for i in q[:3])
        best = (wv.analogy(a, b, c, topn=1) if k % 2 else wv.most_similar_cosmul([b, c], [a], topn=1))[0][0]
        lines[k] = f"{a} {b} {c} {best}"
    path = write(tmp_path / "q.txt", ": s1\n" + "\n".join(lines[:25]) + "\n: s2\n" + "\n".join(lines[25:]) + "\n")
    result = evaluate_analogies(wv, path, restrict_vocab=50, batch_size=7)
    expected = {"3cosadd": 0, "3cosmul": 0}
    used = 0
    for line in lines:
        a, b, c, d = line.split()
        if any(wv.get_index(w) >= 50 for w in (a, b, c, d)):
            continue
        used += 1
        expected["3cosadd"] += wv.most_similar([b, c], [a], topn=1, restrict_vocab=50)[0][0] == d
        expected["3cosmul"] += wv.most_similar_cosmul([b, c], [a], topn=1, restrict_vocab=50)[0][0] == d
    assert result.questions_used == used < 40
    assert result.correct == expected
    assert 0 < expected["3cosadd"] < used and 0 < expected["3cosmul"] < used


def test_analogy_file_errors(tmp_path):
    wv = analogy_vectors()
    with pytest.raises(EvaluationDataError):
        evaluate_analogies(wv, write(tmp_path / "a.txt", "man woman king queen\n"))   # no header
    with pytest.raises(EvaluationDataError):
        evaluate_analogies(wv, write(tmp_path / "b.txt", ": empty\n"))
    with pytest.raises(ConfigError):
        evaluate_analogies(wv, write(tmp_path / "c.txt", QUESTIONS), methods=["3cosavg"])


def test_evaluate_gives_flat_json_numbers(tmp_path):
    pairs = write(tmp_path / "pairs.tsv", "man\twoman\t8\nking\tqueen\t8.5\nman\tprince\t3\na\tb\t0.5\n")
    questions = write(tmp_path / "q.txt", QUESTIONS)
    scores = evaluate(analogy_vectors(), similarity_path=pairs, analogy_path=questions)
    assert set(scores) == {"wordsim_spearman", "wordsim_pearson", "wordsim_coverage", "wordsim_pairs",
                           "analogy_3cosadd", "analogy_3cosmul", "analogy_coverage", "analogy_questions"}
    assert scores["analogy_3cosmul"] == pytest.approx(0.8) and scores["wordsim_pairs"] == 4
    assert json.loads(json.dumps(scores, allow_nan=False)) == scores
    assert evaluate(analogy_vectors(), analogy_path=questions, methods=["3cosadd"]) == {
        "analogy_3cosadd": pytest.approx(0.6), "analogy_coverage": pytest.approx(5 / 6), "analogy_questions": 5}
    one_pair = write(tmp_path / "one.tsv", "man\twoman\t8\n")
    assert evaluate(analogy_vectors(), similarity_path=one_pair)["wordsim_spearman"] is None


# -- gensim parity -------------------------------------------------------------------------------

def planted_vectors(seed=5, dim=16, noise=1.1):
    """~200 words: 100 random bases, each with a derived word base + offset + noise, and a few
    capitalised spellings close to their base (so they compete as answers); shuffled, so
    frequency order mixes them and a capitalised spelling is sometimes the more frequent one."""
    rng = np.random.default_rng(seed)
    bases = rng.standard_normal((100, dim))
    offsets = rng.standard_normal((2, dim)) * 1.5
    table = {}
    for i in range(100):
        table[f"w{i}"] = bases[i]
        table[f"w{i}_{'xy'[i % 2]}"] = bases[i] + offsets[i % 2] + noise * rng.standard_normal(dim)
    for i in range(0, 100, 9):
        table[f"W{i}"] = bases[i] + 0.3 * rng.standard_normal(dim)
    words = list(table)
    rng.shuffle(words)
    return WordVectors(words, np.array([table[w] for w in words], dtype=np.float32)), rng


@pytest.mark.filterwarnings("ignore:Call to deprecated:DeprecationWarning")   # gensim's own init_sims
def test_matches_gensim_on_random_vectors(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    wv, rng = planted_vectors()
    kv = gensim_kv.KeyedVectors(vector_size=wv.vector_size)
    kv.add_vectors(wv.words, wv.vectors.copy())

    def spell(word):
        return word.upper() if rng.random() < 0.2 else word

    lines = ["# generated pairs"]
    for _ in range(300):
        i, j = rng.integers(0, 120, 2)
        a, b = f"w{i}", rng.choice([f"w{j}", f"w{i}_x", f"w{i}_y"])
        score = np.round(rng.uniform(0, 10), 1)   # a 0.1 grid: many ties among 300 scores
        if b in wv:
            score = np.round(5 + 4 * wv.similarity(a, b) + rng.normal(0, 2), 0) if a in wv else score
        lines.append(f"{spell(a)}\t{spell(b)}\t{score}")
    pairs = write(tmp_path / "pairs.tsv", "\n".join(lines) + "\n")

    text = []
    for section, parity in (("x-offset", 0), ("y-offset", 1)):
        text.append(f": {section}")
        for _ in range(200):
            i, j = rng.choice(np.arange(parity, 104, 2), 2, replace=False)   # i, j >= 100: out of vocabulary
            text.append(" ".join(spell(w) for w in (f"w{i}", f"w{i}_{'xy'[parity]}",
                                                     f"w{j}", f"w{j}_{'xy'[parity]}")))
    questions = write(tmp_path / "questions.txt", "\n".join(text) + "\n")

    for case_insensitive in (True, False):
        for restrict in (300_000, 170):
            ours = evaluate_word_pairs(wv, pairs, case_insensitive, restrict_vocab=restrict)
            g_pearson, g_spearman, g_oov = kv.evaluate_word_pairs(
                str(pairs), restrict_vocab=restrict, case_insensitive=case_insensitive)
            assert ours.spearman == pytest.approx(g_spearman.statistic, abs=1e-6)
            assert ours.pearson == pytest.approx(g_pearson.statistic, abs=1e-6)
            assert 100 * ours.oov_ratio == pytest.approx(g_oov)

            result = evaluate_analogies(wv, questions, restrict, case_insensitive, batch_size=64)
            g_score, g_sections = kv.evaluate_word_analogies(
                str(questions), restrict_vocab=restrict, case_insensitive=case_insensitive)
            assert result.accuracy["3cosadd"] == g_score
            assert [(s.name, s.correct["3cosadd"], s.questions_used) for s in result.sections] == [
                (g["section"], len(g["correct"]), len(g["correct"]) + len(g["incorrect"])) for g in g_sections[:-1]]
            assert 0.2 < g_score < 0.8 and 30 < result.questions_used < 400

    # gensim's evaluate_word_analogies has no 3CosMul: count most_similar_cosmul's top answers instead.
    result = evaluate_analogies(wv, questions, None, case_insensitive=False)
    correct = 0
    for line in questions.read_text().splitlines():
        words = line.split()
        if line.startswith(":") or not all(w in wv for w in words):
            continue
        a, b, c, d = words
        correct += kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=1)[0][0] == d
    assert result.correct["3cosmul"] == correct


def test_unreadable_evaluation_files_are_named_in_one_error(tmp_path):
    from sparkw2v.evaluation import EvaluationDataError, check_files

    latin = tmp_path / "q.txt"
    latin.write_bytes(": capital\nparis france caf\xe9 x\n".encode("latin-1"))
    with pytest.raises(EvaluationDataError, match=r"q.txt is not utf-8 text \(byte 0xe9"):
        check_files(analogy_path=latin)
    with pytest.raises(EvaluationDataError, match="is a directory"):
        check_files(similarity_path=tmp_path)
    with pytest.raises(EvaluationDataError, match="no such file"):
        check_files(similarity_path=tmp_path / "none.tsv")
    good = tmp_path / "pairs.tsv"
    good.write_text("# comment\na\tb\t3.5\n")
    check_files(similarity_path=good)                                    # a usable file passes
    (tmp_path / "empty.tsv").write_text("a b\n")
    with pytest.raises(EvaluationDataError, match="no 'word1"):
        check_files(similarity_path=tmp_path / "empty.tsv")
