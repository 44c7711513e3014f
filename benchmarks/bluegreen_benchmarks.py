"""Blue-green against recreate under Locust load on the rig; time from a failed watch back."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import bg_environ, history_on_host
from tests.integration.deploy_helpers import target_environ
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

ROOT = Path(__file__).resolve().parent.parent
SWITCHES = 10
RATE = 400  # quick requests per second asked of Locust
SLOW_IN_FLIGHT = 4  # 1 s requests always in flight (so at every switch)
RECORD = tuple[float, float, str, int, str]  # start, seconds, name, status, outcome


def table(title: str, rows: Sequence[tuple[str, ...]]) -> None:
    print(f"\n{title}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


@dataclass
class Run:
    """One load run: every request, and the wall-clock windows of the deploys inside it."""

    requests: list[RECORD] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    seconds: float = 0.0

    def during(self) -> list[RECORD]:
        return [r for r in self.requests if any(a <= r[0] <= b for a, b in self.windows)]

    def row(self, name: str) -> tuple[str, ...]:
        quick = [r for r in self.requests if r[2] == "/version"]
        slow = [r for r in self.requests if r[2] == "/slow"]
        bad = [r for r in self.requests if r[4] != "ok" and r[3] != 0]
        refused = [r for r in self.requests if r[3] == 0]
        during = [r[1] for r in self.during() if r[2] == "/version"]
        slow_ok = sum(r[4] == "ok" for r in slow)
        return (name, f"{len(self.requests):,}", f"{len(quick) / self.seconds:.0f}/s",
                str(len(bad)), str(len(refused)), p99(during), p99([r[1] for r in quick]),
                f"{slow_ok}/{len(slow)}")  # fmt: skip


def p99(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    return f"{ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000:.0f} ms" if ordered else "-"


@contextmanager
def locust_load(rate: int = RATE, slow: int = SLOW_IN_FLIGHT) -> Iterator[Run]:
    """benchmarks/load.py in its own process for the block; its records land in the Run."""
    run = Run()
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / "load.py"), out.name, "--rate", str(rate),
             "--slow", str(slow), "--seconds", "600"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(3)  # users spawned and paced
            yield run
            time.sleep(1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        data = json.loads(Path(out.name).read_text() or "{}")
    run.requests = [tuple(r) for r in data.get("requests", [])]
    run.seconds = data["stopped"] - data["started"]


def deploys(run: Run, environ: dict[str, str]) -> None:
    for n in range(SWITCHES):
        started = time.time()
        assert main(["staging", "up", ("bg2-lab", "bg1-lab")[n % 2]], environ) == 0
        run.windows.append((started, time.time()))


def test_blue_green_against_recreate_under_load(
    ssh_host: SshHost, app_path: AppPath, proxy_image: str, lab_image: LabImages
) -> None:
    for version in ("bg1", "bg2"):
        lab_image(version)
    lab_image("sour", sour=True)
    recreate = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "bg1-lab"], recreate) == 0
    with locust_load() as recreate_run:
        deploys(recreate_run, recreate)
    blue_green = bg_environ(ssh_host, app_path, proxy_image, watch="2", drain="5")
    with locust_load() as init_run:
        started = time.time()
        assert main(["staging", "init"], blue_green) == 0
        init_run.windows.append((started, time.time()))
    handover = dict(history_on_host(app_path)[-1].phases)["handover"]
    with locust_load() as blue_green_run:
        deploys(blue_green_run, blue_green)
    header = ("strategy", "requests", "quick rate", "non-2xx", "conn. errors",
              "p99 /version during deploys", "p99 /version overall", "1 s requests ok")
    table(f"{SWITCHES} consecutive deploys under Locust load through 127.0.0.1:8000", [
        header, recreate_run.row("recreate"), blue_green_run.row("blue-green"),
        init_run.row(f"init: adoption, once (handover {handover:.2f}s)")])
    phases = [dict(r.phases) for r in history_on_host(app_path)[-SWITCHES:]]
    table("Blue-green deploy phases (median of the runs above)", [
        tuple(phases[0]), tuple(f"{statistics.median(p[k] for p in phases):.2f}s"
                                for k in phases[0])])
    backs = []
    with locust_load():
        for _ in range(3):
            assert main(["staging", "up", "sour-lab"], blue_green) == 1
            backs.append(dict(history_on_host(app_path)[-1].phases)["switch_back"])
    table("From a failed watch verdict to the old colour serving (proxy reloaded)", [
        ("runs", "median", "max", "recreate's automatic rollback (BENCHMARKS.md)"),
        (str(len(backs)), f"{statistics.median(backs):.2f}s", f"{max(backs):.2f}s", "4.52s")])
