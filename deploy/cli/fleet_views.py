"""What the CLI shows for several hosts: one line per host, drift, the --json documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from rich.table import Table

from deploy.cli.views import RESULT_SCHEMA, lock_json, release_json, result_json
from deploy.deployer import Status
from deploy.fleet.each import Answer
from deploy.fleet.release import HostRun
from deploy.ledger import Entry, Lock, Release


def digests_by_host(pairs: Sequence[tuple[str, str | None]]) -> dict[str, list[str]]:
    """digest → the hosts that run it (hosts running nothing known are left out)."""
    found: dict[str, list[str]] = {}
    for host, digest in pairs:
        if digest:
            found.setdefault(digest, []).append(host)
    return found


def drift_line(environment: str, pairs: Sequence[tuple[str, str | None]]) -> str | None:
    """`DRIFT: …` naming which host runs which digest, or None when they agree."""
    found = digests_by_host(pairs)
    if len(found) < 2:
        return None
    parts = "; ".join(f"{short(digest)} on {', '.join(hosts)}" for digest, hosts in found.items())
    return f"{environment}: DRIFT: the hosts run different images: {parts}"


def short(digest: str | None) -> str:
    """`sha256:2be1e3cabba6…` (the first 12 hex digits tell digests apart on a screen)."""
    return f"{digest[:19]}…" if digest else "-"


def run_json(run: HostRun) -> dict[str, Any]:
    return {
        "host": run.target.label, "app_path": run.target.app_path, "outcome": str(run.outcome),
        "running": run.running, "healthy": run.healthy, "digest": run.digest,
        "release": release_json(run.release), "error": run.error,
    }  # fmt: skip


def fleet_result_json(
    command: str, environment: str, runs: Sequence[HostRun], error: str | None
) -> dict[str, Any]:
    """`up --json` for several hosts: the one-host result, plus `drift` and `hosts`."""
    data = result_json(command, environment, ok=error is None, error=error)
    pairs = [(run.target.label, run.digest) for run in runs]
    data.update(drift=drift_line(environment, pairs) is not None,
                hosts=[run_json(run) for run in runs])  # fmt: skip
    return data


def answers_json(
    command: str, environment: str, answers: Sequence[Answer[Any]], error: str | None
) -> dict[str, Any]:
    """rollback, init, lock and unlock with --json on several hosts."""
    data = result_json(command, environment, ok=error is None, error=error)
    data["hosts"] = [{"host": answer.target.label, "ok": answer.error is None,
                      "error": answer.error, "value": jsonable(answer.value)}
                     for answer in answers]  # fmt: skip
    return data


def jsonable(value: object) -> Any:
    """A host's answer as JSON: a release or lock record, a list of changes, or nothing."""
    if isinstance(value, Lock):
        return lock_json(value)
    if isinstance(value, Release):
        return release_json(value)
    return value if value is None or isinstance(value, str | list) else str(value)


def status_json(environment: str, answers: Sequence[Answer[Status]]) -> dict[str, Any]:
    hosts = []
    for answer in answers:
        entry: dict[str, Any] = {"host": answer.target.label, "error": answer.error}
        if answer.value is not None:
            entry.update(asdict(answer.value))
            entry["last_release"] = release_json(answer.value.last_release)
        hosts.append(entry)
    return {"schema": RESULT_SCHEMA, "environment": environment,
            "drift": drift_line(environment, status_digests(answers)) is not None,
            "hosts": hosts}  # fmt: skip


def status_digests(answers: Sequence[Answer[Status]]) -> list[tuple[str, str | None]]:
    return [(a.target.label, a.value.digest or a.value.image if a.value else None)
            for a in answers]  # fmt: skip


def status_table(answers: Sequence[Answer[Status]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("host", "tag", "health", "digest", "lock", "last"):
        table.add_column(column, overflow="fold")
    for answer in answers:
        status = answer.value
        if status is None:
            table.add_row(answer.target.label, "-", "UNREACHABLE", "-", "-", answer.error or "")
            continue
        health = {True: "healthy", False: "UNHEALTHY", None: "not probed"}[status.healthy]
        lock = f"{status.lock.owner} ({status.lock.reason})" if status.lock else "-"
        last = status.last_release
        table.add_row(answer.target.label, status.tag or "nothing", health,
                      short(status.digest), lock,
                      f"{last.kind} {last.tag} → {last.outcome}" if last else "-")  # fmt: skip
    return table


def history_json(environment: str, answers: Sequence[Answer[list[Entry]]]) -> dict[str, Any]:
    return {"schema": RESULT_SCHEMA, "environment": environment, "hosts": [
        {"host": answer.target.label, "error": answer.error,
         "entries": [json.loads(entry.to_line()) for entry in answer.value or []]}
        for answer in answers]}  # fmt: skip
