"""Which TCP sockets listen, and whose: for checking the rig stays on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.rig.proc import run

LOOPBACK = "127.0.0.1"
_USER = re.compile(r'\("([^"]*)",pid=(\d+)')


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening TCP socket as `ss -ltnp` shows it."""

    address: str
    port: int
    processes: tuple[tuple[str, int], ...]

    @property
    def pids(self) -> frozenset[int]:
        return frozenset(pid for _, pid in self.processes)


def parse_ss(output: str) -> list[Listener]:
    """Parse `ss -ltnpH` lines: State Recv-Q Send-Q Local:Port Peer:Port users:((...))."""
    listeners = []
    for line in output.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] != "LISTEN":
            continue
        address, _, port = fields[3].rpartition(":")
        users = " ".join(fields[5:])
        processes = tuple((name, int(pid)) for name, pid in _USER.findall(users))
        listeners.append(Listener(address.strip("[]"), int(port), processes))
    return listeners


def listeners() -> list[Listener]:
    return parse_ss(run(["ss", "-ltnpH"]).stdout)


def descendants(roots: Iterable[int]) -> frozenset[int]:
    """roots and every process below them, read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        pid = int(text.split(" ", 1)[0])
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return frozenset(found)


def exposed(pids: Iterable[int]) -> list[Listener]:
    """Listening sockets of pids (or their descendants) bound anywhere but 127.0.0.1."""
    ours = descendants(pids)
    return [item for item in listeners() if item.pids & ours and item.address != LOOPBACK]


def listening_on(port: int) -> list[Listener]:
    return [item for item in listeners() if item.port == port]
