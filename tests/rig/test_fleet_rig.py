"""The fleet rig: sshd hosts sharing one deployer key, app paths on their own ports."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.rig.apppath import OVERRIDE, AppPath, override_text
from tests.rig.fleet import FleetApps, FleetHosts, via_port
from tests.rig.images import BuildAppImage
from tests.rig.proc import run
from tests.rig.sockets import exposed, listening_on
from tests.rig.sshd import SshHost, ssh_argv

PROBE_8101 = "urlopen('http://127.0.0.1:8101/health', timeout=2)"


@pytest.mark.parametrize(("port", "refuse", "present", "absent"), [
    (8000, None, [], ["environment:", "healthcheck:", "command:"]),
    (8101, None, ["      - PORT=8101\n", PROBE_8101], ["command:", "RIG_IMAGE_TAG"]),
    (8000, "v2", ["      - RIG_IMAGE_TAG=${IMAGE_TAG}\n", "== 'v2' and sys.exit("],
     ["PORT=", "healthcheck:"]),
    (8101, "v2", ["      - PORT=8101\n      - RIG_IMAGE_TAG=${IMAGE_TAG}\n", PROBE_8101,
                  "runpy.run_module('app'"], []),
])  # fmt: skip
def test_override_text(
    port: int, refuse: str | None, present: list[str], absent: list[str]
) -> None:
    text = override_text(port, refuse_tag=refuse)
    assert text.startswith(OVERRIDE)
    assert text.count("environment:") <= 1  # one mapping key, both settings in its list
    assert [part for part in present if part not in text] == []
    assert [part for part in absent if part in text] == []


def fake_host(port: int, key: str = "KEY") -> SshHost:
    line = f"[127.0.0.1]:{port} ssh-ed25519 AAAA{port}"
    return SshHost("127.0.0.1", port, "deployer", key, line, line + "x", Path("/k"), 1)


def version_on(port: int) -> str | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/version", timeout=2, trust_env=False)
    except httpx.HTTPError:
        return None
    return str(response.json()["version"]) if response.status_code == 200 else None


def known_hosts_file(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(line + "\n")
    return path


@pytest.mark.rig
def test_fleet_hosts_share_the_key_not_the_host_key(
    fleet_hosts: FleetHosts, tmp_path: Path
) -> None:
    first, second = fleet_hosts(2)
    assert first.port != second.port
    assert first.private_key_text == second.private_key_text
    assert first.known_hosts_line.split()[2] != second.known_hosts_line.split()[2]
    for host in (first, second):
        known = known_hosts_file(tmp_path, host.known_hosts_line)
        assert run(ssh_argv(host, known, "id", "-un")).stdout.strip() == "deployer"
        assert {item.address for item in listening_on(host.port)} == {"127.0.0.1"}
    impostor = known_hosts_file(tmp_path, via_port(first, second.port).known_hosts_line)
    assert run(ssh_argv(second, impostor, "true"), check=False).returncode == 255
    assert exposed([first.pid, second.pid]) == []


def compose_up(host: SshHost, app: AppPath, tag: str, known: Path, *, wait: bool) -> None:
    with app.env_file.open("a") as env:
        env.write(f"IMAGE_TAG={tag}\n")
    waiting = ["--wait", "--wait-timeout", "60"] if wait else []
    run(ssh_argv(host, known, "docker", "compose", "--project-directory", str(app.path),
                 "up", "-d", *waiting), timeout=300)  # fmt: skip


@pytest.mark.rig
def test_fleet_apps_serve_on_their_own_ports(
    fleet_hosts: FleetHosts, fleet_apps: FleetApps, build_app_image: BuildAppImage,
    tmp_path: Path,
) -> None:
    build_app_image("v1")
    build_app_image("v2")
    [host] = fleet_hosts(1)
    apps = fleet_apps(2)
    assert [app.port for app in apps] == [8101, 8102]
    known = known_hosts_file(tmp_path, host.known_hosts_line)
    apps[1].override_file.write_text(override_text(apps[1].port, refuse_tag="v2"))
    for app in apps:  # --wait: Docker's own healthcheck passes, so it probes the app's port
        compose_up(host, app, "v1", known, wait=True)
    assert [version_on(app.port) for app in apps] == ["v1", "v1"]
    for app in apps:
        assert {item.address for item in listening_on(app.port)} == {"127.0.0.1"}
    compose_up(host, apps[1], "v2", known, wait=False)
    time.sleep(3)
    assert version_on(apps[1].port) is None
    logs = run(ssh_argv(host, known, "docker", "compose", "--project-directory",
                        str(apps[1].path), "logs", "api"))  # fmt: skip
    assert "rig: v2 cannot start on this host" in logs.stdout + logs.stderr
