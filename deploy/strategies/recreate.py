"""Recreate: pull, `up -d` the single service on the new tag, health-check, roll back."""

from __future__ import annotations

from dataclasses import replace

from deploy import commands as cmd
from deploy.errors import HealthCheckFailed
from deploy.host import pulling
from deploy.host.health import Probe, Verdict, wait_healthy
from deploy.host.session import HostSession
from deploy.ledger import Kind, Outcome, Release
from deploy.strategies.base import HoldsNothing, Layout

UNHEALTHY_STOP_TIMEOUT = 2  # seconds a release that failed its health check gets to stop


class Recreate(HoldsNothing):
    """The guide's single `api` service, replaced in place (a short outage per release)."""

    name = "recreate"

    def __init__(self, deployer: HostSession) -> None:
        self.host = deployer

    async def serving_container(self) -> str | None:
        host = self.host
        found = await host.runner.run(
            cmd.compose_container_id(host.tool, host.path, host.target.service), check=False)
        container = found.stdout.strip().splitlines()
        return container[0] if found.ok and container else None

    async def serving_image(self) -> str | None:
        container = await self.serving_container()
        return await self.host.container_image(container) if container else None

    async def any_container(self) -> str | None:
        """The service's container, running or exited."""
        host = self.host
        found = await host.runner.run(cmd.compose_any_container(
            host.tool, host.path, host.target.service), check=False)  # fmt: skip
        return next(iter(found.stdout.split()), None) if found.ok else None

    async def layout(self) -> Layout:
        return Layout()

    async def image_for(self, tag: str) -> str:
        return await self.host.resolve_image(tag)

    async def release(self, tag: str, kind: Kind, previous: str | None) -> Release:
        host = self.host
        image = await host.resolve_image(tag)
        phases: dict[str, float] = {}
        started = host.started(kind, tag, image, previous)
        record = await pulling.pull_unless_present(host, started, phases)
        verdict = await self.switch_and_check(tag, image, phases)
        if verdict.healthy:
            done = host.finish(record, Outcome.HEALTHY, f"{tag} is healthy", phases)
            await host.record(done)
            host.say(f"{tag} is healthy ({verdict.seconds:.1f}s)")
            return done
        message = f"{tag} did not become healthy: {verdict.last.detail}"
        host.say(message)
        tail = await pulling.failure_log(host, await self.any_container())
        await host.record(replace(host.finish(record, Outcome.FAILED, message, phases),
                                  log_tail=tail))  # fmt: skip
        raise HealthCheckFailed(await self._recover(previous, message))

    async def switch_and_check(
        self, tag: str, image: str, phases: dict[str, float], *, stop_timeout: int | None = None,
        verify: bool = True,
    ) -> Verdict:
        """Write IMAGE_TAG, recreate the service, wait until *this* image answers, and (unless
        it is the way back after a failure) run the declared checks."""
        host = self.host
        await host.set_env("IMAGE_TAG", tag)
        host.say(f"switching to {tag}")
        mark = host.clock()
        up = cmd.compose_up(host.tool, host.path, stop_timeout, host.target.service)
        switched = await host.runner.run(up, check=False)
        phases["switch"] = host.clock() - mark
        if not switched.ok:
            detail = await host.last_log_line(cmd.SWITCH_LOG, f"exit {switched.exit_status}")
            return Verdict(False, 0.0, 0, Probe(ok=False, detail=f"switch failed: {detail}"))
        mark = host.clock()
        host.say(f"health-checking {tag} ({host.target.health.successes} passes needed)")
        commit = await host.revision(image)
        async with host.runner.forward_port(host.target.health.port) as port:
            verdict = await wait_healthy(port, host.target.health, expect_commit=commit,
                                         progress=host.progress)  # fmt: skip
            phases["healthy"] = host.clock() - mark
            if not verdict.healthy:
                return verdict
            problem = await host.identity_problem(self.any_container, image)
            if problem is not None:
                problem = f"healthy, but not proven to be {tag}: {problem}"
            elif verify:  # the declared checks before the release is declared healthy
                problem = await host.verify(port, phases)
        if problem is not None:
            return replace(verdict, healthy=False, last=Probe(ok=False, detail=problem))
        return verdict

    async def _recover(self, previous: str | None, message: str) -> str:
        """Roll back after a failed health check; the message says what runs now."""
        host = self.host
        if previous is None:
            return f"{message}. No earlier release to roll back to; it is still running."
        host.say(f"rolling back to {previous}")
        mark = host.clock()
        image = await host.resolve_image(previous)
        record = host.started(Kind.AUTO_ROLLBACK, previous, image)
        record = replace(record, digest=await host.digest(image))
        await host.record(record)
        phases: dict[str, float] = {}
        verdict = await self.switch_and_check(
            previous, image, phases, stop_timeout=UNHEALTHY_STOP_TIMEOUT, verify=False
        )
        phases["recovery"] = host.clock() - mark
        outcome = Outcome.HEALTHY if verdict.healthy else Outcome.FAILED
        state = "healthy" if verdict.healthy else f"NOT healthy ({verdict.last.detail})"
        await host.record(host.finish(record, outcome, f"rolled back; {state}", phases))
        return f"{message}. Rolled back: {previous} is running and {state}."
