"""The key layout: reversible, S3-safe, prefix-preserving (no server needed)."""

from __future__ import annotations

import re
import string

import pytest
from cachekit_s3 import KeyLayout
from hypothesis import given
from hypothesis import strategies as st

SAFE = re.compile(r"[A-Za-z0-9_.!\-]+")
NAMESPACES = st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True)
TEXT = st.text(max_size=30)
layouts = st.sampled_from([KeyLayout(""), KeyLayout("llm-cache"), KeyLayout("/a/b//c/")])


def check_safe(layout: KeyLayout, object_key: str) -> None:
    assert object_key.startswith(layout.base)
    segments = object_key[len(layout.base) :].split("/")
    assert len(segments) == 2
    for segment in segments:
        assert SAFE.fullmatch(segment), segment
        assert not segment.startswith(".")  # no "", ".", ".." or hidden segments


@pytest.mark.parametrize(
    ("key", "object_key"),
    [
        ("cachekit:v2:default:completion:9f86d0", "llm/default/completion.9f86d0"),
        ("cachekit:v2:team.a:user:42/profile", "llm/team.a/user.42!2Fprofile"),
        ("cachekit:v2:default:config.json", "llm/default/config!2Ejson"),
        ("cachekit:v2:..:x", "llm/!2E./x"),
        ("cachekit:v2:ns::leading", "llm/ns/!3Aleading"),
        ("cachekit:v2:ns:", "llm/ns/!"),
        ("cachekit:v2::k", "llm/!/k"),
        ("cachekit:v2:ns:snow ☃", "llm/ns/snow!20!E2!98!83"),
        ("plain-key", "llm/!raw/plain-key"),
        ("cachekit:v2:no-colon", "llm/!raw/cachekit.v2.no-colon"),
    ],
)
def test_examples(key: str, object_key: str) -> None:
    layout = KeyLayout("llm")
    assert layout.object_key(key) == object_key
    assert layout.core_key(object_key) == key


@given(layout=layouts, namespace=NAMESPACES, rest=TEXT)
def test_cachekit_keys_round_trip_and_are_s3_safe(
    layout: KeyLayout, namespace: str, rest: str
) -> None:
    key = f"cachekit:v2:{namespace}:{rest}"
    object_key = layout.object_key(key)
    check_safe(layout, object_key)
    assert layout.core_key(object_key) == key


@given(layout=layouts, key=TEXT)
def test_any_key_round_trips(layout: KeyLayout, key: str) -> None:
    object_key = layout.object_key(key)
    check_safe(layout, object_key)
    assert layout.core_key(object_key) == key


@given(layout=layouts, namespace=NAMESPACES, rest=TEXT, cut=st.integers(min_value=0))
def test_every_prefix_maps_to_a_listing_prefix_of_the_object_key(
    layout: KeyLayout, namespace: str, rest: str, cut: int
) -> None:
    key = f"cachekit:v2:{namespace}:{rest}"
    prefix = key[: cut % (len(key) + 1)]
    assert layout.object_key(key).startswith(layout.listing_prefix(prefix))


def test_a_namespace_prefix_lists_only_that_namespace() -> None:
    layout = KeyLayout("llm")
    assert layout.listing_prefix("cachekit:v2:team-a:") == "llm/team-a/"
    assert layout.listing_prefix("cachekit:v2:team-a:user:") == "llm/team-a/user."
    assert layout.listing_prefix("other") == "llm/!raw/other"


@pytest.mark.parametrize(
    "object_key",
    [
        "llm/ns/has space",
        "llm/ns/a/b",
        "llm/ns/lower!2f",
        "llm/ns/!2",
        "llm/ns/!C3",  # a lone UTF-8 lead byte
        "llm/.hidden/k",
        "llm/ns/.x",
        "llm/!raw/cachekit.v2.ns.k",  # would be stored as llm/ns/k
        "llm/ns",
        "other/ns/k",
    ],
)
def test_objects_cachekit_did_not_write_are_not_keys(object_key: str) -> None:
    assert KeyLayout("llm").core_key(object_key) is None


def test_only_documented_characters_are_emitted() -> None:
    every_ascii = "".join(chr(i) for i in range(128))
    object_key = KeyLayout().object_key(f"cachekit:v2:ns:{every_ascii}")
    assert set(object_key) <= set(string.ascii_letters + string.digits + "-_.!/")
