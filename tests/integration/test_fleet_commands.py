"""Fleet commands other than `up` on the rig: lock takes every host or none; rollback and
history report per host (two app folders behind the rig's one sshd)."""

from __future__ import annotations

import json

import pytest

from deploy.cli.main import main
from deploy.ledger import LockEvent, read_ledger
from tests.integration.deploy_helpers import target_environ
from tests.rig.apppath import AppPath
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


def lock_events(app: AppPath) -> list[tuple[str, str]]:
    ledger = app.path / ".deploy" / "releases.jsonl"
    entries = read_ledger(ledger.read_bytes()).entries if ledger.exists() else ()
    return [(e.action, e.by) for e in entries if isinstance(e, LockEvent)]


def test_lock_takes_every_host_or_none(
    ssh_host: SshHost, app_path: AppPath, second_app: AppPath,
    capsys: pytest.CaptureFixture[str],
) -> None:
    one = {**target_environ(ssh_host, second_app), "DEPLOY_ACTOR": "maintainer"}
    assert main(["staging", "lock", "--reason", "db migration"], one) == 0
    fleet = target_environ(ssh_host, app_path, lock_wait="0")
    del fleet["STAGING_HOST"], fleet["STAGING_SSH_PORT"]
    address = f"{ssh_host.host}:{ssh_host.port}"
    fleet["STAGING_HOSTS"] = (f"{address} APP_PATH={app_path.path}, "
                              f"{address} APP_PATH={second_app.path}")  # fmt: skip
    capsys.readouterr()
    assert main(["staging", "lock", "--reason", "fleet work", "--json"], fleet) == 1
    result = json.loads(capsys.readouterr().out)
    assert [(host["ok"], bool(host["error"])) for host in result["hosts"]] == [
        (True, False), (False, True)]
    assert "maintainer" in result["hosts"][1]["error"]
    assert "unlocked again" in result["error"]
    # the first host's lock was taken and given back, both recorded; the hand lock stays
    assert lock_events(app_path) == [("lock", "pytest"), ("unlock", "pytest")]
    assert not (app_path.path / ".deploy" / "lock.json").exists()
    assert (second_app.path / ".deploy" / "lock.json").exists()
    assert lock_events(second_app) == [("lock", "maintainer")]

    assert main(["staging", "status", "--json", "--no-probe"], fleet) == 0
    status = json.loads(capsys.readouterr().out)
    assert [host["lock"] is not None for host in status["hosts"]] == [False, True]
    assert main(["staging", "unlock"], fleet) == 0
    assert "(was maintainer)" in capsys.readouterr().out
    assert not (second_app.path / ".deploy" / "lock.json").exists()
    assert main(["staging", "history", "--json"], fleet) == 0
    history = json.loads(capsys.readouterr().out)
    assert [[entry.get("event") for entry in host["entries"]] for host in history["hosts"]] == [
        ["lock", "unlock"], ["lock", "unlock"]]  # nothing to unlock on the first: no line
