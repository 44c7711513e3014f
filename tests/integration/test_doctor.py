"""`doctor` on the real rig: a healthy host passes; breaking one thing fails exactly that check."""

from __future__ import annotations

import json
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from deploy.cli.main import main
from deploy.config import Target
from deploy.deployer import Deployer
from deploy.doctor.checks import HostReport, Level
from deploy.doctor.runner import diagnose
from deploy.host.remote import connect
from deploy.ledger import Lock
from tests.integration.deploy_helpers import make_target, target_environ
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proc import STATE_DIR, file_lock, free_port, run
from tests.rig.sshd import SshHost, start_sshd

pytestmark = pytest.mark.rig

NO_DOCKER_USER = "doctor-nodocker"  # only this module logs in as it


def doctor(target: Target) -> HostReport:
    return anyio.run(diagnose, target)


def levels(report: HostReport) -> dict[str, Level]:
    return {finding.check: finding.level for finding in report.findings}


def only_broken(report: HostReport, check: str, level: Level = Level.FAIL) -> str:
    """Assert `check` alone is not PASS (others PASS or SKIP); return its message + fix."""
    seen = levels(report)
    assert seen[check] is level, report
    others = {name: got for name, got in seen.items() if name != check}
    assert set(others.values()) <= {Level.PASS, Level.SKIP}, report
    found = next(finding for finding in report.findings if finding.check == check)
    assert found.fix, "a problem always comes with its fix"
    return f"{found.message} | {found.fix}"


def closed_port() -> int:
    return free_port(47000)


def chown_as(path: Path, ssh_host: SshHost) -> None:
    account = pwd.getpwnam(ssh_host.user)
    os.chown(path, account.pw_uid, account.pw_gid)


@pytest.fixture
def deployed(ssh_host: SshHost, app_path: AppPath, build_app_image: BuildAppImage) -> AppPath:
    """An app folder with v1 deployed and healthy: what a working host looks like."""
    build_app_image("v1")

    async def deploy() -> None:
        target = make_target(ssh_host, app_path)
        async with connect(target) as runner:
            await Deployer(runner, target, who="pytest").deploy("v1")

    anyio.run(deploy)
    return app_path


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_healthy_host_passes_and_nothing_changes(
    ssh_host: SshHost, deployed: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(deployed.path)
    environ = target_environ(ssh_host, deployed)
    assert main(["staging", "doctor", "--json"], environ) == 0
    document = json.loads(capsys.readouterr().out)
    assert snapshot(deployed.path) == before  # ledger, .env, compose file: byte-identical
    assert not (deployed.path / ".deploy" / "lock.json").exists()
    assert document["schema"] == 1
    assert document["ok"] is True
    checks = {check["check"]: check for check in document["hosts"][0]["checks"]}
    assert {name: check["level"] for name, check in checks.items()} == dict.fromkeys(
        [
            "ssh",
            "docker",
            "compose",
            "app_folder",
            "compose_file",
            "env_file",
            "image_tag",
            "compose_config",
            "registry",
            "health",
            "disk",
            "clock",
            "lock",
        ],
        "PASS",
    ), document
    assert "/shipyard/app:v1" in checks["registry"]["message"]
    assert "GiB free" in checks["disk"]["message"]
    assert main(["staging", "doctor"], environ) == 0
    assert "nothing failed" in capsys.readouterr().out


def test_every_host_of_hosts_is_checked_in_order(
    ssh_host: SshHost, deployed: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    """With STAGING_HOSTS each host gets its own report: a closed SSH port fails only its own
    host's checks (the others are skipped there), the working host still passes all."""
    environ = target_environ(ssh_host, deployed)
    del environ["STAGING_HOST"], environ["STAGING_SSH_PORT"]
    closed = closed_port()
    environ["STAGING_HOSTS"] = f"127.0.0.1:{ssh_host.port}, 127.0.0.1:{closed}"
    assert main(["staging", "doctor", "--json"], environ) == 1
    document = json.loads(capsys.readouterr().out)
    assert [(host["port"], host["ok"]) for host in document["hosts"]] == [
        (ssh_host.port, True), (closed, False)]
    working, broken = ({c["check"]: c["level"] for c in host["checks"]}
                       for host in document["hosts"])  # fmt: skip
    assert set(working.values()) == {"PASS"}
    assert broken.pop("ssh") == "FAIL"
    assert set(broken.values()) == {"SKIP"}
    assert main(["staging", "doctor"], environ) == 1
    printed = capsys.readouterr().out
    assert f"staging: 127.0.0.1:{ssh_host.port}" in printed
    assert f"staging: 127.0.0.1:{closed}" in printed


# Past a failed connection every other check is SKIP, so the SSH tests need no deployed app
# (nor the app port's lock): their app path is never reached.
UNREACHED_APP = AppPath(Path("/srv/never-reached"), "never-reached", {})


def test_wrong_host_key_fails_ssh_only(ssh_host: SshHost) -> None:
    target = make_target(ssh_host, UNREACHED_APP, known_hosts=ssh_host.wrong_known_hosts_line)
    said = only_broken(doctor(target), "ssh")
    assert "does not match" in said
    assert "STAGING_KNOWN_HOSTS" in said


def test_closed_ssh_port_fails_ssh_and_exits_1(
    ssh_host: SshHost, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = target_environ(ssh_host, UNREACHED_APP, ssh_port=str(closed_port()))
    assert main(["staging", "doctor"], environ) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed
    assert "STAGING_SSH_PORT" in printed
    assert "Traceback" not in printed
    said = only_broken(
        doctor(make_target(ssh_host, UNREACHED_APP, ssh_port=environ["STAGING_SSH_PORT"])), "ssh"
    )
    assert "Could not connect" in said


@pytest.fixture
def no_docker_host(rig_dir: Path, ssh_host: SshHost) -> Iterator[SshHost]:
    """A second sshd whose only user is not in the docker group (the shared `deployer` stays
    untouched, so parallel tests keep their Docker access)."""
    with file_lock(STATE_DIR / "doctor-nodocker.lock"):
        host, server = start_sshd(rig_dir / "sshd-nodocker", user=NO_DOCKER_USER)
        run(["gpasswd", "--delete", NO_DOCKER_USER, "docker"])  # sshd reads groups at login
        try:
            yield host
        finally:
            server.stop()


def test_user_outside_the_docker_group_fails_docker_only(
    no_docker_host: SshHost, deployed: AppPath
) -> None:
    said = only_broken(doctor(make_target(no_docker_host, deployed)), "docker")
    assert "permission denied" in said.lower()
    assert f"usermod -aG docker {NO_DOCKER_USER}" in said


def test_missing_compose_file_fails_that_check(ssh_host: SshHost, deployed: AppPath) -> None:
    deployed.compose_file.unlink()
    report = doctor(make_target(ssh_host, deployed))
    assert "docker-compose.yml" in only_broken(report, "compose_file")
    assert levels(report)["image_tag"] is Level.SKIP


def test_missing_env_file_fails_that_check(ssh_host: SshHost, deployed: AppPath) -> None:
    deployed.env_file.unlink()
    report = doctor(make_target(ssh_host, deployed))
    assert "REGISTRY" in only_broken(report, "env_file")
    assert levels(report)["registry"] is Level.SKIP


def test_compose_file_without_image_tag_fails_that_check(
    ssh_host: SshHost, deployed: AppPath
) -> None:
    text = deployed.compose_file.read_text()
    deployed.compose_file.write_text(text.replace("${IMAGE_TAG:-latest}", "v1"))
    said = only_broken(doctor(make_target(ssh_host, deployed)), "image_tag")
    assert ":v1" in said
    assert "${IMAGE_TAG" in said


def test_unreachable_registry_fails_that_check(ssh_host: SshHost, deployed: AppPath) -> None:
    env = deployed.env_file.read_text()
    closed = f"127.0.0.1:{closed_port()}"
    deployed.env_file.write_text(
        env.replace(f"REGISTRY={deployed.env['REGISTRY']}", f"REGISTRY={closed}")
    )
    said = only_broken(doctor(make_target(ssh_host, deployed)), "registry")
    assert f"cannot reach {closed}" in said
    assert "REGISTRY" in said


def test_health_port_not_answering_fails_that_check(ssh_host: SshHost, deployed: AppPath) -> None:
    port = closed_port()
    target = make_target(ssh_host, deployed, health_port=str(port))
    said = only_broken(doctor(target), "health")
    assert f"127.0.0.1:{port}" in said
    assert "STAGING_HEALTH_PORT" in said


@pytest.mark.parametrize(
    ("acquired", "expires", "expected"),
    [(-30, 600, "held by alice@laptop (maintenance) since"), (-1000, -100, "stale: held by")],
)
def test_lock_held_or_stale_warns_with_owner(
    ssh_host: SshHost, deployed: AppPath, acquired: int, expires: int, expected: str
) -> None:
    now = time.time()
    lock = Lock("alice@laptop", "token", now + acquired, now + expires, "maintenance")
    lock_path = deployed.path / ".deploy" / "lock.json"
    lock_path.write_text(lock.to_text())
    chown_as(lock_path, ssh_host)
    said = only_broken(doctor(make_target(ssh_host, deployed)), "lock", Level.WARN)
    assert expected in said
    assert "unlock" in said
    assert lock_path.read_text() == lock.to_text()  # the doctor never breaks a lock
