"""Commands as data: exact argv, the one quoting step, and output parsers."""

from __future__ import annotations

import json
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy import commands as cmd
from deploy.commands import Command, shell_line

V2, V1 = cmd.COMPOSE_V2, cmd.COMPOSE_V1


@pytest.mark.parametrize(
    ("command", "argv", "cwd", "env"),
    [
        (cmd.compose_pull(V2, "/srv/app", "v1"), ("docker", "compose", "pull", "api"),
         "/srv/app", (("IMAGE_TAG", "v1"),)),
        (cmd.compose_pull(V1, "/srv/app", "v1"), ("docker-compose", "pull", "api"),
         "/srv/app", (("IMAGE_TAG", "v1"),)),
        (cmd.compose_up(V2, "/srv/app"),
         ("docker", "compose", "up", "-d", "--remove-orphans", "api"), "/srv/app", ()),
        (cmd.compose_config_json(V1, "/a", "v2", "IMAGE_TAG"),
         ("docker-compose", "config", "--format", "json"), "/a", (("IMAGE_TAG", "v2"),)),
        (cmd.compose_up(V2, "/a", None, "web"),
         ("docker", "compose", "up", "-d", "--remove-orphans", "web"), "/a", ()),
        (cmd.compose_container_id(V2, "/a", "web"), ("docker", "compose", "ps", "-q", "web"),
         "/a", ()),
        (cmd.compose_container_id(V2, "/a"), ("docker", "compose", "ps", "-q", "api"), "/a", ()),
        (cmd.compose_version(V1), ("docker-compose", "version", "--short"), None, ()),
        (cmd.compose_pull(V2, "/a", "v2", "api-green", "GREEN_TAG"),
         ("docker", "compose", "pull", "api-green"), "/a", (("GREEN_TAG", "v2"),)),
        (cmd.compose_start(V2, "/a", "api-blue"),
         ("docker", "compose", "up", "-d", "--no-deps", "api-blue"), "/a", ()),
        (cmd.compose_stop(V2, "/a", "api-blue", 30),
         ("docker", "compose", "stop", "--timeout", "30", "api-blue"), "/a", ()),
        (cmd.compose_model(V2, "/a"),
         ("docker", "compose", "config", "--no-interpolate", "--format", "json"), "/a", ()),
        (cmd.compose_states(V2, "/a"),
         ("docker", "compose", "ps", "--all", "--format", "json"), "/a", ()),
        (cmd.proxy_switch("c0ffee"),
         ("docker", "exec", "c0ffee", "sh", "-c",
          "i=0; while [ ! -s /run/nginx.pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); "
          "done; nginx -t -q || exit 3; exec nginx -s reload"), None, ()),
        (cmd.read_from("/a/proxy/logs/access.log", 10),
         ("tail", "-c", "+11", "/a/proxy/logs/access.log"), None, ()),
        (cmd.container_image("abc"),
         ("docker", "inspect", "--format", "{{.Config.Image}}", "abc"), None, ()),
        (cmd.image_repo_digests("r/app:v1"),
         ("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", "r/app:v1"), None,
         ()),
    ],
)
def test_exact_argv(
    command: Command, argv: tuple[str, ...], cwd: str | None, env: tuple[tuple[str, str], ...]
) -> None:
    assert (command.argv, command.cwd, command.env) == (argv, cwd, env)


def test_rollback_switch_bounds_the_stop_of_the_failed_release() -> None:
    assert cmd.compose_up(V1, "/a", 2).argv == (
        "docker-compose", "up", "-d", "--remove-orphans", "--timeout", "2", "api",
    )


def test_switch_survives_a_dropped_connection() -> None:
    line = shell_line(cmd.compose_up(V2, "/srv/my app"))
    assert line == (
        "cd '/srv/my app' && setsid -w docker compose up -d --remove-orphans api "
        "</dev/null >.deploy/switch.log 2>&1"
    )


def test_env_goes_through_env_not_the_shell() -> None:
    line = shell_line(cmd.compose_pull(V2, "/a", "v1"))
    assert line == "cd /a && env IMAGE_TAG=v1 docker compose pull api"


@given(st.lists(st.text(min_size=1).filter(lambda s: "\x00" not in s), min_size=1, max_size=5))
def test_quoting_round_trips_any_word(words: list[str]) -> None:
    assert shlex.split(shell_line(Command(tuple(words)))) == words


ADMINER_FIRST = json.dumps({"services": {
    "adminer": {"image": "adminer:4"},
    "api": {"image": "127.0.0.1:5000/shipyard/app:v1"},
    "web": {"image": "ghcr.io/acout/x:staging"},
}})


@pytest.mark.parametrize(
    ("config", "service", "image"),
    [
        (ADMINER_FIRST, "api", "127.0.0.1:5000/shipyard/app:v1"),  # not the first service's
        (ADMINER_FIRST, "web", "ghcr.io/acout/x:staging"),
        (ADMINER_FIRST, "adminer", "adminer:4"),
    ],
)
def test_parse_service_image_reads_the_named_service(
    config: str, service: str, image: str
) -> None:
    assert cmd.parse_service_image(config, service) == image


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ADMINER_FIRST.replace('"api"', '"app"'), r"no service 'api'.*adminer, app, web"),
        ('{"services": {"api": {"build": "."}}}', "no service 'api' with an image"),
        ("services:\n  api: {}\n", "printed no JSON"),
        ("[]", "no service 'api'"),
    ],
)
def test_parse_service_image_names_what_is_missing(config: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cmd.parse_service_image(config, "api")


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("output", "image", "digest"),
    [
        (f'["127.0.0.1:5000/shipyard/app@{DIGEST}"]', "127.0.0.1:5000/shipyard/app:v1", DIGEST),
        (f'["127.0.0.1:5000/shipyard/app@{DIGEST}"]', "127.0.0.1:5000/shipyard/app", DIGEST),
        (f'["other/app@{DIGEST}"]', "127.0.0.1:5000/shipyard/app:v1", None),
        ("[]", "x/app:v1", None),
        ("null", "x/app:v1", None),
        ("garbage", "x/app:v1", None),
    ],
)
def test_parse_repo_digest(output: str, image: str, digest: str | None) -> None:
    assert cmd.parse_repo_digest(output, image) == digest


def test_set_env_value_keeps_other_lines() -> None:
    text = "# comment\nREGISTRY=127.0.0.1:5000\nIMAGE_TAG=v1\nENV=staging\n"
    assert cmd.set_env_value(text, "IMAGE_TAG", "v2") == (
        "# comment\nREGISTRY=127.0.0.1:5000\nIMAGE_TAG=v2\nENV=staging\n"
    )
    assert cmd.set_env_value("A=1", "IMAGE_TAG", "v1") == "A=1\nIMAGE_TAG=v1\n"
    assert cmd.parse_env_file(cmd.set_env_value("", "IMAGE_TAG", "v3")) == {"IMAGE_TAG": "v3"}


@pytest.mark.parametrize(
    "output",
    [
        '{"Service":"api-blue","State":"running","Image":"r/app:v1","ID":"b1"}\n'
        '{"Service":"proxy","State":"exited","Image":"nginx","ID":"p1"}\n',
        '[{"Service":"api-blue","State":"running","Image":"r/app:v1","ID":"b1"},'
        '{"Service":"proxy","State":"exited","Image":"nginx","ID":"p1"}]',
    ],
)
def test_compose_states_in_both_output_shapes(output: str) -> None:
    states = cmd.parse_compose_states(output)
    assert states == {
        "api-blue": cmd.ContainerState("api-blue", "running", "r/app:v1", "b1"),
        "proxy": cmd.ContainerState("proxy", "exited", "nginx", "p1"),
    }
    assert cmd.parse_compose_states("") == {}


def test_service_image_from_config_json() -> None:
    config = '{"services": {"api-blue": {"image": "r/app:v1"}, "api-green": {"image": "r/app:v2"}}}'
    assert cmd.parse_service_image(config, "api-green") == "r/app:v2"
    with pytest.raises(ValueError, match="proxy"):
        cmd.parse_service_image(config, "proxy")


def test_the_switch_log_lines_survive_a_cut() -> None:
    assert shell_line(cmd.compose_stop(V2, "/a", "api-blue", 2)) == (
        "cd /a && setsid -w docker compose stop --timeout 2 api-blue </dev/null "
        ">.deploy/drain.log 2>&1"
    )
