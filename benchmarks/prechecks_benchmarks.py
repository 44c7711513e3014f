"""A bad release (healthy /health, 500 on its real paths) under load, blue-green with and
without declared pre-switch checks: the 500s users saw, and what the checks cost a deploy."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import pytest
from bluegreen_benchmarks import locust_load, table

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import bg_environ, history_on_host
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

BAD_RELEASES = 3
GOOD_RELEASES = 6
CHECKS = ('[[smoke.checks]]\npath = "/version"\n'
          '[[smoke.checks]]\npath = "/docs"\ncontains = "swagger-ui"\n')


def declare(folder: Path, text: str) -> None:
    """The deployer reads shipyard.toml from its working folder up to the repository."""
    (folder / ".git").mkdir(exist_ok=True)
    (folder / "shipyard.toml").write_text(text)
    os.chdir(folder)


def test_a_bad_release_with_and_without_pre_switch_checks(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)
    lab_image("sour", sour=True)
    monkeypatch.chdir(tmp_path)
    environ = bg_environ(ssh_host, app_path, proxy_image, watch="5", drain="2")
    rows = [("pre-switch checks", "bad releases", "500s users saw", "per bad release",
             "failed requests other than 500")]
    for name, text in (("none (health only)", ""), ("/version, /docs", CHECKS)):
        declare(tmp_path / name.split()[0].strip("/,"), text)
        assert main(["staging", "init"], environ) == 0
        assert main(["staging", "up", "bg1-lab"], environ) == 0
        with locust_load() as run:
            for _ in range(BAD_RELEASES):
                assert main(["staging", "up", "sour-lab"], environ) == 1
        seen = [r for r in run.requests if r[3] == 500]
        other = [r for r in run.requests if r[4] != "ok" and r[3] not in (0, 500)]
        rows.append((name, str(BAD_RELEASES), str(len(seen)),
                     f"{len(seen) / BAD_RELEASES:.0f}", str(len(other))))  # fmt: skip
    table("A release that answers /health and 500 elsewhere, blue-green under Locust load",
          rows)
    declare(tmp_path / "cost", CHECKS)
    for n in range(GOOD_RELEASES):
        assert main(["staging", "up", ("bg2-lab", "bg1-lab")[n % 2]], environ) == 0
    phases = [dict(r.phases) for r in history_on_host(app_path)[-GOOD_RELEASES:]]
    checks = [p["checks"] for p in phases]
    healthy = [p["healthy"] for p in phases]
    table("What the declared checks cost a good deploy (2 requests through the SSH tunnel)", [
        ("deploys", "checks median", "checks max", "health wait median"),
        (str(GOOD_RELEASES), f"{statistics.median(checks):.3f}s", f"{max(checks):.3f}s",
         f"{statistics.median(healthy):.2f}s")])  # fmt: skip
