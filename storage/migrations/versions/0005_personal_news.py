"""personal news: public and private sources, which sources carried each story, each chat's follows, topics,
keyword filter and alerts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New columns with server defaults: existing sources stay public, existing chats keep reading everything.
    # Plain ALTER TABLE ADD COLUMN on both backends. Not a batch rebuild: on SQLite, dropping the old copy of
    # `sources` with foreign keys on would set every article's source_id to NULL.
    op.add_column("sources", sa.Column("public", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("sources", sa.Column("added_by", sa.BigInteger(), nullable=True))
    op.add_column("subscribers", sa.Column("follows_all", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column("subscribers", sa.Column("topics", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("subscribers", sa.Column("filter_terms", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    op.add_column("subscribers", sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "article_sources",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_article_sources_article_id_articles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_article_sources_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", "source_id", name=op.f("pk_article_sources")),
    )
    op.create_index("ix_article_sources_source_id", "article_sources", ["source_id"], unique=False)
    # Every stored feed article was carried by the source it came from.
    op.execute(
        "INSERT INTO article_sources (article_id, source_id) SELECT id, source_id FROM articles "
        "WHERE source_id IS NOT NULL"
    )

    op.create_table(
        "source_follows",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_source_follows_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_source_follows_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "source_id", name=op.f("pk_source_follows")),
    )
    op.create_index("ix_source_follows_source_id", "source_follows", ["source_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name=op.f("fk_alerts_subscriber_id_subscribers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_subscriber_id"), "alerts", ["subscriber_id"], unique=False)

    op.create_table(
        "alert_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_alert_matches_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_alert_matches_article_id_articles"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_matches_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_alert_matches_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_matches")),
        sa.UniqueConstraint("subscriber_id", "article_id", name="uq_alert_matches_subscriber_article"),
    )
    op.create_index(
        "ix_alert_matches_delivery_subscriber", "alert_matches", ["delivery_id", "subscriber_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_alert_matches_delivery_subscriber", table_name="alert_matches")
    op.drop_table("alert_matches")
    op.drop_index(op.f("ix_alerts_subscriber_id"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_source_follows_source_id", table_name="source_follows")
    op.drop_table("source_follows")
    op.drop_index("ix_article_sources_source_id", table_name="article_sources")
    op.drop_table("article_sources")
    # SQLite (3.35+) drops columns without keys or indexes in place: no rebuild (see upgrade for why that matters).
    for column in ("last_alert_at", "filter_terms", "topics", "follows_all"):
        op.drop_column("subscribers", column)
    op.drop_column("sources", "added_by")
    op.drop_column("sources", "public")
