"""One shard (the window kernel) whose last epoch trains with per-row learning-rate factors: the
input rows of words below the `spread` rule's frequent threshold at A times the rate, every output
row at B times (what a last epoch averaged by `spread` over 16 shards amounts to). A screen:

    python bench/last_epoch_rates.py A B SEEDS [CORPUS]   # e.g. 4 0.25 1,2,3,4,5,6,7,8; 1 1 is the default run
"""
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import shards_lab as L  # noqa: E402
from sparkw2v.config import TrainConfig  # noqa: E402
from sparkw2v.sampling import keep_probabilities  # noqa: E402
from sparkw2v.training import initial_weights  # noqa: E402
A, B, seeds = float(sys.argv[1]), float(sys.argv[2]), [int(x) for x in sys.argv[3].split(',')]
corpus = sys.argv[4] if len(sys.argv) > 4 else str(L.ROOT / 'sparkw2v' / 'data' / 'brown.txt.gz')
vocab, ids, lengths = L.encode(corpus, 5)
shards = L.shards_of(ids, lengths, 1)
records = [[((0, 0, 0), (shards[0][0], np.diff(shards[0][1])))]]
rs = []
for seed in seeds:
    cfg = TrainConfig(sg=True, seed=seed).validate(require_io=False)
    w_in, w_out = initial_weights(len(vocab), cfg.vector_size, cfg.seed)
    for epoch in range(cfg.epochs):
        sch = L._schedule(vocab, ids, cfg, shards)
        if epoch == cfg.epochs - 1:
            kept = vocab.counts * keep_probabilities(vocab.counts, cfg.sample)
            per_step = sch.kernel.chunk_words * kept / kept.sum()
            rin = np.where(per_step >= 2.5, 1.0, A).astype(np.float32)
            rout = np.full(rin.size, B, np.float32)
            sch = dataclasses.replace(sch, rates=(rin, rout))
        L._average_epoch(vocab, cfg, sch, records, epoch, w_in, w_out)
    r = L.quality(vocab, w_in); rs.append(r); print(json.dumps({"seed": seed, **r}), flush=True)
print(A, B, 'ws %.4f analogy %.4f' % (np.mean([r['ws'] for r in rs]), np.mean([r['analogy'] for r in rs])))
