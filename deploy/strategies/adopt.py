"""`init`: the guide's app folder → blue-green, the running release adopted as blue."""

from __future__ import annotations

import json
from dataclasses import replace

from deploy import commands as cmd
from deploy.errors import HealthCheckFailed, InitRefused
from deploy.host.health import wait_healthy
from deploy.host.ports import refuse_if_taken
from deploy.host.session import HostSession
from deploy.layout import (
    LAYOUT_FILE,
    GuideService,
    colour_service,
    compose_text,
    is_blue_green,
    layout_ports,
    ports_differ,
    proxy_port_to_check,
    tag_variable,
    understand,
)
from deploy.ledger import Kind, Outcome
from deploy.proxy import (
    CONF_DIR,
    LIVE_FILE,
    LOG_DIR,
    SITE_FILE,
    colour_port,
    live_upstream,
    site_config,
)

ASIDE = f"{cmd.STATE_DIR}/recreate"  # the guide's files, kept to go back by hand
OVERRIDES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml",
             "docker-compose.override.yaml")  # fmt: skip
FIRST = "blue"


class Adoption:
    """Turns one app folder into blue-green; every change is reported in `changes`."""

    def __init__(self, deployer: HostSession) -> None:
        self.host = deployer
        self.changes: list[str] = []

    async def run(self) -> list[str]:
        host = self.host
        found = await host.runner.run(cmd.compose_model(host.tool, host.path))
        model = json.loads(found.stdout)
        if is_blue_green(model):
            await self.check_ports()
            await self.ensure_site()
            return self.changes or ["already blue-green; nothing changed"]
        guide = understand(model, host.path, app_port=host.target.app_port,
                           service=host.target.service)  # refuses before anything changes
        ids = await host.runner.run(cmd.compose_container_id(host.tool, host.path), check=False)
        running = next(iter(ids.stdout.split()), None) if ids.ok else None
        image = await host.container_image(running) if running else None
        await self.check_proxy_port(guide, running is not None)
        await self.write_layout(guide)
        if running and image:
            await self.adopt(running, image)
        else:
            self.changes.append("nothing was running: the first deploy starts blue and the proxy")
        return self.changes

    async def check_proxy_port(self, guide: GuideService, running: bool) -> None:
        """Refuse, before anything changes, a proxy port another listener holds; the guide's
        running container may hold its own port (the hand-over frees it)."""
        port = proxy_port_to_check(guide, self.host.target.release.proxy_listen, running=running)
        if port is not None:
            await refuse_if_taken(self.host, port)

    async def check_ports(self) -> None:
        """init does not move a layout to other ports: it refuses, naming the fix."""
        host, wanted = self.host, self.host.target.release.colour_ports
        found = layout_ports(await host.runner.read_file(host.file(LAYOUT_FILE)))
        if found is not None and found != wanted:
            raise InitRefused(ports_differ(host.target.prefix, host.path, found, wanted))

    async def ensure_site(self) -> None:
        host = self.host
        listen = self.listen(await host.runner.read_file(host.file(LIVE_FILE)))
        wanted = site_config(listen)
        if await host.runner.read_file(host.file(SITE_FILE)) != wanted:
            await host.runner.write_file(host.file(SITE_FILE), wanted)
            self.changes.append(f"wrote {SITE_FILE}")

    def listen(self, live_text: str | None) -> str:
        host_network = live_text is None or "127.0.0.1:" in live_text
        target = self.host.target  # on a bridge nginx listens on the app's own port
        return target.release.proxy_listen if host_network else str(target.app_port)

    async def write_layout(self, guide: GuideService) -> None:
        host = self.host
        await host.runner.run(cmd.make_dirs(host.path, CONF_DIR, LOG_DIR, ASIDE))
        ports = host.target.release.colour_ports
        live = live_upstream(FIRST, host_network=guide.host_network, ports=ports,
                             app_port=guide.app_port)
        await host.runner.write_file(host.file(LIVE_FILE), live)
        await host.runner.write_file(host.file(SITE_FILE), site_config(self.listen(live)))
        self.changes.append(f"wrote {SITE_FILE} and {LIVE_FILE} ({FIRST} serves)")
        for name in (*cmd.COMPOSE_FILES, *OVERRIDES):
            if await host.runner.rename(host.file(name), host.file(f"{ASIDE}/{name}")):
                self.changes.append(f"moved {name} to {ASIDE}/{name}")
        await host.runner.write_file(host.file(LAYOUT_FILE), compose_text(guide, ports))
        self.changes.append("wrote docker-compose.yml (proxy, api-blue, api-green)")
        await host.set_env("PROXY_IMAGE", host.target.release.proxy_image)
        self.changes.append(f"set PROXY_IMAGE={host.target.release.proxy_image} in .env")

    async def adopt(self, container_id: str, image: str) -> None:
        """Start blue on the running image, check it, then hand the port to the proxy."""
        host = self.host
        tag = (await host.env_values()).get("IMAGE_TAG") or image.rsplit(":", 1)[-1]
        await host.set_env(tag_variable(FIRST), tag)
        record = replace(host.started(Kind.ADOPT, tag, image), colour=FIRST,
                         digest=await host.digest(image))  # fmt: skip
        phases: dict[str, float] = {}
        mark = host.clock()
        await host.runner.run(cmd.compose_start(host.tool, host.path, colour_service(FIRST)))
        port_on_host = colour_port(FIRST, host.target.release.colour_ports)
        async with host.runner.forward_port(port_on_host) as port:
            verdict = await wait_healthy(port, host.target.health,
                                         expect_commit=await host.revision(image))  # fmt: skip
        phases["healthy"] = host.clock() - mark
        problem = (await host.identity_problem(self.first_container, image)
                   if verdict.healthy else None)  # fmt: skip
        if not verdict.healthy or problem is not None:
            detail = f"not proven to be {tag}: {problem}" if problem else verdict.last.detail
            await self.undo()
            raise HealthCheckFailed(
                f"{tag} did not become healthy as {FIRST} ({detail}); the layout "
                f"was undone and the guide's `{host.target.service}` container still serves."
            )
        await host.runner.run(cmd.compose_create(host.tool, host.path, "proxy"))
        found = await host.runner.run(cmd.compose_states(host.tool, host.path))
        proxy = cmd.parse_compose_states(found.stdout)["proxy"].container_id
        mark = host.clock()
        await host.runner.run(cmd.handover(host.path, container_id, proxy))
        phases["handover"] = host.clock() - mark
        await host.record(host.finish(record, Outcome.HEALTHY, f"{tag} adopted as {FIRST}",
                                      phases))  # fmt: skip
        self.changes.append(
            f"started {colour_service(FIRST)} with {tag}, healthy; stopped the guide's "
            f"`{host.target.service}` container and started the proxy ({phases['handover']:.2f}s)"
        )

    async def first_container(self) -> str | None:
        """The id of the first colour's container, or None."""
        host = self.host
        found = await host.runner.run(cmd.compose_states(host.tool, host.path))
        state = cmd.parse_compose_states(found.stdout).get(colour_service(FIRST))
        return state.container_id if state else None

    async def undo(self) -> None:
        host, service = self.host, colour_service(FIRST)
        await host.runner.run(cmd.compose_stop(host.tool, host.path, service,
                                               cmd.NEVER_SERVED_STOP), check=False)  # fmt: skip
        await host.runner.run(cmd.compose_remove(host.tool, host.path, service), check=False)
        await host.runner.remove(host.file(LAYOUT_FILE))
        for name in (*cmd.COMPOSE_FILES, *OVERRIDES):
            await host.runner.rename(host.file(f"{ASIDE}/{name}"), host.file(name))
