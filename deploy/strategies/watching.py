"""Watching a switched colour: the proxy's log followed over one SSH channel (or polled), its
health probed, and the verdict (deploy.proxy.watch_verdict) taken on every new line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from deploy import commands as cmd
from deploy.errors import DeployError
from deploy.host.background import in_background
from deploy.host.health import probe_port
from deploy.host.session import HostSession
from deploy.proxy import ACCESS_LOG, WatchPolicy, watch_verdict
from deploy.watch_policy import SETTLE_SECONDS, Tally, complete_lines

PROBE_INTERVAL = 0.5  # seconds between health probes of the watched colour
FALLBACK_POLL = 0.5  # seconds between reads of the log when the host cannot follow it


class Watch:
    """The watched colour's lines of the proxy's log since `offset` and its health probes,
    gathered by background tasks; `judge` and `settle` read them as they come."""

    def __init__(self, host: HostSession, colour: str, offset: int, poll: float | None) -> None:
        self.host, self.poll, self.consumed = host, poll, offset
        self.path = host.file(ACCESS_LOG)
        self.tally = Tally(colour)
        self.probes: list[bool] = []
        self.failure: DeployError | None = None
        self._pending: list[str] = []
        self._changed = anyio.Event()

    # -- background: what arrives -----------------------------------------------------------

    def arrived(self, lines: list[str] | None = None) -> None:
        self._pending.extend(lines or ())
        self._changed.set()

    async def read_log(self, seconds: float) -> None:
        """Follow the log (or poll it every `poll` seconds); a lost connection is kept in
        `failure` for the watch to raise, not raised in the background."""
        try:
            if self.poll is None:
                await self.follow(seconds)
            await self.read_every(self.poll or FALLBACK_POLL)
        except DeployError as error:
            self.failure = error
            self.arrived()

    async def follow(self, seconds: float) -> None:
        """Lines as nginx writes them, over one channel; returns only when the host's command
        ended early (no `tail -F` or `timeout` there), after saying so."""
        async with self.host.runner.follow(cmd.follow_from(self.path, self.consumed, seconds)) \
                as lines:  # fmt: skip
            async for line in lines:
                self.consumed += len(line.encode("utf-8")) + 1
                self.arrived([line])
        self.host.say(f"could not follow {ACCESS_LOG} on the host (`timeout` and `tail -F` "
                      f"are needed); reading it every {FALLBACK_POLL}s instead")  # fmt: skip

    async def read_every(self, interval: float) -> None:
        while True:
            found = await self.host.runner.run(cmd.read_from(self.path, self.consumed),
                                               check=False)  # fmt: skip
            lines, used = complete_lines(found.stdout if found.ok else "")
            self.consumed += used
            if lines:
                self.arrived(lines)
            await anyio.sleep(interval)

    async def probe(self, port: int, commit: str | None) -> None:
        while True:
            self.probes.append((await probe_port(port, self.host.target.health, commit)).ok)
            self.arrived()
            await anyio.sleep(PROBE_INTERVAL)

    # -- the watch: what it makes of them ----------------------------------------------------

    async def changed(self, seconds: float) -> None:
        """Count what arrived; wait up to `seconds` for more first when nothing is pending."""
        if not self._pending and not self._changed.is_set():
            with anyio.move_on_after(max(0.0, seconds)):
                await self._changed.wait()
        self._changed = anyio.Event()
        lines, self._pending = self._pending, []
        self.tally = self.tally.read(lines)
        if self.failure is not None:
            raise self.failure

    async def judge(self, port: int, commit: str | None, seconds: float,
                    policy: WatchPolicy) -> str | None:  # fmt: skip
        """Why the colour degraded within `seconds`, or None; decided on every new line."""
        clock, reason = self.host.clock, None
        deadline = clock() + seconds
        async with in_background(lambda: self.probe(port, commit)):
            while reason is None and clock() < deadline:
                await self.changed(deadline - clock())
                reason = watch_verdict(self.tally.stats, self.probes, policy)
        return reason

    async def settle(self, served_at: float | None) -> None:
        """After the switch back: read on until the old colour's first answer since
        `served_at` is logged (or SETTLE_SECONDS), so late 5xx are counted too."""
        deadline = self.host.clock() + SETTLE_SECONDS
        while served_at is not None and not self.tally.settled(served_at):
            left = deadline - self.host.clock()
            if left <= 0:
                return
            await self.changed(left)


@asynccontextmanager
async def watching(host: HostSession, colour: str, offset: int, *, seconds: float,
                   poll: float | None) -> AsyncIterator[Watch]:  # fmt: skip
    """A Watch whose log reader runs for the block (open it before the switch: the first
    answers are read at once); leaving the block ends the reader and closes its channel."""
    watch = Watch(host, colour, offset, poll)
    async with in_background(lambda: watch.read_log(seconds)):
        yield watch
