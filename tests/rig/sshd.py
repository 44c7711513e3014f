"""An OpenSSH server on 127.0.0.1 with a dedicated `deployer` login that can use Docker."""

from __future__ import annotations

import pwd
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig.proc import (
    STATE_DIR,
    RigError,
    Server,
    accepts_connections,
    file_lock,
    free_port,
    require_program,
    require_root,
    run,
    start_server,
    wait_until,
)

HOST = "127.0.0.1"
PREFERRED_PORT = 2222
USER = "deployer"


@dataclass(frozen=True, slots=True)
class SshHost:
    """Everything a client needs to reach the rig's sshd as the deployer."""

    host: str
    port: int
    user: str
    private_key_text: str = field(repr=False)  # a secret: never in a test report
    known_hosts_line: str
    wrong_known_hosts_line: str
    private_key_path: Path
    pid: int


def ensure_user(name: str = USER) -> pwd.struct_passwd:
    """A login user with a home, bash, and the docker group (created or fixed up)."""
    require_root("creating the deployer user")
    with file_lock(STATE_DIR / "user.lock"):
        return _ensure_user(name)


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        pwd.getpwnam(name)
    except KeyError:
        run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "docker", name])
    run(["usermod", "--append", "--groups", "docker", "--shell", "/bin/bash", name])
    # Without PAM, sshd refuses accounts whose password starts with "!" (useradd's default):
    # "*" means "no password" without meaning "locked".
    run(["usermod", "--password", "*", name])
    return pwd.getpwnam(name)


def keygen(path: Path, comment: str) -> str:
    """Generate an ed25519 key pair at path; return the public key as `type base64`."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    kind, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def sshd_config(workdir: Path, port: int, host_key: Path, user: str) -> str:
    return "\n".join(
        [
            f"ListenAddress {HOST}:{port}",
            f"HostKey {host_key}",
            "PidFile none",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthenticationMethods publickey",
            "PermitRootLogin no",
            f"AllowUsers {user}",
            f"AuthorizedKeysFile {workdir}/authorized_keys/%u",
            "StrictModes no",
            "AllowTcpForwarding local",
            "PermitOpen 127.0.0.1:* localhost:*",
            "X11Forwarding no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
            "",
        ]
    )


@dataclass(frozen=True, slots=True)
class ClientKey:
    """The deployer's key pair; several sshd instances (a fleet's hosts) may accept it."""

    path: Path
    public: str


def make_client_key(workdir: Path, user: str = USER) -> ClientKey:
    """A new ed25519 key pair for user at workdir/client_ed25519."""
    require_program("ssh-keygen", "openssh-client")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "client_ed25519"
    return ClientKey(path, keygen(path, f"shipyard-rig {user}"))


def start_sshd(
    workdir: Path,
    user: str = USER,
    *,
    client: ClientKey | None = None,
    preferred_port: int = PREFERRED_PORT,
) -> tuple[SshHost, Server]:
    """Start sshd on 127.0.0.1:preferred_port (another free port if taken) for user.

    Host keys live under workdir; the client key too, unless `client` (shared) is given.
    """
    sshd = require_program("/usr/sbin/sshd", "openssh-server")
    require_program("ssh-keygen", "openssh-client")
    account = ensure_user(user)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key_public = keygen(workdir / "ssh_host_ed25519_key", "shipyard-rig host")
    wrong_key_public = keygen(workdir / "wrong_host_ed25519_key", "shipyard-rig wrong host")
    client = client or make_client_key(workdir, user)
    keys = workdir / "authorized_keys"
    keys.mkdir(mode=0o755, exist_ok=True)
    (keys / user).write_text(client.public + "\n")
    (keys / user).chmod(0o644)

    port = free_port(preferred_port, HOST)
    config = workdir / "sshd_config"
    config.write_text(sshd_config(workdir, port, workdir / "ssh_host_ed25519_key", account.pw_name))
    run([sshd, "-t", "-f", str(config)])
    server = start_server("sshd", [sshd, "-D", "-e", "-f", str(config), "-p", str(port)],
                          workdir / "sshd.log")
    try:
        wait_until(lambda: accepts_connections(port, HOST), what=f"sshd on {HOST}:{port}",
                   server=server)
    except RigError:
        server.stop()
        raise
    return (
        SshHost(
            host=HOST,
            port=port,
            user=account.pw_name,
            private_key_text=client.path.read_text(),
            known_hosts_line=f"[{HOST}]:{port} {host_key_public}",
            wrong_known_hosts_line=f"[{HOST}]:{port} {wrong_key_public}",
            private_key_path=client.path,
            pid=server.pid,
        ),
        server,
    )


def ssh_argv(host: SshHost, known_hosts: Path, *command: str) -> list[str]:
    """OpenSSH client argv running command as the deployer, host key checked strictly."""
    return [
        "ssh", "-i", str(host.private_key_path), "-p", str(host.port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
        f"{host.user}@{host.host}", "--", *command,
    ]
