"""HostSession: the narrow interface strategies use to act on one host (its app folder,
ledger, .env, images and pulls) through a Runner; it knows no strategy and no lock."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from deploy import commands as cmd
from deploy import identity
from deploy.config import Target
from deploy.errors import PreflightFailed
from deploy.host.health import Progress, run_checks, run_smoke_command
from deploy.host.runner import Runner
from deploy.ledger import Kind, Ledger, Outcome, Release, line_to_append, read_ledger

Vet = Callable[[str], Awaitable[tuple[str, str]]]  # reference → (pinned reference, key print)


def tag_of(image: str) -> str | None:
    """`reg:5000/owner/app:v1@sha256:..` → `v1@sha256:..`; None without a tag."""
    last = image.rsplit("/", 1)[-1]
    name, at, digest = last.partition("@")
    if ":" not in name:
        return None
    return name.split(":", 1)[1] + (at + digest if at else "")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class HostSession:
    """One host's app folder through a Runner: what every strategy needs, and nothing more."""

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
        self.vet: Vet | None = None  # <ENV>_VERIFY_KEY set: what each rollback target must pass
        self.verified: tuple[str, str] | None = None  # (pinned reference, key fingerprint)

    async def vetted(self, reference: str) -> str:
        """`reference` pinned to the digest that verified (unchanged when nothing verifies)."""
        if self.vet is None:
            return reference
        pinned, key = await self.vet(reference)
        self.verified = (pinned, key)
        return pinned

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

    async def container_image(self, container_id: str) -> str | None:
        image = await self.runner.run(cmd.container_image(container_id), check=False)
        return image.stdout.strip() or None if image.ok else None

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

    async def verify(self, port: int, phases: dict[str, float]) -> str | None:
        """shipyard.toml's `[[smoke.checks]]` against the release's own forwarded `port`,
        before any user request reaches it; why one failed (check, answer, time), or None."""
        checks, command = self.target.checks, self.target.smoke_command
        if not checks and not command:
            return None
        also = " and the smoke command" if command else ""
        self.say(f"checking {len(checks)} declared request(s){also} before any user request")
        mark, base = self.clock(), f"http://127.0.0.1:{port}"
        failure = await run_checks(base, checks)
        problem = None if failure is None else failure.line()
        if problem is None and command:
            found = await run_smoke_command(command, base, environ=os.environ)
            problem = None if found is None else f"pre-switch smoke command failed: {found}"
        phases["checks"] = self.clock() - mark
        return problem

    async def identity_problem(
        self, find_container: Callable[[], Awaitable[str | None]], image: str
    ) -> str | None:
        """Why the release is not proven to be `image` (None when it is). With identity from
        the health answer the probes proved it already (nothing more is asked of the host);
        by revision label, the container that answered (`find_container`) must run `image`,
        labelled with its commit (deploy/identity.py)."""
        if self.target.health.identity != "revision-label":
            return None
        container_id = await find_container()
        if container_id is None:
            return "no container of the release was found"
        found = await self.runner.run(identity.container_state(container_id), check=False)
        state = identity.parse_state(found.stdout) if found.ok else None
        deployed = await self.runner.run(identity.image_id(image), check=False)
        deployed_id = (deployed.stdout.strip() or None) if deployed.ok else None
        label = await self.revision(state.image_id) if state else None
        commit = await self.revision(image)
        return identity.identity_problem(state, deployed_id, label, commit)

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
        verified = self.verified
        return Release(
            id=secrets.token_hex(6), kind=kind, tag=tag, image=image, digest=None,
            outcome=Outcome.STARTED, started_at=now_iso(), finished_at=None,
            deployed_by=self.who, previous_tag=previous,
            verified_key=verified[1] if verified and verified[0] == tag else None,
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
