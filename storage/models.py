"""The database schema as typed SQLAlchemy models. Dialect-neutral: SQLite and PostgreSQL alike."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from model.articles import (
    MAX_DATELINE_CHARS,
    MAX_FEED_TITLE_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_URL_CHARS,
)
from model.identity import MAX_GUID_CHARS
from storage.types import UTCDateTime, utcnow

# Explicit constraint names keep Alembic migrations identical on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    if TYPE_CHECKING:  # every model here maps one Table (none a select or a join): what insert() and update() take
        __table__: ClassVar[Table]


class Article(Base):
    __tablename__ = "articles"
    # Feed entries are looked up by their id within their source.
    __table_args__ = (
        Index("ix_articles_source_guid", "source_id", "guid"),
        # A unique index rather than a constraint: SQLite can add it without rebuilding the table.
        Index("uq_articles_canonical_url", "canonical_url", unique=True),
        # A poll looks for its source's articles whose page is still to fetch.
        Index("ix_articles_source_pending_page", "source_id", "page_tries_left"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    lead: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Column sizes of what ingest stores are ingest's limits (model.articles): it cuts values to fit. Changing one
    # needs a migration.
    source: Mapped[str | None] = mapped_column(String(MAX_SOURCE_CHARS))
    dateline: Mapped[str | None] = mapped_column(String(MAX_DATELINE_CHARS))
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set for articles that came from a feed (NULL for text files, or once their source is removed).
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    # The entry's id in its feed; long ids are stored as their SHA-256 (model.identity.guid_key).
    guid: Mapped[str | None] = mapped_column(String(MAX_GUID_CHARS))
    # `url` without tracking parameters or fragment, host lower-cased: one story, one row.
    canonical_url: Mapped[str | None] = mapped_column(String(MAX_URL_CHARS))
    # Hash of what the feed said about the entry: unchanged hash, nothing to do on the next poll.
    entry_hash: Mapped[str | None] = mapped_column(String(64))
    # When a changed feed entry last rewrote this row.
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A feed entry with only a short summary whose article page is still to fetch: how many more tries it gets
    # (NULL: nothing to fetch). A poll fetches only a few pages; the others wait for later polls.
    page_tries_left: Mapped[int | None] = mapped_column(SmallInteger)


class Source(Base):
    """A feed (RSS, Atom or JSON Feed) that the bot polls for articles."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(MAX_URL_CHARS), unique=True)
    title: Mapped[str] = mapped_column(String(MAX_FEED_TITLE_CHARS), default="")
    site_url: Mapped[str | None] = mapped_column(String(MAX_URL_CHARS))
    language: Mapped[str | None] = mapped_column(String(MAX_LANGUAGE_CHARS))
    interval_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL means "poll as soon as possible" (a new source).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the last poll failed; after a success, a note about a feed that needed repairs (else NULL).
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When admins were told this source keeps failing (once per failing streak).
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # HTTP validators for conditional GET.
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    # Public sources (admins', FEEDS) are listed to every chat and followed by default. A feed a user added is
    # private to the chats that follow it (its URL may carry a personal token) until an admin makes it public.
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The chat that added a private source (NULL for admins' and configured ones).
    added_by: Mapped[int | None] = mapped_column(BigInteger)


class ArticleSource(Base):
    """Which sources carried which story: one article row per story, however many feeds carried it."""

    __tablename__ = "article_sources"
    __table_args__ = (Index("ix_article_sources_source_id", "source_id"),)

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)


class SourceFollow(Base):
    """A source a chat chose to follow (see Subscriber.follows_all)."""

    __tablename__ = "source_follows"
    __table_args__ = (Index("ix_source_follows_source_id", "source_id"),)

    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    """A chat the bot talks to. Rows are kept when a chat unsubscribes or blocks the bot."""

    __tablename__ = "subscribers"
    __table_args__ = (
        # One target per chat, and in a forum one per topic as well.
        Index("uq_subscribers_chat_thread", "chat_id", "thread_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The forum topic this target is (its message_thread_id); 0: the chat itself (private chat, group, channel,
    # or a forum's General topic).
    thread_id: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    chat_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300), default="")
    language: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When Telegram told us the chat blocked the bot or no longer exists.
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # UTC instant of the next scheduled bulletin; NULL when not subscribed.
    next_bulletin_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_bulletin_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Highest article id already offered in a bulletin: "new since the previous bulletin" means id above this.
    last_article_id: Mapped[int] = mapped_column(Integer, default=0)
    # What the chat reads. True: every public source, including ones added later, plus its follows; False
    # (from its first unfollow on): only the sources in its follows.
    follows_all: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Chosen topics (display forms; compared by model.topics.topic_key); empty: every topic.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # Keyword filter: model.terms.Term.display() strings; empty: no filter.
    filter_terms: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # When the chat's last alert message was prepared (alerts closer together than ALERT_MIN_INTERVAL are bundled).
    last_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A channel's: the user who made the bot post there, who manages it from their private chat (/channels).
    managed_by: Mapped[int | None] = mapped_column(BigInteger, index=True)
    # A private chat's: the channel whose settings its commands change, until `acting_until` (/channels, /done).
    acting_for_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id", ondelete="SET NULL"))
    acting_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    times: Mapped[list[BulletinTime]] = relationship(
        back_populates="subscriber",
        cascade="all, delete-orphan",
        order_by="BulletinTime.local_time",
        lazy="selectin",
    )


class BulletinTime(Base):
    """One local time of day at which a subscriber gets a bulletin."""

    __tablename__ = "bulletin_times"
    __table_args__ = (UniqueConstraint("subscriber_id", "local_time", name="uq_bulletin_times_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    local_time: Mapped[time] = mapped_column(Time)

    subscriber: Mapped[Subscriber] = relationship(back_populates="times")


class DeliveryStatus(str, enum.Enum):  # noqa: UP042  # not StrEnum: its str() is the value, ours the name
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Delivery(Base):
    """One bulletin for one chat. Written before the request, so a restart resumes instead of resending."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # One scheduled bulletin per subscriber per slot, even if two processes race on it.
        UniqueConstraint("subscriber_id", "slot_at", name="uq_deliveries_subscriber_slot"),
        Index("ix_deliveries_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The forum topic it goes to (NULL: the chat itself).
    thread_id: Mapped[int | None] = mapped_column(Integer)
    # "scheduled", "manual" (/bulletin) or "broadcast" (bulletin send --all).
    kind: Mapped[str] = mapped_column(String(20))
    # The scheduled instant this bulletin stands for (NULL for manual and broadcast ones).
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when a sender takes the row; a SENDING row whose claim is older than the lease is retried.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Earliest time of the next attempt (after a 429's retry_after or a transient error's backoff).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Which articles went into the bulletin, in order (an article deleted since stays listed). A list on the row,
    # not a row per article: 100,000 bulletins made 800,000 link rows, a fifth of preparing's CPU.
    article_ids: Mapped[list[int]] = mapped_column(JSON, default=list, server_default="[]")  # `text` is a column here


class DeliveryRun(Base):
    """One sender run's totals, for `newsbot deliveries status` and the log."""

    __tablename__ = "delivery_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    retried: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    messages_per_second: Mapped[float] = mapped_column(Float, default=0.0)


class Alert(Base):
    """Terms a chat wants to hear about at once when a new article matches them."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    # model.terms.Term.display() strings, as the chat's filter keeps them.
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertMatch(Base):
    """A new article that matched a chat's alert; waits for an alert message (delivery_id NULL) until then."""

    __tablename__ = "alert_matches"
    __table_args__ = (
        # A chat hears of one article once, however many of its alerts match it.
        UniqueConstraint("subscriber_id", "article_id", name="uq_alert_matches_subscriber_article"),
        Index("ix_alert_matches_delivery_subscriber", "delivery_id", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))


class HandledUpdate(Base):
    """A Telegram update some instance has taken: a retried webhook delivery (which may reach another instance
    behind a load balancer) is handled once. Rows older than a day are deleted."""

    __tablename__ = "handled_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Lease(Base):
    """A named lease one instance holds until `expires_at` unless it renews it ("leader": the instance that
    prepares and sends bulletins and alerts and polls feeds)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Instance(Base):
    """A running `newsbot run` process, as it last reported itself (for `newsbot status`)."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(20))  # "polling" or "webhook"
    role: Mapped[str] = mapped_column(String(20))  # "leader" or "standby"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
