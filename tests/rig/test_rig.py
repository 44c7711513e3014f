"""Smoke test of the loopback rig: registry, push/pull, SSH as deployer, loopback only."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncssh
import pytest

from tests.rig.apppath import AppPath
from tests.rig.docker import Dockerd
from tests.rig.images import BuildAppImage
from tests.rig.proc import run
from tests.rig.registry import Registry
from tests.rig.sockets import exposed, listening_on
from tests.rig.sshd import SshHost, ssh_argv

pytestmark = pytest.mark.rig

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, bytes]:
    try:
        with NO_PROXY.open(url, timeout=3) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def tiny_image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"shipyard rig smoke\n"
        info = tarfile.TarInfo("smoke.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_known_hosts(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(line + "\n")
    return path


def test_registry_answers(registry: Registry) -> None:
    status, _ = get(f"{registry.url}/v2/")
    assert status == 200


def test_push_pull_round_trip(registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.address}/rig/smoke:{time.monotonic_ns()}"
    tar = tmp_path / "smoke.tar"
    tar.write_bytes(tiny_image_tar())
    run(["docker", "import", str(tar), ref])
    run(["docker", "push", ref])
    run(["docker", "rmi", ref])
    run(["docker", "pull", ref])
    repository, tag = ref.removeprefix(f"{registry.address}/").rsplit(":", 1)
    status, body = get(f"{registry.url}/v2/{repository}/tags/list")
    assert status == 200
    assert tag in json.loads(body)["tags"]
    run(["docker", "rmi", ref])


def test_ssh_as_deployer_runs_docker(ssh_host: SshHost, tmp_path: Path) -> None:
    known_hosts = write_known_hosts(tmp_path, ssh_host.known_hosts_line)
    compose = run(ssh_argv(ssh_host, known_hosts, "docker", "compose", "version"))
    assert "Docker Compose version v2" in compose.stdout
    run(ssh_argv(ssh_host, known_hosts, "docker", "ps"))
    whoami = run(ssh_argv(ssh_host, known_hosts, "id", "-un"))
    assert whoami.stdout.strip() == "deployer"


def test_ssh_refuses_the_wrong_host_key(ssh_host: SshHost, tmp_path: Path) -> None:
    known_hosts = write_known_hosts(tmp_path, ssh_host.wrong_known_hosts_line)
    result = run(ssh_argv(ssh_host, known_hosts, "true"), check=False)
    assert result.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_asyncssh_connects_with_the_key_text(ssh_host: SshHost) -> None:
    async def compose_version() -> str:
        async with asyncssh.connect(
            ssh_host.host,
            ssh_host.port,
            username=ssh_host.user,
            client_keys=[asyncssh.import_private_key(ssh_host.private_key_text)],
            known_hosts=asyncssh.import_known_hosts(ssh_host.known_hosts_line + "\n"),
        ) as conn:
            result = await conn.run("docker compose version", check=True, timeout=30)
            return str(result.stdout)

    assert "v2." in asyncio.run(compose_version())


def test_rig_listens_on_loopback_only(
    dockerd: Dockerd, registry: Registry, ssh_host: SshHost
) -> None:
    pids = [registry.pid, ssh_host.pid] + ([dockerd.pid] if dockerd.pid else [])
    assert exposed(pids) == []
    assert {item.address for item in listening_on(registry.port)} == {"127.0.0.1"}
    assert {item.address for item in listening_on(ssh_host.port)} == {"127.0.0.1"}


def wait_for_status(url: str, expected: int, timeout: float = 60) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    last: tuple[int, bytes] = (0, b"")
    while time.monotonic() < deadline:
        try:
            last = get(url)
        except OSError:
            last = (0, b"")
        if last[0] == expected:
            return last
        time.sleep(0.2)
    return last


def test_app_image_runs_from_the_app_path(
    build_app_image: BuildAppImage, app_path: AppPath, ssh_host: SshHost, tmp_path: Path
) -> None:
    good = build_app_image("0.0.1-rig")
    broken = build_app_image("0.0.2-rig", broken=True)
    assert good.startswith("127.0.0.1:")
    known_hosts = write_known_hosts(tmp_path, ssh_host.known_hosts_line)

    def up(tag: str) -> None:
        with app_path.env_file.open("a") as env:
            env.write(f"IMAGE_TAG={tag}\n")
        cd = ["docker", "compose", "--project-directory", str(app_path.path)]
        run(ssh_argv(ssh_host, known_hosts, *cd, "pull", "--quiet"), timeout=300)
        run(ssh_argv(ssh_host, known_hosts, *cd, "up", "-d", "--wait", "--wait-timeout", "60"),
            timeout=300, check=tag == "0.0.1-rig")

    up("0.0.1-rig")
    status, body = wait_for_status(app_path.health_url, 200)
    assert status == 200, body
    assert json.loads(body)["version"] == "0.0.1-rig"
    assert {item.address for item in listening_on(8000)} == {"127.0.0.1"}

    up("0.0.2-rig")
    status, _ = wait_for_status(app_path.health_url, 500)
    assert status == 500
    assert broken.endswith(":0.0.2-rig")
