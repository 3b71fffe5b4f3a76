"""Pydantic responses in and out of entries.

A stored pydantic object is its ``model_dump(mode="json")``; the entry's
``meta["model"]`` records the class name for humans and for choosing among the
types a caller named, but a name read from the store is never imported: only a
type the caller (or the wrapped function's annotation) names is ever built.

Building, so that a hit equals what the SDK returned on the miss:

* the stored bytes go straight to ``model_validate_json`` (pydantic-core, no
  intermediate Python objects) — validation, never the class's ``__init__``, so an SDK
  that normalises fields in ``__init__`` (LiteLLM drops ``logprobs`` there) gets back
  exactly the fields it had;
* if validation refuses them and the class has an SDK-style ``construct`` (the OpenAI
  SDK builds its responses that way, e.g. base64 embeddings in a ``list[float]``
  field), that is used; failing both, a class with its own ``__init__`` is called.

What the stored form says about the original, recorded at store time by
:func:`describe` and used by :func:`restore`:

* ``nested``: where models sit inside loosely typed containers (LiteLLM's
  ``EmbeddingResponse.data: list`` holds ``Embedding`` objects), as
  ``{"data.*": "litellm.types.utils.Embedding"}``; class names are resolved only inside
  the modules of the types the caller named;
* ``attrs``: where the rebuilt object's attributes would differ from the original's
  (LiteLLM sets or deletes ``logprobs`` outside its declared fields), see
  :mod:`cachekit._policy._fidelity`.
"""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from cachekit.exceptions import ConfigurationError

__all__ = [
    "build_model",
    "is_model_class",
    "describe",
    "model_name",
    "rebuild",
    "rebuild_payload",
    "restore_nested",
]


def is_model_class(candidate: object) -> bool:
    """Whether ``candidate`` is a pydantic (v2) model class."""
    return isinstance(candidate, type) and hasattr(candidate, "model_validate")


def model_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _owner(cls: type, attribute: str) -> type | None:
    for klass in cls.__mro__:
        if attribute in vars(klass):
            return klass
    return None


def _from_pydantic(klass: type | None) -> bool:
    return klass is None or klass.__module__.split(".", 1)[0] in ("pydantic", "builtins")


@lru_cache(maxsize=512)
def _recipe(cls: type) -> tuple[bool, Callable[..., Any] | None]:
    """``(custom_init, sdk_construct)`` for a model class, computed once per class."""
    custom_init = not _from_pydantic(_owner(cls, "__init__"))
    construct_owner = _owner(cls, "construct")
    sdk_construct = None if _from_pydantic(construct_owner) else cls.construct  # type: ignore[attr-defined]
    return custom_init, sdk_construct


def _fallback(cls: type, data: Any, error: ValueError) -> Any:
    """What validation refused: the SDK's ``construct``, else the class's ``__init__``."""
    custom_init, construct = _recipe(cls)
    if type(data) is not dict:
        raise error
    if construct is not None:
        return construct(**data)
    if custom_init:
        return cls(**data)
    raise error


def build_model(cls: type, data: Any) -> Any:
    """``data`` (plain JSON values) as an instance of the model class ``cls``."""
    try:
        return cls.model_validate(data)  # type: ignore[attr-defined]
    except ValueError as exc:  # pydantic's ValidationError
        return _fallback(cls, data, exc)


def rebuild_payload(payload: bytes, cls: type, load: Callable[[bytes], Any]) -> Any:
    """The model stored as JSON ``payload``, validated straight from the bytes (``load``
    parses them when validation refuses and another recipe is tried)."""
    try:
        return cls.model_validate_json(payload)  # type: ignore[attr-defined]
    except ValueError as exc:
        return _fallback(cls, load(payload), exc)


def rebuild(value: Any, model: type[Any] | None) -> Any:
    """``value`` rebuilt into the pydantic ``model`` the caller named (``None``: as is)."""
    if model is None or value is None:
        return value
    if not is_model_class(model):
        raise ConfigurationError(f"response_type must be a pydantic model class, got {model!r}")
    return build_model(model, value)


# -- models inside loosely typed containers --------------------------------------

_LOOSE = frozenset({list, dict, tuple, typing.Any, object})


def _loose(annotation: Any) -> bool:
    """Whether a field annotation leaves its items untyped (``list``, ``dict``, ``Any``…)."""
    if annotation in _LOOSE:
        return True
    origin = typing.get_origin(annotation)
    if origin in (list, dict, tuple):
        args = typing.get_args(annotation)
        return not args or all(a in _LOOSE for a in args)
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return any(_loose(a) for a in typing.get_args(annotation))
    return False


def describe(obj: Any) -> dict[str, Any] | None:
    """Where ``obj`` (a pydantic object) holds models its field types do not name:
    ``{"nested": {path: class}}``, or ``None``."""
    found: dict[str, str] = {}

    def walk(model: Any, path: str, depth: int) -> None:
        fields = getattr(type(model), "model_fields", None)
        if not fields or depth > 16:
            return
        for name, field in fields.items():
            value = getattr(model, name, None)
            if value is not None:
                visit(value, f"{path}{name}", _loose(field.annotation), depth)

    def visit(value: Any, path: str, loose: bool, depth: int) -> None:
        if not isinstance(value, type) and hasattr(type(value), "model_fields"):
            if loose:
                found.setdefault(path, model_name(type(value)))
            walk(value, path + ".", depth + 1)
        elif type(value) is list or type(value) is tuple:
            for item in value:
                visit(item, path + ".*", loose, depth + 1)

    walk(obj, "", 0)
    return {"nested": found} if found else None


def _resolve(name: str, modules: Iterable[str]) -> type | None:
    module_name, _, qualname = name.rpartition(".")
    if module_name not in modules:
        return None
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found if is_model_class(found) else None


def restore_nested(obj: Any, nested: dict[str, str], modules: Iterable[str]) -> None:
    """Turn the dicts at ``nested``'s paths inside ``obj`` back into their models
    (classes resolved only inside ``modules``, which must already be imported)."""
    trusted = frozenset(modules)
    for path, name in nested.items():
        cls = _resolve(name, trusted) if isinstance(name, str) else None
        if cls is not None:
            _restore(obj, path.split("."), cls)


def _restore(node: Any, parts: list[str], cls: type) -> Any:
    if not parts:
        return build_model(cls, node) if type(node) is dict else node
    head, rest = parts[0], parts[1:]
    if head == "*":
        if type(node) is list:
            node[:] = [_restore(item, rest, cls) for item in node]
        return node
    if type(node) is dict:
        if head in node:
            node[head] = _restore(node[head], rest, cls)
        return node
    child = getattr(node, head, None)
    if child is not None:
        replaced = _restore(child, rest, cls)
        if replaced is not child:
            object.__setattr__(node, head, replaced)
    return node
