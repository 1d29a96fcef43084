"""The records a cached shard holds, as encoding makes them and training reads them.

A record is ``((shard, input partition, record number), (ids, lengths))``: the vocabulary ids
of consecutive sentences of the input (int32) and each sentence's length. Both the averaging
path (:mod:`sparkw2v.executor`) and stratified training (:mod:`sparkw2v.stratified`) read a
shard as one array of ids in the input's order.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


def corpus_order(record: tuple) -> tuple[int, int]:
    """Where a record stood in the input: (input partition, record number in it)."""
    (_, partition, number), _ = record
    return partition, number


def shard_arrays(records: Iterable[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate a shard's records into (token ids, sentence start offsets)."""
    id_parts, length_parts = [], []
    for _, (ids, lengths) in records:
        id_parts.append(ids)
        length_parts.append(lengths)
    if not id_parts:
        return np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64)
    tokens = np.concatenate(id_parts)
    starts = np.zeros(sum(len(x) for x in length_parts) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(length_parts), out=starts[1:])
    return tokens, starts
