"""Intrinsic evaluation of word vectors: word-pair similarity and word analogies.

The numbers are meant to be the ones gensim's ``KeyedVectors.evaluate_word_pairs`` and
``evaluate_word_analogies`` give for the same vectors, so runs of this trainer can be set
beside gensim runs. Only NumPy is needed: Spearman's rho is computed here, and analogies
are answered in batches of matrix products rather than one ``most_similar`` call per
question as gensim does (the Google analogy set has ~20k questions).

Case folding follows gensim: with ``case_insensitive`` both the test words and the
vocabulary are folded (``str.upper``, as gensim does), and a folded word stands for its most
frequent spelling, i.e. the first one in the (frequency-sorted) vocabulary.
"""

from __future__ import annotations

import logging
import math
import operator
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

from .config import ConfigError
from .vectors import WordVectors

log = logging.getLogger("sparkw2v")

__all__ = [
    "AnalogyResult", "EvaluationDataError", "METHODS", "PairResult", "SectionResult",
    "evaluate", "evaluate_analogies", "evaluate_word_pairs", "pearson", "spearman",
]

METHODS = ("3cosadd", "3cosmul")
"""Analogy methods: vector offset (Mikolov et al. 2013) and multiplicative (Levy & Goldberg 2014)."""

_GENSIM_TOPN = 5
"""gensim takes the first of its top-5 candidates that is not a case variant of a question word."""

_BATCH_ELEMENTS = 1 << 24
"""Cap on questions x candidates per score matrix (64 MiB of float32), so a 300k vocabulary
gets small batches instead of gigabytes."""

PathType = str | os.PathLike[str]


class EvaluationDataError(ConfigError):
    """An evaluation file is unreadable or has nothing usable in it (a ConfigError, so the CLI
    reports one line)."""


def _lines(path: PathType, encoding: str) -> Iterable[str]:
    """The lines of a text file; a missing, unreadable or wrongly encoded file raises
    :class:`EvaluationDataError` naming it (decoding fails while reading, so it is caught here)."""
    name = os.fspath(path)
    try:
        with open(path, encoding=encoding) as fin:
            yield from fin
    except UnicodeDecodeError as exc:
        raise EvaluationDataError(f"{name} is not {encoding} text (byte {exc.object[exc.start]:#04x} at "
                                  f"byte {exc.start} of a block): convert it, e.g. iconv -t {encoding}") from None
    except IsADirectoryError:
        raise EvaluationDataError(f"{name} is a directory, not an evaluation file") from None
    except FileNotFoundError:
        raise EvaluationDataError(f"{name}: no such file") from None
    except OSError as exc:
        raise EvaluationDataError(f"{name} cannot be read: {exc.strerror or exc}") from None


def check_files(similarity_path: PathType | None = None, analogy_path: PathType | None = None,
                encoding: str = "utf-8") -> None:
    """Read evaluation files as :func:`evaluate` will and raise :class:`EvaluationDataError` if one
    is unreadable or holds nothing usable: checked before a training run, not after it."""
    if similarity_path is not None:
        _read_pairs(similarity_path, "\t", encoding)
    if analogy_path is not None:
        _read_analogies(analogy_path, {}, str, encoding)


def _read_pairs(path: PathType, delimiter: str, encoding: str) -> list[tuple[str, str, float]]:
    """The ``word1 <delimiter> word2 <delimiter> score`` lines of a word-pair file (comments and
    malformed lines skipped); raises if there are none."""
    pairs = []
    skipped: list[tuple[int, str]] = []
    for line_no, line in enumerate(_lines(path, encoding), 1):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.rstrip("\r\n").split(delimiter)
        try:
            if len(fields) != 3:
                raise ValueError
            pairs.append((fields[0], fields[1], float(fields[2])))
        except ValueError:
            skipped.append((line_no, line))
    if not pairs:
        raise EvaluationDataError(f"no 'word1{delimiter!r}word2{delimiter!r}score' lines in {os.fspath(path)}")
    _warn_skipped(path, skipped, len(pairs) + len(skipped), f"word1{delimiter!r}word2{delimiter!r}score")
    return pairs


_WARNED: set[str] = set()


def _warn_skipped(path: PathType, skipped: list[tuple[int, str]], lines: int, shape: str) -> None:
    """Name malformed lines, which are skipped as gensim skips them and left out of the coverage
    (once per file and process: a file is read before training and again when scored)."""
    name = os.fspath(path)
    if skipped and name not in _WARNED:
        _WARNED.add(name)
        line_no, line = skipped[0]
        log.warning("%d of the %d lines of %s are not %s and are skipped, and left out of the coverage "
                    "(line %d: %r)", len(skipped), lines, name, shape, line_no, line.rstrip("\r\n")[:80])


# -- correlation ---------------------------------------------------------------------------------

def _as_pair(x: Iterable[float], y: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"need two 1-D sequences of the same length, got shapes {a.shape} and {b.shape}")
    return a, b


def _average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n; tied values share the mean of the ranks they span (as scipy.stats.rankdata)."""
    n = a.size
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    ends = np.append(starts[1:], n)                  # one past each run of equal values
    mean_rank = (starts + ends + 1) / 2.0            # mean of starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    da, db = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(da @ da) * float(db @ db))
    if denom == 0.0:                                 # a constant input: no correlation defined
        return math.nan
    return max(-1.0, min(1.0, float(da @ db) / denom))


def pearson(x: Iterable[float], y: Iterable[float]) -> float:
    """Pearson's r; NaN when undefined (fewer than 2 points, a constant input, or a NaN)."""
    return _correlation(*_as_pair(x, y))


def spearman(x: Iterable[float], y: Iterable[float]) -> float:
    """Spearman's rho: Pearson's r of the ranks, ties given their average rank.

    Equal to ``scipy.stats.spearmanr(x, y).statistic``, which gensim reports; NaN when undefined.
    """
    a, b = _as_pair(x, y)
    if a.size < 2 or np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    return _correlation(_average_ranks(a), _average_ranks(b))


# -- vocabulary as gensim sees it ----------------------------------------------------------------

def _fold(case_insensitive: bool) -> Callable[[str], str]:
    return str.upper if case_insensitive else str


def _restricted(wv: WordVectors, restrict_vocab: int | None,
                case_insensitive: bool) -> tuple[int, dict[str, int], np.ndarray]:
    """(n, folded word -> row, row -> row of its folded word) over the first ``n`` words.

    Only the first ``restrict_vocab`` (most frequent) words count; a folded word maps to its
    first, most frequent, spelling.
    """
    n = len(wv) if restrict_vocab is None else max(0, min(int(restrict_vocab), len(wv)))
    words = wv.words[:n]
    if not case_insensitive:
        return n, (wv.index if n == len(wv) else {w: i for i, w in enumerate(words)}), np.arange(n)
    keys = [w.upper() for w in words]
    lookup: dict[str, int] = {}
    for i, key in enumerate(keys):
        lookup.setdefault(key, i)
    canonical = np.fromiter((lookup[key] for key in keys), dtype=np.int64, count=n)
    return n, lookup, canonical


# -- word pairs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairResult:
    """Agreement of cosine similarity with human scores over the pairs in the vocabulary.

    ``oov_ratio`` is a fraction (gensim returns the same number times 100).
    """

    spearman: float
    pearson: float
    pairs_used: int
    pairs_total: int
    oov_ratio: float

    @property
    def coverage(self) -> float:
        return self.pairs_used / self.pairs_total if self.pairs_total else 0.0


def evaluate_word_pairs(wv: WordVectors, path: PathType, case_insensitive: bool = True, *,
                        restrict_vocab: int | None = 300_000, delimiter: str = "\t",
                        encoding: str = "utf-8") -> PairResult:
    """Spearman and Pearson correlation of human scores with cosine similarity (WordSim-353 format).

    Lines starting with ``#`` are comments; other lines are ``word1 <TAB> word2 <TAB> score``.
    Malformed lines are ignored; a pair with a word outside the first ``restrict_vocab``
    words is skipped and counted in ``oov_ratio``, as gensim does.
    """
    n, lookup, _ = _restricted(wv, restrict_vocab, case_insensitive)
    fold = _fold(case_insensitive)
    gold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    pairs = _read_pairs(path, delimiter, encoding)
    total = len(pairs)
    for first, second, score in pairs:
        a, b = lookup.get(fold(first)), lookup.get(fold(second))
        if a is not None and b is not None:
            gold.append(score)
            left.append(a)
            right.append(b)
    # Cosines in float64 from the raw rows: as exact as gensim's float32 unitvec products or better.
    x = wv.vectors[left].astype(np.float64)
    y = wv.vectors[right].astype(np.float64)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    model = np.einsum("ij,ij->i", x, y) / np.where(norms > 0, norms, 1.0)   # zero vector: 0
    human = np.asarray(gold, dtype=np.float64)
    return PairResult(spearman=spearman(human, model), pearson=pearson(human, model),
                      pairs_used=len(gold), pairs_total=total, oov_ratio=(total - len(gold)) / total)


# -- analogies -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SectionResult:
    """One ``: section`` of an analogy file: questions attempted, correct answers and accuracy per method."""

    name: str
    questions_used: int
    questions_total: int
    correct: Mapping[str, int]
    accuracy: Mapping[str, float]


@dataclass(frozen=True)
class AnalogyResult:
    """Analogy accuracy per method, over all attempted questions and per section.

    Accuracy is correct / attempted; a question is attempted when all four of its words are
    among the first ``restrict_vocab`` words. With nothing attempted accuracy is 0.0, as in gensim.
    """

    methods: tuple[str, ...]
    accuracy: Mapping[str, float]
    correct: Mapping[str, int]
    questions_used: int
    questions_total: int
    coverage: float
    sections: tuple[SectionResult, ...]

    def section(self, name: str) -> SectionResult:
        """The first section called ``name``; ``KeyError`` if there is none."""
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"no analogy section {name!r}")


def _read_analogies(path: PathType, lookup: Mapping[str, int], fold: Callable[[str], str],
                    encoding: str) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """Section names, questions per section, rows of the usable questions (m x 4) and their sections."""
    names: list[str] = []
    totals: list[int] = []
    rows: list[tuple[int, int, int, int]] = []
    section_of: list[int] = []
    skipped: list[tuple[int, str]] = []
    for line_no, line in enumerate(_lines(path, encoding), 1):
        if line.startswith(": "):
            names.append(line.lstrip(": ").strip())
            totals.append(0)
            continue
        words = line.split()
        if not words:
            continue
        if not names:
            raise EvaluationDataError(f"{os.fspath(path)} line {line_no}: question before any ': section' header")
        if len(words) != 4:                      # gensim skips such lines and does not count them
            skipped.append((line_no, line))
            continue
        totals[-1] += 1
        ids = [lookup.get(fold(w)) for w in words]
        if None not in ids:
            rows.append(tuple(ids))              # type: ignore[arg-type]
            section_of.append(len(names) - 1)
    if not sum(totals):
        raise EvaluationDataError(f"no 'a b c d' analogy questions in {os.fspath(path)}")
    _warn_skipped(path, skipped, sum(totals) + len(skipped), "'a b c d' questions")
    return (names, totals, np.array(rows, dtype=np.int64).reshape(-1, 4),
            np.array(section_of, dtype=np.int64))


def _scores(normed: np.ndarray, q: np.ndarray, method: str) -> np.ndarray:
    """Scores of every candidate (columns) for "a : b :: c : ?" per question row ``q = [a, b, c, ...]``."""
    va, vb, vc = normed[q[:, 0]], normed[q[:, 1]], normed[q[:, 2]]
    if method == "3cosadd":
        # gensim's most_similar: mean of the unit vectors weighted +1, +1, -1, made unit length.
        query = (vb + vc - va) / np.float32(3.0)
        length = np.linalg.norm(query, axis=1, keepdims=True)
        query /= np.where(length > 0, length, 1.0).astype(np.float32)
        return query @ normed.T
    # gensim's most_similar_cosmul: cosines shifted to [0, 1], positives multiplied over negative + 1e-6.
    scores = (vb @ normed.T + 1) / 2
    scores *= (vc @ normed.T + 1) / 2
    scores /= (va @ normed.T + 1) / 2 + np.float32(1e-6)
    return scores


def _answers(scores: np.ndarray, q: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """gensim's pick: the best candidate that is none of a, b, c (nor, when case-folded, a spelling of one).

    The three question rows get -inf. As in gensim, only the top 5 remaining candidates are
    looked at; if all are spellings of question words the last of them is the answer (wrong
    unless the expected word is a question word). Returns the folded row of each answer, -1 if none.
    """
    batch, n = scores.shape
    rows = np.arange(batch)[:, None]
    scores[rows, q[:, :3]] = -np.inf
    k = min(_GENSIM_TOPN, n)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)   # best first; ties to the lower (more frequent) row
    top = np.take_along_axis(top, order, axis=1)
    valid = np.isfinite(np.take_along_axis(top_scores, order, axis=1))   # -inf only if < 5 others exist
    folded = canonical[top]
    usable = valid & ~(folded[:, :, None] == q[:, None, :3]).any(axis=2)
    first = np.where(usable.any(axis=1), usable.argmax(axis=1), valid.sum(axis=1) - 1)
    picked = folded[np.arange(batch), np.maximum(first, 0)]
    return np.where(first >= 0, picked, -1)


def evaluate_analogies(wv: WordVectors, path: PathType, restrict_vocab: int | None = 300_000,
                       case_insensitive: bool = True, methods: Iterable[str] = METHODS, *,
                       batch_size: int = 512, encoding: str = "utf-8") -> AnalogyResult:
    """Accuracy on "a is to b as c is to d" questions (questions-words.txt format), per method.

    Candidates are the first ``restrict_vocab`` words; questions with a word outside them are
    skipped. The answer is the best-scoring candidate other than a, b and c, as in gensim's
    ``evaluate_word_analogies`` (which has 3CosAdd only; 3CosMul scores as its ``most_similar_cosmul``).
    Questions are scored ``batch_size`` at a time (fewer for a very large vocabulary).
    """
    methods = tuple(m.lower() for m in methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"analogy methods must be among {', '.join(METHODS)}; got {list(methods)}")
    n, lookup, canonical = _restricted(wv, restrict_vocab, case_insensitive)
    names, totals, questions, section_of = _read_analogies(path, lookup, _fold(case_insensitive), encoding)
    normed = np.ascontiguousarray(wv.normed_vectors[:n])
    step = max(1, min(int(batch_size), _BATCH_ELEMENTS // max(n, 1)))
    correct_by_section = {}
    for method in methods:
        hit = np.zeros(len(questions), dtype=bool)
        for start in range(0, len(questions), step):
            q = questions[start:start + step]
            hit[start:start + step] = _answers(_scores(normed, q, method), q, canonical) == q[:, 3]
        correct_by_section[method] = np.bincount(section_of[hit], minlength=len(names))
    used_by_section = np.bincount(section_of, minlength=len(names))

    def accuracy(correct: int, used: int) -> float:
        return correct / used if used else 0.0

    sections = tuple(
        SectionResult(name=name, questions_used=int(used_by_section[i]), questions_total=totals[i],
                      correct={m: int(correct_by_section[m][i]) for m in methods},
                      accuracy={m: accuracy(int(correct_by_section[m][i]), int(used_by_section[i]))
                                for m in methods})
        for i, name in enumerate(names))
    used, total = len(questions), sum(totals)
    correct = {m: int(correct_by_section[m].sum()) for m in methods}
    return AnalogyResult(methods=methods, accuracy={m: accuracy(correct[m], used) for m in methods},
                         correct=correct, questions_used=used, questions_total=total,
                         coverage=used / total, sections=sections)


# -- one call for metadata and benchmarks --------------------------------------------------------

def _json_number(x: float) -> float | None:
    return None if math.isnan(x) else x


def evaluate(wv: WordVectors, similarity_path: PathType | None = None, analogy_path: PathType | None = None,
             *, restrict_vocab: int | None = 300_000, case_insensitive: bool = True,
             methods: Iterable[str] = METHODS) -> dict[str, float | int | None]:
    """Flat, JSON-ready scores for whichever files are given (None where a correlation is undefined).

    Keys: ``wordsim_spearman``, ``wordsim_pearson``, ``wordsim_coverage``, ``wordsim_pairs`` for the
    similarity file; ``analogy_<method>``, ``analogy_coverage``, ``analogy_questions`` for the
    analogy file. Both use the same ``restrict_vocab`` and case folding.
    """
    if restrict_vocab is not None:
        try:
            valid = not isinstance(restrict_vocab, bool) and operator.index(restrict_vocab) >= 1
        except TypeError:
            valid = False
        if not valid:
            raise ConfigError.invalid("restrict_vocab", restrict_vocab, "must be an integer >= 1 (None: every word)")
    scores: dict[str, float | int | None] = {}
    if similarity_path is not None:
        pairs = evaluate_word_pairs(wv, similarity_path, case_insensitive, restrict_vocab=restrict_vocab)
        scores.update(wordsim_spearman=_json_number(pairs.spearman), wordsim_pearson=_json_number(pairs.pearson),
                      wordsim_coverage=pairs.coverage, wordsim_pairs=pairs.pairs_used)
    if analogy_path is not None:
        analogies = evaluate_analogies(wv, analogy_path, restrict_vocab, case_insensitive, methods)
        scores.update({f"analogy_{m}": analogies.accuracy[m] for m in analogies.methods})
        scores.update(analogy_coverage=analogies.coverage, analogy_questions=analogies.questions_used)
    return scores
