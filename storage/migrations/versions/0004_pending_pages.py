"""articles whose page is still to fetch: tries left, and an index to find them per source

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ALTER TABLE on both backends (nullable, no default): no rebuild of `articles` on SQLite.
    op.add_column("articles", sa.Column("page_tries_left", sa.SmallInteger(), nullable=True))
    op.create_index("ix_articles_source_pending_page", "articles", ["source_id", "page_tries_left"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_articles_source_pending_page", table_name="articles")
    # SQLite (3.35+) drops a column without a foreign key or index in place, so no batch rebuild is needed.
    op.drop_column("articles", "page_tries_left")
