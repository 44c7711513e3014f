"""Blue-green: start the idle colour, check it directly, switch the proxy, watch, drain."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

from deploy import commands as cmd
from deploy.errors import (
    DeployError,
    HealthCheckFailed,
    InvalidInput,
    PreflightFailed,
    ProxyRejected,
)
from deploy.host import pulling
from deploy.host.health import wait_healthy
from deploy.host.ports import port_taken_error
from deploy.host.session import HostSession
from deploy.layout import LAYOUT_FILE, colour_service, layout_ports, ports_differ, tag_variable
from deploy.ledger import Kind, Outcome, Release
from deploy.proxy import (
    ACCESS_LOG,
    COLOURS,
    LIVE_FILE,
    ColourPorts,
    WatchPolicy,
    colour_port,
    live_upstream,
    other,
    parse_live_colour,
)
from deploy.strategies.base import ColourState, Layout
from deploy.strategies.watching import FALLBACK_POLL, Watch, watching
from deploy.watch_policy import user_visible

DEGRADED_STOP_TIMEOUT = 2  # seconds a colour that failed its check or watch gets to stop
STAGED_LIVE_FILE = f"{LIVE_FILE}.back"  # during a watch: the switch back's live.upstream


class BlueGreen:
    """Two colours of `api` behind nginx; the proxy's live.upstream says which one serves."""

    name = "blue-green"
    # False: read the proxy's log every FALLBACK_POLL s and switch back with `nginx -t` and a
    # reload in `docker exec` (the fallbacks, and the watch before issue 18: benchmarks compare)
    fast_watch = True

    def __init__(self, deployer: HostSession) -> None:
        self.host = deployer
        self.policy = WatchPolicy()
        self._proxy_id: str | None = None
        self._ports: ColourPorts | None = None
        self.hold = False  # a fleet's release: keep the old colour running (see let_go)
        self.held: tuple[str, Release] | None = None  # (old colour, the release that replaced it)

    # -- what is on the host ---------------------------------------------------------------

    async def laid_out_ports(self) -> ColourPorts | None:
        """The colours' ports in the app folder's compose file (None: not written by init)."""
        return layout_ports(await self.host.runner.read_file(self.host.file(LAYOUT_FILE)))

    async def colour_ports(self) -> ColourPorts:
        """The colours' ports, as `<ENV>_COLOUR_PORTS` says and the layout agrees; a layout
        `init` wrote with other ports is refused (its colours listen there), naming the fix."""
        if self._ports is None:
            wanted = self.host.target.release.colour_ports
            found = await self.laid_out_ports()
            if found is not None and found != wanted:
                raise InvalidInput(ports_differ(self.host.target.prefix, self.host.path,
                                                found, wanted))  # fmt: skip
            self._ports = wanted
        return self._ports

    async def live_file(self) -> str | None:
        return await self.host.runner.read_file(self.host.file(LIVE_FILE))

    async def serving_colour(self) -> str | None:
        return parse_live_colour(await self.live_file())

    async def states(self) -> dict[str, cmd.ContainerState]:
        host = self.host
        found = await host.runner.run(cmd.compose_states(host.tool, host.path), check=False)
        return cmd.parse_compose_states(found.stdout) if found.ok else {}

    async def serving_container(self) -> str | None:
        colour = await self.serving_colour()
        state = (await self.states()).get(colour_service(colour)) if colour else None
        return state.container_id if state and state.state == "running" else None

    async def serving_image(self) -> str | None:
        container = await self.serving_container()
        return await self.host.container_image(container) if container else None

    async def layout(self) -> Layout:
        serving, states = await self.serving_colour(), await self.states()
        env = await self.host.env_values()
        colours = []
        for colour in COLOURS:
            state = states.get(colour_service(colour))
            image = await self.host.container_image(state.container_id) if state else None
            colours.append(ColourState(
                colour, env.get(tag_variable(colour)), image,
                await self.host.digest(image) if image else None,
                state.state if state else "absent", colour == serving,
            ))  # fmt: skip
        proxy = states.get("proxy")
        running = [c.colour for c in colours if c.state == "running"]
        warnings: tuple[str, ...] = ()
        if len(running) == 2:
            warnings = (f"both colours run; only {serving} serves. The other is the standby of "
                        "a deploy in its watch, or of an interrupted one (the next deploy "
                        "replaces it).",)  # fmt: skip
        found, wanted = await self.laid_out_ports(), self.host.target.release.colour_ports
        if found is not None and found != wanted:
            warnings += (ports_differ(self.host.target.prefix, self.host.path, found, wanted),)
        return Layout(serving, tuple(colours), proxy.state if proxy else "absent", warnings)

    # -- a release ---------------------------------------------------------------------------

    async def image_for(self, tag: str) -> str:
        """Both colours' services name the same image; blue's says which."""
        return await self.host.resolve_image(tag, tag_variable("blue"), colour_service("blue"))

    async def release(self, tag: str, kind: Kind, previous: str | None) -> Release:
        host = self.host
        live = await self.serving_colour()
        if live is None:
            raise PreflightFailed(
                f"{host.path} is not set up for blue-green (no {LIVE_FILE}): run "
                f"`python -m deploy {host.target.environment} init` first."
            )
        await self.colour_ports()  # refuses a layout on other ports before anything changes
        states = await self.states()
        live_running = getattr(states.get(colour_service(live)), "state", "") == "running"
        colour = other(live) if live_running else live
        record, image, phases = await self.start_colour(tag, kind, previous, colour,
                                                        live if live_running else None)
        if live_running:
            await self.switch_and_watch(record, live, image, phases)
            if not self.hold:
                await self.drain(live, phases)
        else:
            await self.switch_or_fail(record, None, phases)
        done = host.finish(record, Outcome.HEALTHY, f"{tag} serves on {colour}", phases)
        await host.record(done)
        host.say(f"{tag} serves on {colour}")
        self.held = (live, done) if self.hold and live_running else None
        return done

    async def let_go(self) -> None:
        """The fleet kept this release: drain the old colour it held."""
        if self.held is not None:
            old, _ = self.held
            self.held = None
            await self.drain(old, {})

    async def return_held(self, why: str) -> Release | None:
        """Another host failed: the old colour, still running, serves again at once (no start,
        no health wait); the new one is drained. None when nothing is held."""
        if self.held is None:
            return None
        (old, done), self.held, host = self.held, None, self.host
        mark = host.clock()
        await self.switch_to(old, serving=done.colour, previous=done.tag)
        back = host.clock() - mark
        previous, image = done.previous_tag or "?", await self.serving_image() or ""
        record = replace(host.started(Kind.FLEET_ROLLBACK, previous, image), colour=old,
                         digest=await host.digest(image) if image else None)  # fmt: skip
        record = host.finish(record, Outcome.HEALTHY,
                             f"{previous} serves on {old} again ({why})", {"switch_back": back})
        await host.record(record)
        await self.drain(done.colour or "?", {})
        return record

    async def start_colour(
        self, tag: str, kind: Kind, previous: str | None, colour: str, serving: str | None
    ) -> tuple[Release, str, dict[str, float]]:
        """Pull `tag` for `colour`, start it and health-check it directly: its record, image
        and phases. A colour that fails is removed before any request reaches it (raises)."""
        host = self.host
        service, variable = colour_service(colour), tag_variable(colour)
        image = await host.resolve_image(tag, variable, service)
        phases: dict[str, float] = {}
        record = replace(host.started(kind, tag, image, previous), colour=colour)
        record = await self.pull_unless_present(record, service, variable, phases)
        await host.set_env(variable, tag)
        detail = await self.start_and_check(colour, image, phases)
        if detail is not None:
            await self.fail_before_switch(record, serving, detail, phases)
        return record, image, phases

    async def pull_unless_present(
        self, record: Release, service: str, variable: str, phases: dict[str, float]
    ) -> Release:
        """Pull a deploy's image; a rollback to an image still on the host skips the pull
        (it works with the registry unreachable)."""
        host = self.host
        pull = cmd.compose_pull(host.tool, host.path, record.tag, service, variable)
        return await pulling.pull_unless_present(host, record, phases, pull)

    async def start_and_check(
        self, colour: str, image: str, phases: dict[str, float]
    ) -> str | None:
        """Start the colour, health-check it directly, prove its identity and run the declared
        checks on its own port; None when it may serve, else why not."""
        host = self.host
        host.say(f"starting {colour} with {image}")
        mark = host.clock()
        started = await host.runner.run(
            cmd.compose_start(host.tool, host.path, colour_service(colour)), check=False)
        phases["start"] = host.clock() - mark
        if not started.ok:
            return "it did not start: " + await host.last_log_line(cmd.SWITCH_LOG, "no log")
        mark = host.clock()
        host.say(f"health-checking {colour} ({host.target.health.successes} passes needed)")
        commit = await host.revision(image)
        ports = await self.colour_ports()
        async with host.runner.forward_port(colour_port(colour, ports)) as port:
            verdict = await wait_healthy(port, host.target.health, expect_commit=commit,
                                         progress=host.progress)  # fmt: skip
            phases["healthy"] = host.clock() - mark
            if not verdict.healthy:
                return verdict.last.detail
            problem = await host.identity_problem(lambda: self.container_of(colour), image)
            if problem is not None:
                return f"healthy, but not proven to be {image}: {problem}"
            return await host.verify(port, phases)  # the declared checks, before any user

    async def container_of(self, colour: str) -> str | None:
        """The id of `colour`'s container (running or not), or None."""
        state = (await self.states()).get(colour_service(colour))
        return state.container_id if state else None

    async def discard(self, colour: str) -> None:
        """Remove a colour that never served: a short stop, not Docker's default 10 s."""
        host, service = self.host, colour_service(colour)
        await host.runner.run(cmd.compose_stop(host.tool, host.path, service,
                                               cmd.NEVER_SERVED_STOP), check=False)  # fmt: skip
        await host.runner.run(cmd.compose_remove(host.tool, host.path, service), check=False)

    async def fail_before_switch(
        self, record: Release, serving: str | None, detail: str, phases: dict[str, float]
    ) -> None:
        host = self.host
        colour = record.colour or "?"
        host.say(f"{record.tag} did not become healthy on {colour}: {detail}")
        tail = await pulling.failure_log(host, await self.container_of(colour))
        await self.discard(colour)
        still = (f"{record.previous_tag} still serves on {serving}" if serving
                 else "nothing serves yet")  # fmt: skip
        message = (f"{record.tag} did not become healthy on {colour}: {detail}. It was removed "
                   f"before the switch, so no request reached it; {still}.")  # fmt: skip
        await host.record(replace(host.finish(record, Outcome.FAILED, message, phases),
                                  log_tail=tail))  # fmt: skip
        raise HealthCheckFailed(message)

    async def switch_or_fail(
        self, record: Release, serving: str | None, phases: dict[str, float]
    ) -> None:
        """Switch to the record's colour; if the proxy refuses, record it and remove the colour."""
        host = self.host
        mark = host.clock()
        try:
            await self.switch_to(record.colour or "?", serving=serving,
                                 previous=record.previous_tag)  # fmt: skip
        except ProxyRejected as error:
            await host.runner.run(cmd.compose_remove(
                host.tool, host.path, colour_service(record.colour or "?")), check=False)
            await host.record(host.finish(record, Outcome.FAILED, str(error), phases))
            raise
        phases["switch"] = host.clock() - mark
        await host.record(replace(record, phases=tuple(phases.items())))

    async def switch_to(self, colour: str, *, serving: str | None, previous: str | None) -> None:
        """Swap live.upstream and reload nginx; a refused config is put back untouched."""
        host = self.host
        path = host.file(LIVE_FILE)
        before = await self.live_file()
        host_network = "127.0.0.1:" in (before or "")
        ports = await self.colour_ports()
        await host.runner.write_file(path, live_upstream(
            colour, host_network=host_network, ports=ports, app_port=host.target.app_port))
        proxy = await self.proxy_container()
        done = await host.runner.run(cmd.proxy_switch(proxy), check=False)
        if done.exit_status == cmd.PROXY_REJECTED or not done.ok:
            if before is not None:
                await host.runner.write_file(path, before)
            still = f"{previous} still serves on {serving}" if serving else "nothing serves"
            taken = await port_taken_error(host, proxy, still)  # stops the proxy
            if taken is not None:
                self._proxy_id = None
                raise taken
            reason = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ProxyRejected(
                f"The proxy refused the config that switches to {colour}, so {still}: "
                f"{' / '.join(reason) or 'no output'}. Fix {host.path}/proxy/conf "
                "(`docker compose exec proxy nginx -t` shows why)."
            )
        host.say(f"the proxy sends new requests to {colour}")

    async def proxy_container(self) -> str:
        """The proxy's container id, starting the proxy first when it does not run."""
        if self._proxy_id is not None:
            return self._proxy_id
        host = self.host
        proxy = (await self.states()).get("proxy")
        if proxy is None or proxy.state != "running":
            await host.runner.run(cmd.compose_start(host.tool, host.path, "proxy"), check=False)
            proxy = (await self.states()).get("proxy")
        self._proxy_id = proxy.container_id if proxy else "proxy-not-started"
        return self._proxy_id

    # -- after the switch ----------------------------------------------------------------------

    async def log_size(self) -> int:
        found = await self.host.runner.run(cmd.file_size(self.host.file(ACCESS_LOG)))
        return int(found.stdout.strip() or 0)

    async def switch_and_watch(
        self, record: Release, old: str, image: str, phases: dict[str, float]
    ) -> None:
        """Follow the proxy's log from before the switch, switch, then watch the new colour;
        one that degrades is switched back (raises HealthCheckFailed). The live.upstream that
        serves now is staged beside it first, so the switch back is one rename and a signal."""
        host, colour = self.host, record.colour or "?"
        seconds, poll = host.target.release.watch, None if self.fast_watch else FALLBACK_POLL
        offset, commit = await self.log_size(), await host.revision(image)
        port, serving = colour_port(colour, await self.colour_ports()), await self.live_file()
        staged = serving is not None and parse_live_colour(serving) == old and self.fast_watch
        if staged:
            await host.runner.write_file(host.file(STAGED_LIVE_FILE), serving or "")
        try:
            async with watching(host, colour, offset, seconds=seconds, poll=poll) as watch, \
                    host.runner.forward_port(port) as local:  # fmt: skip
                await self.switch_or_fail(record, old, phases)
                host.say(f"watching {colour} for {seconds:.0f}s")
                mark = host.clock()
                reason = await watch.judge(local, commit, seconds, self.policy)
                phases["watch"] = host.clock() - mark
                if reason is not None:
                    await self.switch_back(record, old, reason, phases, watch, staged=staged)
        finally:
            if staged:
                with suppress(DeployError):  # a lost connection is told by what raised first
                    await host.runner.remove(host.file(STAGED_LIVE_FILE))

    async def host_time(self) -> float | None:
        """The host's clock now (the clock of the proxy's $msec), or None if unreadable."""
        found = await self.host.runner.run(cmd.host_clock(), check=False)
        return cmd.parse_host_clock(found.stdout) if found.ok else None

    async def signal_back(self) -> float | None:
        """The staged live.upstream (the one that served before the switch) back in place and
        nginx signalled to reload; the host's time just after, or None when that failed."""
        host = self.host
        done = await host.runner.run(cmd.proxy_signal_back(
            await self.proxy_container(), host.file(STAGED_LIVE_FILE), host.file(LIVE_FILE)),
            check=False)  # fmt: skip
        return cmd.parse_host_clock(done.stdout) if done.ok else None

    async def switch_back(
        self, record: Release, old: str, reason: str, phases: dict[str, float], watch: Watch,
        *, staged: bool,
    ) -> None:
        """The watch failed: the old colour (still running) serves again, then we say so and
        what users saw: the 5xx logged for the new colour, from the first to the reload. The
        quick reload is checked in the log (the old colour answers); if it did not take, the
        switch is made again the checked way (`nginx -t`, then reload)."""
        host = self.host
        host.say(f"{record.tag} degraded ({reason}); switching back to {old}")
        mark = host.clock()
        served_at = await self.signal_back() if staged else None
        back = host.clock() - mark
        if served_at is not None:
            await watch.settle(served_at)
        if served_at is None or not watch.tally.settled(served_at):
            await self.switch_to(old, serving=record.colour, previous=record.tag)
            back = host.clock() - mark
            served_at = await self.host_time()
            await watch.settle(served_at)
        seen = user_visible(watch.tally, served_at)
        if seen is not None:
            phases["user_visible"] = seen.seconds
        told = f"; {seen.describe()}" if seen else "; users got no 5xx from it"
        host.say(f"{old} serves again{told}")
        message = f"degraded during the watch: {reason}; switched back to {old} in {back:.2f}s"
        tail = await pulling.failure_log(host, await self.container_of(record.colour or "?"))
        failed = host.finish(record, Outcome.FAILED, message + told, phases)
        await host.record(replace(failed, log_tail=tail,
                                  user_errors=seen.errors if seen else 0))  # fmt: skip
        previous = record.previous_tag or "?"
        old_image = await self.serving_image() or ""
        auto = replace(host.started(Kind.AUTO_ROLLBACK, previous, old_image), colour=old,
                       digest=await host.digest(old_image) if old_image else None)  # fmt: skip
        await host.record(host.finish(auto, Outcome.HEALTHY, f"{previous} serves on {old} again",
                                      {"switch_back": back}))  # fmt: skip
        await host.runner.run(cmd.compose_stop(
            host.tool, host.path, colour_service(record.colour or "?"), DEGRADED_STOP_TIMEOUT))
        raise HealthCheckFailed(
            f"{record.tag} degraded after the switch ({reason}). Switched back in {back:.2f}s: "
            f"{previous} serves on {old}; {record.colour} was stopped (its logs are kept)"
            f"{told}."
        )

    async def drain(self, old: str, phases: dict[str, float]) -> None:
        """Stop the old colour, giving in-flight requests DRAIN seconds; keep its container."""
        host = self.host
        seconds = int(host.target.release.drain)
        host.say(f"draining {old} (up to {seconds}s), keeping it for a switch back")
        mark = host.clock()
        await host.runner.run(
            cmd.compose_stop(host.tool, host.path, colour_service(old), seconds), check=False)
        phases["drain"] = host.clock() - mark
