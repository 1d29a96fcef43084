"""pyspark.ml Params under two names: TrainConfig's, and MLlib's as aliases of them.

An estimator stores each setting once, under its :class:`~sparkw2v.config.TrainConfig`
name. An alias Param (``w2v.vectorSize`` for ``w2v.vector_size``, from
:data:`sparkw2v.config.MLLIB_ALIASES`) reads, sets, clears and copies that same
entry, so ``fit(df, {w2v.maxIter: 3})``, ``ParamGridBuilder`` grids,
``explainParams`` and pyspark's DefaultParams persistence all see one value, and
only TrainConfig names are ever written to disk.
"""

from __future__ import annotations

from typing import Any, Callable

from pyspark.ml.param import Param, Params


class AliasedParams(Params):
    """Params whose alias Params (``_aliases``: alias name -> canonical name) share their canonical entry."""

    _aliases: dict[str, str] = {}

    def _canonical(self, param: str | Param) -> str | Param:
        """The canonical Param (or name) for ``param``; ``param`` itself if it is no alias."""
        name = param.name if isinstance(param, Param) else param
        target = self._aliases.get(name)
        if target is None:
            return param
        if isinstance(param, Param):
            self._shouldOwn(param)
        return self.getParam(target)

    def _translate(self, extra: Any) -> Any:
        if not isinstance(extra, dict):
            return extra
        # Another stage's Params (a Pipeline hands every stage the whole map) are left as they are.
        return {self._canonical(p) if isinstance(p, Param) and p.parent == self.uid else p: v
                for p, v in extra.items()}

    # Every read (isSet, isDefined, hasDefault, getOrDefault, explainParam) resolves through here.
    def _resolveParam(self, param: str | Param) -> Param:
        return super()._resolveParam(self._canonical(param))

    def set(self, param: Param, value: Any) -> None:
        super().set(self._canonical(param), value)

    def clear(self, param: Param) -> None:
        super().clear(self._canonical(param))

    def _set(self, **kwargs: Any):
        return super()._set(**{self._aliases.get(k, k): v for k, v in kwargs.items()})

    def copy(self, extra: dict | None = None):
        return super().copy(self._translate(extra))

    def extractParamMap(self, extra: dict | None = None) -> dict:
        return super().extractParamMap(self._translate(extra))

    def explainParam(self, param: str | Param) -> str:
        text = super().explainParam(param)
        name = param.name if isinstance(param, Param) else param
        return f"{name}: alias of {text}" if name in self._aliases else text


def accessor_name(prefix: str, name: str) -> str:
    """``get`` + ``vectorSize`` -> ``getVectorSize``."""
    return prefix + name[0].upper() + name[1:]


def add_getter(cls: type, name: str, read: Callable[[Any], Any], doc: str) -> None:
    """Give ``cls`` a ``getName()`` method returning ``read(self)``, unless it defines one."""
    method_name = accessor_name("get", name)
    if method_name in cls.__dict__:
        return

    def getter(self):
        return read(self)
    getter.__name__ = getter.__qualname__ = method_name
    getter.__doc__ = doc
    setattr(cls, method_name, getter)


def add_setter(cls: type, name: str, doc: str) -> None:
    """Give ``cls`` a ``setName(value)`` method calling ``self.setParams(name=value)``, unless it defines one."""
    method_name = accessor_name("set", name)
    if method_name in cls.__dict__:
        return

    def setter(self, value):
        return self.setParams(**{name: value})
    setter.__name__ = setter.__qualname__ = method_name
    setter.__doc__ = doc
    setattr(cls, method_name, setter)
