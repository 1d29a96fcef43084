"""sparkw2v: distributed word2vec on Apache Spark."""

__version__ = "0.1.0"

from .config import ConfigError, TrainConfig  # noqa: E402
from .vectors import WordVectors  # noqa: E402


def __getattr__(name):
    # The Spark-facing classes import pyspark; load them only when asked for.
    if name in ("Word2Vec", "Word2VecModel"):
        from . import model
        return getattr(model, name)
    raise AttributeError(name)


__all__ = ["ConfigError", "TrainConfig", "Word2Vec", "Word2VecModel", "WordVectors", "__version__"]
