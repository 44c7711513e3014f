"""Several hosts, all or nothing: lock all, pull on all, switch, put switched hosts back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import anyio

from deploy.config import Fleet, Target
from deploy.deployer import Deployer
from deploy.errors import ConnectionFailed, DeployError
from deploy.fleet.each import host_deployer
from deploy.host.pulling import pull_first
from deploy.host.remote import connect
from deploy.host.runner import Runner
from deploy.host.session import tag_of
from deploy.ledger import Kind, Lock, Release

RECOVERY_ATTEMPTS = 3  # reconnections tried for a host whose connection dropped mid-switch
RECOVERY_PAUSE = 2.0  # seconds before each (the switch goes on on the host meanwhile)
HEALTH_WORDS = {True: "healthy", False: "NOT healthy", None: "health unknown"}


class HostOutcome(StrEnum):
    """Where one host of a fleet release ended."""

    DEPLOYED = "deployed"  # the new release runs there
    UNCHANGED = "unchanged"  # nothing was changed there
    ROLLED_BACK = "rolled_back"  # it switched, then returned because another host failed
    FAILED = "failed"  # its own release failed (its strategy put the previous one back)
    UNREACHABLE = "unreachable"  # no SSH: what runs there is not known


@dataclass
class HostRun:
    """One host's part in a fleet release, as it stands."""

    target: Target
    outcome: HostOutcome = HostOutcome.UNCHANGED
    previous: str | None = None  # the tag that ran before
    running: str | None = None
    healthy: bool | None = None
    digest: str | None = None
    release: Release | None = None
    error: str | None = None
    lock: Lock | None = None
    reached: bool = False  # SSH connected at least once
    changed: bool = False  # its release began: it may no longer run `previous`
    deployed_before_loss: bool = False  # it ran the new release when its connection dropped
    gates: int = 0  # meeting points passed


def run_line(environment: str, run: HostRun) -> str:
    """One host's end of a fleet release, e.g. `staging web1:22: rolled_back: v1 runs, healthy`."""
    if run.outcome is HostOutcome.UNREACHABLE:
        state = "what runs there is unknown"
    else:
        state = f"{run.running or 'nothing'} runs, {HEALTH_WORDS[run.healthy]}"
    line = f"{environment} {run.target.label}: {run.outcome}: {state}"
    return f"{line} — {run.error}" if run.error else line


class Gate:
    """A meeting point: every host arrives once; all learn together whether all are ok."""

    def __init__(self, parties: int, judge: Callable[[], str | None] = lambda: None) -> None:
        self.left, self.ok, self.judge = parties, True, judge
        self.reason: str | None = None
        self.opened = anyio.Event()

    def arrive(self, ok: bool) -> None:
        self.ok = self.ok and ok
        self.left -= 1
        if self.left == 0:
            self.reason = self.judge() if self.ok else None
            self.ok = self.ok and self.reason is None
            self.opened.set()

    async def passed(self, ok: bool) -> bool:
        self.arrive(ok)
        await self.opened.wait()
        return self.ok


class FleetRelease:
    """`up TAG` on every host: nothing switches before every host is locked and has pulled;
    when any host fails, every host that switched returns to its own previous release."""

    def __init__(
        self, fleet: Fleet, tag: str, *, who: str, say: Callable[[str], None],
        note: Release | None = None, verified: tuple[str, str] | None = None,
    ) -> None:
        self.fleet, self.tag, self.who, self.say, self.note = fleet, tag, who, say, note
        self.verified = verified  # (pinned reference, key fingerprint) checked before any host
        self.hosts = [HostRun(target) for target in fleet.targets]
        count = len(self.hosts)
        self.gates = (Gate(count), Gate(count, self.one_digest), Gate(count))
        self.limit = anyio.Semaphore(fleet.parallel)
        self.failing = False

    async def run(self) -> list[HostRun]:
        async with anyio.create_task_group() as group:
            for host in self.hosts:
                group.start_soon(self.run_host, host)
        reason = self.gates[1].reason
        if reason is not None:
            for host in self.hosts:
                host.error = host.error or reason
        return self.hosts

    def one_digest(self) -> str | None:
        """Why the pulled images may not go on (a tag that moved between pulls), or None."""
        digests = sorted({host.digest or "unknown" for host in self.hosts})
        if len(digests) < 2:
            return None
        return (f"{self.tag} named different images on different hosts ({', '.join(digests)}): "
                "nothing was switched; deploy TAG@sha256:… to pin one")  # fmt: skip

    def deployer(self, runner: Runner, host: HostRun) -> Deployer:
        deployer = host_deployer(runner, host.target, self.who, self.say)
        deployer.verified = self.verified
        return deployer

    async def run_host(self, host: HostRun) -> None:
        lost = False
        try:
            await self.attempt(host)
        except DeployError as error:
            self.failing, host.error = True, str(error)
            lost = host.changed and isinstance(error, ConnectionFailed)
            unreached = isinstance(error, ConnectionFailed) and not host.reached
            if lost:
                host.deployed_before_loss = host.outcome is HostOutcome.DEPLOYED
            host.outcome = HostOutcome.UNREACHABLE if unreached else HostOutcome.FAILED
        finally:
            for gate in self.gates[host.gates:]:
                gate.arrive(False)
        if lost:
            await self.recover(host)

    async def meet(self, host: HostRun, gate: Gate) -> bool:
        host.gates += 1
        return await gate.passed(host.error is None)

    async def attempt(self, host: HostRun) -> None:
        ready, pulled, switched = self.gates
        async with connect(host.target) as runner:
            host.reached = True
            deployer = self.deployer(runner, host)
            await deployer.prepare()
            async with deployer.host_lock.held() as lock:
                host.lock = lock
                await deployer.reconcile()
                host.previous = host.running = await deployer.running_tag()
                if not await self.meet(host, ready):
                    return await settle(deployer, host)  # unchanged: say what runs there
                if self.note is not None:  # an evidence override, recorded on every host
                    await deployer.record(self.note)
                await deployer.get_ready()  # each empty host is set up for blue-green first
                image = await deployer.strategy.image_for(self.tag)
                host.digest = await pull_first(deployer, self.tag, image, host.previous)
                if not await self.meet(host, pulled):
                    return await settle(deployer, host)
                await self.switch(deployer, host)
                if await self.meet(host, switched):
                    await self.let_go(deployer, host)
                elif host.outcome is HostOutcome.DEPLOYED:
                    await self.put_back(deployer, host)

    async def switch(self, deployer: Deployer, host: HostRun) -> None:
        async with self.limit:
            if self.failing:
                return  # another host failed while this one waited its turn
            host.changed = True
            deployer.strategy.hold = True  # blue-green keeps the old colour until all pass
            try:
                release = await deployer.strategy.release(self.tag, Kind.DEPLOY, host.previous)
            except ConnectionFailed:
                raise
            except DeployError as error:
                self.failing = True
                host.outcome, host.error = HostOutcome.FAILED, str(error)
                await settle(deployer, host)
                return
            host.outcome, host.release = HostOutcome.DEPLOYED, release
            host.running, host.digest, host.healthy = release.tag, release.digest, True

    async def let_go(self, deployer: Deployer, host: HostRun) -> None:
        """Every host passed: drain what this host kept. The release stands whatever happens
        here, so a failure is told, never turned into a rollback."""
        try:
            await deployer.strategy.let_go()
        except DeployError as error:
            self.say(f"{host.target.label}: the old colour was not drained ({error}); it stays "
                     "up, unused, until the next deploy replaces it")  # fmt: skip

    async def put_back(self, deployer: Deployer, host: HostRun) -> None:
        """Another host failed: return this one to the release it ran before."""
        failed = [h.target.label for h in self.hosts
                  if h.outcome in (HostOutcome.FAILED, HostOutcome.UNREACHABLE)]  # fmt: skip
        why = f"{', '.join(failed) or 'another host'} failed"
        if host.previous is None:
            host.error = f"{why}; nothing ran here before, so {self.tag} stays"
            return
        self.say(f"{host.target.label}: returning to {host.previous} ({why})")
        try:
            if await deployer.strategy.return_held(why) is None:
                deployer.strategy.hold = False  # this release is the way back: keep nothing
                await deployer.strategy.release(host.previous, Kind.FLEET_ROLLBACK, self.tag)
            host.outcome = HostOutcome.ROLLED_BACK
            host.error = f"returned to {host.previous}: {why}"
        except ConnectionFailed:
            raise
        except DeployError as error:
            host.outcome = HostOutcome.FAILED
            host.error = f"{why}; returning to {host.previous} failed too: {error}"
        await settle(deployer, host)

    async def recover(self, host: HostRun) -> None:
        """The connection dropped during its switch: reconnect, record what runs there, and
        return it to its previous release."""
        problem: DeployError | None = None
        for _ in range(RECOVERY_ATTEMPTS):
            await anyio.sleep(RECOVERY_PAUSE)
            try:
                async with connect(host.target) as runner:
                    problem = await self.return_to_previous(self.deployer(runner, host), host)
                break
            except ConnectionFailed as error:
                problem = error
            except DeployError as error:  # reached, but refused (locked, folder gone, ...)
                problem = error
                break
        else:
            host.outcome, host.running, host.healthy = HostOutcome.UNREACHABLE, None, None
            host.error = (f"the connection dropped during the switch and {RECOVERY_ATTEMPTS} "
                          f"reconnections failed ({problem}); `status` shows what runs there")
            return  # fmt: skip
        back = host.running == host.previous and problem is None
        deployed = host.deployed_before_loss
        host.outcome = HostOutcome.ROLLED_BACK if deployed and back else HostOutcome.FAILED
        after = (f"reconnected, {host.previous or 'nothing'} runs again" if back
                 else f"reconnected, but: {problem or f'{host.running} runs'}")  # fmt: skip
        host.error = f"the connection dropped during the switch; {after}"

    async def return_to_previous(self, deployer: Deployer, host: HostRun) -> DeployError | None:
        await deployer.prepare()
        if host.lock is not None:
            await deployer.host_lock.reclaim(host.lock)
        async with deployer.host_lock.held():
            await deployer.reconcile()
            running = await deployer.running_tag()
            error: DeployError | None = None
            if host.previous is not None and running != host.previous:
                try:
                    await deployer.strategy.release(host.previous, Kind.FLEET_ROLLBACK, running)
                except ConnectionFailed:
                    raise
                except DeployError as failed:
                    error = failed
            await settle(deployer, host)
            return error


async def settle(deployer: Deployer, host: HostRun) -> None:
    """Read what runs on the host now, its digest, and one health probe."""
    image = await deployer.running_image()
    host.running = tag_of(image) if image else None
    host.digest = await deployer.digest(image) if image else None
    host.healthy = (await deployer.quick_health())[0] if image else None
