"""Wall time of a fleet deploy (recreate) for 1, 3 and 10 hosts in one run (issue 11)."""

from __future__ import annotations

import io
import json
import os
import statistics
import time
from contextlib import redirect_stdout

from rig_benchmarks import table

from deploy.__main__ import main
from tests.integration.fleet_helpers import Member, fleet_environ, ledger
from tests.rig.fleet import FleetApps, FleetHosts
from tests.rig.images import BuildAppImage

SIZES = (1, 3, 10)
ROUNDS = 3  # timed deploys of each tag per size, alternating v2, v1, ...
GOAL = 1.5  # issue 11: 10 hosts within 1.5x the wall time of 1 host


def timed_up(environ: dict[str, str], tag: str, size: int) -> float:
    """Seconds for `staging up TAG --json`; every host must end `deployed`."""
    out = io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out):
        code = main(["staging", "up", tag, "--json"], environ)
    seconds = time.perf_counter() - started
    document = json.loads(out.getvalue())
    outcomes = [entry["outcome"] for entry in document["hosts"]]
    assert (code, outcomes) == (0, ["deployed"] * size), document
    return seconds


def phase_medians(members: list[Member], deploys: int) -> dict[str, float]:
    """Per phase, the median over every host's last `deploys` ledger records."""
    phases = [dict(r.phases) for _, app in members for r in ledger(app)[-deploys:]]
    names = [name for name in phases[0] if all(name in p for p in phases)]
    return {name: statistics.median(p[name] for p in phases) for name in names}


def test_fleet_deploy_wall_time_for_1_3_and_10_hosts(
    fleet_hosts: FleetHosts, fleet_apps: FleetApps, build_app_image: BuildAppImage
) -> None:
    for version in ("v1", "v2"):
        build_app_image(version)
    walls: dict[int, list[float]] = {}
    phases: dict[int, dict[str, float]] = {}
    for size in SIZES:
        members = list(zip(fleet_hosts(size), fleet_apps(size), strict=True))
        environ = fleet_environ(members)
        assert main(["staging", "up", "v1"], environ) == 0  # new hosts' first release: untimed
        walls[size] = [timed_up(environ, ("v2", "v1")[n % 2], size) for n in range(2 * ROUNDS)]
        phases[size] = phase_medians(members, 2 * ROUNDS)
    one = statistics.median(walls[1])
    rows = [("hosts", "deploys", "median", "min", "max", "/ 1 host", *phases[1])]
    for size in SIZES:
        median = statistics.median(walls[size])
        rows.append((str(size), str(len(walls[size])), f"{median:.2f}s",
                     f"{min(walls[size]):.2f}s", f"{max(walls[size]):.2f}s",
                     f"{median / one:.2f}", *(f"{phases[size].get(k, 0):.2f}s" for k in phases[1])))
    load = "/".join(f"{value:.1f}" for value in os.getloadavg())
    table(f"Fleet deploy wall time (recreate, alternating v1/v2, all hosts at once; every host "
          f"is an sshd on 127.0.0.1 sharing ONE dockerd and 2 cores; load avg {load}; "
          f"phases: median per host)", rows)  # fmt: skip
    ratio = statistics.median(walls[10]) / one
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\n10 hosts / 1 host = {ratio:.2f} (goal <= {GOAL}): {verdict}")
