"""A Postgres image for the rig (the official postgres:16 cannot be pulled here): Debian's
postgresql 15 on the rig's base, with an entrypoint that behaves like the official image's for
what tests use (POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on first start, password
auth over TCP, arguments starting with - passed to postgres)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.rig.docker import Dockerd, image_label
from tests.rig.fixtures import rig_part
from tests.rig.images import KEY_LABEL, base_key, cache_dir, docker_build, ensure_base_image
from tests.rig.proc import file_lock

POSTGRES_IMAGE = "shipyard-rig/postgres:15"
# The official names tests declare; DockerEngine(images=...) maps them to POSTGRES_IMAGE.
OFFICIAL_NAMES = ("postgres:16", "postgres:15")
VERSION = "15"
RECIPE = "1"  # bump when the Dockerfile or ENTRYPOINT below change
PORT_LOCK = "postgres-port-55432.lock"  # a rig test running it on the host's network
HOST_PORT = 55432

ENTRYPOINT = r"""#!/bin/sh
# What the official postgres image's docker-entrypoint.sh does, for what tests use.
set -eu
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: POSTGRES_PASSWORD is not set (the official image refuses too)" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 -D "$PGDATA" > /dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    # Initialised on the socket only: TCP answers once the real server runs.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start > /dev/null
    if [ "$db" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres -q \
            -c "CREATE DATABASE \"$db\""
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop > /dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
"""


def postgres_dockerfile(base: str, key: str) -> str:
    bin_dir = f"/usr/lib/postgresql/{VERSION}/bin"
    return (
        f"FROM {base}\n"
        # No cluster from the package: the entrypoint makes one in PGDATA on first start.
        "RUN apt-get update && apt-get install -y --no-install-recommends postgresql-common "
        "&& echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf "
        f"&& apt-get install -y --no-install-recommends postgresql-{VERSION} "
        "&& rm -rf /var/lib/apt/lists/*\n"
        f"ENV PATH={bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
        "PGDATA=/var/lib/postgresql/data\n"
        "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh\n"
        "RUN chmod 755 /usr/local/bin/docker-entrypoint.sh\n"
        'ENTRYPOINT ["docker-entrypoint.sh"]\n'
        "STOPSIGNAL SIGINT\n"
        "EXPOSE 5432\n"
        'CMD ["postgres"]\n'
        f'LABEL {KEY_LABEL}="{key}"\n'
    )


def postgres_key() -> str:
    text = f"{RECIPE}\n{base_key()}\n{postgres_dockerfile('', '')}\n{ENTRYPOINT}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_postgres_image(workdir: Path) -> str:
    """Build the rig's Postgres image once (cached by key, ~40 s the first time)."""
    with file_lock(cache_dir() / "postgres-image.lock"):
        base = ensure_base_image(workdir)
        key = postgres_key()
        if image_label(POSTGRES_IMAGE, KEY_LABEL) != key:
            context = Path(tempfile.mkdtemp(prefix="postgres-image-", dir=workdir))
            try:
                (context / "Dockerfile").write_text(postgres_dockerfile(base, key))
                (context / "docker-entrypoint.sh").write_text(ENTRYPOINT)
                docker_build(["--tag", POSTGRES_IMAGE, str(context)])
            finally:
                shutil.rmtree(context, ignore_errors=True)
    return POSTGRES_IMAGE


@pytest.fixture(scope="session")
def postgres_image(rig_dir: Path, dockerd: Dockerd) -> str:
    """The rig's Postgres image, present in the rig's dockerd."""
    return rig_part("the Postgres image", lambda: ensure_postgres_image(rig_dir))
