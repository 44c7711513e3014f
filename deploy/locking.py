"""The host's deploy lock: take it (waiting a bounded time), break it when stale, release it."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import anyio

from deploy.errors import ConnectionFailed, LockHeld
from deploy.ledger import Lock, parse_lock
from deploy.remote import Runner


class HostLock:
    """One lock file on the host, shared by every deployer of that app path."""

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
        return parse_lock(await self.runner.read_file(self.path) or "")

    async def acquire(self, *, reason: str = "deploy", wait: float | None = None) -> Lock:
        """Take the lock, waiting up to `wait` seconds; a stale lock is broken."""
        limit = self.wait if wait is None else wait
        deadline = self.clock() + limit
        while True:
            now = self.clock()
            mine = Lock(self.who, secrets.token_hex(8), now, now + self.ttl, reason)
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

    async def _break_stale(self, seen: Lock | None) -> None:
        """Move a stale lock aside, putting it back if someone replaced it meanwhile."""
        aside = f"{self.path}.stale-{secrets.token_hex(4)}"
        if not await self.runner.rename(self.path, aside):
            return
        moved = parse_lock(await self.runner.read_file(aside) or "")
        if seen is not None and moved is not None and moved.token != seen.token:
            await self.runner.rename(aside, self.path)  # a fresh lock: not ours to break
            await anyio.sleep(0.05)
            return
        self.say(f"broke a stale lock ({seen.owner if seen else 'unreadable'})")
        await self.runner.remove(aside)

    @asynccontextmanager
    async def held(self, *, wait: float | None = None) -> AsyncIterator[Lock]:
        lock = await self.acquire(wait=wait)
        try:
            yield lock
        finally:
            with suppress(ConnectionFailed):  # unreachable host: the lock expires by itself
                current = await self.read()
                if current is not None and current.token == lock.token:
                    await self.runner.remove(self.path)
