"""The deployer against the real loopback rig: dockerd, registry, sshd (no mocks)."""

from __future__ import annotations

import json
import os
import pwd
import time
from pathlib import Path

import anyio
import pytest

from deploy.cli.main import main
from deploy.deployer import Deployer, Status
from deploy.errors import ConnectionFailed, HealthCheckFailed, LockHeld, PullFailed
from deploy.host.remote import connect
from deploy.ledger import Kind, Lock, Outcome, Release, parse_ledger
from tests.integration.deploy_helpers import (
    cuttable_proxy,
    make_target,
    served_version,
    target_environ,
)
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


def write_as_deployer(path: Path, text: str, ssh_host: SshHost) -> None:
    """Write a file on the host as another deployer (the SSH user) would have."""
    account = pwd.getpwnam(ssh_host.user)
    path.write_text(text)
    for entry in (path.parent, path):
        os.chown(entry, account.pw_uid, account.pw_gid)


def history_on_host(app: AppPath) -> list[Release]:
    ledger = app.path / ".deploy" / "releases.jsonl"
    return parse_ledger(ledger.read_text()) if ledger.exists() else []


def outcomes(app: AppPath) -> list[tuple[str, str, str]]:
    return [(r.kind.value, r.tag, r.outcome.value) for r in history_on_host(app)]


async def deploy(ssh_host: SshHost, app: AppPath, tag: str, **extra: str) -> Release:
    target = make_target(ssh_host, app, **extra)
    async with connect(target) as runner:
        return await Deployer(runner, target, who="pytest").deploy(tag)


@pytest.fixture
def images(build_app_image: BuildAppImage) -> dict[str, str]:
    return {
        "v1": build_app_image("v1"),
        "v2": build_app_image("v2"),
        "bad": build_app_image("bad", broken=True),
    }


@pytest.mark.anyio
async def test_first_deploy_is_healthy_and_recorded(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    release = await deploy(ssh_host, app_path, "v1")
    assert release.outcome is Outcome.HEALTHY
    assert release.digest is not None
    assert release.digest.startswith("sha256:")
    assert served_version() == "v1"
    assert outcomes(app_path) == [("deploy", "v1", "healthy")]
    assert dict(release.phases).keys() >= {"pull", "switch", "healthy"}
    assert "IMAGE_TAG=v1" in app_path.env_file.read_text()
    assert "REGISTRY=" in app_path.env_file.read_text()  # other variables kept


def test_failed_health_check_rolls_back(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path, health_timeout="8")
    assert main(["staging", "up", "v1"], environ) == 0
    assert main(["staging", "up", "bad"], environ) == 1
    err = capsys.readouterr().err
    assert "Rolled back: v1 is running and healthy" in err
    assert served_version() == "v1"
    assert outcomes(app_path) == [
        ("deploy", "v1", "healthy"),
        ("deploy", "bad", "failed"),
        ("auto_rollback", "v1", "healthy"),
    ]


def test_rollback_and_rollback_to(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    assert main(["staging", "up", "v2"], environ) == 0
    assert served_version() == "v2"
    assert main(["staging", "rollback"], environ) == 0
    assert served_version() == "v1"
    assert main(["staging", "rollback", "--to", "v2"], environ) == 0
    assert served_version() == "v2"
    assert main(["staging", "rollback", "--to", "v9"], environ) == 2  # refused: never passed
    assert "'v9' never passed" in capsys.readouterr().err
    assert [r for r in outcomes(app_path) if r[0] == "rollback"] == [
        ("rollback", "v1", "healthy"), ("rollback", "v2", "healthy"),
    ]
    assert main(["staging", "history", "--json"], environ) == 0
    history = json.loads(capsys.readouterr().out)
    assert [entry["tag"] for entry in history] == ["v1", "v2", "v1", "v2"]
    assert all(entry["deployed_by"] == "pytest" for entry in history)
    assert main(["staging", "status", "--json"], environ) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["tag"], status["healthy"]) == ("v2", True)
    assert status["digest"] == history[-1]["digest"]


@pytest.mark.anyio
async def test_wrong_host_key_is_refused_before_any_command(
    ssh_host: SshHost, app_path: AppPath
) -> None:
    target = make_target(ssh_host, app_path, known_hosts=ssh_host.wrong_known_hosts_line)
    with pytest.raises(ConnectionFailed, match="does not match STAGING_KNOWN_HOSTS"):
        async with connect(target):
            pytest.fail("connected despite a wrong host key")
    assert not (app_path.path / ".deploy").exists()


@pytest.mark.anyio
async def test_two_deploys_at_once_one_waits_then_fails_cleanly(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    results: dict[str, BaseException | Release] = {}

    async def attempt(tag: str) -> None:
        try:
            results[tag] = await deploy(ssh_host, app_path, tag, lock_wait="1")
        except (LockHeld, HealthCheckFailed) as error:
            results[tag] = error

    async with anyio.create_task_group() as group:
        group.start_soon(attempt, "v1")
        group.start_soon(attempt, "v2")
    winners = [tag for tag, result in results.items() if isinstance(result, Release)]
    losers = [result for result in results.values() if isinstance(result, LockHeld)]
    assert len(winners) == 1, results
    assert len(losers) == 1
    assert "locked by pytest" in str(losers[0])
    assert served_version() == winners[0]
    assert outcomes(app_path) == [("deploy", winners[0], "healthy")]
    assert not (app_path.path / ".deploy" / "lock.json").exists()


@pytest.mark.anyio
async def test_a_waiting_deploy_goes_after_the_first(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(deploy, ssh_host, app_path, "v1")
        await anyio.sleep(0.2)
        group.start_soon(lambda: deploy(ssh_host, app_path, "v2", lock_wait="120"))
    assert {tag for _, tag, outcome in outcomes(app_path) if outcome == "healthy"} == {"v1", "v2"}
    assert served_version() == history_on_host(app_path)[-1].tag


@pytest.mark.anyio
async def test_a_stale_lock_expires(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    state = app_path.path / ".deploy"
    state.mkdir()
    stale = Lock("gone@elsewhere", "dead", time.time() - 1000, time.time() - 10, "deploy")
    write_as_deployer(state / "lock.json", stale.to_text(), ssh_host)
    release = await deploy(ssh_host, app_path, "v1", lock_wait="0")
    assert release.outcome is Outcome.HEALTHY
    fresh = Lock("alive@elsewhere", "live", time.time(), time.time() + 600, "maintenance")
    write_as_deployer(state / "lock.json", fresh.to_text(), ssh_host)
    with pytest.raises(LockHeld, match=r"alive@elsewhere \(maintenance\)"):
        await deploy(ssh_host, app_path, "v2", lock_wait="1")
    assert served_version() == "v1"


@pytest.mark.anyio
@pytest.mark.parametrize("breakage", ["missing tag", "registry unreachable"])
async def test_pull_failure_leaves_the_running_version(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str], breakage: str
) -> None:
    await deploy(ssh_host, app_path, "v1")
    env_before = app_path.env_file.read_text()
    tag = "v404"
    if breakage == "registry unreachable":
        tag = "v2"
        env_before = env_before.replace(app_path.env["REGISTRY"], "127.0.0.1:9")
        app_path.env_file.write_text(env_before)
    with pytest.raises(PullFailed, match="nothing was changed, v1 still runs"):
        await deploy(ssh_host, app_path, tag)
    assert served_version() == "v1"
    assert app_path.env_file.read_text() == env_before
    assert outcomes(app_path)[-1] == ("deploy", tag, "pull_failed")


@pytest.mark.anyio
async def test_cut_connection_leaves_old_or_new_and_history_says_which(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]
) -> None:
    await deploy(ssh_host, app_path, "v1")
    ledger = app_path.path / ".deploy" / "releases.jsonl"
    with cuttable_proxy(ssh_host.port) as proxy:
        known = ssh_host.known_hosts_line.replace(f"]:{ssh_host.port} ", f"]:{proxy.port} ")
        target = make_target(ssh_host, app_path, ssh_port=str(proxy.port), known_hosts=known,
                             lock_ttl="3")

        def v2_started() -> bool:
            return any(r.tag == "v2" and r.outcome is Outcome.STARTED
                       for r in parse_ledger(ledger.read_text()))

        async def cut_when_switching() -> None:
            while not v2_started():  # noqa: ASYNC110
                await anyio.sleep(0.01)
            proxy.cut()

        async def deploy_v2() -> BaseException | None:
            try:
                async with connect(target) as runner:
                    await Deployer(runner, target, who="pytest").deploy("v2")
            except ConnectionFailed as error:
                return error
            return None

        with anyio.fail_after(120):
            async with anyio.create_task_group() as group:
                group.start_soon(cut_when_switching)
                error = await deploy_v2()
                group.cancel_scope.cancel()
        assert isinstance(error, ConnectionFailed)
        assert proxy.cut_event.is_set(), f"failed before the cut: {error}"
    serving = await wait_for_service()
    assert serving in ("v1", "v2")
    await anyio.sleep(3)  # the vanished deployer's lease runs out
    status = await status_after_cut(ssh_host, app_path)
    assert status.tag == serving
    assert status.last_release is not None
    assert (status.last_release.outcome, status.last_release.running_tag) == (
        Outcome.INTERRUPTED, serving,
    )  # reported by status, which records nothing: the next command holding the lock does
    assert history_on_host(app_path)[-1].outcome is Outcome.STARTED
    await deploy(ssh_host, app_path, "v2")
    [last] = [r for r in history_on_host(app_path) if r.outcome is Outcome.INTERRUPTED]
    assert (last.tag, last.outcome, last.running_tag) == ("v2", Outcome.INTERRUPTED, serving)


async def wait_for_service() -> str | None:
    for _ in range(300):
        version = served_version()
        if version:
            return version
        await anyio.sleep(0.1)
    return None


async def status_after_cut(ssh_host: SshHost, app: AppPath) -> Status:
    target = make_target(ssh_host, app)
    async with connect(target) as runner:
        return await Deployer(runner, target, who="pytest").status()


def test_hostile_input_is_refused_before_ssh(
    ssh_host: SshHost, app_path: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = target_environ(ssh_host, app_path, ssh_port="9")  # nothing listens there
    for tag in ("v1;touch /tmp/pwned", "$(id)", "../v1", "v1 v2", "-v1"):
        assert main(["staging", "up", "--", tag], environ) == 2
        assert "refused" in capsys.readouterr().err
    for path in ("/srv/../etc", "relative/path", "/srv/app;id"):
        assert main(["staging", "status"], {**environ, "STAGING_APP_PATH": path}) == 2
        assert "STAGING_APP_PATH" in capsys.readouterr().err
    assert not Path("/tmp/pwned").exists()


def test_the_private_key_never_appears_in_output(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    environ = target_environ(ssh_host, app_path, health_timeout="6")
    runs = [
        ["staging", "up", "v1"], ["staging", "up", "bad"], ["staging", "status", "--json"],
        ["staging", "history", "--json"], ["staging", "rollback", "--to", "v404"],
        ["staging", "lock", "--reason", "test"], ["staging", "unlock"],
    ]
    codes = [main(argv, environ) for argv in runs]
    wrong = {**environ, "STAGING_KNOWN_HOSTS": ssh_host.wrong_known_hosts_line}
    codes.append(main(["staging", "status"], wrong))
    codes.append(main(["staging", "up", "v1"], {**environ, "STAGING_SSH_KEY": "not a key"}))
    assert codes == [0, 1, 0, 0, 2, 0, 0, 1, 2]  # rollback to v404: refused (never passed)
    captured = capsys.readouterr()
    everything = captured.out + captured.err + caplog.text
    everything += (app_path.path / ".deploy" / "releases.jsonl").read_text()
    key_lines = [line for line in ssh_host.private_key_text.splitlines()
                 if line and "PRIVATE KEY" not in line]
    assert key_lines
    hits = [line for line in key_lines if line in everything]
    assert hits == []
    assert "not a key" not in everything
    assert Kind.AUTO_ROLLBACK.value in everything
