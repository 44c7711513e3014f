"""Orchestration: lock → settle → the strategy's release → record (uses a Runner)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from deploy import commands as cmd
from deploy.config import Target, check_tag
from deploy.errors import (
    InvalidInput,
    PreflightFailed,
    PullFailed,
    RemoteCommandFailed,
)
from deploy.health import Progress, wait_healthy
from deploy.ledger import (
    Kind,
    Ledger,
    Lock,
    LockEvent,
    Outcome,
    Release,
    left_interrupted,
    line_to_append,
    mark_interrupted,
    read_ledger,
    rollback_target,
    unfinished,
)
from deploy.locking import HostLock
from deploy.pulling import checked_pin, failure_log, pull_unless_present
from deploy.remote import Runner
from deploy.strategies import Layout, Strategy, strategy_for
from deploy.strategies.adopt import Adoption
from deploy.strategies.canary import Canary


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
        progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.runner = runner
        self.progress = progress  # where a long health wait is shown
        self.target = target
        self.who = who
        self.say = say
        self.clock = clock
        self.path = target.app_path
        self.warned: set[str] = set()
        self.pulled: dict[str, str | None] = {}  # image → digest, pulled before the switch
        self.images: dict[tuple[str, str, str], str] = {}  # (tag, variable, service) → image
        self.tool: tuple[str, ...] = cmd.COMPOSE_V2
        self.strategy: Strategy = strategy_for(self)
        self.host_lock = HostLock(
            runner, self.file(cmd.LOCK_FILE), who=who, environment=target.environment,
            ttl=target.lock_ttl, wait=target.lock_wait, say=say, clock=clock,
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
            return await self.strategy.release(tag, kind, await self.running_tag())

    async def rollback(self, to: str | None = None) -> Release:
        if to is not None:
            check_tag(to)
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            history = await self.history()
            tag = rollback_target(history, await self.running_tag(), to)
            self.say(f"rolling back to {tag}")
            return await self.strategy.release(tag, Kind.ROLLBACK, await self.running_tag())

    async def init(self) -> list[str]:
        """Turn the app folder into blue-green (idempotent); what changed, one line each."""
        if self.target.release.strategy not in ("blue-green", "canary"):
            raise InvalidInput(
                f"init sets up blue-green: set {self.target.prefix}_STRATEGY=blue-green "
                "(it is recreate now)."
            )
        await self.prepare()
        async with self.host_lock.held():
            await self.reconcile()
            return await Adoption(self).run()

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

    async def ledger(self) -> Ledger:
        """The host's ledger; each unreadable line is told once, and skipped."""
        ledger = read_ledger(await self.runner.read_bytes(self.file(cmd.LEDGER_FILE)) or b"")
        for warning in ledger.warnings:
            if warning not in self.warned:
                self.warned.add(warning)
                self.say(f"warning: {warning}")
        return ledger

    async def history(self) -> list[Release]:
        return (await self.ledger()).releases

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

    async def pull(
        self, record: Release, phases: dict[str, float], command: cmd.Command | None = None
    ) -> Release:
        """Pull the record's image (nothing changes on failure); record the digest."""
        previous = record.previous_tag
        self.say(f"pulling {record.image}")
        mark = self.clock()
        try:
            await self.runner.run(command or cmd.compose_pull(
                self.tool, self.path, record.tag, self.target.service))
        except RemoteCommandFailed as error:
            failed = self.finish(record, Outcome.PULL_FAILED, f"pull failed: {error}", phases)
            await self.record(failed)
            raise PullFailed(
                f"Could not pull {record.image}; nothing was changed, {previous or 'nothing'} "
                f"still runs. {error}"
            ) from error
        phases["pull"] = self.clock() - mark
        record = await checked_pin(self, record, phases)
        await self.record(record)
        return record

    async def pull_unless_present(
        self, record: Release, phases: dict[str, float], command: cmd.Command | None = None
    ) -> Release:
        """Pull a deploy's image; a rollback to an image on the host skips the pull."""
        return await pull_unless_present(self, record, phases, command)

    async def failure_log(self, container_id: str | None) -> tuple[str, ...]:
        """Show a failed release's last log lines; a shorter tail for the ledger."""
        return await failure_log(self, container_id)

    async def set_env(self, key: str, value: str) -> None:
        """Set KEY=VALUE in the app's .env atomically, keeping every other line."""
        env_path = self.file(cmd.ENV_FILE)
        current = await self.runner.read_file(env_path) or ""
        await self.runner.write_file(
            env_path, cmd.set_env_value(current, key, value), mode=cmd.ENV_FILE_MODE
        )

    async def env_values(self) -> dict[str, str]:
        return cmd.parse_env_file(await self.runner.read_file(self.file(cmd.ENV_FILE)) or "")

    async def last_log_line(self, relative: str, default: str) -> str:
        log = await self.runner.read_file(self.file(relative)) or ""
        return (log.strip().splitlines()[-1:] or [default])[0]

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
        return await self.strategy.serving_image()

    async def container_image(self, container_id: str) -> str | None:
        image = await self.runner.run(cmd.container_image(container_id), check=False)
        return image.stdout.strip() or None if image.ok else None

    async def running_tag(self) -> str | None:
        image = await self.running_image()
        return tag_of(image) if image else None

    async def resolve_image(
        self, tag: str, variable: str = "IMAGE_TAG", service: str | None = None
    ) -> str:
        """The image `service` (default: the target's) would run with `variable`=`tag`."""
        service = service or self.target.service
        key = (tag, variable, service)  # one command's answers (a fleet asks twice)
        if key not in self.images:
            config = await self.runner.run(
                cmd.compose_config_json(self.tool, self.path, tag, variable))
            try:
                self.images[key] = cmd.parse_service_image(config.stdout, service)
            except ValueError as error:
                raise PreflightFailed(
                    f"{self.path}: {error}. Set {self.target.prefix}_SERVICE to the service "
                    "that runs the app."
                ) from error
        return self.images[key]

    async def digest(self, image: str) -> str | None:
        found = await self.runner.run(cmd.image_repo_digests(image), check=False)
        return cmd.parse_repo_digest(found.stdout, image) if found.ok else None

    async def revision(self, image: str) -> str | None:
        found = await self.runner.run(cmd.image_revision(image), check=False)
        return cmd.parse_revision(found.stdout) if found.ok else None

    async def record(self, release: Release) -> None:
        await self.append_ledger(release.to_line())

    async def append_ledger(self, line: str) -> None:
        """Append one line; the lines already there are never rewritten (nor lost)."""
        path = self.file(cmd.LEDGER_FILE)
        existing = await self.runner.read_bytes(path) or b""
        await self.runner.append_file(path, line_to_append(existing, line))

    def started(self, kind: Kind, tag: str, image: str, previous: str | None = None) -> Release:
        return Release(
            id=secrets.token_hex(6), kind=kind, tag=tag, image=image, digest=None,
            outcome=Outcome.STARTED, started_at=now_iso(), finished_at=None,
            deployed_by=self.who, previous_tag=previous,
        )  # fmt: skip

    def finish(
        self, record: Release, outcome: Outcome, message: str, phases: dict[str, float]
    ) -> Release:
        rounded = tuple((name, round(seconds, 3)) for name, seconds in phases.items())
        if record.message.startswith("warning:"):
            message = f"{message} ({record.message})"
        return replace(
            record, outcome=outcome, finished_at=now_iso(), message=message, phases=rounded
        )

    def file(self, relative: str) -> str:
        return f"{self.path}/{relative}"
