"""A fake Telegram Bot API HTTP server for tests and benchmarks.

    async with FakeBotAPI() as api:
        application = ApplicationBuilder().token("1:abc").base_url(f"{api.url}/bot")
            .base_file_url(f"{api.url}/file/bot").build()
        api.user_sends_text(42, "/start")
        [reply] = await api.wait_for_messages(42, 1)

Run it alone with ``python -m fakebot --port 8081`` (see ``__main__``).
"""

from .html import EntityParseError, ParsedText, parse_html, utf16_len
from .records import (
    FAULT_KINDS,
    CallbackAnswer,
    Fault,
    FaultKind,
    JSONDict,
    MessageEdit,
    RequestRecord,
    SentMessage,
)
from .server import MAX_MESSAGE_LENGTH, FakeBotAPI

__all__ = [
    "FAULT_KINDS",
    "MAX_MESSAGE_LENGTH",
    "CallbackAnswer",
    "EntityParseError",
    "FakeBotAPI",
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
