"""init's pure part: the guide's compose model → the blue-green compose file, or a refusal."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.errors import InitRefused
from deploy.layout import (
    GuideService,
    compose_text,
    is_blue_green,
    proxy_port_to_check,
    understand,
)
from deploy.proxy import DEFAULT_COLOUR_PORTS

APP = "/srv/app"
GUIDE: dict[str, Any] = {  # `docker compose config --no-interpolate --format json`, trimmed
    "name": "app",
    "services": {
        "api": {
            "environment": ["ENVIRONMENT=${ENV:-production}", "HOST=${APP_HOST:-0.0.0.0}"],
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s"},
            "image": "${REGISTRY:-ghcr.io}/${REPOSITORY_OWNER:-acout}/app:${IMAGE_TAG:-latest}",
            "ports": [{"mode": "ingress", "target": 8000, "published": "8000",
                       "protocol": "tcp"}],
            "restart": "always",
            "volumes": [{"type": "bind", "source": "/srv/app/data", "target": "/app/data",
                         "bind": {"create_host_path": True}}],
        }
    },
}

PORTS = DEFAULT_COLOUR_PORTS


def guide(**changes: Any) -> dict[str, Any]:
    model = copy.deepcopy(GUIDE)
    model["services"]["api"].update(changes)
    return model


def test_bridge_layout_is_exact() -> None:
    text = compose_text(understand(GUIDE, APP), PORTS)
    assert text.splitlines()[4:] == [
        "  proxy:",
        '    image: "${PROXY_IMAGE:-nginx:1.28.0}"',
        '    restart: "always"',
        '    volumes: ["./proxy/conf:/etc/nginx/conf.d:ro", "./proxy/logs:/var/log/shipyard"]',
        '    ports: ["8000:8000"]',
        "  api-blue:",
        '    image: "${REGISTRY:-ghcr.io}/${REPOSITORY_OWNER:-acout}/app:${BLUE_TAG:-latest}"',
        '    restart: "always"',
        '    environment: ["ENVIRONMENT=${ENV:-production}", "HOST=${APP_HOST:-0.0.0.0}", '
        '"PORT=8000"]',
        '    volumes: [{"type": "bind", "source": "./data", "target": "/app/data", '
        '"bind": {"create_host_path": true}}]',
        '    ports: ["127.0.0.1:8001:8000"]',
        "  api-green:",
        '    image: "${REGISTRY:-ghcr.io}/${REPOSITORY_OWNER:-acout}/app:${GREEN_TAG:-latest}"',
        '    restart: "always"',
        '    environment: ["ENVIRONMENT=${ENV:-production}", "HOST=${APP_HOST:-0.0.0.0}", '
        '"PORT=8000"]',
        '    volumes: [{"type": "bind", "source": "./data", "target": "/app/data", '
        '"bind": {"create_host_path": true}}]',
        '    ports: ["127.0.0.1:8002:8000"]',
    ]


def test_host_network_layout_gives_each_colour_its_port() -> None:
    text = compose_text(understand(guide(network_mode="host", ports=[]), APP), PORTS)
    assert text.count('network_mode: "host"') == 3
    assert '"PORT=8001"' in text
    assert '"PORT=8002"' in text
    assert "ports:" not in text


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ({"services": {**GUIDE["services"], "db": {"image": "postgres"}}},
         "expected exactly one service `api`, found ['api', 'db']"),
        (guide(build="."), "`api` uses keys this layout does not carry: build"),
        (guide(image="ghcr.io/acout/app:v1"), "`api.image` must use ${IMAGE_TAG} once"),
        (guide(ports=[]), "must publish exactly one port (or use host networking)"),
        ({"services": {"web": {"image": "x:${IMAGE_TAG}"}}}, "found ['web']"),
        (guide(networks={"default": None, "backend": None}),
         "`api` joins networks this layout does not carry: backend"),
    ],
)
def test_files_it_does_not_understand_are_refused(model: dict[str, Any], problem: str) -> None:
    with pytest.raises(InitRefused, match="init changed nothing") as refused:
        understand(model, APP)
    assert problem in str(refused.value)


def test_a_blue_green_file_is_recognised() -> None:
    assert not is_blue_green(GUIDE)
    services: dict[str, Any] = {name: {} for name in ("proxy", "api-blue", "api-green")}
    assert is_blue_green({"services": services})


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
@pytest.mark.parametrize("model", [GUIDE, guide(network_mode="host", ports=[])])
def test_docker_compose_reads_the_layout_back(model: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "docker-compose.yml").write_text(compose_text(understand(model, APP), PORTS))
    done = subprocess.run(
        ["docker", "compose", "config", "--no-interpolate", "--format", "json"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0 and "is not a docker command" in done.stderr:
        pytest.skip("docker compose v2 is not installed")
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    assert is_blue_green(parsed)
    assert parsed["services"]["api-green"]["image"].endswith("${GREEN_TAG:-latest}")


HARDENING = {"user": "10001:10001", "security_opt": ["no-new-privileges:true"],
             "cap_drop": ["ALL"], "read_only": True, "tmpfs": ["/tmp"]}  # fmt: skip


def compose_json(folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["docker", "compose", "config", "--no-interpolate", "--format", "json"],
        cwd=folder, capture_output=True, text=True, check=False,
    )
    if done.returncode != 0 and "is not a docker command" in done.stderr:
        pytest.skip("docker compose v2 is not installed")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_hardening_keys_are_carried_to_both_colours() -> None:
    text = compose_text(understand(guide(**HARDENING), APP), PORTS)
    for colour in ("blue", "green"):
        block = text.split(f"  api-{colour}:\n", 1)[1].split("\n  api-", 1)[0]
        for key, value in HARDENING.items():
            assert f"    {key}: {json.dumps(value)}\n" in block


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_the_shipped_compose_file_is_hardened_and_init_understands_it(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[3] / "docker-compose.yml"
    shutil.copyfile(shipped, tmp_path / "docker-compose.yml")
    api = compose_json(tmp_path)["services"]["api"]
    assert {key: api.get(key) for key in HARDENING} == HARDENING
    (tmp_path / "docker-compose.yml").write_text(
        compose_text(understand(compose_json(tmp_path), str(tmp_path)), PORTS))
    colours = compose_json(tmp_path)["services"]
    for colour in ("api-blue", "api-green"):
        assert {key: colours[colour].get(key) for key in HARDENING} == HARDENING


@pytest.mark.parametrize(("host_network", "public", "listen", "running", "port"), [
    (True, 8000, "127.0.0.1:8000", False, 8000),  # nothing runs: anything on 8000 is another's
    (True, 8000, "127.0.0.1:8000", True, None),  # the guide's container holds it: handed over
    (True, 8000, "127.0.0.1:8100", True, 8100),  # the proxy moves to a port nobody hands over
    (True, 8000, "8100", False, 8100),
    (False, 80, "8000", True, None),  # bridge: the proxy publishes the guide's public port
    (False, 80, "8000", False, 80),
])  # fmt: skip
def test_the_proxy_port_init_checks_first(
    host_network: bool, public: int, listen: str, running: bool, port: int | None
) -> None:
    guide = GuideService("img:${IMAGE_TAG}", host_network, public, ())
    assert proxy_port_to_check(guide, listen, running=running) == port
