"""Helpers for evidence tests: a staging host's ledger (a folder on the rig) and digests."""

from __future__ import annotations

import json
import os
import subprocess

from deploy.ledger import Kind, Outcome, Release
from tests.rig.apppath import AppPath

STAGING_FOLDER = "staging-host"  # inside the production app path, owned by the SSH user


def repo_digest(image: str) -> str:
    found = subprocess.run(["docker", "inspect", "--format", "{{json .RepoDigests}}", image],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return str(json.loads(found.stdout)[0].split("@")[1])


def staging_record(id_: str, tag: str, digest: str, outcome: Outcome = Outcome.HEALTHY,
                   kind: Kind = Kind.DEPLOY) -> Release:  # fmt: skip
    return Release(id_, kind, tag, "", digest, outcome, "2026-11-26T10:00:00+00:00", None, "ci")


def staging_ledger_with(app: AppPath, *records: Release) -> str:
    """Write the staging host's ledger; its app path (for STAGING_APP_PATH)."""
    folder = app.path / STAGING_FOLDER
    ledger = folder / ".deploy" / "releases.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_text("".join(record.to_line() + "\n" for record in records))
    owner = app.path.stat()
    for path in (folder, ledger.parent, ledger):
        os.chown(path, owner.st_uid, owner.st_gid)
    return str(folder)


def production_environ(staging: dict[str, str], staging_path: str) -> dict[str, str]:
    """PRODUCTION_* for the rig's app path, STAGING_* for the staging ledger folder."""
    production = {key.replace("STAGING_", "PRODUCTION_"): value
                  for key, value in staging.items()}  # fmt: skip
    return {**production, **staging, "STAGING_APP_PATH": staging_path}
