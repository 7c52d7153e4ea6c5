"""The bulk sender's HTTP client against a server that answers whatever a test gives it: the body it writes by hand
is the JSON the Bot API expects, the short cut that reads only message_id never misreads an answer, and the moment
a body goes to the socket is reported (the flood window counts from it)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from delivery.transport import BotApiTransport

TOKEN = "123:secret-token"


@dataclass
class Scripted:
    """A Bot API stand-in: records each request's JSON and answers with the next scripted (status, body)."""

    url: str = ""
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    state = Scripted()

    async def handle(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        state.received.append(json.loads(await request.read()))
        status, body = state.answers.pop(0)
        return web.Response(status=status, body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/sendMessage", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def send(state: Scripted, *answers: tuple[int, bytes], **kwargs: Any) -> list[Any]:
    state.answers = list(answers)
    transport = BotApiTransport(state.url, TOKEN)
    try:
        return [await transport.send_message(**kwargs) for _ in answers]
    finally:
        await transport.close()


async def test_the_body_is_the_json_the_bot_api_expects_for_any_text(scripted: Scripted) -> None:
    text = 'Quotes " and \\ backslashes, </b> tags, ünïcödé, emoji 📰, a line\nbreak and \u2028 a separator'
    answer = (200, b'{"ok":true,"result":{"message_id":7,"date":0}}')
    await send(scripted, answer, answer, chat_id=-100123, text=text, paid_broadcast=True, message_thread_id=42)
    expected = {
        "chat_id": -100123,
        "text": text,
        "parse_mode": "HTML",
        "allow_paid_broadcast": True,
        "message_thread_id": 42,
        "link_preview_options": {"is_disabled": True},
    }
    assert scripted.received == [expected, expected]  # the second from the text's cached JSON form
    await send(scripted, answer, chat_id=5, text="plain", parse_mode=None)
    assert scripted.received[-1] == {"chat_id": 5, "text": "plain", "link_preview_options": {"is_disabled": True}}


@pytest.mark.parametrize(
    ("body", "message_id"),
    [
        (b'{"ok":true,"result":{"message_id":123,"from":{"id":1},"text":"x"}}', 123),  # Telegram's order
        (b'{ "ok": true, "result": { "message_id": 9, "date": 1 } }', 9),  # spaced out
        (b'{"result":{"date":1,"message_id":55},"ok":true}', 55),  # another order: parsed in full
    ],
)
async def test_an_accepted_message_gives_its_id(scripted: Scripted, body: bytes, message_id: int) -> None:
    [result] = await send(scripted, (200, body), chat_id=1, text="hi")
    assert result.ok and result.message_id == message_id


async def test_a_refusal_is_never_read_as_accepted(scripted: Scripted) -> None:
    refused = (
        b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3",'
        b'"parameters":{"retry_after":3},"result":{"message_id":1}}'
    )
    [result] = await send(scripted, (429, refused), chat_id=1, text="hi")
    assert not result.ok and result.status == 429 and result.retry_after == 3.0
    # A 200 whose body is not an accepted message is not taken for one either.
    [odd] = await send(scripted, (200, b'{"ok":true,"result":true}'), chat_id=1, text="hi")
    assert not odd.ok and odd.message_id is None
    # Nor an id of 5,000 digits (from a broken proxy, say): an answer, not an exception in the sender.
    huge = b'{"ok":true,"result":{"message_id":' + b"9" * 5000 + b',"date":1}}'
    [broken] = await send(scripted, (200, huge), chat_id=1, text="hi")
    assert not broken.ok and broken.status == 200 and "not JSON" in broken.description


async def test_the_write_is_reported_when_the_body_reaches_the_socket(scripted: Scripted) -> None:
    # The flood window counts a request from this report. The event loop is kept busy for 50 ms by a callback
    # queued just after the send is called: the body cannot go out before it ends, and the report must say so.
    scripted.answers = [(200, b'{"ok":true,"result":{"message_id":3,"date":0}}')]
    transport = BotApiTransport(scripted.url, TOKEN)
    written: list[float] = []
    try:
        called = time.monotonic()
        sending = asyncio.create_task(
            transport.send_message(1, "hi", on_write=lambda: written.append(time.monotonic()))
        )
        asyncio.get_running_loop().call_soon(time.sleep, 0.05)  # a stall: some other task's long step
        result = await sending
    finally:
        await transport.close()
    assert result.ok and scripted.received[0]["text"] == "hi"
    assert len(written) == 1  # once, though aiohttp has two ways to write a body
    assert written[0] - called >= 0.05


async def test_no_write_is_reported_for_a_request_that_never_left() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = BotApiTransport(f"http://127.0.0.1:{port}", TOKEN)
    written: list[float] = []
    try:
        result = await transport.send_message(1, "hi", on_write=lambda: written.append(time.monotonic()))
    finally:
        await transport.close()
    assert not result.ok and result.status is None and "network error" in result.description
    assert written == []
