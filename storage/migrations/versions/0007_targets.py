"""bulletin targets beyond one per chat: forum topics (subscribers.thread_id), channels managed by a user
(subscribers.managed_by), a private chat changing a channel's settings (subscribers.acting_for_id/acting_until),
and the topic a delivery goes to (deliveries.thread_id)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # chat_id stops being unique on its own: one forum may hold a target per topic (thread 0: the chat itself).
    # On SQLite this rebuilds `subscribers`; storage.migrate runs migrations with foreign keys off there, so the
    # rows that refer to subscribers survive the copy.
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("thread_id", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("managed_by", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("acting_for_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("acting_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_subscribers_acting_for_id_subscribers"), "subscribers", ["acting_for_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.drop_constraint("uq_subscribers_chat_id", type_="unique")
    op.create_index("uq_subscribers_chat_thread", "subscribers", ["chat_id", "thread_id"], unique=True)
    op.create_index("ix_subscribers_managed_by", "subscribers", ["managed_by"], unique=False)
    op.add_column("deliveries", sa.Column("thread_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "thread_id")
    op.drop_index("ix_subscribers_managed_by", table_name="subscribers")
    op.drop_index("uq_subscribers_chat_thread", table_name="subscribers")
    # Topic targets cannot live in a table where chat_id is unique again.
    op.execute("DELETE FROM subscribers WHERE thread_id <> 0")
    with op.batch_alter_table("subscribers") as batch:
        batch.create_unique_constraint("uq_subscribers_chat_id", ["chat_id"])
        batch.drop_constraint(op.f("fk_subscribers_acting_for_id_subscribers"), type_="foreignkey")
        batch.drop_column("acting_until")
        batch.drop_column("acting_for_id")
        batch.drop_column("managed_by")
        batch.drop_column("thread_id")
