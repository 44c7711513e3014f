"""Several hosts per environment on the rig (issue 11): all or nothing, faults, drift."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from deploy.cli.main import main
from deploy.ledger import Kind
from tests.integration.deploy_helpers import CuttableProxy, cuttable_proxy, target_environ
from tests.integration.fleet_helpers import (
    Member,
    by_host,
    fleet_environ,
    hosts_entry,
    ledger_lines,
    locked,
    run_json,
    served,
)
from tests.rig.apppath import AppPath, override_text
from tests.rig.fleet import FleetApps, FleetHosts, label, via_port
from tests.rig.images import BuildAppImage
from tests.rig.sshd import SshHost

Document = dict[str, Any]
FLEET_ROLLBACK_V1 = (Kind.FLEET_ROLLBACK.value, "v1", "healthy")


@pytest.fixture
def fleet(
    fleet_hosts: FleetHosts, fleet_apps: FleetApps, build_app_image: BuildAppImage
) -> list[Member]:
    """Three hosts, each with its own app path and port, and the images v1 and v2."""
    build_app_image("v1")
    build_app_image("v2")
    return list(zip(fleet_hosts(3), fleet_apps(3), strict=True))


def apps_of(fleet: list[Member]) -> list[AppPath]:
    return [app for _, app in fleet]


def up(
    members: list[Member], tag: str, capsys: pytest.CaptureFixture[str], **extra: str
) -> tuple[int, Document]:
    code, document = run_json(["staging", "up", tag], fleet_environ(members, **extra), capsys)
    assert (document["schema"], document["command"], document["environment"]) == (
        1, "up", "staging")
    assert document["ok"] is (code == 0), document
    assert {entry["host"] for entry in document["hosts"]} == {label(h) for h, _ in members}
    return code, document


def outcomes(document: Document) -> dict[str, str]:
    return {host: entry["outcome"] for host, entry in by_host(document).items()}


def deploy_v1(fleet: list[Member], capsys: pytest.CaptureFixture[str]) -> Document:
    code, document = up(fleet, "v1", capsys)
    assert code == 0, document
    assert served(apps_of(fleet)) == ["v1"] * len(fleet)
    return document


def ledger_texts(apps: list[AppPath]) -> list[str]:
    return [(app.path / ".deploy" / "releases.jsonl").read_text() for app in apps]


def env_tags(apps: list[AppPath]) -> list[str]:
    return [next(line for line in app.env_file.read_text().splitlines()
                 if line.startswith("IMAGE_TAG=")) for app in apps]  # fmt: skip


def assert_all_on(apps: list[AppPath], tag: str) -> None:
    """Every port serves tag, every .env names it, and no host is left locked."""
    assert served(apps) == [tag] * len(apps)
    assert env_tags(apps) == [f"IMAGE_TAG={tag}"] * len(apps)
    assert [app for app in apps if locked(app)] == []


def test_fleet_environ_has_one_entry_per_host_and_no_single_host() -> None:
    apps = [AppPath(Path(f"/srv/{n}"), n, {}, port) for n, port in (("a", 8101), ("b", 8102))]
    members = [(fake_host(2301), apps[0]), (fake_host(2302), apps[1])]
    environ = fleet_environ(members, parallel="1")
    assert environ["STAGING_HOSTS"] == (
        "127.0.0.1:2301 APP_PATH=/srv/a HEALTH_PORT=8101, "
        "127.0.0.1:2302 APP_PATH=/srv/b HEALTH_PORT=8102")
    assert environ["STAGING_KNOWN_HOSTS"].splitlines() == [
        "[127.0.0.1]:2301 ssh-ed25519 AAAA2301", "[127.0.0.1]:2302 ssh-ed25519 AAAA2302"]
    assert (environ["STAGING_SSH_KEY"], environ["STAGING_PARALLEL"]) == ("KEY", "1")
    assert not {"STAGING_HOST", "STAGING_SSH_PORT", "STAGING_APP_PATH"} & environ.keys()
    moved = via_port(fake_host(2301), 4000)
    assert hosts_entry(moved, apps[0]).startswith("127.0.0.1:4000 ")
    assert moved.known_hosts_line == "[127.0.0.1]:4000 ssh-ed25519 AAAA2301"
    with pytest.raises(ValueError, match="share one STAGING_SSH_KEY"):
        fleet_environ([members[0], (fake_host(2303, key="OTHER"), apps[1])])


def fake_host(port: int, key: str = "KEY") -> SshHost:
    line = f"[127.0.0.1]:{port} ssh-ed25519 AAAA{port}"
    return SshHost("127.0.0.1", port, "deployer", key, line, line + "x", Path("/k"), 1)


@pytest.mark.rig
def test_every_host_deploys_then_the_next_release_everywhere(
    fleet: list[Member], capsys: pytest.CaptureFixture[str]
) -> None:
    apps = apps_of(fleet)
    first = deploy_v1(fleet, capsys)
    assert (first["error"], first["drift"]) == (None, False)
    for host, app in fleet:
        entry = by_host(first)[label(host)]
        assert (entry["outcome"], entry["running"], entry["healthy"], entry["error"]) == (
            "deployed", "v1", True, None)
        assert entry["app_path"] == str(app.path)
        assert entry["digest"].startswith("sha256:")
        assert ledger_lines(app) == [("deploy", "v1", "healthy")]
        assert not locked(app)
    assert len({entry["digest"] for entry in first["hosts"]}) == 1
    code, second = up(fleet, "v2", capsys, parallel="1")  # one host at a time this once
    assert code == 0, second
    assert set(outcomes(second).values()) == {"deployed"}
    assert {(e["running"], e["digest"]) for e in second["hosts"]} == {
        ("v2", second["hosts"][0]["digest"])}
    assert second["hosts"][0]["digest"] != first["hosts"][0]["digest"]
    assert served(apps) == ["v2"] * 3
    assert [ledger_lines(app)[-1] for app in apps] == [("deploy", "v2", "healthy")] * 3


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connections are refused, nobody can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def break_one(fleet: list[Member], fault: str, closed: int) -> tuple[list[Member], str, str]:
    """(members to deploy to, the broken host's label, the outcome expected there)."""
    if fault == "ssh down from the start":
        down = via_port(fleet[2][0], closed)
        return [*fleet[:2], (down, fleet[2][1])], label(down), "unreachable"
    broken = fleet[1][1]  # its registry: a closed port
    broken.env_file.write_text(
        broken.env_file.read_text().replace(broken.env["REGISTRY"], f"127.0.0.1:{closed}"))
    return fleet, label(fleet[1][0]), "failed"


@pytest.mark.rig
@pytest.mark.parametrize("fault", ["ssh down from the start", "a failed pull"])
def test_a_fault_before_the_switch_changes_nothing_anywhere(
    fleet: list[Member], capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    apps = apps_of(fleet)
    deploy_v1(fleet, capsys)
    ledgers = ledger_texts(apps)
    with closed_port() as port:
        members, broken, expected = break_one(fleet, fault, port)
        code, document = up(members, "v2", capsys)
    assert (code, bool(document["error"])) == (1, True)
    hosts = by_host(document)
    faulty = hosts.pop(broken)
    assert (faulty["outcome"], faulty["error"] is not None) == (expected, True)
    assert {(entry["outcome"], entry["running"], entry["healthy"])
            for entry in hosts.values()} == {("unchanged", "v1", True)}  # fmt: skip
    assert len({entry["digest"] for entry in hosts.values()}) == 1
    assert_all_on(apps, "v1")
    after = ledger_texts(apps)
    for index, app in enumerate(apps):  # a pull_failed line is allowed where the pull failed
        if label(members[index][0]) == broken and fault == "a failed pull":
            assert ("deploy", "v2", "healthy") not in ledger_lines(app)
        else:
            assert after[index] == ledgers[index], app.path


@pytest.mark.rig
def test_a_host_never_healthy_rolls_every_switched_host_back(
    fleet: list[Member], capsys: pytest.CaptureFixture[str]
) -> None:
    apps = apps_of(fleet)
    sick = apps[2]
    sick.override_file.write_text(override_text(sick.port, refuse_tag="v2"))
    deploy_v1(fleet, capsys)
    code, document = up(fleet, "v2", capsys, health_timeout="8")
    assert code == 1
    assert outcomes(document) == {
        label(fleet[0][0]): "rolled_back", label(fleet[1][0]): "rolled_back",
        label(fleet[2][0]): "failed"}
    assert {(e["running"], e["healthy"]) for e in document["hosts"]} == {("v1", True)}
    assert by_host(document)[label(fleet[2][0])]["error"]
    assert_all_on(apps, "v1")
    for app in apps[:2]:
        assert ledger_lines(app)[-2:] == [("deploy", "v2", "healthy"), FLEET_ROLLBACK_V1]
    assert ledger_lines(sick)[-2:] == [
        ("deploy", "v2", "failed"), ("auto_rollback", "v1", "healthy")]


# What `compose up` does to a service's containers when it recreates it (healthchecks add
# exec_* and health_status events, which say nothing about a switch).
SWITCH_ACTIONS = ("create", "kill", "stop", "die", "destroy")


def container_events_argv(project: str, since: float) -> list[str]:
    """`docker events` streaming switch actions on project's containers from `since` on."""
    actions = [arg for action in SWITCH_ACTIONS for arg in ("--filter", f"event={action}")]
    return ["docker", "events", "--since", f"{since:.3f}", "--format", "{{.Action}}",
            "--filter", "type=container", "--filter", f"label=com.docker.compose.project={project}",
            *actions]  # fmt: skip


@contextmanager
def drop_when_switching(proxy: CuttableProxy, app: AppPath) -> Iterator[list[str]]:
    """Drop the proxy's connections at the first event on app's containers (the recreate has
    begun on the host: `compose up` is stopping the old one): yields the events that fired."""
    seen: list[str] = []
    argv = container_events_argv(app.project, time.time())
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as events:
        assert events.stdout is not None
        stream = events.stdout

        def watch() -> None:
            if line := stream.readline():
                proxy.drop()
                seen.append(line.strip())

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield seen
        finally:
            events.terminate()
            thread.join(5)


@pytest.mark.rig
def test_a_connection_cut_mid_switch_puts_every_host_back(
    fleet: list[Member], capsys: pytest.CaptureFixture[str]
) -> None:
    apps = apps_of(fleet)
    host, app = fleet[2]
    with cuttable_proxy(host.port) as proxy:
        members = [*fleet[:2], (via_port(host, proxy.port), app)]
        deploy_v1(members, capsys)
        with drop_when_switching(proxy, app) as dropped:
            code, document = up(members, "v2", capsys)
        assert dropped, f"the deploy ended before the cut: {document}"
    assert code == 1
    assert "deployed" not in outcomes(document).values()
    assert_all_on(apps, "v1")
    assert ledger_lines(apps[2])[-2:] == [("deploy", "v2", "interrupted"), FLEET_ROLLBACK_V1]
    for lines in map(ledger_lines, apps[:2]):
        assert lines[-2:] == [("deploy", "v2", "healthy"), FLEET_ROLLBACK_V1]


@pytest.mark.rig
def test_status_and_history_list_every_host_and_flag_drift(
    fleet: list[Member], capsys: pytest.CaptureFixture[str]
) -> None:
    environ = fleet_environ(fleet)
    labels = [label(host) for host, _ in fleet]
    deploy_v1(fleet, capsys)
    code, status = run_json(["staging", "status"], environ, capsys)
    assert (code, status["schema"], status["environment"], status["drift"]) == (
        0, 1, "staging", False)
    assert [entry["host"] for entry in status["hosts"]] == labels
    assert {(e["error"], e["tag"], e["healthy"]) for e in status["hosts"]} == {(None, "v1", True)}
    code, history = run_json(["staging", "history"], environ, capsys)
    assert (code, history["schema"], [entry["host"] for entry in history["hosts"]]) == (
        0, 1, labels)
    for entry in history["hosts"]:
        assert (entry["error"], [line["tag"] for line in entry["entries"]]) == (None, ["v1"])
    host, app = fleet[0]
    alone = target_environ(host, app, health_port=str(app.port))
    assert main(["staging", "up", "v2"], alone) == 0  # by hand, on one host only
    assert served(apps_of(fleet)) == ["v2", "v1", "v1"]
    _, status = run_json(["staging", "status"], environ, capsys)  # exit code: not in the contract
    assert status["drift"] is True
    assert [entry["tag"] for entry in status["hosts"]] == ["v2", "v1", "v1"]
    assert len({entry["digest"] for entry in status["hosts"]}) == 2
