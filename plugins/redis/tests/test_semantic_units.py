"""Pure parts of ``redis-semantic``, tested without a server.

The ``FT.SEARCH`` path cannot run here: the machine's redis-server 7.0 has no
search module. Its command construction and reply parsing are checked against the
documented RediSearch syntax and reply shapes instead. The mirror matrix is plain
numpy and is checked directly (the real-server tests exercise it end to end).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from cachekit.testing import unit_vector
from cachekit_redis._semantic_ft import (
    create_index_args,
    doc_key,
    is_missing_index,
    parse_search_reply,
    search_args,
)
from cachekit_redis._semantic_mirror import MirrorSet, PartitionMirror, parse_record, stream_id
from redis.exceptions import ResponseError

PREFIX = "cachekit:semantic:v1:"


def vec(*components: float, dim: int = 4) -> np.ndarray:
    return np.asarray(unit_vector(*components, dim=dim), dtype=np.float32)


# -- FT.* commands ------------------------------------------------------------------------
def test_create_index_command() -> None:
    assert create_index_args(PREFIX, 384) == [
        "FT.CREATE", "cachekit:semantic:v1:idx:384",
        "ON", "HASH",
        "PREFIX", 1, "cachekit:semantic:v1:doc:384:",
        "SCHEMA",
        "p", "TAG",
        "v", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", 384, "DISTANCE_METRIC", "COSINE",
    ]  # fmt: skip


def test_search_command_filters_by_partition_and_asks_for_one_neighbour() -> None:
    blob = vec(1).tobytes()
    args = search_args(PREFIX, 4, "abc123", blob)
    assert args[:3] == [
        "FT.SEARCH",
        "cachekit:semantic:v1:idx:4",
        "@p:{abc123}=>[KNN 1 @v $q AS dist]",
    ]
    assert args[3:7] == ["PARAMS", 2, "q", blob]
    assert args[args.index("SORTBY") + 1 : args.index("SORTBY") + 3] == ["dist", "ASC"]
    assert args[args.index("LIMIT") + 1 : args.index("LIMIT") + 3] == [0, 1]
    assert args[-2:] == ["DIALECT", 2]


def test_doc_keys_embed_the_entry_key() -> None:
    assert doc_key(PREFIX, 4, "cachekit:v2:ns:completion:ab") == (
        "cachekit:semantic:v1:doc:4:cachekit:v2:ns:completion:ab"
    )


def test_parse_resp2_reply() -> None:
    reply = [1, b"cachekit:semantic:v1:doc:4:cachekit:v2:ns:k", [b"dist", b"0.25"]]
    assert parse_search_reply(reply, PREFIX, 4) == ("cachekit:v2:ns:k", 0.75)


def test_parse_resp3_reply() -> None:
    reply = {
        "total_results": 1,
        "results": [
            {
                "id": "cachekit:semantic:v1:doc:4:cachekit:v2:ns:k",
                "extra_attributes": {"dist": "0.1"},
            }
        ],
    }
    key, similarity = parse_search_reply(reply, PREFIX, 4) or ("", 0.0)
    assert key == "cachekit:v2:ns:k"
    assert similarity == pytest.approx(0.9)


def test_parse_empty_and_foreign_replies() -> None:
    assert parse_search_reply([0], PREFIX, 4) is None
    assert parse_search_reply({"total_results": 0, "results": []}, PREFIX, 4) is None
    assert parse_search_reply([1, b"other:doc", [b"dist", b"0"]], PREFIX, 4) is None
    assert parse_search_reply([1, b"cachekit:semantic:v1:doc:4:k"], PREFIX, 4) is None


def test_missing_index_errors_are_recognised() -> None:
    assert is_missing_index(ResponseError("cachekit:semantic:v1:idx:4: no such index"))
    assert is_missing_index(ResponseError("Unknown Index name"))
    assert not is_missing_index(ResponseError("unknown command 'FT.SEARCH'"))


# -- the mirror matrix ----------------------------------------------------------------------
def test_records_and_stream_ids() -> None:
    v = vec(1)
    assert parse_record(b"0:" + v.tobytes(), 4) == (math.inf, pytest.approx(v))
    deadline, _ = parse_record(b"1700000000123:" + v.tobytes(), 4) or (0.0, None)
    assert deadline == 1700000000123
    assert parse_record(b"0:" + v.tobytes()[:-1], 4) is None  # wrong length
    assert parse_record(b"junk", 4) is None
    assert stream_id(b"1700000000000-12") > stream_id("1700000000000-2")


def test_mirror_upserts_removes_and_orders_by_cursor() -> None:
    mirror = PartitionMirror(4)
    mirror.reload("g1", "1-0", {"a": (math.inf, vec(1))})
    mirror.apply("3-0", [("b", (math.inf, vec(0, 1))), ("a", None)])
    assert mirror.best(vec(1), 0.5, 0) is None
    assert mirror.best(vec(0, 1), 0.5, 0) == ("b", pytest.approx(1.0))
    mirror.apply("2-0", [("a", (math.inf, vec(1)))])  # older than what is applied: ignored
    assert mirror.best(vec(1), 0.5, 0) is None
    assert (mirror.cursor, len(mirror)) == ("3-0", 1)


def test_mirror_skips_expired_rows_and_compacts_them() -> None:
    mirror = PartitionMirror(4)
    records = {f"k{i}": (1000.0, vec(1, i / 100)) for i in range(100)}
    records["keep"] = (math.inf, vec(0, 1))
    mirror.reload("g", "1-0", records)
    assert mirror.best(vec(1), 0.5, now_ms=999)[0].startswith("k")  # type: ignore[index]
    assert mirror.best(vec(1), 0.5, now_ms=1000) is None
    assert mirror.cells == 4  # the expired rows were dropped
    assert mirror.best(vec(0, 1), 0.5, now_ms=1000) == ("keep", pytest.approx(1.0))


def test_mirror_reuses_freed_rows_and_grows() -> None:
    mirror = PartitionMirror(4)
    mirror.reload("g", "0-0", {})
    for i in range(40):
        mirror.apply(f"{i + 1}-0", [(f"k{i}", (math.inf, vec(1, i)))])
    mirror.apply("41-0", [("k0", None)])
    mirror.apply("42-0", [("new", (math.inf, vec(0, 0, 1)))])
    assert mirror.cells == 40 * 4  # the freed row was reused
    assert mirror.best(vec(0, 0, 1), 0.9, 0) == ("new", pytest.approx(1.0))


def test_mirror_set_is_bounded() -> None:
    mirrors = MirrorSet(max_partitions=2)
    first = mirrors.get("a", 4)
    second = mirrors.get("b", 4)
    assert mirrors.get("a", 4) is first  # used again: now the most recent
    mirrors.get("c", 4)  # drops "b", the least recently used
    assert mirrors.get("a", 4) is first
    assert mirrors.get("b", 4) is not second  # rebuilt from Redis when used again
