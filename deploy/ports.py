"""Pure: the proxy's own word that its port is taken, the commands that ask the host who holds
a TCP port (Docker's published ports, `ss`, a process's cgroup), and their parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from deploy.commands import Command

# nginx: `[emerg] bind() to 127.0.0.1:8000 failed (98: Address already in use)`; Docker, when
# it publishes the port: `Bind for 0.0.0.0:8000 failed: port is already allocated` or
# `listen tcp4 0.0.0.0:8000: bind: address already in use`.
BIND_FAILURES = (
    re.compile(r"bind\(\) to (\S+) failed \(\d+: Address already in use\)"),
    re.compile(r"Bind for (\S+) failed: port is already allocated"),
    re.compile(r"listen tcp\d? (\S+): bind: address already in use"),
)
USERS = re.compile(r'\("([^"]*)",pid=(\d+),')
CONTAINER_ID = re.compile(r"(?:docker[-/]|containerd[-/]|/)([0-9a-f]{64})(?:\.scope)?\s*$")


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening socket as `ss -ltnp` shows it; the process only when the user may see it."""

    address: str
    process: str | None = None
    pid: int | None = None


def bind_failure(log: str) -> str | None:
    """The address a proxy could not listen on because it is in use (the last one its log
    names), or None when its log says nothing of the kind."""
    found: str | None = None
    for line in log.splitlines():
        for pattern in BIND_FAILURES:
            match = pattern.search(line)
            if match:
                found = match.group(1)
    return found


def port_of(address: str) -> int | None:
    """`127.0.0.1:8000`, `[::]:8000`, `0.0.0.0:8000`, `8000` → 8000."""
    tail = address.rsplit(":", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else None


def published_on(port: int) -> Command:
    """The names of running containers that publish `port` (on a bridge network)."""
    return Command(("docker", "ps", "--filter", f"publish={port}", "--format", "{{.Names}}"))


def listeners_on(port: int) -> Command:
    """Every TCP socket listening on `port`, with its process where the user may see it."""
    return Command(("ss", "-H", "-l", "-t", "-n", "-p", f"sport = :{port}"))


def parse_listeners(output: str) -> tuple[Listener, ...]:
    """`ss -Hltnp` lines: `LISTEN 0 128 127.0.0.1:8000 0.0.0.0:* users:(("python3",pid=9,fd=3))`."""
    found = []
    for line in output.splitlines():
        words = line.split()
        if len(words) < 5 or words[0] != "LISTEN":
            continue
        users = USERS.search(line)
        found.append(Listener(words[3], users.group(1), int(users.group(2))) if users
                     else Listener(words[3]))  # fmt: skip
    return tuple(found)


def cgroup_of(pid: int) -> Command:
    return Command(("cat", f"/proc/{pid}/cgroup"))


def parse_container_id(cgroup: str) -> str | None:
    """The Docker container a process runs in, from its /proc/PID/cgroup (v1 or v2), or None."""
    for line in cgroup.splitlines():
        match = CONTAINER_ID.search(line)
        if match:
            return match.group(1)
    return None


def container_name(container_id: str) -> Command:
    return Command(("docker", "ps", "--all", "--filter", f"id={container_id}",
                    "--format", "{{.Names}}"))  # fmt: skip


def holders(published: tuple[str, ...], listeners: tuple[Listener, ...],
            containers: dict[int, str]) -> tuple[str, ...]:  # fmt: skip
    """Who holds the port, in words: containers publishing it, then each listening process
    (`python3 (pid 9)`, or `python3 (pid 9) in container web-1`)."""
    named = [f"container {name}" for name in published]
    for listener in listeners:
        if listener.pid is None:
            continue
        where = f" in container {containers[listener.pid]}" if listener.pid in containers else ""
        named.append(f"{listener.process} (pid {listener.pid}){where}")
    return tuple(dict.fromkeys(named))


def held_by(port: int | None, holders_found: tuple[str, ...]) -> str:
    return (f"by {', '.join(holders_found)}" if holders_found else
            "by a process this SSH user cannot see (`sudo ss -ltnp 'sport = :"
            f"{port}'` on the host names it)")  # fmt: skip


def fix(prefix: str) -> str:
    return (f"Free the port (stop that process or container), or give the proxy another one "
            f"with {prefix}_PROXY_LISTEN (and {prefix}_HEALTH_PORT), then try again.")


def port_taken(address: str, holders_found: tuple[str, ...], *, still: str, prefix: str) -> str:
    """A started proxy that could not bind: who holds its port, what serves, and the fix."""
    who = held_by(port_of(address), holders_found)
    return (f"The proxy could not listen on {address}: the address is already in use, {who}. "
            f"Its config is fine; the proxy was stopped, so {still}. {fix(prefix)}")


def port_held(port: int, holders_found: tuple[str, ...], *, prefix: str) -> str:
    """Before blue-green is set up: the port its proxy would take is held already."""
    return (f"The proxy would listen on port {port}, but it is already in use, "
            f"{held_by(port, holders_found)}. Nothing was changed: the folder is not set up "
            f"for blue-green. {fix(prefix)}")
