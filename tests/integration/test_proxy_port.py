"""The proxy's port held by another process: the deployer says the port is taken, and by
whom, not that nginx refused its config (it did not)."""

from __future__ import annotations

import pwd
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deploy.cli.main import main
from tests.integration.bluegreen_helpers import bg_environ, history_on_host
from tests.rig.apppath import AppPath
from tests.rig.proxy import LabImages
from tests.rig.sshd import SshHost

pytestmark = pytest.mark.rig

# The `second_app` fixture holds the lock of ports 8120-8129 (tests/rig/fixtures.py).
LISTEN, COLOURS = 8120, "8121/8122"
HOLD = ("import socket, time; s = socket.create_server(('127.0.0.1', {port})); "
        "print('listening', flush=True); time.sleep(600)")  # fmt: skip


@contextmanager
def held_port(port: int, user: str) -> Iterator[subprocess.Popen[str]]:
    """A python3 process of the SSH user (so `ss -p` may name it) listening on `port`."""
    holder = subprocess.Popen(
        ["/usr/bin/python3", "-c", HOLD.format(port=port)], user=user,
        group=pwd.getpwnam(user).pw_gid, extra_groups=[], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "listening"
        yield holder
    finally:
        holder.kill()
        holder.wait(10)


def test_a_taken_proxy_port_is_named_with_its_holder(
    ssh_host: SshHost, second_app: AppPath, proxy_image: str, lab_image: LabImages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lab_image("bg1")
    environ = bg_environ(ssh_host, second_app, proxy_image, proxy_listen=f"127.0.0.1:{LISTEN}",
                         colour_ports=COLOURS, health_port=str(LISTEN))  # fmt: skip
    del environ["STAGING_STRATEGY"]  # unset: the first deploy sets up blue-green
    before = {p.name: p.read_bytes() for p in second_app.path.iterdir() if p.is_file()}

    # Held before the first deploy: refused before anything changes (exit 2).
    with held_port(LISTEN, ssh_host.user) as holder:
        assert main(["staging", "up", "bg1-lab"], environ) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert holder.poll() is None
    assert f"would listen on port {LISTEN}, but it is already in use" in err
    assert f"by python3 (pid {holder.pid})" in err  # the SSH user's own: `ss -p` names it
    assert "Nothing was changed" in err
    assert {p.name: p.read_bytes() for p in second_app.path.iterdir() if p.is_file()} == before
    assert not (second_app.path / "proxy").exists()
    assert history_on_host(second_app) == []

    # Taken after `init` laid the folder out, before the first deploy started the proxy: the
    # proxy cannot bind. Not "refused the config": the port is named, the proxy stopped.
    assert main(["staging", "init"], environ) == 0
    with held_port(LISTEN, ssh_host.user) as holder:
        started = time.monotonic()
        assert main(["staging", "up", "bg1-lab"], environ) == 1
        took = time.monotonic() - started
        err = " ".join(capsys.readouterr().err.split())
        assert holder.poll() is None  # the holder kept its port
    assert "refused the config" not in err
    assert f"could not listen on 127.0.0.1:{LISTEN}: the address is already in use" in err
    assert f"by python3 (pid {holder.pid})" in err
    assert "Its config is fine; the proxy was stopped, so nothing serves" in err
    assert "STAGING_PROXY_LISTEN" in err
    assert took < 60
    states = subprocess.run(["docker", "ps", "--filter", f"name={second_app.project}-proxy",
                             "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    assert states.stdout.strip() == ""  # stopped, not retrying forever
    last = history_on_host(second_app)[-1]
    assert (last.kind.value, last.outcome.value) == ("deploy", "failed")
    assert "already in use" in last.message
    assert main(["staging", "up", "bg1-lab"], environ) == 0  # the port is free again
