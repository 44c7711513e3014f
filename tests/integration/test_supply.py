"""Signatures on the real rig: registry 2.8 (no referrers API, so the `sha256-<hex>` tag
schema is what runs), dockerd and sshd. Sign, promote, verify; `ci/main.py verify|sbom`;
and the deployer refusing (exit 2, host untouched) what did not verify. The module's tests
share the registry: v2 stays unsigned until the last test signs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import httpx
import pytest

from ci.main import main as ci_main
from ci.registry import RegistryClient, promote
from deploy.cli.main import main as deploy_main
from deploy.ledger import Release, parse_ledger
from supply.artifacts import referrers_tag
from supply.attest import copy_referrers, verify
from supply.keys import signing_key, verify_keys
from supply.oci import ArtifactClient
from tests.integration.deploy_helpers import served_version, target_environ
from tests.integration.supply_helpers import (
    lock_pins,
    python_components,
    sign_image,
)
from tests.rig.apppath import AppPath
from tests.rig.images import APP_REPOSITORY, BuildAppImage, fake_commit
from tests.rig.registry import Registry
from tests.rig.sshd import SshHost
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair

pytestmark = pytest.mark.rig
PRIVATE, PUBLIC = p256_pair()
KEY = signing_key(PRIVATE)
OTHER_PRIVATE, OTHER_PUBLIC = ed25519_pair()


def digest_of(registry: Registry, tag: str, repository: str = APP_REPOSITORY) -> str:
    found = registry.digest(repository, tag)
    assert found is not None, f"{repository}:{tag} is not in the registry"
    return found


@pytest.fixture(scope="module")
def signed(build_app_image: BuildAppImage, registry: Registry) -> dict[str, str]:
    """v1 signed with KEY (once per module); v2 built and left unsigned."""
    v1, _ = build_app_image("v1"), build_app_image("v2")
    digest = digest_of(registry, "v1")
    anyio.run(sign_image, registry.address, APP_REPOSITORY, v1, digest, KEY)
    return {"v1": digest, "v2": digest_of(registry, "v2")}


def ci(argv: list[str], monkeypatch: pytest.MonkeyPatch, registry: Registry) -> int:
    monkeypatch.setenv("REGISTRY", registry.address)
    monkeypatch.delenv("VERIFY_KEY", raising=False)
    return ci_main(argv)


def test_the_registry_has_no_referrers_api_so_the_tag_schema_holds_them(
    signed: dict[str, str], registry: Registry
) -> None:
    digest = signed["v1"]
    api = httpx.get(f"{registry.url}/v2/{APP_REPOSITORY}/referrers/{digest}", trust_env=False)
    assert api.status_code == 404
    index = httpx.get(f"{registry.url}/v2/{APP_REPOSITORY}/manifests/{referrers_tag(digest)}",
                      headers={"Accept": "application/vnd.oci.image.index.v1+json"},
                      trust_env=False).json()  # fmt: skip
    types = sorted(m["annotations"]["in-toto.io/predicate-type"] for m in index["manifests"])
    assert types == ["https://cyclonedx.org/bom", "https://slsa.dev/provenance/v1"]


def test_a_promoted_tag_has_the_same_referrers_and_uploads_no_layer(
    signed: dict[str, str], registry: Registry, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    async def go() -> int:
        async with RegistryClient(registry.address, APP_REPOSITORY) as client:
            done = await promote(client, "v1", "v1-release", revision=fake_commit("v1"))
        async with ArtifactClient(registry.address, APP_REPOSITORY) as client:
            found = await client.find("v1-release")
            assert found is not None
            verified = await verify(client, found.digest, verify_keys(PUBLIC, what="k"))
        assert verified.digest == signed["v1"]
        assert verified.via == "referrers tag"
        return done.layer_bytes

    assert anyio.run(go) == 0
    key_file = tmp_path / "verify.pem"
    key_file.write_text(PUBLIC)
    image = f"{registry.address}/{APP_REPOSITORY}"
    assert ci(["verify", f"{image}:v1-release", "--key", str(key_file)], monkeypatch,
              registry) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"verified {image}@{signed['v1']}" in out
    assert "found via   the referrers tag" in out
    assert KEY.public.fingerprint in out


def test_the_sboms_python_components_are_the_locks_pins(
    signed: dict[str, str], registry: Registry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image = f"{registry.address}/{APP_REPOSITORY}@{signed['v1']}"
    monkeypatch.setenv("VERIFY_KEY", PUBLIC)
    monkeypatch.setenv("REGISTRY", registry.address)
    assert ci_main(["sbom", image, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert python_components(document) == lock_pins()
    assert ci_main(["sbom", image]) == 0
    summary = capsys.readouterr().out
    assert "signature verified" in summary
    pins = dict(lock_pins())
    direct = [line.strip() for line in summary.splitlines() if line.startswith("    ")]
    # app/requirements.in's two, at the lock's versions
    assert direct == [f"fastapi=={pins['fastapi']}", f"uvicorn=={pins['uvicorn']}"]
    assert " OS packages" in summary


@pytest.mark.parametrize(("case", "words"), [
    ("unsigned", "has no attestations"),
    ("other key", "none by a trusted key"),
    ("another digest", "another image"),
])
def test_verify_refuses(
    case: str, words: str, signed: dict[str, str], registry: Registry,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "verify.pem"
    key_file.write_text(OTHER_PUBLIC if case == "other key" else PUBLIC)
    tag = "v1" if case == "other key" else "v2"
    if case == "another digest":  # v1's signed statements, replayed as v2's referrers
        repository = "shipyard/replayed"
        push_copy(registry, "v2", repository)
        anyio.run(sign_image, registry.address, repository,
                  f"{registry.address}/{APP_REPOSITORY}:v1", signed["v1"], KEY,
                  digest_of(registry, "v2", repository))  # fmt: skip
    else:
        repository = APP_REPOSITORY
    image = f"{registry.address}/{repository}:{tag}"
    assert ci(["verify", image, "--key", str(key_file)], monkeypatch, registry) == 1
    assert words in capsys.readouterr().out


def push_copy(registry: Registry, tag: str, repository: str) -> str:
    """The image under another repository, without its referrers (a plain docker push)."""
    target = f"{registry.address}/{repository}:{tag}"
    for argv in (["docker", "tag", f"{registry.address}/{APP_REPOSITORY}:{tag}", target],
                 ["docker", "push", target]):
        subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return target


def ledger(app: AppPath) -> list[Release]:
    path = app.path / ".deploy" / "releases.jsonl"
    return parse_ledger(path.read_text()) if path.exists() else []


def test_the_deployer_verifies_before_it_changes_anything(
    signed: dict[str, str], registry: Registry, ssh_host: SshHost, app_path: AppPath,
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path, verify_key=PUBLIC,
                             image=f"{registry.address}/{APP_REPOSITORY}")
    assert deploy_main(["staging", "up", "v1"], environ) == 0
    [first] = ledger(app_path)
    assert first.tag == f"v1@{signed['v1']}"
    assert first.verified_key == KEY.public.fingerprint
    assert served_version() == "v1"
    env_before = app_path.env_file.read_text()
    capsys.readouterr()

    refusals = [
        (environ, "v2", "has no attestations"),  # unsigned
        ({**environ, "STAGING_VERIFY_KEY": OTHER_PUBLIC}, "v1", "none by a trusted key"),
        ({**environ, "STAGING_IMAGE": f"{registry.address}/shipyard/copied"}, "v1",
         "has no attestations"),  # the image copied without its referrers
    ]
    push_copy(registry, "v1", "shipyard/copied")
    for env, tag, words in refusals:
        assert deploy_main(["staging", "up", tag], env) == 2, tag
        err = capsys.readouterr().err
        assert words in err, err
        assert len(ledger(app_path)) == 1  # nothing recorded, nothing pulled or started
        assert app_path.env_file.read_text() == env_before
        assert served_version() == "v1"

    assert deploy_main(["staging", "rollback", "--to", "v1"],
                       {**environ, "STAGING_VERIFY_KEY": OTHER_PUBLIC}) == 2
    assert "none by a trusted key" in capsys.readouterr().err
    assert len(ledger(app_path)) == 1

    # rollback to the host's last other healthy release: verified after the ledger names it
    v2 = f"{registry.address}/{APP_REPOSITORY}:v2"
    anyio.run(sign_image, registry.address, APP_REPOSITORY, v2, signed["v2"], KEY)
    assert deploy_main(["staging", "up", "v2"], environ) == 0
    other_key = {**environ, "STAGING_VERIFY_KEY": OTHER_PUBLIC}
    assert deploy_main(["staging", "rollback"], other_key) == 2
    assert "none by a trusted key" in capsys.readouterr().err
    assert served_version() == "v2"
    assert deploy_main(["staging", "rollback"], environ) == 0
    assert served_version() == "v1"
    records = ledger(app_path)
    assert [(r.kind.value, r.tag, r.verified_key) for r in records[-2:]] == [
        ("deploy", f"v2@{signed['v2']}", KEY.public.fingerprint),
        ("rollback", f"v1@{signed['v1']}", KEY.public.fingerprint),
    ]


def test_copying_the_referrers_with_an_image_to_another_repository(
    signed: dict[str, str], registry: Registry
) -> None:
    push_copy(registry, "v1", "shipyard/mirrored")
    keys = verify_keys(PUBLIC, what="k")

    async def go() -> int:
        async with ArtifactClient(registry.address, APP_REPOSITORY) as source, \
                ArtifactClient(registry.address, "shipyard/mirrored") as target:
            copied = await copy_referrers(source, target, signed["v1"])
            assert (await verify(target, signed["v1"], keys)).via == "referrers tag"
            return copied

    assert anyio.run(go) == 2
