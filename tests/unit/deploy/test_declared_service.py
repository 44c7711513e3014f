"""The deployer takes what the service is from its declaration: port, health contract,
compose service, identity (pure parts and the probe against a real ASGI app)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import JsonValue

from deploy.config import HealthPolicy, load_fleet, load_target
from deploy.host.health import probe
from deploy.identity import ContainerState, identity_problem, parse_state
from deploy.layout import compose_text, understand
from deploy.proxy import DEFAULT_COLOUR_PORTS, live_upstream, weighted_upstream
from shipyard.declaration import find_declaration, parse_declaration, read_declaration
from shipyard.errors import DeclarationError
from shipyard.health import body_mismatch
from tests.unit.deploy.test_config import GOOD
from tests.unit.deploy.test_layout import GUIDE

TEMPLATE = parse_declaration(
    'name = "backend"\nport = 80\n'
    '[health]\npath = "/api/v1/utils/health-check/"\nstatus = [200, 204]\nexpect = true\n'
    '[identity]\nsource = "revision-label"\n'
)
IMAGE_ID = "sha256:" + "a" * 64


def test_the_declaration_sets_port_health_and_service_defaults() -> None:
    target = load_target("staging", GOOD, TEMPLATE)
    assert target.app_port == 80
    assert target.service == "backend"
    assert target.health.port == 80  # <ENV>_HEALTH_PORT defaults to the declared port
    assert target.health.path == "/api/v1/utils/health-check/"
    assert target.health.statuses == (200, 204)
    assert target.health.expect is True
    assert target.health.identity == "revision-label"
    assert target.release.proxy_listen == "80"


def test_settings_still_win_over_the_declaration() -> None:
    environ = {**GOOD, "STAGING_HEALTH_PORT": "8080", "STAGING_SERVICE": "web",
               "STAGING_PROXY_LISTEN": "127.0.0.1:9000"}  # fmt: skip
    target = load_target("staging", environ, TEMPLATE)
    assert (target.health.port, target.service, target.release.proxy_listen) == (
        8080, "web", "127.0.0.1:9000")
    assert target.app_port == 80


def test_every_host_of_a_fleet_gets_the_declaration() -> None:
    environ = {key: value for key, value in GOOD.items() if key != "STAGING_HOST"}
    fleet = load_fleet("staging", {**environ, "STAGING_HOSTS": "web1,web2"}, TEMPLATE)
    assert [t.health.path for t in fleet.targets] == ["/api/v1/utils/health-check/"] * 2
    assert {t.app_port for t in fleet.targets} == {80}


def test_without_a_declaration_the_demo_defaults_hold() -> None:
    target = load_target("staging", GOOD)
    assert (target.app_port, target.health.port, target.health.path, target.service) == (
        8000, 8000, "/health", "api")
    assert target.health.expect == {"status": "ok"}


def test_a_bridge_layout_uses_the_declared_port() -> None:
    model = copy.deepcopy(GUIDE)
    model["services"]["backend"] = model["services"].pop("api")
    model["services"]["backend"]["ports"] = [{"target": 80, "published": "80"}]
    guide = understand(model, "/srv/app", app_port=80, service="backend")
    text = compose_text(guide, DEFAULT_COLOUR_PORTS)
    assert 'ports: ["80:80"]' in text  # the proxy stands in for the app on its port
    assert 'ports: ["127.0.0.1:8001:80"]' in text
    assert "PORT=80" in text
    assert ":8000" not in text


def test_a_layout_refuses_a_file_without_the_declared_service() -> None:
    with pytest.raises(Exception, match="expected exactly one service `backend`"):
        understand(GUIDE, "/srv/app", app_port=80, service="backend")


@pytest.mark.parametrize("render", [
    lambda: live_upstream("blue", host_network=False, ports=DEFAULT_COLOUR_PORTS, app_port=80),
    lambda: weighted_upstream("blue", {"blue": 90, "green": 10}, host_network=False,
                              ports=DEFAULT_COLOUR_PORTS, app_port=80),
])  # fmt: skip
def test_bridge_upstreams_reach_the_colours_on_the_declared_port(render: Any) -> None:
    text = render()
    assert "server api-blue:80 " in text
    assert ":8000" not in text


@pytest.mark.parametrize(("expect", "body", "ok"), [
    ({"status": "ok"}, {"status": "ok", "commit": "abc"}, True),
    ({"status": "ok"}, {"status": "down"}, False),
    ({"status": "ok"}, [1, 2], False),
    ({"status": "ok"}, {"state": "ok"}, False),
    (True, True, True),
    (True, 1, False),  # JSON 1 is not true
    (True, {"status": "ok"}, False),
    (1, 1.0, False),
    ({}, "anything", True),
    ({"db": {"ok": True}}, {"db": {"ok": True, "ms": 3}}, True),
    ({"db": {"ok": True}}, {"db": {"ok": False}}, False),
    ("pong", "pong", True),
    (None, None, True),
])  # fmt: skip
def test_a_body_matches_the_declared_expectation(expect: JsonValue, body: JsonValue,
                                                  ok: bool) -> None:  # fmt: skip
    assert (body_mismatch(expect, body) is None) is ok


def service(answer: JsonValue, status: int = 200) -> httpx.AsyncClient:
    app = FastAPI()

    @app.get("/api/v1/utils/health-check/", status_code=status)
    def health() -> JsonValue:
        return answer

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


POLICY = load_target("staging", GOOD, TEMPLATE).health
URL = "http://svc/api/v1/utils/health-check/"


@pytest.mark.anyio
@pytest.mark.parametrize(("answer", "status", "ok", "detail"), [
    (True, 200, True, "ok"),
    (False, 200, False, "answered false, not true"),
    (True, 503, False, "HTTP 503"),
])  # fmt: skip
async def test_the_probe_applies_the_declared_contract(
    answer: JsonValue, status: int, ok: bool, detail: str
) -> None:
    async with service(answer, status) as client:
        found = await probe(client, URL, POLICY, expect_commit="abc")
    assert (found.ok, found.detail) == (ok, detail)


@pytest.mark.anyio
async def test_identity_from_a_named_health_field() -> None:
    policy = HealthPolicy(path="/api/v1/utils/health-check/", expect={"ok": True},
                          identity_field="revision")  # fmt: skip
    async with service({"ok": True, "revision": "new"}) as client:
        assert (await probe(client, URL, policy, expect_commit="new")).ok
        found = await probe(client, URL, policy, expect_commit="other")
    assert found.detail == "answered by commit 'new', not ours"


STATE = ContainerState(running=True, restarts=0, image_id=IMAGE_ID)


@pytest.mark.parametrize(("state", "deployed", "label", "commit", "problem"), [
    (STATE, IMAGE_ID, "abc", "abc", None),
    (STATE, None, "abc", "abc", None),  # the deployed id unknown: the label still decides
    (STATE, IMAGE_ID, "abc", None, "has no org.opencontainers.image.revision label"),
    (None, IMAGE_ID, "abc", "abc", "could not be inspected"),
    (ContainerState(False, 0, IMAGE_ID), IMAGE_ID, "abc", "abc", "not running"),
    (ContainerState(True, 2, IMAGE_ID), IMAGE_ID, "abc", "abc", "restarted 2 time(s)"),
    (ContainerState(True, 0, "sha256:" + "b" * 64), IMAGE_ID, "abc", "abc", "runs image"),
    (STATE, IMAGE_ID, "old", "abc", "revision label is 'old', not the release's 'abc'"),
])  # fmt: skip
def test_identity_by_revision_label(
    state: ContainerState | None, deployed: str | None, label: str | None, commit: str | None,
    problem: str | None,
) -> None:
    found = identity_problem(state, deployed, label, commit)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(("output", "parsed"), [
    (f"true 0 {IMAGE_ID}\n", STATE),
    (f"false 3 {IMAGE_ID}", ContainerState(False, 3, IMAGE_ID)),
    ("", None),
    ("true x sha", None),
    ("Error: No such container: abc", None),
])  # fmt: skip
def test_container_state_parsing(output: str, parsed: ContainerState | None) -> None:
    assert parse_state(output) == parsed


def test_the_declaration_is_found_from_a_subfolder_up_to_the_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "shipyard.toml").write_text("port = 80\n")
    (tmp_path / "backend" / "app").mkdir(parents=True)
    found = find_declaration(tmp_path / "backend" / "app")
    assert found == (tmp_path / "shipyard.toml").resolve()
    assert read_declaration(found).port == 80
    outside = tmp_path / "other"
    (outside / ".git").mkdir(parents=True)
    assert find_declaration(outside) is None
    assert read_declaration(None).port == 8000


def test_a_bad_declaration_names_its_path(tmp_path: Path) -> None:
    (tmp_path / "shipyard.toml").write_text("port = 0\n")
    with pytest.raises(DeclarationError, match=rf"{tmp_path}/shipyard.toml: port:"):
        read_declaration(tmp_path / "shipyard.toml")
