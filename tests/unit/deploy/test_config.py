"""Targets from variables: every error names the variable; the key never shows."""

from __future__ import annotations

import pytest

from deploy.config import Secret, check_path, check_tag, load_target
from deploy.errors import ConfigError, InvalidInput

KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
GOOD = {
    "STAGING_HOST": "127.0.0.1",
    "STAGING_USERNAME": "deployer",
    "STAGING_SSH_KEY": KEY,
    "STAGING_SSH_PORT": "2222",
    "STAGING_APP_PATH": "/srv/app",
    "STAGING_KNOWN_HOSTS": "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI",
}


def test_a_full_target() -> None:
    target = load_target("staging", GOOD)
    assert (target.host, target.port, target.username, target.app_path) == (
        "127.0.0.1", 2222, "deployer", "/srv/app",
    )
    assert target.private_key.reveal().startswith("-----BEGIN")
    assert "PRIVATE" not in repr(target)
    assert load_target("staging", {**GOOD, "STAGING_SSH_PORT": ""}).port == 22


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STAGING_HOST", None),
        ("STAGING_HOST", "evil;host"),
        ("STAGING_USERNAME", "Root Admin"),
        ("STAGING_SSH_PORT", "70000"),
        ("STAGING_SSH_PORT", "22a"),
        ("STAGING_SSH_KEY", None),
        ("STAGING_SSH_KEY", "not a key"),
        ("STAGING_KNOWN_HOSTS", None),
        ("STAGING_KNOWN_HOSTS", "garbage"),
        ("STAGING_APP_PATH", None),
        ("STAGING_HEALTH_TIMEOUT", "0"),
        ("STAGING_COMPOSE", "v3"),
    ],
)
def test_bad_variable_is_named(variable: str, value: str | None) -> None:
    environ = {k: v for k, v in GOOD.items() if k != variable}
    if value is not None:
        environ[variable] = value
    with pytest.raises((ConfigError, InvalidInput)) as caught:
        load_target("staging", environ)
    assert variable in str(caught.value)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(caught.value)


def test_a_key_that_is_not_a_key_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_target("staging", {**GOOD, "STAGING_SSH_KEY": "hunter2-secret"})
    assert "hunter2-secret" not in str(caught.value)


@pytest.mark.parametrize("tag", ["v1", "v1.2.3", "sha-0123456789ab", "latest",
                                 "v1@sha256:" + "0" * 64])
def test_good_tags(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "-v1", ".v1", "v1;rm -rf /", "v1 v2", "$(id)", "v1\n",
                                 "a" * 129, "v1@sha256:xyz", "v1@md5:" + "0" * 32, "v\u0131"])
def test_hostile_tags_are_refused(tag: str) -> None:
    with pytest.raises(InvalidInput, match="refused"):
        check_tag(tag)


@pytest.mark.parametrize("path", ["relative", "/srv/../etc", "/srv/app;id", "/srv/a b", ""])
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match="refused"):
        check_path(path, variable="STAGING_APP_PATH")


def test_bad_environment_name() -> None:
    with pytest.raises(InvalidInput, match="not a valid name"):
        load_target("Staging;x", GOOD)


def test_secret_hides_itself() -> None:
    secret = Secret("s3cr3t")
    assert "s3cr3t" not in f"{secret} {secret!r} {[secret]}"


def test_release_policy_defaults_and_settings() -> None:
    default = load_target("staging", GOOD).release
    assert (default.strategy, default.proxy_image, default.proxy_listen, default.drain,
            default.watch) == ("auto", "nginx:1.28.0", "8000", 30.0, 30.0)
    chosen = load_target("staging", {
        **GOOD, "STAGING_STRATEGY": "blue-green", "STAGING_PROXY_IMAGE": "local/proxy:nginx",
        "STAGING_PROXY_LISTEN": "127.0.0.1:8000", "STAGING_DRAIN": "5", "STAGING_WATCH": "0",
    }).release
    assert (chosen.strategy, chosen.proxy_image, chosen.proxy_listen, chosen.drain,
            chosen.watch) == ("blue-green", "local/proxy:nginx", "127.0.0.1:8000", 5.0, 0.0)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("STAGING_STRATEGY", "linear"), ("STAGING_PROXY_IMAGE", "nginx;rm -rf /"),
     ("STAGING_PROXY_LISTEN", "10.0.0.1:80"), ("STAGING_DRAIN", "-1"), ("STAGING_WATCH", "1h")],
)
def test_bad_release_settings_are_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_target("staging", {**GOOD, variable: value})


def test_canary_and_evidence_defaults() -> None:
    from deploy.canary_policy import Step, Thresholds

    target = load_target("staging", {**GOOD, "STAGING_STRATEGY": "canary"})
    assert target.release.strategy == "canary"
    assert target.canary.steps == (Step(10, 60), Step(50, 60), Step(100, None))
    assert target.canary.thresholds == Thresholds(0.01, 1.5, 100)
    assert target.evidence.source is None
    production = {k.replace("STAGING_", "PRODUCTION_"): v for k, v in GOOD.items()}
    assert load_target("production", production).evidence.source == "staging"
    off = load_target("production", {**production, "PRODUCTION_EVIDENCE_FROM": "none"})
    assert off.evidence.source is None


def test_canary_settings() -> None:
    target = load_target("staging", {
        **GOOD, "STAGING_CANARY_STEPS": "5:10,100", "STAGING_CANARY_MAX_ERROR_RATIO": "0.05",
        "STAGING_CANARY_MAX_P95_RATIO": "2", "STAGING_CANARY_MIN_REQUESTS": "20"})
    assert [s.weight for s in target.canary.steps] == [5, 100]
    limits = target.canary.thresholds
    assert (limits.max_error_ratio, limits.max_p95_ratio, limits.min_requests) == (0.05, 2.0, 20)


@pytest.mark.parametrize(
    ("variable", "value", "fix"),
    [
        ("STAGING_CANARY_STEPS", "10:60,50:60", "e.g. 10:60,50:60,100"),
        ("STAGING_CANARY_STEPS", "50,10,100", "rise"),
        ("STAGING_CANARY_MAX_ERROR_RATIO", "5%", "number 0-1"),
        ("STAGING_CANARY_MAX_ERROR_RATIO", "2", "number 0-1"),
        ("STAGING_CANARY_MAX_P95_RATIO", "-1", "number 0-100"),
        ("STAGING_CANARY_MIN_REQUESTS", "0", "whole number 1-"),
        ("STAGING_EVIDENCE_FROM", "staging", "another environment"),
        ("STAGING_EVIDENCE_LOAD_GATE", "maybe", "auto, required, off"),
    ],
)
def test_bad_canary_settings_name_the_variable(variable: str, value: str, fix: str) -> None:
    with pytest.raises(ConfigError, match=fix) as raised:
        load_target("staging", {**GOOD, variable: value})
    assert raised.value.variable == variable
