"""Where an entry lives on disk: one file per key, sharded by digest prefix.

::

    <dir>/disk-v1/                the tree below is all ours (``<dir>`` may hold other things)
      .cachekit-disk              lock file; holds the shared size counter
      .cachekit-disk-evict        lock file held by the one process evicting
      .owners/<token>             one marker per writing store, flocked while it lives
      <namespace>/<xx>/<sha256>   entries of keys ``cachekit:v2:<namespace>:…``
      @<base32 name>/<xx>/<sha256>  the same for namespaces that are not safe as a
                                  directory name everywhere (upper case, a leading
                                  dot, dash or underscore, Windows device names)
      _keys/<xx>/<sha256>         keys that are not of the form above
      .trash-<token>.<n>/         a namespace being cleared (renamed away atomically)

``<sha256>`` is the hex SHA-256 of the UTF-8 key and ``<xx>`` its first two hex
digits (256 shard directories per namespace, so a million entries are ~4k files per
directory). A lookup builds the path from the key and opens that one file: no
directory listing, no index, whatever the number of entries. Clearing a namespace
renames its directory away (one atomic step), so no file is opened to find its
members. Temporary files are ``.tmp.<token>.<n>`` in a shard directory (on Linux a
new file is written unnamed, ``O_TMPFILE``, and named only once complete); recycled
inodes of replaced or deleted entries wait, zero-filled, as ``.spare.<token>.<n>``
(see ``_recycle``). ``<token>`` names the store that made them (see ``_owners``).
Readers never look at them; once their owner is dead they are removed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterator

__all__ = [
    "EVICT_LOCK_NAME",
    "KEYS_DIR",
    "LOCK_NAME",
    "OWNERS_DIR",
    "SPARE_PREFIX",
    "TEMP_PREFIX",
    "TRASH_PREFIX",
    "TREE_NAME",
    "Layout",
    "is_entry_name",
]

KEY_PREFIX = "cachekit:v2:"
TREE_NAME = "disk-v1"
_NS_START = len(KEY_PREFIX)
_SEP = os.sep
_sha256 = hashlib.sha256
LOCK_NAME = ".cachekit-disk"
EVICT_LOCK_NAME = ".cachekit-disk-evict"
KEYS_DIR = "_keys"
TRASH_PREFIX = ".trash-"
TEMP_PREFIX = ".tmp."
SPARE_PREFIX = ".spare."
OWNERS_DIR = ".owners"

# The core's namespace rule (cachekit._keys.validate_namespace).
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
# Names used as they are: lower case (case-insensitive filesystems), no leading
# '.', '_' or '-' (those are ours), no trailing '.' (Windows drops it).
_PLAIN_DIR_RE = re.compile(r"[a-z0-9][a-z0-9_.\-]*(?<!\.)")
_WINDOWS_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)]
)
_ENTRY_RE = re.compile(r"[0-9a-f]{64}")
_HEX = "0123456789abcdef"
SHARDS = tuple(a + b for a in _HEX for b in _HEX)


def is_entry_name(name: str) -> bool:
    """Whether a file name inside a shard directory is an entry (not a temp file)."""
    return len(name) == 64 and _ENTRY_RE.fullmatch(name) is not None


def namespace_dir_name(namespace: str) -> str:
    """The directory of a namespace: the name itself when safe, else ``@<base32>``."""
    if _PLAIN_DIR_RE.fullmatch(namespace) and namespace.split(".", 1)[0] not in _WINDOWS_DEVICES:
        return namespace
    encoded = base64.b32encode(namespace.encode()).decode("ascii").rstrip("=").lower()
    return "@" + encoded


def namespace_of_dir(name: str) -> str | None:
    """The namespace a directory holds (the inverse of :func:`namespace_dir_name`),
    ``None`` for the ``_keys`` directory and for anything that is not ours."""
    if name.startswith("@"):
        body = name[1:].upper()
        try:
            namespace = base64.b32decode(body + "=" * (-len(body) % 8)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if _NAMESPACE_RE.fullmatch(namespace) and namespace_dir_name(namespace) == name:
            return namespace
        return None
    if _PLAIN_DIR_RE.fullmatch(name) and namespace_dir_name(name) == name:
        return name
    return None


def split_key(key: str) -> tuple[str | None, str]:
    """``cachekit:v2:<ns>:<rest>`` → ``(ns, rest)``; any other key → ``(None, key)``."""
    if key.startswith(KEY_PREFIX):
        rest = key[len(KEY_PREFIX) :]
        end = rest.find(":")
        if end > 0:
            namespace = rest[:end]
            if _NAMESPACE_RE.fullmatch(namespace):
                return namespace, rest[end + 1 :]
    return None, key


def encode_key(key: str) -> bytes:
    # surrogatepass: any str the caller can build is storable and comes back equal.
    return key.encode("utf-8", "surrogatepass")


def decode_key(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogatepass")


class Layout:
    """Paths of one cache directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.root = root = os.path.join(directory, TREE_NAME)
        self.lock_path = os.path.join(root, LOCK_NAME)
        self.evict_lock_path = os.path.join(root, EVICT_LOCK_NAME)
        self._dirs: dict[str, str] = {}
        self._keys_dir = os.path.join(root, KEYS_DIR)

    def group_dir(self, key: str) -> str:
        """The directory (namespace or ``_keys``) that holds ``key``'s shard."""
        if key.startswith(KEY_PREFIX):  # what split_key does, inlined for the hot path
            end = key.find(":", _NS_START)
            if end > _NS_START:
                namespace = key[_NS_START:end]
                found = self._dirs.get(namespace)
                if found is not None:
                    return found
                if _NAMESPACE_RE.fullmatch(namespace):
                    if len(self._dirs) > 4096:
                        self._dirs.clear()
                    found = os.path.join(self.root, namespace_dir_name(namespace))
                    self._dirs[namespace] = found
                    return found
        return self._keys_dir

    def locate(self, key: str) -> tuple[bytes, str, str]:
        """``(encoded key, shard directory, entry path)`` of ``key``."""
        try:
            raw = key.encode()
        except UnicodeEncodeError:  # lone surrogates: still storable, still equal
            raw = encode_key(key)
        digest = _sha256(raw).hexdigest()
        shard = f"{self.group_dir(key)}{_SEP}{digest[:2]}"
        return raw, shard, f"{shard}{_SEP}{digest}"

    def namespace_dir(self, namespace: str) -> str:
        return os.path.join(self.root, namespace_dir_name(namespace))

    def group_dirs(self) -> Iterator[tuple[str, str | None]]:
        """Every namespace directory (and ``_keys``) that exists: ``(path, namespace)``;
        the namespace is ``None`` for ``_keys``."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name == KEYS_DIR:
                yield entry.path, None
                continue
            namespace = namespace_of_dir(entry.name)
            if namespace is not None:
                yield entry.path, namespace

    def trash_dirs(self) -> list[str]:
        try:
            return [
                e.path
                for e in os.scandir(self.root)
                if e.name.startswith(TRASH_PREFIX) and e.is_dir(follow_symlinks=False)
            ]
        except FileNotFoundError:
            return []


def shard_dirs(group: str) -> Iterator[str]:
    """The shard directories that exist under a namespace directory."""
    try:
        entries = list(os.scandir(group))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if len(entry.name) == 2 and entry.is_dir(follow_symlinks=False):
            yield entry.path
