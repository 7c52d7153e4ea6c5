"""Noticing that the SQLite file under a running bot was deleted or replaced.

SQLite keeps writing into a file it has open even after the file is unlinked: the bot would go on taking
subscriptions and marking bulletins sent into a file that disappears when it exits. The watch remembers which
file (device and inode) the database was when the bot started and says when the path no longer leads to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).absolute()


class SqliteFileWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat()  # the file exists by now: migrations have run
        self._identity = (stat.st_dev, stat.st_ino)

    def problem(self) -> str | None:
        """None while the path is still the file the bot opened; otherwise what happened to it."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return f"the database file {self.path} was deleted while the bot was running"
        except OSError as exc:
            return f"the database file {self.path} cannot be checked: {os.strerror(exc.errno or 0)}"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return f"the database file {self.path} was replaced by another file while the bot was running"
        return None
