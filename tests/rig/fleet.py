"""A fleet on the rig: several sshd "hosts" with one deployer key, app paths on 8101-8110."""

from __future__ import annotations

import pwd
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Protocol

import pytest

from tests.rig.apppath import AppPath, compose_down, make_app_path
from tests.rig.docker import Dockerd
from tests.rig.fixtures import REPO_ROOT, rig_part, stop
from tests.rig.proc import STATE_DIR, Server, file_lock
from tests.rig.registry import Registry
from tests.rig.sshd import USER, ClientKey, SshHost, make_client_key, start_sshd

FIRST_SSH_PORT = 2301  # preferred; another free port when taken (another session's fleet)
APP_PORTS = tuple(range(8101, 8111))  # each guarded by a file lock, across test sessions
MAX_HOSTS = len(APP_PORTS)


class FleetHosts(Protocol):
    """fleet_hosts(n) -> the first n sshd hosts (started on first use, kept for the session)."""

    def __call__(self, count: int) -> list[SshHost]: ...


class FleetApps(Protocol):
    """fleet_apps(n) -> n app paths, the i-th on port 8101+i (taken down after the test)."""

    def __call__(self, count: int) -> list[AppPath]: ...


def label(host: SshHost) -> str:
    """How the deployer names a host in its output: `host:port`."""
    return f"{host.host}:{host.port}"


def via_port(host: SshHost, port: int) -> SshHost:
    """host as reached on another port (a proxy, a closed port): its known_hosts lines follow."""
    def moved(line: str) -> str:
        return line.replace(f"[{host.host}]:{host.port} ", f"[{host.host}]:{port} ", 1)

    return replace(host, port=port, known_hosts_line=moved(host.known_hosts_line),
                   wrong_known_hosts_line=moved(host.wrong_known_hosts_line))  # fmt: skip


def check_count(count: int) -> None:
    if not 1 <= count <= MAX_HOSTS:
        raise ValueError(f"a rig fleet has 1 to {MAX_HOSTS} hosts (one app port each), not {count}")


@dataclass
class SshdFleet:
    """sshd instances under root, all accepting one client key, each with its own host key."""

    root: Path
    hosts: list[SshHost] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    client: ClientKey | None = None

    def __call__(self, count: int) -> list[SshHost]:
        check_count(count)
        while len(self.hosts) < count:
            number = len(self.hosts) + 1
            host, server = rig_part(f"fleet sshd {number}", partial(self._start, number))
            self.hosts.append(host)
            self.servers.append(server)
        return self.hosts[:count]

    def _start(self, number: int) -> tuple[SshHost, Server]:
        if self.client is None:
            self.client = make_client_key(self.root / "client", USER)
        return start_sshd(self.root / f"host-{number}", USER, client=self.client,
                          preferred_port=FIRST_SSH_PORT + number - 1)  # fmt: skip

    def stop(self) -> None:
        for server in self.servers:
            stop(server)


@pytest.fixture(scope="session")
def fleet_hosts(rig_dir: Path, dockerd: Dockerd) -> Iterator[FleetHosts]:
    """Start fleet hosts lazily: a test asks for 3, the benchmark for 10; stopped at the end."""
    fleet = SshdFleet(rig_dir / "fleet")
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def fleet_apps(
    request: pytest.FixtureRequest, rig_dir: Path, registry: Registry
) -> Iterator[FleetApps]:
    """App folders on ports 8101.. (each port locked across sessions), taken down afterwards."""
    account = pwd.getpwnam(USER)
    parent = rig_dir / "fleet-apps"
    parent.mkdir(mode=0o755, exist_ok=True)
    apps: list[AppPath] = []

    def make(count: int, cleanup: ExitStack) -> list[AppPath]:
        check_count(count)
        while len(apps) < count:
            port = APP_PORTS[len(apps)]
            cleanup.enter_context(file_lock(STATE_DIR / f"app-port-{port}.lock"))
            app = rig_part(f"the fleet app path on port {port}", partial(
                make_app_path, parent, f"h{len(apps) + 1}-{request.node.name}",
                REPO_ROOT / "docker-compose.yml", registry=registry.address,
                owner=(account.pw_uid, account.pw_gid), port=port,
            ))  # fmt: skip
            cleanup.callback(compose_down, app)
            apps.append(app)
        return apps[:count]

    with ExitStack() as cleanup:
        yield lambda count: make(count, cleanup)
