"""The host's deploy lock: take it (bounded wait), keep its lease alive, break it when stale."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import anyio

from deploy.errors import ConnectionFailed, DeployError, LockHeld
from deploy.host.background import in_background
from deploy.host.runner import Runner
from deploy.ledger import Lock, parse_lock

MAX_HEARTBEAT = 5.0  # seconds between a deployer's lease renewals, at most


def heartbeat_interval(lease: float) -> float:
    """How often a deployer renews its lease: often enough to miss three beats in a row."""
    return min(MAX_HEARTBEAT, lease / 4)


class HostLock:
    """One lock file on the host, shared by every deployer of that app path.

    `ttl` is a deployer's lease: `held()` renews it every few seconds while the deployer
    runs, so the lock of a deployer that vanished is stale `ttl` seconds after its last
    heartbeat, while a live one is never broken. A lock taken by hand never expires.
    """

    def __init__(
        self,
        runner: Runner,
        path: str,
        *,
        who: str,
        environment: str,
        ttl: float,
        wait: float,
        say: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.path = path
        self.who = who
        self.environment = environment
        self.ttl = ttl
        self.wait = wait
        self.say = say
        self.clock = clock

    async def read(self) -> Lock | None:
        return await self.read_at(self.path)

    async def read_at(self, path: str) -> Lock | None:
        """The lock record at `path`; None when absent or unreadable (even not UTF-8)."""
        return parse_lock((await self.runner.read_bytes(path) or b"").decode("utf-8", "replace"))

    async def acquire(
        self, *, reason: str = "deploy", wait: float | None = None, manual: bool = False
    ) -> Lock:
        """Take the lock, waiting up to `wait` seconds; a stale lock is broken.

        A manual lock (maintenance) has no expiry; a deployer's lock starts its lease.
        """
        limit = self.wait if wait is None else wait
        deadline = self.clock() + limit
        while True:
            now = self.clock()
            mine = Lock(self.who, secrets.token_hex(8), now, None, reason)
            mine = mine if manual else mine.renewed(now, self.ttl)
            if await self.runner.create_file(self.path, mine.to_text()):
                return mine
            held = await self.read()
            if held is None or held.expired(now):
                await self._break_stale(held)
                continue
            if now >= deadline:
                raise LockHeld(
                    f"{self.environment} is locked by {held.describe(now)}; waited "
                    f"{limit:.0f}s. Try again later, or `unlock` if that deployer is gone."
                )
            self.say(f"waiting for the lock held by {held.owner}")
            await anyio.sleep(min(1.0, max(0.05, deadline - now)))

    async def remove(self) -> Lock | None:
        """Remove the lock whoever holds it; returns what was removed."""
        held = await self.read()
        await self.runner.remove(self.path)
        return held

    async def reclaim(self, lock: Lock) -> None:
        """Remove our own lock that a lost connection left behind (its token is ours)."""
        current = await self.read()
        if current is not None and current.token == lock.token:
            await self.runner.remove(self.path)

    async def _break_stale(self, seen: Lock | None) -> None:
        """Move a stale lock aside, putting it back if someone replaced it meanwhile."""
        aside = f"{self.path}.stale-{secrets.token_hex(4)}"
        if not await self.runner.rename(self.path, aside):
            return
        moved = await self.read_at(aside)
        if seen is not None and moved is not None and moved.token != seen.token:
            await self.runner.rename(aside, self.path)  # a fresh lock: not ours to break
            await anyio.sleep(0.05)
            return
        self.say(f"broke a stale lock ({seen.owner if seen else 'unreadable'})")
        await self.runner.remove(aside)

    async def renew(self, lock: Lock) -> bool:
        """Extend our lease; False when the lock is no longer ours (removed or broken)."""
        current = await self.read()
        if current is None or current.token != lock.token:
            return False
        await self.runner.write_file(self.path, current.renewed(self.clock(), self.ttl).to_text())
        return True

    async def keep_alive(self, lock: Lock) -> None:
        """Renew the lease every few seconds until cancelled; errors are told, not raised."""
        while True:
            await anyio.sleep(heartbeat_interval(self.ttl))
            try:
                if not await self.renew(lock):
                    self.say("the deploy lock was removed (`unlock`?); carrying on without it")
                    return
            except DeployError as error:
                self.say(f"could not renew the deploy lock: {error}")

    @asynccontextmanager
    async def held(self, *, wait: float | None = None) -> AsyncIterator[Lock]:
        """The lock, its lease renewed in the background, released on the way out."""
        lock = await self.acquire(wait=wait)
        try:
            async with in_background(lambda: self.keep_alive(lock)):
                yield lock
        finally:
            with suppress(ConnectionFailed):  # unreachable host: the lease runs out by itself
                current = await self.read()
                if current is not None and current.token == lock.token:
                    await self.runner.remove(self.path)
