"""The swarm target on the rig's own one-node swarm (tests/rig/swarm.py).

Said plainly: one node. The services run on the `host` network (`STAGING_PUBLISH=
host-network`), one replica, stop-first: this kernel has no IPVS, so the routing mesh never
answers, and host-mode published ports did not answer on a --bridge=none engine; a second
task on the one node would collide on the port. Zero downtime across nodes through the
routing mesh is not shown here (README: Docker Swarm)."""

from __future__ import annotations

import json

import pytest

from deploy.cli.main import main
from deploy.ledger import Kind, Outcome
from tests.integration.deploy_helpers import served_version, target_environ
from tests.integration.test_deploy import history_on_host
from tests.rig.apppath import AppPath
from tests.rig.images import BuildAppImage
from tests.rig.proc import run
from tests.rig.sshd import SshHost
from tests.rig.swarm import (
    PORT,
    SwarmEngine,
    docker,
    relabelled_image,
    stack_name,
    unhealthy_image,
)

pytestmark = pytest.mark.rig
VERSION_URL = f"http://127.0.0.1:{PORT}/version"


@pytest.fixture
def swarm_images(build_app_image: BuildAppImage) -> dict[str, str]:
    v1 = build_app_image("v1")
    return {"v1": v1, "v2": build_app_image("v2"), "sick": unhealthy_image(v1),
            "relabelled": relabelled_image(v1)}


def swarm_environ(ssh_host: SshHost, app: AppPath, engine: SwarmEngine,
                  **extra: str) -> dict[str, str]:  # fmt: skip
    return target_environ(
        ssh_host, app, target="swarm", docker_host=engine.docker_host, stack=stack_name(app),
        publish="host-network", replicas="1", update_order="stop-first", update_delay="0",
        update_monitor="2", health_port=str(PORT), converge_timeout="120", **extra,
    )  # fmt: skip


def run_json(argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str],
             code: int = 0) -> dict[str, object]:  # fmt: skip
    capsys.readouterr()
    assert main(argv, environ) == code, capsys.readouterr().err
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def digest_of(reference: str) -> str:
    """The registry digest of a rig image, as the swarm engine pulled it."""
    found = docker("image", "inspect", "--format", "{{json .RepoDigests}}", reference)
    return str(json.loads(found)[0]).partition("@")[2]


def test_update_status_and_rollback_on_the_swarm(
    ssh_host: SshHost, swarm_app: AppPath, swarm_engine: SwarmEngine,
    swarm_images: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    environ = swarm_environ(ssh_host, swarm_app, swarm_engine)
    first = run_json(["staging", "up", "v1", "--json"], environ, capsys)
    assert first["ok"] is True
    assert served_version(VERSION_URL) == "v1"
    second = run_json(["staging", "up", "v2", "--json"], environ, capsys)
    assert served_version(VERSION_URL) == "v2"
    # Nothing of the swarm listens beyond loopback (the ingress network, removed by the rig,
    # would open VXLAN on 0.0.0.0:4789 as soon as a task runs).
    assert docker("network", "ls", "--filter", "name=^ingress$", "--quiet") == ""
    assert ":4789" not in run(["ss", "-Hlun"], timeout=10).stdout
    release = second["release"]
    assert isinstance(release, dict)
    v2 = digest_of(swarm_images["v2"])
    assert release["tag"] == f"v2@{v2}"
    assert release["digest"] == v2
    spec = docker("service", "inspect", "--format",
                  "{{.Spec.TaskTemplate.ContainerSpec.Image}}", f"{stack_name(swarm_app)}_api")
    assert spec.strip().endswith(f":v2@{v2}")

    status = run_json(["staging", "status", "--json"], environ, capsys)
    view = status["layout"]["swarm"]  # type: ignore[index]
    assert (view["running"], view["desired"], view["update_state"]) == (1, 1, "completed")
    assert [task["digest"] for task in view["tasks"]] == [v2]
    assert view["drift"] is False
    assert status["healthy"] is True

    capsys.readouterr()
    assert main(["staging", "logs", "--lines", "20"], environ) == 0  # the task's container
    assert "GET /health" in capsys.readouterr().out

    back = run_json(["staging", "rollback", "--json"], environ, capsys)
    assert back["release"]["tag"] == f"v1@{digest_of(swarm_images['v1'])}"  # type: ignore[index]
    assert served_version(VERSION_URL) == "v1"
    kinds = [(r.kind, r.outcome) for r in history_on_host(swarm_app)]
    assert kinds == [(Kind.DEPLOY, Outcome.HEALTHY)] * 2 + [(Kind.ROLLBACK, Outcome.HEALTHY)]

    # Swarm's health check passes but the deployer's own proof does not (the answer names
    # another commit than the image's label): it asks Swarm to roll back
    quick = {**environ, "STAGING_HEALTH_TIMEOUT": "3"}
    wrong = run_json(["staging", "up", "v1-relabelled", "--json"], quick, capsys, code=1)
    assert "Swarm converged but the health port says" in str(wrong["error"])
    assert served_version(VERSION_URL) == "v1"
    last = [(r.kind, r.outcome) for r in history_on_host(swarm_app)][-2:]
    assert last == [(Kind.DEPLOY, Outcome.FAILED), (Kind.AUTO_ROLLBACK, Outcome.HEALTHY)]


def test_swarm_rolls_back_a_release_whose_health_never_passes(
    ssh_host: SshHost, swarm_app: AppPath, swarm_engine: SwarmEngine,
    swarm_images: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    environ = swarm_environ(ssh_host, swarm_app, swarm_engine)
    run_json(["staging", "up", "v1", "--json"], environ, capsys)
    capsys.readouterr()
    assert main(["staging", "up", "v1-sick", "--json"], environ) == 1
    said = capsys.readouterr()
    failed = json.loads(said.out)
    assert failed["ok"] is False
    assert "Swarm rolled the update back" in str(failed["error"])
    assert served_version(VERSION_URL) == "v1"
    records = history_on_host(swarm_app)
    sick, back = records[-2], records[-1]
    assert (sick.kind, sick.outcome) == (Kind.DEPLOY, Outcome.FAILED)
    assert sick.tag.startswith("v1-sick@sha256:")
    assert "  | rig: serving 500 on every path" in said.err  # the failed task's log, shown
    assert any('"GET /health HTTP/1.1" 500' in line for line in sick.log_tail)  # and kept
    assert "unhealthy" in sick.message  # the task's error
    assert (back.kind, back.outcome) == (Kind.AUTO_ROLLBACK, Outcome.HEALTHY)
    assert back.tag == f"v1@{digest_of(swarm_images['v1'])}"
    status = run_json(["staging", "status", "--json"], environ, capsys)
    assert status["layout"]["swarm"]["update_state"] == "rollback_completed"  # type: ignore[index]

    # the ledger has no other healthy release, and after its own rollback Swarm keeps no
    # previous spec: `rollback` refuses, saying both
    refused = run_json(["staging", "rollback", "--json"], environ, capsys, code=2)
    assert "the ledger has no healthy release other than" in str(refused["error"])
    assert "Swarm keeps no previous spec" in str(refused["error"])
    # someone updates the service by hand, then back: the ledger knows no other healthy
    # release, so `rollback` goes to Swarm's previous spec (v2) and says so
    service = f"{stack_name(swarm_app)}_api"
    v2 = f"{swarm_images['v2']}@{digest_of_registry(swarm_images['v2'])}"
    for image in (v2, f"{swarm_images['v1']}@{back.digest}"):
        docker("service", "update", "--quiet", "--detach=false", "--image", image, service)
    spec = run_json(["staging", "rollback", "--json"], environ, capsys)
    assert "Swarm's previous spec" in spec["release"]["message"]  # type: ignore[index]
    assert served_version(VERSION_URL) == "v2"


def test_evidence_and_the_lock_refuse_before_swarm_is_asked(
    ssh_host: SshHost, swarm_app: AppPath, swarm_engine: SwarmEngine,
    swarm_images: dict[str, str], capsys: pytest.CaptureFixture[str],
) -> None:
    staging = swarm_environ(ssh_host, swarm_app, swarm_engine)
    production = {key.replace("STAGING_", "PRODUCTION_"): value for key, value in staging.items()}
    everything = {**staging, **production}
    v1 = digest_of_registry(swarm_images["v1"])
    refused = run_json(["production", "up", f"v1@{v1}", "--json"], everything, capsys, code=2)
    assert "no healthy deploy" in str(refused["error"])
    assert not docker("service", "ls", "-q", "--filter",
                      f"name={stack_name(swarm_app)}_api").strip()  # fmt: skip

    run_json(["staging", "lock", "--reason", "maintenance", "--json"], staging, capsys)
    held = run_json(["staging", "up", "v1", "--json"],
                    {**staging, "STAGING_LOCK_WAIT": "0"}, capsys, code=2)  # fmt: skip
    assert "maintenance" in str(held["error"])
    run_json(["staging", "unlock", "--json"], staging, capsys)
    capsys.readouterr()
    main(["staging", "doctor", "--json"], staging)  # the health port has nothing: exit 1
    levels = {check["check"]: check["level"]
              for check in json.loads(capsys.readouterr().out)["hosts"][0]["checks"]}
    assert levels["swarm_manager"] == levels["swarm_nodes"] == levels["swarm_update"] == "PASS"
    assert levels["registry"] != "FAIL"  # reachable (nothing deployed: :latest is missing)
    assert not docker("service", "ls", "-q", "--filter",
                      f"name={stack_name(swarm_app)}_api").strip()  # fmt: skip


def digest_of_registry(reference: str) -> str:
    """The registry's digest of a rig image (the rig's engine pushed it)."""
    from tests.rig.proc import run

    found = run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", reference])
    return str(json.loads(found.stdout)[0]).partition("@")[2]
