"""Listing the keys of a cache directory (``DiskBackend.scan``), in blocking steps.

Entry files are named by the digest of their key, so the keys come from the files
themselves: each entry's fixed header and key are read (never its value). The work
is split by shard directory (at most 256 per namespace) so that the async face hops
to a worker thread once per shard and never holds a whole listing in memory.
"""

from __future__ import annotations

import os

from cachekit_disk._files import NotAFile, open_entry, read_head
from cachekit_disk._layout import (
    KEY_PREFIX,
    Layout,
    decode_key,
    is_entry_name,
    shard_dirs,
    split_key,
)

__all__ = ["shard_keys", "shards_for"]


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


def shard_keys(shard: str, prefix: str) -> list[str]:
    """The keys of the entry files in ``shard`` that start with ``prefix`` (files that
    are damaged, not regular or gone meanwhile are skipped; reads judge them)."""
    wanted = prefix.encode("utf-8", "surrogatepass")
    found: list[str] = []
    try:
        names = [entry for entry in os.scandir(shard) if is_entry_name(entry.name)]
    except (FileNotFoundError, NotADirectoryError):  # cleared meanwhile
        return found
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
            found.append(decode_key(head[1]))
    return found
