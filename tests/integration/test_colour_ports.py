"""Two blue-green app folders on one host (the rig's one sshd), each with its own proxy port
and colour ports, deployed independently; a layout on other ports than the setting is refused."""

from __future__ import annotations

import pytest

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import Traffic, bg_environ, outcomes, public_version
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

# The second folder's ports (the `second_app` fixture, tests/integration/conftest.py, holds
# their lock): clear of the app's 8000-8002 and of the fleet tests' 8101-8110.
SECOND_LISTEN, SECOND_COLOURS = 8120, "8121/8122"
SECOND = f"http://127.0.0.1:{SECOND_LISTEN}"


def test_two_app_folders_on_one_host_deploy_independently(
    ssh_host: SshHost, app_path: AppPath, second_app: AppPath, proxy_image: str,
    lab_image: LabImages, capsys: pytest.CaptureFixture[str],
) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)  # built and pushed as VERSION-lab
    first = bg_environ(ssh_host, app_path, proxy_image)  # 8000, colours on 8001/8002
    second = bg_environ(ssh_host, second_app, proxy_image,
                        proxy_listen=f"127.0.0.1:{SECOND_LISTEN}", colour_ports=SECOND_COLOURS,
                        health_port=str(SECOND_LISTEN))  # fmt: skip
    assert main(["staging", "init"], first) == 0
    assert main(["staging", "init"], second) == 0
    laid_out = (second_app.path / "docker-compose.yml").read_text()
    assert '"PORT=8121"' in laid_out
    assert '"PORT=8122"' in laid_out
    assert "8001" not in laid_out
    assert "127.0.0.1:8121" in (second_app.path / "proxy/conf/live.upstream").read_text()

    assert main(["staging", "up", "bg1-lab"], first) == 0
    assert main(["staging", "up", "bg2-lab"], second) == 0
    assert (public_version(), public_version(SECOND)) == ("bg1", "bg2")

    with Traffic() as on_first, Traffic(base=SECOND) as on_second:
        assert main(["staging", "up", "bg1-lab"], second) == 0  # second: blue → green
    assert on_first.failures == {}
    assert set(on_first.versions) == {"bg1"}  # the first folder never saw the second's switch
    assert on_second.failures == {}
    assert (public_version(), public_version(SECOND)) == ("bg1", "bg1")

    with Traffic() as on_first, Traffic(base=SECOND) as on_second:
        assert main(["staging", "up", "bg2-lab"], first) == 0  # first: blue → green
    assert on_second.failures == {}
    assert set(on_second.versions) == {"bg1"}
    assert on_first.failures == {}
    assert set(on_first.versions) == {"bg1", "bg2"}
    assert (public_version(), public_version(SECOND)) == ("bg2", "bg1")
    assert [o[1:] for o in outcomes(second_app) if o[0] == "deploy"] == [
        ("bg2-lab", "healthy"), ("bg1-lab", "healthy")]

    # The setting changed after init: the layout's colours listen on 8121/8122, so the deploy
    # is refused before anything changes, naming the variable and the value that fits.
    capsys.readouterr()
    moved = {**second, "STAGING_COLOUR_PORTS": "8123/8124"}
    before = outcomes(second_app)
    assert main(["staging", "up", "bg2-lab"], moved) == 2  # refused: nothing changed
    error = capsys.readouterr().err
    assert "STAGING_COLOUR_PORTS=8121/8122" in " ".join(error.split())
    assert outcomes(second_app) == before
    assert public_version(SECOND) == "bg1"
    assert main(["staging", "init"], moved) == 2  # refused: init does not move a layout either
    assert "runs blue and green on 8121/8122" in " ".join(capsys.readouterr().err.split())
