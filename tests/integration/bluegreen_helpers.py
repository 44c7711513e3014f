"""Helpers for blue-green tests on the rig: targets, traffic through the proxy, ledger reads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from deploy.ledger import Release, parse_ledger
from tests.integration.deploy_helpers import longest_outage, target_environ
from tests.rig.apppath import AppPath
from tests.rig.sshd import SshHost

PUBLIC = "http://127.0.0.1:8000"


def bg_environ(ssh_host: SshHost, app: AppPath, proxy_image: str, **extra: str) -> dict[str, str]:
    """STAGING_* for blue-green on the rig: host networking, nginx on 127.0.0.1:8000."""
    settings = {"strategy": "blue-green", "proxy_image": proxy_image,
                "proxy_listen": "127.0.0.1:8000", "watch": "1", "drain": "2"}  # fmt: skip
    return target_environ(ssh_host, app, **{**settings, **extra})


def history_on_host(app: AppPath) -> list[Release]:
    ledger = app.path / ".deploy" / "releases.jsonl"
    return parse_ledger(ledger.read_text()) if ledger.exists() else []


def outcomes(app: AppPath) -> list[tuple[str, str, str]]:
    return [(r.kind.value, r.tag, r.outcome.value) for r in history_on_host(app)]


@dataclass
class Traffic:
    """GET `path` through the proxy in a loop on a thread; counts answers per status/version."""

    path: str = "/version"
    pause: float = 0.01
    statuses: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    retried: int = 0
    base: str = PUBLIC  # the proxy's address (a second app folder's proxy listens elsewhere)

    def _get(self, client: httpx.Client) -> httpx.Response:
        """GET, retried once when the proxy closed (or reset) our idle keep-alive connection as we
        reused it (nginx closes idle ones on reload): the request never reached a colour, and an
        HTTP client may retry an idempotent request then (RFC 9112, 9.3.1), as browsers do.
        Each retry is counted in `retried`; a second failure is a failure."""
        try:
            return client.get(self.path)
        except (httpx.RemoteProtocolError, httpx.ReadError):  # closed, or reset, unanswered
            self.retried += 1
            return client.get(self.path)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5, trust_env=False) as client:
            while not self.stop.is_set():
                try:
                    response = self._get(client)
                    self.statuses[str(response.status_code)] += 1
                    if response.status_code == 200 and self.path == "/version":
                        self.versions[str(response.json()["version"])] += 1
                    self.outcomes.append((time.monotonic(), response.status_code == 200))
                except httpx.HTTPError as error:
                    self.statuses[type(error).__name__] += 1
                    self.outcomes.append((time.monotonic(), False))
                time.sleep(self.pause)

    def longest_outage(self) -> float:
        return longest_outage(self.outcomes)

    def __enter__(self) -> Traffic:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=10)

    @property
    def failures(self) -> dict[str, int]:
        return {status: n for status, n in self.statuses.items() if status != "200"}


def public_version(base: str = PUBLIC) -> str | None:
    try:
        response = httpx.get(f"{base}/version", timeout=2, trust_env=False)
    except httpx.HTTPError:
        return None
    return str(response.json().get("version")) if response.status_code == 200 else None


@dataclass
class EventStream:
    """One server-sent event stream through the proxy, read on a thread until it ends."""

    events: list[tuple[float, str]] = field(default_factory=list)
    ended_at: float | None = None
    ending: str = ""
    closed_with: str | None = None  # the data of the server's `event: close`, if it sent one
    thread: threading.Thread | None = None

    def _read(self) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(5, read=60), trust_env=False) as client, \
                    client.stream("GET", f"{PUBLIC}/events") as response:
                closing = False
                for line in response.iter_lines():
                    if line == "event: close":
                        closing = True
                    elif line.startswith("data: ") and closing:
                        self.closed_with = line[6:]
                    elif line.startswith("data: "):
                        self.events.append((time.monotonic(), line[6:]))
            self.ending = "complete"
        except httpx.HTTPError as error:
            self.ending = type(error).__name__
        self.ended_at = time.monotonic()

    def start(self) -> EventStream:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def join(self, timeout: float) -> None:
        if self.thread:
            self.thread.join(timeout)
