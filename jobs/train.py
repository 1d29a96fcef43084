"""spark-submit entry point: ``spark-submit jobs/train.py --input ... --output ...``.

Takes exactly the arguments of ``sparkw2v train``.
"""

import sys

from sparkw2v.cli import run

if __name__ == "__main__":
    run(["train", *sys.argv[1:]])
