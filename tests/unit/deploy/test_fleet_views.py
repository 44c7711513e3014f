"""The fleet's meeting points and what the CLI prints per host (pure parts)."""

from __future__ import annotations

import anyio
import pytest

from deploy.cli.fleet_views import drift_line, fleet_result_json
from deploy.config import load_fleet
from deploy.fleet.release import Gate, HostOutcome, HostRun, run_line
from tests.unit.deploy.test_fleet_config import BASE

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


async def meet(gate: Gate, oks: list[bool]) -> list[bool]:
    seen: list[bool] = []

    async def one(ok: bool) -> None:
        seen.append(await gate.passed(ok))

    async with anyio.create_task_group() as group:
        for ok in oks:
            group.start_soon(one, ok)
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize(("oks", "passed"), [
    ([True, True, True], True), ([True, False, True], False), ([False], False),
])  # fmt: skip
async def test_a_gate_opens_when_all_arrive_and_tells_all_the_same(
    oks: list[bool], passed: bool
) -> None:
    assert await meet(Gate(len(oks)), oks) == [passed] * len(oks)


@pytest.mark.anyio
async def test_a_gate_judges_once_all_are_ok() -> None:
    judged: list[int] = []

    def judge() -> str | None:
        judged.append(1)
        return "digests differ"

    gate = Gate(2, judge)
    assert await meet(gate, [True, True]) == [False, False]
    assert gate.reason == "digests differ"
    assert judged == [1]
    quiet = Gate(2, judge)
    assert await meet(quiet, [True, False]) == [False, False]
    assert judged == [1]


def test_a_gate_waits_for_every_party() -> None:
    gate = Gate(2)
    gate.arrive(True)
    assert not gate.opened.is_set()
    gate.arrive(True)
    assert gate.opened.is_set()
    assert gate.ok


@pytest.mark.parametrize(("pairs", "drift"), [
    ([("a", A), ("b", A)], False),
    ([("a", A), ("b", None)], False),
    ([("a", A), ("b", B), ("c", A)], True),
])  # fmt: skip
def test_drift_is_hosts_on_different_digests(
    pairs: list[tuple[str, str | None]], drift: bool
) -> None:
    line = drift_line("staging", pairs)
    assert (line is not None) is drift
    if line:
        assert "a, c" in line
        assert "on b" in line
        assert line.startswith("staging: DRIFT")


def runs() -> list[HostRun]:
    targets = load_fleet("staging", {**BASE, "STAGING_HOSTS": "web1,web2,web3"}).targets
    return [
        HostRun(targets[0], HostOutcome.ROLLED_BACK, "v1", "v1", True, A,
                error="returned to v1: web2:2222 failed"),
        HostRun(targets[1], HostOutcome.FAILED, "v1", "v1", False, A, error="v2 did not answer"),
        HostRun(targets[2], HostOutcome.UNREACHABLE, error="Could not connect"),
    ]  # fmt: skip


def test_one_line_per_host_says_what_runs_and_why() -> None:
    lines = [run_line("staging", run) for run in runs()]
    assert lines == [
        "staging web1:2222: rolled_back: v1 runs, healthy — returned to v1: web2:2222 failed",
        "staging web2:2222: failed: v1 runs, NOT healthy — v2 did not answer",
        "staging web3:2222: unreachable: what runs there is unknown — Could not connect",
    ]


def test_the_json_result_lists_every_host() -> None:
    data = fleet_result_json("up", "staging", runs(), "not everywhere")
    assert (data["ok"], data["error"], data["drift"], data["schema"]) == (
        False, "not everywhere", False, 1)
    assert [(h["host"], h["outcome"], h["running"], h["healthy"]) for h in data["hosts"]] == [
        ("web1:2222", "rolled_back", "v1", True), ("web2:2222", "failed", "v1", False),
        ("web3:2222", "unreachable", None, None)]  # fmt: skip
