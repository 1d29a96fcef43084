"""The vocabulary: which words are trained, their counts and their row ids.

Counting runs on the cluster (see :mod:`sparkw2v.corpus`); this module holds the
driver-side result and the rules that turn counts into a vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def frequency_order(words: Sequence[str] | pa.Array | pa.ChunkedArray,
                    counts: Sequence[int] | np.ndarray | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The indices that put ``words`` in vocabulary order: count descending, then word (by code
    point, as Python compares strings). Every vocabulary, table and import is ordered by it."""
    table = pa.table({"word": words if isinstance(words, (pa.Array, pa.ChunkedArray)) else pa.array(words, pa.string()),
                      "count": counts if isinstance(counts, (pa.Array, pa.ChunkedArray))
                      else pa.array(np.asarray(counts, dtype=np.int64))})
    return pc.sort_indices(table, sort_keys=[("count", "descending"), ("word", "ascending")]).to_numpy()


def vocabulary_order(table: pa.Table) -> np.ndarray:
    """The rows of a table of ``word`` and ``count`` in vocabulary order (:func:`frequency_order`)."""
    return frequency_order(table.column("word"), table.column("count"))


@dataclass(frozen=True)
class Vocabulary:
    """Words sorted by count descending, then by word; row ``i`` is ``words[i]``."""

    words: tuple[str, ...]
    counts: np.ndarray  # int64, aligned with words
    corpus_words: int = 0  # every token in the corpus, in vocabulary or not
    distinct_words: int = 0  # distinct tokens before min_count and max_vocab_size

    def __len__(self) -> int:
        return len(self.words)

    @property
    def total_count(self) -> int:
        """Occurrences of vocabulary words (word2vec.c's ``train_words``)."""
        return int(self.counts.sum())

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[str, int]], min_count: int,
                    max_vocab_size: int | None = None, corpus_words: int | None = None,
                    distinct_words: int | None = None) -> "Vocabulary":
        """Keep words with ``count >= min_count``, most frequent first (ties by word),
        then the first ``max_vocab_size`` of them."""
        kept = [(w, int(c)) for w, c in counts if c >= min_count]
        kept = [kept[i] for i in frequency_order([w for w, _ in kept], [c for _, c in kept])]
        if max_vocab_size is not None:
            kept = kept[:max_vocab_size]
        words = tuple(w for w, _ in kept)
        arr = np.fromiter((c for _, c in kept), dtype=np.int64, count=len(kept))
        return cls(words=words, counts=arr,
                   corpus_words=int(arr.sum()) if corpus_words is None else int(corpus_words),
                   distinct_words=len(kept) if distinct_words is None else int(distinct_words))
