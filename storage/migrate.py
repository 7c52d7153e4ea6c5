"""Apply Alembic migrations programmatically (no alembic.ini needed at run time)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, lambda sync_conn: command.upgrade(alembic_config(sync_conn), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, lambda sync_conn: command.downgrade(alembic_config(sync_conn), revision))


async def _migrate(engine: AsyncEngine, steps: Callable[[Connection], None]) -> None:
    """Run migration steps in one transaction.

    SQLite alters a table by copying it and dropping the old copy; with foreign keys on, that drop would cascade
    to (or null out) every row referring to it. So on SQLite the steps run with foreign keys off, as SQLite's
    documentation prescribes for schema changes (the pragma only takes effect outside a transaction), and the
    keys are checked before committing.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(steps)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied, oldest first."""

    def _pending(sync_conn: Connection) -> list[str]:
        current = MigrationContext.configure(sync_conn).get_current_heads()
        script = ScriptDirectory.from_config(alembic_config())
        revisions = script.iterate_revisions("heads", current or "base")
        return [rev.revision for rev in reversed(list(revisions)) if rev.revision not in current]

    async with engine.connect() as conn:
        return await conn.run_sync(_pending)
