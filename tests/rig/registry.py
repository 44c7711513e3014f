"""An image registry (Debian's docker-registry) on 127.0.0.1 with storage in a tmp dir."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.rig.proc import RigError, Server, free_port, require_program, start_server, wait_until

HOST = "127.0.0.1"
PREFERRED_PORT = 5000


@dataclass(frozen=True, slots=True)
class Registry:
    """address is what goes into image references: 127.0.0.1:5000."""

    host: str
    port: int
    storage: Path
    pid: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def digest(self, repository: str, tag: str) -> str | None:
        """The digest `repository:tag` names here (a HEAD of its manifest), or None."""
        answer = httpx.head(
            f"{self.url}/v2/{repository}/manifests/{tag}", trust_env=False,
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )  # fmt: skip
        return answer.headers.get("Docker-Content-Digest") if answer.status_code == 200 else None


def registry_config(port: int, storage: Path) -> str:
    # Written out in full: the stock /etc/docker/registry/config.yml listens on all
    # interfaces. No debug or metrics listener is configured.
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: {HOST}:{port}\n"
        "  headers:\n    X-Content-Type-Options: [nosniff]\n"
    )


def answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/v2/", timeout=2) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_registry(workdir: Path) -> tuple[Registry, Server]:
    """Start a registry on 127.0.0.1:5000 (another free port if taken) and wait for /v2/."""
    program = require_program("docker-registry", "docker-registry")
    port = free_port(PREFERRED_PORT, HOST)
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(registry_config(port, storage))
    server = start_server("docker-registry", [program, "serve", str(config)], workdir / "log")
    registry = Registry(HOST, port, storage, server.pid)
    try:
        wait_until(lambda: answers(registry.url), what=f"{registry.url}/v2/", server=server)
    except RigError:
        server.stop()
        raise
    return registry, server
