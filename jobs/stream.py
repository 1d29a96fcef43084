"""spark-submit entry point: ``spark-submit jobs/stream.py --source ... --output ... --checkpoint ...``.

Takes exactly the arguments of ``sparkw2v stream``.
"""

import sys

from sparkw2v.cli import run

if __name__ == "__main__":
    run(["stream", *sys.argv[1:]])
