"""The old default (recreate) against the new one (blue-green from the first deploy) in one
run on the rig: requests refused per deploy under the same Locust load."""

from __future__ import annotations

import shutil
import time

from bluegreen_benchmarks import (  # beside this file (pytest puts it on the path)
    Run,
    locust_load,
    table,
)

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import bg_environ
from tests.rig.apppath import AppPath
from tests.rig.docker import remove_project_containers
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

DEPLOYS = 6
TAGS = ("bg2-lab", "bg1-lab")


def first_and_deploys(environ: dict[str, str]) -> tuple[Run, Run]:
    """The first deploy to an empty folder, then DEPLOYS more, each block under load."""
    with locust_load() as first:
        started = time.time()
        assert main(["staging", "up", "bg1-lab"], environ) == 0
        first.windows.append((started, time.time()))
    with locust_load() as run:
        for n in range(DEPLOYS):
            started = time.time()
            assert main(["staging", "up", TAGS[n % 2]], environ) == 0
            run.windows.append((started, time.time()))
    return first, run


def refused(run: Run) -> int:
    return sum(1 for r in run.requests if r[3] == 0)


def emptied(app: AppPath) -> None:
    """Back to a folder where nothing ran: no container, no ledger, the guide's files."""
    remove_project_containers(app.project)
    shutil.rmtree(app.path / ".deploy", ignore_errors=True)


def test_old_default_against_new_default(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages
) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)
    unset = bg_environ(ssh_host, app_path, proxy_image, watch="2", drain="5")
    del unset["STAGING_STRATEGY"]
    old_first, old = first_and_deploys({**unset, "STAGING_STRATEGY": "recreate"})
    emptied(app_path)
    new_first, new = first_and_deploys(unset)
    header = ("default", f"refused over {DEPLOYS} deploys", "per deploy", "non-2xx",
              "first deploy (s)")  # fmt: skip

    def row(name: str, first: Run, run: Run) -> tuple[str, ...]:
        bad = sum(1 for r in run.requests if r[4] != "ok" and r[3] != 0)
        took = first.windows[0][1] - first.windows[0][0]
        return (name, f"{refused(run):,}", f"{refused(run) / DEPLOYS:.0f}", str(bad),
                f"{took:.1f}")  # fmt: skip

    table(f"{DEPLOYS} deploys after the first, under Locust load through 127.0.0.1:8000", [
        header, row("old: recreate", old_first, old),
        row("new: blue-green from the first deploy", new_first, new)])  # fmt: skip
