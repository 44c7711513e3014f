"""Whether a proxy container failed because its port is taken, and who holds that port on
the host (the commands and parsers are deploy/ports.py's)."""

from __future__ import annotations

from deploy import commands as cmd
from deploy import ports
from deploy.errors import PortTaken, ProxyPortTaken
from deploy.host.runner import Runner
from deploy.host.session import HostSession

PROXY_LOG_LINES = 20


async def bind_failure(runner: Runner, container_id: str) -> str | None:
    """The address the proxy's log says is already in use, or None."""
    found = await runner.run(cmd.container_logs(container_id, PROXY_LOG_LINES), check=False)
    return ports.bind_failure(found.stdout + found.stderr)


async def listeners(runner: Runner, port: int) -> tuple[ports.Listener, ...]:
    """Every socket listening on `port` (none when `ss` is missing)."""
    found = await runner.run(ports.listeners_on(port), check=False)
    return ports.parse_listeners(found.stdout) if found.ok else ()


async def holders(runner: Runner, port: int) -> tuple[str, ...]:
    """Who listens on `port`, as far as the SSH user may see: containers publishing it, and
    each listening process (with its container when it runs in one)."""
    published = await runner.run(ports.published_on(port), check=False)
    names = tuple(published.stdout.split()) if published.ok else ()
    listening = await listeners(runner, port)
    containers: dict[int, str] = {}
    for listener in listening:
        if listener.pid is None:
            continue
        cgroup = await runner.run(ports.cgroup_of(listener.pid), check=False)
        container = ports.parse_container_id(cgroup.stdout) if cgroup.ok else None
        if container is not None:
            name = await runner.run(ports.container_name(container), check=False)
            containers[listener.pid] = name.stdout.strip() or container[:12]
    return ports.holders(names, listening, containers)


async def port_taken_error(host: HostSession, proxy: str, still: str) -> ProxyPortTaken | None:
    """A proxy that failed because its port is taken did not refuse its config: stop it (it
    would retry forever) and name who holds the port. None when its log says otherwise."""
    address = await bind_failure(host.runner, proxy)
    if address is None:
        return None
    port = ports.port_of(address)
    found = await holders(host.runner, port) if port is not None else ()
    await host.runner.run(cmd.compose_stop(host.tool, host.path, "proxy", 1), check=False)
    return ProxyPortTaken(ports.port_taken(address, found, still=still,
                                           prefix=host.target.prefix))  # fmt: skip


async def refuse_if_taken(host: HostSession, port: int) -> None:
    """Before the proxy is set up: refuse (nothing changed yet) when something listens on
    the port it will take."""
    if not await listeners(host.runner, port):
        return
    found = await holders(host.runner, port)
    raise PortTaken(ports.port_held(port, found, prefix=host.target.prefix))
