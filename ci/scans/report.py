"""`ci/main.py report FILES...`: re-render the summary and the gate's verdict from saved reports."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

from ci.errors import ScanError
from ci.scans.findings import Status, ToolRun
from ci.scans.gate import AllowEntry, Policy, evaluate, parse_policy
from ci.scans.parse import parse_saved
from ci.scans.render import combined_json, headline, markdown_summary

ALLOWLIST = "security/allowlist.toml"
PASSED, GATE_FAILED, UNREADABLE = 0, 1, 2
_WORST = {Status.ERROR: 2, Status.OK: 1, Status.SKIPPED: 0}


def merge_runs(runs: Sequence[ToolRun]) -> list[ToolRun]:
    """One run per tool, in first-seen order: findings de-duplicated by fingerprint, the
    worst status kept (a JSON and a SARIF report of one scan hold the same findings)."""
    merged: dict[str, ToolRun] = {}
    for run in runs:
        seen = merged.get(run.tool)
        if seen is None:
            merged[run.tool] = run
            continue
        known = {f.fingerprint for f in seen.findings}
        extra = tuple(f for f in run.findings if f.fingerprint not in known)
        worst = max(seen, run, key=lambda r: _WORST[r.status])
        detail = "\n".join(d for d in (seen.detail, run.detail) if d)
        merged[run.tool] = ToolRun(run.tool, worst.status, seen.findings + extra, detail)
    return list(merged.values())


def load_policy(path: str | None) -> tuple[Policy, tuple[AllowEntry, ...]]:
    """The gate's thresholds and allowlist; no file at the default path means defaults."""
    file = Path(path or ALLOWLIST)
    if not file.exists():
        if path is None:
            return Policy(), ()
        raise ScanError(f"the allowlist {file} does not exist; pass an existing file.")
    return parse_policy(file.read_text(encoding="utf-8"), source=str(file))


def _read(paths: Sequence[str]) -> list[ToolRun]:
    runs: list[ToolRun] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScanError(f"cannot read the report {path} ({exc}); check the path.") from exc
        try:
            runs.extend(parse_saved(text))
        except ScanError as exc:
            raise ScanError(f"{path}: {exc}") from exc
    return merge_runs(runs)


def report_main(
    paths: list[str],
    *,
    today: date,
    out: TextIO | None = None,
    step_summary_path: str | None,
    allowlist_path: str | None = None,
    as_json: bool = False,
) -> int:
    """Print (or append to GITHUB_STEP_SUMMARY) the summary; 0 pass, 1 gate failed, 2 unreadable.

    With `as_json`, standard output is the combined findings document (schema
    `shipyard-security/1`, as `reports/scans/findings.json`), whatever else is written.
    """
    out = out or sys.stdout
    if not paths:
        print("error: give at least one saved report to `report`.", file=sys.stderr)
        return UNREADABLE
    try:
        runs = _read(paths)
        policy, allowlist = load_policy(allowlist_path)
    except ScanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNREADABLE
    verdict = evaluate(runs, policy, allowlist, today=today)
    summary = markdown_summary(runs, verdict, policy)
    if step_summary_path:
        with open(step_summary_path, "a", encoding="utf-8") as summary_file:
            summary_file.write(summary)
    if as_json:
        out.write(combined_json(runs, verdict))
    elif step_summary_path:
        out.write(f"security gate: {headline(verdict)}\n")
    else:
        out.write(summary)
    return PASSED if verdict.passed else GATE_FAILED
