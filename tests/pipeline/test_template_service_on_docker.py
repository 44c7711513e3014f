"""Acceptance of issue 17, "ship any FastAPI service": the template service (a second service,
tests/fixtures/template-service) in a repository made as docs/adopt.md says, shipped by the
unchanged `python ci/main.py` and `python -m deploy` from nothing but its shipyard.toml:
develop → main (blue-green staging) → tag v1.0.0 (production), its DB tests against a real
Postgres in the test stage, and identity by the image's revision label on the host.

On the Docker-backed stand-in engine and the rig (registry, sshd, the rig's nginx and Postgres
images); `-s` prints the stage times."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.pipeline.docker_engine import DockerEngine
from tests.pipeline.template_service import (
    HEALTH_PATH,
    PRODUCTION_PORTS,
    REPOSITORY,
    STAGING_PORTS,
    AppFolder,
    app_folder,
    clone_with,
    deploy_cli,
    docker_text,
    health_answer,
    make_adopted_checkout,
    registry_digest,
    serving_colour,
    status,
)
from tests.pipeline.test_pipeline_on_docker import Checkout, Pipeline, Run, SlackReceiver
from tests.rig.registry import Registry
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

DECLARED_POSTGRES = "postgres:15-bookworm"  # the template's [[test.services]] image
DB_TESTS = {"tests.test_items::test_postgres_creates_writes_and_reads_back",
            "tests.test_items::test_an_item_posted_is_listed"}  # fmt: skip
STAGES = ("build", "smoke", "test", "scan", "publish", "promote", "deploy", "loadtest")
STAGE_LINE = re.compile(r"^(\w+)\s+(passed|FAILED)\s+([\d.]+)s", re.MULTILINE)
TIMES: list[tuple[str, Run]] = []  # printed at the end of the module (with -s)


def junit_cases(run: Run) -> dict[str, str]:
    """Each test case of the run's junit report → passed, skipped, failed."""
    cases: dict[str, str] = {}
    for case in run.junit().iter("testcase"):
        found = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        verdict = {"failure": "failed", "error": "failed", "skipped": "skipped"}.get(
            found[0] if found else "", "passed")
        cases[f"{case.get('classname')}::{case.get('name')}"] = verdict
    return cases


def stage_table(rows: list[tuple[str, Run]]) -> str:
    lines: list[tuple[str, ...]] = [("run", "exit", "wall", *STAGES)]
    for label, run in rows:
        per = {name: f"{float(seconds):.1f}" for name, _, seconds in STAGE_LINE.findall(run.out)}
        lines.append((label, str(run.code), f"{run.seconds:.1f}",
                      *(per.get(stage, "-") for stage in STAGES)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  " + "  ".join(cell.rjust(w) if i else cell.ljust(w)
                                      for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                     for line in lines)


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin(dagger_schema_path: Path, pipeline_images: tuple[str, ...],
            postgres_image: str) -> Iterator[DockerEngine]:  # fmt: skip
    """One stand-in engine for the module, told that the declared Postgres is the rig's."""
    with DockerEngine(dagger_schema_path, images={DECLARED_POSTGRES: postgres_image}) as engine:
        yield engine


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("template-acceptance")


@pytest.fixture(scope="module")
def pipeline(standin: DockerEngine, registry: Registry, workdir: Path) -> Iterator[Pipeline]:
    slack = SlackReceiver()
    slack.start()
    yield Pipeline(standin, registry, slack, workdir)
    assert slack.server is not None
    slack.server.shutdown()
    slack.server.server_close()
    if TIMES:
        print(f"\ntemplate service: stage times on the stand-in engine (s)\n{stage_table(TIMES)}")


@pytest.fixture(scope="module")
def checkout(workdir: Path) -> Checkout:
    (workdir / "repo").mkdir()
    return make_adopted_checkout(workdir / "repo")


def run(pipeline: Pipeline, checkout: Checkout, label: str, ref: str, *stages: str,
        env: dict[str, str] | None = None) -> Run:  # fmt: skip
    done = pipeline.run(checkout, ref, *stages, env={"IMAGE_REPOSITORY": REPOSITORY, **(env or {})})
    TIMES.append((label, done))
    return done


def init(checkout: Checkout, folder: AppFolder, environment: str) -> None:
    """What the operator does once per folder (docs/adopt.md, 5), from the checkout."""
    done = deploy_cli(checkout, folder.environ, environment, "init")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing was running" in done.stdout


# -- acceptance -------------------------------------------------------------------------------


def test_the_template_service_ships_develop_main_tag_from_its_declaration(
    pipeline: Pipeline, checkout: Checkout, registry: Registry, ssh_host: SshHost,
    rig_dir: Path, proxy_image: str,
) -> None:
    copied = {path.name for path in checkout.path.iterdir()}
    assert {"backend", "shipyard.toml", "ci", "deploy", "loadtest", "shipyard"} <= copied
    assert not (checkout.path / "app").exists()  # not the demo: nothing of it was copied

    develop = run(pipeline, checkout, "develop, first run", "refs/heads/develop")
    assert develop.code == 0, develop.explain()
    assert set(develop.stages) == {"build", "smoke", "test", "scan", "publish"}
    assert set(develop.stages.values()) == {"passed"}
    assert "(its revision label)" in develop.out  # smoke proved the build by its label
    cases = junit_cases(develop)
    assert {cases[name] for name in DB_TESTS} == {"passed"}, cases  # against Postgres, not skipped
    assert set(cases.values()) == {"passed"}, cases
    assert "beside db" in develop.out
    short = f"sha-{checkout.sha[:12]}"
    tested = registry_digest(registry, short)
    assert tested == develop.digest == registry_digest(registry, "latest")

    again = run(pipeline, checkout, "develop, unchanged re-run", "refs/heads/develop")
    assert again.code == 0, again.explain()
    assert again.digest == tested

    with app_folder(rig_dir / "apps", "staging", STAGING_PORTS, registry=registry,
                    ssh_host=ssh_host, proxy_image=proxy_image,
                    environment="staging") as staging:  # fmt: skip
        init(checkout, staging, "staging")
        # the load gate loads the declared [load] paths through staging's proxy, 5 s
        load = {"LOADTEST_URL": staging.public, "LOADTEST_DURATION": "5s"}
        main = run(pipeline, checkout, "main (blue-green staging)", "refs/heads/main",
                   env={**staging.environ, **load})
        assert main.code == 0, main.explain()
        assert set(main.stages.values()) == {"passed"}
        assert {"publish", "deploy", "loadtest"} <= set(main.stages)
        assert "skipped" not in main.out.split("loadtest", 1)[1].splitlines()[0]
        assert registry_digest(registry, "staging") == tested == main.digest
        assert f"staging@{tested} is healthy on staging" in main.out
        assert health_answer(staging) is True  # through the proxy
        [deployed] = [r for r in staging.history() if r.kind.value == "deploy"]
        assert (deployed.outcome.value, deployed.digest, deployed.colour) == (
            "healthy", tested, "blue")
        shown = status(checkout, staging, "staging")
        assert (shown["strategy"], shown["healthy"]) == ("blue-green", True)
        running = serving_colour(staging)
        assert running.service == "api-blue"
        assert running.revision == checkout.sha  # the container's image: this commit's label
        pinned = docker_text("image", "inspect", "--format", "{{.Id}}",
                             f"{registry.address}/{REPOSITORY}@{tested}")
        assert running.image_id == pinned
        print(f"\nstaging: {deployed.tag} ({deployed.outcome.value}, {deployed.colour}) digest "
              f"{deployed.digest}; {running.service} runs {running.image_id[:19]} labelled "
              f"{running.revision}; DB tests: {', '.join(f'{n} {cases[n]}' for n in DB_TESTS)}")

        with app_folder(rig_dir / "apps", "production", PRODUCTION_PORTS, registry=registry,
                        ssh_host=ssh_host, proxy_image=proxy_image,
                        environment="production") as production:  # fmt: skip
            init(checkout, production, "production")
            # production reads staging's ledger: the same digest deployed there healthy
            release = run(pipeline, checkout, "tag v1.0.0 (production)", "refs/tags/v1.0.0",
                          env={**staging.environ, **production.environ})
            assert release.code == 0, release.explain()
            assert set(release.stages) == {"promote", "deploy"}  # no build
            assert set(release.stages.values()) == {"passed"}
            assert registry_digest(registry, "v1.0.0") == tested
            assert health_answer(production) is True
            live = serving_colour(production)
            assert (live.image_id, live.revision) == (pinned, checkout.sha)  # what was tested
            [landed] = [r for r in production.history() if r.kind.value == "deploy"]
            assert (landed.outcome.value, landed.digest) == ("healthy", tested)


def test_a_failing_db_test_stops_the_run_at_test(
    pipeline: Pipeline, checkout: Checkout, registry: Registry, workdir: Path
) -> None:
    broken = clone_with(checkout, workdir / "broken", "backend/tests/test_items.py",
                        'assert rows == [{"note": "written"}]',
                        'assert rows == [{"note": "not what was written"}]')
    failed = run(pipeline, broken, "develop, a DB test broken", "refs/heads/develop")
    assert failed.code == 1, failed.explain()
    assert failed.stages["test"] == "FAILED"
    assert (failed.stages["build"], failed.stages["smoke"]) == ("passed", "passed")
    assert "publish" not in failed.stages
    assert "stage test failed; later stages did not run" in failed.out + failed.err
    cases = junit_cases(failed)
    assert cases["tests.test_items::test_postgres_creates_writes_and_reads_back"] == "failed"
    assert cases["tests.test_items::test_an_item_posted_is_listed"] == "passed"
    assert registry_digest(registry, f"sha-{broken.sha[:12]}") is None
    assert "Traceback" not in failed.err


class Impostor(BaseHTTPRequestHandler):
    """Something else on a colour's port that answers the health check as the service would."""

    def do_GET(self) -> None:
        body = b"true"
        self.send_response(200 if self.path == HEALTH_PATH else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def build_image(checkout: Checkout, registry: Registry, tag: str, *args: str) -> str:
    """backend/'s runtime stage as `docker build` makes it (the stand-in's layers are reused),
    pushed as tag."""
    ref = f"{registry.address}/{REPOSITORY}:{tag}"
    argv = ["docker", "build", "--network", "host", "--target", "runtime", "--tag", ref,
            "--build-arg", "BASE_IMAGE=python:3.12-slim-bookworm"]
    argv += [item for arg in args for item in ("--build-arg", arg)]
    subprocess.run([*argv, str(checkout.path / "backend")], check=True, capture_output=True,
                   env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                   timeout=900)  # fmt: skip
    subprocess.run(["docker", "push", ref], check=True, capture_output=True, timeout=300)
    return ref


def test_the_deployer_refuses_a_release_its_revision_label_does_not_prove(
    checkout: Checkout, registry: Registry, ssh_host: SshHost, rig_dir: Path, proxy_image: str,
    pipeline_images: tuple[str, ...],
) -> None:
    build_image(checkout, registry, "labelled", f"COMMIT={checkout.sha}")
    build_image(checkout, registry, "unlabelled")  # COMMIT unset: the label says "unknown"
    with app_folder(rig_dir / "apps", "identity", STAGING_PORTS, registry=registry,
                    ssh_host=ssh_host, proxy_image=proxy_image,
                    environment="staging") as folder:  # fmt: skip
        init(checkout, folder, "staging")
        up = deploy_cli(checkout, folder.environ, "staging", "up", "labelled")
        assert up.returncode == 0, up.stdout + up.stderr

        refused = deploy_cli(checkout, folder.environ, "staging", "up", "unlabelled")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "healthy, but not proven to be" in refused.stderr
        assert "has no org.opencontainers.image.revision label" in refused.stderr
        assert "labelled still serves on blue" in refused.stderr
        assert serving_colour(folder).revision == checkout.sha

        # Green's port is held by something else that answers the health check: the new
        # container cannot listen, so what answered was not the release.
        squatter = ThreadingHTTPServer(("127.0.0.1", folder.ports.green), Impostor)
        threading.Thread(target=squatter.serve_forever, args=(0.05,), daemon=True).start()
        try:
            retag = subprocess.run(["docker", "tag", f"{registry.address}/{REPOSITORY}:labelled",
                                    f"{registry.address}/{REPOSITORY}:labelled-again"],
                                   check=True, capture_output=True)  # fmt: skip
            assert retag.returncode == 0
            subprocess.run(["docker", "push", f"{registry.address}/{REPOSITORY}:labelled-again"],
                           check=True, capture_output=True, timeout=300)  # fmt: skip
            environ = {**folder.environ, "STAGING_HEALTH_SUCCESSES": "10"}
            impostor = deploy_cli(checkout, environ, "staging", "up", "labelled-again")
        finally:
            squatter.shutdown()
            squatter.server_close()
        assert impostor.returncode == 1, impostor.stdout + impostor.stderr
        assert "healthy, but not proven to be" in impostor.stderr
        assert "its container" in impostor.stderr  # not running, or restarted
        assert "no request reached it; labelled still serves on blue" in impostor.stderr
        for done in (refused, impostor):
            print("\nrefused: " + " ".join(done.stderr.split())[:400])
        outcomes = [(r.tag, r.outcome.value) for r in folder.history() if r.kind.value == "deploy"]
        assert outcomes == [("labelled", "healthy"), ("unlabelled", "failed"),
                            ("labelled-again", "failed")]
