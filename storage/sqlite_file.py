"""Noticing that the SQLite file under a running bot was deleted or replaced.

SQLite keeps writing into a file it has open even after the file is unlinked: the bot would go on taking
subscriptions and marking bulletins sent into a file that disappears when it exits. The watch remembers which
file (device and inode) the database was when the bot started and says when the path no longer leads to it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


class AnotherInstanceRunning(RuntimeError):
    """A second `newsbot run` on an SQLite file another one is using; the message says so in one line."""


@contextmanager
def single_instance(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<database file>.lock` for the block: one `newsbot run` per SQLite file.

    SQLite has one writer, so two bots on one file would fight over every write and could send bulletins side by
    side at twice the flood limit. flock() belongs to the open file: the kernel releases it when the process
    exits, `kill -9` included, so no stale lock is ever left to clear by hand. The lock file itself stays.
    """
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherInstanceRunning(
                f"another newsbot is already running on {path}; SQLite allows one instance — use PostgreSQL for several"
            ) from None
        yield
    finally:
        os.close(fd)
