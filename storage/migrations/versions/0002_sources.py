"""feed sources, and the article columns feeds need

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Columns are added with plain ALTER TABLE (the foreign key inline), never through a batch rebuild of
# `articles`: on SQLite a rebuild drops the old table, and with foreign keys on that would cascade into
# delivery_articles.
NEW_ARTICLE_COLUMNS = ('source_id', 'guid', 'canonical_url', 'entry_hash', 'updated_at')


def upgrade() -> None:
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('site_url', sa.String(length=2048), nullable=True),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('etag', sa.String(length=512), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('url', name=op.f('uq_sources_url'))
    )
    op.create_index(op.f('ix_sources_next_poll_at'), 'sources', ['next_poll_at'], unique=False)

    if op.get_bind().dialect.name == 'sqlite':
        # Alembic would add the foreign key as a separate ALTER, which SQLite lacks; SQLite takes it inline.
        op.execute(
            'ALTER TABLE articles ADD COLUMN source_id INTEGER '
            'CONSTRAINT fk_articles_source_id_sources REFERENCES sources (id) ON DELETE SET NULL'
        )
    else:
        op.add_column('articles', sa.Column('source_id', sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f('fk_articles_source_id_sources'), 'articles', 'sources', ['source_id'], ['id'], ondelete='SET NULL'
        )
    op.add_column('articles', sa.Column('guid', sa.String(length=512), nullable=True))
    op.add_column('articles', sa.Column('canonical_url', sa.String(length=2048), nullable=True))
    op.add_column('articles', sa.Column('entry_hash', sa.String(length=64), nullable=True))
    op.add_column('articles', sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_articles_source_guid', 'articles', ['source_id', 'guid'], unique=False)
    op.create_index('uq_articles_canonical_url', 'articles', ['canonical_url'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_articles_canonical_url', table_name='articles')
    op.drop_index('ix_articles_source_guid', table_name='articles')
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot drop a column that carries a foreign key without rebuilding the table, and dropping
        # the old table (foreign keys on, inside a transaction) cascades into delivery_articles: keep those.
        op.execute('CREATE TEMP TABLE keep_delivery_articles AS SELECT * FROM delivery_articles')
        with op.batch_alter_table('articles', recreate='always') as batch_op:
            for name in reversed(NEW_ARTICLE_COLUMNS):
                batch_op.drop_column(name)
        op.execute(
            'INSERT INTO delivery_articles (delivery_id, article_id, position) '
            'SELECT delivery_id, article_id, position FROM keep_delivery_articles'
        )
        op.execute('DROP TABLE keep_delivery_articles')
    else:
        op.drop_constraint(op.f('fk_articles_source_id_sources'), 'articles', type_='foreignkey')
        for name in reversed(NEW_ARTICLE_COLUMNS):
            op.drop_column('articles', name)
    op.drop_index(op.f('ix_sources_next_poll_at'), table_name='sources')
    op.drop_table('sources')
