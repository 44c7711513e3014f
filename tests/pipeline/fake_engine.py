"""A fake Dagger engine session on 127.0.0.1 that validates every query against the real schema."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from secrets import compare_digest, token_urlsafe
from types import TracebackType
from typing import Any, Self

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    validate,
)

from ci.settings import DAGGER_VERSION
from tests.pipeline.fake_calls import Call, ExecFailure, InvalidQuery, Obj
from tests.pipeline.fake_executor import Executor, Responder, digest
from tests.pipeline.fake_schema import default_schema_path, load_schema

__all__ = ["Call", "FakeEngine", "InvalidQuery", "Obj"]

ENGINE_VERSION = f"v{DAGGER_VERSION}"

# The SDK introspects the whole schema on every connection (~0.3 s to serve): answer
# each distinct introspection query once per schema.
_introspection_cache: dict[tuple[int, str], dict[str, Any]] = {}


class FakeEngine:
    """Serve the Dagger session API (`POST /query`) the SDK reaches via `DAGGER_SESSION_*`.

    Use as a context manager; `engine.env` holds the variables to set. Queries are
    validated against the schema, then executed by recording call chains: object fields
    build `Obj`s, leaves get a responder's value or a default for their type.
    """

    def __init__(
        self,
        schema_path: Path | None = None,
        *,
        token: str | None = None,
        load_from_id: bool = True,
    ) -> None:
        self.schema = load_schema(schema_path or default_schema_path(), load_from_id=load_from_id)
        self.token = token or token_urlsafe(16)
        self.queries: list[str] = []
        self.invalid_queries: list[InvalidQuery] = []
        self._executor = Executor(self.schema)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.respond("Query.version", lambda _: ENGINE_VERSION)
        self.respond("Container.publish", _published_ref)
        for key in ("Container.export", "Directory.export", "File.export"):
            self.respond(key, lambda call: call.args["path"])
        self.respond("Secret.plaintext", lambda call: _secret_arg(call, "plaintext"))
        self.respond("Secret.name", lambda call: _secret_arg(call, "name"))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.engine = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-dagger-engine", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeEngine is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/query"

    @property
    def env(self) -> dict[str, str]:
        """What `dagger run` would inject: set these and the SDK connects to this engine."""
        return {"DAGGER_SESSION_PORT": str(self.port), "DAGGER_SESSION_TOKEN": self.token}

    # -- behaviour -------------------------------------------------------------------------

    def respond(self, key: str, responder: Responder) -> None:
        """Answer `Type.field` (or any type's `field`) with `responder(call)`."""
        self._executor.responders[key] = responder

    def delay(self, key: str, seconds: float) -> None:
        """Make resolving `Type.field` (or `field`) take `seconds` (requests run concurrently)."""
        self._executor.delays[key] = seconds

    def fail_exec(
        self,
        match: Callable[[list[str]], bool],
        *,
        exit_code: int = 1,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        """Leaves evaluated on a chain with a `withExec(args:)` that `match`es get EXEC_ERROR."""
        self._executor.failures.append(ExecFailure(match, exit_code, stdout, stderr))

    # -- what happened ---------------------------------------------------------------------

    def calls(self, field: str | None = None) -> list[Call]:
        """Every resolved call named `field` or `Type.field` (all of them if None), in order."""
        return [c for c in self._executor.log() if field is None or c.matches(field)]

    def leaves(self, field: str | None = None) -> list[Call]:
        """Calls that returned data (not an object, not an `id`): what the engine evaluated."""
        return [c for c in self.calls(field) if c.leaf and c.field != "id"]

    def chains_ending_in(self, field: str) -> list[tuple[Call, ...]]:
        return [c.chain for c in self.calls(field)]

    def secrets(self) -> dict[str, str]:
        """`setSecret` names to plaintexts, in the order they were first set."""
        return dict(self._executor.secrets())

    def secret_plaintexts(self) -> list[str]:
        return [plain for _, plain in self._executor.secrets()]

    def object_for_id(self, id_: str) -> Obj:
        return self._executor.object_for(id_)

    # -- the GraphQL endpoint --------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.token}:".encode()).decode()
        return compare_digest(header or "", expected)

    def handle(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Validate and execute one GraphQL request body; returns (HTTP status, response)."""
        query = str(body.get("query") or "")
        with self._lock:
            index = len(self.queries)
            self.queries.append(query)
        if cached := _introspection_cache.get((id(self.schema), query)):
            return 200, cached
        try:
            document = parse(query)
        except GraphQLSyntaxError as e:
            return self._reject(query, [e])
        if errors := validate(self.schema, document):
            return self._reject(query, errors)
        result = self._executor.run(
            document, body.get("variables"), body.get("operationName"), index
        )
        if _is_introspection(document) and "errors" not in result and not body.get("variables"):
            _introspection_cache[(id(self.schema), query)] = result
        return 200, result

    def _reject(self, query: str, errors: list[GraphQLError]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.invalid_queries.append(InvalidQuery(query, tuple(e.message for e in errors)))
        return 422, {"errors": [e.formatted for e in errors], "data": None}


def _is_introspection(document: DocumentNode) -> bool:
    return all(
        isinstance(sel, FieldNode) and sel.name.value.startswith("__")
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for sel in definition.selection_set.selections
    )


def _published_ref(call: Call) -> str:
    return f"{call.args['address']}@sha256:{digest(call.path() + repr(call.parent.calls))}"


def _secret_arg(call: Call, name: str) -> str:
    created = call.find("Query.setSecret")
    return str(created.args[name]) if created else ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    engine: FakeEngine

    def __init__(self, address: tuple[str, int], handler: type[_Handler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        """End idle keep-alive connections so their handler threads exit with the server."""
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK cost ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        engine = self.server.engine
        if self.path != "/query":
            self._send(404, b"not found\n", "text/plain")
        elif not engine.authorized(self.headers.get("Authorization")):
            self._send(
                401, b"unauthorized\n", "text/plain", {"WWW-Authenticate": 'Basic realm="dagger"'}
            )
        else:
            try:
                status, result = engine.handle(json.loads(body))
            except ValueError as e:
                status, result = 400, {"errors": [{"message": f"bad request body: {e}"}]}
            self._send(status, json.dumps(result).encode(), "application/json")

    def _send(
        self,
        status: int,
        payload: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep pytest output clean."""
