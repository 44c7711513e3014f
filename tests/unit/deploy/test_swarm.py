"""The swarm target's pure parts: settings, the stack, commands, parsers and the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from deploy.config import load_fleet, load_target
from deploy.errors import ConfigError
from deploy.swarm import service as swarm
from deploy.swarm.stack import StackError, bind_sources, render_stack, stack_text
from tests.unit.deploy.test_config import GOOD

V1 = "127.0.0.1:5000/shipyard/app:v1@sha256:" + "1" * 64
V2 = "127.0.0.1:5000/shipyard/app:v2@sha256:" + "2" * 64
MODEL: dict[str, Any] = {  # `docker compose config --format json`, trimmed
    "name": "app",
    "services": {
        "api": {
            "image": "127.0.0.1:5000/shipyard/app:v2", "user": "10001:10001",
            "read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"],
            "tmpfs": ["/tmp"], "network_mode": "host", "restart": "always",
            "environment": {"ENVIRONMENT": "staging", "HOST": "127.0.0.1"},
            "volumes": [{"type": "bind", "source": "/srv/app/data", "target": "/app/data",
                         "bind": {"create_host_path": True}}],
            "healthcheck": {"test": ["CMD", "true"]}, "ports": [{"target": 8000}],
        },
        "worker": {"image": "other"},
    },
}  # fmt: skip


def swarm_target(**settings: str) -> Any:
    environ = {**GOOD, "STAGING_TARGET": "swarm"}
    environ.update({f"STAGING_{key.upper()}": value for key, value in settings.items()})
    return load_target("staging", environ)


def test_compose_stays_the_default_and_swarm_settings_have_defaults() -> None:
    assert load_target("staging", GOOD).kind == "compose"
    target = swarm_target()
    assert (target.kind, target.docker_host) == ("swarm", None)
    assert (target.swarm.stack, target.swarm.replicas, target.swarm.order) == (
        "api", 2, "start-first")
    assert target.swarm.publish == "ingress"
    aimed = swarm_target(docker_host="unix:///run/shipyard-rig/swarm/docker.sock")
    assert aimed.docker_host == "unix:///run/shipyard-rig/swarm/docker.sock"


@pytest.mark.parametrize(("variable", "value"), [
    ("TARGET", "kubernetes"), ("REPLICAS", "-1"), ("UPDATE_ORDER", "random"),
    ("PUBLISH", "mesh"), ("DOCKER_HOST", "ssh://elsewhere"), ("STACK", "Bad Name"),
    ("UPDATE_MONITOR", "0"), ("CONVERGE_TIMEOUT", "5"),
])  # fmt: skip
def test_bad_swarm_settings_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"STAGING_{variable}"):
        swarm_target(**{variable.lower(): value})


def test_swarm_goes_through_one_manager() -> None:
    environ = {**GOOD, "STAGING_TARGET": "swarm", "STAGING_HOSTS": "a.example, b.example"}
    del environ["STAGING_HOST"]
    with pytest.raises(ConfigError, match="manager node"):
        load_fleet("staging", environ)


def test_the_stack_pins_the_image_and_carries_the_deploy_section() -> None:
    target = swarm_target(replicas="3", update_parallelism="2", update_delay="7",
                          update_monitor="20", update_order="stop-first")  # fmt: skip
    stack = render_stack(MODEL, target, V2)
    service = stack["services"]["api"]
    assert list(stack["services"]) == ["api"]  # the app service only
    assert service["image"] == V2
    assert service["deploy"] == {
        "replicas": 3,
        "update_config": {"parallelism": 2, "delay": "7s", "order": "stop-first",
                          "failure_action": "rollback", "monitor": "20s", "max_failure_ratio": 0},
        "rollback_config": {"parallelism": 2, "delay": "0s", "order": "stop-first",
                            "failure_action": "pause", "monitor": "20s", "max_failure_ratio": 0},
        "restart_policy": {"condition": "any", "delay": "2s", "window": "20s"},
    }  # fmt: skip
    # the hardening is kept; what Swarm does not take is dropped
    assert (service["user"], service["read_only"], service["cap_drop"]) == (
        "10001:10001", True, ["ALL"])
    for dropped in ("network_mode", "restart", "security_opt"):
        assert dropped not in service
    assert service["volumes"] == [{"type": "bind", "source": "/srv/app/data",
                                   "target": "/app/data"}]  # fmt: skip
    assert bind_sources(stack) == ["/srv/app/data"]
    assert service["ports"] == [{"target": 8000, "published": 8000, "protocol": "tcp",
                                 "mode": "ingress"}]  # fmt: skip
    assert json.loads(stack_text(stack)) == stack


def test_publishing_modes() -> None:
    host = render_stack(MODEL, swarm_target(publish="host", health_port="9000"), V2)
    assert host["services"]["api"]["ports"][0]["mode"] == "host"
    assert host["services"]["api"]["ports"][0]["published"] == 9000
    net = render_stack(MODEL, swarm_target(publish="host-network", health_port="8140"), V2)
    assert "ports" not in net["services"]["api"]
    assert net["services"]["api"]["networks"] == ["hostnet"]
    assert net["networks"] == {"hostnet": {"external": True, "name": "host"}}
    assert "127.0.0.1:8140/health" in net["services"]["api"]["healthcheck"]["test"][3]


def test_a_missing_service_is_named() -> None:
    with pytest.raises(StackError, match=r"services\.web: .*api, worker"):
        render_stack(MODEL, swarm_target(service="web"), V2)


class Answer(BaseHTTPRequestHandler):
    replies: ClassVar[dict[str, tuple[int, bytes]]] = {
        "/health": (200, b'{"status": "ok", "version": "v2"}'),
        "/sick": (500, b"broken"), "/wrong": (200, b'{"status": "starting"}'),
        "/text": (200, b"not json"),
    }  # fmt: skip

    def do_GET(self) -> None:
        status, body = self.replies.get(self.path, (404, b""))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def health_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize(("path", "healthy"), [
    ("/health", True), ("/sick", False), ("/wrong", False), ("/text", False), ("/gone", False),
])  # fmt: skip
def test_the_tasks_health_check_runs_the_declared_contract(
    health_server: int, path: str, healthy: bool
) -> None:
    """The rendered HEALTHCHECK, run here with python3: status and expected JSON fields."""
    target = swarm_target(publish="host-network", health_port=str(health_server))
    from dataclasses import replace

    target = replace(target, health=replace(target.health, path=path))
    test = render_stack(MODEL, target, V2)["services"]["api"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    done = subprocess.run([sys.executable, "-c", test[3]], timeout=20, check=False)
    assert (done.returncode == 0) is healthy


def test_commands_are_argv() -> None:
    deploy = swarm.stack_deploy("/srv/app", "api")
    assert deploy.argv == ("docker", "stack", "deploy", "--with-registry-auth", "--detach=true",
                           "--compose-file", ".deploy/stack.json", "api")  # fmt: skip
    assert deploy.cwd == "/srv/app"
    assert swarm.service_rollback("api_api").argv == (
        "docker", "service", "rollback", "--detach", "api_api")
    assert swarm.service_tasks("api_api").argv[-1] == "api_api"


def test_only_missing_bind_folders_are_made(tmp_path: Any) -> None:
    existing_file = tmp_path / "docker.sock"
    existing_file.write_text("")
    missing = tmp_path / "data" / "deep"
    argv = swarm.make_missing([str(existing_file), str(missing)]).argv
    assert subprocess.run(argv, check=False).returncode == 0
    assert missing.is_dir()
    assert existing_file.is_file()


INSPECTED = (
    '{"update": {"State":"rollback_completed","StartedAt":"2026-12-07T01:40:02.1Z",'
    '"CompletedAt":"2026-12-07T01:40:20.3Z","Message":"rollback completed"}, '
    f'"image": "{V1}", "replicas": 2, "previous": "{V2}"}}'
)
TASKS = "\n".join(json.dumps(task) for task in [
    {"ID": "t3", "Name": "api_api.1", "Image": V1, "Node": "rig", "DesiredState": "Running",
     "CurrentState": "Running 3 seconds ago", "Error": ""},
    {"ID": "t0", "Name": " \\_ api_api.1", "Image": V2, "Node": "rig",
     "DesiredState": "Shutdown", "CurrentState": "Shutdown 9 seconds ago", "Error": ""},
    {"ID": "t2", "Name": " \\_ api_api.1", "Image": V2, "Node": "rig",
     "DesiredState": "Shutdown", "CurrentState": "Failed 10 seconds ago",
     "Error": "task: non-zero exit (1): dockerexec: unhealthy container"},
    {"ID": "t1", "Name": "api_api.2", "Image": V1, "Node": "rig", "DesiredState": "Running",
     "CurrentState": "Running 2 minutes ago", "Error": ""},
])  # fmt: skip


def test_parsers_read_inspect_and_ps() -> None:
    state = swarm.parse_service(INSPECTED)
    assert state == swarm.ServiceState(V1, 2, swarm.UpdateStatus(
        "rollback_completed", "rollback completed", "2026-12-07T01:40:02.1Z"), V2)
    never = swarm.parse_service(f'{{"update": null, "image": "{V1}", "replicas": null, '
                                '"previous": null}')  # fmt: skip
    assert (never.update, never.replicas, never.previous_image) == (None, None, None)
    tasks = swarm.parse_tasks(TASKS)
    assert [task.name for task in tasks] == ["api_api.1", "api_api.1", "api_api.1", "api_api.2"]
    assert [task.running for task in tasks] == [True, False, False, True]
    assert tasks[2].error
    assert tasks[0].digest == "sha256:" + "1" * 64
    assert swarm.task_errors(tasks, V2) == [
        "api_api.1: failed: task: non-zero exit (1): dockerexec: unhealthy container"]
    assert swarm.failed_task(tasks, V2) == tasks[2]  # not the one shut down before it ran
    assert swarm.drift(tasks) == [V1]


def task(image: str, current: str = "Running 1 second ago", desired: str = "Running") -> swarm.Task:
    return swarm.Task("id", "api_api.1", image, "rig", desired, current)


def state(update: str | None, image: str = V2, replicas: int | None = 2) -> swarm.ServiceState:
    status = swarm.UpdateStatus(update, "said so", "t") if update else None
    return swarm.ServiceState(image, replicas, status, V1)


P = swarm.Phase


@pytest.mark.parametrize(("service", "tasks", "phase"), [
    (state(None), [task(V2), task(V2)], P.CONVERGED),  # a new service, both tasks up
    (state(None), [task(V2), task(V2, "Starting 1 second ago")], P.WAITING),
    (state("updating"), [task(V2), task(V2)], P.WAITING),  # Swarm still watching
    (state("completed"), [task(V2), task(V2)], P.CONVERGED),
    (state("completed"), [task(V2), task(V1)], P.WAITING),  # an old task still runs
    (state(None, replicas=1), [task(V2), task(V1)], P.WAITING),  # start-first: both run
    (state("rollback_started", image=V1), [task(V1)], P.WAITING),
    (state("rollback_completed", image=V1), [task(V1), task(V1)], P.ROLLED_BACK),
    (state("paused"), [task(V2)], P.PAUSED),
    (state("rollback_paused", image=V1), [task(V1)], P.PAUSED),
    (state(None, replicas=None), [task(V2)], P.CONVERGED),  # a global service
])  # fmt: skip
def test_the_verdict(service: swarm.ServiceState, tasks: list[swarm.Task], phase: P) -> None:
    assert swarm.judge(service, tasks, V2).phase is phase


def test_an_unchanged_update_status_is_an_earlier_updates() -> None:
    """A spec that did not change starts no update: the last one's rollback is not ours."""
    earlier = state("rollback_completed")
    assert swarm.judge(earlier, [task(V2)] * 2, V2).phase is P.ROLLED_BACK
    before = earlier.update
    assert swarm.judge(earlier, [task(V2)] * 2, V2, before=before).phase is P.CONVERGED


def test_swarms_own_rollback_to_the_previous_spec_converges() -> None:
    back = state("rollback_completed", image=V1)
    assert swarm.judge(back, [task(V1)] * 2, V1, rollback=True).phase is P.CONVERGED


def record(digest: str, outcome: str, kind: str = "deploy") -> Any:
    from deploy.ledger import Kind, Outcome, Release

    return Release("id", Kind(kind), "t", "", digest, Outcome(outcome), "s", "f", "me")


def test_swarms_previous_spec_is_refused_when_the_ledger_says_it_failed() -> None:
    """After Swarm rolled an update back, its previous spec is the release that failed."""
    sick = "sha256:" + "2" * 64
    assert swarm.spec_refused(V2, [record(sick, "failed")]) is not None
    assert swarm.spec_refused(V2, [record(sick, "failed"), record(sick, "healthy")]) is None
    assert swarm.spec_refused(V2, []) is None  # changed by hand: not known to have failed
    assert swarm.spec_refused(V2, [record(sick, "failed", "load_gate")]) is None
