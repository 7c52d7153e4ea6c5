"""Telling the admins (ADMIN_IDS) something: one message each, a failure to reach one logged, never raised."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

log = logging.getLogger(__name__)


async def tell_admins(bot: Bot, admin_ids: Iterable[int], text: str, *, html: bool = False) -> bool:
    """Send `text` (plain, or Telegram HTML when `html`) to every admin; True when at least one got it."""
    told = False
    for admin_id in sorted(set(admin_ids)):
        try:
            await bot.send_message(admin_id, text, parse_mode=ParseMode.HTML if html else None)
            told = True
        except TelegramError:
            log.warning("could not tell admin %s", admin_id, exc_info=True)
    return told


def admin_reporter(bot: Bot, admin_ids: Iterable[int]) -> Callable[[str], Awaitable[bool]]:
    """Reports (Telegram HTML) for the admins, as the feed service sends them (services.feeds.AdminReport)."""
    admins = sorted(set(admin_ids))

    async def report(html_text: str) -> bool:
        if not admins:
            log.warning("no ADMIN_IDS set: a report for the admins goes to this log only")
            return True  # nobody to tell, so nothing to try again
        return await tell_admins(bot, admins, html_text, html=True)

    return report
