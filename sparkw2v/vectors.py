"""Word vectors held on one machine, queried the way gensim's KeyedVectors are.

A words list, a word -> row dict, and one float32 matrix. Unit-normalised rows
are computed once, on first use. Lookups return read-only views, so a caller
cannot corrupt the model by writing into a returned vector.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


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
        return word in self.index

    def __iter__(self):
        return iter(self.words)

    def get_index(self, word: str) -> int:
        """Row of ``word``; raises ``KeyError`` naming the word if it is not in the vocabulary."""
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"word {word!r} not in vocabulary") from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.get_index(word)]

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

    def _query(self, positive: Iterable[str | np.ndarray], negative: Iterable[str | np.ndarray]):
        vec = np.zeros(self.vector_size, dtype=np.float32)
        exclude = []
        for sign, items in ((1.0, positive), (-1.0, negative)):
            for item in items:
                if isinstance(item, str):
                    exclude.append(self.get_index(item))
                    vec += sign * self.get_vector(item, norm=True)
                else:
                    vec += sign * np.asarray(item, dtype=np.float32)
        return vec, exclude

    def most_similar(self, positive: str | np.ndarray | Sequence = (), negative: Sequence = (),
                     topn: int | None = 10, restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """Words nearest by cosine to the mean of ``positive`` minus ``negative`` (3CosAdd).

        Query words themselves are left out of the answer, as in gensim. A zero query vector
        scores 0 against every word (gensim and MLlib do the same). With ``topn=None``, as
        gensim does, the cosine of every word (in vocabulary order, query words included).
        """
        if isinstance(positive, (str, np.ndarray)):
            positive = [positive]
        if isinstance(negative, (str, np.ndarray)):
            negative = [negative]
        positive, negative = list(positive), list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one word or vector")
        vec, exclude = self._query(positive, negative)
        norm = np.linalg.norm(vec)
        if norm > 0:
            vec /= norm
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        scores = self.normed_vectors[:limit] @ vec
        return scores if topn is None else self._top(scores, exclude, topn)

    def most_similar_cosmul(self, positive: Sequence[str] = (), negative: Sequence[str] = (),
                            topn: int | None = 10,
                            restrict_vocab: int | None = None) -> list[tuple[str, float]] | np.ndarray:
        """3CosMul (Levy & Goldberg 2014): product of shifted positive cosines over negative ones
        (every word's score, in vocabulary order, with ``topn=None``)."""
        limit = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        normed = self.normed_vectors[:limit]
        pos = [(normed @ self.get_vector(w, norm=True) + 1) / 2 for w in positive]
        neg = [(normed @ self.get_vector(w, norm=True) + 1) / 2 for w in negative]
        scores = np.prod(pos, axis=0) / (np.prod(neg, axis=0) + 1e-6) if neg else np.prod(pos, axis=0)
        exclude = [self.get_index(w) for w in [*positive, *negative]]
        return scores if topn is None else self._top(scores, exclude, topn)

    def _top(self, scores: np.ndarray, exclude: list[int], topn: int) -> list[tuple[str, float]]:
        return top_k(np.array(scores, dtype=np.float32), self.words, [i for i in exclude if i < len(scores)], topn)

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """Answers to "``a`` is to ``b`` as ``c`` is to ?" by 3CosAdd."""
        return self.most_similar(positive=[b, c], negative=[a], topn=topn)


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
