"""Blue-green on two "hosts" (two app folders behind the rig's one sshd, each with its own
proxy and colour ports): each switches its own proxy and keeps its old colour running until
every host has passed; all or nothing, switching back at once, without a lost request."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import (
    Traffic,
    bg_environ,
    history_on_host,
    outcomes,
    public_version,
)
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

SECOND_LISTEN, SECOND_GREEN = 8120, 8122
SECOND = f"http://127.0.0.1:{SECOND_LISTEN}"


def fleet_environ(
    ssh_host: SshHost, first: AppPath, second: AppPath, proxy_image: str
) -> dict[str, str]:
    """STAGING_HOSTS naming both folders on the one sshd, the second on its own ports."""
    environ = bg_environ(ssh_host, first, proxy_image)
    del environ["STAGING_HOST"], environ["STAGING_SSH_PORT"]
    address = f"{ssh_host.host}:{ssh_host.port}"
    environ["STAGING_HOSTS"] = (
        f"{address} APP_PATH={first.path}, {address} APP_PATH={second.path} "
        f"PROXY_LISTEN=127.0.0.1:{SECOND_LISTEN} HEALTH_PORT={SECOND_LISTEN} "
        f"COLOUR_PORTS=8121/{SECOND_GREEN}"
    )
    return environ


@contextmanager
def port_taken(port: int) -> Iterator[None]:
    """Something else listens on 127.0.0.1:`port` (the host's own fault, not the release's)."""
    squatter = socket.create_server(("127.0.0.1", port))
    try:
        yield
    finally:
        squatter.close()


def test_blue_green_hosts_switch_their_own_proxy_and_all_return_when_one_fails(
    ssh_host: SshHost, app_path: AppPath, second_app: AppPath, proxy_image: str,
    lab_image: LabImages, capsys: pytest.CaptureFixture[str],
) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)
    environ = fleet_environ(ssh_host, app_path, second_app, proxy_image)
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "bg1-lab"], environ) == 0
    assert (public_version(), public_version(SECOND)) == ("bg1", "bg1")
    capsys.readouterr()

    # The second host's next colour (green) cannot bind its port there: it never becomes
    # healthy. The first host switches to bg2, then returns to bg1; no request fails.
    with port_taken(SECOND_GREEN), Traffic() as first, Traffic(base=SECOND) as second:
        assert main(["staging", "up", "bg2-lab", "--json"], environ) == 1
    result = json.loads(capsys.readouterr().out)
    assert [(h["outcome"], h["running"], h["healthy"]) for h in result["hosts"]] == [
        ("rolled_back", "bg1-lab", True), ("failed", "bg1-lab", True)]
    assert first.failures == {}
    assert set(first.versions) == {"bg1", "bg2"}  # it did switch, and came back
    assert second.failures == {}
    assert set(second.versions) == {"bg1"}  # the failing colour never served
    assert (public_version(), public_version(SECOND)) == ("bg1", "bg1")
    assert outcomes(app_path)[-2:] == [("deploy", "bg2-lab", "healthy"),
                                       ("fleet_rollback", "bg1-lab", "healthy")]
    assert outcomes(second_app)[-1] == ("deploy", "bg2-lab", "failed")
    back = history_on_host(app_path)[-1]  # the old colour kept running: no start, no wait
    assert (back.colour, set(dict(back.phases))) == ("blue", {"switch_back"})
    assert dict(back.phases)["switch_back"] < 2.0

    assert main(["staging", "up", "bg2-lab"], environ) == 0  # the port is free again
    assert (public_version(), public_version(SECOND)) == ("bg2", "bg2")
    capsys.readouterr()
    assert main(["staging", "status", "--json", "--no-probe"], environ) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["drift"] is False
    assert [host["layout"]["serving_colour"] for host in status["hosts"]] == ["green", "green"]
    idle = [[c["state"] for c in host["layout"]["colours"] if not c["serving"]]
            for host in status["hosts"]]  # fmt: skip
    assert idle == [["exited"], ["exited"]]  # every host passed: each drained its old colour
