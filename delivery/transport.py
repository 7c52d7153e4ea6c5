"""A lean Bot API client for bulk sending.

python-telegram-bot builds a full `Message` object from every reply and runs each request through httpx;
that costs about 3.7 ms of CPU per message here (see PERF-NOTES). Bulletins need only the message_id back,
so the sender posts JSON over aiohttp's keep-alive pool and reads the one field it needs. Replies to users
keep going through python-telegram-bot.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractStreamWriter

from model.secrets import Redactor

_JSON_BODY = {"Content-Type": "application/json"}
# The start of an accepted sendMessage's answer. The Bot API puts message_id first in the Message; the sender needs
# nothing else, and parsing the whole answer (the message's text and entities again) cost ~40 us a send. Any other
# shape is parsed in full.
_ACCEPTED = re.compile(rb'\{\s*"ok"\s*:\s*true\s*,\s*"result"\s*:\s*\{\s*"message_id"\s*:\s*(\d{1,19})\s*,')


@functools.lru_cache(maxsize=64)
def _json_text(text: str) -> bytes:
    return json.dumps(text).encode()


@dataclass(slots=True, frozen=True)
class SendResult:
    """What Telegram answered, reduced to what the sender acts on."""

    message_id: int | None = None  # set when the message was accepted
    status: int | None = None  # HTTP status; None when no answer arrived (network error, timeout)
    description: str = ""
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.message_id is not None


class _ReportingBody(aiohttp.BytesPayload):
    """A request body that calls `on_write` at the moment it is handed to the socket.

    That moment is when Telegram's count of the request starts (plus the way there). It can come well after the
    call that made the request: aiohttp (on Python 3.11) writes the body from a task of its own, which runs after
    whatever else is ready on the event loop. A flood window counting the call's moment let the real writes of
    1,001 requests fall within a second whenever the loop stalled in between (bench/broadcast_bench.py --arrivals).
    """

    def __init__(self, value: bytes, on_write: Callable[[], None]) -> None:
        super().__init__(value, content_type="application/json")
        self._on_write: Callable[[], None] | None = on_write

    def _report(self) -> None:
        if self._on_write is not None:  # once, whichever of the two aiohttp calls
            self._on_write()
            self._on_write = None

    async def write(self, writer: AbstractStreamWriter) -> None:
        self._report()
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self._report()
        await super().write_with_length(writer, content_length)


class BotApiTransport:
    def __init__(self, api_url: str, token: str, *, connections: int = 32, timeout: float = 15.0) -> None:
        self._endpoint = f"{api_url.rstrip('/')}/bot{token}/"
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        # Error descriptions are stored with the delivery and may be printed; a proxy may echo the URL into them.
        self._redact = Redactor()
        self._redact.add_secret(token)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                timeout=self._timeout,
                json_serialize=json.dumps,
                # The Bot API sets no cookies and sends no compressed bodies unasked: skipping the cookie jar's
                # filtering and the decompression check saves CPU on every one of a broadcast's requests.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        paid_broadcast: bool = False,
        message_thread_id: int | None = None,
        on_write: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send one message. `on_write` is called when the request's body goes to the socket (never, when the
        request fails before that)."""
        # The body is written by hand around the text's JSON form, which is encoded once per distinct text: a
        # broadcast sends one text to thousands of chats, and json.dumps of ~3 KB was a tenth of a send's CPU.
        head = f'{{"chat_id":{int(chat_id)},'
        if message_thread_id:
            head += f'"message_thread_id":{int(message_thread_id)},'
        if parse_mode:
            head += f'"parse_mode":{json.dumps(parse_mode)},'
        if paid_broadcast:
            head += '"allow_paid_broadcast":true,'
        body = b"".join((head.encode(), b'"link_preview_options":{"is_disabled":true},"text":', _json_text(text), b"}"))
        return await self._post("sendMessage", body, on_write)

    async def _post(self, method: str, body: bytes, on_write: Callable[[], None] | None = None) -> SendResult:
        data = body if on_write is None else _ReportingBody(body, on_write)
        try:
            async with self._client().post(self._endpoint + method, data=data, headers=_JSON_BODY) as response:
                status = response.status
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # Never include the URL: it carries the token.
            return SendResult(description=f"network error: {type(exc).__name__}")
        if status == 200 and (accepted := _ACCEPTED.match(body)) is not None:
            return SendResult(message_id=int(accepted[1]), status=status)
        try:
            answer = json.loads(body)
        except ValueError:
            return SendResult(status=status, description=f"HTTP {status} with a body that is not JSON")
        if answer.get("ok") and isinstance(answer.get("result"), dict):
            return SendResult(message_id=int(answer["result"]["message_id"]), status=status)
        parameters = answer.get("parameters") or {}
        return SendResult(
            status=int(answer.get("error_code") or status),
            description=self._redact(str(answer.get("description") or f"HTTP {status}")),
            retry_after=float(parameters["retry_after"]) if parameters.get("retry_after") is not None else None,
            migrate_to_chat_id=int(parameters["migrate_to_chat_id"]) if parameters.get("migrate_to_chat_id") else None,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
