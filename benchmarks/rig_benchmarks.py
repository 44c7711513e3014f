"""Figures on the loopback rig: deploy phases, recovery, recreate downtime, promotion."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import httpx
import pytest

from ci.registry import RegistryClient, promote
from deploy.deployer import Deployer
from deploy.errors import HealthCheckFailed
from deploy.host.remote import connect
from deploy.ledger import Kind, Release, parse_ledger
from tests.integration.deploy_helpers import longest_outage, make_target
from tests.rig.apppath import AppPath
from tests.rig.images import APP_REPOSITORY, BuildAppImage, fake_commit
from tests.rig.sshd import SshHost

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def table(title: str, rows: Sequence[tuple[str, ...]]) -> None:
    print(f"\n{title}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s (min {min(values):.2f}, max {max(values):.2f})"


async def deploy(ssh_host: SshHost, app: AppPath, tag: str, **extra: str) -> Release:
    target = make_target(ssh_host, app, **extra)
    async with connect(target) as runner:
        return await Deployer(runner, target, who="benchmark").deploy(tag)


class Poller:
    """GET /health every 20 ms in a thread; the longest run of failures is the downtime."""

    def __init__(self, url: str = "http://127.0.0.1:8000/health") -> None:
        self.url = url
        self.results: list[tuple[float, bool]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        with httpx.Client(timeout=0.5, trust_env=False) as client:
            while not self.stop.is_set():
                try:
                    ok = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.results.append((time.monotonic(), ok))
                time.sleep(0.02)

    def __enter__(self) -> Poller:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()

    def longest_outage(self) -> float:
        return longest_outage(self.results)


def test_deploy_phases_recovery_and_downtime(
    ssh_host: SshHost, app_path: AppPath, build_app_image: BuildAppImage
) -> None:
    for version in ("v1", "v2"):
        build_app_image(version)
    build_app_image("bad", broken=True)
    rows = [("deploy", "pull", "switch", "healthy", "total", "downtime (20 ms polls)")]
    walls: list[float] = []
    for round_ in range(ROUNDS):
        for tag in ("v1", "v2"):
            with Poller() as poller:
                started = time.perf_counter()
                release = anyio.run(deploy, ssh_host, app_path, tag)
                wall = time.perf_counter() - started
            phases = dict(release.phases)
            walls.append(wall)
            outage = f"{poller.longest_outage():.2f}s" if round_ or tag == "v2" else "-"
            rows.append((f"{release.previous_tag or '-'} → {tag}", f"{phases['pull']:.2f}s",
                         f"{phases['switch']:.2f}s", f"{phases['healthy']:.2f}s",
                         f"{wall:.2f}s", outage))
    table("Deploy over SSH on the rig (seed-style recreate: pull, up -d, health x3)", rows)
    recoveries: list[dict[str, float]] = []
    for _ in range(2):
        with pytest.raises(HealthCheckFailed):
            anyio.run(lambda: deploy(ssh_host, app_path, "bad", health_timeout="5"))
        history = parse_ledger((app_path.path / ".deploy" / "releases.jsonl").read_text())
        back = [r for r in history if r.kind is Kind.AUTO_ROLLBACK][-1]
        recoveries.append(dict(back.phases))
    table("From a failed health verdict to the old version serving and healthy again", [
        ("runs", "switch back", "healthy x3", "recovery (verdict → healthy)"),
        (str(len(recoveries)), seconds([r["switch"] for r in recoveries]),
         seconds([r["healthy"] for r in recoveries]),
         seconds([r["recovery"] for r in recoveries])),
    ])


def test_promotion_against_rebuild_and_push(
    build_app_image: BuildAppImage, registry_address: str, base_image: str
) -> None:
    source = build_app_image("bench-src")
    sha_tag = f"sha-{fake_commit('bench-src')[:12]}"
    subprocess.run(["docker", "tag", source, f"{registry_address}/{APP_REPOSITORY}:{sha_tag}"],
                   check=True)
    subprocess.run(["docker", "push", f"{registry_address}/{APP_REPOSITORY}:{sha_tag}"],
                   check=True, capture_output=True)

    async def promotions() -> list[tuple[float, int, int]]:
        async with RegistryClient(registry_address, APP_REPOSITORY) as client:
            done = [await promote(client, sha_tag, f"v9.0.{n}", revision=fake_commit("bench-src"))
                    for n in range(5)]
        return [(p.seconds, p.layer_bytes, p.manifest_bytes) for p in done]

    promoted = anyio.run(promotions)
    cached = [rebuild_and_push(registry_address, base_image, f"re-{n}", cache=True)
              for n in range(3)]
    full = [rebuild_and_push(registry_address, base_image, "re-full", cache=False)]
    promote_median = statistics.median([p[0] for p in promoted])
    table("Promotion (manifest copy) beside a rebuild + push of the same source", [
        ("what", "runs", "time", "bytes uploaded"),
        ("promote sha-… → vX.Y.Z", str(len(promoted)), seconds([p[0] for p in promoted]),
         f"{promoted[0][1]} layer + {promoted[0][2]} manifest"),
        ("rebuild (layer cache) + push", str(len(cached)), seconds(cached), "new config + tag"),
        ("rebuild (no cache) + push", str(len(full)), seconds(full), "all changed layers"),
        ("rebuild (no cache) + push / promote", "", f"{full[0] / promote_median:.0f}x", ""),
        ("rebuild (cache) + push / promote", "",
         f"{statistics.median(cached) / promote_median:.0f}x", ""),
    ])


def rebuild_and_push(registry: str, base_image: str, version: str, *, cache: bool) -> float:
    ref = f"{registry}/{APP_REPOSITORY}:{version}"
    started = time.perf_counter()
    subprocess.run(
        ["docker", "build", "--network", "host", *([] if cache else ["--no-cache"]),
         "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", f"VERSION={version}",
         "-t", ref, str(ROOT)],
        check=True, capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )  # fmt: skip
    subprocess.run(["docker", "push", ref], check=True, capture_output=True)
    return time.perf_counter() - started
