"""Word vectors held on one machine, queried the way gensim's KeyedVectors are.

A words list, a word -> row dict, and one float32 matrix. Unit-normalised rows
are computed once, on first use. Lookups return read-only views, so a caller
cannot corrupt the model by writing into a returned vector.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)


class WordVectors:
    """Vectors for a fixed vocabulary, most frequent word first.

    >>> import numpy as np
    >>> wv = WordVectors(["a", "b"], np.eye(2, dtype=np.float32))
    >>> wv.similarity("a", "b")
    0.0
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, counts: np.ndarray | None = None):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"need one row per word: {len(words)} words, matrix of shape {vectors.shape}")
        self.words: list[str] = list(words)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words must be unique")
        self.vectors = vectors.view()  # a read-only view; the caller's array stays writeable
        self.vectors.flags.writeable = False
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self._normed: np.ndarray | None = None

    @property
    def vector_size(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        """A word of the vocabulary, or a row number, as gensim's ``in``."""
        return self.has_index_for(word)

    def __iter__(self):
        return iter(self.words)

    def get_index(self, word: str | int, default: int | None = None) -> int:
        """Row of ``word`` (a row number is its own row, as in gensim); ``default`` if given and
        the word is not in the vocabulary, else ``KeyError`` naming the word."""
        row = self.index.get(word) if isinstance(word, str) else None
        if row is None and isinstance(word, (int, np.integer)) and not isinstance(word, (bool, np.bool_)) \
                and 0 <= word < len(self):
            row = int(word)
        if row is not None:
            return row
        if default is not None:
            return default
        raise KeyError(f"word {word!r} not in vocabulary")

    def has_index_for(self, word: object) -> bool:
        """Whether ``word`` (a word or a row number) has a row, as gensim's."""
        return self.get_index(word, -1) >= 0

    @property
    def index_to_key(self) -> list[str]:
        """gensim's name for :attr:`words`."""
        return self.words

    @property
    def key_to_index(self) -> dict[str, int]:
        """gensim's name for :attr:`index`."""
        return self.index

    def __getitem__(self, key: str | int | Sequence) -> np.ndarray:
        """The vector of a word or row number, or the rows of a list of them (a new array), as gensim's."""
        if isinstance(key, (list, tuple)):
            return np.stack([self[k] for k in key]) if key else np.zeros((0, self.vector_size), np.float32)
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            return self.vectors[self._term(key)[1]]
        return self.vectors[self.get_index(key)]

    def get_vector(self, word: str, norm: bool = False) -> np.ndarray:
        """The vector of ``word`` (unit length if ``norm``), as a read-only view."""
        i = self.get_index(word)
        return self.normed_vectors[i] if norm else self.vectors[i]

    @property
    def normed_vectors(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero); computed on first use."""
        if self._normed is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            normed = self.vectors / np.where(norms > 0, norms, 1.0)
            normed.flags.writeable = False
            self._normed = normed.astype(np.float32, copy=False)
        return self._normed

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.get_vector(a, norm=True) @ self.get_vector(b, norm=True))

    def distance(self, a: str, b: str) -> float:
        """Cosine distance of two words, ``1 - similarity``."""
        return 1.0 - self.similarity(a, b)

    def distances(self, word_or_vector: str | np.ndarray, other_words: Sequence[str] = ()) -> np.ndarray:
        """Cosine distances from a word or vector to ``other_words`` (every word, in vocabulary
        order, when empty). A zero vector is at distance 1 from every word, as it scores 0 in
        :meth:`most_similar` (gensim gives nan)."""
        if isinstance(word_or_vector, str):
            query = self.get_vector(word_or_vector, norm=True)
        else:
            query = unit(np.asarray(word_or_vector, dtype=np.float32))
        rows = self.normed_vectors
        if len(other_words):
            rows = rows[[self.get_index(w) for w in other_words]]
        return 1.0 - rows @ query

    @staticmethod
    def cosine_similarities(vector: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Cosine of ``vector`` with each row of ``vectors`` (gensim's static method)."""
        vectors, vector = np.asarray(vectors), np.asarray(vector)
        return (vectors @ vector) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(vector))

    def get_mean_vector(self, keys: Sequence, weights: Sequence[float] | np.ndarray | None = None,
                        pre_normalize: bool = True, post_normalize: bool = False,
                        ignore_missing: bool = True) -> np.ndarray:
        """Weighted mean of words, row numbers or vectors, as gensim's: each word's vector unit
        length first if ``pre_normalize``, the mean divided by the sum of absolute weights of the
        terms used, unit length if ``post_normalize``. A word not in the vocabulary is passed
        over, or a ``KeyError`` if not ``ignore_missing``."""
        if len(keys) == 0:
            raise ValueError("cannot compute the mean of no words")
        weights = np.ones(len(keys), np.float32) if weights is None else np.asarray(weights, np.float32)
        if weights.shape != (len(keys),):
            raise ValueError(f"need one weight per key: {len(keys)} keys, weights of shape {weights.shape}")
        mean = np.zeros(self.vector_size, np.float32)
        total = 0.0
        for key, weight in zip(keys, weights):
            if isinstance(key, np.ndarray):
                vector = key
            elif self.has_index_for(key):
                i = self.get_index(key)
                vector = self.normed_vectors[i] if pre_normalize else self.vectors[i]
            elif ignore_missing:
                continue
            else:
                raise KeyError(f"word {key!r} not in vocabulary")
            mean += weight * vector
            total += abs(float(weight))
        if total > 0:
            mean /= np.float32(total)
        return unit(mean) if post_normalize else mean

    def n_similarity(self, words1: Sequence[str], words2: Sequence[str]) -> float:
        """Cosine of the means of two lists of words. Unlike gensim, a word not in the vocabulary
        is a ``KeyError`` naming it, not passed over."""
        if not (len(words1) and len(words2)):
            raise ZeroDivisionError("n_similarity needs at least one word in each list")  # gensim's type
        means = [self.get_mean_vector(ws, pre_normalize=False, post_normalize=True, ignore_missing=False)
                 for ws in (words1, words2)]
        return float(means[0] @ means[1])

    def rank_by_centrality(self, words: Sequence[str], use_norm: bool = True) -> list[tuple[float, str]]:
        """(cosine with the words' unit mean, word), most central first; words not in the
        vocabulary are passed over with a warning, as gensim does."""
        used = [w for w in words if w in self]
        if len(used) < len(words):
            log.warning("words not in the vocabulary, passed over: %s", [w for w in words if w not in self])
        if not used:
            raise ValueError("none of the words is in the vocabulary")
        rows = np.stack([self.get_vector(w, norm=use_norm) for w in used])
        scores = rows @ self.get_mean_vector(rows, post_normalize=True)
        return sorted(zip(scores.tolist(), used), key=lambda pair: pair[0], reverse=True)  # keys may mix kinds

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word of ``words`` farthest from their mean."""
        return self.rank_by_centrality(words)[-1][1]

    def closer_than(self, a: str, b: str) -> list[str]:
        """Every word closer to ``a`` than ``b`` is (``a`` itself left out), in vocabulary order."""
        row = self.get_index(a)
        dists = self.distances(a)
        return [self.words[i] for i in np.flatnonzero(dists < dists[self.get_index(b)]) if i != row]

    def rank(self, a: str, b: str) -> int:
        """Where ``b`` comes among ``a``'s neighbours: 1 for the nearest."""
        return len(self.closer_than(a, b)) + 1

    def most_similar_to_given(self, word: str, words: Sequence[str]) -> str:
        """The word of ``words`` most similar to ``word``."""
        return words[int(np.argmax([self.similarity(word, w) for w in words]))]

    def relative_cosine_similarity(self, a: str, b: str, topn: int = 10) -> float:
        """Similarity of ``a`` and ``b`` over the sum of ``a``'s ``topn`` best similarities
        (Leeuwenberg et al. 2016, as gensim's)."""
        best = self.similar_by_word(a, topn)
        if not best:
            raise ValueError(f"{a!r} has no neighbours to compare with")
        total = sum(score for _, score in best)
        return self.similarity(a, b) / total if total else float("nan")

    def _term(self, item: object) -> tuple[np.ndarray, int | None]:
        """One query term as gensim reads it: a word or a row number (its unit vector, and the row
        to leave out of the answer), or a vector (as it is)."""
        if isinstance(item, str):
            return self.get_vector(item, norm=True), self.get_index(item)
        if isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            if not 0 <= item < len(self):
                raise KeyError(f"row {item} not in vocabulary of {len(self)} words")
            return self.normed_vectors[item], int(item)
        if isinstance(item, (np.ndarray, list)) and np.ndim(item) == 1 and len(item) == self.vector_size:
            return np.asarray(item, dtype=np.float32), None
        raise TypeError(f"a query term is a word, a row number or a vector of {self.vector_size} numbers "
                        f"(optionally as a (term, weight) pair), not {item!r}"[:300])

    def _terms(self, items: object, weight: float) -> list[tuple[np.ndarray, int | None, float]]:
        """``positive`` or ``negative`` as (vector, row or None, weight) terms: one word, row or
        vector, or a sequence of them or of (term, weight) pairs; a 2-D array is one vector per row."""
        if isinstance(items, (str, int, np.integer)) or (isinstance(items, np.ndarray) and items.ndim == 1):
            items = [items]
        terms = []
        for item in items:
            scale = weight
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (int, float, np.number)) \
                    and not isinstance(item[1], bool):
                item, scale = item[0], weight * float(item[1])
            vector, row = self._term(item)
            terms.append((vector, row, scale))
        return terms

    def most_similar(self, positive: str | np.ndarray | Sequence = (), negative: str | np.ndarray | Sequence = (),
                     topn: int | None = 10, restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """Words nearest by cosine to the mean of ``positive`` minus ``negative`` (3CosAdd).

        Terms are read as gensim reads them: words, row numbers or vectors, each optionally as a
        ``(term, weight)`` pair. Query words themselves are left out of the answer, as in gensim. A
        zero query vector scores 0 against every word (gensim and MLlib do the same). With
        ``topn=None``, as gensim does, the cosine of every word (in vocabulary order, query words
        included).
        """
        terms = self._terms(positive, 1.0) + self._terms(negative, -1.0)
        if not terms:
            raise ValueError("most_similar needs at least one word or vector")
        vec = np.zeros(self.vector_size, dtype=np.float32)
        for vector, _, scale in terms:
            vec += np.float32(scale) * vector
        vec = unit(vec)
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        scores = self.normed_vectors[:limit] @ vec
        return scores if topn is None else self._top(scores, [row for _, row, _ in terms if row is not None], topn)

    def most_similar_cosmul(self, positive: str | np.ndarray | Sequence = (),
                            negative: str | np.ndarray | Sequence = (), topn: int | None = 10,
                            restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """3CosMul (Levy & Goldberg 2014): product of shifted positive cosines over negative ones
        (every word's score, in vocabulary order, with ``topn=None``). Terms are words, row numbers
        or vectors, as in :meth:`most_similar`; it needs at least one positive term."""
        pos, neg = self._terms(positive, 1.0), self._terms(negative, 1.0)
        if not pos:
            raise ValueError("most_similar_cosmul needs at least one positive word or vector")
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        normed = self.normed_vectors[:limit]
        shifted = [(normed @ vector + 1) / 2 for vector, _, _ in pos]
        below = [(normed @ vector + 1) / 2 for vector, _, _ in neg]
        scores = np.prod(shifted, axis=0) / (np.prod(below, axis=0) + 1e-6) if below else np.prod(shifted, axis=0)
        return scores if topn is None else self._top(scores, [row for _, row, _ in pos + neg if row is not None], topn)

    def similar_by_word(self, word: str, topn: int | None = 10,
                        restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """gensim's name for :meth:`most_similar` of one word."""
        return self.most_similar([word], topn=topn, restrict_vocab=restrict_vocab)

    def similar_by_vector(self, vector: np.ndarray, topn: int | None = 10,
                          restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """gensim's name for :meth:`most_similar` of one vector."""
        return self.most_similar([np.asarray(vector)], topn=topn, restrict_vocab=restrict_vocab)

    def _top(self, scores: np.ndarray, exclude: list[int], topn: int) -> list[tuple[str, float]]:
        return top_k(np.array(scores, dtype=np.float32), self.words, [i for i in exclude if i < len(scores)], topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """Answers to "``a`` is to ``b`` as ``c`` is to ?" by 3CosAdd."""
        return self.most_similar(positive=[b, c], negative=[a], topn=topn)


def unit(vector: np.ndarray) -> np.ndarray:
    """``vector`` scaled to unit length (a zero vector stays zero), as float32."""
    norm = np.linalg.norm(vector)
    return (vector / norm if norm > 0 else vector).astype(np.float32, copy=False)


def top_k(scores: np.ndarray, words: list[str], exclude: list[int], k: int) -> list[tuple[str, float]]:
    """The ``k`` best (word, score) pairs, best first, ties to the lower row; ``scores`` is reused."""
    excluded = set(exclude)
    scores[list(excluded)] = -np.inf
    k = min(k, scores.size - len(excluded))
    if k <= 0:
        return []
    kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
    # argpartition picks any of the words tied with the k-th score; take the lowest rows.
    better = np.flatnonzero(scores > kth)
    best = np.concatenate([better, np.flatnonzero(scores == kth)[:k - better.size]])
    best = best[np.lexsort((best, -scores[best]))]
    return [(words[i], float(scores[i])) for i in best]
