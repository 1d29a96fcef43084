"""Adding many row updates into a weight matrix, and summing rows out of one.

The kernels gather rows, compute their updates in dense blocks and add them back here:
:class:`ScatterPlan` sorts the rows of many consecutive steps in one pass and adds each
step's updates with one call into C (scipy's in-place sparse product), summing repeated
rows, with work proportional to the updates rather than the vocabulary.
:func:`segment_sums` reads weighted sums of rows straight from a matrix (CBOW's context
means) without a gathered copy.
"""

from __future__ import annotations

import numpy as np

# scipy's sparse-times-dense routines accumulate Y += A @ X straight into Y, in C. The COO one
# adds each entry's row into the target in place, many times faster than np.add.at for repeated
# rows (BENCHMARKS.md). NumPy fallbacks cover a scipy without them.
try:
    from scipy.sparse._sparsetools import coo_matmat_dense as _coo_matmat_dense
except ImportError:  # pragma: no cover - scipy < 1.15
    _coo_matmat_dense = None
try:
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover
    _csr_matvecs = None


def scatter_add(target: np.ndarray, rows: np.ndarray, values: np.ndarray,
                value_rows: np.ndarray | None = None, cap: int = 0, counts: np.ndarray | None = None,
                scale: np.ndarray | None = None, row_scale: np.ndarray | None = None) -> None:
    """``target[rows[i]] += scale[i] * values[value_rows[i]]`` for every ``i``, summing repeated rows.

    ``value_rows`` defaults to ``arange(len(rows))`` and ``scale`` to ones (a scale
    lets a caller add ``g[i] * h[j]`` terms without building their outer product). Plain
    ``target[rows] += v`` would keep only one of the repeats. ``cap`` and ``counts`` are
    those of :class:`ScatterPlan`, which does the work.
    """
    plan = ScatterPlan(target.shape[0], [rows], None if value_rows is None else [value_rows], cap, counts,
                       values.dtype, row_scale=row_scale)
    plan.apply(0, target, values, scale)


def _step_row_order(rows: np.ndarray, sizes: np.ndarray, vocab: int) -> np.ndarray:
    """Positions of ``rows`` (steps of ``sizes`` entries one after another) sorted by step, then
    row, ties in entry order: int32. Short steps are sorted together in one call (per-call
    overhead dominates them); long ones one at a time (each sort then stays in cache)."""
    n, steps = rows.size, sizes.size
    small = vocab <= 1 << 16
    if steps > 1 and n < 512 * steps and small and steps <= 1 << 16:
        # Two stable passes on 16-bit keys (radix sorts): by row, then by step.
        by_row = np.argsort(rows.astype(np.uint16), kind="stable")
        step_of = np.repeat(np.arange(steps, dtype=np.uint16), sizes)
        return by_row[np.argsort(step_of[by_row], kind="stable")].astype(np.int32, copy=False)
    order = np.empty(n, dtype=np.int32)
    lo = 0
    for size in sizes.tolist():
        r = rows[lo:lo + size]
        if small:  # stable 16-bit keys: a radix sort
            ranked = np.argsort(r.astype(np.uint16), kind="stable")
        else:  # unique keys (row, position): any algorithm gives the same order, so the
            # faster unstable sort is as reproducible across machines as a stable one
            ranked = np.argsort(r.astype(np.int64) * size + np.arange(size))
        np.add(ranked, lo, out=order[lo:lo + size], casting="unsafe")
        lo += size
    return order


class ScatterPlan:
    """The rows of one or more consecutive scatter-adds into one matrix, sorted and
    run-length encoded in one pass, so that each step's scatter-add is one call into C.

    Step ``k`` adds ``scale[i] * values[value_rows[k][i]]`` into row ``rows[k][i]`` for
    every ``i`` (``value_rows`` defaults to ``arange``, ``scale`` to ones), summing
    repeated rows. Planning many steps together pays the sorting and bookkeeping once
    for all of them; rows are drawn before the weights they update, so that is possible.

    With ``cap > 0`` a row repeated ``n > cap`` times within a step gets ``cap / n`` of its
    sum (its mean update times ``cap``): all the updates computed at the same stale
    parameters would otherwise add up to a step that sequential SGD never takes.
    ``counts``, if given, is incremented by how often each row is updated. ``drop``, if given,
    holds the positions (in the concatenated rows) of entries whose update is left out.
    ``row_scale``, if given, multiplies every update of row ``r`` by ``row_scale[r]``: a learning
    rate per row, at no cost per step. With ``sizes``, ``rows`` and ``value_rows`` are each one
    array, the steps' entries one after another, ``sizes[k]`` of them for step ``k``.

    Every array here has one entry per update or per distinct row, so a step costs the
    same for 14K or 1M words.
    """

    def __init__(self, vocab: int, rows: list[np.ndarray] | np.ndarray,
                 value_rows: list[np.ndarray] | np.ndarray | None = None, cap: int = 0,
                 counts: np.ndarray | None = None, dtype=np.float32, drop: np.ndarray | None = None,
                 row_scale: np.ndarray | None = None, sizes: np.ndarray | None = None):
        if sizes is None:  # one array per step
            sizes = np.array([r.size for r in rows], dtype=np.int64)
            rows = np.concatenate(rows) if len(rows) > 1 else rows[0] if rows else np.zeros(0, np.int32)
            if value_rows is not None:
                value_rows = np.concatenate(value_rows) if len(value_rows) > 1 else value_rows[0]
        sizes = np.asarray(sizes, dtype=np.int64)
        if int(sizes.sum()) != rows.size:
            raise ValueError(f"steps of {int(sizes.sum())} entries in all, but {rows.size} rows")
        self.steps = sizes.size
        self.rows = self.cols = self.data = self.scaled = self._local = self._order = None
        self.entry_start = np.zeros(self.steps + 1, dtype=np.int64)  # step k owns entries [start[k], start[k+1])
        np.cumsum(sizes, out=self.entry_start[1:])
        self._bounds = self.entry_start.tolist()   # Python ints: apply() reads two per call
        n = int(self.entry_start[-1])
        if n == 0:
            return
        # Entries sorted by step, then row, ties in entry order, in one sort for all steps; sorted
        # rows also make the adds walk the target in order.
        order = _step_row_order(rows, sizes, vocab)
        self.rows = rows[order].astype(np.int32, copy=False)
        self._order = order
        self.cols = self.local if value_rows is None else value_rows[order].astype(np.int32, copy=False)
        # Runs: maximal stretches of one row within one step.
        run_start = np.empty(n + 1, dtype=bool)
        np.not_equal(self.rows[1:], self.rows[:-1], out=run_start[1:n])
        run_start[self.entry_start] = True
        bounds = np.flatnonzero(run_start)          # each run's first entry, then n
        distinct = self.rows[bounds[:-1]]
        repeats = np.diff(bounds)
        if counts is not None and counts.size <= 16 * n:
            counts += np.bincount(self.rows, minlength=counts.size)
        elif counts is not None:  # rows are distinct within a step (np.add.at is much slower)
            step_runs = np.searchsorted(bounds, self.entry_start)
            for k in range(self.steps):
                a, b = step_runs[k], step_runs[k + 1]
                counts[distinct[a:b]] += repeats[a:b]
        self.data = np.ones(n, dtype=dtype)
        over = np.flatnonzero(repeats > cap) if cap else np.zeros(0, dtype=np.int64)
        if over.size:  # the entries of runs longer than the cap, each scaled by cap / repeats
            times = repeats[over]
            at = np.repeat(bounds[over] - (np.cumsum(times) - times), times) + np.arange(int(times.sum()))
            self.data[at] = np.repeat((cap / times).astype(dtype), times)
        if row_scale is not None:
            self.data *= row_scale[self.rows]
        if drop is not None and drop.size:
            dropped = np.zeros(n, dtype=bool)
            dropped[drop] = True
            self.data[dropped[order]] = 0

    @property
    def local(self) -> np.ndarray | None:
        """Each sorted entry's index within its step (made when first asked for)."""
        if self._local is None and self._order is not None:
            self._local = self._order
            if self.steps > 1:
                starts = self.entry_start[:-1].astype(np.int32)
                self._local = self._order - np.repeat(starts, np.diff(self.entry_start))
        return self._local

    def apply(self, step: int, target: np.ndarray, values: np.ndarray, scale: np.ndarray | None = None) -> None:
        """Add step ``step``'s updates into ``target`` (``values`` and ``scale`` indexed as planned)."""
        lo, hi = self._bounds[step], self._bounds[step + 1]
        if hi == lo:
            return
        if values.shape[1:] != target.shape[1:]:  # the C routine does not check
            raise ValueError(f"values rows have shape {values.shape[1:]}, target rows {target.shape[1:]}")
        data = self.data[lo:hi]
        if scale is not None:
            if self.scaled is None:
                self.scaled = np.empty_like(self.data)
            data = np.multiply(data, scale[self.local[lo:hi]], out=self.scaled[lo:hi])
        if (_coo_matmat_dense is not None and values.dtype == target.dtype == data.dtype
                and target.flags.c_contiguous):
            _coo_matmat_dense(hi - lo, target.shape[1], self.rows[lo:hi], self.cols[lo:hi], data,
                              np.ascontiguousarray(values).ravel(), target)
        else:  # NumPy only
            np.add.at(target, self.rows[lo:hi], values[self.cols[lo:hi]] * data[:, None])


def segment_sums(source: np.ndarray, rows: np.ndarray, lengths: np.ndarray, weights: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
    """``out[i] = sum_j weights[j] * source[rows[j]]`` over consecutive segments of ``lengths[i] >= 1``
    entries, read straight from ``source`` (no gathered copy of its rows). ``out``, if given,
    must be zeros and C-contiguous."""
    d = source.shape[1]
    if out is None:
        out = np.zeros((lengths.size, d), dtype=source.dtype)
    indptr = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=indptr[1:])
    if _csr_matvecs is not None and source.flags.c_contiguous and weights.dtype == source.dtype:
        _csr_matvecs(lengths.size, source.shape[0], d, indptr, rows.astype(np.int32, copy=False), weights,
                     source.ravel(), out.ravel())
    else:
        out[:] = np.add.reduceat(np.take(source, rows, axis=0) * weights[:, None], indptr[:-1], axis=0)
    return out

