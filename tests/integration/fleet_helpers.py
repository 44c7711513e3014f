"""Fleet tests on the rig: the STAGING_HOSTS environ, per-host state read from disk and ports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from deploy.cli.main import main
from deploy.ledger import Release, parse_ledger
from tests.integration.deploy_helpers import served_version, target_environ
from tests.rig.apppath import AppPath
from tests.rig.fleet import label
from tests.rig.sshd import SshHost

Member = tuple[SshHost, AppPath]


def hosts_entry(host: SshHost, app: AppPath) -> str:
    """One STAGING_HOSTS entry: `host:port APP_PATH=... HEALTH_PORT=...`."""
    return f"{label(host)} APP_PATH={app.path} HEALTH_PORT={app.port}"


def fleet_environ(members: Sequence[Member], **extra: str) -> dict[str, str]:
    """The STAGING_* variables a user would set for these rig hosts (one key, one user)."""
    if len({host.private_key_text for host, _ in members}) != 1:
        raise ValueError("a fleet's hosts share one STAGING_SSH_KEY: use the fleet_hosts fixture")
    first_host, first_app = members[0]
    environ = target_environ(first_host, first_app, **extra)
    for single in ("STAGING_HOST", "STAGING_SSH_PORT", "STAGING_APP_PATH"):
        del environ[single]
    environ["STAGING_HOSTS"] = ", ".join(hosts_entry(host, app) for host, app in members)
    environ["STAGING_KNOWN_HOSTS"] = "\n".join(host.known_hosts_line for host, _ in members)
    return environ


def run_json(
    argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """main(argv + --json): its exit code and the one JSON object it printed."""
    capsys.readouterr()
    code = main([*argv, "--json"], environ)
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return code, document


def by_host(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's `hosts` list keyed by label (every label once)."""
    hosts = {entry["host"]: entry for entry in document["hosts"]}
    assert len(hosts) == len(document["hosts"]), document
    return hosts


def ledger(app: AppPath) -> list[Release]:
    path = app.path / ".deploy" / "releases.jsonl"
    return parse_ledger(path.read_text()) if path.exists() else []


def ledger_lines(app: AppPath) -> list[tuple[str, str, str]]:
    return [(r.kind.value, r.tag, r.outcome.value) for r in ledger(app)]


def served(apps: Sequence[AppPath]) -> list[str | None]:
    """What each app's port answers on /version now."""
    return [served_version(app.version_url) for app in apps]


def locked(app: AppPath) -> bool:
    return (app.path / ".deploy" / "lock.json").exists()
