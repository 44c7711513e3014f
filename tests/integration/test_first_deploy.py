"""Zero downtime by default on the rig: with `STAGING_STRATEGY` unset a first deploy sets up
blue-green (init's code path); recreate when asked for; a folder already running recreate
keeps it and is told, once, how to get zero downtime."""

from __future__ import annotations

import json

import pytest

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import (
    Traffic,
    bg_environ,
    history_on_host,
    outcomes,
    public_version,
)
from tests.integration.deploy_helpers import target_environ
from tests.integration.test_fleet_bluegreen import SECOND, fleet_environ
from tests.rig.apppath import AppPath, override_text
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

HINT = "python -m deploy staging init"


def unset_environ(ssh_host: SshHost, app: AppPath, proxy_image: str) -> dict[str, str]:
    """What a user sets for the rig (the rig's nginx, host networking), STRATEGY left unset."""
    environ = bg_environ(ssh_host, app, proxy_image)
    del environ["STAGING_STRATEGY"]
    return environ


def status_of(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["staging", "status", "--json"], environ) == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.fixture
def lab(lab_image: LabImages) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)  # built and pushed as VERSION-lab


def test_a_first_deploy_sets_up_blue_green_and_the_next_one_switches_without_a_refusal(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = unset_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    err = capsys.readouterr().err
    assert "setting up blue-green (as `init` does)" in err
    assert "moved docker-compose.yml to .deploy/recreate/docker-compose.yml" in err
    assert HINT not in err
    assert public_version() == "bg1"
    status = status_of(environ, capsys)
    layout = status["layout"]
    assert isinstance(layout, dict)
    assert (status["strategy"], layout["proxy"], layout["serving_colour"]) == (
        "blue-green", "running", "blue")
    with Traffic() as traffic:  # light load: ~100 requests/s through the proxy
        assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert traffic.failures == {}
    assert sum(traffic.statuses.values()) > 20
    assert traffic.versions.keys() == {"bg1", "bg2"}
    assert public_version() == "bg2"
    assert [o for o in outcomes(app_path) if o[0] == "deploy"] == [
        ("deploy", "bg1-lab", "healthy"), ("deploy", "bg2-lab", "healthy")]
    assert history_colours(app_path) == ["blue", "green"]


def history_colours(app: AppPath) -> list[str]:
    return [r.colour or "" for r in history_on_host(app) if r.kind.value == "deploy"]


def test_recreate_when_asked_for_still_recreates(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = {**unset_environ(ssh_host, app_path, proxy_image), "STAGING_STRATEGY": "recreate"}
    compose = app_path.compose_file.read_text()
    for tag, version in (("bg1-lab", "bg1"), ("bg2-lab", "bg2")):
        assert main(["staging", "up", tag], environ) == 0
        assert public_version() == version
    err = capsys.readouterr().err
    assert "blue-green" not in err
    assert HINT not in err  # asked for by name: nothing to hint
    assert app_path.compose_file.read_text() == compose
    assert not (app_path.path / "proxy").exists()
    assert status_of(environ, capsys)["strategy"] == "recreate"


def test_a_folder_running_recreate_keeps_it_and_is_told_once_how_to_get_zero_downtime(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["staging", "up", "bg1-lab"], target_environ(ssh_host, app_path)) == 0  # recreate
    compose = app_path.compose_file.read_text()
    environ = unset_environ(ssh_host, app_path, proxy_image)
    capsys.readouterr()
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    first = " ".join(capsys.readouterr().err.split())
    assert f"`{HINT}` turns it into blue-green" in first
    assert "STAGING_STRATEGY=recreate" in first
    assert public_version() == "bg2"
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    assert HINT not in capsys.readouterr().err  # once per folder
    assert public_version() == "bg1"
    assert app_path.compose_file.read_text() == compose  # never converted by `up`
    assert not (app_path.path / "proxy").exists()
    assert status_of(environ, capsys)["strategy"] == "recreate"
    # `init` converts it (adopting what runs); the next `up` is a blue-green switch
    assert main(["staging", "init"], environ) == 0
    with Traffic() as traffic:
        assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert traffic.failures == {}
    assert status_of(environ, capsys)["strategy"] == "blue-green"


def test_several_hosts_each_empty_one_is_set_up_and_one_running_recreate_keeps_it(
    ssh_host: SshHost, app_path: AppPath, second_app: AppPath, proxy_image: str, lab: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The second "host" already runs the guide's file with recreate (on its own port).
    second_alone = {**target_environ(ssh_host, second_app), "STAGING_HEALTH_PORT": "8120"}
    second_app.override_file.write_text(override_text(8120))
    assert main(["staging", "up", "bg1-lab"], second_alone) == 0
    environ = fleet_environ(ssh_host, app_path, second_app, proxy_image)
    del environ["STAGING_STRATEGY"]
    capsys.readouterr()
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert err.count("setting up blue-green (as `init` does)") == 1  # the empty host only
    assert err.count(f"`{HINT}` turns it into blue-green") == 1  # the recreate host, once
    assert (public_version(), public_version(SECOND)) == ("bg2", "bg2")
    assert (app_path.path / "proxy/conf/live.upstream").exists()
    assert not (second_app.path / "proxy").exists()
    capsys.readouterr()
    assert main(["staging", "status", "--json", "--no-probe"], environ) == 0
    hosts = json.loads(capsys.readouterr().out)["hosts"]
    assert [host["strategy"] for host in hosts] == ["blue-green", "recreate"]


def test_a_compose_file_init_would_refuse_deploys_with_recreate_saying_why_once(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    compose = app_path.compose_file
    compose.write_text(compose.read_text() + "  db:\n    image: postgres:16\n    build: .\n")
    environ = unset_environ(ssh_host, app_path, proxy_image)
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    first = " ".join(capsys.readouterr().err.split())
    assert "deploys with recreate: blue-green from the first deploy needs the guide's" in first
    assert "found ['api', 'db']" in first
    assert public_version() == "bg1"
    assert main(["staging", "up", "bg2-lab"], environ) == 0
    assert "deploys with recreate" not in capsys.readouterr().err
    assert public_version() == "bg2"
    assert not (app_path.path / "proxy").exists()
