"""The NumPy word2vec kernel: negative-sampling SGD for skip-gram and CBOW.

Pure functions over NumPy arrays; nothing here knows about Spark. A shard of
the corpus is a flat int32 array of word ids plus sentence start offsets. The
kernel walks it in chunks of whole sentences and, per chunk, does what
word2vec.c does per word, vectorised:

1. subsample frequent words (``keep_prob``), then draw each centre word's
   reduced window ``b`` uniformly from ``1..window`` (cut to the farthest any word
   of the chunks can reach in its sentence, which trains the same contexts);
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
   belong to (:class:`sparkw2v.scatter.ScatterPlan`: an in-place sparse product over the sorted rows,
   with work proportional to the updates, not the vocabulary). Nothing a step draws
   depends on the weights, so the kernel draws the steps of ``PLAN_CHUNKS`` chunks at once
   and sorts all their rows in one pass, then takes the steps
   in order (skip-gram with shared negatives, opt-in, draws the same spans but scatter-adds
   step by step, drawing each step's negatives just before it). A row
   repeated within a step gets the sum of its updates, up to ``repeat_cap`` repeats; beyond
   that, its mean update times ``repeat_cap`` (the updates were all computed at
   the same parameters, and summing hundreds of them, as a 16-word vocabulary
   does, diverges; a cap of 16 leaves the benchmark scores of the plain sum, BENCHMARKS.md).

The learning rate decays linearly within a call from ``alpha_start`` to
``alpha_end``, by words consumed (set at each chunk's first word), as word2vec.c does.

The ``stratified`` strategy trains explicit (context, centre) pairs instead:
:mod:`sparkw2v.pair_kernel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np

from .scatter import ScatterPlan, scatter_add, segment_sums

#: Chunks whose steps are drawn and whose scatter-adds are planned together, for skip-gram
#: and for CBOW. Larger plans pay their per-plan work less often until they outgrow the
#: caches; CBOW's smaller steps gain from larger plans (BENCHMARKS.md, "End to end on Spark").
PLAN_CHUNKS = {"sg": 8, "cbow": 32}

#: Per-row learning-rate factors of ``w_in`` and ``w_out`` (float32, one per vocabulary word).
Rates = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class KernelParams:
    """The hyperparameters the kernel needs (a small, picklable subset of the config)."""

    sg: bool = True
    window: int = 5
    negative: int = 5
    chunk_words: int = 2048  # corpus words per step (a run's: TrainConfig.effective_batch_words)
    loss_every: int = 16  # score the loss on every n-th step (0: never); its cost: bench/HISTORY.md
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


def sigmoid_inplace(x: np.ndarray) -> np.ndarray:
    """Logistic function in place, as 0.5 * tanh(x / 2) + 0.5 (three passes, no overflow)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def log_loss(sig: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> float:
    """Binary cross-entropy summed over the unmasked scores."""
    p = np.where(labels > 0, sig, 1.0 - sig)
    return float(-(np.log(np.maximum(p, 1e-7)) * mask).sum())


def _loss_negative(sig: np.ndarray, keep: np.ndarray, weight: float) -> float:
    return float(-(np.log(np.maximum(1.0 - sig, 1e-7)) * keep).sum() * weight)


def _loss_positive(sig: np.ndarray, mask: np.ndarray) -> float:
    return float(-(np.log(np.maximum(sig, 1e-7)) * mask).sum())


def chunk_bounds(sentence_starts: np.ndarray, chunk_words: int) -> np.ndarray:
    """Sentence indices that split the shard into chunks of about ``chunk_words`` words."""
    total = int(sentence_starts[-1])
    targets = np.arange(chunk_words, total, chunk_words)
    cuts = np.searchsorted(sentence_starts, targets, side="left")
    n_sent = sentence_starts.size - 1
    return np.unique(np.concatenate(([0], cuts, [n_sent])))


def sentence_room(sentence_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def reduced_windows(rng: np.random.Generator, window: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each word's reduced window, drawn from ``1..window`` as word2vec.c does, then cut to the
    farthest any word of these sentences can reach (``left``/``right``: :func:`sentence_room`): the
    same contexts, and a window far beyond the sentences' lengths costs nothing."""
    reduced = rng.integers(1, window + 1, size=left.size, dtype=np.int32)
    reach = max(int(left.max(initial=0)), int(right.max(initial=0)), 1)
    return np.minimum(reduced, reach, out=reduced) if reach < window else reduced


def window_offsets(width: int) -> np.ndarray:
    """A window's offsets from its centre: ``-width..-1, 1..width``."""
    return np.concatenate((np.arange(-width, 0), np.arange(1, width + 1)))


@np.errstate(over="ignore", invalid="ignore")   # a diverging run: training stops on its non-finite loss, in one line
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
    row_rates: Rates | None = None,
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
    cuts = chunk_bounds(sentence_starts, params.chunk_words)
    grouped = params.sg and (params.shared_by > 1 or params.draws != params.negative)
    if grouped and (centre_mask is not None or negative_rng is not None):
        raise ValueError("centre_mask and negative_rng need the planned steps (not skip-gram's shared negatives)")
    spans = _spans(tokens, sentence_starts, cuts, keep_prob, params, (alpha_start, alpha_end), rng, stats,
                   centre_mask)
    if grouped:
        _train_grouped(w_in, w_out, spans, neg_table, params, rng, stats, row_rates)
        return stats
    draw = _skipgram_steps if params.sg else _cbow_steps
    train = _train_skipgram_blocks if params.sg else _train_cbow_blocks
    steps = 0
    for span in spans:
        blocks = draw(span, neg_table, params, negative_rng or rng)
        if blocks:
            steps = train(w_in, w_out, blocks, params, stats, steps, rates=row_rates)
    return stats


# -- steps drawn ahead (the default): per-centre negatives for skip-gram, groups for CBOW ----------

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


class _Span(NamedTuple):
    """``PLAN_CHUNKS`` consecutive chunks after subsampling: what their steps are drawn from."""

    words: np.ndarray       # the kept words
    left: np.ndarray        # words of its sentence before each kept word
    right: np.ndarray       # and after it
    reduced: np.ndarray     # each kept word's reduced window
    centres: np.ndarray     # positions (in words) of the centres to train
    chunk_of: np.ndarray    # each centre's chunk within the span
    kept_edges: np.ndarray  # chunk boundaries, in kept words
    alphas: np.ndarray      # each chunk's learning rate (float32)


def _spans(tokens: np.ndarray, sentence_starts: np.ndarray, cuts: np.ndarray, keep_prob: np.ndarray,
           params: KernelParams, alphas: tuple[float, float], rng: np.random.Generator, stats: KernelStats,
           centre_mask: np.ndarray | None) -> Iterator[_Span]:
    """The shard's chunks, ``PLAN_CHUNKS`` at a time, subsampled and with their windows drawn
    (none of it needs the weights, so many steps can be drawn and planned together). Each
    chunk's learning rate is set at its first word, decaying linearly from ``alphas[0]`` to
    ``alphas[1]`` over the shard's words."""
    alpha_start, alpha_end = alphas
    total = int(sentence_starts[-1])
    plan_chunks = PLAN_CHUNKS["sg" if params.sg else "cbow"]
    for first_chunk in range(0, cuts.size - 1, plan_chunks):
        chunk_cuts = cuts[first_chunk:first_chunk + plan_chunks + 1]
        a, b = int(chunk_cuts[0]), int(chunk_cuts[-1])
        lo, hi = int(sentence_starts[a]), int(sentence_starts[b])
        edges = sentence_starts[chunk_cuts] - lo               # chunk boundaries, in words of this span
        rates = (alpha_start + (alpha_end - alpha_start) * ((stats.words + edges[:-1]) / total)).astype(np.float32)
        stats.words += hi - lo
        words = tokens[lo:hi]
        sentence_of = np.repeat(np.arange(b - a, dtype=np.int32), np.diff(sentence_starts[a:b + 1]))
        kept_at = np.flatnonzero(rng.random(words.size, dtype=np.float32) < keep_prob[words])
        words, sentence_of = words[kept_at], sentence_of[kept_at]
        stats.kept_words += words.size
        if words.size < 2:
            continue
        kept_edges = np.searchsorted(kept_at, edges)
        left, right = sentence_room(sentence_of)
        reduced = reduced_windows(rng, params.window, left, right)
        centres = (left > 0) | (right > 0)
        if centre_mask is not None:
            centres &= centre_mask[words]
        centres = np.flatnonzero(centres)
        chunk_of = np.searchsorted(kept_edges, centres, side="right") - 1
        yield _Span(words, left, right, reduced, centres, chunk_of, kept_edges, rates)


def _skipgram_steps(span: _Span, neg_table: np.ndarray, params: KernelParams,
                    rng: np.random.Generator) -> list[SkipgramStep]:
    """One step per (chunk, window width): a dense ``(centres, 2 * width)`` block of contexts
    each; every centre draws its own negatives, shared by its contexts. The blocks are built
    per width for all chunks at once (centres are in corpus order, so each width's centres
    come chunk by chunk) and the steps are views of them, in (chunk, width) order."""
    words, left, right, reduced, centres, chunk_of, kept_edges, alphas = span
    negatives = neg_table[rng.integers(0, neg_table.size, size=(centres.size, params.negative))]
    outs = np.concatenate((words[centres][:, None], negatives), axis=1)
    widths = reduced[centres]
    chunks = np.arange(kept_edges.size)
    groups = []
    for width in range(1, int(reduced.max()) + 1):
        at = np.flatnonzero(widths == width)
        c = centres[at]
        offsets = window_offsets(width)
        valid = (offsets >= -left[c][:, None]) & (offsets <= right[c][:, None])
        groups.append((outs[at], np.take(words, c[:, None] + offsets, mode="clip"), valid,
                       np.searchsorted(chunk_of[at], chunks).tolist()))
    steps = []
    for chunk in range(chunks.size - 1):
        for outs_w, contexts_w, valid_w, bounds in groups:
            a, b = bounds[chunk], bounds[chunk + 1]
            if b > a:
                steps.append(SkipgramStep(outs_w[a:b], contexts_w[a:b], valid_w[a:b], alphas[chunk]))
    return steps


def _cbow_steps(span: _Span, neg_table: np.ndarray, params: KernelParams,
                rng: np.random.Generator) -> list[CbowStep]:
    """One step per chunk (CBOW sums ragged context lists, so every width fits one step); a
    chunk's centres split into ``ceil(m / shared_by)`` groups, each drawing its own negatives."""
    words, left, right, reduced, centres, chunk_of, kept_edges, alphas = span
    offsets = window_offsets(int(reduced.max()))
    valid = (offsets >= -left[centres][:, None]) & (offsets <= right[centres][:, None])
    valid &= np.abs(offsets) <= reduced[centres][:, None]
    per_centre = valid.sum(axis=1)
    ctx_rows = np.take(words, centres[:, None] + offsets, mode="clip")[valid]
    centre_edges = np.searchsorted(chunk_of, np.arange(kept_edges.size))
    ctx_edges = np.zeros(centres.size + 1, dtype=np.int64)
    np.cumsum(per_centre, out=ctx_edges[1:])
    groups = -(-np.diff(centre_edges) // params.shared_by)
    group_edges = np.zeros(groups.size + 1, dtype=np.int64)
    np.cumsum(groups, out=group_edges[1:])
    negatives = neg_table[rng.integers(0, neg_table.size, size=(int(group_edges[-1]), params.draws))]
    targets = words[centres]
    return [CbowStep(targets[c0:c1], negatives[group_edges[j]:group_edges[j + 1]],
                     ctx_rows[ctx_edges[c0]:ctx_edges[c1]], per_centre[c0:c1], alphas[j])
            for j, (c0, c1) in enumerate(zip(centre_edges[:-1], centre_edges[1:])) if c1 > c0]


@dataclass(frozen=True)
class _Plans:
    """The scatter-adds planned for a run of steps, and the counts and losses they add to."""

    in_plan: "ScatterPlan"
    out_plan: "ScatterPlan"
    stats: KernelStats

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


def _train_skipgram_blocks(w_in: np.ndarray, w_out: np.ndarray, blocks: list[SkipgramStep], params: KernelParams,
                           stats: KernelStats, steps: int, rates: Rates | None = None) -> int:
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
    sig = sigmoid_inplace(scores)
    labels = np.zeros(outs.shape[1], dtype=np.float32)
    labels[0] = 1.0
    if compute_loss:
        keep = np.ones(outs.shape, dtype=bool)
        keep.ravel()[clash] = False
        stats.loss_sum += log_loss(sig, labels, valid[:, :, None] & keep[:, None, :])
        stats.loss_examples += int(valid.sum())
    g = np.subtract(labels, sig, out=sig)
    g *= alpha
    grad_h = np.matmul(g, o)                             # (m, 2b, d)
    grad_o = np.matmul(g.transpose(0, 2, 1), h)          # (m, k+1, d)
    plans.in_plan.apply(i, w_in, grad_h.reshape(-1, d))
    plans.out_plan.apply(i, w_out, grad_o.reshape(-1, d))
    stats.examples += int(plans.in_plan.entry_start[i + 1] - plans.in_plan.entry_start[i])


def skipgram_step(w_in: np.ndarray, w_out: np.ndarray, centre: np.ndarray, contexts: np.ndarray, valid: np.ndarray,
                  negatives: np.ndarray, alpha: np.float32, compute_loss: bool, stats: KernelStats,
                  cap: int = 0) -> None:
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


def cbow_step(w_in: np.ndarray, w_out: np.ndarray, centre: np.ndarray, contexts: np.ndarray, valid: np.ndarray,
              negatives: np.ndarray, alpha: np.float32, compute_loss: bool, stats: KernelStats, cap: int = 0,
              weight: float = 1.0) -> None:
    """CBOW: the mean of the context rows predicts the centre against negatives.

    ``negatives`` is ``(G, S)``: consecutive groups of ``ceil(m / G)`` centres share ``S``
    negatives, each weighted ``weight`` (``G = m`` is word2vec's per-centre sampling).
    One step on its own; :func:`train_shard` plans many steps together and calls
    :func:`_cbow_block` directly.
    """
    block = CbowStep(centre, negatives, contexts[valid], valid.sum(axis=1), alpha)
    params = KernelParams(sg=False, negative=negatives.shape[1], repeat_cap=cap, loss_every=1 if compute_loss else 0)
    _train_cbow_blocks(w_in, w_out, [block], params, stats, 0, np.float32(weight))


def _train_cbow_blocks(w_in: np.ndarray, w_out: np.ndarray, blocks: list[CbowStep], params: KernelParams,
                       stats: KernelStats, steps: int, weight: np.float32 | None = None,
                       rates: Rates | None = None) -> int:
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
    pos = sigmoid_inplace(np.einsum("ij,ij->i", h, oc))         # (m,)
    sig = sigmoid_inplace(np.matmul(hg, on.transpose(0, 2, 1)))  # (G, per, S)
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
    sig = sigmoid_inplace(scores)
    loss = _loss_negative(sig, keep, weight) if compute_loss else 0.0
    g = sig
    g *= keep
    g *= -(alpha * weight)
    grad_h = np.matmul(g, on)                            # (G, per, d)
    grad_on = np.matmul(g.transpose(0, 2, 1), hg)        # (G, S, d)
    return grad_h, grad_on, loss


def skipgram_group_step(w_in: np.ndarray, w_out: np.ndarray, centre: np.ndarray, contexts: np.ndarray,
                        valid: np.ndarray, negatives: np.ndarray, alpha: np.float32, compute_loss: bool,
                        stats: KernelStats, cap: int = 0, weight: float = 1.0, rates: Rates | None = None) -> None:
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
    pos = sigmoid_inplace(np.einsum("ijk,ik->ij", h, oc))       # (m, 2b)
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


def _train_grouped(w_in: np.ndarray, w_out: np.ndarray, spans: Iterator[_Span], neg_table: np.ndarray,
                   params: KernelParams, rng: np.random.Generator, stats: KernelStats, rates: Rates | None) -> None:
    """Skip-gram with negatives shared by groups of centres: one step per chunk and window width,
    its negatives drawn just before it."""
    weight = np.float32(params.negative / params.draws)
    steps = 0
    for span in spans:
        for chunk in range(span.kept_edges.size - 1):
            in_chunk = span.centres[span.chunk_of == chunk]
            widths = span.reduced[in_chunk]
            for width in range(1, int(span.reduced.max()) + 1):
                centres = in_chunk[widths == width]
                if centres.size == 0:
                    continue
                offsets = window_offsets(width)
                valid = (offsets >= -span.left[centres][:, None]) & (offsets <= span.right[centres][:, None])
                contexts = np.take(span.words, centres[:, None] + offsets, mode="clip")
                groups = -(-centres.size // params.shared_by)
                negatives = neg_table[rng.integers(0, neg_table.size, size=(groups, params.draws))]
                with_loss = params.loss_every > 0 and steps % params.loss_every == 0
                steps += 1
                skipgram_group_step(w_in, w_out, span.words[centres], contexts, valid, negatives,
                                    span.alphas[chunk], with_loss, stats, params.repeat_cap, weight, rates)


def _scatter_outputs(w_out, centre, grad_centre, negatives, grad_neg, cap, stats, row_scale=None):
    """Add the centres' and the negatives' output-row gradients in one scatter, so a word's
    repeats as centre and as negative count together towards the repeat cap."""
    d = w_out.shape[1]
    rows = np.concatenate((centre, negatives.ravel()))
    scatter_add(w_out, rows, np.concatenate((grad_centre, grad_neg.reshape(-1, d))), cap=cap,
                counts=stats.out_updates, row_scale=row_scale)


