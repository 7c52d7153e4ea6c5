"""How posts link articles: /read_<id> commands in private chats; in channels and groups, where a command cannot
be tapped (a channel) or would answer everyone (a group), t.me links that open the article in the bot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BotLinks:
    """The bot's username, once Telegram has told it (getMe at start); shared by bulletins and alerts."""

    username: str | None = None

    def for_chat(self, chat_type: str) -> str | None:
        """The username to link to in this kind of chat; None: use /read_<id> commands."""
        return None if chat_type == "private" else self.username
