"""`<ENV>_HOSTS`: entries, per-host settings, and errors naming the entry and the fix."""

from __future__ import annotations

import pytest

from deploy.config import load_fleet, load_target
from deploy.errors import ConfigError
from tests.unit.deploy.test_config import GOOD

BASE = {key: value for key, value in GOOD.items() if key != "STAGING_HOST"}
# Entries that share a host need ports of their own unless they recreate (test_colour_ports.py).
RECREATE = {"STAGING_STRATEGY": "recreate"}


def fleet_of(hosts: str, **extra: str) -> list[tuple[str, str, int, int]]:
    fleet = load_fleet("staging", {**BASE, "STAGING_HOSTS": hosts, **extra})
    return [(t.host, t.app_path, t.port, t.health.port) for t in fleet.targets]


@pytest.mark.parametrize(("hosts", "expected"), [
    ("web1", [("web1", "/srv/app", 2222, 8000)]),
    ("web1, web2:22", [("web1", "/srv/app", 2222, 8000), ("web2", "/srv/app", 22, 8000)]),
    ("[::1]:2200,::2,10.0.0.1", [("[::1]", "/srv/app", 2200, 8000),
                                 ("::2", "/srv/app", 2222, 8000),
                                 ("10.0.0.1", "/srv/app", 2222, 8000)]),
    ("a APP_PATH=/x HEALTH_PORT=8101, a APP_PATH=/y HEALTH_PORT=8102",
     [("a", "/x", 2222, 8101), ("a", "/y", 2222, 8102)]),
])  # fmt: skip
def test_entries_and_per_host_settings(hosts: str, expected: list[object]) -> None:
    assert fleet_of(hosts, **RECREATE) == expected


def test_other_settings_are_shared_and_parallel_defaults_to_all() -> None:
    fleet = load_fleet("staging", {**BASE, "STAGING_HOSTS": "a,b,c USERNAME=ops"})
    assert [t.username for t in fleet.targets] == ["deployer", "deployer", "ops"]
    assert {t.known_hosts for t in fleet.targets} == {fleet.targets[0].known_hosts}
    assert fleet.parallel == 3
    assert fleet.several
    assert load_fleet("staging", {**BASE, "STAGING_HOSTS": "a,b", "STAGING_PARALLEL": "1"}
                      ).parallel == 1  # fmt: skip


def test_one_host_is_a_fleet_of_one() -> None:
    fleet = load_fleet("staging", GOOD)
    assert [t.label for t in fleet.targets] == ["127.0.0.1:2222"]
    assert not fleet.several


def test_labels_name_the_app_path_only_when_a_host_is_shared() -> None:
    fleet = load_fleet("staging", {**BASE, **RECREATE,
                                   "STAGING_HOSTS": "a APP_PATH=/x,a APP_PATH=/y,[::1]"})
    assert [t.label for t in fleet.targets] == ["a:2222/x", "a:2222/y", "[::1]:2222"]


@pytest.mark.parametrize(("hosts", "words"), [
    ("a,,b", "empty entry"),
    ("a FOO=1", "'FOO=1' in the entry 'a' is not a per-host setting"),
    ("a APP_PATH", "KEY=VALUE"),
    ("a:0", "no valid port"),
    ("a:\uff12\uff12", "no valid port"),
    ("a b", "'b' in the entry 'a'"),
    ("a,a", "'a' is named twice"),
    ("[::1],::1", "named twice"),
    ("bad_host!", "is not a host name"),
    ("a APP_PATH=/../x", "in the entry for a:2222: STAGING_APP_PATH"),
    ("a HEALTH_PORT=99999", "in the entry for a:2222: STAGING_HEALTH_PORT"),
])  # fmt: skip
def test_bad_entries_name_the_variable_and_the_entry(hosts: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_fleet("staging", {**BASE, "STAGING_HOSTS": hosts})
    assert caught.value.variable == "STAGING_HOSTS"
    assert words in str(caught.value)


def test_host_and_hosts_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="not both") as caught:
        load_fleet("staging", {**GOOD, "STAGING_HOSTS": "a,b"})
    assert caught.value.variable == "STAGING_HOST"


def test_canary_on_several_hosts_is_refused_naming_the_strategy() -> None:
    with pytest.raises(ConfigError, match="canary runs on one host") as caught:
        load_fleet("staging", {**BASE, "STAGING_HOSTS": "a,b", "STAGING_STRATEGY": "canary"})
    assert caught.value.variable == "STAGING_STRATEGY"
    one = load_fleet("staging", {**BASE, "STAGING_HOSTS": "a", "STAGING_STRATEGY": "canary"})
    assert one.targets[0].release.strategy == "canary"


def test_a_one_host_command_refuses_several_hosts() -> None:
    with pytest.raises(ConfigError, match="names 2 hosts"):
        load_target("staging", {**BASE, "STAGING_HOSTS": "a,b"})
    assert load_target("staging", {**BASE, "STAGING_HOSTS": "a:2200"}).port == 2200


def test_parallel_is_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        load_fleet("staging", {**BASE, "STAGING_HOSTS": "a", "STAGING_PARALLEL": "0"})
    assert caught.value.variable == "STAGING_PARALLEL"
