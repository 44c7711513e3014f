"""Production only on evidence: the source environment's ledger must show the same digest."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from deploy import commands as cmd
from deploy.config import EvidencePolicy, Fleet, Target, load_fleet
from deploy.errors import EvidenceMissing, InvalidInput
from deploy.fleet.each import each_target
from deploy.host.remote import connect
from deploy.ledger import Kind, Outcome, Release, line_to_append, parse_ledger


def pinned_digest(tag: str) -> str | None:
    """`v1@sha256:…` → `sha256:…`; None for an unpinned tag."""
    return tag.partition("@")[2] or None


def missing_evidence(history: list[Release], digest: str, policy: EvidencePolicy) -> list[str]:
    """What the source ledger lacks for `digest` (empty: the release may go on)."""
    source = policy.source or "?"
    mine = [r for r in history if r.digest == digest]
    missing = []
    if not any(r.kind is not Kind.LOAD_GATE and r.outcome is Outcome.HEALTHY for r in mine):
        missing.append(f"no healthy deploy of {digest} on {source}")
    gates = [r for r in history if r.kind is Kind.LOAD_GATE]
    required = policy.load_gate == "required" or (policy.load_gate == "auto" and gates)
    if required and not any(r.kind is Kind.LOAD_GATE and r.outcome is Outcome.PASSED
                            for r in mine):  # fmt: skip
        failed = any(r.kind is Kind.LOAD_GATE for r in mine)
        missing.append(f"{digest} {'failed' if failed else 'has no verdict of'} the load gate "
                       f"on {source}")  # fmt: skip
    return missing


@dataclass(frozen=True, slots=True)
class Override:
    """`--force --reason TEXT`: go on without the evidence, and say so in the ledger."""

    reason: str

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < 3:
            raise InvalidInput("--force needs --reason TEXT saying why the evidence is skipped.")


async def source_histories(
    policy: EvidencePolicy, environ: Mapping[str, str]
) -> list[tuple[str, list[Release]]]:
    """Each source host's ledger (its label, its records), read over SSH with the source's
    own `<SOURCE>_*` settings; every host of the source must be reachable."""
    fleet = load_fleet(policy.source or "", environ)
    found: dict[str, list[Release]] = {}

    async def read(target: Target) -> None:
        async with connect(target) as runner:
            text = await runner.read_file(f"{target.app_path}/{cmd.LEDGER_FILE}")
        found[target.label] = parse_ledger(text or "")

    await on_each(fleet, read)
    return [(target.label, found[target.label]) for target in fleet.targets]


async def on_each(fleet: Fleet, action: Callable[[Target], Awaitable[None]]) -> None:
    """`action` on every host at once; the first host's error is raised as it is."""
    for answer in await each_target(fleet, action):
        if answer.failure is not None:
            raise answer.failure


def missing_everywhere(
    histories: list[tuple[str, list[Release]]], digest: str, policy: EvidencePolicy
) -> list[str]:
    """What any source host lacks; with several hosts, each line names its host."""
    if len(histories) == 1:
        return missing_evidence(histories[0][1], digest, policy)
    return [f"{label}: {line}" for label, history in histories
            for line in missing_evidence(history, digest, policy)]  # fmt: skip


async def check_evidence(
    target: Target, tag: str, environ: Mapping[str, str], override: Override | None = None
) -> list[str]:
    """Refuse (EvidenceMissing) a release without evidence; what was missing but overridden."""
    policy = target.evidence
    if policy.source is None:
        return []
    digest = pinned_digest(tag)
    if digest is None:
        missing = [f"{tag} is not pinned, so its digest cannot be matched on {policy.source} "
                   f"(deploy {tag}@sha256:…; `python -m deploy {policy.source} history` shows "
                   "digests)"]  # fmt: skip
    else:
        missing = missing_everywhere(await source_histories(policy, environ), digest, policy)
    if missing and override is None:
        raise EvidenceMissing(
            f"{target.environment} takes only releases proven on {policy.source}: "
            + "; ".join(missing)
            + f". Deploy it to {policy.source} first, or override with --force --reason TEXT "
            "(recorded in the ledger)."
        )
    return missing


def override_record(tag: str, missing: list[str], override: Override, who: str,
                    now: str) -> Release:  # fmt: skip
    return Release(
        id=secrets.token_hex(6), kind=Kind.OVERRIDE, tag=tag, image="",
        digest=pinned_digest(tag), outcome=Outcome.RECORDED, started_at=now, finished_at=now,
        deployed_by=who, message=f"evidence overridden ({override.reason}): " + "; ".join(missing),
    )  # fmt: skip


def load_gate_record(tag: str, digest: str, passed: bool, detail: str, who: str,
                     now: str) -> Release:  # fmt: skip
    return Release(
        id=secrets.token_hex(6), kind=Kind.LOAD_GATE, tag=tag, image="", digest=digest,
        outcome=Outcome.PASSED if passed else Outcome.FAILED, started_at=now, finished_at=now,
        deployed_by=who, message=detail,
    )  # fmt: skip


async def append_to_ledger(fleet: Fleet, record: Release) -> None:
    """Append one record to every host's ledger of an environment over SSH (the load gate's
    verdict); the lines already there are never rewritten."""

    async def append(target: Target) -> None:
        async with connect(target) as runner:
            path = f"{target.app_path}/{cmd.LEDGER_FILE}"
            await runner.run(cmd.make_dirs(target.app_path, cmd.STATE_DIR))
            existing = await runner.read_bytes(path) or b""
            await runner.append_file(path, line_to_append(existing, record.to_line()))

    await on_each(fleet, append)
