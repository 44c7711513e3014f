"""Orchestration: lock → settle → the strategy's release → record (uses a Runner)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

from deploy import commands as cmd
from deploy.choice import AUTO, Choice, Folder, choose
from deploy.config import check_tag
from deploy.errors import (
    InvalidInput,
    NothingToRollBack,
    PreflightFailed,
)
from deploy.host.health import wait_healthy
from deploy.host.lock import HostLock
from deploy.host.session import HostSession, now_iso, tag_of
from deploy.ledger import (
    Kind,
    Lock,
    LockEvent,
    Release,
    left_interrupted,
    mark_interrupted,
    rollback_target,
    unfinished,
)
from deploy.proxy import LIVE_FILE
from deploy.strategies import strategy_named
from deploy.strategies.adopt import Adoption
from deploy.strategies.base import Layout, Strategy
from deploy.strategies.canary import Canary
from deploy.strategies.folder import hint_once, read_folder
from deploy.strategies.swarm import Swarm


@dataclass(frozen=True, slots=True)
class Status:
    """What runs on the host now."""

    environment: str
    tag: str | None
    image: str | None
    digest: str | None
    healthy: bool | None
    health_detail: str
    lock: Lock | None
    last_release: Release | None
    strategy: str = "recreate"
    layout: Layout = field(default_factory=Layout)
    unsettled: tuple[str, ...] = ()  # ids of attempts shown as interrupted, not yet recorded


class Deployer(HostSession):
    """Deploys, rolls back and reports on one target: lock → settle → the strategy's
    release → record. Strategies see only the HostSession it extends."""

    chosen: Strategy | None = None

    @property
    def swarm(self) -> bool:
        """`<ENV>_TARGET=swarm`: the stack on a manager, not a compose folder's strategies."""
        return self.target.kind == "swarm"

    @property
    def strategy(self) -> Strategy:
        """The folder's strategy (`prepare` reads it); unset, before that: recreate."""
        if self.chosen is None:
            self.pick(Folder(in_use=True))  # nothing read yet: nothing to set up
        assert self.chosen is not None
        return self.chosen

    def pick(self, folder: Folder) -> Choice:
        """The strategy deploy/choice.py picks for the setting and what the folder holds."""
        choice = choose(self.target.release.strategy, folder)
        self.chosen = strategy_named(self, choice.strategy)
        return choice

    async def prepare(self) -> None:
        """The app folder's checks, then its strategy: with `<ENV>_STRATEGY` unset, blue-green
        where `init`'s layout is, else recreate (until `get_ready` sets up an empty folder)."""
        await super().prepare()
        if self.chosen is None and self.target.release.strategy == AUTO and not self.swarm:
            live = await self.runner.read_file(self.file(LIVE_FILE))
            self.pick(Folder(blue_green=live is not None, in_use=True))

    async def get_ready(self) -> None:
        """Under the lock, before a deploy: the strategy deploy/choice.py picks for what the
        folder holds; an empty folder is set up for blue-green first (as `init` does), and a
        folder that keeps recreate only because the setting is unset gets a hint, once."""
        setting = self.target.release.strategy
        if self.swarm:  # Swarm's rolling update: no folder to set up, no proxy
            self.chosen = strategy_named(self, setting)
            return
        folder = Folder() if setting == "recreate" else await read_folder(self)  # no reads
        choice = self.pick(folder)
        if choice.set_up:
            self.say("nothing runs here yet: setting up blue-green (as `init` does)")
            for change in await self.lay_out():
                self.say(change)
        if choice.hint:
            await hint_once(self, folder)

    @cached_property
    def host_lock(self) -> HostLock:
        target = self.target
        return HostLock(
            self.runner, self.file(cmd.LOCK_FILE), who=self.who, environment=target.environment,
            ttl=target.lock_ttl, wait=target.lock_wait, say=self.say, clock=self.clock,
        )  # fmt: skip

    # -- public operations -------------------------------------------------------------

    async def deploy(
        self, tag: str, *, kind: Kind = Kind.DEPLOY, note: Release | None = None
    ) -> Release:
        """Deploy `tag`; `note` (an evidence override) is recorded first, under the lock."""
        check_tag(tag)
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            if note is not None:
                await self.record(note)
            await self.get_ready()
            return await self.strategy.release(tag, kind, await self.running_tag())

    async def rollback(self, to: str | None = None) -> Release:
        if to is not None:
            check_tag(to)
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            history = await self.history()
            try:
                tag = rollback_target(history, await self.running_tag(), to)
            except NothingToRollBack:
                if to is not None or not isinstance(self.strategy, Swarm):
                    raise
                return await self.strategy.previous_spec(
                    "the ledger has no healthy release other than the running one")
            tag = await self.vetted(tag)  # <ENV>_VERIFY_KEY: before anything is pulled
            why = "asked for" if to else "the ledger's last healthy release other than this one"
            self.say(f"rolling back to {tag} ({why})")
            return await self.strategy.release(tag, Kind.ROLLBACK, await self.running_tag())

    async def init(self) -> list[str]:
        """Turn the app folder into blue-green (idempotent); what changed, one line each."""
        if self.swarm:
            raise InvalidInput(
                f"init sets up blue-green on a Docker host, and {self.target.prefix}_TARGET is "
                "swarm: Swarm's rolling update needs no set-up (`up` deploys the stack)."
            )
        if self.target.release.strategy == "recreate":
            raise InvalidInput(
                f"init sets up blue-green, and {self.target.prefix}_STRATEGY is recreate: unset "
                "it (or set blue-green) first."
            )
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            return await self.lay_out()

    async def lay_out(self) -> list[str]:
        """`init`'s one code path (`init`, and a first deploy to an empty folder): the folder
        becomes blue-green, adopting what runs; what changed, one line each."""
        changes = await Adoption(self).run()
        self.pick(Folder(blue_green=True))
        return changes

    async def promote(self) -> Release:
        """Continue a paused canary from its next step."""
        canary = self.canary()
        await self.prepare()
        async with self.host_lock.held():
            return await canary.promote()

    async def abort(self) -> str:
        """Remove a paused canary: the stable colour serves alone again."""
        canary = self.canary()
        await self.prepare()
        async with self.host_lock.held():
            return await canary.abort_by_hand()

    def canary(self) -> Canary:
        if not isinstance(self.strategy, Canary):
            raise InvalidInput(
                f"promote and abort act on a canary: {self.target.prefix}_STRATEGY is "
                f"{self.target.release.strategy}, not canary."
            )
        return self.strategy

    async def status(self, *, probe: bool = True) -> Status:
        """What runs now; read-only: an interrupted attempt is reported, never recorded."""
        await self.prepare()
        lock = await self.host_lock.read()
        image = await self.running_image()
        healthy, detail = await self.quick_health() if probe and image else (None, "not probed")
        history = await self.history()
        running = tag_of(image) if image else None
        interrupted = left_interrupted(history, lock, running, self.clock(), now_iso())
        last = next(reversed(history), None)
        return Status(
            environment=self.target.environment,
            tag=tag_of(image) if image else None,
            image=image,
            digest=await self.digest(image) if image else None,
            healthy=healthy,
            health_detail=detail,
            lock=lock,
            last_release=interrupted.get(last.id, last) if last else None,
            strategy=self.strategy.name,
            layout=await self.strategy.layout(),
            unsettled=tuple(interrupted),
        )

    async def quick_health(self) -> tuple[bool, str]:
        """One probe of the health port (3 s at most): healthy or not, and what it saw."""
        quick = replace(self.target.health, successes=1, timeout=3.0)
        async with self.runner.forward_port(quick.port) as port:
            verdict = await wait_healthy(port, quick)
        return verdict.healthy, verdict.last.detail

    async def logs(self, lines: int, follow: bool, on_line: Callable[[str], None]) -> int:
        """Stream the running release's log (`--follow` until cancelled); its exit status."""
        await self.prepare()
        container = await self.strategy.serving_container()
        if container is None:
            raise PreflightFailed(
                f"Nothing runs in {self.path} on {self.target.host}: no log to show."
            )
        return await self.runner.stream(cmd.container_logs(container, lines, follow=follow),
                                        on_line)  # fmt: skip

    async def lock(self, reason: str) -> Lock:
        """Take the lock and keep it (for maintenance) until `unlock`; recorded in the ledger."""
        await self.prepare()
        held = await self.host_lock.acquire(reason=reason, manual=True)
        await self.append_ledger(LockEvent("lock", now_iso(), self.who, reason).to_line())
        return held

    async def unlock(self) -> Lock | None:
        """Remove the lock whoever holds it; returns what was removed (recorded if anything)."""
        removed = await self.host_lock.remove()
        if removed is not None:
            event = LockEvent("unlock", now_iso(), self.who, removed.reason, removed.owner)
            await self.append_ledger(event.to_line())
        return removed

    # -- helpers the strategies share ---------------------------------------------------

    # -- host state ----------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Attempts left 'started' by a vanished deployer get what actually runs recorded."""
        interrupted = unfinished(await self.history())
        running = await self.running_tag() if interrupted else None
        for release in interrupted:
            self.say(f"attempt {release.id} ({release.tag}) was interrupted; {running} runs")
            await self.record(mark_interrupted(release, running, now_iso()))

    async def running_image(self) -> str | None:
        return await self.strategy.serving_image()

    async def running_tag(self) -> str | None:
        image = await self.running_image()
        return tag_of(image) if image else None

