"""The swarm target: render the stack, `docker stack deploy` the pinned digest on a manager,
wait for Swarm to converge (or roll itself back), judge, record."""

from __future__ import annotations

import json
from dataclasses import replace

import anyio

from deploy import commands as cmd
from deploy.errors import (
    HealthCheckFailed,
    NothingToRollBack,
    PreflightFailed,
    PullFailed,
    RemoteCommandFailed,
)
from deploy.host import pulling
from deploy.host.health import wait_healthy
from deploy.host.session import HostSession, tag_of
from deploy.ledger import Kind, Outcome, Release
from deploy.strategies.base import HoldsNothing, Layout, SwarmTask, SwarmView
from deploy.swarm import service as swarm
from deploy.swarm.stack import StackError, bind_sources, render_stack, service_name, stack_text

POLL_SECONDS = 1.0


def pinned(image: str, digest: str) -> str:
    """`reg/app:v2` (or already pinned) + `sha256:..` → `reg/app:v2@sha256:..`."""
    return f"{image.partition('@')[0]}@{digest}"


class Swarm(HoldsNothing):
    """One service of a stack on a Swarm manager; Swarm rolls out and rolls back."""

    name = "swarm"

    def __init__(self, host: HostSession) -> None:
        self.host = host
        self.service = service_name(host.target)

    # -- reading ---------------------------------------------------------------------------

    async def state(self) -> swarm.ServiceState | None:
        """The service as the manager describes it; None when it does not exist."""
        found = await self.host.runner.run(swarm.service_inspect(self.service), check=False)
        if not found.ok:
            return None
        try:
            return swarm.parse_service(found.stdout)
        except (ValueError, KeyError, TypeError) as error:
            raise PreflightFailed(
                f"`docker service inspect {self.service}` answered something unexpected "
                f"({error}): is {self.host.target.host} a Swarm manager?"
            ) from error

    async def tasks(self) -> list[swarm.Task]:
        found = await self.host.runner.run(swarm.service_tasks(self.service), check=False)
        return swarm.parse_tasks(found.stdout) if found.ok else []

    async def serving_image(self) -> str | None:
        state = await self.state()
        return state.image if state else None

    async def serving_container(self) -> str | None:
        found = await self.host.runner.run(swarm.task_container(self.service), check=False)
        ids = found.stdout.split()
        return ids[0] if found.ok and ids else None

    async def image_for(self, tag: str) -> str:
        return await self.host.resolve_image(tag)

    async def layout(self) -> Layout:
        state = await self.state()
        tasks = swarm.active(await self.tasks())
        view = SwarmView(
            service=self.service, running=sum(task.running for task in tasks),
            desired=state.replicas if state else None,
            update_state=state.update.state if state and state.update else None,
            update_message=state.update.message if state and state.update else "",
            tasks=tuple(SwarmTask(task.name, task.node, task.current, task.image, task.digest,
                                  task.error) for task in tasks),
            images=tuple(swarm.drift(tasks)),
            previous_image=state.previous_image if state else None,
        )  # fmt: skip
        warnings: tuple[str, ...] = ()
        if view.drift:
            warnings = (f"drift: the running tasks run {len(view.images)} different images: "
                        + ", ".join(view.images),)  # fmt: skip
        return Layout(proxy=f"Swarm service {self.service}", warnings=warnings, swarm=view)

    # -- releasing -------------------------------------------------------------------------

    async def release(self, tag: str, kind: Kind, previous: str | None) -> Release:
        host = self.host
        image = await host.resolve_image(tag)
        phases: dict[str, float] = {}
        record = host.started(kind, tag, image, previous)
        record = await pulling.pull_unless_present(
            host, record, phases, cmd.Command(("docker", "pull", image)))  # fmt: skip
        if record.digest is None:
            await host.record(host.finish(record, Outcome.PULL_FAILED, "no digest", phases))
            raise PullFailed(
                f"{image} has no registry digest on {host.target.host}: Swarm runs images by "
                "digest from a registry; push it there and deploy it again."
            )
        wanted = pinned(image, record.digest)
        record = replace(record, tag=tag_of(wanted) or tag, image=wanted)
        await host.record(record)
        before = await self.state()
        await self.deploy_stack(tag, wanted, record, phases)
        verdict = await self.converge(wanted, phases, before=before.update if before else None)
        if verdict.phase is swarm.Phase.CONVERGED:
            problem = await self.own_check(wanted, phases)
            if problem is None:
                what = "rolled back to" if kind is Kind.ROLLBACK else "deployed"
                message = f"{what} {record.tag}: {verdict.detail}"
                done = host.finish(record, Outcome.HEALTHY, message, phases)
                await host.record(done)
                host.say(f"{record.tag} is healthy ({verdict.detail})")
                return done
            host.say(f"{problem}; asking Swarm to roll back")
            back = await host.runner.run(swarm.service_rollback(self.service), check=False)
            if back.ok:
                await self.converge(wanted, phases, until_rolled_back=True)
            phase = swarm.Phase.ROLLED_BACK if back.ok else swarm.Phase.PAUSED
            verdict = replace(verdict, phase=phase, detail=problem)
        raise HealthCheckFailed(await self.failed(record, verdict, phases))

    async def deploy_stack(
        self, tag: str, image: str, record: Release, phases: dict[str, float]
    ) -> None:
        """Render the stack from the compose model with `tag` and run `docker stack deploy`."""
        host = self.host
        config = await host.runner.run(
            cmd.compose_config_json(host.tool, host.path, tag, "IMAGE_TAG"))  # fmt: skip
        try:
            stack = render_stack(json.loads(config.stdout), host.target, image)
        except (StackError, ValueError) as error:
            await host.record(host.finish(record, Outcome.FAILED, str(error), phases))
            raise PreflightFailed(f"{host.path}: the compose file cannot become a stack: "
                                  f"{error}. Nothing was changed.") from error  # fmt: skip
        sources = bind_sources(stack)
        if sources:  # Swarm refuses a bind mount whose folder is missing; Compose made it
            await host.runner.run(swarm.make_missing(sources))
        await host.runner.write_file(host.file(swarm.STACK_FILE), stack_text(stack),
                                     mode=swarm.STACK_FILE_MODE)  # fmt: skip
        await host.set_env("IMAGE_TAG", tag)
        host.say(f"docker stack deploy {host.target.swarm.stack}: {self.service} → {image}")
        mark = host.clock()
        try:
            await host.runner.run(swarm.stack_deploy(host.path, host.target.swarm.stack))
        except RemoteCommandFailed as error:
            message = f"docker stack deploy failed: {error}"
            await host.record(host.finish(record, Outcome.FAILED, message, phases))
            raise
        phases["stack_deploy"] = host.clock() - mark

    async def converge(
        self, image: str, phases: dict[str, float], *, before: swarm.UpdateStatus | None = None,
        rollback: bool = False, until_rolled_back: bool = False,
    ) -> swarm.Verdict:
        """Poll the manager until Swarm finished (converged, rolled back, paused) or the
        timeout; one progress line whenever what it reports changes."""
        host = self.host
        mark, said = host.clock(), ""
        timeout = host.target.swarm.converge_timeout
        while True:
            state = await self.state()
            if state is None:
                raise PreflightFailed(f"The service {self.service} vanished during the update.")
            verdict = swarm.judge(state, await self.tasks(), image, before=before,
                                  rollback=rollback)
            if verdict.detail != said:
                said = verdict.detail
                host.say(f"swarm: {said}")
            done = verdict.phase is not swarm.Phase.WAITING
            if until_rolled_back:
                done = verdict.phase is not swarm.Phase.CONVERGED and (
                    state.update is None or state.update.state != "rollback_started")
            if done or host.clock() - mark > timeout:
                phases["converge"] = host.clock() - mark
                return verdict
            await anyio.sleep(POLL_SECONDS)

    async def own_check(self, image: str, phases: dict[str, float]) -> str | None:
        """The deployer's own proof once Swarm says healthy: the health contract through the
        tunnel, the identity, the declared checks; why it failed, or None."""
        host = self.host
        mark = host.clock()
        commit = await host.revision(image)
        async with host.runner.forward_port(host.target.health.port) as port:
            verdict = await wait_healthy(port, host.target.health, expect_commit=commit,
                                         progress=host.progress)  # fmt: skip
            phases["healthy"] = host.clock() - mark
            if not verdict.healthy:
                return f"Swarm converged but the health port says: {verdict.last.detail}"
            problem = await host.identity_problem(self.serving_container, image)
            if problem is not None:
                return f"healthy, but not proven to be {image}: {problem}"
            return await host.verify(port, phases)

    async def failed(self, record: Release, verdict: swarm.Verdict,
                     phases: dict[str, float]) -> str:  # fmt: skip
        """Record a failed release (the tasks' errors, the last log lines) and what Swarm
        left running; the sentence the error carries."""
        host = self.host
        tasks = await self.tasks()
        errors = swarm.task_errors(tasks, record.image)
        for line in errors:
            host.say(f"task {line}")
        tail = await self.failure_log(swarm.failed_task(tasks, record.image))
        if verdict.phase is swarm.Phase.WAITING:
            detail = (f"Swarm did not finish within {host.target.swarm.converge_timeout:.0f} s "
                      f"({verdict.detail})")  # fmt: skip
        else:
            detail = verdict.detail
        why = "; ".join(errors[:2]) or "no task error was reported"
        message = f"{record.tag} failed: {detail} ({why})"
        await host.record(replace(host.finish(record, Outcome.FAILED, message, phases),
                                  log_tail=tail))  # fmt: skip
        state = await self.state()
        now = state.image if state else None
        if verdict.phase is swarm.Phase.ROLLED_BACK and now and now != record.image:
            back = host.started(Kind.AUTO_ROLLBACK, tag_of(now) or now, now, record.tag)
            back = replace(back, digest=now.partition("@")[2] or None)
            host.say(f"waiting for the tasks of {tag_of(now)} to run again")
            settled: dict[str, float] = {}  # "converge": until its tasks started and passed
            verdict = await self.converge(now, settled, rollback=True)
            healthy = verdict.phase is swarm.Phase.CONVERGED
            outcome = Outcome.HEALTHY if healthy else Outcome.FAILED
            said = "its tasks run" if healthy else "its tasks do NOT run"
            await host.record(host.finish(back, outcome, f"Swarm rolled back by itself "
                                          f"(failure_action: rollback); {said}",
                                          settled))  # fmt: skip
            return f"{message}. Swarm rolled back: {tag_of(now)} runs again ({said})."
        return f"{message}. The service's spec now names {now or 'nothing'}."

    async def failure_log(self, task: swarm.Task | None) -> tuple[str, ...]:
        if task is None:
            return ()
        found = await self.host.runner.run(swarm.task_logs(task.id, pulling.FAILURE_LOG_LINES),
                                           check=False)  # fmt: skip
        shown = cmd.log_tail(found.stdout, pulling.FAILURE_LOG_LINES)
        if shown:
            self.host.say(f"the last {len(shown)} lines of task {task.name}'s log:")
            for line in shown:
                self.host.say(f"  | {line}")
        return shown[-pulling.LEDGER_LOG_LINES :]

    async def previous_spec(self, why: str) -> Release:
        """`rollback` without another healthy release in the ledger: Swarm's previous spec."""
        host = self.host
        state = await self.state()
        if state is None or state.previous_image is None:
            raise NothingToRollBack(f"{why}; and Swarm keeps no previous spec of "
                                    f"{self.service}: deploy a tag instead.")  # fmt: skip
        target = state.previous_image
        problem = swarm.spec_refused(target, await host.history())
        if problem is not None:
            raise NothingToRollBack(f"{why}; and Swarm's previous spec is {tag_of(target)}, "
                                    f"{problem}: deploy a tag instead.")  # fmt: skip
        host.say(f"rolling back to Swarm's previous spec ({target}): {why}")
        record = host.started(Kind.ROLLBACK, tag_of(target) or target, target,
                              tag_of(state.image))  # fmt: skip
        record = replace(record, digest=target.partition("@")[2] or None)
        await host.record(record)
        phases: dict[str, float] = {}
        await host.runner.run(swarm.service_rollback(self.service))
        verdict = await self.converge(target, phases, before=state.update, rollback=True)
        if verdict.phase is swarm.Phase.CONVERGED:
            message = f"rolled back to Swarm's previous spec {record.tag} ({why})"
            done = host.finish(record, Outcome.HEALTHY, message, phases)
            await host.record(done)
            return done
        raise HealthCheckFailed(await self.failed(record, verdict, phases))
