"""`python ci/main.py` on the Docker-backed stand-in engine: each stage's wall time per run."""

from __future__ import annotations

import pwd
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.deploy_helpers import target_environ
from tests.pipeline.docker_engine import DockerEngine
from tests.pipeline.fake_schema import default_schema_path
from tests.pipeline.template_service import (
    PRODUCTION_PORTS,
    REPOSITORY,
    STAGING_PORTS,
    app_folder,
    deploy_cli,
    make_adopted_checkout,
)
from tests.pipeline.test_pipeline_on_docker import (
    GIT_ENV,
    Checkout,
    Pipeline,
    Run,
    SlackReceiver,
    make_checkout,
)
from tests.rig.apppath import AppPath, compose_down, make_app_path
from tests.rig.registry import Registry
from tests.rig.sshd import SshHost

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("build", "smoke", "test", "scan", "publish", "promote", "deploy", "loadtest")
SECONDS = r"^(\w+)\s+(?:passed|FAILED)\s+([\d.]+)s"


def stage_seconds(run: Run) -> dict[str, str]:
    return {name: f"{float(s):.1f}" for name, s in re.findall(SECONDS, run.out, re.MULTILINE)}


def table(rows: list[tuple[str, Run]]) -> None:
    header: tuple[str, ...] = ("run", "exit", "wall", *STAGES)
    lines = [header]
    for label, run in rows:
        per = stage_seconds(run)
        lines.append((label, str(run.code), f"{run.seconds:.1f}",
                      *(per.get(stage, "-") for stage in STAGES)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("\nPipeline runs on the stand-in engine (seconds)")
    for line in lines:
        print("  " + "  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True))))


def edit_and_commit(checkout: Checkout, source: str = "app/main.py") -> Checkout:
    """A one-line source edit, committed: what a developer's next push looks like."""
    main = checkout.path / source
    main.write_text(main.read_text() + "\n# an edit that changes no dependency\n")
    env = {**GIT_ENV}
    for argv in (["add", "-A"], ["commit", "-q", "-m", "edit"]):
        subprocess.run(["git", "-C", str(checkout.path), *argv], check=True, env=env,
                       capture_output=True)
    sha = subprocess.run(["git", "-C", str(checkout.path), "rev-parse", "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Checkout(checkout.path, sha)


@pytest.fixture
def pipeline(
    registry: Registry, pipeline_images: tuple[str, ...], postgres_image: str, tmp_path: Path
) -> Iterator[Pipeline]:
    slack = SlackReceiver()
    slack.start()
    # the template service's declared Postgres is the rig's (the demo's tests use none)
    with DockerEngine(default_schema_path(),
                      images={"postgres:15-bookworm": postgres_image}) as engine:
        yield Pipeline(engine, registry, slack, tmp_path)
    assert slack.server is not None
    slack.server.shutdown()


def test_pipeline_runs(
    pipeline: Pipeline, ssh_host: SshHost, app_path: AppPath, rig_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "repo").mkdir()
    checkout = make_checkout(ROOT, tmp_path / "repo")
    rows = [("develop, first run on a fresh engine", pipeline.run(checkout, "refs/heads/develop"))]
    rows.append(("develop, unchanged re-run", pipeline.run(checkout, "refs/heads/develop")))
    rows.append(("main (staging deploy)",
                 pipeline.run(checkout, "refs/heads/main", env=target_environ(ssh_host, app_path))))
    compose_down(app_path)
    account = pwd.getpwnam(ssh_host.user)
    production = make_app_path(rig_dir / "apps", "bench-production", ROOT / "docker-compose.yml",
                               registry=pipeline.registry.address,
                               owner=(account.pw_uid, account.pw_gid), environment="production")
    try:
        env = {k.replace("STAGING_", "PRODUCTION_"): v
               for k, v in target_environ(ssh_host, production).items()}
        env.update(target_environ(ssh_host, app_path))  # production reads staging's evidence
        rows.append(("tag v1.0.0 (promote, production deploy)",
                     pipeline.run(checkout, "refs/tags/v1.0.0", env=env)))
    finally:
        compose_down(production)
    edited = edit_and_commit(checkout)
    rows.append(("develop after a one-line source edit",
                 pipeline.run(edited, "refs/heads/develop")))
    table(rows)
    assert all(run.code == 0 for _, run in rows), [run.explain() for _, run in rows if run.code]


def test_template_service_pipeline_runs(
    pipeline: Pipeline, ssh_host: SshHost, rig_dir: Path, proxy_image: str, tmp_path: Path
) -> None:
    """The same runs for the second service (tests/fixtures/template-service, adopted as
    docs/adopt.md says): blue-green on staging and production, `init` done first."""
    (tmp_path / "repo").mkdir()
    checkout = make_adopted_checkout(tmp_path / "repo")
    image = {"IMAGE_REPOSITORY": REPOSITORY}
    rows = [("develop, first run on a fresh engine",
             pipeline.run(checkout, "refs/heads/develop", env=image))]
    rows.append(("develop, unchanged re-run", pipeline.run(checkout, "refs/heads/develop",
                                                           env=image)))  # fmt: skip
    registry, apps = pipeline.registry, rig_dir / "apps"
    with app_folder(apps, "bench-staging", STAGING_PORTS, registry=registry, ssh_host=ssh_host,
                    proxy_image=proxy_image, environment="staging") as staging, \
            app_folder(apps, "bench-production", PRODUCTION_PORTS, registry=registry,
                       ssh_host=ssh_host, proxy_image=proxy_image,
                       environment="production") as production:  # fmt: skip
        for folder, environment in ((staging, "staging"), (production, "production")):
            assert deploy_cli(checkout, folder.environ, environment, "init").returncode == 0
        rows.append(("main (blue-green staging deploy)", pipeline.run(
            checkout, "refs/heads/main", env={**image, **staging.environ})))
        rows.append(("tag v1.0.0 (promote, blue-green production)", pipeline.run(
            checkout, "refs/tags/v1.0.0",
            env={**image, **staging.environ, **production.environ})))
    edited = edit_and_commit(checkout, "backend/app/main.py")
    rows.append(("develop after a one-line source edit",
                 pipeline.run(edited, "refs/heads/develop", env=image)))
    table(rows)
    assert all(run.code == 0 for _, run in rows), [run.explain() for _, run in rows if run.code]
