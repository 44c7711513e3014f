"""Figures on the rig's one-node swarm: a healthy update and a failed one until Swarm rolled
back, beside recreate on the compose target; the deployer's own time around Swarm's."""

from __future__ import annotations

import statistics
import time

import anyio
import pytest
from rig_benchmarks import Poller, table

from deploy.config import load_target
from deploy.deployer import Deployer
from deploy.errors import HealthCheckFailed
from deploy.host.remote import connect
from deploy.ledger import Kind, Release
from tests.integration.deploy_helpers import target_environ
from tests.integration.test_deploy import history_on_host
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.sshd import SshHost
from tests.rig.swarm import PORT, SwarmEngine, stack_name, unhealthy_image

ROUNDS = 3
SWARM = {"target": "swarm", "publish": "host-network", "replicas": "1",
         "update_order": "stop-first", "update_delay": "0", "update_monitor": "4",
         "health_port": str(PORT), "converge_timeout": "120"}  # fmt: skip


async def deploy(environ: dict[str, str], tag: str) -> Release:
    target = load_target("staging", environ)
    async with connect(target) as runner:
        return await Deployer(runner, target, who="benchmark").deploy(tag)


def timed(environ: dict[str, str], tag: str, url: str) -> tuple[float, float, Release | None]:
    """Wall time, longest outage (20 ms polls of /health) and the record (None: failed)."""
    with Poller(url) as poller:
        start = time.monotonic()
        try:
            done: Release | None = anyio.run(deploy, environ, tag)
        except HealthCheckFailed:
            done = None
        wall = time.monotonic() - start
        time.sleep(0.5)
    return wall, poller.longest_outage(), done


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s" if values else "-"


def updates(environ: dict[str, str], url: str) -> dict[str, list[float]]:
    """ROUNDS updates v1 ↔ v2 after a first v1: wall, outage, and the record's phases."""
    anyio.run(deploy, environ, "v1")
    found: dict[str, list[float]] = {"wall": [], "outage": []}
    for round_ in range(ROUNDS):
        wall, outage, done = timed(environ, "v2" if round_ % 2 == 0 else "v1", url)
        assert done is not None
        found["wall"].append(wall)
        found["outage"].append(outage)
        for name, seconds in done.phases:
            found.setdefault(name, []).append(seconds)
    return found


def test_swarm_update_and_rollback_beside_recreate(
    ssh_host: SshHost, app_path: AppPath, swarm_app: AppPath, swarm_engine: SwarmEngine,
    build_app_image: BuildAppImage,
) -> None:
    v1 = build_app_image("v1")
    build_app_image("v2")
    build_app_image("bad", broken=True)
    unhealthy_image(v1)
    swarm_env = target_environ(ssh_host, swarm_app, stack=stack_name(swarm_app),
                               docker_host=swarm_engine.docker_host, **SWARM)  # fmt: skip
    compose_env = target_environ(ssh_host, app_path)
    swarm_url, compose_url = f"http://127.0.0.1:{PORT}/health", "http://127.0.0.1:8000/health"
    rows = [("update (median of 3)", "wall", "pull", "stack deploy / switch",
             "Swarm converging", "deployer's own probe", "deployer's own time", "outage")]
    for name, environ, url in (("recreate (compose)", compose_env, compose_url),
                               ("swarm, 1 replica, stop-first", swarm_env, swarm_url)):
        found = updates(environ, url)
        own = [wall - found.get("converge", [0.0] * ROUNDS)[index]
               for index, wall in enumerate(found["wall"])]
        rows.append((name, med(found["wall"]), med(found.get("pull", [])),
                     med(found.get("stack_deploy", found.get("switch", []))),
                     med(found.get("converge", [])), med(found["healthy"]),
                     med(own) if "converge" in found else "-", med(found["outage"])))
    table("A healthy update, recreate beside the swarm target (rig, one node)", rows)

    failed = [("failed update", "wall until exit 1", "Swarm until rollback_completed",
               "then until the old digest's tasks run", "outage")]  # fmt: skip
    for name, environ, url, app, tag in (
        ("recreate: health never passes", compose_env, compose_url, app_path, "bad"),
        ("swarm: health never passes", swarm_env, swarm_url, swarm_app, "v1-sick"),
    ):
        wall, outage, done = timed(environ, tag, url)
        assert done is None
        records = history_on_host(app)
        failed_record, back = records[-2], records[-1]
        assert back.kind is Kind.AUTO_ROLLBACK
        converge = dict(failed_record.phases).get("converge")
        settled = dict(back.phases).get("converge", dict(back.phases).get("recovery"))
        failed.append((name, f"{wall:.2f}s", f"{converge:.2f}s" if converge else "-",
                       f"{settled:.2f}s" if settled else "-", f"{outage:.2f}s"))
    table("A release whose health never passes, until the old release serves again", failed)


if __name__ == "__main__":
    pytest.main([__file__])
