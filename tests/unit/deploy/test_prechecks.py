"""Pre-switch checks: shipyard.toml's [[smoke.checks]] judged as a table, and run against a
real server on 127.0.0.1 (the new colour's port, before any user request reaches it)."""

from __future__ import annotations

import os
import sys

import pytest

from deploy.config import load_target
from deploy.host.health import run_checks, run_smoke_command
from shipyard.declaration import Check, parse_declaration
from shipyard.health import check_problem
from tests.unit.deploy.test_config import GOOD
from tests.unit.loadtest_targets import stub_server


@pytest.mark.parametrize(("check", "status", "text", "problem"), [
    (Check(path="/items"), 200, "[]", None),
    (Check(path="/items"), 500, "boom", "GET /items answered HTTP 500, not 200: 'boom'"),
    (Check(path="/items", status=[200, 401]), 401, "", None),
    (Check(path="/items", method="POST", status=[201]), 200, "",
     "POST /items answered HTTP 200, not 201"),
    (Check(path="/docs", contains="swagger-ui"), 200, "<html>swagger-ui</html>", None),
    (Check(path="/docs", contains="swagger-ui"), 200, "<html></html>",
     "GET /docs answered without 'swagger-ui'"),
    (Check(path="/v", expect={"version": "v2"}), 200, '{"version": "v2", "x": 1}', None),
    (Check(path="/v", expect={"version": "v2"}), 200, '{"version": "v1"}',
     'GET /v answered "version": "v1", not "v2"'),
    (Check(path="/v", expect={"version": "v2"}), 200, "plain", "GET /v did not answer JSON"),
    (Check(path="/ok", expect=True), 200, "true", None),
])  # fmt: skip
def test_a_check_judges_status_text_and_json(
    check: Check, status: int, text: str, problem: str | None
) -> None:
    found = check_problem(check, status, text)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)


def test_the_declared_checks_reach_every_target() -> None:
    declared = parse_declaration('[[smoke.checks]]\npath = "/version"\n'
                                 '[[smoke.checks]]\npath = "/docs"\ncontains = "swagger"\n')
    target = load_target("staging", GOOD, declared)
    assert [check.path for check in target.checks] == ["/version", "/docs"]
    assert load_target("staging", GOOD).checks == ()


@pytest.mark.anyio
async def test_passing_checks_return_nothing() -> None:
    with stub_server(body=b'{"status": "ok", "version": "v2"}') as url:
        found = await run_checks(url, [Check(path="/health"),
                                                Check(path="/version", expect={"version": "v2"})])
    assert found is None


@pytest.mark.anyio
async def test_the_first_failing_check_is_named_with_its_answer_and_time() -> None:
    checks = [Check(path="/health"), Check(path="/items", status=[201]), Check(path="/never")]
    with stub_server(status=500, body=b"broken on purpose") as url:
        found = await run_checks(url, checks)
    assert found is not None
    assert found.check.path == "/health"
    assert found.problem == "GET /health answered HTTP 500, not 200: 'broken on purpose'"
    assert 0 <= found.seconds < 5
    assert found.line().startswith("pre-switch check failed: GET /health answered HTTP 500")


@pytest.mark.anyio
async def test_nothing_listening_is_a_failed_check() -> None:
    with stub_server() as url:
        pass  # the port was just released
    found = await run_checks(url, [Check(path="/health")])
    assert found is not None
    assert found.problem == "GET /health got no answer (ConnectError)"


SMOKE = ("import os, sys, urllib.request\n"
         "print('secret seen' if 'STAGING_SSH_KEY' in os.environ else 'no secret')\n"
         "answer = urllib.request.urlopen(os.environ['SMOKE_BASE_URL'] + '/health').read()\n"
         "sys.exit(0 if b'ok' in answer else 3)\n")  # fmt: skip


@pytest.mark.anyio
async def test_the_smoke_command_gets_the_base_url_and_no_secret() -> None:
    environ = {"PATH": os.environ["PATH"], "STAGING_SSH_KEY": "-----BEGIN secret"}
    with stub_server() as url:
        assert await run_smoke_command((sys.executable, "-c", SMOKE), url,
                                       environ=environ) is None  # fmt: skip
        failing = (sys.executable, "-c", SMOKE.replace("b'ok'", "b'never'"))
        problem = await run_smoke_command(failing, url, environ=environ)
    assert problem is not None
    assert " exited 3 after " in problem
    assert problem.rsplit(": ", 1)[-1] == "no secret"  # its output: the key never reached it


@pytest.mark.anyio
async def test_a_smoke_command_that_cannot_start_is_a_failure() -> None:
    problem = await run_smoke_command(("/nonexistent/pytest",), "http://127.0.0.1:9",
                                      environ={})  # fmt: skip
    assert problem is not None
    assert problem.startswith("`/nonexistent/pytest` could not start")


def test_the_declared_smoke_command_reaches_the_target() -> None:
    declared = parse_declaration('[smoke]\ncommand = ["pytest", "smoke/"]\n')
    assert load_target("staging", GOOD, declared).smoke_command == ("pytest", "smoke/")
