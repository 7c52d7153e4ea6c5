"""The last line of defence: log the failure, tell the user briefly, tell admins (not too often), keep running."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

from telegram import Update
from telegram.error import TelegramError

from bot.admins import tell_admins
from compose.replies import apology
from handlers.context import NewsContext

log = logging.getLogger(__name__)

# Any user can trigger an error again and again: admins hear of each kind once per quiet period.
ALERT_QUIET_PERIOD = timedelta(minutes=10)
MAX_TRACKED_KINDS = 256

_ROOT = Path(__file__).resolve().parent.parent
_OUR_PACKAGES = tuple(str(_ROOT / package) + "/" for package in ("bot", "handlers", "compose", "storage", "ingest"))


@dataclass
class _Seen:
    alerted_at: datetime
    suppressed: int = 0


class AlertThrottle:
    """One alert per kind of error per `quiet` period; the next alert of that kind says how many were held back."""

    def __init__(self, quiet: timedelta = ALERT_QUIET_PERIOD, max_kinds: int = MAX_TRACKED_KINDS) -> None:
        self.quiet = quiet
        self.max_kinds = max_kinds
        self._kinds: dict[str, _Seen] = {}

    def admit(self, kind: str, now: datetime) -> int | None:
        """None: stay quiet (the repeat is counted). Else send, mentioning the returned number of held-back repeats."""
        seen = self._kinds.get(kind)
        if seen is not None and now - seen.alerted_at < self.quiet:
            seen.suppressed += 1
            return None
        self._kinds.pop(kind, None)  # re-inserted last: the dict stays in alert order, oldest first
        self._kinds[kind] = _Seen(now)
        if len(self._kinds) > self.max_kinds:  # many distinct kinds: forget the one alerted longest ago
            del self._kinds[next(iter(self._kinds))]
        return seen.suppressed if seen is not None else 0


def error_kind(error: BaseException | None) -> str:
    """'ValueError at handlers/articles.py:headlines': the exception type and the innermost frame of our code it
    passed (else the innermost frame at all), so one bug is one kind however often and by whom it is triggered."""
    if error is None:
        return "error"
    innermost = ours = None
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        filename, function = tb.tb_frame.f_code.co_filename, tb.tb_frame.f_code.co_name
        innermost = f"{Path(filename).name}:{function}"
        if filename.startswith(_OUR_PACKAGES):
            ours = f"{filename.removeprefix(str(_ROOT) + '/')}:{function}"
        tb = tb.tb_next
    where = ours or innermost
    return f"{type(error).__name__} at {where}" if where else type(error).__name__


class ErrorReporter:
    """python-telegram-bot's error handler, with the admin alerts' throttle (one per Application)."""

    def __init__(self, throttle: AlertThrottle | None = None) -> None:
        self.throttle = throttle or AlertThrottle()

    async def on_error(self, update: object, context: NewsContext) -> None:
        log.error("error while handling an update", exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(update.effective_chat.id, apology())
            except TelegramError:
                log.warning("could not tell chat %s about the error", update.effective_chat.id)
        kind = error_kind(context.error)
        suppressed = self.throttle.admit(kind, context.now())
        if suppressed is None:
            return
        situation = "while handling an update" if update is not None else "in a background job"
        text = f"⚠️ newsbot: {kind} {situation} (see the logs)."
        if suppressed:
            minutes = int(self.throttle.quiet.total_seconds() // 60)
            times = f"{suppressed} more time{'s' if suppressed != 1 else ''}"
            text += f"\nIt happened {times} since the last alert (alerts: one per kind every {minutes} min)."
        await tell_admins(context.bot, context.settings.admin_ids, text)
