"""What the CLI prints: the --json result schema, rich tables, the health wait's progress."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.status import Status as Spinner
from rich.table import Table

from deploy.host.health import Progress
from deploy.ledger import Entry, Lock, LockEvent, Release

RESULT_SCHEMA = 1  # bump when a field of result_json changes meaning or goes away
PROGRESS_AFTER = 3.0  # seconds of health wait before progress is shown
PLAIN_EVERY = 10.0  # seconds between progress lines when stderr is not a terminal


def release_json(release: Release | None) -> dict[str, Any] | None:
    return json.loads(release.to_line()) if release else None


def lock_json(lock: Lock | None) -> dict[str, Any] | None:
    if lock is None:
        return None
    return {"owner": lock.owner, "reason": lock.reason, "acquired_at": lock.acquired_at,
            "expires_at": lock.expires_at}


def result_json(
    command: str, environment: str, *, ok: bool, error: str | None = None,
    release: Release | None = None, lock: Lock | None = None,
) -> dict[str, Any]:
    """The one --json form of up, rollback, lock and unlock (schema RESULT_SCHEMA):
    {schema, command, environment, ok, error, release, lock}; absent parts are null."""
    return {
        "schema": RESULT_SCHEMA, "command": command, "environment": environment, "ok": ok,
        "error": error, "release": release_json(release), "lock": lock_json(lock),
    }  # fmt: skip


def history_table(history: Sequence[Entry]) -> Table:
    """Attempts and the lock audit trail (`lock`/`unlock` by hand), oldest first."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("started", "kind", "tag", "outcome", "colour", "by", "phases", "message"):
        table.add_column(column, overflow="fold")
    for release in history:
        if isinstance(release, LockEvent):
            whose = f" (was {release.holder})" if release.holder not in (None, release.by) else ""
            table.add_row(release.at, release.action, "", "", "", release.by + whose, "",
                          release.reason)
            continue
        phases = " ".join(f"{name} {seconds:.2f}s" for name, seconds in release.phases)
        table.add_row(release.started_at, release.kind, release.tag, release.outcome,
                      release.colour or "", release.deployed_by, phases, release.message)
    return table


def fields_table(rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    return table


class HealthProgress:
    """Shows a long health wait: a rich spinner on a terminal, a line now and then in logs."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.spinner: Spinner | None = None
        self.printed_at = 0.0

    def __call__(self, progress: Progress) -> None:
        if progress.done:
            self.stop()
            return
        if progress.seconds < PROGRESS_AFTER:
            return
        if not self.console.is_terminal:
            if progress.seconds - self.printed_at >= PLAIN_EVERY:
                self.printed_at = progress.seconds
                self.console.print(f"· {progress.line()}")
            return
        if self.spinner is None:
            self.spinner = self.console.status(progress.line())
            self.spinner.start()
        self.spinner.update(progress.line())

    def stop(self) -> None:
        if self.spinner is not None:
            self.spinner.stop()
            self.spinner = None
        self.printed_at = 0.0
