"""ci/notify.py: the message, and real POSTs to a webhook server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ci.notify import NOT_CONFIGURED, NOT_HTTPS, SENT, RunSummary, build_message, notify

SECRET_PATH = "/services/T000/B000/XXXXSECRET"
DIGEST = "sha256:" + "ab" * 32
SUMMARY = RunSummary(
    ref="refs/heads/main",
    sha="0123456789abcdef0123456789abcdef01234567",
    stages=(("build", "passed"), ("test", "passed"), ("deploy", "failed")),
    outcome="failed",
    digest=DIGEST,
    environment="staging",
    run_url="https://github.com/acme/shipyard/actions/runs/42",
)


@dataclass
class Hook:
    """What the webhook server answers, and the JSON bodies it received."""

    status: int = 200
    delay: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (the timeout test) is expected; print nothing."""


def handler_for(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            hook.bodies.append(json.loads(self.rfile.read(length)))
            hook.release.wait(hook.delay)
            self.send_response(hook.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """The default writes the request line (with the secret path) to stderr."""

    return Handler


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()
    server = QuietServer(("127.0.0.1", 0), handler_for(state))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}{SECRET_PATH}"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SECRET_PATH}"


def assert_url_hidden(
    lines: list[str], caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    captured = capsys.readouterr()
    for text in (*lines, caplog.text, captured.out, captured.err):
        assert "XXXXSECRET" not in text
        assert SECRET_PATH not in text


# --- the message (pure) ---


def test_message_has_text_and_the_run_facts() -> None:
    message = build_message(SUMMARY)
    shown = json.dumps(message)
    assert message["text"] == "Pipeline failed: refs/heads/main @ 0123456789ab → staging"
    for fact in ("refs/heads/main", DIGEST, "staging", "deploy failed", "runs/42"):
        assert fact in shown
    assert all(block["type"] in {"section", "context"} for block in message["blocks"])


def test_message_without_digest_environment_or_link() -> None:
    summary = RunSummary(
        ref="refs/pull/7/merge", sha="f" * 40, stages=(), outcome="passed",
        digest=None, environment=None, run_url=None,
    )  # fmt: skip
    message = build_message(summary)
    assert message["text"] == "Pipeline passed: refs/pull/7/merge @ ffffffffffff"
    assert [block["type"] for block in message["blocks"]] == ["section"] * 3
    assert "none" in json.dumps(message)


def test_message_escapes_slack_control_characters() -> None:
    summary = RunSummary(ref="a<b>&c", sha="0" * 40, stages=(("x<y", "ok"),), outcome="passed")
    blocks = json.dumps(build_message(summary)["blocks"])
    assert "a&lt;b&gt;&amp;c" in blocks
    assert "x&lt;y" in blocks
    assert "<b>" not in blocks


# --- the POST ---


@pytest.mark.anyio
async def test_sent(hook: Hook) -> None:
    assert await notify(SUMMARY, hook.url) == SENT
    [body] = hook.bodies
    shown = json.dumps(body)
    assert body["text"].startswith("Pipeline failed: refs/heads/main")
    assert DIGEST in shown
    assert "staging" in shown


@pytest.mark.anyio
async def test_http_500_is_a_failed_line_not_an_exception(hook: Hook) -> None:
    hook.status = 500
    assert await notify(SUMMARY, hook.url) == "Slack: failed (HTTP 500)"
    assert len(hook.bodies) == 1


@pytest.mark.anyio
async def test_connection_refused(closed_port_url: str) -> None:
    assert await notify(SUMMARY, closed_port_url) == "Slack: failed (ConnectError)"


@pytest.mark.anyio
async def test_slow_server_gives_up_after_the_timeout(hook: Hook) -> None:
    hook.delay = 10.0
    started = time.monotonic()
    line = await notify(SUMMARY, hook.url, timeout=0.5)
    assert line.startswith("Slack: failed (")
    assert time.monotonic() - started < 0.5 + 1.0


@pytest.mark.anyio
@pytest.mark.parametrize("url", [None, "", "   "])
async def test_not_configured(url: str | None) -> None:
    assert await notify(SUMMARY, url) == NOT_CONFIGURED


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.example.com{SECRET_PATH}",
        f"http://localhost:9{SECRET_PATH}",
        f"http://127.0.0.2:9{SECRET_PATH}",
        f"ftp://127.0.0.1{SECRET_PATH}",
        f"https://[::1{SECRET_PATH}",
        f"hooks.example.com{SECRET_PATH}",
    ],
)
async def test_refuses_urls_that_are_not_https(url: str) -> None:
    assert await notify(SUMMARY, url) == NOT_HTTPS


@pytest.mark.anyio
async def test_the_url_is_never_shown(
    hook: Hook,
    closed_port_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    lines = [await notify(SUMMARY, hook.url)]
    hook.status = 500
    lines.append(await notify(SUMMARY, hook.url))
    lines.append(await notify(SUMMARY, closed_port_url))
    lines.append(await notify(SUMMARY, f"http://hooks.example.com{SECRET_PATH}"))
    hook.delay = 10.0
    lines.append(await notify(SUMMARY, hook.url, timeout=0.3))
    assert lines[:2] == [SENT, "Slack: failed (HTTP 500)"]
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request, without the URL
    assert_url_hidden(lines, caplog, capsys)
