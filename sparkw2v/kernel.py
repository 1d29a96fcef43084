"""The NumPy word2vec kernel: negative-sampling SGD for skip-gram and CBOW.

Pure functions over NumPy arrays; nothing here knows about Spark. A shard of
the corpus is a flat int32 array of word ids plus sentence start offsets. The
kernel walks it in chunks of whole sentences and, per chunk, does what
word2vec.c does per word, vectorised:

1. subsample frequent words (``keep_prob``), then draw each centre word's
   reduced window ``b`` uniformly from ``1..window``;
2. skip-gram groups centres by ``b`` so each group's contexts form a dense
   ``(centres, 2b)`` block (contexts past a sentence edge get zero rows), and takes
   one step per group; CBOW sums each centre's ragged list of contexts straight from the
   weights (:func:`segment_sums`) and takes one step for the whole chunk;
3. split each chunk's ``m`` centres into ``ceil(m / shared_by)`` near-equal groups of
   consecutive centres and draw ``S`` negatives for each group, each weighted
   ``negative / S`` so the expected gradient is that of ``negative`` draws per centre.
   Every context of a group (skip-gram) or each centre's context mean (CBOW) is scored
   against the group's negatives in one matrix product, and against its centre's output
   row by a row-wise dot.
   ``shared_by = 1, S = negative`` is word2vec's per-centre sampling (with the
   draws shared by a centre's contexts, as in Intel's pWord2Vec), skip-gram's default.
   CBOW defaults to groups of 16 centres with 16 draws: a CBOW centre has one input
   row, so its output rows (centre and negatives) are most of a step's row traffic,
   and sharing cuts them from 6 to 2 per centre;
4. gradients of the binary cross-entropy are scatter-added into the rows they
   belong to (:class:`ScatterPlan`: an in-place sparse product over the sorted rows,
   with work proportional to the updates, not the vocabulary). Nothing a step draws
   depends on the weights, so the kernel draws the steps of ``PLAN_CHUNKS`` chunks (8
   skip-gram, 32 CBOW) at once and sorts all their rows in one pass, then takes the steps
   in order (skip-gram with shared negatives, opt-in, still goes chunk by chunk). A row
   repeated within a step gets the sum of its updates, up to ``repeat_cap`` repeats; beyond
   that, its mean update times ``repeat_cap`` (the updates were all computed at
   the same parameters, and summing hundreds of them, as a 16-word vocabulary
   does, diverges; at 16 the Brown benchmark scores are those of the plain sum).

The learning rate decays linearly within a call from ``alpha_start`` to
``alpha_end``, by words consumed (set at each chunk's first word), as word2vec.c does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

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

#: Default corpus words per chunk (the library picks 2048 for skip-gram, 1024 for CBOW:
#: TrainConfig.effective_batch_words). Smaller steps follow sequential SGD more closely;
#: larger ones pay less Python overhead.
DEFAULT_CHUNK_WORDS = 2048
#: Chunks whose steps are drawn and whose scatter-adds are planned together, for skip-gram
#: and for CBOW. Larger plans pay their per-plan work less often until they outgrow the
#: caches; CBOW's smaller steps (one per 1024 words) gain from larger plans (BENCHMARKS.md, History).
PLAN_CHUNKS = {"sg": 8, "cbow": 32}
#: :func:`train_pairs` plans about this many pairs together, and draws negatives for
#: ``DRAW_STEPS`` steps at a time.
PLAN_PAIRS = 4096
DRAW_STEPS = 16


@dataclass(frozen=True)
class KernelParams:
    """The hyperparameters the kernel needs (a small, picklable subset of the config)."""

    sg: bool = True
    window: int = 5
    negative: int = 5
    chunk_words: int = DEFAULT_CHUNK_WORDS
    loss_every: int = 16  # score the loss on every n-th step (0: never); its cost: BENCHMARKS.md
    repeat_cap: int = 16
    shared_by: int = 1  # centres that share one draw of negatives
    shared_draws: int = 0  # negatives per shared draw, each weighted negative / draws (0: negative)

    @property
    def draws(self) -> int:
        return self.shared_draws or self.negative


@dataclass
class KernelStats:
    """What one call did: words read, training examples, summed loss, per-row update counts."""

    words: int = 0
    kept_words: int = 0
    examples: int = 0
    loss_sum: float = 0.0
    loss_examples: int = 0
    in_updates: np.ndarray | None = None
    out_updates: np.ndarray | None = None

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.loss_examples if self.loss_examples else float("nan")


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
        self.rows = self.cols = self.local = self.data = self.scaled = None
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
        self.local = order                         # each sorted entry's index within its step
        if self.steps > 1:
            self.local = order - np.repeat(self.entry_start[:-1], sizes).astype(np.int32)
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
        if cap and int(repeats.max()) > cap:
            self.data = np.repeat(np.minimum(1.0, cap / repeats).astype(dtype), repeats)
        else:
            self.data = np.ones(n, dtype=dtype)
        if row_scale is not None:
            self.data *= row_scale[self.rows]
        if drop is not None and drop.size:
            rank = np.empty(n, dtype=np.int32)
            rank[order] = np.arange(n, dtype=np.int32)
            self.data[rank[drop]] = 0

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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in place, as 0.5 * tanh(x / 2) + 0.5 (three passes, no overflow)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def _chunk_bounds(sentence_starts: np.ndarray, chunk_words: int) -> np.ndarray:
    """Sentence indices that split the shard into chunks of about ``chunk_words`` words."""
    total = int(sentence_starts[-1])
    targets = np.arange(chunk_words, total, chunk_words)
    cuts = np.searchsorted(sentence_starts, targets, side="left")
    n_sent = sentence_starts.size - 1
    return np.unique(np.concatenate(([0], cuts, [n_sent])))


def _sentence_room(sentence_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a chunk, how many words of its sentence stand before and after it."""
    n = sentence_of.size
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(sentence_of[1:], sentence_of[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    sentence = np.cumsum(first) - 1
    position = np.arange(n)
    ends = np.append(starts[1:], n) - 1
    return position - starts[sentence], ends[sentence] - position


def train_shard(
    w_in: np.ndarray,
    w_out: np.ndarray,
    tokens: np.ndarray,
    sentence_starts: np.ndarray,
    keep_prob: np.ndarray,
    neg_table: np.ndarray,
    params: KernelParams,
    alpha_start: float,
    alpha_end: float,
    rng: np.random.Generator,
    row_rates: tuple[np.ndarray, np.ndarray] | None = None,
    centre_mask: np.ndarray | None = None,
    negative_rng: np.random.Generator | None = None,
) -> KernelStats:
    """Train ``w_in``/``w_out`` in place on one shard and return what was done.

    ``row_rates``, if given, are per-row factors on the learning rate of ``w_in`` and ``w_out``
    rows (float32, one per vocabulary word). ``centre_mask``, if given (bool, one per word),
    trains only the centres it marks; every kept word still serves as a context. Negatives
    are drawn from ``negative_rng`` if given, else from ``rng``, which then draws the same
    subsampling and windows whatever the mask.

    ``tokens`` holds word ids (int32); sentence ``i`` is
    ``tokens[sentence_starts[i]:sentence_starts[i + 1]]``.
    """
    vocab_size = w_in.shape[0]
    stats = KernelStats(
        in_updates=np.zeros(vocab_size, dtype=np.int64),
        out_updates=np.zeros(vocab_size, dtype=np.int64),
    )
    total = int(sentence_starts[-1]) if sentence_starts.size else 0
    if total == 0:
        return stats
    cuts = _chunk_bounds(sentence_starts, params.chunk_words)
    if not params.sg or (params.shared_by == 1 and params.draws == params.negative):  # the planned steps
        _train_planned(w_in, w_out, tokens, sentence_starts, cuts, keep_prob, neg_table, params, alpha_start,
                       alpha_end, rng, stats, row_rates, centre_mask, negative_rng or rng)
        return stats
    if centre_mask is not None or negative_rng is not None:
        raise ValueError("centre_mask and negative_rng need the planned steps (not skip-gram's shared negatives)")
    # Skip-gram with negatives shared by groups of centres: one step per chunk and window width.
    draws = params.draws
    weight = np.float32(params.negative / draws)
    steps = 0
    for a, b in zip(cuts[:-1], cuts[1:]):
        lo, hi = int(sentence_starts[a]), int(sentence_starts[b])
        alpha = alpha_start + (alpha_end - alpha_start) * (stats.words / total)
        stats.words += hi - lo
        chunk = tokens[lo:hi]
        lengths = np.diff(sentence_starts[a:b + 1])
        sentence_of = np.repeat(np.arange(b - a, dtype=np.int32), lengths)
        keep = rng.random(chunk.size, dtype=np.float32) < keep_prob[chunk]
        chunk, sentence_of = chunk[keep], sentence_of[keep]
        n = chunk.size
        stats.kept_words += n
        if n < 2:
            continue
        reduced = rng.integers(1, params.window + 1, size=n, dtype=np.int32)
        left, right = _sentence_room(sentence_of)
        has_context = (left > 0) | (right > 0)
        for width in range(1, params.window + 1):
            centres = np.flatnonzero((reduced == width) & has_context)
            if centres.size == 0:
                continue
            offsets = _offsets(width)
            valid = (offsets >= -left[centres][:, None]) & (offsets <= right[centres][:, None])
            contexts = np.take(chunk, centres[:, None] + offsets, mode="clip")
            groups = -(-centres.size // params.shared_by)
            negatives = neg_table[rng.integers(0, neg_table.size, size=(groups, draws))]
            with_loss = params.loss_every > 0 and steps % params.loss_every == 0
            steps += 1
            skipgram_group_step(w_in, w_out, chunk[centres], contexts, valid, negatives, np.float32(alpha),
                                with_loss, stats, params.repeat_cap, weight, row_rates)
    return stats


# -- steps drawn ahead (the default): per-centre negatives for skip-gram, groups for CBOW ----------

def _train_planned(w_in, w_out, tokens, sentence_starts, cuts, keep_prob, neg_table, params, alpha_start, alpha_end,
                   rng, stats, rates=None, centre_mask=None, negative_rng=None) -> None:
    """``PLAN_CHUNKS`` chunks at a time, draw every step (subsampling, windows, negatives:
    none of it needs the weights), plan their scatter-adds together, then take the steps in
    order, each chunk at its own learning rate. Skip-gram draws negatives per centre, CBOW
    per group of centres (per centre when ``shared_by`` is 1)."""
    negative_rng = negative_rng or rng
    total = int(sentence_starts[-1])
    window = params.window
    train = _train_skipgram_blocks if params.sg else _train_cbow_blocks
    steps = 0
    plan_chunks = PLAN_CHUNKS["sg" if params.sg else "cbow"]
    for first_chunk in range(0, cuts.size - 1, plan_chunks):
        chunk_cuts = cuts[first_chunk:first_chunk + plan_chunks + 1]
        a, b = int(chunk_cuts[0]), int(chunk_cuts[-1])
        lo, hi = int(sentence_starts[a]), int(sentence_starts[b])
        edges = sentence_starts[chunk_cuts] - lo               # chunk boundaries, in words of this group
        alphas = (alpha_start + (alpha_end - alpha_start) * ((stats.words + edges[:-1]) / total)).astype(np.float32)
        stats.words += hi - lo
        words = tokens[lo:hi]
        sentence_of = np.repeat(np.arange(b - a, dtype=np.int32), np.diff(sentence_starts[a:b + 1]))
        keep = rng.random(words.size, dtype=np.float32) < keep_prob[words]
        kept_at = np.flatnonzero(keep)
        words, sentence_of = words[kept_at], sentence_of[kept_at]
        stats.kept_words += words.size
        if words.size < 2:
            continue
        kept_edges = np.searchsorted(kept_at, edges)          # chunk boundaries among the kept words
        reduced = rng.integers(1, window + 1, size=words.size, dtype=np.int32)
        left, right = _sentence_room(sentence_of)
        centres = (left > 0) | (right > 0)
        if centre_mask is not None:
            centres &= centre_mask[words]
        centres = np.flatnonzero(centres)
        chunk_of = np.searchsorted(kept_edges, centres, side="right") - 1
        if params.sg:
            negatives = neg_table[negative_rng.integers(0, neg_table.size, size=(centres.size, params.negative))]
            outs = np.concatenate((words[centres][:, None], negatives), axis=1)
            # One step per (chunk, width): a dense (centres, 2 * width) block of contexts each.
            key = (chunk_of * window + reduced[centres] - 1).astype(np.uint16 if kept_edges.size * window < 1 << 16
                                                                     else np.int64)
            order = np.argsort(key, kind="stable")
            first = np.searchsorted(key[order], np.arange((kept_edges.size - 1) * window + 1))
            blocks = []
            for j in range(first.size - 1):
                if first[j + 1] > first[j]:
                    pick = order[first[j]:first[j + 1]]
                    c = centres[pick]
                    offsets = _offsets(j % window + 1)
                    valid = (offsets >= -left[c][:, None]) & (offsets <= right[c][:, None])
                    blocks.append(SkipgramStep(outs[pick], np.take(words, c[:, None] + offsets, mode="clip"),
                                               valid, alphas[j // window]))
        else:
            # One step per chunk: CBOW sums ragged context lists, so every width fits one step.
            offsets = _offsets(window)
            valid = (offsets >= -left[centres][:, None]) & (offsets <= right[centres][:, None])
            valid &= np.abs(offsets) <= reduced[centres][:, None]
            per_centre = valid.sum(axis=1)
            ctx_rows = np.take(words, centres[:, None] + offsets, mode="clip")[valid]
            centre_edges = np.searchsorted(chunk_of, np.arange(kept_edges.size))
            ctx_edges = np.zeros(centres.size + 1, dtype=np.int64)
            np.cumsum(per_centre, out=ctx_edges[1:])
            # A chunk's centres split into ceil(m / shared_by) groups, each drawing its own negatives.
            groups = -(-np.diff(centre_edges) // params.shared_by)
            group_edges = np.zeros(groups.size + 1, dtype=np.int64)
            np.cumsum(groups, out=group_edges[1:])
            negatives = neg_table[negative_rng.integers(0, neg_table.size, size=(int(group_edges[-1]), params.draws))]
            targets = words[centres]
            blocks = [CbowStep(targets[c0:c1], negatives[group_edges[j]:group_edges[j + 1]],
                               ctx_rows[ctx_edges[c0]:ctx_edges[c1]], per_centre[c0:c1], alphas[j])
                      for j, (c0, c1) in enumerate(zip(centre_edges[:-1], centre_edges[1:])) if c1 > c0]
        if blocks:
            steps = train(w_in, w_out, blocks, params, stats, steps, rates=rates)


class SkipgramStep(NamedTuple):
    """One planned skip-gram step: ``m`` centres, each with its contexts of one window width."""

    outs: np.ndarray       # (m, k+1): each centre's output row, then its negatives
    contexts: np.ndarray   # (m, 2b): the context words (clipped at the chunk's edges)
    valid: np.ndarray      # (m, 2b): which contexts lie inside the sentence
    alpha: np.float32


class CbowStep(NamedTuple):
    """One planned CBOW step: ``m`` centres and their ragged context lists."""

    centre: np.ndarray      # (m,)
    negatives: np.ndarray   # (G, S): consecutive groups of centres share S negatives
    ctx_rows: np.ndarray    # every centre's context words, one after the other
    per_centre: np.ndarray  # (m,): contexts per centre
    alpha: np.float32


@dataclass(frozen=True)
class _Plans:
    """The scatter-adds planned for a run of steps, and the counts and losses they add to."""

    in_plan: "ScatterPlan"
    out_plan: "ScatterPlan"
    stats: KernelStats


def _offsets(width: int) -> np.ndarray:
    return np.concatenate((np.arange(-width, 0), np.arange(1, width + 1)))


def _clashes(outs_list: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Negatives equal to their centre, which word2vec.c skips: their positions in each
    ``outs.ravel()`` (the step zeroes those output rows) and in all of them one after the
    other (the plan drops those updates). ``outs`` rows are a centre, then its negatives."""
    clash = []
    for outs in outs_list:
        at = np.flatnonzero(outs[:, 1:] == outs[:, :1])
        clash.append(at + at // (outs.shape[1] - 1) + 1)
    base = np.cumsum([0] + [outs.size for outs in outs_list])
    return clash, np.concatenate([at + b for at, b in zip(clash, base)])


def _train_skipgram_blocks(w_in, w_out, blocks, params, stats, steps, rates=None) -> int:
    """Take the given skip-gram steps in order, their scatter-adds planned together; returns
    the running step count. ``rates``: per-row learning-rate factors of both matrices, or None."""
    vocab = w_in.shape[0]
    rate_in, rate_out = rates or (None, None)
    clash, drop = _clashes([step.outs for step in blocks])
    in_plan = ScatterPlan(vocab, [step.contexts[step.valid] for step in blocks],
                          [np.flatnonzero(step.valid) for step in blocks], params.repeat_cap, stats.in_updates,
                          w_in.dtype, row_scale=rate_in)
    out_plan = ScatterPlan(vocab, [step.outs.ravel() for step in blocks], None, params.repeat_cap,
                           stats.out_updates, w_out.dtype, drop=drop, row_scale=rate_out)
    plans = _Plans(in_plan, out_plan, stats)
    for i, step in enumerate(blocks):
        with_loss = params.loss_every > 0 and steps % params.loss_every == 0
        steps += 1
        _skipgram_block(w_in, w_out, step, clash[i], plans, i, with_loss)
    return steps


def _skipgram_block(w_in: np.ndarray, w_out: np.ndarray, step: SkipgramStep, clash: np.ndarray, plans: _Plans,
                    i: int, compute_loss: bool) -> None:
    """Take ``step``, step ``i`` of ``plans``; ``clash`` holds the flat positions in ``step.outs``
    of negatives equal to their centre."""
    outs, contexts, valid, alpha = step
    stats = plans.stats
    missing = np.flatnonzero(~valid)                     # flat positions of contexts outside the sentence
    d = w_in.shape[1]
    h = np.take(w_in, contexts, axis=0)                  # (m, 2b, d)
    o = np.take(w_out, outs, axis=0)                     # (m, k+1, d)
    # Zero rows stand in for masks: missing contexts and skipped negatives then score 0 and get
    # no gradient through the products, and the plans drop their own updates.
    h.reshape(-1, d)[missing] = 0
    o.reshape(-1, d)[clash] = 0
    scores = np.matmul(h, o.transpose(0, 2, 1))           # (m, 2b, k+1)
    sig = _sigmoid(scores)
    labels = np.zeros(outs.shape[1], dtype=np.float32)
    labels[0] = 1.0
    if compute_loss:
        keep = np.ones(outs.shape, dtype=bool)
        keep.ravel()[clash] = False
        stats.loss_sum += _loss(sig, labels, valid[:, :, None] & keep[:, None, :])
        stats.loss_examples += int(valid.sum())
    g = np.subtract(labels, sig, out=sig)
    g *= alpha
    grad_h = np.matmul(g, o)                             # (m, 2b, d)
    grad_o = np.matmul(g.transpose(0, 2, 1), h)          # (m, k+1, d)
    plans.in_plan.apply(i, w_in, grad_h.reshape(-1, d))
    plans.out_plan.apply(i, w_out, grad_o.reshape(-1, d))
    stats.examples += int(plans.in_plan.entry_start[i + 1] - plans.in_plan.entry_start[i])


def _loss(sig: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float:
    """Binary cross-entropy summed over the unmasked scores."""
    p = np.where(labels > 0, sig, 1.0 - sig)
    return float(-(np.log(np.maximum(p, 1e-7)) * mask).sum())


def skipgram_step(w_in, w_out, centre, contexts, valid, negatives, alpha, compute_loss, stats, cap=0):
    """Skip-gram: every context row predicts its centre against the centre's negatives.

    One step on its own; :func:`train_shard` plans many chunks' steps together and calls
    :func:`_skipgram_block` directly.
    """
    outs = np.concatenate((centre[:, None], negatives), axis=1)
    (clash,), _ = _clashes([outs])
    vocab = w_in.shape[0]
    in_plan = ScatterPlan(vocab, [contexts[valid]], [np.flatnonzero(valid)], cap, stats.in_updates, w_in.dtype)
    out_plan = ScatterPlan(vocab, [outs.ravel()], None, cap, stats.out_updates, w_out.dtype, drop=clash)
    _skipgram_block(w_in, w_out, SkipgramStep(outs, contexts, valid, alpha), clash,
                    _Plans(in_plan, out_plan, stats), 0, compute_loss)


def cbow_step(w_in, w_out, centre, contexts, valid, negatives, alpha, compute_loss, stats, cap=0, weight=1.0):
    """CBOW: the mean of the context rows predicts the centre against negatives.

    ``negatives`` is ``(G, S)``: consecutive groups of ``ceil(m / G)`` centres share ``S``
    negatives, each weighted ``weight`` (``G = m`` is word2vec's per-centre sampling).
    One step on its own; :func:`train_shard` plans many steps together and calls
    :func:`_cbow_block` directly.
    """
    block = CbowStep(centre, negatives, contexts[valid], valid.sum(axis=1), alpha)
    params = KernelParams(sg=False, negative=negatives.shape[1], repeat_cap=cap, loss_every=1 if compute_loss else 0)
    _train_cbow_blocks(w_in, w_out, [block], params, stats, 0, np.float32(weight))


def _train_cbow_blocks(w_in, w_out, blocks, params, stats, steps, weight=None, rates=None) -> int:
    """Take the given CBOW steps in order, their scatter-adds planned together; returns the
    running step count. A block is ``(centres, negatives (G, S), context rows, contexts per
    centre, alpha)``; ``rates``: per-row learning-rate factors of both matrices, or None."""
    vocab = w_in.shape[0]
    rate_in, rate_out = rates or (None, None)
    weight = np.float32(params.negative / params.draws) if weight is None else weight
    owners = [np.repeat(np.arange(step.per_centre.size, dtype=np.int32), step.per_centre) for step in blocks]
    in_plan = ScatterPlan(vocab, [step.ctx_rows for step in blocks], owners, params.repeat_cap, stats.in_updates,
                          w_in.dtype, row_scale=rate_in)
    # Output rows: the centres, then each group's negatives (their gradients are laid out alike).
    # With a group per centre, each output row's gradient is a scaled row of h (no products):
    # the plan reads them from h, each centre's row for itself and for its negatives.
    out_plan = ScatterPlan(vocab, [np.concatenate((step.centre, step.negatives.ravel())) for step in blocks],
                           [_own_rows(step.centre.size, step.negatives) for step in blocks],
                           params.repeat_cap, stats.out_updates, w_out.dtype, row_scale=rate_out)
    plans = _Plans(in_plan, out_plan, stats)
    for i, step in enumerate(blocks):
        with_loss = params.loss_every > 0 and steps % params.loss_every == 0
        steps += 1
        _cbow_block(w_in, w_out, step, owners[i], weight, plans, i, with_loss)
    return steps


def _own_rows(m: int, negs: np.ndarray) -> np.ndarray:
    """Value rows of a CBOW step's output updates: with one group per centre, row ``i`` of h for
    centre ``i`` and for each of its negatives; otherwise the gradients' own rows, in order."""
    if negs.shape[0] == m:
        return np.concatenate((np.arange(m, dtype=np.int32), np.repeat(np.arange(m, dtype=np.int32), negs.shape[1])))
    return np.arange(m + negs.size, dtype=np.int32)


def _cbow_block(w_in: np.ndarray, w_out: np.ndarray, step: CbowStep, owner: np.ndarray, weight: np.float32,
                plans: _Plans, i: int, compute_loss: bool) -> None:
    """Take ``step``, step ``i`` of ``plans`` (``owner``: each context row's centre, ``weight``:
    each negative's). Centres are split into ``G`` consecutive groups of ``per`` (the last
    padded with zero rows) and each group's context means are scored against its ``S``
    negatives in one product; a negative equal to its centre is skipped."""
    centre, negs, ctx_rows, per_centre, alpha = step
    in_plan, out_plan, stats = plans.in_plan, plans.out_plan, plans.stats
    m, d = centre.size, w_in.shape[1]
    groups, draws = negs.shape
    per = -(-m // groups)
    hp = np.zeros((groups * per, d), dtype=w_in.dtype)
    h = segment_sums(w_in, ctx_rows, per_centre, (1.0 / per_centre).astype(w_in.dtype)[owner], out=hp[:m])
    oc = np.take(w_out, centre, axis=0)                  # (m, d)
    on = np.take(w_out, negs, axis=0)                    # (G, S, d)
    hg = hp.reshape(groups, per, d)
    pos = _sigmoid(np.einsum("ij,ij->i", h, oc))         # (m,)
    sig = _sigmoid(np.matmul(hg, on.transpose(0, 2, 1)))  # (G, per, S)
    owners = np.full(groups * per, -1, dtype=np.int64)
    owners[:m] = centre
    keep = owners.reshape(groups, per)[:, :, None] != negs[:, None, :]
    keep.reshape(-1, draws)[m:] = False                  # padding
    if compute_loss:
        stats.loss_sum += _loss_positive(pos, np.ones(m, dtype=bool)) + _loss_negative(sig, keep, weight)
        stats.loss_examples += m
    g_pos = np.subtract(1.0, pos, out=pos)
    g_pos *= alpha
    g_neg = sig
    g_neg *= keep
    g_neg *= -(alpha * weight)
    neu1e = np.matmul(g_neg, on).reshape(-1, d)[:m]      # (m, d)
    oc *= g_pos[:, None]                                 # oc is not needed after this
    neu1e += oc
    # word2vec.c adds the full error to every context row (it does not divide by the count).
    in_plan.apply(i, w_in, neu1e)
    if groups == m:  # one group per centre: output row gradients g * h are h's rows, scaled
        out_plan.apply(i, w_out, h, scale=np.concatenate((g_pos, g_neg.ravel())))
        stats.examples += m
        return
    grads_out = np.empty((m + groups * draws, d), dtype=w_out.dtype)
    np.multiply(h, g_pos[:, None], out=grads_out[:m])
    np.matmul(g_neg.transpose(0, 2, 1), hg, out=grads_out[m:].reshape(groups, draws, d))
    out_plan.apply(i, w_out, grads_out)
    stats.examples += m


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


# -- skip-gram with negatives shared by groups of centres (negative_group > 1, opt-in) -----------

def _group_scores(h: np.ndarray, on: np.ndarray, rows: int):
    """Scores of input rows against negatives shared by consecutive groups of them.

    ``h`` is ``(n, d)`` with ``n <= rows``, ``on`` is ``(G, S, d)`` and ``rows`` is a
    multiple of ``G``: ``h``, padded with zero rows to ``rows``, is split into ``G``
    equal groups and each is scored against its own ``S`` rows in one matrix product.
    Returns the ``(G, rows / G, S)`` scores and the padded ``(G, rows / G, d)`` inputs.
    """
    n, d = h.shape
    if rows != n:
        h = np.concatenate((h, np.zeros((rows - n, d), dtype=h.dtype)))
    hg = h.reshape(on.shape[0], -1, d)
    return np.matmul(hg, on.transpose(0, 2, 1)), hg


def _negative_step(hg, on, scores, owner_rows, negatives, alpha, weight, mask, compute_loss):
    """Negative half of a step: gradients for the grouped inputs and for the negatives' rows.

    ``owner_rows`` holds, per grouped input, the row of the centre it predicts (-1 for
    padding); a negative equal to that centre is skipped, as word2vec.c does.
    ``mask`` (same shape as ``owner_rows``) marks real inputs.
    """
    keep = mask[:, :, None] & (owner_rows[:, :, None] != negatives[:, None, :])
    sig = _sigmoid(scores)
    loss = _loss_negative(sig, keep, weight) if compute_loss else 0.0
    g = sig
    g *= keep
    g *= -(alpha * weight)
    grad_h = np.matmul(g, on)                            # (G, per, d)
    grad_on = np.matmul(g.transpose(0, 2, 1), hg)        # (G, S, d)
    return grad_h, grad_on, loss


def _loss_negative(sig: np.ndarray, keep: np.ndarray, weight: float) -> float:
    return float(-(np.log(np.maximum(1.0 - sig, 1e-7)) * keep).sum() * weight)


def _loss_positive(sig: np.ndarray, mask: np.ndarray) -> float:
    return float(-(np.log(np.maximum(sig, 1e-7)) * mask).sum())


def skipgram_group_step(w_in, w_out, centre, contexts, valid, negatives, alpha, compute_loss, stats, cap=0,
                        weight=1.0, rates=None):
    """Skip-gram: every context row predicts its centre against negatives.

    ``negatives`` is ``(G, S)``: consecutive groups of ``ceil(m / G)`` centres share
    ``S`` negatives, each weighted ``weight`` (``negative / S``, so the expected
    gradient is that of ``negative`` independent draws). ``G = m``, ``S = negative``
    is word2vec's per-centre sampling with the draws shared by the centre's contexts.
    """
    m, width = contexts.shape
    d = w_in.shape[1]
    groups = negatives.shape[0]
    h = np.take(w_in, contexts, axis=0)                  # (m, 2b, d)
    oc = np.take(w_out, centre, axis=0)                  # (m, d)
    on = np.take(w_out, negatives, axis=0)               # (G, S, d)
    pos = _sigmoid(np.einsum("ijk,ik->ij", h, oc))       # (m, 2b)
    if compute_loss:
        stats.loss_sum += _loss_positive(pos, valid)
        stats.loss_examples += int(valid.sum())
    gp = 1.0 - pos
    gp *= valid
    gp *= alpha
    # Centres split into G groups: pad centres to G * per so each group holds whole windows.
    per = -(-m // groups)
    pad = per * groups - m
    owner = np.repeat(np.concatenate((centre, np.full(pad, -1, dtype=centre.dtype))), width)
    real = np.concatenate((valid.ravel(), np.zeros(pad * width, dtype=bool)))
    scores, hg = _group_scores(h.reshape(m * width, d), on, owner.size)
    grad_neg, grad_on, loss = _negative_step(hg, on, scores, owner.reshape(groups, -1),
                                             negatives, alpha, weight, real.reshape(groups, -1), compute_loss)
    stats.loss_sum += loss
    grad_h = grad_neg.reshape(-1, d)[:m * width].reshape(m, width, d)
    grad_h += gp[:, :, None] * oc[:, None, :]
    grad_oc = np.einsum("ij,ijk->ik", gp, h)             # (m, d)
    ctx_rows = contexts[valid]
    rate_in, rate_out = rates or (None, None)
    scatter_add(w_in, ctx_rows, grad_h.reshape(-1, d), value_rows=np.flatnonzero(valid),
                cap=cap, counts=stats.in_updates, row_scale=rate_in)
    _scatter_outputs(w_out, centre, grad_oc, negatives, grad_on, cap, stats, rate_out)
    stats.examples += ctx_rows.size


def _scatter_outputs(w_out, centre, grad_centre, negatives, grad_neg, cap, stats, row_scale=None):
    """Add the centres' and the negatives' output-row gradients in one scatter, so a word's
    repeats as centre and as negative count together towards the repeat cap."""
    d = w_out.shape[1]
    rows = np.concatenate((centre, negatives.ravel()))
    scatter_add(w_out, rows, np.concatenate((grad_centre, grad_neg.reshape(-1, d))), cap=cap,
                counts=stats.out_updates, row_scale=row_scale)


# -- skip-gram on explicit (context, centre) pairs: the stratified scheme's kernel ------------------

def skipgram_pairs(tokens: np.ndarray, sentence_starts: np.ndarray, keep_prob: np.ndarray, window: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """One epoch's skip-gram pairs of a shard, as word2vec.c forms them: frequent words
    subsampled, each centre's reduced window ``b`` drawn from ``1..window``, windows cut at
    sentence edges. Returns ``(inputs, outputs, kept words)``: each pair's context word (its
    input row) and centre word (its output row), int32, centre by centre in corpus order."""
    none = np.zeros(0, np.int32)
    total = int(sentence_starts[-1]) if sentence_starts.size else 0
    if total == 0:
        return none, none, 0
    tokens = tokens[:total]
    sentence_of = np.repeat(np.arange(sentence_starts.size - 1, dtype=np.int32), np.diff(sentence_starts))
    keep = rng.random(total, dtype=np.float32) < keep_prob[tokens]
    words, sentence_of = tokens[keep], sentence_of[keep]
    if words.size < 2:
        return none, none, int(words.size)
    reduced = rng.integers(1, window + 1, size=words.size, dtype=np.int32)
    left, right = _sentence_room(sentence_of)
    offsets = _offsets(window)
    valid = (np.abs(offsets) <= reduced[:, None]) & (offsets >= -left[:, None]) & (offsets <= right[:, None])
    centre, slot = np.nonzero(valid)                      # row-major: centre by centre, offsets in order
    return words[centre + offsets[slot]].astype(np.int32), words[centre].astype(np.int32), int(words.size)


def train_pairs(w_in: np.ndarray, w_out: np.ndarray, inputs: np.ndarray, outputs: np.ndarray,
                neg_table: np.ndarray, negative: int, alpha_start: float, alpha_end: float,
                rng: np.random.Generator, step_pairs: int = 256, loss_every: int = 16,
                repeat_cap: int = 0) -> KernelStats:
    """Skip-gram SGD on explicit pairs, in order, ``step_pairs`` pairs per step.

    Each pair's input row ``w_in[inputs[i]]`` predicts its output row ``w_out[outputs[i]]``
    against ``negative`` rows drawn from ``neg_table`` (fresh draws per pair, as word2vec.c;
    a draw equal to the pair's output is skipped). Repeated rows within a step get the sum
    of their updates (``repeat_cap``: as in :class:`ScatterPlan`; 0, the default, sums them all).
    The learning rate decays linearly from ``alpha_start`` to ``alpha_end`` over the pairs."""
    stats = KernelStats(in_updates=np.zeros(w_in.shape[0], np.int64), out_updates=np.zeros(w_out.shape[0], np.int64))
    n = inputs.size
    if n == 0 or neg_table.size == 0:
        return stats
    labels = np.zeros(negative + 1, dtype=np.float32)
    labels[0] = 1.0
    edges = np.arange(0, n + step_pairs, step_pairs).clip(max=n)
    # A plan covers about PLAN_PAIRS pairs (at least DRAW_STEPS steps): short steps then share
    # the planning's fixed cost. Negatives are drawn DRAW_STEPS steps at a time whatever the plan.
    plan_steps = max(DRAW_STEPS, PLAN_PAIRS // step_pairs // DRAW_STEPS * DRAW_STEPS)
    for first in range(0, edges.size - 1, plan_steps):
        cuts = edges[first:first + plan_steps + 1]
        lo, hi = int(cuts[0]), int(cuts[-1])
        draw_cuts = cuts[::DRAW_STEPS].tolist() + ([hi] if (cuts.size - 1) % DRAW_STEPS else [])
        negs = np.concatenate([neg_table[rng.integers(0, neg_table.size, size=(b - a, negative))]
                               for a, b in zip(draw_cuts[:-1], draw_cuts[1:])])
        outs = np.concatenate((outputs[lo:hi, None], negs), axis=1)
        skip = np.flatnonzero((negs == outputs[lo:hi, None]).ravel())
        skip += skip // negative + 1                     # flat positions in outs
        keep = np.ones(outs.size, dtype=np.float32)
        keep[skip] = 0
        keep = keep.reshape(outs.shape)
        sizes = np.diff(cuts)
        starts = (cuts[:-1] - lo).tolist()
        in_plan = ScatterPlan(w_in.shape[0], inputs[lo:hi], None, repeat_cap, stats.in_updates, w_in.dtype,
                              sizes=sizes)
        # Output row j of pair i gets g[i, j] * h[i]: the plan reads h's rows, scaled (no (m, k+1, d) product).
        within = np.arange(hi - lo, dtype=np.int32) - np.repeat(np.asarray(starts, dtype=np.int32), sizes)
        out_plan = ScatterPlan(w_out.shape[0], outs.ravel(), np.repeat(within, negative + 1), repeat_cap,
                               stats.out_updates, w_out.dtype, drop=skip, sizes=sizes * (negative + 1))
        for i, (a, b) in enumerate(zip(starts, starts[1:] + [hi - lo])):
            alpha = np.float32(alpha_start + (alpha_end - alpha_start) * ((lo + a) / n))
            h = w_in.take(inputs[lo + a:lo + b], axis=0)             # (m, d)
            o = w_out.take(outs[a:b], axis=0)                        # (m, k+1, d)
            sig = _sigmoid(np.matmul(o, h[:, :, None])[:, :, 0])     # (m, k+1)
            if loss_every and (first + i) % loss_every == 0:
                stats.loss_sum += _loss(sig, labels, keep[a:b] > 0)
                stats.loss_examples += int(sig.shape[0])
            g = np.subtract(labels, sig, out=sig)
            g *= keep[a:b]
            g *= alpha
            grad_h = np.matmul(g[:, None, :], o)[:, 0, :]           # (m, d)
            in_plan.apply(i, w_in, grad_h)
            out_plan.apply(i, w_out, h, scale=g.ravel())
        stats.examples += hi - lo
    return stats
