"""``Cache(single_flight=...)``: validated before any I/O, and on a backend that cannot
lock, ``"distributed"`` falls back to in-process single-flight with one WARNING.
(The distributed behaviour itself runs against real redis-servers in several OS
processes: plugins/redis/tests/test_single_flight.py.)"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest
from cachekit import Cache, ConfigurationError
from cachekit.testing import FakeClock

from ._support import chat_response, plugin_manager

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "options",
    [
        {"single_flight": "cluster"},
        {"single_flight": True},
        {"single_flight": "distributed", "single_flight_lease": 0},
        {"single_flight": "distributed", "single_flight_lease": -1.0},
        {"single_flight": "distributed", "single_flight_wait": "soon"},
    ],
)
def test_bad_single_flight_options_raise_before_any_io(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="single_flight"):
        Cache(plugins=plugin_manager(), **options)


def test_process_is_the_default_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        Cache(plugins=plugin_manager())
        Cache(plugins=plugin_manager(), single_flight="process")
    assert caplog.records == []


@pytest.mark.anyio
async def test_a_backend_that_cannot_lock_falls_back_to_process_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        cache = Cache(plugins=plugin_manager(), clock=FakeClock(), single_flight="distributed")
    [record] = caplog.records
    assert "single_flight='distributed'" in record.getMessage()
    assert "'local' cannot" in record.getMessage()

    gate = anyio.Event()
    calls: list[int] = []

    async def provider(**kwargs: Any) -> Any:
        calls.append(1)
        await gate.wait()
        return chat_response(kwargs["model"], len(calls))

    acompletion = cache.cached("acompletion")(provider)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(lambda: acompletion(**REQ))
            await anyio.wait_all_tasks_blocked()
            gate.set()
    assert len(calls) == 1  # in-process single-flight still holds
    assert caplog.records == []  # warned once, at build; calls log nothing more


def test_the_url_form_takes_the_single_flight_options(caplog: pytest.LogCaptureFixture) -> None:
    url = "local://?single_flight=distributed&single_flight_lease=2.5&single_flight_wait=30"
    with caplog.at_level(logging.WARNING, logger="cachekit"):
        Cache.from_url(url, plugins=plugin_manager())
    [record] = caplog.records  # parsed and validated: local cannot lock, so it warns
    assert "single_flight='distributed'" in record.getMessage()
    with pytest.raises(ConfigurationError, match="single_flight_lease"):
        Cache.from_url("local://?single_flight_lease=-1", plugins=plugin_manager())
