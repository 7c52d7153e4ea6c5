"""Webhook mode end to end: the real Application behind bot/webhook.py on a loopback port, updates posted over HTTP
as Telegram posts them, replies going to the fake Bot API; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.app import HANDLED_UPDATES
from bot.webhook import MAX_BODY, SECRET_HEADER
from fakebot import FakeBotAPI
from storage import updates as update_repo
from storage.models import HandledUpdate
from storage.session import Database
from tests.conftest import TEST_TOKEN, Clock
from tests.test_cli import clean_env, newsbot
from tests.webhooks import SECRET, WEBHOOK_PATH, WEBHOOK_URL, ServedBot, sample, serve_bot

HELP_LINE = "/headlines — "


@pytest.fixture
async def served(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> AsyncIterator[ServedBot]:
    async with serve_bot(fake_api, db_url, clock) as served_bot:
        yield served_bot


async def handled_count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(HandledUpdate)) or 0)


async def test_registers_the_webhook_and_answers_a_posted_command(served: ServedBot) -> None:
    assert served.api.webhook == {
        "url": WEBHOOK_URL,
        "secret_token": SECRET,
        "allowed_updates": list(HANDLED_UPDATES),
    }
    [reply] = await served.ask(41, "/help")
    assert HELP_LINE in reply.visible_text
    # Webhook mode never polls, and never removes the webhook.
    methods = {r.method.lower() for r in served.api.requests}
    assert "getupdates" not in methods and "deletewebhook" not in methods


async def test_wrong_or_missing_secret_is_refused_and_not_handled(served: ServedBot) -> None:
    for secret in ("wrong-secret", None, SECRET + "x", ""):
        status, _ = await served.post(served.update(42, "/help"), secret=secret)
        assert status == 403
    await served.ask(43, "/help")  # handled after the refused ones were posted
    assert served.api.sent(42) == []
    assert await handled_count(served.bot.db) == 1
    scraped = await served.scrape()
    assert sample(scraped, "newsbot_webhook_requests_total", status="403") == 4


async def test_oversized_bodies_are_refused_without_reading_them_whole(served: ServedBot) -> None:
    big = b'{"update_id": 1, "message": "' + b"x" * MAX_BODY + b'"}'
    status, _ = await served.post(big)
    assert status == 413

    async def trickle() -> AsyncIterator[bytes]:  # chunked: no Content-Length to judge by
        yield b'{"update_id": 2, "message": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
    async with served.http.post(f"{served.server.url}{WEBHOOK_PATH}", data=trickle(), headers=headers) as response:
        assert response.status == 413
        assert response.headers.get("Transfer-Encoding") is None
    # A refused request costs nothing lasting: the listener still serves.
    [reply] = await served.ask(44, "/help")
    assert HELP_LINE in reply.visible_text
    assert await handled_count(served.bot.db) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"update"',
        b"{}",
        b'{"update_id": "12"}',
        b'{"update_id": true}',
        b'{"update_id": -1}',
        b'{"update_id": 7, "message": "not an object"}',
    ],
)
async def test_what_is_not_an_update_gets_400(served: ServedBot, body: bytes) -> None:
    status, _ = await served.post(body)
    assert status == 400
    assert await handled_count(served.bot.db) == 0


async def test_an_update_posted_twice_is_handled_once(served: ServedBot) -> None:
    update = served.update(45, "/help")
    first, second = await asyncio.gather(served.post(update), served.post(update))
    assert first[0] == second[0] == 200
    await served.api.wait_for_messages(45, 1)
    assert (await served.post(update))[0] == 200  # Telegram's retry, later
    await served.wait_idle()
    assert len(served.api.sent(45)) == 1
    scraped = await served.scrape()
    assert sample(scraped, "newsbot_updates_total", type="message", outcome="duplicate") == 2
    assert sample(scraped, "newsbot_updates_total", type="message", outcome="handled") == 1


async def test_healthz_says_role_and_database(served: ServedBot) -> None:
    status, text = await served.get("/healthz")
    assert status == 200
    assert json.loads(text) == {"status": "ok", "role": "leader", "database": "ok"}
    served.metrics.role_provider = lambda: "standby"  # what the leadership code plugs in
    status, text = await served.get("/healthz")
    assert json.loads(text)["role"] == "standby"


def unreachable_database_url(db_url: str, tmp_path: Path) -> str:
    """A URL of the same backend that does not answer: a closed port, or a file in a directory that is gone."""
    if db_url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp_path / 'removed' / 'newsbot.sqlite3'}"
    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test"


async def test_without_a_database_healthz_is_503_and_updates_get_500(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, tmp_path: Path
) -> None:
    down = Database.from_url(unreachable_database_url(db_url, tmp_path))
    try:
        async with serve_bot(fake_api, db_url, clock, server_db=down) as served:
            status, text = await served.get("/healthz")
            assert status == 503
            assert json.loads(text) == {"status": "unavailable", "role": "leader", "database": "unavailable"}
            # The claim cannot be made: Telegram is asked to try again later, and nothing is handled meanwhile.
            status, _ = await served.post(served.update(46, "/help"))
            assert status == 500
            await asyncio.sleep(0.2)
            assert served.api.sent(46) == []
            scraped = await served.scrape()  # still answers; the outbox count is unknown
            assert sample(scraped, "newsbot_webhook_requests_total", status="500") == 1
            assert sample(scraped, "newsbot_outbox_pending") != sample(scraped, "newsbot_outbox_pending")  # NaN
    finally:
        await down.dispose()


async def test_claims_older_than_a_day_are_forgotten(database: Database) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert await update_repo.claim_update(database, 1, now=now - timedelta(days=2))
    assert await update_repo.claim_update(database, 2, now=now - timedelta(hours=1))
    assert not await update_repo.claim_update(database, 2, now=now)
    async with database.session() as session:
        assert await update_repo.forget_handled_before(session, now - timedelta(days=1)) == 1
    assert await handled_count(database) == 1


# --- the process: settings and SIGTERM -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_refuses_a_webhook_without_a_valid_secret(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    base = {"BOT_TOKEN": TEST_TOKEN, "TELEGRAM_API_URL": fake_api.url, "WEBHOOK_URL": WEBHOOK_URL}
    code, out, err = await newsbot("run", cwd=tmp_path, env=clean_env(**base))
    assert code == 2
    assert err.strip().splitlines() == [
        "newsbot: WEBHOOK_URL is set but WEBHOOK_SECRET is not: set WEBHOOK_SECRET to 1-256 characters of "
        "A-Z a-z 0-9 _ - (e.g. the output of `openssl rand -hex 32`); see .env.example."
    ]
    bad = "s3cret=with+signs"
    code, out, err = await newsbot("run", cwd=tmp_path, env=clean_env(**base, WEBHOOK_SECRET=bad))
    assert code == 2 and "WEBHOOK_SECRET is not valid" in err and bad not in out + err
    code, out, err = await newsbot(
        "run",
        cwd=tmp_path,
        env=clean_env(**{**base, "WEBHOOK_URL": "http://bot.example.test/hook"}, WEBHOOK_SECRET=SECRET),
    )
    assert code == 2 and "WEBHOOK_URL must be an https:// URL" in err
    assert fake_api.requests == []  # nothing reached Telegram


async def test_sigterm_in_webhook_mode_finishes_and_keeps_the_webhook(
    tmp_path: Path, fake_api: FakeBotAPI, db_url: str
) -> None:
    port = free_port()
    env = clean_env(
        DATABASE_URL=db_url,
        BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_URL=fake_api.url,
        WEBHOOK_URL=f"https://127.0.0.1:{port}{WEBHOOK_PATH}",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN=f"127.0.0.1:{port}",
        LOG_LEVEL="DEBUG",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake_api.wait_for_request("setWebhook", timeout=30)
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        fake_api.latency = 0.3  # replies in flight when the signal comes
        async with aiohttp.ClientSession() as http:
            for chat_id in (51, 52, 53):
                update_id = fake_api.user_sends_text(chat_id, "/help")
                [update] = [u for u in fake_api.pending_updates if u["update_id"] == update_id]
                async with http.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response:
                    assert response.status == 200
        process.send_signal(signal.SIGTERM)
        started = asyncio.get_running_loop().time()
        _, err = await asyncio.wait_for(process.communicate(), 15)
        took = asyncio.get_running_loop().time() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log[-2000:]
    assert took < 5
    # The updates acknowledged before the signal were answered; the webhook stays for the other instances.
    assert [len(fake_api.sent(chat_id)) for chat_id in (51, 52, 53)] == [1, 1, 1]
    assert not [r for r in fake_api.requests if r.method.lower() == "deletewebhook"]
    assert fake_api.webhook is not None
    assert SECRET not in log and TEST_TOKEN.split(":")[1] not in log
    with socket.socket() as probe:  # the listener is closed
        assert probe.connect_ex(("127.0.0.1", port)) != 0


async def test_two_instances_on_one_database_handle_a_retried_update_once(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    async with serve_bot(fake_api, db_url, clock) as first, serve_bot(fake_api, db_url, clock) as second:
        update = first.update(47, "/help")
        answers = await asyncio.gather(first.post(update), second.post(update), first.post(update))
        assert [status for status, _ in answers] == [200, 200, 200]
        await fake_api.wait_for_messages(47, 1)
        await first.wait_idle()
        await second.wait_idle()
        assert len(fake_api.sent(47)) == 1
        assert await handled_count(first.bot.db) == 1


async def test_a_body_that_stops_coming_is_given_up_on(served: ServedBot) -> None:
    served.server.read_timeout = 0.3
    reader, writer = await asyncio.open_connection("127.0.0.1", served.server.port)
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{SECRET_HEADER}: {SECRET}\r\nContent-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b'{"update_id": 9, ')  # and then nothing more
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert status_line.split()[1] == b"408"
    writer.close()
    [reply] = await served.ask(48, "/help")  # meanwhile others are served as usual
    assert HELP_LINE in reply.visible_text
    assert sample(await served.scrape(), "newsbot_webhook_requests_total", status="408") == 1


def test_listen_addresses_and_the_secret_rules() -> None:
    from bot.settings import Listen, WebhookSettingsError, load_settings

    assert Listen.parse("127.0.0.1:9100") == Listen("127.0.0.1", 9100)
    assert Listen.parse(":8443") == Listen("0.0.0.0", 8443)
    assert Listen.parse("[::1]:8080") == Listen("::1", 8080)
    for bad in ("8080", "host:", "host:99999", "host:http"):
        with pytest.raises(ValueError, match="is not host:port"):
            Listen.parse(bad)
    settings = load_settings(_env_file=None, webhook_url=WEBHOOK_URL, webhook_secret="a" * 256)
    webhook = settings.webhook()
    assert webhook is not None and webhook.path == WEBHOOK_PATH and webhook.listen == Listen("0.0.0.0", 8080)
    for secret in ("a" * 257, "with space", "ümlaut", "semi;colon"):
        with pytest.raises(WebhookSettingsError) as refused:
            load_settings(_env_file=None, webhook_url=WEBHOOK_URL, webhook_secret=secret).webhook()
        assert secret not in str(refused.value)
    assert load_settings(_env_file=None).webhook() is None


async def test_a_webhook_telegram_refuses_stops_the_start_with_a_clear_error(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    from bot.app import build_application, metrics_of
    from bot.runner import running
    from bot.settings import Listen, Webhook, WebhookSettingsError
    from bot.webhook import WebhookServer
    from tests.conftest import make_settings

    db = Database.from_url(db_url)
    application = build_application(make_settings(fake_api, db_url), db, clock=clock)
    # Past our settings' checks (built by hand), so that it is Telegram (the fake) that refuses it.
    port = free_port()
    hook = Webhook(WEBHOOK_URL, WEBHOOK_PATH, "not allowed!", Listen("127.0.0.1", port))
    server = WebhookServer(application, db, metrics_of(application), listen=hook.listen, webhook=hook)
    try:
        with pytest.raises(WebhookSettingsError, match="Telegram refused WEBHOOK_URL .*unallowed characters"):
            async with running(application, server=server):
                pass
    finally:
        await db.dispose()
    with socket.socket() as probe:  # the listener was closed
        assert probe.connect_ex(("127.0.0.1", port)) != 0
