"""A fake Telegram Bot API HTTP server for tests and benchmarks.

    async with FakeBotAPI() as api:
        application = ApplicationBuilder().token("1:abc").base_url(f"{api.url}/bot")
            .base_file_url(f"{api.url}/file/bot").build()
        api.user_sends_text(42, "/start")
        [reply] = await api.wait_for_messages(42, 1)

Run it alone with ``python -m fakebot --port 8081`` (see ``__main__``).

A development package: installed with the project (``pip install -e '.[test]'``) so that tests and ``bench/``
import it alike; the bot's own packages never import it. Modules: ``server`` (``FakeBotAPI``, start/stop),
``routes`` (the aiohttp routes and one handler per Bot API method), ``faults`` (injected failures, flood limits,
held sends), ``state`` (chats, messages, updates queue, records, user actions, waiting), ``html`` (validation of
Telegram's HTML parse mode), ``protocol`` (error answers, parameter decoding), ``records`` (what tests assert on).
"""

from .faults import FAULT_KINDS, Fault, FaultKind
from .html import EntityParseError, ParsedText, parse_html, utf16_len
from .records import CallbackAnswer, InlineAnswer, InlineResult, JSONDict, MessageEdit, RequestRecord, SentMessage
from .server import MAX_MESSAGE_LENGTH, FakeBotAPI

__all__ = [
    "FAULT_KINDS",
    "MAX_MESSAGE_LENGTH",
    "CallbackAnswer",
    "EntityParseError",
    "FakeBotAPI",
    "InlineAnswer",
    "InlineResult",
    "Fault",
    "FaultKind",
    "JSONDict",
    "MessageEdit",
    "ParsedText",
    "RequestRecord",
    "SentMessage",
    "parse_html",
    "utf16_len",
]
