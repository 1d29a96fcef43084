"""pyspark.ml's ``metadata/`` beside a model's versions (class, uid, Params): written for a
sparkw2v model as pyspark's DefaultParamsWriter lays it out, and read, ours or another
library's, to tell a sparkw2v model from an estimator or an MLlib model saved at a path.
"""

from __future__ import annotations

import json
import uuid

from pyspark.sql import SparkSession

from .filesystem import HadoopFS, LocalFS
from .layout import ML_METADATA, STAGING, strip_slash
from .staging import drop_empty_staging


#: Renames of a new ``metadata/`` into place, each after another writer's rename moved it aside.
RENAME_ATTEMPTS = 5


def write_ml_metadata(spark: SparkSession, path: str, text: str) -> None:
    """Replace ``path/metadata`` with ``text``, a pyspark.ml metadata JSON line of a sparkw2v model.

    Written as pyspark's DefaultParamsWriter writes it (a text directory with one
    ``part-00000``), so ``DefaultParamsReader.loadMetadata`` and ``PipelineModel.load``
    read it. The new directory is staged and renamed in; only between deleting the old
    one and that rename does a reader find none (it then gets the default Params).
    """
    path = strip_slash(path)
    fs = HadoopFS(spark, path)
    name = f"{ML_METADATA}-{uuid.uuid4().hex[:8]}"
    staging, target = f"{path}/{STAGING}/{name}", f"{path}/{ML_METADATA}"
    try:
        fs.write_text(f"{staging}/part-00000", text.rstrip("\n") + "\n")
        fs.write_text(f"{staging}/_SUCCESS", "")
        for _ in range(RENAME_ATTEMPTS):
            if fs.exists(target):
                fs.delete(target)
            fs.rename(staging, target)
            # Another writer's rename between our delete and ours: Hadoop moved ours inside theirs.
            if not fs.exists(f"{target}/{name}"):
                break
            fs.rename(f"{target}/{name}", staging)
    finally:
        if fs.exists(staging):
            fs.delete(staging)
        drop_empty_staging(fs, path)


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

