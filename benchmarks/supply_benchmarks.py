"""What signing costs: the SBOM, provenance and signatures the publish stage adds (stand-in
engine, the demo's Dockerfile), promotion with referrers attached, and the deployer's
verification per release (registry 2.8, so through the referrers tag schema)."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import dagger
import pytest
from rig_benchmarks import table

from ci.plan import plan_release
from ci.registry import RegistryClient, promote
from ci.settings import Settings
from ci.stages import publish
from ci.stages.attest import attest, build_facts, inventory_of
from ci.stages.context import StageContext
from deploy.config import Secret, load_target
from deploy.verification import verifier_for
from shipyard.declaration import load_declaration
from supply import dsse
from supply.attest import attach, supply_predicates
from supply.keys import signing_key
from supply.oci import ArtifactClient
from supply.sbom import cyclonedx
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE, provenance, statement
from tests.pipeline.docker_engine import DockerEngine
from tests.pipeline.fake_schema import default_schema_path
from tests.rig.registry import Registry
from tests.unit.deploy.test_config import GOOD
from tests.unit.supply.keyfiles import ed25519_pair

ROOT = Path(__file__).resolve().parent.parent
SHA = "be4c4be4c4be4c4be4c4be4c4be4c4be4c4be4c4"
PRIVATE, PUBLIC = ed25519_pair()
RUNS = 3


def seconds(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}s (min {min(values):.2f}, max {max(values):.2f})"


@pytest.fixture
def standin(pipeline_images: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
            ) -> Iterator[DockerEngine]:  # fmt: skip
    with DockerEngine(default_schema_path()) as engine:
        for name, value in engine.env.items():
            monkeypatch.setenv(name, value)
        yield engine


def context(settings: Settings, ref: str = "refs/heads/develop") -> StageContext:
    return StageContext(plan_release(ref, SHA, "push"), settings, ROOT, lambda _: None,
                        source_date_epoch=1_767_225_600, declaration=load_declaration(ROOT))


def test_signing_promotion_and_verification(
    standin: DockerEngine, base_image: str, registry: Registry
) -> None:
    added: list[float] = []
    phases: dict[str, list[float]] = {
        "inventory (exec in the image, cached by then)": [], "SBOM (CycloneDX)": [],
        "provenance + 2 DSSE signatures": [], "attach (2 artifacts + tag index)": [],
    }  # fmt: skip
    repositories = []

    async def one_run(index: int) -> None:
        repository = f"shipyard/bench-{uuid.uuid4().hex[:8]}"
        repositories.append(repository)
        plain = Settings(registry=registry.address, repository=repository,
                         base_image=base_image)  # fmt: skip
        signed = Settings(registry=registry.address, repository=repository,
                          base_image=base_image, signing_key=Secret(PRIVATE))  # fmt: skip
        async with dagger.connection():
            ctx = context(plain)
            await publish.run(ctx)  # unsigned: the push alone
            digest = ctx.artifacts.digest or ""
            started = time.perf_counter()
            await attest(context(signed), digest, ctx.image())  # what SIGNING_KEY adds
            added.append(time.perf_counter() - started)
            # the same work again, phase by phase (attached a second time)
            t0 = time.perf_counter()
            inventory = await inventory_of(ctx.image())
            t1 = time.perf_counter()
        sbom = cyclonedx(inventory, f"{registry.address}/{repository}", digest)
        t2 = time.perf_counter()
        key, predicates = signing_key(PRIVATE), supply_predicates(
            sbom, provenance(build_facts(context(signed), {}, "")))
        for predicate_type in (SLSA_PROVENANCE, CYCLONEDX_BOM):
            dsse.sign(statement(repository, digest, predicate_type,
                                predicates[predicate_type]), key)  # fmt: skip
        t3 = time.perf_counter()
        async with ArtifactClient(registry.address, repository) as client:
            await attach(client, digest, key, predicates)
        t4 = time.perf_counter()
        for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[name].append(value)

    for index in range(RUNS):
        anyio.run(one_run, index)
    rows = [("what SIGNING_KEY adds to publish", "runs", "median (min, max)"),
            ("attest(): all of it", str(RUNS), seconds(added)),
            *((f"  {name}", str(RUNS), seconds(values)) for name, values in phases.items())]
    table("Signing after publish (stand-in engine; the first run's inventory exec is not "
          "cached, later ones are)", rows)

    promoted, layer_bytes, verified = [], [], []
    repository = repositories[0]

    async def promote_and_verify(index: int) -> None:
        async with RegistryClient(registry.address, repository) as client:
            done = await promote(client, f"sha-{SHA[:12]}", f"v1.0.{index}", revision=SHA)
        promoted.append(done.seconds)
        layer_bytes.append(done.layer_bytes)
        environ = {**GOOD, "STAGING_VERIFY_KEY": PUBLIC,
                   "STAGING_IMAGE": f"{registry.address}/{repository}"}
        verifier = verifier_for(load_target("staging", environ))
        assert verifier is not None
        started = time.perf_counter()
        await verifier(f"v1.0.{index}")
        verified.append(time.perf_counter() - started)

    for index in range(10):
        anyio.run(promote_and_verify, index)
    table("Promotion with referrers, and the deployer's verification per release "
          "(registry 2.8: the referrers tag schema)", [
              ("what", "runs", "median (min, max)", "layer bytes uploaded"),
              ("promote sha-… → v1.0.N (referrers attached)", "10", seconds(promoted),
               str(max(layer_bytes))),
              ("deployer: resolve tag, fetch + verify provenance and SBOM", "10",
               seconds(verified), "n/a"),
          ])  # fmt: skip
