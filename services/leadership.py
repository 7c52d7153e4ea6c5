"""Leadership: of all the `newsbot run` processes sharing one database, exactly one at a time (the leader) prepares
and sends bulletins and alerts and polls feeds. The others (standbys) answer chats and wait to take over.

The leader holds the "leader" row of the `leases` table, renewed every third of LEADER_LEASE_SECONDS in one
statement timed by the database's clock (storage/leases.py). A leader that is killed stops renewing, and a standby
takes the row once it has expired. A leader that cannot renew (the database is unreachable, or the row has another
holder) stands down at once: `on_lost` stops the work it was doing, and it competes for the lease again later.

Why a row rather than a PostgreSQL advisory lock: an advisory lock belongs to one database connection. A pooled
connection that is recycled, or lost, drops it silently, and PgBouncer in transaction pooling mode hands each
transaction a different server connection, so the lock is not held at all. A row works through any pool, carries
its own expiry, and can be read by `newsbot status`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta

from storage import instances as instance_repo
from storage import leases as lease_repo
from storage.instances import InstanceInfo
from storage.session import Database

log = logging.getLogger(__name__)

LEADER = "leader"
STANDBY = "standby"
# Rows of instances not seen for this long are deleted (killed processes, hosts gone).
FORGET_AFTER = timedelta(hours=1)


def this_instance(mode: str) -> InstanceInfo:
    """This process: id host:pid:random (a pid repeats across hosts and restarts; the random part never does)."""
    host = socket.gethostname()[:60] or "localhost"
    pid = os.getpid()
    return InstanceInfo(id=f"{host}:{pid}:{secrets.token_hex(4)}", host=host, pid=pid, mode=mode)


class Leadership:
    """Competes for the leader lease in the background; `is_leader` / `role()` say where this instance stands."""

    def __init__(
        self,
        db: Database,
        instance: InstanceInfo,
        *,
        lease_seconds: float,
        on_lost: Callable[[], Awaitable[None]],
        only_instance: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.instance = instance
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 3
        # A renewal that takes longer than this counts as failed: the lease may run out while it waits.
        self.attempt_timeout = lease_seconds / 3
        self.on_lost = on_lost
        # SQLite: the file lock already proves no other instance runs, so this one takes the lease whoever held it
        # (a killed predecessor's row need not be waited out).
        self.only_instance = only_instance
        self._monotonic = monotonic
        self._leader = False
        self._valid_until = 0.0  # monotonic time the lease surely lasts until (counted from before the renewal)
        self._next_cleanup = 0.0
        self._task: asyncio.Task[None] | None = None
        self.terms = 0  # how many times this instance became leader

    @property
    def is_leader(self) -> bool:
        """True while this instance holds the lease, by its own reckoning (which errs towards standing down)."""
        return self._leader and self._monotonic() < self._valid_until

    def role(self) -> str:
        """ "leader" or "standby" (for /healthz, metrics and `newsbot status`)."""
        return LEADER if self.is_leader else STANDBY

    async def step(self) -> float:
        """One attempt to take or renew the lease, recording this instance as seen; stands down when it fails.

        Returns the seconds to wait before the next attempt.
        """
        started = self._monotonic()
        wait = self.renew_every
        try:
            async with asyncio.timeout(self.attempt_timeout), self.db.session() as session:
                expires = await lease_repo.acquire(
                    session, LEADER, self.instance.id, seconds=self.lease_seconds, force=self.only_instance
                )
                if expires is None:
                    holder = await lease_repo.current_holder(session, LEADER)
                    if holder is not None:
                        # Try again just after the holder's lease would run out, in the database's time.
                        wait = min(wait, max((holder.expires_at - holder.now).total_seconds(), 0.0) + 0.05)
                await instance_repo.report(session, self.instance, role=LEADER if expires else STANDBY)
                if started >= self._next_cleanup:
                    await instance_repo.delete_unseen(session, older_than=FORGET_AFTER)
                    self._next_cleanup = started + 60
        except Exception as exc:  # the database unreachable or failing: whatever it is, this is no leader now
            log.warning("leader lease: cannot reach the database (%s: %s)", type(exc).__name__, exc)
            expires = None
        if expires is not None:
            self._valid_until = started + self.lease_seconds
            if not self._leader:
                self._leader = True
                self.terms += 1
                log.info("this instance (%s) is now the leader: it sends bulletins and polls feeds", self.instance.id)
        elif self._leader:
            self._leader = False
            log.warning("this instance (%s) lost the leader lease: stopping bulletins and feed polls", self.instance.id)
            await self.on_lost()
        return wait

    async def start(self) -> None:
        """Make a first attempt now (so a lone instance leads from its first second), then keep on in the background."""
        wait = await self.step()
        self._task = asyncio.create_task(self._keep_on(wait), name="leader lease")

    async def _keep_on(self, wait: float) -> None:
        while True:
            await asyncio.sleep(wait)
            wait = await self.step()

    async def stop(self) -> None:
        """Stop renewing and competing (shutdown). The lease stays held until `resign`, so no other instance starts
        sending while this one finishes its sends in flight."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._leader = False

    async def resign(self) -> None:
        """Give up the lease and leave the instance list (an orderly exit), so a standby takes over at once."""
        try:
            async with asyncio.timeout(max(self.attempt_timeout, 1.0)), self.db.session() as session:
                await lease_repo.release(session, LEADER, self.instance.id)
                await instance_repo.forget(session, self.instance.id)
        except Exception as exc:  # the lease then simply runs out
            log.warning("could not give up the leader lease (%s: %s)", type(exc).__name__, exc)
