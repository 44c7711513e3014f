"""Canary on the rig under Locust load: a full 10 → 50 → 100 canary, and from a breached
threshold to 0 % canary."""

from __future__ import annotations

import statistics
import time

from bluegreen_benchmarks import Run, locust_load, table

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import bg_environ, history_on_host
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

CANARIES = 3
STEPS = "10:10,50:10,100"
ABORTS = 3


def failed_during(run: Run) -> tuple[int, int]:
    """(non-2xx answers, connection errors) inside the runs' deploy windows."""
    during = run.during()
    return (sum(r[4] != "ok" and r[3] != 0 for r in during), sum(r[3] == 0 for r in during))


def test_canary_under_load(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages
) -> None:
    for version in ("cn1", "cn2"):
        lab_image(version)
    lab_image("flaky", flaky=True)
    environ = bg_environ(ssh_host, app_path, proxy_image, strategy="canary", drain="5",
                         canary_steps=STEPS)  # fmt: skip
    assert main(["staging", "init"], environ) == 0
    assert main(["staging", "up", "cn1-lab"], environ) == 0
    totals: list[float] = []
    with locust_load() as run:
        for n in range(CANARIES):
            started = time.time()
            assert main(["staging", "up", ("cn2-lab", "cn1-lab")[n % 2]], environ) == 0
            run.windows.append((started, time.time()))
            totals.append(time.time() - started)
    non_2xx, refused = failed_during(run)
    phases = [dict(r.phases) for r in history_on_host(app_path)[-CANARIES:]]
    table(f"Full canary ({STEPS}: 10 % for 10 s, 50 % for 10 s, then all) under Locust load", [
        ("canaries", "total (median)", "step 1", "step 2", "switch + drain", "requests during",
         "non-2xx", "connection errors"),
        (str(CANARIES), f"{statistics.median(totals):.2f}s",
         f"{statistics.median(p['step1'] for p in phases):.2f}s",
         f"{statistics.median(p['step2'] for p in phases):.2f}s",
         f"{statistics.median(p['switch'] + p['drain'] for p in phases):.2f}s",
         f"{len(run.during()):,}", str(non_2xx), str(refused))])  # fmt: skip
    to_zero, detected = [], []
    with locust_load():
        for _ in range(ABORTS):
            assert main(["staging", "up", "flaky-lab"], environ) == 1
            last = dict(history_on_host(app_path)[-1].phases)
            to_zero.append(last["to_zero"])
            detected.append(last["step1"])
    table("A canary answering 5 % of requests with 500 (first step, 10 %)", [
        ("runs", "step 1 until the breach was seen (median)",
         "breach → 0 % canary (median)", "max"),
        (str(ABORTS), f"{statistics.median(detected):.2f}s",
         f"{statistics.median(to_zero):.2f}s", f"{max(to_zero):.2f}s")])  # fmt: skip
