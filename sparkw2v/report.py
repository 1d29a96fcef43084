"""The training report of a published version: ``sparkw2v info`` text and the PNG chart.

Both read only a version's metadata (parameters, corpus, per-epoch history, timings,
scores, the Spark application it ran on). The chart needs matplotlib, which is not a
run-time dependency: ``pip install 'sparkw2v[report]'`` adds it, and without it a
version is published without ``report.png`` (a log line says so). A chart's value is
in its labelled axes, which a hand-written PNG would have to draw without fonts.
"""

from __future__ import annotations

import io
import json
import logging
import textwrap
import threading
from typing import Callable

from .config import TrainConfig
from .progress import format_count, format_seconds

log = logging.getLogger("sparkw2v")

#: File name of the chart inside a version directory.
CHART = "report.png"
#: Characters per line of the chart's title (about the width of its 6-inch figure at 10 pt).
TITLE_CHARS = 75
_warned = []


def chart_available() -> bool:
    """Whether matplotlib, which draws the chart, is installed (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def chart_png(meta: dict) -> bytes | None:
    """Loss, words/s and learning rate against epochs (and the scores, when recorded) as PNG bytes;
    None without history or without matplotlib. Never raises: a chart is not worth a failed publish."""
    history = meta.get("history") or []
    if not history:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        if not _warned:
            _warned.append(True)
            log.info("matplotlib is not installed: versions are published without %s "
                     "(pip install 'sparkw2v[report]' adds it)", CHART)
        return None
    try:
        epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]
        figure = Figure(figsize=(6, 7), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        panels = (("loss", "mean loss", "tab:red"), ("words_per_second", "words/s", "tab:blue"),
                  ("alpha_end", "learning rate per shard\n(end of epoch)", "tab:green"))
        axes = figure.subplots(len(panels), 1, sharex=True)
        for ax, (key, label, colour) in zip(axes, panels):
            ax.plot(epochs, [h.get(key) for h in history], marker="o", color=colour)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel("epoch")
        axes[-1].xaxis.get_major_locator().set_params(integer=True)
        params = meta.get("parameters", {})
        title = (f"{meta.get('vocab_size', '?')} words x {meta.get('vector_size', '?')} dims, "
                 f"{'skip-gram' if params.get('sg', True) else 'CBOW'}, "
                 f"{format_count(meta.get('corpus_words') or 0)} corpus words")
        scores = _scores(meta.get("evaluation") or {})
        version = f"version {meta['version']}: " if meta.get("version") is not None else ""
        # Wrapped: one line of all three scores is wider than the figure.
        figure.suptitle("\n".join(textwrap.wrap(version + title, TITLE_CHARS) + textwrap.wrap(scores, TITLE_CHARS)),
                        fontsize=10)
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
    except Exception as exc:
        log.warning("could not draw the training chart: %s", exc)
        return None


def chart_later(meta: dict) -> Callable[[], bytes | None]:
    """:func:`chart_png` drawn in a thread while the caller writes the tables; call the
    result for the PNG bytes (it waits). Importing matplotlib and drawing take about a second,
    mostly while the main thread waits on Spark or on the disk."""
    result: list = [None]

    def draw() -> None:
        result[0] = chart_png(meta)

    thread = threading.Thread(target=draw, name="sparkw2v-chart", daemon=True)
    thread.start()

    def png() -> bytes | None:
        thread.join()
        return result[0]
    return png


def _scores(evaluation: dict) -> str:
    names = {"wordsim_spearman": "word similarity (Spearman)", "analogy_3cosadd": "analogies 3CosAdd",
             "analogy_3cosmul": "analogies 3CosMul"}
    return ", ".join(f"{label} {evaluation[key]:.4f}" for key, label in names.items()
                     if isinstance(evaluation.get(key), (int, float)))


def describe_shards(shards: int | None, at_once: int | None) -> str:
    """"8 shards, 2 at once" (chains on fewer task slots), or "4 shards at once"."""
    if not shards:
        return "no shards"
    if at_once is None or at_once >= shards:
        return f"{shards} shard{'s' if shards != 1 else ''} at once" if shards != 1 else "1 shard"
    return f"{shards} shards, {at_once} at once"


def summary(meta: dict, location: str) -> str:
    """What ``sparkw2v info`` prints: version, run, parameters, corpus, timings, history, scores."""
    lines = [f"model      {location}",
             f"version    {meta.get('version', '(single version)')}, written {meta.get('written_at', '?')}"]
    spark = meta.get("spark") or {}
    if spark:
        lines.append(f"spark      master {spark.get('master')}, application {spark.get('app_id')} "
                     f"(Spark {spark.get('version')}, default parallelism {spark.get('default_parallelism')})")
    lines.append(f"vectors    {meta.get('vocab_size')} words x {meta.get('vector_size')} dims"
                 + (f"; counts: {meta['counts']}" if meta.get("counts") else ""))
    if meta.get("corpus_words") is not None:
        nulls = f", {meta['null_rows']:,} null rows" if meta.get("null_rows") else ""
        lines.append(f"corpus     {meta.get('corpus_words'):,} words, "
                     f"{meta.get('distinct_words') or 0:,} distinct{nulls}; "
                     f"trained on {meta.get('train_words') or 0:,} vocabulary words per epoch, "
                     f"{describe_shards(meta.get('num_partitions'), meta.get('concurrent_shards'))}")
    if meta.get("continued_from"):
        base = meta["continued_from"]
        lines.append(f"continued  from version {base.get('version')} of {base.get('path')}: "
                     f"{meta.get('batch_words', 0):,} new tokens, {meta.get('new_words', 0)} new words")
    params = meta.get("parameters") or {}
    if params:
        defaults = TrainConfig().persisted()
        changed = {k: v for k, v in params.items() if k in defaults and v != defaults[k]}
        lines.append("parameters " + (", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
                                      or "all defaults") + " (other settings at their defaults)")
    timings = meta.get("timings") or {}
    if timings:
        order = ("count_seconds", "encode_seconds", "prepare_seconds", "train_seconds", "total_seconds")
        shown = [k for k in order if k in timings] + sorted(k for k in timings if k not in order)
        lines.append("timings    " + ", ".join(f"{k.removesuffix('_seconds')} {format_seconds(timings[k])}"
                                                for k in shown if isinstance(timings[k], (int, float))))
    if meta.get("words_per_second"):
        lines.append(f"speed      {format_count(meta['words_per_second'])} words/s over the epochs")
    history = meta.get("history") or []
    if history:
        lines.append("history    epoch        words      words/s      loss   alpha (end)   seconds")
        for h in history:   # alpha as --alpha sets it; each shard trains at alpha_scale times it
            alpha = h.get("alpha_end", float("nan")) / (h.get("alpha_scale") or 1)
            lines.append(f"           {h.get('epoch', ''):>5} {h.get('words', 0):>12,} {h.get('words_per_second', 0):>12,.0f} "
                         f"{h.get('loss', float('nan')):>9.4f} {alpha:>13.6f} "
                         f"{h.get('seconds', 0):>9.1f}")
    evaluation = meta.get("evaluation") or {}
    if evaluation:
        scores = {k: v for k, v in sorted(evaluation.items()) if v is not None}
        lines.append("scores     " + json.dumps(scores, sort_keys=True, default=str))
    versions = meta.get("versions") or {}
    if versions:
        lines.append("software   " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())))
    return "\n".join(lines)
