"""Listing the keys of a cache directory (``DiskBackend.scan``), in blocking steps.

Entry files are named by the digest of their key, so the keys come from the files
themselves: each entry's fixed header and key are read (never its value). The work
is split by shard directory (at most 256 per namespace) so that the async face hops
to a worker thread once per shard and never holds a whole listing in memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from cachekit_disk._files import NotAFile, open_entry, read_head
from cachekit_disk._format import parse_header
from cachekit_disk._layout import (
    KEY_PREFIX,
    Layout,
    decode_key,
    is_entry_name,
    shard_dirs,
    split_key,
)

__all__ = ["shard_keys", "shard_usage", "shards_for"]


def shards_for(layout: Layout, prefix: str) -> list[str]:
    """The shard directories that may hold keys starting with ``prefix``: the
    namespace's own when the prefix names one, else every group that may match."""
    namespace, _ = split_key(prefix)
    if namespace is not None:
        groups = [layout.namespace_dir(namespace)]
    else:
        # ``_keys`` holds the keys of no namespace; a namespace directory, its keys.
        groups = [
            group
            for group, group_namespace in layout.group_dirs()
            if group_namespace is None or f"{KEY_PREFIX}{group_namespace}:".startswith(prefix)
        ]
    return [shard for group in groups for shard in shard_dirs(group)]


def _heads(shard: str, prefix: str) -> Iterator[tuple[bytes, bytes]]:
    """The fixed header and key of each entry file in ``shard`` whose key starts with
    ``prefix`` (files that are damaged, not regular or gone meanwhile are skipped)."""
    wanted = prefix.encode("utf-8", "surrogatepass")
    try:
        names = [entry for entry in os.scandir(shard) if is_entry_name(entry.name)]
    except (FileNotFoundError, NotADirectoryError):  # cleared meanwhile
        return
    for entry in names:
        try:
            opened = open_entry(entry.path)
        except (NotAFile, OSError):
            continue
        if opened is None:
            continue
        fd, st = opened
        try:
            head = read_head(fd, st.st_size)
        finally:
            os.close(fd)
        if head is not None and head[1].startswith(wanted):
            yield head


def shard_keys(shard: str, prefix: str) -> list[str]:
    """The keys of the entry files in ``shard`` that start with ``prefix`` (reads judge
    the damaged ones)."""
    return [decode_key(key) for _, key in _heads(shard, prefix)]


def shard_usage(shard: str, prefix: str, now: float) -> tuple[int, int]:
    """Live entries in ``shard`` whose key starts with ``prefix`` (expired ones, still
    on disk until a sweep, are not counted) and the bytes of their values."""
    entries = size = 0
    for head, _ in _heads(shard, prefix):
        header = parse_header(head)
        if header is None or (header.expires_at is not None and now >= header.expires_at):
            continue
        entries += 1
        size += header.value_length
    return entries, size
