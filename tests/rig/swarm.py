"""A Swarm of its own: a second dockerd in swarm mode (own data-root, exec-root, pidfile and
socket), one node, reachable by the deployer user through the rig's sshd via DOCKER_HOST.

This machine has no IPVS, so the routing mesh never answers, and host-mode published ports
did not answer on a --bridge=none --iptables=false engine: the rig's swarm services run on
the `host` network (`<ENV>_PUBLISH=host-network`) on ports of their own (8140-8149, behind a
port lock), one replica each (two tasks of one service on one node would share a port), and
are removed at the end. Shared by the sessions on this machine like the rig's dockerd: each
holds a lease; the last to leave stops the engine it started.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.identity import REVISION_LABEL
from tests.rig.apppath import AppPath, make_app_path
from tests.rig.docker import Dockerd, drop_lease
from tests.rig.fixtures import REPO_ROOT, rig_part
from tests.rig.images import docker_build, dockerfile_tar
from tests.rig.proc import (
    STATE_DIR,
    RigError,
    Server,
    file_lock,
    require_program,
    require_root,
    run,
    start_server,
    wait_until,
)
from tests.rig.registry import Registry
from tests.rig.sshd import SshHost

SWARM_DIR = STATE_DIR / "swarm"
SOCKET = SWARM_DIR / "docker.sock"
DOCKER_HOST = f"unix://{SOCKET}"
DATA_ROOT = Path("/var/lib/shipyard-rig-swarm")
LOCK = STATE_DIR / "swarmd.lock"
LEASES = STATE_DIR / "swarmd-leases"
STARTED_BY_RIG = SWARM_DIR / "dockerd.pid"
LOG = STATE_DIR / "swarmd.log"
PORT = 8140  # the rig's swarm services listen here, behind PORT_LOCK
PORT_LOCK = "app-ports-8140-8149.lock"


@dataclass(frozen=True, slots=True)
class SwarmEngine:
    """The swarm engine: DOCKER_HOST reaches it (the deployer's `<ENV>_DOCKER_HOST`)."""

    docker_host: str
    nodes: int = 1


def swarm_env() -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": DOCKER_HOST}


def docker(*args: str, check: bool = True, timeout: float = 120.0) -> str:
    """`docker ARGS` against the swarm engine; its stdout."""
    return run(["docker", *args], env=swarm_env(), check=check, timeout=timeout).stdout


def remove_ingress() -> None:
    """The routing mesh's network cannot work here (no IPVS), and a node that runs a task
    beside it opens VXLAN on 0.0.0.0:4789: remove it, so every socket stays on loopback (the
    rig's services use the host network, which needs no ingress)."""
    if run(["docker", "network", "inspect", "ingress"], env=swarm_env(), check=False,
           timeout=30).returncode != 0:  # fmt: skip
        return
    run(["docker", "network", "rm", "ingress"], input_text="y\n", env=swarm_env(), timeout=60)


def answers() -> bool:
    try:
        found = run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
                    env=swarm_env(), check=False, timeout=15)  # fmt: skip
    except RigError:
        return False
    return found.returncode == 0 and found.stdout.strip() in ("active", "inactive")


def dockerd_argv() -> list[str]:
    # Like the rig's dockerd: no bridge, no iptables; its own folders and containerd namespace.
    return [
        require_program("dockerd", "docker.io"), "--bridge=none", "--iptables=false",
        "--ip6tables=false", "--ip=127.0.0.1", "--log-level=warn",
        f"--data-root={DATA_ROOT}", f"--exec-root={SWARM_DIR / 'exec'}",
        f"--pidfile={SWARM_DIR / 'dockerd-own.pid'}", f"--host={DOCKER_HOST}",
        "--containerd-namespace=shipyard-swarm",
        "--containerd-plugins-namespace=shipyard-swarm-plugins",
    ]  # fmt: skip


def acquire_swarm() -> tuple[SwarmEngine, Server | None]:
    """A lease on the swarm engine, starting it (and `docker swarm init`) when none answers."""
    require_root("the swarm dockerd")
    with file_lock(LOCK):
        LEASES.mkdir(parents=True, exist_ok=True)
        server = None
        if not answers():
            SWARM_DIR.mkdir(parents=True, exist_ok=True)
            server = start_server("swarm dockerd", dockerd_argv(), LOG)
            try:
                wait_until(answers, what="the swarm dockerd to answer", timeout=60, server=server)
            except RigError:
                server.stop()
                raise
            STARTED_BY_RIG.write_text(str(server.pid))
            os.chmod(SWARM_DIR, 0o755)
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
        if state != "active":
            docker("swarm", "init", "--advertise-addr", "127.0.0.1",
                   "--listen-addr", "127.0.0.1:2377")  # fmt: skip
        remove_ingress()
        (LEASES / str(os.getpid())).touch()
        return SwarmEngine(DOCKER_HOST), server


def release_swarm(server: Server | None) -> None:
    """Drop our lease; the last session out stops a swarm dockerd a rig started."""
    drop_lease(LOCK, LEASES, STARTED_BY_RIG, server)


def remove_stack(stack: str, timeout: float = 60.0) -> None:
    """`docker stack rm` and wait until its containers are gone (their port is free again)."""
    docker("stack", "rm", stack, check=False)
    label = f"label=com.docker.stack.namespace={stack}"
    deadline = time.monotonic() + timeout
    while docker("ps", "-aq", "--filter", label, check=False).strip():
        if time.monotonic() > deadline:
            raise RigError(f"the containers of stack {stack} were still there after {timeout} s")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def swarm_engine(dockerd: Dockerd, ssh_host: SshHost) -> Iterator[SwarmEngine]:
    engine, server = rig_part("the swarm dockerd", acquire_swarm)
    try:
        yield engine
    finally:
        release_swarm(server)


@pytest.fixture
def swarm_app(
    request: pytest.FixtureRequest, rig_dir: Path, registry: Registry, ssh_host: SshHost,
    swarm_engine: SwarmEngine,
) -> Iterator[AppPath]:
    """A fresh app folder whose stack (named after the folder) runs on 127.0.0.1:8140 on the
    host network; the stack is removed afterwards."""
    account = pwd.getpwnam(ssh_host.user)
    parent = rig_dir / "apps"
    parent.mkdir(mode=0o755, exist_ok=True)
    with file_lock(STATE_DIR / PORT_LOCK):
        app = rig_part("a swarm app path", lambda: make_app_path(
            parent, f"swarm-{request.node.name}", REPO_ROOT / "docker-compose.yml",
            registry=registry.address, owner=(account.pw_uid, account.pw_gid), port=PORT,
        ))  # fmt: skip
        try:
            yield app
        finally:
            remove_stack(stack_name(app))


def stack_name(app: AppPath) -> str:
    return app.project.replace("-", "_")[:40]


UNHEALTHY_SERVER = """\
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500); self.end_headers(); self.wfile.write(b'broken on purpose')
    do_HEAD = do_GET
port = int(os.environ.get('PORT', '8000'))
print('rig: serving 500 on every path, port', port, flush=True)
http.server.HTTPServer(('127.0.0.1', port), H).serve_forever()
"""


def unhealthy_image(good: str) -> str:
    """`good`'s image, answering 500 on $PORT (health never passes), pushed as `good`-sick."""
    import json

    sick = f"{good}-sick"
    entrypoint = json.dumps(["python3", "-c", UNHEALTHY_SERVER])
    dockerfile = f"FROM {good}\nENTRYPOINT {entrypoint}\nCMD []\n"
    docker_build(["--tag", sick], context_tar=dockerfile_tar(dockerfile))
    run(["docker", "push", sick], timeout=300)
    return sick


def relabelled_image(good: str) -> str:
    """`good`'s image labelled with another commit: healthy to Swarm's check, but its health
    answer names a commit that is not the image's (the deployer's identity check fails)."""
    other = f"{good}-relabelled"
    dockerfile = f"FROM {good}\nLABEL {REVISION_LABEL}={'f' * 40}\n"
    docker_build(["--tag", other], context_tar=dockerfile_tar(dockerfile))
    run(["docker", "push", other], timeout=300)
    return other
