"""A registry front on 127.0.0.1 that wants a bearer token (as ghcr.io does) and answers blob
reads with a redirect to a storage server of its own (as ghcr.io does to its CDN), passing
everything else to the rig's registry."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARDED = ("Accept", "Content-Type")
TOKEN = "front-token"  # what the front's token endpoint hands out


@dataclass
class Seen:
    """What the storage server was asked: each path, and whether it carried credentials."""

    paths: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)


def relay(upstream: str, handler: BaseHTTPRequestHandler) -> None:
    """Answer `handler`'s request with the rig registry's answer to the same request."""
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    request = urllib.request.Request(
        f"http://{upstream}{handler.path}", data=body, method=handler.command,
        headers={k: v for k, v in handler.headers.items() if k in FORWARDED},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, headers, content = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, content = error.code, error.headers, error.read()
    handler.send_response(status)
    for name in ("Content-Type", "Docker-Content-Digest", "Location"):
        if headers.get(name):
            handler.send_header(name, headers[name])
    handler.send_header("Content-Length", str(len(content)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(content)


@contextmanager
def redirecting_registry(upstream: str) -> Iterator[tuple[str, Seen]]:
    """(the front's host:port, what its storage server saw), both on 127.0.0.1."""
    seen = Seen()

    class Storage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.paths.append(self.path)
            seen.authorizations.append(self.headers.get("Authorization") or "")
            relay(upstream, self)

        def log_message(self, *_: object) -> None:
            return None

    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
    storage_at = f"127.0.0.1:{storage.server_address[1]}"

    class Front(BaseHTTPRequestHandler):
        def answer(self) -> None:
            if self.path.startswith("/token"):
                self.reply(200, b'{"token": "%s"}' % TOKEN.encode())
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                realm = f"http://{front_at}/token"
                challenge = f'Bearer realm="{realm}",service="front"'
                self.reply(401, b"{}", ("WWW-Authenticate", challenge))
                return
            if self.command == "GET" and "/blobs/sha256:" in self.path:
                self.send_response(307)
                self.send_header("Location", f"http://{storage_at}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            relay(upstream, self)

        def reply(self, status: int, body: bytes, *header: tuple[str, str]) -> None:
            self.send_response(status)
            for name, value in header:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = answer

        def log_message(self, *_: object) -> None:
            return None

    front = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    front_at = f"127.0.0.1:{front.server_address[1]}"
    servers = (storage, front)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield front_at, seen
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
