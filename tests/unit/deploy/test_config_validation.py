"""Config validation: ASCII digits only, IPv6 hosts with balanced brackets, the lock lease."""

from __future__ import annotations

import pytest

from deploy.config import check_host, load_target
from deploy.errors import ConfigError
from tests.unit.deploy.test_config import GOOD


@pytest.mark.parametrize("value", ["\u0663", "\uff12\uff12", "\u00b2", "22\u0663", "\u0a69"])
@pytest.mark.parametrize(
    "variable", ["STAGING_SSH_PORT", "STAGING_HEALTH_PORT", "STAGING_LOCK_TTL"]
)
def test_non_ascii_digits_are_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{variable}: .*digits 0-9"):
        load_target("staging", {**GOOD, variable: value})


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "deploy.example.com", "::1", "[::1]", "[2001:db8::1]", "fe80::1"]
)
def test_good_hosts(host: str) -> None:
    assert load_target("staging", {**GOOD, "STAGING_HOST": host}).host == host


@pytest.mark.parametrize(
    "host", ["[::1", "::1]", "[[::1]]", "[127.0.0.1]", ":::", "[]", "-oProxyCommand=id", "a b"]
)
def test_bad_hosts_are_refused_naming_the_variable(host: str) -> None:
    with pytest.raises(ConfigError, match=r"^STAGING_HOST: .*balanced brackets"):
        load_target("staging", {**GOOD, "STAGING_HOST": host})
    with pytest.raises(ConfigError):
        check_host(host)


def test_the_lock_lease_defaults_to_30_seconds() -> None:
    assert load_target("staging", GOOD).lock_ttl == 30.0
    assert load_target("staging", {**GOOD, "STAGING_LOCK_TTL": "5"}).lock_ttl == 5.0
