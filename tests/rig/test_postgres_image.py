"""The rig's Postgres image behaves like the official one for what tests use: the role and
database from POSTGRES_* on first start, password auth over TCP, postgres flags as arguments."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from secrets import token_hex

import pytest

from tests.rig.postgres import HOST_PORT, PORT_LOCK
from tests.rig.proc import STATE_DIR, file_lock

pytestmark = pytest.mark.rig
PASSWORD = "rig-postgres-password-" + token_hex(4)


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def psql(image: str, password: str, sql: str) -> subprocess.CompletedProcess[str]:
    """psql from the image, on the host's network, to the server on 127.0.0.1:HOST_PORT."""
    return docker("run", "--rm", "--network", "host", "--env", f"PGPASSWORD={password}", image,
                  "psql", "-h", "127.0.0.1", "-p", str(HOST_PORT), "-U", "shipyard",
                  "-d", "orders", "-v", "ON_ERROR_STOP=1", "-tAc", sql)


@pytest.fixture
def server(postgres_image: str) -> Iterator[str]:
    """The image on the host's network, on 127.0.0.1 and a port of its own (held by a lock)."""
    name = f"shipyard-rig-postgres-{token_hex(4)}"
    with file_lock(STATE_DIR / PORT_LOCK):
        started = docker("run", "--detach", "--name", name, "--network", "host",
                         "--env", "POSTGRES_USER=shipyard", "--env", "POSTGRES_DB=orders",
                         "--env", f"POSTGRES_PASSWORD={PASSWORD}", postgres_image,
                         "-c", "listen_addresses=127.0.0.1", "-p", str(HOST_PORT))
        assert started.returncode == 0, started.stderr
        try:
            yield name
        finally:
            docker("rm", "--force", name)


def test_first_start_makes_the_role_and_database_behind_a_password(
    postgres_image: str, server: str
) -> None:
    started = time.monotonic()
    while psql(postgres_image, PASSWORD, "SELECT 1").returncode != 0:
        assert time.monotonic() - started < 60, docker("logs", server).stderr
        time.sleep(0.5)
    ready = time.monotonic() - started
    who = psql(postgres_image, PASSWORD, "SELECT current_user || ' ' || current_database()")
    assert who.stdout.strip() == "shipyard orders"
    wrong = psql(postgres_image, "not-the-password", "SELECT 1")
    assert wrong.returncode != 0
    assert 'password authentication failed for user "shipyard"' in wrong.stderr
    logs = docker("logs", server)
    assert "PostgreSQL init process complete" in logs.stdout
    assert PASSWORD not in logs.stdout + logs.stderr
    print(f"ready in {ready:.1f} s")


def test_without_a_password_it_refuses_to_start(postgres_image: str) -> None:
    refused = docker("run", "--rm", "--network", "none", postgres_image)
    assert refused.returncode == 1
    assert "POSTGRES_PASSWORD is not set" in refused.stderr
