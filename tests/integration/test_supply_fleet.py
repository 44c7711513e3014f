"""Several hosts with `STAGING_VERIFY_KEY`: verified once, before any host; every host
deploys the digest that verified and records the key; a tag not signed by the key changes
no host."""

from __future__ import annotations

import anyio
import pytest

from deploy.cli.main import main
from supply.keys import signing_key
from tests.integration.fleet_helpers import Member, fleet_environ, ledger, served
from tests.integration.supply_helpers import sign_image
from tests.rig.fleet import FleetApps, FleetHosts
from tests.rig.images import APP_REPOSITORY, BuildAppImage
from tests.rig.registry import Registry
from tests.unit.supply.keyfiles import ed25519_pair

pytestmark = pytest.mark.rig
PRIVATE, PUBLIC = ed25519_pair()  # this module's key: nothing else signs with it
KEY = signing_key(PRIVATE)


def test_a_fleet_deploys_only_what_verified(
    fleet_hosts: FleetHosts, fleet_apps: FleetApps, build_app_image: BuildAppImage,
    registry: Registry, capsys: pytest.CaptureFixture[str],
) -> None:
    members: list[Member] = list(zip(fleet_hosts(2), fleet_apps(2), strict=True))
    apps = [app for _, app in members]
    v1, _ = build_app_image("v1"), build_app_image("v2")
    digest = registry.digest(APP_REPOSITORY, "v1")
    assert digest is not None
    anyio.run(sign_image, registry.address, APP_REPOSITORY, v1, digest, KEY)
    environ = fleet_environ(members, verify_key=PUBLIC,
                            image=f"{registry.address}/{APP_REPOSITORY}")  # fmt: skip

    assert main(["staging", "up", "v1"], environ) == 0
    assert served(apps) == ["v1", "v1"]
    for app in apps:
        [record] = ledger(app)
        assert (record.tag, record.verified_key) == (f"v1@{digest}", KEY.public.fingerprint)
    err = capsys.readouterr().err
    assert err.count("verified: signed provenance and SBOM") == 1  # once, not per host

    assert main(["staging", "up", "v2"], environ) == 2  # never signed by this key
    assert "staging takes only images signed by STAGING_VERIFY_KEY" in capsys.readouterr().err
    assert served(apps) == ["v1", "v1"]
    assert [len(ledger(app)) for app in apps] == [1, 1]
