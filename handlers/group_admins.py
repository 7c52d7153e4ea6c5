"""Who may change a group's settings: its administrators (and anonymous admins, who post as the group itself).

Telegram is asked with getChatMember; the answer is kept for a few minutes per (group, user), so a busy group
does not cost a request per command. A button press asks again: buttons stay under a message for days, and
whoever pressed one may have lost their rights since.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Bot, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})
ADMIN_STATUSES = frozenset({ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR})
CACHE_SECONDS = 300.0
MAX_CACHED = 10_000  # entries kept before the oldest are dropped


@dataclass
class GroupAdmins:
    """getChatMember answers, cached for `ttl` seconds."""

    ttl: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _known: dict[tuple[int, int], tuple[bool, float]] = field(default_factory=dict)

    async def is_admin(self, bot: Bot, chat_id: int, user_id: int, *, fresh: bool = False) -> bool:
        key = (chat_id, user_id)
        now = self.clock()
        cached = self._known.get(key)
        if cached is not None and not fresh and cached[1] > now:
            return cached[0]
        try:
            member = await bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False  # not a member Telegram knows of, or the bot cannot see the group: no rights
        admin = member.status in ADMIN_STATUSES
        if len(self._known) >= MAX_CACHED:
            for stale in [k for k, (_, until) in self._known.items() if until <= now] or list(self._known)[:1000]:
                self._known.pop(stale, None)
        self._known[key] = (admin, now + self.ttl)
        return admin


def in_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in GROUP_CHAT_TYPES


def sent_as_the_group(update: Update) -> bool:
    """An anonymous admin's message: Telegram gives the group itself as its sender."""
    message = update.effective_message
    chat = update.effective_chat
    return (
        update.callback_query is None
        and message is not None
        and chat is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    )
