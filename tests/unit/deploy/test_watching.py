"""The watch's I/O around the pure tally: it decides as lines arrive (not at the next poll),
closes what it follows, falls back to polling when the host cannot follow, and raises a lost
connection as it is. A Runner stand-in hands over the lines (the rig tests run it over SSH)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import anyio
import pytest

from deploy import commands as cmd
from deploy.config import load_target
from deploy.errors import ConnectionFailed
from deploy.host.runner import Result, Runner
from deploy.host.session import HostSession
from deploy.proxy import WatchPolicy
from deploy.strategies.watching import PROBE_INTERVAL, watching
from tests.unit.deploy.test_config import GOOD
from tests.unit.deploy.test_watch_policy import log_line

pytestmark = pytest.mark.anyio


class FollowRunner:
    """`follow` hands over what the test sends; `run` answers a poll with `polled`."""

    def __init__(self, *, follows: bool = True, polled: str = "") -> None:
        self.send, self.receive = anyio.create_memory_object_stream[str](1000)
        self.follows, self.polled = follows, polled
        self.commands: list[cmd.Command] = []
        self.open = 0  # followed commands not closed yet

    @asynccontextmanager
    async def follow(self, command: cmd.Command) -> AsyncIterator[AsyncIterator[str]]:
        self.commands.append(command)
        self.open += 1
        try:
            yield self.receive if self.follows else self.nothing()
        finally:
            self.open -= 1

    async def nothing(self) -> AsyncIterator[str]:  # a host without `timeout`: ends at once
        empty: tuple[str, ...] = ()
        for line in empty:
            yield line

    async def run(self, command: cmd.Command, *, check: bool = True) -> Result:
        self.commands.append(command)
        polled, self.polled = self.polled, ""
        return Result(0, polled, "")


def session(runner: FollowRunner, said: list[str]) -> HostSession:
    return HostSession(cast(Runner, runner), load_target("staging", GOOD), who="t",
                       say=said.append)  # fmt: skip


def closed_port() -> int:
    """A loopback port nothing listens on: every health probe of it fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_verdict_comes_as_the_5xx_arrive_and_the_follow_is_closed() -> None:
    runner, said = FollowRunner(), list[str]()
    async with watching(session(runner, said), "green", 500, seconds=30, poll=None) as watch:
        start = time.monotonic()
        async with anyio.create_task_group() as group:
            async def bad_answers() -> None:
                await anyio.sleep(0.05)
                for n in range(3):
                    await runner.send.send(log_line(100 + n / 100, "green", 500))
            group.start_soon(bad_answers)
            reason = await watch.judge(closed_port(), None, 30, WatchPolicy())
        took = time.monotonic() - start
        assert runner.open == 1
    assert reason == "3 of 3 answers through the proxy were 5xx (100% > 5%)"
    assert took < PROBE_INTERVAL * 0.9  # before the second probe could fail: the log decided
    assert runner.open == 0
    assert runner.commands == [cmd.follow_from("/srv/app/proxy/logs/access.log", 500, 30)]
    assert watch.tally.first_error_at == 100.0


async def test_a_watch_without_5xx_lasts_its_seconds_and_passes() -> None:
    runner, said = FollowRunner(), list[str]()
    async with watching(session(runner, said), "green", 0, seconds=1, poll=None) as watch:
        for n in range(5):
            await runner.send.send(log_line(100 + n, "green", 200))
        policy = WatchPolicy(failed_probes=1000)  # the closed port's probes do not count here
        assert await watch.judge(closed_port(), None, 0.3, policy) is None
    assert watch.tally.stats.requests == 5


async def test_a_host_that_cannot_follow_is_polled_from_where_the_follow_stopped() -> None:
    lines = "".join(log_line(100 + n / 100, "green", 500) + "\n" for n in range(3))
    runner, said = FollowRunner(follows=False, polled=lines), list[str]()
    async with watching(session(runner, said), "green", 42, seconds=30, poll=None) as watch:
        reason = await watch.judge(closed_port(), None, 30, WatchPolicy())
    assert reason == "3 of 3 answers through the proxy were 5xx (100% > 5%)"
    assert runner.commands[1] == cmd.read_from("/srv/app/proxy/logs/access.log", 42)
    assert said == ["could not follow proxy/logs/access.log on the host (`timeout` and "
                    "`tail -F` are needed); reading it every 0.5s instead"]  # fmt: skip


async def test_polling_reads_on_from_the_bytes_already_counted() -> None:
    first = log_line(100.0, "green", 500) + "\n"
    runner, said = FollowRunner(polled=first + "half a li"), list[str]()
    async with watching(session(runner, said), "green", 10, seconds=30, poll=0.05) as watch:
        await watch.judge(closed_port(), None, 0.2, WatchPolicy(failed_probes=1000))
    assert runner.commands[0] == cmd.read_from("/srv/app/proxy/logs/access.log", 10)
    assert runner.commands[1] == cmd.read_from("/srv/app/proxy/logs/access.log",
                                               10 + len(first))  # fmt: skip
    assert watch.tally.stats.errors == 1


async def test_a_lost_connection_is_raised_as_it_is_and_nothing_stays_open() -> None:
    runner, said = FollowRunner(), list[str]()

    async def lost() -> AsyncIterator[str]:
        raise ConnectionFailed("The SSH connection was lost running `tail`.")
        yield ""

    runner.receive = lost()  # type: ignore[assignment]
    with pytest.raises(ConnectionFailed, match="lost running"):
        async with watching(session(runner, said), "green", 0, seconds=30, poll=None) as watch:
            await watch.judge(closed_port(), None, 30, WatchPolicy(failed_probes=1000))
    assert runner.open == 0


async def test_settle_reads_late_5xx_until_the_old_colour_answers_after_the_reload() -> None:
    runner, said = FollowRunner(), list[str]()
    async with watching(session(runner, said), "green", 0, seconds=30, poll=None) as watch:
        for line in (log_line(100.0, "green", 500), log_line(100.3, "green", 500),
                     log_line(100.2, "blue", 200), log_line(100.35, "blue", 200)):  # fmt: skip
            await runner.send.send(line)
        start = time.monotonic()
        await watch.settle(100.25)
        assert time.monotonic() - start < 0.5  # it did not wait out SETTLE_SECONDS
    assert (watch.tally.stats.errors, watch.tally.last_error_at) == (2, 100.3)
