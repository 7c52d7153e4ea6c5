"""full-text search over articles: FTS5 on SQLite, a tsvector column with a GIN index on PostgreSQL;
saved search queries for the More button

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Kept in step with storage/search.py, which queries these objects.
FTS_TABLE = "articles_fts"
TS_CONFIG = "newsbot_search"
# Bodies beyond this many characters are indexed up to it on PostgreSQL: a tsvector holds at most 1 MB.
PG_BODY_CHARS = 200_000

_SQLITE_UP = [
    # External content: the index keeps only the terms; the text stays in `articles`.
    f"""CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
        title, lead, body, content='articles', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO {FTS_TABLE}(rowid, title, lead, body) VALUES (new.id, new.title, new.lead, new.body);
    END""",
    f"""CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, lead, body)
        VALUES ('delete', old.id, old.title, old.lead, old.body);
    END""",
    f"""CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, lead, body ON articles BEGIN
        INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, lead, body)
        VALUES ('delete', old.id, old.title, old.lead, old.body);
        INSERT INTO {FTS_TABLE}(rowid, title, lead, body) VALUES (new.id, new.title, new.lead, new.body);
    END""",
    # The articles stored before this migration.
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]



def _pg_vector(row: str) -> str:
    """The weighted tsvector of an article (`row` is "NEW." in the trigger, "" in the backfill). Every run of
    characters other than letters and digits becomes a space first, as FTS5's unicode61 splits words: 'covid-19'
    and 'U.S.' are then two words on both backends (PostgreSQL's parser alone reads '-19' as a number)."""

    def part(column: str, weight: str) -> str:
        value = f"coalesce({row}{column}, '')"
        if column == "body":
            value = f"left({value}, {PG_BODY_CHARS})"
        words = f"regexp_replace({value}, '[^[:alnum:]]+', ' ', 'g')"
        return f"setweight(to_tsvector('{TS_CONFIG}', {words}), '{weight}')"

    return " || ".join([part("title", "A"), part("lead", "B"), part("body", "C")])


_PG_UP = [
    # unaccent is a trusted extension (PostgreSQL 13+): the database owner may create it. Left in place on
    # downgrade, as other objects may use it.
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # English stemming after accents are removed: 'cafe' finds 'café', 'sanction' finds 'sanctions'. Words of
    # other scripts go through the same two dictionaries (lower-cased, accents removed, no English suffixes).
    f"CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = english)",
    f"ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG} ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem",
    "ALTER TABLE articles ADD COLUMN search_vector tsvector",
    # Kept in the row (compressed if need be) rather than moved out to TOAST as text columns are: a search reads
    # the vectors of many rows, and fetching each from the TOAST table made it several times slower.
    "ALTER TABLE articles ALTER COLUMN search_vector SET STORAGE MAIN",
    f"""CREATE FUNCTION articles_search_vector() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := {_pg_vector('NEW.')};
        RETURN NEW;
    END
    $$""",
    """CREATE TRIGGER articles_search_vector BEFORE INSERT OR UPDATE OF title, lead, body ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_search_vector()""",
    f"UPDATE articles SET search_vector = {_pg_vector('')}",
    "CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)",
]

_PG_DOWN = [
    "DROP INDEX IF EXISTS ix_articles_search_vector",
    "DROP TRIGGER IF EXISTS articles_search_vector ON articles",
    "DROP FUNCTION IF EXISTS articles_search_vector()",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_vector",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {TS_CONFIG}",
]


def upgrade() -> None:
    statements = _PG_UP if op.get_bind().dialect.name == "postgresql" else _SQLITE_UP
    for statement in statements:
        op.execute(statement)
    # A search's query text, so that its More button carries a small id instead of up to 200 characters.
    op.create_table(
        "search_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_search_queries"),
        sa.UniqueConstraint("query", name="uq_search_queries_query"),
    )


def downgrade() -> None:
    op.drop_table("search_queries")
    statements = _PG_DOWN if op.get_bind().dialect.name == "postgresql" else _SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
