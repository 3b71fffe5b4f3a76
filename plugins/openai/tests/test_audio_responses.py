"""Transcriptions and the Responses API through a wrapped client: transcriptions
keyed by the audio's content and returned as the SDK's type for every format; a
``Response`` and its typed stream events replayed exactly, sync and async."""

from __future__ import annotations

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from cachekit_openai import wrap
from openai.types.audio import Transcription, TranscriptionVerbose
from openai.types.responses import Response, ResponseCompletedEvent

from ._support import AUDIO, same

pytestmark = pytest.mark.anyio

WHISPER = "whisper-1"


async def test_async_transcription_is_keyed_by_the_audio_content(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    first = await wrapped.audio.transcriptions.create(model=WHISPER, file=("a.wav", AUDIO))
    again = await wrapped.audio.transcriptions.create(model=WHISPER, file=("b.wav", AUDIO))
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(first) is Transcription and same(again, first)
    other = await wrapped.audio.transcriptions.create(model=WHISPER, file=("a.wav", AUDIO + b"!"))
    assert openai_server.count("/audio/transcriptions") == 2 and other != first
    assert cache.stats().errors == 0


@pytest.mark.parametrize(
    ("response_format", "kind"),
    [("json", Transcription), ("verbose_json", TranscriptionVerbose), ("text", str)],
)
def test_sync_transcription_formats_round_trip(
    cache: Cache,
    client: openai.OpenAI,
    openai_server: OpenAIServer,
    response_format: str,
    kind: type,
) -> None:
    wrapped = wrap(client, cache)
    request = {"model": WHISPER, "file": ("a.wav", AUDIO), "response_format": response_format}
    first = wrapped.audio.transcriptions.create(**request)
    again = wrapped.audio.transcriptions.create(**request)
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(first) is kind and same(again, first)
    assert cache.stats().errors == 0


def test_translations_and_speech_pass_through_uncached(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    # Only audio.transcriptions is cached; the rest of client.audio is the client's own.
    assert wrapped.audio.translations is client.audio.translations
    assert wrapped.audio.speech is client.audio.speech


async def test_async_responses_create_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    request = {"model": "gpt-4o-mini", "input": "Say hi", "instructions": "Be brief."}
    first = await wrapped.responses.create(**request)
    again = await wrapped.responses.create(**request)
    assert openai_server.count("/responses") == 1
    assert type(first) is Response and same(again, first)
    assert again.output_text == first.output_text
    assert cache.stats().errors == 0


def test_sync_responses_create_is_cached(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    first = wrapped.responses.create(model="gpt-4o-mini", input="Say hi")
    again = wrapped.responses.create(model="gpt-4o-mini", input="Say hi")
    assert openai_server.count("/responses") == 1
    assert type(first) is Response and same(again, first)
    assert cache.stats().errors == 0


async def test_async_responses_stream_is_replayed_event_for_event(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(aclient, cache)
    request = {"model": "gpt-4o-mini", "input": "Say hi", "stream": True}
    async with await wrapped.responses.create(**request) as stream:
        miss = [event async for event in stream]
    async with await wrapped.responses.create(**request) as replay:
        hit = [event async for event in replay]
    assert openai_server.count("/responses") == 1
    assert [type(e) for e in hit] == [type(e) for e in miss] and hit == miss
    assert isinstance(hit[-1], ResponseCompletedEvent)
    assert hit[-1].response.output_text == miss[-1].response.output_text
    assert cache.stats().errors == 0


def test_sync_responses_stream_is_replayed(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    wrapped = wrap(client, cache)
    with wrapped.responses.create(model="gpt-4o-mini", input="Say hi", stream=True) as stream:
        miss = list(stream)
    with wrapped.responses.create(model="gpt-4o-mini", input="Say hi", stream=True) as replay:
        hit = list(replay)
    assert openai_server.count("/responses") == 1
    assert [type(e) for e in hit] == [type(e) for e in miss] and hit == miss
    assert cache.stats().errors == 0
