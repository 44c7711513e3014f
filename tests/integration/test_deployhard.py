"""Hardening of the deployer on the real rig: .env mode, the service's image, pinned
references, rollback with the registry unreachable, the container's log on a failure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from deploy.cli.main import main
from deploy.deployer import Deployer
from deploy.host.remote import connect
from tests.integration.bluegreen_helpers import bg_environ, public_version
from tests.integration.deploy_helpers import make_target, served_version, target_environ
from tests.integration.test_deploy import deploy, history_on_host, outcomes
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proc import free_port
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


@pytest.fixture
def images(build_app_image: BuildAppImage) -> dict[str, str]:
    return {
        "v1": build_app_image("v1"),
        "v2": build_app_image("v2"),
        "bad": build_app_image("bad", broken=True),
    }


def set_env_line(app: AppPath, key: str, value: str) -> None:
    """Change one .env line in place (the file keeps its inode, mode and owner)."""
    lines = [line for line in app.env_file.read_text().splitlines()
             if not line.startswith(f"{key}=")]  # fmt: skip
    with app.env_file.open("w") as handle:
        handle.write("\n".join([*lines, f"{key}={value}"]) + "\n")


def unreachable_registry(app: AppPath, registry: str, *tags: str) -> str:
    """Point the app at a registry address where nothing listens; the images stay on the
    host under that name (as after earlier pulls). The shared rig registry keeps running."""
    dead = f"127.0.0.1:{free_port(5999)}"
    for tag in tags:
        subprocess.run(["docker", "tag", f"{registry}/shipyard/app:{tag}",
                        f"{dead}/shipyard/app:{tag}"], check=True)  # fmt: skip
    set_env_line(app, "REGISTRY", dead)
    return dead


@pytest.mark.anyio
async def test_env_keeps_its_mode_and_owner_and_a_new_one_is_private(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    os.chmod(app_path.env_file, 0o600)
    before = app_path.env_file.stat()
    await deploy(ssh_host, app_path, "v1")
    after = app_path.env_file.stat()
    assert "IMAGE_TAG=v1" in app_path.env_file.read_text()
    assert after.st_ino != before.st_ino  # it was replaced (atomically), not edited in place
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (
        0o600, before.st_uid, before.st_gid)
    os.chmod(app_path.env_file, 0o640)
    await deploy(ssh_host, app_path, "v2")
    assert app_path.env_file.stat().st_mode & 0o7777 == 0o640
    assert not [p.name for p in app_path.path.iterdir() if ".tmp-" in p.name]
    app_path.env_file.unlink()
    target = make_target(ssh_host, app_path)
    async with connect(target) as runner:
        await Deployer(runner, target, who="pytest").set_env("IMAGE_TAG", "v2")
    assert app_path.env_file.stat().st_mode & 0o7777 == 0o600


@pytest.mark.anyio
async def test_the_service_image_is_read_even_when_another_service_sorts_first(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str], base_image: str
) -> None:
    with app_path.override_file.open("a") as handle:
        handle.write(f"  adminer:\n    image: {base_image}\n    network_mode: host\n"
                     "    command: [sleep, infinity]\n")  # fmt: skip
    release = await deploy(ssh_host, app_path, "v1")
    assert release.image.endswith("/shipyard/app:v1")
    assert release.digest is not None
    assert served_version() == "v1"
    with pytest.raises(Exception, match=r"no service 'web'.*STAGING_SERVICE"):
        await deploy(ssh_host, app_path, "v2", service="web")
    assert served_version() == "v1"


def test_a_pin_the_registry_contradicts_is_refused_before_anything_changes(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    v1_digest = history_on_host(app_path)[-1].digest
    assert v1_digest is not None
    capsys.readouterr()
    assert main(["staging", "up", f"v2@{v1_digest}"], environ) == 2
    err = capsys.readouterr().err
    assert "in the registry, not the pinned" in err
    assert served_version() == "v1"
    assert outcomes(app_path)[-1] == ("deploy", f"v2@{v1_digest}", "pull_failed")
    assert main(["staging", "up", f"v9@{v1_digest}"], environ) == 2
    assert "does not exist in the registry" in capsys.readouterr().err
    assert main(["staging", "up", f"v1@{v1_digest}"], environ) == 0
    assert history_on_host(app_path)[-1].digest == v1_digest


def test_rollback_works_with_the_registry_unreachable(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str], registry_address: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    assert main(["staging", "up", "v2"], environ) == 0
    unreachable_registry(app_path, registry_address, "v1", "v2")
    assert main(["staging", "up", "v1"], environ) == 1  # a deploy still pulls, and cannot
    assert served_version() == "v2"
    capsys.readouterr()
    assert main(["staging", "rollback"], environ) == 0, capsys.readouterr().err
    assert served_version() == "v1"
    rollback = history_on_host(app_path)[-1]
    assert (rollback.kind.value, rollback.outcome.value) == ("rollback", "healthy")
    assert "pull" not in dict(rollback.phases)


def test_blue_green_rollback_works_with_the_registry_unreachable(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    registry_address: str,
) -> None:
    lab = {"bg1": lab_image("bg1"), "bg2": lab_image("bg2")}
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert public_version() == "bg2"
    unreachable_registry(app_path, registry_address, *(ref.rsplit(":", 1)[1]
                                                       for ref in lab.values()))
    assert main(["staging", "rollback"], environ) == 0
    assert public_version() == "bg1"
    assert "pull" not in dict(history_on_host(app_path)[-1].phases)


def test_a_failed_release_shows_its_log_and_keeps_a_tail_and_json_says_so(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path, health_timeout="6")
    assert main(["staging", "up", "v1", "--json"], environ) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["schema"], result["command"], result["ok"]) == (1, "up", True)
    assert (result["release"]["tag"], result["release"]["outcome"]) == ("v1", "healthy")
    assert main(["staging", "up", "bad", "--json"], environ) == 1
    captured = capsys.readouterr()
    assert '"GET /health HTTP/1.1" 500' in captured.err  # the broken server's own log line
    assert "SUPABASE_KEY" not in captured.err  # a log, never the environment
    failed = json.loads(captured.out)
    assert (failed["ok"], failed["release"]) == (False, None)
    assert "Rolled back: v1" in failed["error"]
    bad = next(r for r in history_on_host(app_path) if r.tag == "bad")
    assert bad.outcome.value == "failed"
    assert 0 < len(bad.log_tail) <= 8
    assert any("500" in line for line in bad.log_tail)


def test_logs_shows_the_running_release_and_follow_stops_on_ctrl_c(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    capsys.readouterr()
    assert main(["staging", "logs", "--lines", "3"], environ) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 0 < len(lines) <= 3
    assert any("/health" in line for line in lines)  # uvicorn's access log of our probes
    follow = subprocess.Popen(
        [sys.executable, "-m", "deploy", "staging", "logs", "--follow", "--lines", "1"],
        env={**os.environ, **environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        served_version()  # a new request: a new line in the followed log
        time.sleep(2)
        assert follow.poll() is None  # still following
        follow.send_signal(signal.SIGINT)
        out, _ = follow.communicate(timeout=15)
    finally:
        follow.kill()
    assert follow.returncode == 130
    assert "GET /version" in out
