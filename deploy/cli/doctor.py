"""`python -m deploy ENV doctor [--json]`: runs deploy.doctor and renders its reports."""

from __future__ import annotations

import json

import anyio
from rich.console import Console
from rich.table import Table
from rich.text import Text

from deploy.config import Fleet
from deploy.doctor.checks import HostReport, Level, exit_code, report_json
from deploy.doctor.runner import diagnose_all

STYLE = {Level.PASS: "green", Level.WARN: "yellow", Level.FAIL: "bold red", Level.SKIP: "dim"}


def doctor(fleet: Fleet, as_json: bool, out: Console) -> int:
    """`python -m deploy ENV doctor [--json]`, per host: 0 when nothing FAILs, else 1."""
    reports = anyio.run(diagnose_all, fleet)
    if as_json:
        out.print_json(json.dumps(report_json(fleet.environment, reports)))
    else:
        show_table(fleet.environment, reports, out)
    return exit_code(reports)


def show_table(environment: str, reports: list[HostReport], out: Console) -> None:
    for report in reports:
        where = report.label or f"{report.host}:{report.port}"
        table = Table(title=f"{environment}: {where}", title_justify="left")
        for column in ("check", "result", "what was seen", "fix"):
            table.add_column(column, overflow="fold")
        for found in report.findings:
            level = Text(found.level.value, style=STYLE[found.level])
            table.add_row(found.title, level, found.message, found.fix)
        out.print(table)
    failures = sum(f.level is Level.FAIL for report in reports for f in report.findings)
    out.print(
        f"{environment}: {failures} check(s) failed"
        if failures
        else f"{environment}: nothing failed"
    )
