"""The doctor's pure part: verdict tables (thresholds), commands, skipping, the JSON schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.commands import COMPOSE_V1, COMPOSE_V2, shell_line
from deploy.doctor.checks import (
    CHECKS,
    Finding,
    HostReport,
    Level,
    blocked_by,
    compose_images,
    exit_code,
    registry_probe,
    report_json,
)
from deploy.doctor.state import GIB, clock_verdict, disk_verdict, lock_verdict
from deploy.doctor.verdicts import (
    Facts,
    Output,
    compose_verdict,
    docker_verdict,
    image_tag_verdict,
    parse_compose_images,
    registry_of,
    registry_verdict,
    ssh_verdict,
)
from deploy.ledger import Lock

FACTS = Facts("staging", "deployer", "/srv/app", image="127.0.0.1:5000/shipyard/app:v1")


def df_output(available_kib: int) -> str:
    return (
        "/var/lib/docker\nFilesystem 1024-blocks Used Available Capacity Mounted on\n"
        f"/dev/vda 264000000 27000000 {available_kib} 10% /\n"
    )


@pytest.mark.parametrize(
    ("free_bytes", "level"),
    [
        (0, "FAIL"),
        (GIB - 1024, "FAIL"),
        (GIB, "WARN"),
        (5 * GIB - 1024, "WARN"),
        (5 * GIB, "PASS"),
        (80 * GIB, "PASS"),
    ],
)
def test_disk_thresholds(free_bytes: int, level: str) -> None:
    judgement = disk_verdict((Output(0, df_output(free_bytes // 1024)),), FACTS)
    assert judgement.level == level
    assert "GiB free on /" in judgement.message


def test_unreadable_df_warns() -> None:
    assert disk_verdict((Output(1, "", "df: nope"),), FACTS).level == "WARN"


@pytest.mark.parametrize(
    ("host_time", "started", "finished", "level"),
    [
        ("1000.00", 1000.0, 1000.0, "PASS"),
        ("1004.90", 1000.0, 1000.0, "PASS"),
        ("1005.10", 1000.0, 1000.0, "WARN"),
        ("994.00", 1000.0, 1000.0, "WARN"),  # behind counts the same as ahead
        ("1006.00", 1000.0, 1004.0, "PASS"),  # 4 s skew within a 2 s round-trip allowance
        ("1059.50", 1000.0, 1000.0, "WARN"),
        ("1061.00", 1000.0, 1000.0, "FAIL"),
        ("900.00", 1000.0, 1000.0, "FAIL"),
        ("1000.%N", 1000.0, 1000.0, "PASS"),  # a `date` without %N: whole seconds will do
        ("Thu Nov 26", 1000.0, 1000.0, "WARN"),
    ],
)
def test_clock_skew_thresholds(host_time: str, started: float, finished: float, level: str) -> None:
    assert clock_verdict((Output(0, host_time, "", started, finished),), FACTS).level == level


@pytest.mark.parametrize(
    ("acquired", "expires", "level", "words"),
    [
        (None, None, "PASS", "free"),
        (-30, 600, "WARN", "held by alice (maintenance)"),
        (-1000, -100, "WARN", "stale: held by alice"),
    ],
)
def test_lock_states(acquired: int | None, expires: int | None, level: str, words: str) -> None:
    now = 10_000.0
    if acquired is None or expires is None:
        output = Output(3, "", "", now, now)
    else:
        lock = Lock("alice", "t", now + acquired, now + expires, "maintenance")
        output = Output(0, lock.to_text(), "", now, now)
    judgement = lock_verdict((output,), FACTS)
    assert (judgement.level, words in judgement.message) == (level, True)
    assert level == "PASS" or "python -m deploy staging unlock" in judgement.fix


def test_a_lock_taken_by_hand_warns_until_unlock() -> None:
    now = 10_000.0
    lock = Lock("alice", "t", now - 5000, None, "db migration")  # no lease: stays until unlock
    judgement = lock_verdict((Output(0, lock.to_text(), "", now, now),), FACTS)
    assert judgement.level == "WARN"
    assert "taken by hand" in judgement.message
    assert "python -m deploy staging unlock" in judgement.fix


def test_garbage_lock_warns() -> None:
    assert lock_verdict((Output(0, "{not json"),), FACTS).level == "WARN"


@pytest.mark.parametrize(
    ("output", "level", "fix_words"),
    [
        (Output(0, "28.2.2\n"), "PASS", ""),
        (Output(1, "", "permission denied while trying to connect"), "FAIL", "usermod -aG docker"),
        (Output(127, "", "sh: docker: not found"), "FAIL", "Install Docker"),
        (Output(1, "", "Cannot connect to the Docker daemon"), "FAIL", "systemctl start"),
    ],
)
def test_docker_verdicts(output: Output, level: str, fix_words: str) -> None:
    judgement = docker_verdict((output,), FACTS)
    assert judgement.level == level
    assert fix_words in judgement.fix


@pytest.mark.parametrize(
    ("stdout", "exit_status", "level"),
    [("v2 2.40.3", 0, "PASS"), ("v1 1.29.2", 0, "PASS"), ("", 1, "FAIL")],
)
def test_compose_verdicts(stdout: str, exit_status: int, level: str) -> None:
    assert compose_verdict((Output(exit_status, stdout),), FACTS).level == level


@pytest.mark.parametrize(
    ("compose_text", "level"),
    [
        ("services:\n  api:\n    image: r/o/app:${IMAGE_TAG:-latest}\n", "PASS"),
        ("services:\n  api:\n    image: r/o/app:$IMAGE_TAG\n", "PASS"),
        ("services:\n  api:\n    image: r/o/app:v1\n", "FAIL"),
        ("services:\n  api:\n    build: .\n", "FAIL"),
        ("# image: r/o/app:${IMAGE_TAG}\nservices:\n  api:\n    image: r/o/app:v1\n", "FAIL"),
    ],
)
def test_image_tag_verdicts(compose_text: str, level: str) -> None:
    assert image_tag_verdict((Output(0, compose_text),), FACTS).level == level


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("127.0.0.1:5000/shipyard/app:v1", "127.0.0.1:5000"),
        ("ghcr.io/acout/app:v1", "ghcr.io"),
        ("localhost/app:v1", "localhost"),
        ("acout/app:v1", "docker.io"),
        ("app", "docker.io"),
    ],
)
def test_registry_of(image: str, registry: str) -> None:
    assert registry_of(image) == registry


@pytest.mark.parametrize(
    ("credentials", "manifest", "level", "words"),
    [
        ("", Output(0, "tls\n"), "PASS", "no credentials stored"),
        ('"127.0.0.1:5000"', Output(0, "plain-http\n"), "PASS", "over plain HTTP"),
        ("", Output(1, "", "unauthorized: authentication required"), "FAIL", "docker login"),
        ("", Output(1, "", "no such manifest: x"), "WARN", "push it again"),
        ("", Output(1, "", "dial tcp 127.0.0.1:1: connect: connection refused"), "FAIL",
         "REGISTRY in /srv/app/.env"),
    ],
)  # fmt: skip
def test_registry_verdicts(credentials: str, manifest: Output, level: str, words: str) -> None:
    judgement = registry_verdict((Output(0, credentials), manifest), FACTS)
    assert judgement.level == level
    assert words in judgement.message + judgement.fix


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("HostKeyNotVerifiable", "STAGING_KNOWN_HOSTS"),
        ("PermissionDenied", "authorized_keys"),
        ("ConnectionRefusedError", "STAGING_SSH_PORT"),
        ("TimeoutError", "STAGING_SSH_PORT"),
    ],
)
def test_ssh_failures_name_their_fix(cause: str, words: str) -> None:
    judgement = ssh_verdict(cause, "could not connect", FACTS)
    assert judgement.level == "FAIL"
    assert words in judgement.fix


def test_compose_images_parses_both_outputs() -> None:
    assert parse_compose_images("r/o/app:v1\n") == ["r/o/app:v1"]
    assert parse_compose_images("services:\n  api:\n    image: r/o/app:v1\n") == ["r/o/app:v1"]


def test_commands_are_argv_with_values_passed_as_arguments() -> None:
    v2 = compose_images(FACTS)[0]
    assert v2.argv == ("docker", "compose", "config", "--images")
    assert v2.cwd == "/srv/app"
    v1 = compose_images(Facts("staging", "deployer", "/srv/app", tool=COMPOSE_V1))[0]
    assert v1.argv == ("docker-compose", "config")
    assert FACTS.tool == COMPOSE_V2
    credentials, manifest = registry_probe(FACTS)
    assert credentials.argv[-1] == "127.0.0.1:5000"  # the value is an argument, not script
    assert manifest.argv[-1] == FACTS.image
    assert "'127.0.0.1:5000/shipyard/app:v1'" not in shell_line(manifest)  # nothing to quote


def test_a_check_is_skipped_when_what_it_needs_did_not_pass() -> None:
    registry = next(check for check in CHECKS if check.name == "registry")
    failed = Finding("compose_config", "", Level.FAIL, "")
    warned = Finding("compose_config", "", Level.WARN, "")
    assert blocked_by(registry, {"compose_config": failed}) == "compose_config"
    assert blocked_by(registry, {"compose_config": warned}) is None


def test_exit_code_and_json_schema() -> None:
    good = HostReport("h", 22, (Finding("ssh", "SSH", Level.PASS, "ok"),))
    warned = HostReport("h", 22, (Finding("lock", "lock", Level.WARN, "held", "wait"),))
    bad = HostReport("h", 22, (Finding("ssh", "SSH", Level.FAIL, "refused", "fix it"),), "/srv")
    assert (exit_code([good, warned]), exit_code([good, bad])) == (0, 1)
    document = report_json("staging", [bad])
    assert document == {
        "schema": 1,
        "environment": "staging",
        "ok": False,
        "hosts": [
            {
                "host": "h",
                "port": 22,
                "app_path": "/srv",
                "ok": False,
                "checks": [
                    {"check": "ssh", "title": "SSH", "level": "FAIL", "message": "refused",
                     "fix": "fix it"}
                ],
            }
        ],
    }  # fmt: skip


def test_pure_modules_import_neither_ssh_nor_http() -> None:
    """config, commands, ledger and the doctor's checks and verdicts stay pure."""
    code = (
        "import sys, deploy.config, deploy.commands, deploy.ledger, deploy.doctor.checks, "
        "deploy.doctor.verdicts, deploy.doctor.state\n"
        "print(sorted(m for m in ('asyncssh', 'httpx', 'dagger', 'anyio') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert done.stdout.strip() == "[]"
