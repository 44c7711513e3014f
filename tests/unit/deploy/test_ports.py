"""Who holds the proxy's port (deploy/ports.py): recorded output in, parsed value out."""

from __future__ import annotations

import pytest

from deploy import ports
from deploy.commands import shell_line
from deploy.ports import Listener

NGINX = """\
nginx: [emerg] bind() to 127.0.0.1:8129 failed (98: Address already in use)
nginx: [emerg] bind() to 127.0.0.1:8129 failed (98: Address already in use)
nginx: [emerg] still could not bind()
"""  # recorded from the rig's Debian nginx with 127.0.0.1:8129 held by a python3 listener
ID = "b259b06dcf4ca8ef6d6deace1093998a8ad4cacbaeae394c27499ada59061eda"


@pytest.mark.parametrize(("log", "address"), [
    (NGINX, "127.0.0.1:8129"),
    ("nginx: [emerg] bind() to [::]:80 failed (98: Address already in use)", "[::]:80"),
    ("nginx: [emerg] bind() to 0.0.0.0:8000 failed (98: Address in use)", None),
    ("Error response from daemon: driver failed programming external connectivity on endpoint "
     "app-proxy-1: Bind for 0.0.0.0:8000 failed: port is already allocated", "0.0.0.0:8000"),
    ("Error starting userland proxy: listen tcp4 0.0.0.0:8000: bind: address already in use",
     "0.0.0.0:8000"),
    ('nginx: [emerg] unknown directive "thisisnotnginx" in /etc/nginx/conf.d/live.upstream:1',
     None),  # a config nginx refuses is not a taken port
    ("", None),
])  # fmt: skip
def test_the_address_a_proxy_could_not_bind(log: str, address: str | None) -> None:
    assert ports.bind_failure(log) == address


@pytest.mark.parametrize(("address", "port"), [
    ("127.0.0.1:8000", 8000), ("[::]:80", 80), ("8120", 8120), ("0.0.0.0:x", None),
])  # fmt: skip
def test_port_of(address: str, port: int | None) -> None:
    assert ports.port_of(address) == port


@pytest.mark.parametrize(("output", "listeners"), [
    ('LISTEN 0      128    127.0.0.1:8129 0.0.0.0:* users:(("python3",pid=909,fd=3))\n',
     (Listener("127.0.0.1:8129", "python3", 909),)),  # recorded: the holder is the SSH user's
    ("LISTEN 0      511    127.0.0.1:8000 0.0.0.0:*\n",
     (Listener("127.0.0.1:8000"),)),  # another user's process: ss shows no `users:`
    ('LISTEN 0 4096 [::]:8000 [::]:* users:(("docker-proxy",pid=77,fd=4),("x",pid=78,fd=4))\n'
     "LISTEN 0 4096 0.0.0.0:8000 0.0.0.0:*\n",
     (Listener("[::]:8000", "docker-proxy", 77), Listener("0.0.0.0:8000"))),
    ("", ()),
    ("State Recv-Q\n", ()),
])  # fmt: skip
def test_ss_listeners(output: str, listeners: tuple[Listener, ...]) -> None:
    assert ports.parse_listeners(output) == listeners


@pytest.mark.parametrize(("cgroup", "container"), [
    (f"12:pids:/docker/{ID}\n0::/docker/{ID}\n", ID),  # v1 (recorded on the rig)
    (f"0::/system.slice/docker-{ID}.scope\n", ID),  # v2 with systemd
    ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
    ("", None),
])  # fmt: skip
def test_the_container_of_a_process(cgroup: str, container: str | None) -> None:
    assert ports.parse_container_id(cgroup) == container


def test_commands_are_argv() -> None:
    assert ports.listeners_on(8000).argv == ("ss", "-H", "-l", "-t", "-n", "-p", "sport = :8000")
    assert shell_line(ports.published_on(8000)) == (
        "docker ps --filter publish=8000 --format '{{.Names}}'")
    assert ports.cgroup_of(9).argv == ("cat", "/proc/9/cgroup")


def test_holders_in_words() -> None:
    listeners = (Listener("127.0.0.1:8000", "python3", 9), Listener("0.0.0.0:8000"),
                 Listener("[::]:8000", "nginx", 12))  # fmt: skip
    assert ports.holders(("web-1",), listeners, {12: "other-proxy-1"}) == (
        "container web-1", "python3 (pid 9)", "nginx (pid 12) in container other-proxy-1")
    assert ports.holders((), (Listener("127.0.0.1:8000"),), {}) == ()


def test_the_message_says_the_port_is_taken_by_whom_and_the_fix() -> None:
    text = ports.port_taken("127.0.0.1:8120", ("python3 (pid 9)",), still="nothing serves",
                            prefix="STAGING")  # fmt: skip
    assert text.startswith("The proxy could not listen on 127.0.0.1:8120: the address is "
                           "already in use, by python3 (pid 9).")  # fmt: skip
    assert "config is fine" in text
    assert "nothing serves" in text
    assert "STAGING_PROXY_LISTEN" in text
    assert "refused" not in text
    before = ports.port_held(8120, ("container web-1",), prefix="STAGING")
    assert before.startswith("The proxy would listen on port 8120, but it is already in use, "
                             "by container web-1. Nothing was changed")  # fmt: skip
    unseen = ports.port_taken("127.0.0.1:8120", (), still="x", prefix="STAGING")
    assert "cannot see" in unseen
    assert "sudo ss -ltnp 'sport = :8120'" in unseen
