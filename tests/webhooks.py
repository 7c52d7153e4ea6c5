"""The real bot behind its own HTTP listener (bot/webhook.py) on a free loopback port, and a client posting to it as
Telegram does. Updates are made by the fake Bot API's user actions (so the chats exist there) and then posted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.app import build_application, metrics_of
from bot.metrics import Metrics
from bot.runner import running
from bot.settings import Listen, Webhook
from bot.webhook import SECRET_HEADER, WebhookServer
from fakebot import FakeBotAPI
from handlers.context import SERVICES_KEY
from storage.session import Database
from tests.conftest import Clock, RunningBot, make_settings, wait_until_handled

SECRET = "test-secret_0123456789-abcdef"
WEBHOOK_URL = "https://bot.example.test/telegram/hook"
WEBHOOK_PATH = "/telegram/hook"


@dataclass
class ServedBot:
    bot: RunningBot
    server: WebhookServer
    http: aiohttp.ClientSession

    @property
    def api(self) -> FakeBotAPI:
        return self.bot.api

    @property
    def metrics(self) -> Metrics:
        return self.server.metrics

    def update(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """A text message update from a user, as Telegram would post it."""
        update_id = self.api.user_sends_text(chat_id, text, **kwargs)
        [update] = [u for u in self.api.pending_updates if u["update_id"] == update_id]
        return update

    async def post(
        self, body: bytes | Mapping[str, Any], *, secret: str | None = SECRET, headers: Mapping[str, str] = {}
    ) -> tuple[int, str]:
        """POST to the webhook's path; (status, body text)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **headers}
        if secret is not None:
            sent[SECRET_HEADER] = secret
        async with self.http.post(f"{self.server.url}{WEBHOOK_PATH}", data=data, headers=sent) as response:
            return response.status, await response.text()

    async def ask(self, chat_id: int, text: str, *, count: int = 1) -> list[Any]:
        """Post `text` from `chat_id` and return the bot's new messages to that chat (at least `count`)."""
        before = len(self.api.sent(chat_id))
        status, _ = await self.post(self.update(chat_id, text))
        assert status == 200
        messages = await self.api.wait_for_messages(chat_id, before + count)
        return messages[before:]

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Until every update taken so far has been handled (the fake's queue plays no part in webhook mode)."""
        await wait_until_handled(self.bot.application, timeout)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(f"{self.server.url}{path}") as response:
            return response.status, await response.text()

    async def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """GET /metrics, parsed: (sample name, labels) -> value."""
        status, text = await self.get("/metrics")
        assert status == 200
        return parse_metrics(text)


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(scraped: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """A sample's value, 0 when absent."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


@asynccontextmanager
async def serve_bot(
    fake_api: FakeBotAPI,
    db_url: str,
    clock: Clock,
    *,
    webhook: bool = True,
    server_db: Database | None = None,
    **overrides: object,
) -> AsyncIterator[ServedBot]:
    """The real Application with a listener on 127.0.0.1 (a free port): the webhook's (long polling stays off), or
    with `webhook=False` the metrics listener beside long polling. `server_db`: the database the listener uses (the
    bot keeps a working one)."""
    settings = make_settings(fake_api, db_url, **overrides)
    db = Database.from_url(db_url)
    application = build_application(settings, db, clock=clock)
    hook = Webhook(WEBHOOK_URL, WEBHOOK_PATH, SECRET, Listen("127.0.0.1", 0)) if webhook else None
    server = WebhookServer(
        application, server_db or db, metrics_of(application), listen=Listen("127.0.0.1", 0), webhook=hook, clock=clock
    )
    try:
        async with running(application, server=server), aiohttp.ClientSession() as http:
            running_bot = RunningBot(fake_api, db, application.bot_data[SERVICES_KEY], clock, application)
            yield ServedBot(running_bot, server, http)
    finally:
        await db.dispose()
