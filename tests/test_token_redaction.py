"""The bot token never reaches a log line, a traceback or a printed error, whatever a server answers."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

from bot.logs import QuietJsonErrors, RedactingFormatter, redact
from delivery.transport import BotApiTransport
from fakebot import FakeBotAPI
from storage import articles as article_repo
from tests.conftest import TEST_TOKEN, Clock, start_bot
from tests.test_cli import clean_env, newsbot

SECRET = TEST_TOKEN.split(":", 1)[1]


def assert_no_token(text: str) -> None:
    """Neither the token nor its secret half, in any case, URL-encoded or not."""
    folded = text.casefold()
    assert SECRET.casefold() not in folded, text
    assert quote(TEST_TOKEN, safe="").casefold() not in folded, text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing through the bot's formatter and filter into a buffer."""
    redact.add_secret(TEST_TOKEN)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(QuietJsonErrors())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def test_redacts_the_token_in_every_case_and_form(captured: io.StringIO) -> None:
    log = logging.getLogger("test.redaction")
    path = f"/bot{TEST_TOKEN}/getMe"
    log.warning("plain %s", path)
    log.warning("upper %s", path.upper())
    log.warning("lower %s", path.lower())
    log.warning("encoded %s", quote(path, safe="/"))
    log.warning("secret alone: %s", SECRET.swapcase())
    output = captured.getvalue()
    assert_no_token(output)
    assert output.count("<token>") == 5


def test_redacts_tracebacks_and_chained_exceptions(captured: io.StringIO) -> None:
    log = logging.getLogger("test.redaction")
    try:
        try:
            raise ValueError(f"proxy said: 404 for /BOT{TEST_TOKEN.upper()}/SENDMESSAGE")
        except ValueError as inner:
            raise RuntimeError(f"while calling /bot{TEST_TOKEN.lower()}/sendMessage") from inner
    except RuntimeError:
        log.exception("request failed")
    log.error("again", stack_info=True)
    output = captured.getvalue()
    assert "Traceback" in output and "proxy said: 404 for /BOT<token>/SENDMESSAGE" in output
    assert "while calling /bot<token>/sendMessage" in output
    assert_no_token(output)


def test_unreadable_json_is_logged_without_the_parsers_traceback(captured: io.StringIO) -> None:
    import json

    try:
        json.loads("<html>")
    except json.JSONDecodeError:
        logging.getLogger("telegram.request").error("Can not load invalid JSON data", exc_info=True)
    assert captured.getvalue().strip() == "ERROR telegram.request: Can not load invalid JSON data"


async def test_an_error_while_handling_an_update_logs_no_token(
    captured: io.StringIO, fake_api: FakeBotAPI, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def echoing_failure(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"upstream answered 502 for /BOT{TEST_TOKEN.upper()}/GETARTICLE")

    async with start_bot(fake_api, db_url, clock) as running:
        monkeypatch.setattr(article_repo, "get_article", echoing_failure)
        [apology] = await running.ask(5, "/read 1")
        assert "something went wrong" in apology.visible_text
        await fake_api.wait_for_messages(999, 1)  # the admin alert: the error handler has logged by now
    output = captured.getvalue()
    assert "RuntimeError: upstream answered 502 for /BOT<token>/GETARTICLE" in output
    assert_no_token(output)


# ------------------------------------------------------------------ `newsbot run` against servers that echo the path


def _echoing_app(mode: str) -> web.Application:
    async def answer(request: web.Request) -> web.StreamResponse:
        path = request.path
        if mode == "text-404":
            return web.Response(status=404, text=f"Not found: {path}")
        if mode == "json-400-lower":
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"no route {path.lower()}"}, status=400
            )
        if mode == "json-500":
            return web.json_response({"ok": False, "error_code": 500, "description": f"Internal: {path}"}, status=500)
        if mode == "text-502-upper":
            return web.Response(status=502, text=f"BAD GATEWAY FOR {path.upper()}")
        assert mode == "html-200"
        return web.Response(status=200, text=f"<html><body>Welcome to {path}</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


@pytest.fixture
async def echo_server(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    runner = web.AppRunner(_echoing_app(request.param), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("echo_server", "expected_code", "expected_line"),
    [
        ("text-404", 2, "newsbot: Telegram refused BOT_TOKEN; check it with @BotFather."),
        ("json-400-lower", 3, "newsbot: cannot reach the Telegram Bot API at {url}: no route /bot<token>/getme"),
        ("json-500", 3, "newsbot: cannot reach the Telegram Bot API at {url}: Internal: /bot<token>/getMe"),
        ("text-502-upper", 3, "newsbot: cannot reach the Telegram Bot API at {url}: Bad Gateway (502)."),
        (
            "html-200",
            3,
            "newsbot: the Telegram Bot API at {url} gave an answer it could not use (Invalid server response)",
        ),
    ],
    indirect=["echo_server"],
)
async def test_run_against_an_echoing_server_prints_one_line_without_the_token(
    tmp_path: Path, echo_server: str, expected_code: int, expected_line: str
) -> None:
    env = clean_env(BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=echo_server, LOG_LEVEL="DEBUG")
    code, out, err = await newsbot("run", cwd=tmp_path, env=env)
    assert code == expected_code, err
    assert "Traceback" not in out + err
    assert_no_token(out + err)
    assert err.strip().splitlines()[-1].startswith(expected_line.format(url=echo_server))


@pytest.mark.parametrize("echo_server", ["json-400-lower"], indirect=True)
async def test_bulk_sender_keeps_no_token_in_error_descriptions(echo_server: str) -> None:
    """A delivery's error is stored with it and shown by `newsbot deliveries status`."""
    transport = BotApiTransport(echo_server, TEST_TOKEN)
    try:
        result = await transport.send_message(5, "hello")
    finally:
        await transport.close()
    assert (result.status, result.description) == (400, "no route /bot<token>/sendmessage")
