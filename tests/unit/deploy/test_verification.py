"""<ENV>_VERIFY_KEY: settings, keys from text or files, the verifier's answers and refusals
(against the in-memory registry), and the ledger's key fingerprint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest

from deploy.config import Target, load_fleet, load_target
from deploy.errors import ConfigError, VerificationFailed
from deploy.host.session import HostSession
from deploy.ledger import Kind, Outcome, Release
from deploy.release import release, rollback
from deploy.verification import Verifier, read_keys, verifier_for
from supply.attest import attach, supply_predicates
from supply.keys import signing_key
from supply.oci import ArtifactClient
from supply.sbom import Distribution, Inventory, cyclonedx
from tests.unit.deploy.test_config import GOOD
from tests.unit.deploy.test_fleet_config import BASE
from tests.unit.supply.fake_registry import FakeRegistry
from tests.unit.supply.keyfiles import ed25519_pair, p256_pair

PRIVATE, PUBLIC = ed25519_pair()
IMAGE_TYPE = "application/vnd.oci.image.manifest.v1+json"
SIGNED = {**GOOD, "STAGING_VERIFY_KEY": PUBLIC, "STAGING_IMAGE": "127.0.0.1:5000/o/app"}


def test_no_key_no_verifier() -> None:
    target = load_target("staging", GOOD)
    assert not target.verify.required
    assert verifier_for(target) is None


def test_a_key_without_an_image_is_refused_when_verifying_not_when_read() -> None:
    target = load_target("staging", {**SIGNED, "STAGING_IMAGE": ""})  # e.g. evidence reads it
    with pytest.raises(ConfigError, match="STAGING_IMAGE: is not set"):
        verifier_for(target)


@pytest.mark.parametrize(("changes", "variable", "words"), [
    ({"STAGING_IMAGE": "127.0.0.1:5000/o/app:v1"}, "STAGING_IMAGE", "tag or digest"),
    ({"STAGING_IMAGE": "app"}, "STAGING_IMAGE", "REGISTRY/REPOSITORY"),
])
def test_bad_settings_are_named(changes: dict[str, str], variable: str, words: str) -> None:
    with pytest.raises(ConfigError, match=f"{variable}: .*{words}"):
        load_target("staging", {**SIGNED, **changes})


def test_the_password_is_a_secret() -> None:
    target = load_target("staging", {**SIGNED, "STAGING_REGISTRY_USERNAME": "reader",
                                     "STAGING_REGISTRY_PASSWORD": "hunter2-token"})
    assert "hunter2" not in repr(target)
    assert target.verify.password is not None
    assert target.verify.password.reveal() == "hunter2-token"


def test_keys_from_text_or_files(tmp_path: Path) -> None:
    other = p256_pair()[1]
    (tmp_path / "a.pem").write_text(PUBLIC)
    (tmp_path / "b.pem").write_text(other)
    from_files = load_target("staging", {**SIGNED, "STAGING_VERIFY_KEY":
                                         f"{tmp_path}/a.pem, {tmp_path}/b.pem"})
    from_text = load_target("staging", {**SIGNED, "STAGING_VERIFY_KEY": PUBLIC + other})
    one = read_keys(from_files.verify, "STAGING_VERIFY_KEY")
    two = read_keys(from_text.verify, "STAGING_VERIFY_KEY")
    assert [k.fingerprint for k in one] == [k.fingerprint for k in two]
    assert len(one) == 2


@pytest.mark.parametrize(("value", "words"), [
    ("/nowhere/key.pem", "cannot be read"),
    (PRIVATE, "private key"),
])
def test_unusable_keys_are_refused_naming_the_variable(value: str, words: str) -> None:
    target = load_target("staging", {**SIGNED, "STAGING_VERIFY_KEY": value})
    with pytest.raises(ConfigError, match=f"STAGING_VERIFY_KEY: .*{words}") as caught:
        verifier_for(target)
    assert "PRIVATE KEY-----\n" not in str(caught.value)


def image(marker: str) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": IMAGE_TYPE, "layers": [],
                       "config": {"mediaType": "x", "digest": "sha256:" + "0" * 64, "size": 2},
                       "annotations": {"m": marker}}).encode()


def signed_registry(sign: bool) -> tuple[FakeRegistry, str]:
    registry = FakeRegistry(referrers_api=False)
    digest = registry.put_image("o/app", "v1", image("one"), IMAGE_TYPE)
    if sign:
        sbom = cyclonedx(Inventory((Distribution("fastapi", "1"),), ()), "o/app", digest)

        async def go() -> None:
            async with ArtifactClient("127.0.0.1:5000", "o/app",
                                      transport=registry.transport()) as client:
                await attach(client, digest, signing_key(PRIVATE),
                             supply_predicates(sbom, {"buildDefinition": {}}))

        asyncio.run(go())
    return registry, digest


def verifier(registry: FakeRegistry, environ: dict[str, str] = SIGNED) -> Verifier:
    found = verifier_for(load_target("staging", environ))
    assert found is not None
    found.transport = registry.transport()
    return found


def test_a_signed_tag_is_pinned_to_the_digest_that_verified() -> None:
    registry, digest = signed_registry(sign=True)
    check = verifier(registry)
    pinned, key = asyncio.run(check("v1"))
    assert pinned == f"v1@{digest}"
    assert key == signing_key(PRIVATE).public.fingerprint
    before = len(registry.requests)
    assert asyncio.run(check("v1")) == (pinned, key)  # judged once per reference
    assert len(registry.requests) == before
    assert asyncio.run(check(f"v1@{digest}"))[0] == pinned


@pytest.mark.parametrize(("sign", "environ", "reference", "words"), [
    (False, SIGNED, "v1", "no attestations"),
    (True, {**SIGNED, "STAGING_VERIFY_KEY": p256_pair()[1]}, "v1", "none by a trusted key"),
    (True, SIGNED, "v2", "does not exist"),
    (True, SIGNED, "v1@sha256:" + "e" * 64, "no attestations"),  # a digest nobody signed
])
def test_refusals_say_what_was_missing(
    sign: bool, environ: dict[str, str], reference: str, words: str
) -> None:
    registry, _ = signed_registry(sign)
    with pytest.raises(VerificationFailed, match=words) as caught:
        asyncio.run(verifier(registry, environ)(reference))
    assert caught.value.refused
    assert "before anything changed" in str(caught.value)


def test_the_ledger_records_the_key_and_reads_old_lines() -> None:
    record = Release(id="a", kind=Kind.DEPLOY, tag="v1", image="i", digest=None,
                     outcome=Outcome.HEALTHY, started_at="t", finished_at="t", deployed_by="me",
                     verified_key="sha256:" + "1" * 64)  # fmt: skip
    assert Release.from_json(json.loads(record.to_line())) == record
    old = json.loads(record.to_line())
    del old["verified_key"]
    assert Release.from_json(old).verified_key is None


def test_only_the_verified_reference_gets_the_fingerprint() -> None:
    target: Target = load_target("staging", SIGNED)
    session = HostSession(cast(Any, None), target, who="me")
    session.verified = ("v2@sha256:" + "a" * 64, "sha256:" + "1" * 64)
    assert session.started(Kind.DEPLOY, "v2@sha256:" + "a" * 64, "i").verified_key == (
        "sha256:" + "1" * 64)
    assert session.started(Kind.AUTO_ROLLBACK, "v1", "i").verified_key is None


@pytest.mark.parametrize("extra", [
    {"STAGING_HOSTS": "127.0.0.1:1, 127.0.0.1:2"},  # several hosts
    {"STAGING_HOST": "127.0.0.1", "STAGING_SSH_PORT": "1", "STAGING_STRATEGY": "canary"},
    {"STAGING_HOST": "127.0.0.1", "STAGING_SSH_PORT": "1", "STAGING_TARGET": "swarm"},
    {"STAGING_HOST": "127.0.0.1", "STAGING_SSH_PORT": "1"},
])
@pytest.mark.parametrize("action", ["release", "rollback --to"])
def test_every_path_verifies_before_any_host_is_reached(extra: dict[str, str],
                                                        action: str) -> None:
    """Hosts that would refuse the connection, a registry that cannot be asked: what comes
    back is the verifier's refusal, so nothing reached a host first."""
    environ = {**BASE, **SIGNED, "STAGING_IMAGE": "127.0.0.1:1/o/app", **extra}
    if "STAGING_HOSTS" in extra:
        del environ["STAGING_HOST"]
    fleet = load_fleet("staging", environ)

    async def go() -> object:
        if action == "release":
            return await release(fleet, "v1", who="me", environ=environ)
        return await rollback(fleet, "v1", who="me")

    with pytest.raises(VerificationFailed, match="could not be read") as caught:
        asyncio.run(go())
    assert caught.value.refused
