"""The Docker engine: reuse one answering on /var/run/docker.sock, or start dockerd.

Several test sessions may share one engine. Each holds a lease while it runs; a dockerd that
a rig started is stopped by the last session to leave, never one started by anything else.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.rig.proc import (
    STATE_DIR,
    RigError,
    Server,
    file_lock,
    live_leases,
    pid_alive,
    require_program,
    require_root,
    run,
    start_server,
    started_pid,
    succeeds,
    wait_until,
)

SOCKET = Path("/var/run/docker.sock")
LOCK = STATE_DIR / "dockerd.lock"
LEASES = STATE_DIR / "dockerd-leases"
STARTED_BY_RIG = STATE_DIR / "dockerd.pid"  # holds the pid of a dockerd a rig started
LOG = STATE_DIR / "dockerd.log"


@dataclass(frozen=True, slots=True)
class Dockerd:
    """The engine the rig uses; started_by_rig: a rig session started it (and will stop it)."""

    socket: Path
    version: str
    started_by_rig: bool
    pid: int | None


def engine_answers() -> bool:
    return succeeds(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=15)


def engine_version() -> str:
    return run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()


def dockerd_argv() -> list[str]:
    # No docker0 bridge and no iptables rules: every container and build uses the host's
    # network, and nothing is published beyond loopback (--ip is the default bind address).
    return [
        require_program("dockerd", "docker.io"),
        "--bridge=none",
        "--iptables=false",
        "--ip=127.0.0.1",
        "--log-level=warn",
        f"--host=unix://{SOCKET}",
    ]


def rig_dockerd_pid() -> int | None:
    """The pid of a running dockerd that a rig session started, if any."""
    return started_pid(STARTED_BY_RIG, "dockerd")


def acquire_dockerd() -> tuple[Dockerd, Server | None]:
    """Take a lease on the running engine, starting dockerd first when none answers."""
    with file_lock(LOCK):
        LEASES.mkdir(parents=True, exist_ok=True)
        server = None
        if not engine_answers():
            server = start_dockerd()
        (LEASES / str(os.getpid())).touch()
        pid = rig_dockerd_pid()
        return Dockerd(SOCKET, engine_version(), started_by_rig=pid is not None, pid=pid), server


def start_dockerd() -> Server:
    require_root("dockerd")
    require_program("docker", "docker.io")
    server = start_server("dockerd", dockerd_argv(), LOG)
    try:
        wait_until(engine_answers, what="`docker info` to answer", timeout=60, server=server)
    except RigError:
        server.stop()
        raise
    STARTED_BY_RIG.write_text(str(server.pid))
    return server


def release_dockerd(server: Server | None) -> None:
    """Drop our lease; the last session out stops a dockerd that a rig started."""
    drop_lease(LOCK, LEASES, STARTED_BY_RIG, server)


def drop_lease(lock: Path, leases: Path, started_by_rig: Path, server: Server | None) -> None:
    """Drop this session's lease on a shared dockerd (the rig's, or the swarm's); the last
    session out stops the one a rig started (`started_by_rig` holds its pid)."""
    with file_lock(lock):
        (leases / str(os.getpid())).unlink(missing_ok=True)
        if live_leases(leases):
            return
        pid = started_pid(started_by_rig, "dockerd")
        if server is not None and server.pid == pid:
            server.stop(timeout=30)
        elif pid is not None:
            stop_pid(pid)
        started_by_rig.unlink(missing_ok=True)


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """Stop a dockerd another (finished) session started: SIGTERM, then SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def image_exists(ref: str) -> bool:
    return succeeds(["docker", "image", "inspect", "--format", "{{.Id}}", ref])


def image_label(ref: str, label: str) -> str | None:
    """The value of a label on a local image, or None when the image or label is missing."""
    result = run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{label}"}}}}', ref],
        check=False,
    )
    value = result.stdout.strip()
    if result.returncode != 0 or value in ("", "<no value>"):
        return None
    return value


def remove_project_containers(project: str) -> None:
    """Force-remove every container of a compose project (belt and braces after `down`)."""
    ids = run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        check=False,
    ).stdout.split()
    if ids:
        run(["docker", "rm", "-f", "-v", *ids], check=False)
