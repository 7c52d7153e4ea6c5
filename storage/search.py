"""Full-text search over articles, and the saved queries behind search's More button.

The indexes are built by migration 0006: an FTS5 table over `articles` on SQLite (porter stemming, unicode61
with diacritics removed), a trigger-kept `search_vector` column with a GIN index on PostgreSQL (English stemming
after unaccent). Ranking is bm25 on SQLite and ts_rank on PostgreSQL, title above lead above body; ties go to the
most recent. User text never becomes query syntax: every word goes in as a bound parameter (PostgreSQL) or as a
double-quoted FTS5 string with its quotes doubled (SQLite), and model.search has reduced it to letters and
digits first.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    or_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from model.search import MAX_SAVED_QUERY_CHARS, SearchQuery
from storage.models import Article, ArticleSource

FTS_TABLE = "articles_fts"  # migration 0006
TS_CONFIG = "newsbot_search"  # migration 0006
# Column weights for bm25 (title, lead, body): a word in the title counts most.
BM25_WEIGHTS = (10.0, 4.0, 1.0)
# How many of the newest matches are ranked (see search_article_ids).
RANKED_CANDIDATES = 300

# Not one of the ORM models: only this module reads and writes it.
_metadata = MetaData()
search_queries = Table(
    "search_queries",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("query", String(MAX_SAVED_QUERY_CHARS), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_RECENCY = "COALESCE(a.published_at, a.ingested_at) DESC, a.id DESC"


def fts5_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH expression of `query`: each term a quoted string (a phrase when it has several words),
    all of them required, then NOT each exclusion."""
    expression = " AND ".join(_fts5_string(term) for term in query.include)
    for term in query.exclude:
        expression = f"({expression}) NOT {_fts5_string(term)}"
    return expression


def _fts5_string(words: tuple[str, ...]) -> str:
    return '"' + " ".join(words).replace('"', '""') + '"'


async def search_article_ids(
    session: AsyncSession,
    query: SearchQuery,
    *,
    limit: int,
    offset: int = 0,
    hidden_source_ids: Collection[int] = (),
    candidates: int = RANKED_CANDIDATES,
) -> list[int]:
    """Ids of the articles matching `query`, best first, then newest; articles of `hidden_source_ids` left out.

    Only the `candidates` newest matches (by id) are ranked: a word found in half of the archive would otherwise
    cost a score for every one of them. Below that many matches, every match is ranked.
    """
    if session.get_bind().dialect.name == "postgresql":
        sql, params = _postgresql_search(query)
        # Plan for these words, not generically: asyncpg prepares each statement and reuses it, and after five
        # runs PostgreSQL may settle on a plan that cannot tell a rare word (the GIN index) from a common one.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    else:
        sql, params = _sqlite_search(query)
    hidden = sorted(set(hidden_source_ids))
    # A story a hidden (private) source shares with another source stays findable through the other one.
    where_hidden = (
        " AND (a.source_id IS NULL OR a.source_id NOT IN :hidden OR EXISTS (SELECT 1 FROM article_sources c "
        "WHERE c.article_id = a.id AND c.source_id NOT IN :hidden))"
        if hidden
        else ""
    )
    statement = text(sql.format(hidden=where_hidden))
    if hidden:
        statement = statement.bindparams(bindparam("hidden", expanding=True))
        params["hidden"] = hidden
    params.update(limit=limit, offset=offset, candidates=candidates)
    result = await session.execute(statement, params)
    return [row[0] for row in result]


def _sqlite_search(query: SearchQuery) -> tuple[str, dict[str, Any]]:
    # FTS5 walks its matches in rowid order, so the LIMIT stops it early and bm25 is computed for those only.
    weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
    sql = (
        f"SELECT a.id FROM ("
        f"SELECT {FTS_TABLE}.rowid AS id, bm25({FTS_TABLE}, {weights}) AS score "
        f"FROM {FTS_TABLE} JOIN articles a ON a.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH :match{{hidden}} ORDER BY {FTS_TABLE}.rowid DESC LIMIT :candidates"
        f") AS found JOIN articles a ON a.id = found.id "
        f"ORDER BY found.score, {_RECENCY} LIMIT :limit OFFSET :offset"
    )
    return sql, {"match": fts5_expression(query)}


def _postgresql_search(query: SearchQuery) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    tsqueries: list[str] = []
    for index, term in enumerate(query.include + query.exclude):
        params[f"t{index}"] = " ".join(term)
        # phraseto_tsquery: the words in this order, adjacent; one word is just that word (stemmed).
        tsqueries.append(f"phraseto_tsquery('{TS_CONFIG}', :t{index})")
    wanted = " && ".join(tsqueries[: len(query.include)])
    matched = " && ".join([wanted, *(f"!!{tsquery}" for tsquery in tsqueries[len(query.include) :])])
    # The candidates are chosen without ranking; ts_rank runs in the outer query, on them only. Ranked by the
    # wanted terms alone: ts_rank would count the excluded ones against every row alike. The tsqueries are written
    # out where they are used (not in a CTE) so the planner sees them and estimates how many rows they match: a
    # rare word goes through the GIN index, a very common one down the primary key until enough have matched.
    sql = (
        "WITH found AS MATERIALIZED (SELECT a.id FROM articles a "
        f"WHERE a.search_vector @@ ({matched}){{hidden}} ORDER BY a.id DESC LIMIT :candidates) "
        "SELECT a.id FROM found JOIN articles a ON a.id = found.id "
        f"ORDER BY ts_rank(a.search_vector, {wanted}) DESC, {_RECENCY} LIMIT :limit OFFSET :offset"
    )
    return sql, params


async def search_articles(
    session: AsyncSession,
    query: SearchQuery,
    *,
    limit: int,
    offset: int = 0,
    hidden_source_ids: Collection[int] = (),
) -> list[Article]:
    """The articles matching `query`, best first (see search_article_ids)."""
    ids = await search_article_ids(session, query, limit=limit, offset=offset, hidden_source_ids=hidden_source_ids)
    if not ids:
        return []
    found = {article.id: article for article in await session.scalars(select(Article).where(Article.id.in_(ids)))}
    return [found[article_id] for article_id in ids if article_id in found]


async def latest_articles(
    session: AsyncSession, limit: int, *, hidden_source_ids: Collection[int] = ()
) -> list[Article]:
    """The newest articles (by id, as /headlines lists them), those of `hidden_source_ids` left out."""
    query = select(Article).order_by(Article.id.desc()).limit(limit)
    if hidden_source_ids:
        hidden = sorted(set(hidden_source_ids))
        carried_elsewhere = (
            select(ArticleSource.article_id)
            .where(ArticleSource.article_id == Article.id, ArticleSource.source_id.not_in(hidden))
            .exists()
        )
        query = query.where(or_(Article.source_id.is_(None), Article.source_id.not_in(hidden), carried_elsewhere))
    return list(await session.scalars(query))


async def save_query(session: AsyncSession, query_text: str, *, now: datetime) -> int:
    """The id under which `query_text` is kept (the same id for the same text)."""
    existing = await _query_id(session, query_text)
    if existing is not None:
        return existing
    try:
        async with session.begin_nested():
            await session.execute(search_queries.insert().values(query=query_text, created_at=now))
    except IntegrityError:  # another search saved the same text meanwhile
        pass
    saved = await _query_id(session, query_text)
    assert saved is not None
    return saved


async def _query_id(session: AsyncSession, query_text: str) -> int | None:
    found = await session.scalar(select(search_queries.c.id).where(search_queries.c.query == query_text))
    return None if found is None else int(found)


async def saved_query(session: AsyncSession, query_id: int) -> str | None:
    """The text saved under `query_id`, or None."""
    found = await session.scalar(select(search_queries.c.query).where(search_queries.c.id == query_id))
    return None if found is None else str(found)
