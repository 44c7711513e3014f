"""Running commands and background servers, and waiting for them to answer."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Shared by every test session on this machine (two sessions may run the rig at once).
STATE_DIR = (
    Path("/run/shipyard-rig") if os.geteuid() == 0 else Path(f"/tmp/shipyard-rig-{os.geteuid()}")
)


class RigError(Exception):
    """A rig server or image could not be set up; the message says which and why."""


class RigUnavailable(RigError):
    """This machine cannot run the rig at all (not root, a program is missing)."""


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run argv, capture its output, and raise RigError (with stderr) if it fails."""
    try:
        result = subprocess.run(
            list(argv),
            input=input_text,
            env=None if env is None else dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RigUnavailable(f"`{argv[0]}` is not installed; run scripts/install-rig.") from exc
    except subprocess.TimeoutExpired as exc:
        raise RigError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s.") from exc
    if check and result.returncode != 0:
        raise RigError(
            f"`{' '.join(argv)}` exited {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
    return result


def succeeds(argv: Sequence[str], *, timeout: float = 10.0) -> bool:
    """Whether argv exits 0 (False when it is missing or hangs)."""
    try:
        return run(argv, timeout=timeout, check=False).returncode == 0
    except RigError:
        return False


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise RigUnavailable(f"{what} needs root (useradd, dockerd, sshd); run the tests as root.")


def require_program(path: str, package: str) -> str:
    """The full path of a program, or RigUnavailable naming the apt package."""
    found = shutil.which(path)
    if found is None:
        raise RigUnavailable(
            f"`{path}` is missing (apt package {package}); run scripts/install-rig."
        )
    return found


@dataclass(slots=True)
class Server:
    """A background process started by the rig, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server (it stops its own children), SIGKILL its group after timeout."""
        if self.running():
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # The server leads its own process group (start_new_session): whatever of it is
        # still there now is killed, children included.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def start_server(
    name: str, argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None
) -> Server:
    """Start argv in its own session with stdout and stderr going to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    return Server(name=name, process=process, log_path=log_path)


def wait_until(
    ready: Callable[[], bool], *, what: str, timeout: float = 30.0, server: Server | None = None
) -> None:
    """Poll ready() until it holds; fail early, with the log, if server exits."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while not ready():
        if server is not None and not server.running():
            raise RigError(
                f"{server.name} exited with {server.process.returncode} before {what}; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = f"; log {server.log_path}:\n{server.log_tail()}" if server else ""
            raise RigError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """preferred if nothing listens there, else a port the kernel picks on host."""
    if port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 900.0) -> Iterator[None]:
    """Hold an exclusive flock on path; RigError if another session holds it past timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RigError(
                        f"{path} has been held by another test session for {timeout:.0f} s."
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def started_pid(pidfile: Path, comm: str) -> int | None:
    """The pid a rig session wrote to `pidfile`, if that process still runs as `comm`."""
    try:
        pid = int(pidfile.read_text())
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if name == comm and pid_alive(pid) else None


def live_leases(folder: Path) -> list[Path]:
    """Lease files (named by pid) of running sessions; those of dead ones are removed."""
    alive = []
    for lease in folder.glob("*"):
        if lease.name.isdigit() and pid_alive(int(lease.name)):
            alive.append(lease)
        else:
            lease.unlink(missing_ok=True)
    return alive


def pid_alive(pid: int) -> bool:
    """Whether pid runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
