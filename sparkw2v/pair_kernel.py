"""Skip-gram on explicit (context, centre) pairs: the kernel of the ``stratified`` strategy.

A stratified task trains only the pairs whose input row lies in the block it owns and whose
output row lies in the output block it holds, so its work is a list of pairs, not running
text: :func:`skipgram_pairs` forms one epoch's pairs of a shard as word2vec.c would
(subsampling, reduced windows, sentence edges), and :func:`train_pairs` trains a list of
pairs in order, ``step_pairs`` at a time, each pair with its own negatives.
"""

from __future__ import annotations

import numpy as np

from .kernel import KernelStats, log_loss, reduced_windows, sentence_room, sigmoid_inplace, window_offsets
from .scatter import ScatterPlan

#: :func:`train_pairs` plans about this many pairs together, and draws negatives for
#: ``DRAW_STEPS`` steps at a time.
PLAN_PAIRS = 4096
DRAW_STEPS = 16


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
    left, right = sentence_room(sentence_of)
    reduced = reduced_windows(rng, window, left, right)
    offsets = window_offsets(int(reduced.max()))
    valid = (np.abs(offsets) <= reduced[:, None]) & (offsets >= -left[:, None]) & (offsets <= right[:, None])
    centre, slot = np.nonzero(valid)                      # row-major: centre by centre, offsets in order
    return words[centre + offsets[slot]].astype(np.int32), words[centre].astype(np.int32), int(words.size)


@np.errstate(over="ignore", invalid="ignore")   # a diverging run: training stops on its non-finite loss, in one line
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
            sig = sigmoid_inplace(np.matmul(o, h[:, :, None])[:, :, 0])     # (m, k+1)
            if loss_every and (first + i) % loss_every == 0:
                stats.loss_sum += log_loss(sig, labels, keep[a:b] > 0)
                stats.loss_examples += int(sig.shape[0])
            g = np.subtract(labels, sig, out=sig)
            g *= keep[a:b]
            g *= alpha
            grad_h = np.matmul(g[:, None, :], o)[:, 0, :]           # (m, d)
            in_plan.apply(i, w_in, grad_h)
            out_plan.apply(i, w_out, h, scale=g.ravel())
        stats.examples += hi - lo
    return stats
