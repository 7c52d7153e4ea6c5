"""One Settings object, read from the environment and `.env`, built by a factory (never at import)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.schedule import parse_time_of_day

DEFAULT_DATABASE_URL = f"sqlite+aiosqlite:///{Path('newsbot.sqlite3')}"
_LIST_SEPARATORS = re.compile(r"[,\s]+")


def _list_items(value: str) -> list[str]:
    """The items of a list setting written as one string: separated by commas and/or whitespace."""
    return [part for part in _LIST_SEPARATORS.split(value) if part]


class MissingTokenError(RuntimeError):
    """`newsbot run` was started without BOT_TOKEN."""


class WebhookSettingsError(RuntimeError):
    """WEBHOOK_URL is set but WEBHOOK_SECRET is missing or not what Telegram accepts (the message never shows it)."""


# Telegram's rule for setWebhook's secret_token: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True, slots=True)
class Listen:
    """A local address to serve HTTP on (WEBHOOK_LISTEN, METRICS_LISTEN): `host:port`, `[v6]:port` or `:port`."""

    host: str
    port: int

    @classmethod
    def parse(cls, value: str) -> Listen:
        host, sep, port = value.strip().rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port, e.g. 0.0.0.0:8080 or 127.0.0.1:9100")
        host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Webhook:
    """Webhook mode, checked: where Telegram posts (url), with which secret, and where we listen."""

    url: str
    path: str
    secret: str
    listen: Listen


DEFAULT_WEBHOOK_LISTEN = Listen("0.0.0.0", 8080)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL: connections each process keeps open (10 more are opened for bursts and closed after them).
    database_pool_size: int = Field(default=20, ge=1, le=500)
    telegram_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_timezone: str = "UTC"
    bulletin_times: Annotated[tuple[time, ...], NoDecode] = (time(7), time(12), time(19))
    bulletin_size: int = Field(default=8, ge=1, le=20)
    log_level: str = "INFO"
    # How often the scheduler looks for due bulletins, in seconds; 0 turns the job off (cron runs
    # `newsbot bulletin send` instead).
    bulletin_check_interval: float = Field(default=30.0, ge=0)
    # A bulletin claimed by a sender that died is sent again after this many seconds.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    # Several `newsbot run` on one PostgreSQL database: the leader's lease lasts this long unless renewed (every
    # third of it); a standby takes over within about this long after the leader dies.
    leader_lease_seconds: float = Field(default=15.0, ge=1, le=3600)
    # Feed URLs added as sources at start when missing (comma-separated in the environment).
    feeds: Annotated[tuple[str, ...], NoDecode] = ()
    # Default minutes between two polls of a source.
    poll_interval: int = Field(default=15, ge=1, le=24 * 60)
    # How often the poller looks for due sources, in seconds.
    feed_check_interval: float = Field(default=60.0, gt=0)
    # Seconds between checks that the SQLite file is still the one the bot opened (deleted or replaced: exit).
    database_check_interval: float = Field(default=15.0, gt=0)
    # Fetch URLs on loopback, private, link-local and other non-public addresses (self-hosted feeds on a LAN,
    # tests). Off by default: anyone able to add a feed could otherwise make the bot read internal services.
    allow_private_urls: bool = False
    # Most article pages one poll of a source fetches (the rest keep their summaries until a later poll).
    page_fetches_per_poll: int = Field(default=10, ge=0, le=100)
    # Seconds after which a poll of one source stops fetching and stores what it has.
    poll_timeout: float = Field(default=120.0, gt=0)
    # Personal news: any user may add feeds of their own (private to the chats that follow them), this many a chat.
    allow_user_sources: bool = True
    max_sources_per_chat: int = Field(default=50, ge=1, le=1000)
    # Telegram's flood limits. Above 30/s Telegram charges Stars: that needs PAID_BROADCAST.
    max_messages_per_second: int = Field(default=30, ge=1, le=1000)
    paid_broadcast: bool = False
    per_chat_per_second: int = Field(default=1, ge=1)
    per_group_per_minute: int = Field(default=20, ge=1)
    # Requests in flight at once when sending bulletins.
    # A cap: the engine keeps rate x measured round trip x 1.5 requests in flight (delivery.engine.InFlightLimit).
    send_concurrency: int = Field(default=200, ge=1, le=1000)
    max_delivery_attempts: int = Field(default=5, ge=1)
    # Alerts: a chat's alert messages come at least this many seconds apart; matches in between are bundled.
    alert_min_interval: float = Field(default=600.0, ge=0)
    # Webhook mode (issue 12): the public HTTPS URL Telegram posts updates to; unset, the bot long-polls.
    webhook_url: str | None = None
    # Telegram sends it in X-Telegram-Bot-Api-Secret-Token; required with WEBHOOK_URL. Checked by webhook(), not
    # here: pydantic's error messages quote the value they refused, and this one must never be printed.
    webhook_secret: SecretStr | None = None
    webhook_listen: Annotated[Listen, NoDecode] = DEFAULT_WEBHOOK_LISTEN
    # Serves /healthz and /metrics while long-polling (in webhook mode they are on WEBHOOK_LISTEN).
    metrics_listen: Annotated[Listen | None, NoDecode] = None

    @model_validator(mode="after")
    def _paid_rate_needs_paid_broadcast(self) -> Settings:
        if self.max_messages_per_second > 30 and not self.paid_broadcast:
            raise ValueError("MAX_MESSAGES_PER_SECOND above 30 needs PAID_BROADCAST=true (Telegram charges for it)")
        return self

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in _list_items(value))
        return value

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        if isinstance(value, str):
            urls = _list_items(value)
            bad = [url for url in urls if not url.startswith(("http://", "https://"))]
            if bad:
                raise ValueError(f"FEEDS takes http(s) URLs; not one: {bad[0]!r}")
            return tuple(dict.fromkeys(urls))
        return value

    @field_validator("bulletin_times", mode="before")
    @classmethod
    def _split_times(cls, value: object) -> object:
        if isinstance(value, str):
            parts = _list_items(value)
            if not parts:
                raise ValueError("BULLETIN_TIMES needs at least one time like 07:00")
            return tuple(sorted(set(parse_time_of_day(part) for part in parts)))
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA timezone name such as Europe/Berlin") from exc
        return value

    @field_validator("webhook_listen", "metrics_listen", mode="before")
    @classmethod
    def _parse_listen(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            if value.strip():
                return Listen.parse(value)
            return DEFAULT_WEBHOOK_LISTEN if info.field_name == "webhook_listen" else None  # empty: the default
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("WEBHOOK_URL must be an https:// URL: Telegram posts updates only over HTTPS")
        return value.strip()

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

    def require_token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise MissingTokenError(
                "BOT_TOKEN is not set: put BOT_TOKEN=<token from @BotFather> in .env "
                "or the environment (see .env.example)."
            )
        return self.bot_token.get_secret_value().strip()

    def webhook(self) -> Webhook | None:
        """Webhook mode's settings, or None to long-poll. Raises WebhookSettingsError when the secret is missing or
        is not 1-256 of A-Z a-z 0-9 _ - (Telegram refuses anything else)."""
        if self.webhook_url is None:
            return None
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret is not None else ""
        if not secret:
            raise WebhookSettingsError(
                "WEBHOOK_URL is set but WEBHOOK_SECRET is not: set WEBHOOK_SECRET to 1-256 characters of "
                "A-Z a-z 0-9 _ - (e.g. the output of `openssl rand -hex 32`); see .env.example."
            )
        if not _WEBHOOK_SECRET.fullmatch(secret):
            raise WebhookSettingsError(
                f"WEBHOOK_SECRET is not valid: Telegram takes 1-256 characters of A-Z a-z 0-9 _ - only "
                f"(this one has {len(secret)} characters{'' if len(secret) <= 256 else ', too many'}; "
                "e.g. use the output of `openssl rand -hex 32`)."
            )
        return Webhook(self.webhook_url, urlsplit(self.webhook_url).path or "/", secret, self.webhook_listen)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env; `overrides` (fields, or pydantic-settings' _env_file) win and are
    validated like the environment's strings."""
    return Settings(**overrides)
