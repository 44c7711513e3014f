"""Locks, leases, the ledger and a read-only status against the real rig (sshd, dockerd)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from deploy.cli.main import main
from deploy.errors import HealthCheckFailed, LockHeld
from deploy.ledger import Kind, Lock, Outcome, Release, parse_lock, read_ledger
from tests.integration.deploy_helpers import served_version, target_environ
from tests.integration.test_deploy import (
    deploy,
    history_on_host,
    images,  # noqa: F401  (fixture)
    outcomes,
    write_as_deployer,
)
from tests.rig.apppath import AppPath
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig


def state_files(app: AppPath) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((app.path / ".deploy").iterdir())}


def ledger_path(app: AppPath) -> Path:
    return app.path / ".deploy" / "releases.jsonl"


def started(app: AppPath, tag: str) -> bool:
    return any(r.tag == tag and r.outcome is Outcome.STARTED for r in history_on_host(app))


def run_json(
    argv: list[str], environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> object:
    capsys.readouterr()
    assert main(argv, environ) == 0
    return json.loads(capsys.readouterr().out)


def test_status_is_read_only_and_reports_an_interrupted_attempt(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    gone = Release(
        id="cafe01", kind=Kind.DEPLOY, tag="v2", image="r/app:v2", digest=None,
        outcome=Outcome.STARTED, started_at="2026-01-01T00:00:00+00:00", finished_at=None,
        deployed_by="gone@elsewhere", previous_tag="v1",
    )  # fmt: skip
    with ledger_path(app_path).open("a") as ledger:
        ledger.write(gone.to_line() + "\n")
    now = time.time()
    stale = Lock("gone@elsewhere", "dead", now - 100, now - 60, "deploy", now - 90)
    write_as_deployer(app_path.path / ".deploy" / "lock.json", stale.to_text(), ssh_host)
    before = state_files(app_path)
    status = run_json(["staging", "status", "--json"], environ, capsys)
    assert isinstance(status, dict)
    assert (status["tag"], status["healthy"], status["unsettled"]) == ("v1", True, ["cafe01"])
    last = status["last_release"]
    assert (last["id"], last["outcome"], last["running_tag"]) == ("cafe01", "interrupted", "v1")
    assert status["lock"]["owner"] == "gone@elsewhere"
    assert main(["staging", "status"], environ) == 0
    assert "1 interrupted attempt(s) not yet recorded" in capsys.readouterr().out
    assert main(["staging", "history"], environ) == 0
    assert state_files(app_path) == before  # byte for byte: status and history wrote nothing
    assert main(["staging", "up", "v2"], environ) == 0  # holds the lock: settles the attempt
    settled = {r.id: r for r in history_on_host(app_path)}["cafe01"]
    assert (settled.outcome, settled.running_tag) == (Outcome.INTERRUPTED, "v1")
    assert outcomes(app_path)[-1] == ("deploy", "v2", "healthy")


def test_a_non_utf8_byte_in_the_ledger_is_skipped_named_and_kept(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path)
    assert main(["staging", "up", "v1"], environ) == 0
    ledger = ledger_path(app_path)
    lines = ledger.read_bytes().count(b"\n")
    with ledger.open("ab") as handle:
        handle.write(b'{"id": "caf\xe9", "note": "written by hand in latin-1"}\n')
    original = ledger.read_bytes()
    warning = f"releases.jsonl line {lines + 1} is not UTF-8 text; skipped it."
    for argv in (["history"], ["status", "--no-probe"], ["up", "v2"], ["history", "--json"]):
        capsys.readouterr()
        assert main(["staging", *argv], environ) == 0, argv
        assert warning in capsys.readouterr().err, argv
    data = ledger.read_bytes()
    assert data.startswith(original)  # nothing before was rewritten, the bad line included
    releases = read_ledger(data).releases
    assert [(r.tag, r.outcome) for r in releases] == [
        ("v1", Outcome.HEALTHY), ("v2", Outcome.HEALTHY),
    ]  # fmt: skip
    assert served_version() == "v2"


@pytest.mark.anyio
async def test_a_slow_deploy_keeps_its_lock_past_the_lease(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str]  # noqa: F811
) -> None:
    await deploy(ssh_host, app_path, "v1")
    quick = {"lock_ttl": "3", "health_timeout": "14"}  # a 3 s lease, a 14 s health wait

    async def slow() -> None:
        with pytest.raises(HealthCheckFailed):
            await deploy(ssh_host, app_path, "bad", **quick)

    async with anyio.create_task_group() as group:
        group.start_soon(slow)
        with anyio.fail_after(60):
            while not started(app_path, "bad"):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        await anyio.sleep(7)  # more than two leases into the health wait
        with pytest.raises(LockHeld, match=r"locked by pytest \(deploy\)") as held:
            await deploy(ssh_host, app_path, "v2", **quick, lock_wait="3")
    beat = re.search(r"last heartbeat (\d+)s ago", str(held.value))
    assert beat is not None
    assert int(beat.group(1)) < 3, held.value
    assert [tag for _, tag, _ in outcomes(app_path)] == ["v1", "bad", "v1"]  # never v2
    assert served_version() == "v1"
    assert not (app_path.path / ".deploy" / "lock.json").exists()


def test_a_killed_deployer_frees_the_host_within_its_lease(
    ssh_host: SshHost, app_path: AppPath, images: dict[str, str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    environ = target_environ(ssh_host, app_path, lock_wait="60")  # the default 30 s lease
    assert main(["staging", "up", "v1"], environ) == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "deploy", "staging", "up", "v2"], env={**os.environ, **environ},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    lock_file = app_path.path / ".deploy" / "lock.json"
    try:
        deadline = time.monotonic() + 60
        while not started(app_path, "v2"):
            assert time.monotonic() < deadline, "the deploy never started"
            time.sleep(0.02)
    finally:
        child.kill()  # SIGKILL: no cleanup of any kind
        child.wait()
    killed_at = time.monotonic()
    dead = parse_lock(lock_file.read_text())
    assert dead is not None
    assert not dead.manual
    status = run_json(["staging", "status", "--json"], environ, capsys)
    assert isinstance(status, dict)
    assert status["last_release"]["outcome"] == "started"  # its lease still runs: in progress
    freed: list[float] = []

    def watch_lock() -> None:
        while time.monotonic() < killed_at + 90:
            current = parse_lock(lock_file.read_text()) if lock_file.exists() else None
            if current is None or current.token != dead.token:
                freed.append(time.monotonic() - killed_at)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_lock, daemon=True)
    watcher.start()
    time.sleep(8)
    serving = served_version()  # what runs while the dead deployer's lock is held
    assert main(["staging", "up", "v2"], environ) == 0
    watcher.join()
    assert freed, "the lock never freed"
    assert 20 <= freed[0] <= 33, freed  # a 30 s lease from the last heartbeat (every 5 s)
    interrupted, final = history_on_host(app_path)[-2:]
    assert (interrupted.tag, interrupted.outcome) == ("v2", Outcome.INTERRUPTED)
    assert interrupted.running_tag == serving
    assert f"found {serving} running" in interrupted.message
    assert (final.tag, final.outcome) == ("v2", Outcome.HEALTHY)


def test_a_manual_lock_stays_until_unlock_and_both_are_in_history(
    ssh_host: SshHost, app_path: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = target_environ(ssh_host, app_path, lock_ttl="2", lock_wait="1")
    assert main(["staging", "lock", "--reason", "db migration"], environ) == 0
    time.sleep(3.5)  # longer than the lease: a manual lock has none
    capsys.readouterr()
    assert main(["staging", "up", "v1"], environ) == 2  # refused: the lock is held
    assert "locked by pytest (db migration), held by hand" in capsys.readouterr().err
    held = parse_lock((app_path.path / ".deploy" / "lock.json").read_text())
    assert held is not None
    assert held.manual
    assert main(["staging", "unlock"], {**environ, "DEPLOY_ACTOR": "ops"}) == 0
    assert not (app_path.path / ".deploy" / "lock.json").exists()
    entries = run_json(["staging", "history", "--json"], environ, capsys)
    assert isinstance(entries, list)
    assert [(e["event"], e["by"], e["reason"], e["holder"]) for e in entries] == [
        ("lock", "pytest", "db migration", None), ("unlock", "ops", "db migration", "pytest"),
    ]  # fmt: skip
    assert main(["staging", "history"], environ) == 0
    table = capsys.readouterr().out  # rich folds cells to the width: look at the words
    words = table.split()
    assert words.count("lock") == 1
    assert words.count("unlock") == 1
    assert {"pytest", "ops", "(was", "db", "migration"} <= set(words)
    assert run_json(["staging", "history", "--json", "--limit", "0"], environ, capsys) == []
    assert main(["staging", "history", "--limit", "-1"], environ) == 2
    assert "--limit -1 is refused" in capsys.readouterr().err


def test_a_tampered_rollback_target_is_refused_before_any_command(
    ssh_host: SshHost, app_path: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = target_environ(ssh_host, app_path)
    hostile = Release(
        id="bad001", kind=Kind.DEPLOY, tag="v1\nREGISTRY=127.0.0.1:9", image="r/app:v1",
        digest=None, outcome=Outcome.HEALTHY, started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:00:09+00:00", deployed_by="someone",
    )  # fmt: skip
    (app_path.path / ".deploy").mkdir()
    write_as_deployer(ledger_path(app_path), hostile.to_line() + "\n", ssh_host)
    env_before, before = app_path.env_file.read_text(), state_files(app_path)
    capsys.readouterr()
    assert main(["staging", "rollback"], environ) == 2
    assert "releases.jsonl) names 'v1\\nREGISTRY=127.0.0.1:9'" in capsys.readouterr().err
    assert (app_path.env_file.read_text(), state_files(app_path)) == (env_before, before)


def test_an_unreadable_lock_file_is_broken_not_a_crash(
    ssh_host: SshHost, app_path: AppPath, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = target_environ(ssh_host, app_path, lock_wait="1")
    (app_path.path / ".deploy").mkdir()
    lock_file = app_path.path / ".deploy" / "lock.json"
    write_as_deployer(lock_file, "", ssh_host)
    lock_file.write_bytes(b'{"owner": "caf\xe9"')  # not UTF-8, not JSON: no one's lock
    capsys.readouterr()
    assert main(["staging", "lock", "--reason", "after a crash"], environ) == 0
    assert "broke a stale lock (unreadable)" in capsys.readouterr().err
    taken = parse_lock(lock_file.read_text())
    assert taken is not None
    assert (taken.reason, taken.manual) == ("after a crash", True)
