"""PostgreSQL for the benches: statements run as the server's admin, and the URL of a bench database.

NEWSBOT_BENCH_POSTGRES is the admin connection (a database that always exists, default the test server's `test`);
bench databases live next to it on the same server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from storage.session import create_engine

ADMIN_URL = os.environ.get("NEWSBOT_BENCH_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def run_as_admin(statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def database_url(name: str) -> str:
    """The URL of database `name` on the admin connection's server."""
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def create_database(name: str) -> str:
    """A new, empty database `name` next to the admin one (dropped first if a crashed run left it); its URL."""
    await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await run_as_admin(f'CREATE DATABASE "{name}"')
    return database_url(name)
