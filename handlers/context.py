"""Typed access to what every handler needs, instead of string keys into bot_data.

Defined here, below `bot/`: the handlers use these types, and `bot.app` fills them in from its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time

from telegram.ext import CallbackContext, ExtBot

from handlers.group_admins import GroupAdmins
from services.bulletins import BulletinService
from services.feeds import FeedService
from services.leadership import Leadership
from storage.session import Database
from storage.subscribers import ChatMarks


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """The part of the bot's settings that handlers read."""

    admin_ids: frozenset[int]  # who may run the admin commands
    default_timezone: str  # IANA name given to a new chat
    bulletin_times: tuple[time, ...]  # a new subscriber's times when they choose none
    allow_user_sources: bool = True  # /add open to every user
    max_sources_per_chat: int = 50  # feeds of its own a chat may follow


@dataclass(frozen=True, slots=True)
class BotServices:
    settings: ChatSettings
    db: Database
    bulletins: BulletinService
    feeds: FeedService
    clock: Callable[[], datetime]  # UTC now; tests substitute their own
    # Whether this instance is the one preparing and sending bulletins and polling feeds: `leadership.role()`.
    leadership: Leadership
    group_admins: GroupAdmins = field(default_factory=GroupAdmins)  # who may change a group's settings


SERVICES_KEY = "services"  # the one place bot_data is keyed by a string


class NewsContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    # What this update's chat row says of its language and of a channel it is changing, read once by the
    # per-update step (handlers.common.chat_marks) for the handlers after it: python-telegram-bot gives every
    # handler of one update the same context, and a new one to the next update.
    chat_marks: ChatMarks | None = None

    @property
    def services(self) -> BotServices:
        services: BotServices = self.bot_data[SERVICES_KEY]
        return services

    @property
    def settings(self) -> ChatSettings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    def now(self) -> datetime:
        return self.services.clock()

    @property
    def bulletins(self) -> BulletinService:
        return self.services.bulletins

    @property
    def feeds(self) -> FeedService:
        return self.services.feeds
