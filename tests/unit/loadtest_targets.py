"""Servers for the load gate's tests, each on a free port of 127.0.0.1: the real app, a slow
one and a failing one; started in a thread and stopped by the context manager."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn

from app.main import create_app

HEALTHY_BODY = json.dumps({"status": "ok", "version": "0.0.0", "commit": "test"}).encode()
QUICK_ARGS = ("--users", "4", "--spawn-rate", "4", "--duration", "2")


@contextmanager
def app_server() -> Iterator[str]:
    """The service itself (app/), served by uvicorn on a free loopback port; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@contextmanager
def stub_server(
    *, delay_s: float = 0.0, status: int = 200, body: bytes = HEALTHY_BODY,
    healthy: tuple[str, ...] = (),
) -> Iterator[str]:
    """A target that waits `delay_s` and answers `status` with `body` (the demo's healthy
    answer by default) on any path but those in `healthy` (200, the healthy answer); yields
    its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay_s)
            code, text = (200, HEALTHY_BODY) if self.path in healthy else (status, body)
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
            except ConnectionError:
                pass  # Locust stopped a user mid-request at the end of the run

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
