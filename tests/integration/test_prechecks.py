"""Pre-switch checks on the real rig: a release that passes its health check but fails a
declared path ([[smoke.checks]] in shipyard.toml) never reaches a user."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import (
    Traffic,
    bg_environ,
    history_on_host,
    public_version,
)
from tests.integration.deploy_helpers import target_environ
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

CHECKS = """
[[smoke.checks]]
path = "/version"

[[smoke.checks]]
path = "/docs"
contains = "swagger-ui"
"""


@pytest.fixture
def declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose shipyard.toml declares checks; the deployer runs from it."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "shipyard.toml").write_text(CHECKS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def lab(lab_image: LabImages, proxy_image: str) -> dict[str, str]:
    return {"pc1": lab_image("pc1"), "sour": lab_image("sour", sour=True)}


def test_blue_green_a_release_failing_a_declared_path_reaches_no_user(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab: dict[str, str],
    declared: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="5")
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "pc1-lab"], environ) == 0  # passes both checks
    first = history_on_host(app_path)[-1]
    assert "checks" in dict(first.phases)
    capsys.readouterr()
    with Traffic() as traffic:
        assert main(["staging", "up", "sour-lab"], environ) == 1
    assert traffic.failures == {}  # 0 user-visible errors, not "few"
    assert traffic.versions.keys() == {"pc1"}
    assert public_version() == "pc1"
    err = capsys.readouterr().err
    assert "pre-switch check failed: GET /version answered HTTP 500, not 200" in err
    assert "removed before the switch, so no request reached it" in err
    failed = history_on_host(app_path)[-1]
    assert (failed.tag, failed.outcome.value) == ("sour-lab", "failed")
    assert "GET /version answered HTTP 500" in failed.message
    assert "s)" in failed.message  # the time the check took
    assert "switch" not in dict(failed.phases)


def test_recreate_a_release_failing_a_declared_path_is_rolled_back(
    ssh_host: SshHost, app_path: AppPath, lab: dict[str, str], declared: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "pc1-lab"], environ) == 0
    capsys.readouterr()
    assert main(["staging", "up", "sour-lab"], environ) == 1
    err = capsys.readouterr().err
    assert "pre-switch check failed: GET /version answered HTTP 500" in err
    assert "Rolled back: pc1-lab is running and healthy" in err
    assert public_version("http://127.0.0.1:8000") == "pc1"
    kinds = [(r.kind.value, r.tag, r.outcome.value) for r in history_on_host(app_path)[-2:]]
    assert kinds == [("deploy", "sour-lab", "failed"), ("auto_rollback", "pc1-lab", "healthy")]
