"""Pure parts of the deployer's hardening: service setting, pins, logs, modes, CLI output."""

from __future__ import annotations

import argparse
import io
import json
import re

import asyncssh
import pytest

from deploy import commands as cmd
from deploy.cli.main import build_parser
from deploy.cli.views import RESULT_SCHEMA, HealthProgress, history_table, result_json
from deploy.config import load_target
from deploy.errors import ConfigError, InvalidInput
from deploy.host.health import Probe, Progress, passes_in_a_row
from deploy.host.pinning import judge_pin, split_pin
from deploy.host.ssh import kept_mode
from deploy.ledger import Kind, Outcome, Release, parse_ledger
from tests.unit.deploy.test_config import GOOD

V1 = "sha256:" + "1" * 64
V3 = "sha256:" + "3" * 64


@pytest.mark.parametrize(("value", "service"), [(None, "api"), ("web", "web"),
                                                ("api_2.x-y", "api_2.x-y")])  # fmt: skip
def test_the_service_setting(value: str | None, service: str) -> None:
    environ = {**GOOD, **({"STAGING_SERVICE": value} if value else {})}
    assert load_target("staging", environ).service == service


@pytest.mark.parametrize("value", ["Api", "api;rm", "-api", "a" * 64, "api b", "٣"])
def test_a_bad_service_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match=r"STAGING_SERVICE: .* is not a compose service name"):
        load_target("staging", {**GOOD, "STAGING_SERVICE": value})


@pytest.mark.parametrize(
    ("image", "split"),
    [
        ("r:5000/o/app:v3@" + V1, ("r:5000/o/app:v3", V1)),
        ("r:5000/o/app@" + V1, None),  # a digest alone: nothing to disagree with
        ("r:5000/o/app:v3", None),
    ],
)
def test_split_pin(image: str, split: tuple[str, str] | None) -> None:
    assert split_pin(image) == split


PULL_OK = "v3: Pulling from o/app\nDigest: {}\nStatus: Image is up to date for r/o/app:v3\n"


def test_a_pin_the_tag_agrees_with_passes() -> None:
    check = judge_pin(V3, "r/o/app:v3", 0, PULL_OK.format(V3))
    assert (check.agreed, check.registry_digest, check.warning) == (True, V3, None)


@pytest.mark.parametrize(
    ("status", "output", "message"),
    [
        (0, PULL_OK.format(V3), f"r/o/app:v3 is {V3} in the registry, not the pinned {V1}"),
        (1, "Error response from daemon: manifest for r/o/app:v3 not found: manifest unknown",
         "does not exist in the registry"),
    ],
)
def test_a_pin_the_registry_contradicts_is_refused(status: int, output: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        judge_pin(V1, "r/o/app:v3", status, output)


def test_a_pin_the_registry_cannot_confirm_is_a_warning() -> None:
    output = 'Error response from daemon: Get "http://127.0.0.1:5999/v2/": connection refused'
    check = judge_pin(V1, "r/o/app:v3", 1, output)
    assert not check.agreed
    assert check.warning is not None
    assert f"recorded as {V1}, the digest that runs" in check.warning


def test_container_logs_is_docker_logs_only() -> None:
    command = cmd.container_logs("abc123", 20)
    assert command.argv == ("sh", "-c", 'exec docker logs --tail "$1" "$2" 2>&1', "logs",
                            "20", "abc123")  # fmt: skip
    assert "--follow" in cmd.container_logs("abc123", 5, follow=True).argv[2]
    assert not {"env", "inspect"} & set(" ".join(command.argv).split())


@pytest.mark.parametrize(
    ("output", "lines", "tail"),
    [
        ("a\nb\n\nc\n", 2, ("b", "c")),
        ("a\n", 5, ("a",)),
        ("", 3, ()),
        ("a\nb\n", 0, ()),
        ("x" * 500 + "\n", 1, ("x" * 300,)),
    ],
)
def test_log_tail(output: str, lines: int, tail: tuple[str, ...]) -> None:
    assert cmd.log_tail(output, lines) == tail


@pytest.mark.parametrize(
    ("permissions", "mode", "kept"),
    [(None, 0o600, 0o600), (0o100600, 0o644, 0o600), (0o100640, 0o600, 0o640),
     (0o104755, 0o600, 0o4755)],
)
def test_kept_mode(permissions: int | None, mode: int, kept: int) -> None:
    before = None if permissions is None else asyncssh.SFTPAttrs(permissions=permissions)
    assert kept_mode(before, mode) == kept


def test_the_log_tail_is_kept_in_the_ledger() -> None:
    release = Release(id="a1", kind=Kind.DEPLOY, tag="v2", image="i", digest=None,
                      outcome=Outcome.FAILED, started_at="t", finished_at="t", deployed_by="me",
                      log_tail=("Traceback", "boom"))  # fmt: skip
    assert parse_ledger(release.to_line())[0].log_tail == ("Traceback", "boom")


@pytest.mark.parametrize(
    ("results", "count"), [([], 0), ([True], 1), ([True, False], 0), ([False, True, True], 2)]
)
def test_passes_in_a_row(results: list[bool], count: int) -> None:
    assert passes_in_a_row(results) == count


def progress(seconds: float, done: bool = False) -> Progress:
    return Progress(7, 1, 3, seconds, 60.0, Probe(ok=False, detail="HTTP 503"), done)


def test_health_progress_in_a_log_is_a_line_now_and_then() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    show = HealthProgress(Console(file=buffer, force_terminal=False, width=200))
    for seconds in (1.0, 2.0, 10.0, 12.0, 20.5, 21.0):
        show(progress(seconds))
    show(progress(22.0, done=True))
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "· health: 1/3 passes in a row after 7 probes, 10s of 60s; last answer: HTTP 503",
        "· health: 1/3 passes in a row after 7 probes, 20s of 60s; last answer: HTTP 503",
    ]


def test_result_json_has_one_schema() -> None:
    data = result_json("lock", "staging", ok=False, error="held")
    assert data == {"schema": RESULT_SCHEMA, "command": "lock", "environment": "staging",
                    "ok": False, "error": "held", "release": None, "lock": None}  # fmt: skip
    json.dumps(data)


def test_history_table_has_a_row_per_attempt() -> None:
    from rich.console import Console

    release = Release(id="a1", kind=Kind.DEPLOY, tag="v2", image="i", digest=None,
                      outcome=Outcome.HEALTHY, started_at="2026-11-26T10:00:00+00:00",
                      finished_at="t", deployed_by="me", phases=(("pull", 1.5),))  # fmt: skip
    buffer = io.StringIO()
    Console(file=buffer, width=200).print(history_table([release, release]))
    text = buffer.getvalue()
    assert text.count("2026-11-26T10:00:00+00:00") == 2
    assert "pull 1.50s" in text


def test_every_flag_has_help_and_the_program_is_named() -> None:
    parser = build_parser("shipyard-deploy")
    assert parser.format_usage().startswith("usage: shipyard-deploy")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help"
    for command in ("up", "rollback", "lock", "unlock"):
        assert "--json" in subparsers.choices[command].format_help()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser("shipyard-deploy").parse_args(["--version"])
    assert done.value.code == 0
    assert re.fullmatch(r"shipyard-deploy \S+\n", capsys.readouterr().out)


def test_json_reports_a_refusal_before_any_connection(capsys: pytest.CaptureFixture[str]) -> None:
    from deploy.cli.main import main

    assert main(["staging", "lock", "--json"], {**GOOD, "STAGING_SERVICE": "Bad"}) == 2
    result = json.loads(capsys.readouterr().out)
    assert (result["schema"], result["command"], result["ok"]) == (RESULT_SCHEMA, "lock", False)
    assert "STAGING_SERVICE" in result["error"]
