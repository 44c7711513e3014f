"""`<ENV>_COLOUR_PORTS`: the setting, the proxy and layout text it produces, and reading a
layout's ports back (so a layout on other ports is refused)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.config import load_fleet, load_target
from deploy.errors import ConfigError
from deploy.layout import compose_text, layout_ports, ports_differ, understand
from deploy.proxy import (
    DEFAULT_COLOUR_PORTS,
    ColourPorts,
    live_upstream,
    parse_weights,
    upstream_address,
    weighted_upstream,
)
from tests.unit.deploy.test_config import GOOD
from tests.unit.deploy.test_layout import APP, GUIDE

BASE = {key: value for key, value in GOOD.items() if key != "STAGING_HOST"}
HOST_GUIDE = copy.deepcopy(GUIDE)
HOST_GUIDE["services"]["api"].update(network_mode="host", ports=[])


# -- the setting --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ports"), [
    (None, (8001, 8002)),
    ("8101/8102", (8101, 8102)),
    ("8101,8102", (8101, 8102)),
    (" 9002 / 9001 ", (9002, 9001)),
    ("1/65535", (1, 65535)),
])  # fmt: skip
def test_colour_ports_setting(value: str | None, ports: ColourPorts) -> None:
    environ = {**GOOD, "STAGING_COLOUR_PORTS": value} if value is not None else GOOD
    assert load_target("staging", environ).release.colour_ports == ports


@pytest.mark.parametrize(("value", "listen", "message"), [
    ("8101", "8000", "'8101' is not two ports: write BLUE/GREEN, each 1-65535, e.g. 8001/8002"),
    ("8101/8102/8103", "8000", "is not two ports"),
    ("8101/", "8000", "is not two ports"),
    ("0/8102", "8000", "is not two ports"),
    ("8101/65536", "8000", "is not two ports"),
    ("81O1/8102", "8000", "is not two ports"),
    ("8101/8101", "8000", "gives blue and green the same port"),
    ("8000/8001", "8000", "uses 8000, the proxy's port (STAGING_PROXY_LISTEN is '8000')"),
    ("8101/8120", "127.0.0.1:8120", "uses 8120, the proxy's port"),
])  # fmt: skip
def test_bad_colour_ports_name_the_variable_and_the_fix(
    value: str, listen: str, message: str
) -> None:
    environ = {**GOOD, "STAGING_COLOUR_PORTS": value, "STAGING_PROXY_LISTEN": listen}
    with pytest.raises(ConfigError, match=r"^STAGING_COLOUR_PORTS: ") as refused:
        load_target("staging", environ)
    assert message in str(refused.value)


def test_each_host_entry_may_set_its_colour_ports() -> None:
    hosts = ("h PROXY_LISTEN=8100 COLOUR_PORTS=8101/8102 APP_PATH=/a, "
             "h PROXY_LISTEN=8110 COLOUR_PORTS=8111/8112 APP_PATH=/b, h APP_PATH=/c")  # fmt: skip
    fleet = load_fleet("staging", {**BASE, "STAGING_HOSTS": hosts})
    assert [(t.app_path, t.release.proxy_listen, t.release.colour_ports) for t in fleet.targets] \
        == [("/a", "8100", (8101, 8102)), ("/b", "8110", (8111, 8112)),
            ("/c", "8000", (8001, 8002))]  # fmt: skip


@pytest.mark.parametrize(("hosts", "message"), [
    # a comma ends the entry: the entry sees one port, and the error says to write BLUE/GREEN
    ("h COLOUR_PORTS=8101,8102", "in the entry for h:2222: STAGING_COLOUR_PORTS: '8101' is "
     "not two ports: write BLUE/GREEN, each 1-65535, e.g. 8001/8002 (the default; in "
     "STAGING_HOSTS entries only BLUE/GREEN, since commas separate the hosts)."),
    ("h PROXY_LISTEN=8101 COLOUR_PORTS=8101/8102", "in the entry for h:2222: "
                                                   "STAGING_COLOUR_PORTS: '8101/8102' uses 8101"),
])  # fmt: skip
def test_a_bad_per_host_value_names_the_entry(hosts: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^STAGING_HOSTS: ") as refused:
        load_fleet("staging", {**BASE, "STAGING_HOSTS": hosts})
    assert message in str(refused.value)


@pytest.mark.parametrize(("hosts", "message"), [
    ("h APP_PATH=/a, h APP_PATH=/b", "the entries for /a and /b on h:2222 both use port 8000"),
    ("h APP_PATH=/a, h APP_PATH=/b PROXY_LISTEN=8100", "both use port 8001"),
    ("h APP_PATH=/a COLOUR_PORTS=8101/8102, h APP_PATH=/b PROXY_LISTEN=8101 "
     "COLOUR_PORTS=8111/8112", "both use port 8101"),
])  # fmt: skip
@pytest.mark.parametrize("strategy", [{"STAGING_STRATEGY": "blue-green"}, {}])  # {}: unset
def test_blue_green_entries_on_one_host_must_not_share_a_port(
    hosts: str, message: str, strategy: dict[str, str]
) -> None:
    environ = {**BASE, "STAGING_HOSTS": hosts, **strategy}  # unset: a first deploy sets them up
    with pytest.raises(ConfigError, match=r"^STAGING_HOSTS: ") as refused:
        load_fleet("staging", environ)
    assert message in str(refused.value)
    assert "give each entry its own PROXY_LISTEN and COLOUR_PORTS" in str(refused.value)
    assert "STAGING_STRATEGY=recreate keeps recreate" in str(refused.value)


@pytest.mark.parametrize(("hosts", "strategy"), [
    ("h APP_PATH=/a, h APP_PATH=/b PROXY_LISTEN=8100 COLOUR_PORTS=8101/8102", "blue-green"),
    ("h APP_PATH=/a, h:2200 APP_PATH=/b", "blue-green"),  # another sshd: another machine
    ("h APP_PATH=/a HEALTH_PORT=8101, h APP_PATH=/b HEALTH_PORT=8102", "recreate"),
])  # fmt: skip
def test_entries_that_do_not_share_ports(hosts: str, strategy: str) -> None:
    environ = {**BASE, "STAGING_HOSTS": hosts, "STAGING_STRATEGY": strategy}
    assert len(load_fleet("staging", environ).targets) == 2


# -- proxy text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("colour", "host_network", "ports", "address"), [
    ("blue", True, (8121, 8122), "127.0.0.1:8121"),
    ("green", True, (8121, 8122), "127.0.0.1:8122"),
    ("green", True, (9002, 9001), "127.0.0.1:9001"),
    ("blue", False, (8121, 8122), "api-blue:8000"),  # on a bridge nginx reaches the service
    ("green", True, DEFAULT_COLOUR_PORTS, "127.0.0.1:8002"),
])  # fmt: skip
def test_upstream_address(
    colour: str, host_network: bool, ports: ColourPorts, address: str
) -> None:
    assert upstream_address(colour, host_network=host_network, ports=ports) == address


def test_live_upstream_on_chosen_ports_is_exact() -> None:
    assert live_upstream("green", host_network=True, ports=(8121, 8122)) == (
        "# Written by the deployer: green serves. Swapped atomically at each switch.\n"
        'map $host $shipyard_colour { default "green"; }\n'
        "upstream shipyard_live {\n"
        "    server 127.0.0.1:8122 max_fails=0;\n"
        "}\n"
    )


def test_weighted_upstream_on_chosen_ports_is_exact() -> None:
    text = weighted_upstream("blue", {"blue": 90, "green": 10}, host_network=True,
                             ports=(8121, 8122))  # fmt: skip
    assert text == (
        "# Written by the deployer: a canary; blue is stable. Weights in percent.\n"
        'map $upstream_addr $shipyard_colour { default "blue";'
        ' "~(^|\\s)127\\.0\\.0\\.1:8121$" "blue"; "~(^|\\s)127\\.0\\.0\\.1:8122$" "green"; }\n'
        "upstream shipyard_live {\n"
        "    server 127.0.0.1:8121 weight=90 max_fails=0;\n"
        "    server 127.0.0.1:8122 weight=10 max_fails=0;\n"
        "}\n"
    )
    assert parse_weights(text, (8121, 8122)) == {"blue": 90, "green": 10}
    assert parse_weights(text, DEFAULT_COLOUR_PORTS) == {"blue": 0, "green": 0}  # not its ports


# -- layout text, and reading its ports back --------------------------------------------------


@pytest.mark.parametrize(("model", "ports", "lines"), [
    (HOST_GUIDE, (8121, 8122), ['"PORT=8121"]', '"PORT=8122"]']),
    (GUIDE, (8121, 8122), ['    ports: ["127.0.0.1:8121:8000"]',
                           '    ports: ["127.0.0.1:8122:8000"]']),
])  # fmt: skip
def test_layout_gives_each_colour_its_chosen_port(
    model: dict[str, Any], ports: ColourPorts, lines: list[str]
) -> None:
    text = compose_text(understand(model, APP), ports)
    found = [line for line in text.splitlines() if any(line.endswith(want) for want in lines)]
    assert len(found) == 2
    assert found[0].endswith(lines[0])
    assert found[1].endswith(lines[1])
    assert "8001" not in text
    assert "8002" not in text


@given(st.sampled_from([GUIDE, HOST_GUIDE]),
       st.tuples(st.integers(1, 65535), st.integers(1, 65535)).filter(lambda p: p[0] != p[1]))
def test_a_layout_s_ports_read_back(model: dict[str, Any], ports: ColourPorts) -> None:
    assert layout_ports(compose_text(understand(model, APP), ports)) == ports


def test_dict_environment_reads_back() -> None:
    model = copy.deepcopy(HOST_GUIDE)
    model["services"]["api"]["environment"] = {"ENVIRONMENT": "production", "PORT": "9"}
    assert layout_ports(compose_text(understand(model, APP), (8121, 8122))) == (8121, 8122)


@pytest.mark.parametrize("text", [
    None,
    "",
    "services:\n  api:\n    image: x\n",  # the guide's file: not a layout
    "# shipyard blue-green layout: hand-edited\nservices:\n  api-blue:\n    image: x\n",
])  # fmt: skip
def test_a_file_that_is_not_a_layout_has_no_ports(text: str | None) -> None:
    assert layout_ports(text) is None


def test_a_layout_on_other_ports_is_refused_with_both_ways_out() -> None:
    assert ports_differ("STAGING", "/srv/app", (8001, 8002), (8121, 8122)) == (
        "/srv/app/docker-compose.yml runs blue and green on 8001/8002 (written by init), but "
        "STAGING_COLOUR_PORTS asks for 8121/8122. Set STAGING_COLOUR_PORTS=8001/8002 to deploy "
        "this folder as it is laid out; to move it to 8121/8122, change the colours' ports in "
        "docker-compose.yml and proxy/conf/live.upstream by hand (the serving colour restarts)."
    )
