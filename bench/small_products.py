"""What one of the window kernel's small matrix products costs on this machine.

    python bench/small_products.py

Skip-gram's window kernel scores each centre's ``2b`` context rows against its ``negative + 1``
output rows in one small product per centre (NumPy's ``matmul`` over a stack of them), then
forms both gradients the same way. This times the three products over a stack of 300 centres
for a few shapes and prints nanoseconds per centre: the slope over the multiply-adds is the
per-element cost, the intercept the per-call cost. bench/HISTORY.md, "The AMD EPYC (Zen 1)
machine", quotes it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def per_centre_ns(fn, centres: int, repeats: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats / centres * 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--centres", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    m = args.centres
    print(f"{'contexts':>8} {'outputs':>7} {'dims':>5} {'mult-adds':>9} {'scores ns':>10} {'grad_h ns':>10} {'grad_o ns':>10}")
    for c, k, d in [(2, 6, 100), (6, 6, 100), (10, 6, 100), (6, 6, 16), (6, 6, 300)]:
        h = rng.random((m, c, d), dtype=np.float32)
        o = rng.random((m, k, d), dtype=np.float32)
        g = rng.random((m, c, k), dtype=np.float32)
        times = [per_centre_ns(lambda: np.matmul(h, o.transpose(0, 2, 1)), m, args.repeats),
                 per_centre_ns(lambda: np.matmul(g, o), m, args.repeats),
                 per_centre_ns(lambda: np.matmul(g.transpose(0, 2, 1), h), m, args.repeats)]
        print(f"{c:>8} {k:>7} {d:>5} {c * k * d:>9} " + " ".join(f"{t:>10.0f}" for t in times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
