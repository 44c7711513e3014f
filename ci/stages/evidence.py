"""The load gate's verdict, kept in the deployed environment's ledger beside the deploy it
judged (same digest), where a promotion to production looks for its evidence."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from ci.stages.context import StageContext
from deploy.config import load_fleet
from deploy.errors import DeployError
from deploy.evidence import append_to_ledger, load_gate_record


async def record_load_gate(ctx: StageContext, passed: bool, verdict: str) -> str:
    """Append the verdict to `<ENV>`'s ledger over SSH; a sentence saying what was done."""
    environment, digest = ctx.plan.environment, ctx.artifacts.digest
    if environment is None or digest is None:
        return ("verdict not recorded in a ledger: this run deployed no digest (run "
                "`deploy loadtest` together), so it is no evidence for production")  # fmt: skip
    who = os.environ.get("GITHUB_ACTOR") or "pipeline"
    record = load_gate_record(ctx.plan.tags[0], digest, passed, verdict,
                              f"{who} (pipeline {ctx.plan.sha[:12]})",
                              datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    try:
        await append_to_ledger(load_fleet(environment.value, os.environ), record)
    except DeployError as error:
        return f"verdict NOT recorded in {environment}'s ledger: {error}"
    return f"verdict recorded in {environment}'s ledger for {digest}"
