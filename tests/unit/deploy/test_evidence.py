"""Production only on evidence: what the source ledger must show for a digest (pure part)."""

from __future__ import annotations

import pytest

from deploy.config import EvidencePolicy
from deploy.errors import InvalidInput
from deploy.evidence import (
    Override,
    load_gate_record,
    missing_evidence,
    override_record,
    pinned_digest,
)
from deploy.ledger import Kind, Outcome, Release, parse_ledger, rollback_target

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def release(digest: str, outcome: Outcome, kind: Kind = Kind.DEPLOY) -> Release:
    return Release("id" + digest[-3:] + outcome + kind, kind, "v1", "img:v1", digest, outcome,
                   "2026-11-26T10:00:00+00:00", None, "ci")  # fmt: skip


HEALTHY_A = release(A, Outcome.HEALTHY)
GATE_A = release(A, Outcome.PASSED, Kind.LOAD_GATE)
GATE_A_FAILED = release(A, Outcome.FAILED, Kind.LOAD_GATE)
GATE_B = release(B, Outcome.PASSED, Kind.LOAD_GATE)
STAGING = EvidencePolicy("staging", "auto")


@pytest.mark.parametrize(
    ("history", "policy", "missing"),
    [
        ([HEALTHY_A], STAGING, []),
        ([], STAGING, [f"no healthy deploy of {A} on staging"]),
        ([release(A, Outcome.FAILED)], STAGING, [f"no healthy deploy of {A} on staging"]),
        ([release(B, Outcome.HEALTHY)], STAGING, [f"no healthy deploy of {A} on staging"]),
        ([GATE_A], STAGING, [f"no healthy deploy of {A} on staging"]),  # a gate is no deploy
        # auto: once the gate has recorded a verdict on staging, it is required
        ([HEALTHY_A, GATE_A], STAGING, []),
        ([HEALTHY_A, GATE_B], STAGING, [f"{A} has no verdict of the load gate on staging"]),
        ([HEALTHY_A, GATE_A_FAILED], STAGING, [f"{A} failed the load gate on staging"]),
        ([HEALTHY_A], EvidencePolicy("staging", "required"),
         [f"{A} has no verdict of the load gate on staging"]),
        ([HEALTHY_A, GATE_A_FAILED], EvidencePolicy("staging", "off"), []),
    ],
)
def test_missing_evidence(
    history: list[Release], policy: EvidencePolicy, missing: list[str]
) -> None:
    assert missing_evidence(history, A, policy) == missing


def test_pinned_digest() -> None:
    assert pinned_digest(f"v1@{A}") == A
    assert pinned_digest("v1") is None


def test_an_override_needs_a_reason() -> None:
    with pytest.raises(InvalidInput, match="--reason"):
        Override("")


def test_records_are_notes_that_no_rollback_takes_for_a_release() -> None:
    note = override_record(f"v2@{B}", ["no healthy deploy"], Override("hotfix"), "me", "now")
    gate = load_gate_record("v2", B, True, "p95 12 ms", "ci", "now")
    text = "".join(r.to_line() + "\n" for r in (HEALTHY_A, note, gate))
    back = parse_ledger(text)
    assert [(r.kind, r.outcome) for r in back[1:]] == [
        (Kind.OVERRIDE, Outcome.RECORDED), (Kind.LOAD_GATE, Outcome.PASSED)]
    assert "hotfix" in back[1].message
    assert rollback_target(back, "v2", None) == "v1"
