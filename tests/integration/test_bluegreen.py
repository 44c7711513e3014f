"""Blue-green on the real loopback rig: nginx proxy, two colours, switch, watch, rollback."""

from __future__ import annotations

import json

import pytest

from deploy.__main__ import main
from tests.integration.bluegreen_helpers import (
    Traffic,
    bg_environ,
    history_on_host,
    outcomes,
    public_version,
)
from tests.integration.deploy_helpers import target_environ
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


@pytest.fixture
def lab(lab_image: LabImages, proxy_image: str) -> dict[str, str]:
    return {"bg1": lab_image("bg1"), "bg2": lab_image("bg2"), "sour": lab_image("sour", sour=True)}


def test_deploy_switches_without_dropping_a_request_and_rolls_back_instantly(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert "nothing was running" in capsys.readouterr().out
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    assert public_version() == "bg1"
    with Traffic() as traffic:
        assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert traffic.failures == {}
    assert traffic.versions.keys() == {"bg1", "bg2"}
    assert public_version() == "bg2"
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["strategy"], status["tag"], status["healthy"]) == ("blue-green", "bg2-lab", True)
    colours = {c["colour"]: c for c in status["layout"]["colours"]}
    assert status["layout"]["serving_colour"] == "green"
    assert (colours["blue"]["tag"], colours["blue"]["state"]) == ("bg1-lab", "exited")
    assert (colours["green"]["tag"], colours["green"]["state"]) == ("bg2-lab", "running")
    assert status["layout"]["proxy"] == "running"
    last = history_on_host(app_path)[-1]
    assert dict(last.phases).keys() >= {"pull", "start", "healthy", "switch", "watch", "drain"}
    with Traffic() as traffic:
        assert main(["staging", "rollback"], environ) == 0
    assert traffic.failures == {}
    assert public_version() == "bg1"
    rollback = history_on_host(app_path)[-1]
    assert (rollback.kind.value, rollback.colour, rollback.outcome.value) == (
        "rollback", "blue", "healthy")
    assert "pull" not in dict(rollback.phases)  # the stopped colour was started again


def test_a_colour_that_never_gets_healthy_is_removed_before_the_switch(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    build_app_image: BuildAppImage, capsys: pytest.CaptureFixture[str],
) -> None:
    build_app_image("bad", broken=True)
    environ = bg_environ(ssh_host, app_path, proxy_image, health_timeout="4")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    with Traffic() as traffic:
        assert main(["staging", "up", "bad"], environ) == 1
    assert traffic.failures == {}
    assert traffic.versions.keys() == {"bg1"}
    err = capsys.readouterr().err
    assert "no request reached it; bg1-lab still serves on blue" in err
    assert outcomes(app_path)[-1] == ("deploy", "bad", "failed")
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    colours = {c["colour"]: c["state"] for c in
               json.loads(capsys.readouterr().out)["layout"]["colours"]}
    assert colours == {"blue": "running", "green": "absent"}


def test_a_degraded_colour_is_switched_back_during_the_watch(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="20")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    with Traffic() as traffic:
        assert main(["staging", "up", "sour-lab"], environ) == 1
    err = capsys.readouterr().err
    assert "degraded after the switch" in err
    assert "bg1-lab serves on blue" in err
    assert public_version() == "bg1"
    assert traffic.statuses["500"] >= 3  # what the watch saw, and nothing else failed
    assert set(traffic.failures) == {"500"}
    history = history_on_host(app_path)
    assert [(r.kind.value, r.tag, r.outcome.value) for r in history[-2:]] == [
        ("deploy", "sour-lab", "failed"), ("auto_rollback", "bg1-lab", "healthy")]
    assert dict(history[-1].phases)["switch_back"] < 1.0
    assert dict(history[-2].phases)["watch"] < 20


def test_a_proxy_that_refuses_its_config_keeps_the_old_colour(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    site = app_path.path / "proxy" / "conf" / "shipyard.conf"
    site.write_text(site.read_text() + "this is not nginx;\n")
    with Traffic() as traffic:
        assert main(["staging", "up", "bg2-lab"], environ) == 1
    assert traffic.failures == {}
    err = capsys.readouterr().err
    assert "refused the config that switches to green, so bg1-lab still serves on blue" in err
    assert "this" in err  # nginx's own complaint is shown
    assert public_version() == "bg1"
    assert "blue" in (app_path.path / "proxy" / "conf" / "live.upstream").read_text()


def test_init_adopts_the_running_release_is_idempotent_and_refuses_the_unknown(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    recreate = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "bg1-lab"], recreate) == 0
    environ = bg_environ(ssh_host, app_path, proxy_image)
    with Traffic() as traffic:
        assert main(["staging", "init"], environ) == 0
    out = capsys.readouterr().out
    print(out, traffic.statuses)
    assert "started api-blue with bg1-lab, healthy" in out
    assert "moved docker-compose.override.yml to .deploy/recreate/" in out
    assert public_version() == "bg1"
    assert traffic.versions["bg1"] > 0
    assert outcomes(app_path)[-1] == ("adopt", "bg1-lab", "healthy")
    assert main(["staging", "init"], environ) == 0
    assert "already blue-green; nothing changed" in capsys.readouterr().out
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert public_version() == "bg2"


def test_init_refuses_a_compose_file_it_does_not_understand(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, capsys: pytest.CaptureFixture[str],
) -> None:
    compose = app_path.compose_file
    compose.write_text(compose.read_text() + "  db:\n    image: postgres:16\n    build: .\n")
    before = {p.name: p.read_bytes() for p in app_path.path.iterdir() if p.is_file()}
    environ = bg_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "init"], environ) == 1
    err = capsys.readouterr().err
    assert "init changed nothing" in err
    assert "expected exactly one service `api`, found ['api', 'db']" in err
    after = {p.name: p.read_bytes() for p in app_path.path.iterdir() if p.is_file()}
    assert after == before
    assert not (app_path.path / "proxy").exists()
