"""``cachekit.testing.OpenAIServer`` itself: every answer is a shape the installed
``openai`` SDK parses into its own models (and validates field by field, as a cache
rebuilding a stored answer would), requests are recorded and counted, faults injected."""

from __future__ import annotations

import base64
import json
import struct
import threading
import urllib.error
import urllib.request
from typing import Any

import openai
import pydantic
import pytest
from cachekit.testing import OPENAI_TEST_KEY, OpenAIServer
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.audio import Transcription, TranscriptionVerbose
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from openai.types.responses import Response, ResponseStreamEvent

from ._sdk import CHAT, TOOLS, Weather

STREAM_EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


def post(server: OpenAIServer, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def sse(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [
        line.removeprefix("data: ")
        for line in raw.decode().splitlines()
        if line.startswith("data: ")
    ]


def test_a_chat_completion_validates_as_the_sdks_model_and_each_call_is_distinct(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    status, raw = post(openai_server, "/chat/completions", CHAT)
    assert status == 200
    strict = ChatCompletion.model_validate_json(raw)
    first = client.chat.completions.create(**CHAT)
    second = client.chat.completions.create(**CHAT)
    assert type(first) is ChatCompletion and first._request_id == f"req_{first.id.split('-')[1]}"
    assert first.choices[0].message.content and first.choices[0].finish_reason == "stop"
    assert len({strict.id, first.id, second.id}) == 3
    assert first.choices[0].message.content != second.choices[0].message.content


def test_a_chat_stream_sends_role_content_finish_and_usage_chunks_then_done(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    _, raw = post(openai_server, "/chat/completions", body)
    payloads = sse(raw)
    assert payloads[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(p) for p in payloads[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks[:-1]].count("stop") == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3
    assert text.startswith("Answer ")

    with client.chat.completions.create(**body) as stream:
        received = list(stream)
    assert all(type(c) is ChatCompletionChunk for c in received)
    assert len(received) == len(chunks) and received[0].id != chunks[0].id


def test_tools_give_a_tool_call_whose_arguments_are_split_across_chunks(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    whole = client.chat.completions.create(**CHAT, tools=TOOLS)
    call = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls" and call
    assert call[0].function.name == "get_weather"
    assert json.loads(call[0].function.arguments).keys() == {"city", "celsius"}

    chunks = list(client.chat.completions.create(**CHAT, tools=TOOLS, stream=True))
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
    assert len(deltas) >= 3
    assert deltas[0][0].id and deltas[0][0].function and deltas[0][0].function.name
    arguments = "".join((d[0].function.arguments or "") for d in deltas if d[0].function)
    assert json.loads(arguments).keys() == {"city", "celsius"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_parse_gets_content_valid_for_the_pydantic_schema(client: openai.OpenAI) -> None:
    parsed = client.chat.completions.parse(**CHAT, response_format=Weather)
    assert isinstance(parsed, ParsedChatCompletion)
    weather = parsed.choices[0].message.parsed
    assert isinstance(weather, Weather) and weather.conditions


def test_legacy_completions_answer_whole_and_streamed(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}
    _, raw = post(openai_server, "/completions", body)
    assert Completion.model_validate_json(raw).choices[0].text
    chunks = list(
        client.completions.create(**body, stream=True, stream_options={"include_usage": True})
    )
    assert all(type(c) is Completion for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_embeddings_are_deterministic_per_text_as_floats_or_base64(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    _, raw = post(openai_server, "/embeddings", {"model": "e", "input": ["a", "b"]})
    strict = CreateEmbeddingResponse.model_validate_json(raw)
    floats = client.embeddings.create(model="e", input=["a", "b"], encoding_format="float")
    assert floats.data == strict.data and floats.data[0].embedding != floats.data[1].embedding
    encoded = client.embeddings.create(model="e", input=["b"], encoding_format="base64")
    b64 = encoded.data[0].embedding
    assert isinstance(b64, str)
    assert list(struct.unpack("<8f", base64.b64decode(b64))) == floats.data[1].embedding
    default = client.embeddings.create(model="e", input="b")  # the SDK asks for base64
    assert openai_server.requests[-1].json["encoding_format"] == "base64"
    assert default.data[0].embedding == floats.data[1].embedding
    wide = client.embeddings.create(model="e", input="b", dimensions=40, encoding_format="float")
    assert len(wide.data[0].embedding) == 40


def test_transcriptions_record_the_upload_and_answer_each_format(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    audio = b"RIFF\x00\x01\r\n\xffWAVE" * 10
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", audio))
    assert type(text) is Transcription and "130 bytes" in text.text
    upload = openai_server.requests[-1].files["file"]
    assert upload.content == audio and upload.filename == "a.wav"
    assert openai_server.requests[-1].form["model"] == "whisper-1"
    plain = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", audio), response_format="text"
    )
    assert isinstance(plain, str) and "130 bytes" in plain
    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=("a.wav", audio), response_format="verbose_json"
    )
    assert type(verbose) is TranscriptionVerbose and verbose.segments
    TranscriptionVerbose.model_validate(verbose.model_dump())


def test_responses_answer_a_response_and_typed_stream_events(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    _, raw = post(openai_server, "/responses", {"model": "gpt-4o-mini", "input": "hi"})
    assert Response.model_validate_json(raw).output_text.startswith("Response ")
    events = [
        STREAM_EVENTS.validate_json(p)
        for p in sse(
            post(openai_server, "/responses", {"model": "m", "input": "hi", "stream": True})[1]
        )
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    with client.responses.create(model="gpt-4o-mini", input="hi", stream=True) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") >= 3


@pytest.mark.anyio
async def test_the_async_client_streams_with_the_sdk_interface(
    openai_server: OpenAIServer, aclient: openai.AsyncOpenAI
) -> None:
    async with await aclient.chat.completions.create(**CHAT, stream=True) as stream:
        chunks = [chunk async for chunk in stream]
        assert stream.response.status_code == 200
    assert all(type(c) is ChatCompletionChunk for c in chunks)
    assert openai_server.count("/chat/completions") == 1


def test_requests_are_recorded_counted_and_reset(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    client.chat.completions.create(**CHAT, temperature=0, extra_query={"trace": "t1"})
    client.embeddings.create(model="e", input="x", encoding_format="float")
    first = openai_server.requests[0]
    assert (first.method, first.path, first.status) == ("POST", "/v1/chat/completions", 200)
    assert (
        first.json["temperature"] == 0
        and first.headers["authorization"] == f"Bearer {OPENAI_TEST_KEY}"
    )
    assert first.query == "trace=t1"
    assert openai_server.count("/chat/completions") == 1
    assert openai_server.count("/embeddings") == 1 and openai_server.count() == 2
    openai_server.reset()
    assert openai_server.requests == [] and openai_server.count() == 0


def test_fail_next_answers_with_an_openai_error_then_recovers(
    openai_server: OpenAIServer, client: openai.OpenAI
) -> None:
    openai_server.fail_next(503, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(**CHAT)
        assert caught.value.status_code == 503 and "injected" in caught.value.message
    assert type(client.chat.completions.create(**CHAT)) is ChatCompletion
    assert [r.status for r in openai_server.requests] == [503, 503, 200]
    openai_server.fail_next(429)
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="e", input="x")
    with pytest.raises(ValueError, match="4xx/5xx"):
        openai_server.fail_next(200)


def test_held_requests_arrive_but_are_answered_only_after_release(
    openai_server: OpenAIServer,
) -> None:
    answers: list[tuple[int, bytes]] = []
    openai_server.hold()
    caller = threading.Thread(
        target=lambda: answers.append(
            post(openai_server, "/embeddings", {"model": "e", "input": "x"})
        )
    )
    caller.start()
    openai_server.wait_for_requests(1)  # arrived, held: in flight
    assert openai_server.arrivals == 1
    assert openai_server.count() == 0 and answers == []
    openai_server.release()
    caller.join()
    assert [status for status, _ in answers] == [200]
    [recorded] = openai_server.requests
    assert recorded.received_at > 0
    openai_server.reset()
    assert openai_server.arrivals == 0
    with pytest.raises(TimeoutError):
        openai_server.wait_for_requests(1, timeout=0.05)


def test_an_unknown_route_is_an_openai_style_404(openai_server: OpenAIServer) -> None:
    status, raw = post(openai_server, "/images/generations", {"prompt": "x"})
    assert status == 404 and "no route" in json.loads(raw)["error"]["message"]


def test_the_server_starts_and_closes_idempotently() -> None:
    server = OpenAIServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.base_url  # noqa: B018
    with server:
        assert server.start() is server
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        with openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0) as c:
            assert c.models is not None and c.embeddings.create(model="e", input="x").data
    server.close()
