"""The swarm target's doctor verdicts (command output in, PASS/WARN/FAIL out) and the runner
that aims every command at `<ENV>_DOCKER_HOST`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from deploy.commands import Command
from deploy.doctor.swarm import manager_verdict, nodes_verdict, updating_verdict
from deploy.doctor.verdicts import Facts, Output
from deploy.host.remote import DockerHost
from deploy.host.runner import Result

FACTS = Facts("staging", "deployer", "/srv/app", swarm_service="api_api", converge_timeout=300)
IMAGE = "reg/app:v1@sha256:" + "1" * 64


def out(text: str, status: int = 0, started: float = 0.0) -> tuple[Output, ...]:
    return (Output(status, text, "" if status == 0 else "boom", started, started),)


@pytest.mark.parametrize(("swarm", "level"), [
    ({"LocalNodeState": "active", "ControlAvailable": True, "Nodes": 3}, "PASS"),
    ({"LocalNodeState": "active", "ControlAvailable": False}, "FAIL"),  # a worker
    ({"LocalNodeState": "inactive"}, "FAIL"),
])  # fmt: skip
def test_the_node_must_be_a_manager(swarm: dict[str, object], level: str) -> None:
    judged = manager_verdict(out(json.dumps(swarm)), FACTS)
    assert judged.level == level
    if level == "FAIL":
        assert "STAGING_HOST" in judged.fix


def node(status: str = "Ready", availability: str = "Active") -> str:
    return json.dumps({"Hostname": "n", "Status": status, "Availability": availability})


@pytest.mark.parametrize(("lines", "level"), [
    ([node(), node()], "PASS"),
    ([node(), node("Down")], "WARN"),
    ([node("Down"), node(availability="Drain")], "FAIL"),
])  # fmt: skip
def test_nodes_ready(lines: list[str], level: str) -> None:
    assert nodes_verdict(out("\n".join(lines)), FACTS).level == level


def inspected(state: str | None, started: str = "2026-12-07T01:00:00.123456789Z") -> str:
    update = None if state is None else {"State": state, "StartedAt": started, "Message": "m"}
    return json.dumps({"update": update, "image": IMAGE, "replicas": 2, "previous": None})


START = 1796605200.0  # 2026-12-07T01:00:00Z


@pytest.mark.parametrize(("text", "status", "now", "level"), [
    ("", 1, START, "PASS"),  # no service yet
    (inspected(None), 0, START, "PASS"),
    (inspected("completed"), 0, START, "PASS"),
    (inspected("rollback_completed"), 0, START, "PASS"),
    (inspected("paused"), 0, START, "FAIL"),
    (inspected("rollback_paused"), 0, START, "FAIL"),
    (inspected("updating"), 0, START + 20, "WARN"),
    (inspected("updating"), 0, START + 3600, "FAIL"),  # stuck
])  # fmt: skip
def test_no_update_stuck(text: str, status: int, now: float, level: str) -> None:
    assert updating_verdict(out(text, status, now), FACTS).level == level


class Recorder:
    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def run(self, command: Command, *, check: bool = True) -> Result:
        self.commands.append(command)
        return Result(0, "", "")

    async def stream(self, command: Command, on_line: Callable[[str], None]) -> int:
        self.commands.append(command)
        return 0

    @asynccontextmanager
    async def forward_port(self, remote_port: int) -> AsyncIterator[int]:
        yield remote_port


@pytest.mark.anyio
async def test_every_command_reaches_the_docker_host() -> None:
    inner = Recorder()
    runner = DockerHost(inner, "unix:///run/swarm.sock")  # type: ignore[arg-type]
    await runner.run(Command(("docker", "info"), env=(("A", "1"),)))
    await runner.stream(Command(("sh", "-c", "docker logs x")), lambda _: None)
    assert [c.env for c in inner.commands] == [
        (("DOCKER_HOST", "unix:///run/swarm.sock"), ("A", "1")),
        (("DOCKER_HOST", "unix:///run/swarm.sock"),),
    ]
