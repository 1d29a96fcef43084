"""Sampling tables: frequent-word subsampling and the negative-sampling distribution.

Both are pure functions of the vocabulary counts, so the driver and every
executor can rebuild them from the same counts and get the same tables.
"""

from __future__ import annotations

import numpy as np

#: Entries in the negative-sampling lookup table (word2vec.c uses 1e8; 1e7 keeps
#: the relative error of any word with probability >= 1e-5 under 1%).
DEFAULT_TABLE_SIZE = 10_000_000


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of each word (word2vec.c's formula).

    With ``t = sample * total``, a word seen ``c`` times is kept with probability
    ``(sqrt(c / t) + 1) * t / c``, capped at 1. ``sample == 0`` disables it.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0 or counts.size == 0:
        return np.ones(counts.shape, dtype=np.float32)
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    return np.minimum(keep, 1.0).astype(np.float32)


def negative_distribution(counts: np.ndarray, exponent: float) -> np.ndarray:
    """The negative-sampling distribution ``count**exponent``, normalised (float64).

    Where a power overflows, ``(count / max count)**exponent`` is used instead (the same
    distribution, without infinities)."""
    counts = np.asarray(counts, dtype=np.float64)
    if not np.isfinite(exponent) or counts.size == 0 or not counts.max() > 0:
        raise ValueError(f"negative sampling needs a finite exponent (got {exponent!r}) and at least one "
                         "word with a positive count")
    with np.errstate(over="ignore"):
        weights = counts ** exponent
        total = weights.sum()
    if not np.isfinite(total):
        weights = (counts / counts.max()) ** exponent
        total = weights.sum()
    return weights / total


def negative_table(counts: np.ndarray, exponent: float, size: int | None = None,
                   ids: np.ndarray | None = None) -> np.ndarray:
    """A lookup table where word ``i`` fills a share of slots equal to its probability
    (the slots hold ``ids[i]`` if given, else ``i``).

    Drawing a uniform slot is one random integer and one gather, cheaper than a binary
    search over the cumulative distribution. Slots are allotted by
    largest remainder so the table sums exactly to ``size`` and every word with a
    positive probability keeps at least one slot.
    """
    p = negative_distribution(counts, exponent)
    if size is None:
        size = max(DEFAULT_TABLE_SIZE, 20 * p.size)
    exact = p * size
    slots = np.floor(exact).astype(np.int64)
    slots[(slots == 0) & (p > 0)] = 1
    short = size - int(slots.sum())
    if short > 0:
        order = np.argsort(-(exact - slots), kind="stable")[:short]
        slots[order] += 1
    elif short < 0:
        # Too many forced single slots: take them back from the largest words.
        order = np.argsort(-slots, kind="stable")
        take = -short
        for i in order:
            give = min(take, int(slots[i]) - 1)
            slots[i] -= give
            take -= give
            if take == 0:
                break
    return np.repeat(np.arange(p.size, dtype=np.int32) if ids is None else ids.astype(np.int32), slots)
