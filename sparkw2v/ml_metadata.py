"""Reading pyspark.ml's ``metadata/`` beside a model's versions (class, uid, Params), ours or
another library's: what tells a sparkw2v model from an estimator or an MLlib model saved at
a path. Writing it is publishing's (:func:`sparkw2v.publishing.write_ml_metadata`).
"""

from __future__ import annotations

import json

from pyspark.sql import SparkSession

from .filesystem import HadoopFS, LocalFS
from .layout import ML_METADATA, strip_slash


def read_ml_metadata(spark: SparkSession, path: str) -> dict | None:
    """The pyspark.ml metadata of the sparkw2v model at ``path``; None if it has none (or it is not ours)."""
    path = strip_slash(path)
    return _read_ml_metadata(HadoopFS(spark, path), path)


def ml_metadata(spark: SparkSession, path: str) -> dict | None:
    """The pyspark.ml metadata at ``path`` (ours or another library's: class, uid, paramMap ...); None if none."""
    path = strip_slash(path)
    return any_ml_metadata(HadoopFS(spark, path), path)


def ml_class(spark: SparkSession, path: str) -> str | None:
    """The class named by the pyspark.ml metadata at ``path`` (ours or another library's); None if none."""
    meta = ml_metadata(spark, path)
    return str(meta.get("class")) if meta is not None else None


def _read_ml_metadata(fs: "HadoopFS | LocalFS", path: str) -> dict | None:
    """The pyspark.ml metadata at ``path`` if it is a sparkw2v model's (not an estimator's)."""
    meta = any_ml_metadata(fs, path)
    return meta if meta is not None and is_model_class(str(meta.get("class", ""))) else None


def is_model_class(name: str) -> bool:
    """Whether pyspark.ml metadata naming the class ``name`` is a sparkw2v model's."""
    return name.startswith("sparkw2v.") and name.endswith(".Word2VecModel")


def any_ml_metadata(fs: HadoopFS, path: str) -> dict | None:
    """:func:`ml_metadata` on the filesystem ``fs``."""
    directory = f"{path}/{ML_METADATA}"
    parts = sorted(n for n in fs.list_names(directory) if n.startswith("part-"))
    if not parts:
        return None
    try:
        meta = json.loads(fs.read_text(f"{directory}/{parts[0]}").splitlines()[0])
    except (ValueError, IndexError):
        return None
    return meta if isinstance(meta, dict) else None

