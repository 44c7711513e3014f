"""Wall time of a fleet deploy (recreate) for 1, 3 and 10 hosts in one run (issue 11)."""

from __future__ import annotations

import io
import json
import os
import resource
import statistics
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

from rig_benchmarks import table

from deploy.cli.main import main
from tests.integration.fleet_helpers import Member, fleet_environ, ledger
from tests.rig.fleet import FleetApps, FleetHosts
from tests.rig.images import BuildAppImage

SIZES = (1, 3, 10)
ROUNDS = 3  # timed deploys of each tag per size, alternating v2, v1, ...
GOAL = 1.5  # issue 11: 10 hosts within 1.5x the wall time of 1 host


def cpu_seconds() -> float:
    """CPU time this process (the deployer: asyncssh, one event loop) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], environ: dict[str, str]) -> tuple[float, float, int, dict[str, Any]]:
    """Wall and deployer CPU seconds for `staging ARGV --json`, its exit code and document."""
    out = io.StringIO()
    started, cpu = time.perf_counter(), cpu_seconds()
    with redirect_stdout(out):
        code = main(["staging", *argv, "--json"], environ)
    wall, used = time.perf_counter() - started, cpu_seconds() - cpu
    return wall, used, code, json.loads(out.getvalue())


def timed_up(environ: dict[str, str], tag: str, size: int) -> tuple[float, float]:
    """(wall, deployer CPU) seconds for `up TAG`; every host must end `deployed`."""
    wall, cpu, code, document = timed(["up", tag], environ)
    outcomes = [entry["outcome"] for entry in document["hosts"]]
    assert (code, outcomes) == (0, ["deployed"] * size), document
    return wall, cpu


def timed_status(environ: dict[str, str], size: int) -> float:
    """Seconds for `status` (SSH and a few docker commands per host, nothing started)."""
    wall, _, code, document = timed(["status"], environ)
    assert (code, len(document["hosts"]), document["drift"]) == (0, size, False), document
    return wall


def phase_medians(members: list[Member], deploys: int) -> dict[str, float]:
    """Per phase, the slowest host's time in each of the last deploys, median over deploys."""
    records = [[dict(r.phases) for r in ledger(app)[-deploys:]] for _, app in members]
    names = [name for name in records[0][0] if all(name in p for h in records for p in h)]
    return {name: statistics.median(max(host[n][name] for host in records)
                                    for n in range(deploys)) for name in names}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Figures:
    """One fleet size's measurements."""

    walls: list[float]
    cpu: float  # the deployer's CPU seconds per deploy (median)
    phases: dict[str, float]
    status: float

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    def row(self, size: int, one: Figures) -> tuple[str, ...]:
        return (str(size), str(len(self.walls)), f"{self.wall:.2f}s", f"{min(self.walls):.2f}s",
                f"{max(self.walls):.2f}s", f"{self.wall / one.wall:.2f}", f"{self.cpu:.2f}s",
                *(f"{self.phases.get(name, 0):.2f}s" for name in one.phases),
                f"{self.status:.2f}s", f"{self.status / one.status:.2f}")  # fmt: skip


def measure(members: list[Member]) -> Figures:
    """An untimed first deploy, then 2 x ROUNDS timed ones (v2, v1, ...), then `status`."""
    size, environ = len(members), fleet_environ(members)
    assert main(["staging", "up", "v1"], environ) == 0  # new hosts' first release: untimed
    runs = [timed_up(environ, ("v2", "v1")[n % 2], size) for n in range(2 * ROUNDS)]
    return Figures([r[0] for r in runs], statistics.median(r[1] for r in runs),
                   phase_medians(members, 2 * ROUNDS),
                   statistics.median(timed_status(environ, size) for _ in range(ROUNDS)))


def test_fleet_deploy_wall_time_for_1_3_and_10_hosts(
    fleet_hosts: FleetHosts, fleet_apps: FleetApps, build_app_image: BuildAppImage
) -> None:
    for version in ("v1", "v2"):
        build_app_image(version)
    figures = {size: measure(list(zip(fleet_hosts(size), fleet_apps(size), strict=True)))
               for size in SIZES}  # fmt: skip
    one = figures[1]
    header = ("hosts", "deploys", "median", "min", "max", "/ 1 host", "deployer CPU",
              *one.phases, "status (median)", "/ 1 host")  # fmt: skip
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    table(f"Fleet deploy wall time (recreate, alternating v1/v2, all hosts at once; every host "
          f"is an sshd on 127.0.0.1 sharing ONE dockerd and 2 cores; load avg {load}; "
          f"phases: the slowest host's, median over the deploys)",
          [header, *(figures[size].row(size, one) for size in SIZES)])  # fmt: skip
    ratio = figures[10].wall / one.wall
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\n10 hosts / 1 host = {ratio:.2f} (goal <= {GOAL}): {verdict}")
