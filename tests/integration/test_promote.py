"""Promotion against the rig's real registry; a release tag through the whole pipeline."""

from __future__ import annotations

import subprocess

import pytest

from ci.errors import PromotionRefused, RegistryError
from ci.main import main
from ci.registry import RegistryClient, promote
from tests.integration.deploy_helpers import served_version, target_environ
from tests.integration.evidence_helpers import (
    production_environ,
    repo_digest,
    staging_ledger_with,
    staging_record,
)
from tests.integration.redirecting_registry import redirecting_registry
from tests.rig.apppath import AppPath
from tests.rig.images import APP_REPOSITORY, BuildAppImage, fake_commit
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig
SOURCE_VERSION = "rc-src"  # the rig builds it with COMMIT=fake_commit(SOURCE_VERSION)
COMMIT = fake_commit(SOURCE_VERSION)
SHA_TAG = f"sha-{COMMIT[:12]}"


def retag(source: str, target: str) -> str:
    for argv in (["docker", "tag", source, target], ["docker", "push", target]):
        subprocess.run(argv, check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture
def tested_image(build_app_image: BuildAppImage, registry_address: str) -> str:
    """The image CI built and tested for COMMIT, under its immutable sha-<12> tag."""
    built = build_app_image(SOURCE_VERSION)
    return retag(built, f"{registry_address}/{APP_REPOSITORY}:{SHA_TAG}")


@pytest.mark.anyio
async def test_promotion_copies_the_manifest_and_no_layers(
    tested_image: str, registry_address: str
) -> None:
    async with RegistryClient(registry_address, APP_REPOSITORY) as client:
        source_digest = await client.digest(SHA_TAG)
        before = len(client.requests)
        done = await promote(client, SHA_TAG, "v1.2.3", revision=COMMIT)
        requests = client.requests[before:]
        assert done.digest == source_digest
        assert await client.digest("v1.2.3") == source_digest
        assert done.layer_bytes == 0
        assert 0 < done.manifest_bytes < 10_000
        assert not [r for r in requests if "/blobs/uploads" in r]
        assert [r.split()[0] for r in requests if "/manifests/" in r] == [
            "HEAD", "GET", "PUT", "HEAD",
        ]


@pytest.mark.anyio
async def test_an_image_from_another_commit_is_refused(
    tested_image: str, registry_address: str
) -> None:
    async with RegistryClient(registry_address, APP_REPOSITORY) as client:
        with pytest.raises(PromotionRefused, match=f"built from commit {COMMIT[:12]}"):
            await promote(client, SHA_TAG, "v6.6.6", revision="f" * 40)
        with pytest.raises(RegistryError, match="does not exist"):
            await client.digest("v6.6.6")


@pytest.mark.anyio
async def test_an_image_without_a_revision_label_is_refused(
    base_image: str, registry_address: str, tested_image: str
) -> None:
    retag(base_image, f"{registry_address}/{APP_REPOSITORY}:sha-unlabelled")
    async with RegistryClient(registry_address, APP_REPOSITORY) as client:
        with pytest.raises(PromotionRefused, match=r"has no org\.opencontainers\.image\.revision"):
            await promote(client, "sha-unlabelled", "v0.0.9", revision=COMMIT)


def test_release_tag_promotes_and_deploys_to_production(
    tested_image: str, registry_address: str, ssh_host: SshHost, app_path: AppPath,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """`python ci/main.py` for refs/tags/v2.0.0: promote (no engine needed), then deploy,
    only once the staging host's ledger shows the digest healthy."""
    staging_path = staging_ledger_with(app_path)
    environ = production_environ(target_environ(ssh_host, app_path), staging_path)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    for name in ("GITHUB_TOKEN", "REGISTRY_PASSWORD", "GITHUB_REF", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REGISTRY", registry_address)
    monkeypatch.setenv("IMAGE_REPOSITORY", APP_REPOSITORY)
    assert main(["--ref", "refs/tags/v2.0.0", "--sha", COMMIT]) == 1
    digest = repo_digest(tested_image)
    refused = capsys.readouterr()
    assert f"no healthy deploy of {digest} on staging" in refused.out + refused.err
    staging_ledger_with(app_path, staging_record("s1", "staging", digest))
    assert main(["--ref", "refs/tags/v2.0.0", "--sha", COMMIT]) == 0
    out = capsys.readouterr().out
    assert "0 layer bytes uploaded" in out
    assert served_version() == SOURCE_VERSION  # the very image that was tested
    env = app_path.env_file.read_text()
    assert "IMAGE_TAG=v2.0.0@sha256:" in env


@pytest.mark.anyio
async def test_a_registry_that_redirects_blob_reads_still_promotes(
    tested_image: str, registry_address: str
) -> None:
    """ghcr.io wants a token and answers a blob read with a redirect to its storage: the
    revision label is still read (the redirect followed), and the token stays with the
    registry (a signed storage URL refuses a second credential)."""
    with redirecting_registry(registry_address) as (front, seen):
        async with RegistryClient(front, APP_REPOSITORY, "ci", "not-for-the-cdn") as client:
            done = await promote(client, SHA_TAG, "v1.2.4", revision=COMMIT)
            assert await client.digest("v1.2.4") == done.digest
    assert [p for p in seen.paths if "/blobs/sha256:" in p], "the blob read was not redirected"
    assert seen.authorizations
    assert not any(seen.authorizations), "the registry's token went to the blob storage"
