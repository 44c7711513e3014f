"""Helpers for deploy tests on the rig: targets, running the CLI, reading what is served."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import httpx

from deploy.config import Target, load_target
from tests.rig.apppath import AppPath
from tests.rig.sshd import SshHost


def target_environ(ssh_host: SshHost, app: AppPath, **extra: str) -> dict[str, str]:
    """The STAGING_* variables a user would set for this rig host and app path, with recreate:
    these tests are about it (unset, a first deploy sets up blue-green: test_first_deploy.py)."""
    environ = {
        "STAGING_STRATEGY": "recreate",
        "STAGING_HOST": ssh_host.host,
        "STAGING_SSH_PORT": str(ssh_host.port),
        "STAGING_USERNAME": ssh_host.user,
        "STAGING_SSH_KEY": ssh_host.private_key_text,
        "STAGING_KNOWN_HOSTS": ssh_host.known_hosts_line,
        "STAGING_APP_PATH": str(app.path),
        "STAGING_HEALTH_TIMEOUT": "20",
        "STAGING_LOCK_WAIT": "5",
        "DEPLOY_ACTOR": "pytest",
    }
    environ.update({f"STAGING_{key.upper()}": value for key, value in extra.items()})
    return environ


def make_target(ssh_host: SshHost, app: AppPath, **extra: str) -> Target:
    return load_target("staging", target_environ(ssh_host, app, **extra))


def served_version(url: str = "http://127.0.0.1:8000/version") -> str | None:
    """The version the service on the rig answers with, or None when nothing answers."""
    try:
        response = httpx.get(url, timeout=2, trust_env=False)
    except httpx.HTTPError:
        return None
    return str(response.json()["version"]) if response.status_code == 200 else None


def longest_outage(outcomes: list[tuple[float, bool]]) -> float:
    """Seconds from the first failure of the longest failing run to the next success."""
    longest, since = 0.0, None
    for moment, ok in outcomes:
        if not ok and since is None:
            since = moment
        elif ok and since is not None:
            longest, since = max(longest, moment - since), None
    return longest


@dataclass
class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of sshd whose connections the test can cut."""

    upstream_port: int
    port: int = 0
    sockets: list[socket.socket] = field(default_factory=list)
    cut_event: threading.Event = field(default_factory=threading.Event)

    def cut(self) -> None:
        self.cut_event.set()
        self.drop()

    def drop(self) -> None:
        """Cut the connections open now; new ones are still accepted (unless cut() was called)."""
        for sock in list(self.sockets):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextmanager
def cuttable_proxy(upstream_port: int) -> Iterator[CuttableProxy]:
    listener = socket.create_server(("127.0.0.1", 0))
    proxy = CuttableProxy(upstream_port, listener.getsockname()[1])

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        while not proxy.cut_event.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", upstream_port))
            proxy.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.cut()
        listener.close()
