"""Typed access to what every handler needs, instead of string keys into bot_data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from services.bulletins import BulletinService
    from services.feeds import FeedService
    from bot.settings import Settings
    from storage.session import Database


@dataclass
class BotServices:
    settings: Settings
    db: Database
    bulletins: BulletinService
    feeds: FeedService
    clock: Callable[[], datetime]  # UTC now; tests substitute their own


SERVICES_KEY = "services"  # the one place bot_data is keyed by a string


class NewsContext(CallbackContext[ExtBot[None], dict, dict, dict]):
    @property
    def services(self) -> BotServices:
        return self.bot_data[SERVICES_KEY]  # type: ignore[no-any-return]

    @property
    def settings(self) -> Settings:
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

