"""A typed hit: the real OpenAI SDK's ``ChatCompletion`` rebuilt from the cache.

``cache.cached("acompletion")(AsyncOpenAI(...).chat.completions.create)`` over
``Cache(type="local")``, answered from the cache (the client never sends a request:
its base URL points at a closed port, so a miss would fail loudly). The hit derives
the key of a ~1 KB request, reads the entry and validates the stored bytes into a
``ChatCompletion`` (the type comes from the SDK method's return annotation).

Floor (issues 11 and 17): ``ChatCompletion.model_validate_json`` of the stored bytes
— the rebuild a typed hit cannot avoid — plus the ``sha256(orjson.dumps(...))`` key
floor; the bare ``model_validate_json`` is shown too. LiteLLM's ``acompletion`` hit
(its ``ModelResponse``) is the peer. Targets: ≤ 1.3x the floor (issue 17; issue 11
asked ≤ 1.5x).
"""

from __future__ import annotations

import hashlib
import json

from benchmarks.harness import Ctx, Op, Target, Workload
from benchmarks.workloads.keys import request_kwargs
from benchmarks.workloads.llm_calls import ANSWER, RESPONSE

ORDER = 52


def build(ctx: Ctx) -> None:
    import orjson
    from openai.types.chat import ChatCompletion

    kwargs = request_kwargs(1024)
    stored = json.dumps(RESPONSE).encode()
    expected = ChatCompletion.model_validate_json(stored)

    ctx.add(
        "ChatCompletion.model_validate_json(stored bytes)",
        lambda: lambda: ChatCompletion.model_validate_json(stored),
        expect=expected,
    )

    def floor() -> Op:
        store = {
            hashlib.sha256(orjson.dumps(kwargs, option=orjson.OPT_SORT_KEYS)).hexdigest(): stored
        }
        sha256, dumps, option = hashlib.sha256, orjson.dumps, orjson.OPT_SORT_KEYS
        validate = ChatCompletion.model_validate_json
        return lambda: validate(store[sha256(dumps(kwargs, option=option)).hexdigest()])

    ctx.add("key floor + dict get + model_validate_json", floor, floor=True, expect=expected)

    def cachekit_op() -> Op:
        import openai
        from cachekit import Cache

        client = openai.AsyncOpenAI(
            base_url="http://127.0.0.1:9/v1", api_key="sk-bench", max_retries=0
        )
        cache = Cache(type="local")
        ctx.defer(cache.aclose)
        ctx.run(cache.async_add_cache(expected, **kwargs))
        create = cache.cached("acompletion")(client.chat.completions.create)
        return lambda: create(**kwargs)

    ctx.add(
        "cachekit cached(AsyncOpenAI().chat.completions.create) hit",
        cachekit_op,
        targeted=True,
        expect=expected,
        note="returns a ChatCompletion equal to the stored one",
    )

    def litellm_op() -> Op:
        from benchmarks import peers

        litellm = peers.module("litellm")
        previous = litellm.cache
        litellm.cache = litellm.Cache(type="local")
        ctx.defer(lambda: setattr(litellm, "cache", previous))
        ctx.run(litellm.acompletion(**kwargs, mock_response=ANSWER, caching=True))
        worker = peers.module("litellm.litellm_core_utils.logging_worker")
        ctx.defer(worker.GLOBAL_LOGGING_WORKER.stop)
        return lambda: litellm.acompletion(**kwargs, mock_response=ANSWER, caching=True)

    ctx.add(
        "LiteLLM acompletion(mock_response=…) hit",
        litellm_op,
        note="litellm.cache = Cache(type='local'); returns a ModelResponse",
    )


WORKLOADS = [
    Workload(
        "typed hit: ChatCompletion through the OpenAI SDK, 1 KB messages",
        build=build,
        target=Target("≤ 1.3x floor", ratio_max=1.3),
    )
]
