"""Orchestration: lock → pull → switch → health → record, or roll back (uses a Runner)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from deploy import commands as cmd
from deploy.config import Target, check_tag
from deploy.errors import (
    HealthCheckFailed,
    LockHeld,
    PreflightFailed,
    PullFailed,
    RemoteCommandFailed,
)
from deploy.health import Probe, Verdict, wait_healthy
from deploy.ledger import (
    Kind,
    Lock,
    Outcome,
    Release,
    append_record,
    mark_interrupted,
    parse_ledger,
    rollback_target,
    unfinished,
)
from deploy.locking import HostLock
from deploy.remote import Runner


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


UNHEALTHY_STOP_TIMEOUT = 2  # seconds a release that failed its health check gets to stop


def tag_of(image: str) -> str | None:
    """`reg:5000/owner/app:v1@sha256:..` → `v1@sha256:..`; None without a tag."""
    last = image.rsplit("/", 1)[-1]
    name, at, digest = last.partition("@")
    if ":" not in name:
        return None
    return name.split(":", 1)[1] + (at + digest if at else "")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Deployer:
    """Deploys, rolls back and reports on one target through a Runner."""

    def __init__(
        self,
        runner: Runner,
        target: Target,
        *,
        who: str,
        say: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.target = target
        self.who = who
        self.say = say
        self.clock = clock
        self.path = target.app_path
        self.tool: tuple[str, ...] = cmd.COMPOSE_V2
        self.host_lock = HostLock(
            runner, self._file(cmd.LOCK_FILE), who=who, environment=target.environment,
            ttl=target.lock_ttl, wait=target.lock_wait, say=say, clock=clock,
        )  # fmt: skip

    # -- public operations -------------------------------------------------------------

    async def deploy(self, tag: str, *, kind: Kind = Kind.DEPLOY) -> Release:
        check_tag(tag)
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            return await self._deploy_locked(tag, kind)

    async def rollback(self, to: str | None = None) -> Release:
        if to is not None:
            check_tag(to)
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            history = await self.history()
            tag = rollback_target(history, await self.running_tag(), to)
            self.say(f"rolling back to {tag}")
            return await self._deploy_locked(tag, Kind.ROLLBACK)

    async def status(self, *, probe: bool = True) -> Status:
        await self.prepare()
        lock = await self.host_lock.read()
        if lock is None or lock.expired(self.clock()):
            try:
                async with self.host_lock.held(wait=0):
                    await self.reconcile()
            except LockHeld:
                pass  # a deployer just started; its attempt is not ours to settle
        image = await self.running_image()
        healthy, detail = None, "not probed"
        if probe and image:
            quick = replace(self.target.health, successes=1, timeout=3.0)
            async with self.runner.forward_port(quick.port) as port:
                verdict = await wait_healthy(port, quick)
            healthy, detail = verdict.healthy, verdict.last.detail
        return Status(
            environment=self.target.environment,
            tag=tag_of(image) if image else None,
            image=image,
            digest=await self.digest(image) if image else None,
            healthy=healthy,
            health_detail=detail,
            lock=await self.host_lock.read(),
            last_release=next(reversed(await self.history()), None),
        )

    async def history(self) -> list[Release]:
        return parse_ledger(await self.runner.read_file(self._file(cmd.LEDGER_FILE)) or "")

    async def lock(self, reason: str) -> Lock:
        """Take the lock and keep it (for maintenance) until `unlock`."""
        await self.prepare()
        return await self.host_lock.acquire(reason=reason)

    async def unlock(self) -> Lock | None:
        """Remove the lock whoever holds it; returns what was removed."""
        return await self.host_lock.remove()

    # -- the deploy itself ---------------------------------------------------------------

    async def _deploy_locked(self, tag: str, kind: Kind) -> Release:
        previous = await self.running_tag()
        image = await self.resolve_image(tag)
        phases: dict[str, float] = {}
        started = self.clock()
        record = self._started(kind, tag, image, previous)
        self.say(f"pulling {image}")
        try:
            await self.runner.run(cmd.compose_pull(self.tool, self.path, tag))
        except RemoteCommandFailed as error:
            failed = self._finish(record, Outcome.PULL_FAILED, f"pull failed: {error}", phases)
            await self.record(failed)
            raise PullFailed(
                f"Could not pull {image}; nothing was changed, {previous or 'nothing'} "
                f"still runs. {error}"
            ) from error
        phases["pull"] = self.clock() - started
        record = replace(record, digest=await self.digest(image))
        await self.record(record)
        verdict = await self.switch_and_check(tag, image, phases)
        if verdict.healthy:
            done = self._finish(record, Outcome.HEALTHY, f"{tag} is healthy", phases)
            await self.record(done)
            self.say(f"{tag} is healthy ({verdict.seconds:.1f}s)")
            return done
        message = f"{tag} did not become healthy: {verdict.last.detail}"
        await self.record(self._finish(record, Outcome.FAILED, message, phases))
        self.say(message)
        raise HealthCheckFailed(await self._recover(previous, message))

    async def switch_and_check(
        self, tag: str, image: str, phases: dict[str, float], *, stop_timeout: int | None = None
    ) -> Verdict:
        """Write IMAGE_TAG, recreate the service, and wait until *this* image answers."""
        env_path = self._file(cmd.ENV_FILE)
        current = await self.runner.read_file(env_path) or ""
        await self.runner.write_file(env_path, cmd.set_env_value(current, "IMAGE_TAG", tag))
        self.say(f"switching to {tag}")
        mark = self.clock()
        up = cmd.compose_up(self.tool, self.path, stop_timeout)
        switched = await self.runner.run(up, check=False)
        phases["switch"] = self.clock() - mark
        if not switched.ok:
            log = await self.runner.read_file(self._file(cmd.SWITCH_LOG)) or ""
            detail = log.strip().splitlines()[-1:] or [f"exit {switched.exit_status}"]
            return Verdict(False, 0.0, 0, Probe(ok=False, detail=f"switch failed: {detail[0]}"))
        mark = self.clock()
        self.say(f"health-checking {tag} ({self.target.health.successes} passes needed)")
        commit = await self.revision(image)
        async with self.runner.forward_port(self.target.health.port) as port:
            verdict = await wait_healthy(port, self.target.health, expect_commit=commit)
        phases["healthy"] = self.clock() - mark
        return verdict

    async def _recover(self, previous: str | None, message: str) -> str:
        """Roll back after a failed health check; the message says what runs now."""
        if previous is None:
            return f"{message}. No earlier release to roll back to; it is still running."
        self.say(f"rolling back to {previous}")
        mark = self.clock()
        image = await self.resolve_image(previous)
        record = self._started(Kind.AUTO_ROLLBACK, previous, image)
        record = replace(record, digest=await self.digest(image))
        await self.record(record)
        phases: dict[str, float] = {}
        verdict = await self.switch_and_check(
            previous, image, phases, stop_timeout=UNHEALTHY_STOP_TIMEOUT
        )
        phases["recovery"] = self.clock() - mark
        outcome = Outcome.HEALTHY if verdict.healthy else Outcome.FAILED
        state = "healthy" if verdict.healthy else f"NOT healthy ({verdict.last.detail})"
        await self.record(self._finish(record, outcome, f"rolled back; {state}", phases))
        return f"{message}. Rolled back: {previous} is running and {state}."

    # -- host state ----------------------------------------------------------------------

    async def prepare(self) -> None:
        """Check the app path and compose file; pick the compose tool."""
        done = await self.runner.run(cmd.preflight(self.path), check=False)
        if not done.ok:
            raise PreflightFailed(
                f"{self.path} on {self.target.host} is not a directory with a compose file "
                f"(one of {', '.join(cmd.COMPOSE_FILES)}): create it, or fix "
                f"{self.target.prefix}_APP_PATH."
            )
        self.tool = await self.pick_compose()

    async def pick_compose(self) -> tuple[str, ...]:
        choices: dict[str, list[tuple[str, ...]]] = {
            "v2": [cmd.COMPOSE_V2], "v1": [cmd.COMPOSE_V1], "auto": [cmd.COMPOSE_V2, cmd.COMPOSE_V1]
        }
        wanted = choices[self.target.compose]
        for tool in wanted:
            if (await self.runner.run(cmd.compose_version(tool), check=False)).ok:
                return tool
        raise PreflightFailed(
            f"Neither `docker compose` nor `docker-compose` works on {self.target.host}: "
            "install Docker Compose there."
        )

    async def reconcile(self) -> None:
        """Attempts left 'started' by a vanished deployer get what actually runs recorded."""
        interrupted = unfinished(await self.history())
        running = await self.running_tag() if interrupted else None
        for release in interrupted:
            self.say(f"attempt {release.id} ({release.tag}) was interrupted; {running} runs")
            await self.record(mark_interrupted(release, running, now_iso()))

    async def running_image(self) -> str | None:
        found = await self.runner.run(cmd.compose_container_id(self.tool, self.path), check=False)
        container = found.stdout.strip().splitlines()
        if not found.ok or not container:
            return None
        image = await self.runner.run(cmd.container_image(container[0]), check=False)
        return image.stdout.strip() or None if image.ok else None

    async def running_tag(self) -> str | None:
        image = await self.running_image()
        return tag_of(image) if image else None

    async def resolve_image(self, tag: str) -> str:
        config = await self.runner.run(cmd.compose_config(self.tool, self.path, tag))
        return cmd.parse_compose_image(config.stdout)

    async def digest(self, image: str) -> str | None:
        found = await self.runner.run(cmd.image_repo_digests(image), check=False)
        return cmd.parse_repo_digest(found.stdout, image) if found.ok else None

    async def revision(self, image: str) -> str | None:
        found = await self.runner.run(cmd.image_revision(image), check=False)
        return cmd.parse_revision(found.stdout) if found.ok else None

    async def record(self, release: Release) -> None:
        path = self._file(cmd.LEDGER_FILE)
        text = await self.runner.read_file(path) or ""
        await self.runner.write_file(path, append_record(text, release))

    def _started(self, kind: Kind, tag: str, image: str, previous: str | None = None) -> Release:
        return Release(
            id=secrets.token_hex(6), kind=kind, tag=tag, image=image, digest=None,
            outcome=Outcome.STARTED, started_at=now_iso(), finished_at=None,
            deployed_by=self.who, previous_tag=previous,
        )  # fmt: skip

    def _finish(
        self, record: Release, outcome: Outcome, message: str, phases: dict[str, float]
    ) -> Release:
        rounded = tuple((name, round(seconds, 3)) for name, seconds in phases.items())
        return replace(
            record, outcome=outcome, finished_at=now_iso(), message=message, phases=rounded
        )

    def _file(self, relative: str) -> str:
        return f"{self.path}/{relative}"
