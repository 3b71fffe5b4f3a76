"""Transcriptions and the Responses API through the ``openai`` SDK (issue 11, items 4
and 8): a transcription is keyed by the audio's content (not its file name, not the
file object), every ``response_format`` round-trips to the SDK's own type; a Response
and its typed stream events are replayed exactly."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from cachekit import Cache
from cachekit.testing import OpenAIServer
from openai.types.audio import Transcription, TranscriptionVerbose
from openai.types.responses import Response

from ._sdk import assert_same_result

pytestmark = pytest.mark.anyio

AUDIO = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 4
WHISPER = "whisper-1"


async def test_a_transcription_is_keyed_by_the_audio_content(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("atranscription")(aclient.audio.transcriptions.create)
    first = await create(model=WHISPER, file=("speech.wav", AUDIO))
    again = await create(model=WHISPER, file=("renamed.wav", AUDIO))
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(again) is Transcription and again == first
    other = await create(model=WHISPER, file=("speech.wav", AUDIO + b"\x00"))
    assert openai_server.count("/audio/transcriptions") == 2 and other != first
    assert cache.stats().errors == 0


async def test_an_open_audio_file_is_keyed_by_content_and_still_uploaded_whole(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(AUDIO)
    create = cache.cached("atranscription")(aclient.audio.transcriptions.create)
    with path.open("rb") as audio:
        first = await create(model=WHISPER, file=audio)
    assert openai_server.requests[-1].files["file"].content == AUDIO
    with path.open("rb") as audio:
        again = await create(model=WHISPER, file=audio)
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(again) is Transcription and again == first
    assert cache.stats().errors == 0


@pytest.mark.parametrize(
    ("response_format", "kind"),
    [("json", Transcription), ("verbose_json", TranscriptionVerbose), ("text", str)],
)
def test_each_transcription_format_round_trips_to_the_sdks_type(
    cache: Cache,
    client: openai.OpenAI,
    openai_server: OpenAIServer,
    response_format: str,
    kind: type,
) -> None:
    create = cache.cached("transcription")(client.audio.transcriptions.create)
    request = {"model": WHISPER, "file": ("a.wav", AUDIO), "response_format": response_format}
    first = create(**request)
    again = create(**request)
    assert openai_server.count("/audio/transcriptions") == 1
    assert type(first) is kind and type(again) is kind
    assert_same_result(again, first)
    assert cache.stats().errors == 0


def test_transcription_formats_are_separate_entries(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("transcription")(client.audio.transcriptions.create)
    as_json = create(model=WHISPER, file=("a.wav", AUDIO))
    as_text = create(model=WHISPER, file=("a.wav", AUDIO), response_format="text")
    assert openai_server.count("/audio/transcriptions") == 2
    assert type(as_json) is Transcription and isinstance(as_text, str)
    assert create(model=WHISPER, file=("a.wav", AUDIO), response_format="text") == as_text
    assert openai_server.count("/audio/transcriptions") == 2


async def test_a_responses_api_call_is_cached(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("aresponses")(aclient.responses.create)
    first = await create(model="gpt-4o-mini", input="Say hi", instructions="Be brief.")
    again = await create(model="gpt-4o-mini", input="Say hi", instructions="Be brief.")
    assert openai_server.count("/responses") == 1
    assert type(again) is Response and again == first
    assert again.output_text == first.output_text
    assert_same_result(again, first)
    assert cache.stats().errors == 0


async def test_a_streamed_response_is_replayed_event_for_event(
    cache: Cache, aclient: openai.AsyncOpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("aresponses")(aclient.responses.create)
    async with await create(model="gpt-4o-mini", input="Say hi", stream=True) as stream:
        miss = [event async for event in stream]
    async with await create(model="gpt-4o-mini", input="Say hi", stream=True) as replay:
        hit = [event async for event in replay]
    assert openai_server.count("/responses") == 1
    assert [type(e) for e in hit] == [type(e) for e in miss]  # each event its own class
    assert hit == miss
    assert_same_result(hit, miss)
    assert cache.stats().errors == 0


def test_a_sync_responses_stream_is_replayed(
    cache: Cache, client: openai.OpenAI, openai_server: OpenAIServer
) -> None:
    create = cache.cached("responses")(client.responses.create)
    miss = list(create(model="gpt-4o-mini", input="Say hi", stream=True))
    hit = list(create(model="gpt-4o-mini", input="Say hi", stream=True))
    assert openai_server.count("/responses") == 1
    assert [type(e) for e in hit] == [type(e) for e in miss] and hit == miss
    assert cache.stats().errors == 0
