"""Blue-green on the real loopback rig: nginx proxy, two colours, switch, watch, rollback."""

from __future__ import annotations

import json

import pytest

from deploy.__main__ import main
from tests.integration.bluegreen_helpers import (
    Traffic,
    bg_environ,
    history_on_host,
    public_version,
)
from tests.rig.apppath import AppPath
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
