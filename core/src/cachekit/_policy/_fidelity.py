"""Attribute-exact rebuilds: what JSON cannot say about an SDK object.

Some SDK objects carry attributes their JSON form does not show, or lack declared
ones: LiteLLM deletes ``Choices.logprobs`` when it is ``None`` on some paths and sets
it on others, and its ``model_dump`` leaves ``None`` values out. A rebuild from JSON
then has other attribute names than the original. At store time the original is
compared with a rebuild of its own JSON form (:func:`attribute_diff`); the
differences — attribute names to add (with their JSON values) or to remove, per
node path — are stored in the entry's metadata and applied to every hit
(:func:`apply_diff`), so a hit has exactly the attributes the miss had.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_diff", "attribute_diff"]

_MAX_DEPTH = 12
_JSON_SCALARS = (str, int, float, bool, type(None))


def _public(obj: Any) -> dict[str, Any]:
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return {}
    return {k: v for k, v in attrs.items() if not k.startswith("_")}


def _is_model(obj: Any) -> bool:
    return not isinstance(obj, type) and hasattr(type(obj), "model_fields")


def attribute_diff(original: Any, rebuilt: Any) -> dict[str, dict[str, Any]]:
    """``{path: {"+": {name: value}, "-": [names]}}`` where ``rebuilt``'s public
    attributes differ from ``original``'s (paths like ``"choices.0"``; ``""`` is the root).
    Only JSON scalar values are carried; other missing attributes are left alone."""
    diff: dict[str, dict[str, Any]] = {}

    def walk(a: Any, b: Any, path: str, depth: int) -> None:
        if depth > _MAX_DEPTH or not (_is_model(a) and _is_model(b)):
            return
        mine, theirs = _public(a), _public(b)
        add = {k: v for k, v in mine.items() if k not in theirs and isinstance(v, _JSON_SCALARS)}
        remove = [k for k in theirs if k not in mine]
        if add or remove:
            node: dict[str, Any] = {}
            if add:
                node["+"] = add
            if remove:
                node["-"] = remove
            diff[path] = node
        for name, value in mine.items():
            other = theirs.get(name)
            child = f"{path}.{name}" if path else name
            if type(value) is list and type(other) is list:
                for i, (x, y) in enumerate(zip(value, other, strict=False)):
                    walk(x, y, f"{child}.{i}", depth + 1)
            else:
                walk(value, other, child, depth + 1)

    walk(original, rebuilt, "", 0)
    return diff


def apply_diff(obj: Any, diff: dict[str, Any]) -> None:
    """Make ``obj``'s attributes match what :func:`attribute_diff` recorded."""
    for path, change in diff.items():
        node = _find(obj, path)
        attrs = getattr(node, "__dict__", None)
        if attrs is None or not isinstance(change, dict):
            continue
        for name in change.get("-", ()):
            attrs.pop(name, None)
        added = change.get("+")
        if isinstance(added, dict):
            attrs.update({k: v for k, v in added.items() if isinstance(v, _JSON_SCALARS)})


def _find(obj: Any, path: str) -> Any:
    node = obj
    for part in path.split(".") if path else ():
        if type(node) is list and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = getattr(node, part, None)
        if node is None:
            return None
    return node
