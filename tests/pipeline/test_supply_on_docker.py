"""Sign, attach, promote and verify end to end: the publish stage on the Docker-backed stand-in
engine (the demo's real Dockerfile on the rig's base), the promote stage and `ci/main.py
verify|sbom` against the rig's registry 2.8 (no referrers API: the tag schema runs)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import anyio
import dagger
import pytest

from ci.main import main as ci_main
from ci.plan import plan_release
from ci.settings import Settings
from ci.stages import promote, publish
from ci.stages.context import StageContext
from deploy.config import Secret
from shipyard.declaration import load_declaration
from supply.attest import verify
from supply.keys import signing_key, verify_keys
from supply.oci import ArtifactClient
from supply.statement import CYCLONEDX_BOM, SLSA_PROVENANCE
from supply.verify import Verified
from tests.integration.supply_helpers import lock_pins, python_components
from tests.pipeline.docker_engine import DockerEngine
from tests.rig.registry import Registry
from tests.unit.supply.keyfiles import ed25519_pair

pytestmark = pytest.mark.rig
ROOT = Path(__file__).resolve().parents[2]
SHA = "5ec0de5ec0de5ec0de5ec0de5ec0de5ec0de5ec0"
PRIVATE, PUBLIC = ed25519_pair()


def context(ref: str, settings: Settings, said: list[str]) -> StageContext:
    return StageContext(plan_release(ref, SHA, "push"), settings, ROOT, said.append,
                        source_date_epoch=1_767_225_600, declaration=load_declaration(ROOT))


def test_publish_signs_promotion_keeps_the_referrers_and_verify_reads_them(
    docker_engine: DockerEngine, base_image: str, registry: Registry, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    repository = f"shipyard/signed-{uuid.uuid4().hex[:8]}"
    settings = Settings(registry=registry.address, repository=repository, base_image=base_image,
                        signing_key=Secret(PRIVATE), run_url="https://example.invalid/run/7")
    said: list[str] = []

    async def publish_twice() -> tuple[str, str]:
        async with dagger.connection():
            first = await publish.run(context("refs/heads/develop", settings, said))
            return first, await publish.run(context("refs/heads/develop", settings, said))

    published, again = anyio.run(publish_twice)
    assert "signed by" in published, published
    assert "Python" in published
    assert "already signed by" in again  # a re-run attaches nothing new
    digest = registry.digest(repository, f"sha-{SHA[:12]}")
    assert digest is not None

    promoted = anyio.run(promote.run, context("refs/tags/v1.0.0", settings, said))
    assert "0 layer bytes" in promoted
    assert registry.digest(repository, "v1.0.0") == digest

    async def verify_promoted() -> Verified:
        async with ArtifactClient(registry.address, repository) as client:
            found = await client.find("v1.0.0")
            assert found is not None
            return await verify(client, found.digest, verify_keys(PUBLIC, what="k"))

    verified = anyio.run(verify_promoted)
    assert verified.digest == digest
    assert verified.fingerprints == (signing_key(PRIVATE).public.fingerprint,)
    definition = verified.of(SLSA_PROVENANCE).statement.predicate["buildDefinition"]
    assert definition["resolvedDependencies"][0]["digest"] == {"gitCommit": SHA}
    assert definition["externalParameters"]["buildArgs"]["BASE_IMAGE"] == base_image
    assert definition["externalParameters"]["buildArgs"]["COMMIT"] == SHA
    sbom = verified.of(CYCLONEDX_BOM).statement.predicate
    assert python_components(sbom) == lock_pins()  # the image's own environment = the lock
    assert any(str(c["purl"]).startswith("pkg:deb/debian/") for c in sbom["components"])

    key_file = tmp_path / "verify.pem"
    key_file.write_text(PUBLIC)
    monkeypatch.setenv("REGISTRY", registry.address)
    monkeypatch.delenv("VERIFY_KEY", raising=False)
    image = f"{registry.address}/{repository}"
    assert ci_main(["verify", f"{image}:v1.0.0", "--key", str(key_file), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["verified"], answer["digest"], answer["via"]) == (True, digest,
                                                                     "referrers tag")
    assert ci_main(["verify", f"{image}@{digest}", "--key", str(ROOT / "README.md")]) == 2
    assert "no PEM public key" in capsys.readouterr().err
    # the key never reaches the output: the stage lines and the engine's recorded commands
    secret_line = PRIVATE.splitlines()[1]
    assert not [line for line in said if secret_line in line]
    assert not [argv for argv in docker_engine.docker.commands if secret_line in " ".join(argv)]
