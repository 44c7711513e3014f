"""A Docker-backed stand-in Dagger engine for tests: the fake engine's protocol, executed for real.

It serves the SDK exactly like `FakeEngine` (same session variables, every query validated
against the published schema, call chains recorded) and, when the SDK asks for a value,
EXECUTES the chain on the dockerd that `docker` reaches (the rig's, run `--bridge=none`).
The CLI never uses it; no engine other than a real Dagger should.

Executed, with the Docker equivalent:
  host.directory(path, exclude, gitignore)    a content-addressed snapshot of the host folder:
                                              exclude = .dockerignore-style globs, gitignore =
                                              every .gitignore inside the folder; read once
                                              per SDK session (absolute paths only)
  host.file(path), Directory.file/directory    a snapshot of one host file or sub-folder
  Directory.dockerBuild(dockerfile, buildArgs, target)
                                              DOCKER_BUILDKIT=0 docker build --network host;
                                              the result is tagged dagger-standin/build:<key>
                                              so the layer cache outlives the engine
  container.from(address)                     an image already in dockerd, or pulled from a
                                              loopback registry; anything else is an engine
                                              error naming the image (nothing is pulled from
                                              the internet: tests/rig/pipeline_images.py
                                              provides the public Python images); a name in
                                              DockerEngine(images={name: local}) is the
                                              local image it maps to (postgres:16 → a rig image)
  withDirectory / withFile (permissions)      `FROM <image>` + `COPY`, root-owned, cached
  withWorkdir / withEnvVariable               container config for every exec and publish
  withMountedCache(path, cacheVolume(key))    a docker volume per key, empty at first, shared
                                              by every container mounting that key
  withExec(args, expect, redirectStdout, useEntrypoint)
                                              docker create/start/commit, one image per exec;
                                              a failing exec with expect=SUCCESS is Dagger's
                                              EXEC_ERROR (raised by the SDK as ExecError)
  setSecret / withSecretVariable              a 0600 file in a private folder, mounted read-only
                                              per exec and exported by a /bin/sh wrapper: the
                                              value is never on a command line, in a container's
                                              or image's config, nor in stdout/stderr (scrubbed)
  withRegistryAuth / publish                  docker tag + push through a throw-away
                                              DOCKER_CONFIG; answers address@sha256:<pushed>
  withExposedPort / asService / withServiceBinding(alias, service)
                                              the service runs `--network none --add-host
                                              <alias>:127.0.0.1` until its exposed ports listen;
                                              the bound exec joins its network namespace;
                                              a service's secret variables are exported by the
                                              same wrapper as an exec's, for its whole run
  exitCode / stdout / stderr / sync / id, file().contents, directory().export, file().export
  Container.label(name)                       the image's label (docker image inspect); null
                                              when the image has none of that name
Networking: plain execs and builds use `--network host` (Dagger execs reach the network; here
that means PyPI through the host, and the host's loopback too). An exec bound to services runs
in the first service's namespace: it reaches `http://<alias>:<port>` and nothing else.
Caching, as Dagger does: exec and build results are keyed by content (image, config, inputs,
secret digests), so an unchanged re-run against the same engine skips them.
Refused, as an engine error naming it (the SDK raises dagger.QueryError): every other field,
and any argument of a supported field sent with a value other than its default (terminal,
stdin, expand, owner, include, platform variants, ...).
Where it differs from Dagger: a failing dockerBuild is an engine error carrying the build's
log tail (not an ExecError); secret variables reach root execs and services only; services
may not have bindings of their own, and start afresh for every exec bound to them (Dagger
may keep one running between execs that follow each other); no init process, no platform
choice, one exec image per withExec (no layer squashing).
Cleanup on stop: every container, volume, exec image and published tag it made; dockerBuild
images keep their tag. Fault injection: `fail_exec(match, exit_code=, stdout=, stderr=)` makes
matching execs "exit" with that result without running them. Recorded for tests: `commands`
(every docker argv it ran) and `outputs` (each exec's stdout and stderr, service logs), both
after secrets were kept off the command line and scrubbed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_hex
from typing import Any

from graphql import GraphQLError, GraphQLField, GraphQLResolveInfo, Undefined, value_from_ast
from pathspec import GitIgnoreSpec

from tests.pipeline.fake_calls import Call, ExecFailure, Obj
from tests.pipeline.fake_engine import FakeEngine
from tests.pipeline.fake_executor import Executor, digest, exec_error

PREFIX = "dagger-standin"
BUILD_REPOSITORY = f"{PREFIX}/build"
SECRETS_MOUNT = "/run/dagger-standin-secrets"
LOOPBACK_REGISTRY = re.compile(r"(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
EXEC_TIMEOUT = 1800.0
SERVICE_TIMEOUT = 60.0

# Field → the arguments it may be sent with a non-default value. Every other field is refused.
SUPPORTED: dict[str, frozenset[str]] = {
    key: frozenset(args.split())
    for key, args in {
        "Query.container": "", "Query.host": "", "Query.cacheVolume": "key",
        "Query.setSecret": "name plaintext", "Query.version": "",
        "Host.directory": "path exclude gitignore", "Host.file": "path",
        "Directory.dockerBuild": "dockerfile buildArgs target", "Directory.export": "path",
        "Directory.file": "path", "Directory.directory": "path",
        "File.contents": "", "File.export": "path",
        "Container.from": "address", "Container.withDirectory": "path source",
        "Container.withFile": "path source permissions", "Container.withWorkdir": "path",
        "Container.withEnvVariable": "name value", "Container.withMountedCache": "path cache",
        "Container.withExec": "args expect redirectStdout useEntrypoint",
        "Container.withSecretVariable": "name secret",
        "Container.withRegistryAuth": "address username secret",
        "Container.withExposedPort": "port protocol description",
        "Container.asService": "args useEntrypoint",
        "Container.withServiceBinding": "alias service",
        "Container.exitCode": "", "Container.stdout": "", "Container.stderr": "",
        "Container.sync": "", "Container.publish": "address", "Container.label": "name",
        "Container.directory": "path", "Container.file": "path",
    }.items()
}  # fmt: skip
LOADABLE = ("Container", "Directory", "File", "Secret", "CacheVolume", "Service", "Host")


class EngineError(GraphQLError):
    """What the stand-in refuses or fails at; the SDK raises it as dagger.QueryError."""

    def __init__(self, message: str) -> None:
        super().__init__(f"docker stand-in engine: {message}")


class ExecFailed(Exception):
    """An exec's exit code that its `expect` refuses; a leaf turns it into EXEC_ERROR."""

    def __init__(self, result: ExecResult) -> None:
        super().__init__(result.argv)
        self.result = result


# -- values the chains evaluate to ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A Directory or File: a copy on the host (path), named by its content (key)."""

    path: Path
    key: str


@dataclass(frozen=True, slots=True)
class SecretValue:
    name: str
    plaintext: str = field(repr=False)

    @property
    def key(self) -> str:
        return digest(f"{self.name}\0{self.plaintext}")


@dataclass(frozen=True, slots=True)
class ExecResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class Ctr:
    """A container state: an image plus what Dagger keeps beside the filesystem."""

    image: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    workdir: str | None = None
    caches: tuple[tuple[str, str], ...] = ()  # (path, cache key)
    secrets: tuple[tuple[str, SecretValue], ...] = ()
    auth: tuple[tuple[str, str, SecretValue], ...] = ()
    ports: tuple[int, ...] = ()
    bindings: tuple[tuple[str, Svc], ...] = ()
    last: ExecResult | None = None

    @property
    def key(self) -> str:
        return digest(repr((
            self.image, self.env, self.workdir, self.caches,
            [(n, s.key) for n, s in self.secrets], [(a, u, s.key) for a, u, s in self.auth],
            self.ports, [(a, s.key) for a, s in self.bindings], self.last,
        )))  # fmt: skip

    def with_env(self, name: str, value: str) -> Ctr:
        return replace(self, env=(*((k, v) for k, v in self.env if k != name), (name, value)))


@dataclass(frozen=True, slots=True)
class Svc:
    ctr: Ctr
    args: tuple[str, ...]

    @property
    def key(self) -> str:
        return digest(repr((self.ctr.key, self.args)))


@dataclass(frozen=True, slots=True)
class CacheKey:
    key: str


HOST = object()


# -- pure helpers --------------------------------------------------------------------------


def exclude_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore-style glob (`*`, `?`, `**`) matching a relative path or its contents."""
    if pattern.startswith("!") or "[" in pattern:
        raise EngineError(f"exclude pattern {pattern!r}: negation and [...] are not supported")
    text = pattern.strip().removeprefix("./").strip("/")
    out, i = [], 0
    while i < len(text):
        if text.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(text[i], re.escape(text[i])))
            i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def exec_argv(argv: Sequence[str], secret_names: Sequence[str], redirect_stdout: str) -> list[str]:
    """argv, or a /bin/sh wrapper exporting secrets from files and redirecting stdout."""
    if not secret_names and not redirect_stdout:
        return list(argv)
    lines = [
        f'{n}="$(cat {SECRETS_MOUNT}/{n}; echo x)"; {n}="${{{n}%x}}"; export {n}'
        for n in secret_names
    ]
    lines.append('exec "$@"' + (f" > {shlex.quote(redirect_stdout)}" if redirect_stdout else ""))
    return ["/bin/sh", "-c", "; ".join(lines), "dagger-exec", *argv]


def service_argv(service: Svc) -> list[str]:
    """A service's command, wrapped to export its secret variables as execs do."""
    return exec_argv(service.args, [name for name, _ in service.ctr.secrets], "")


def listening_ports(proc_net_tcp: str) -> set[int]:
    """Local ports in LISTEN state (0A) in /proc/<pid>/net/tcp or tcp6 text."""
    ports = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def registry_host(address: str) -> str:
    first = address.split("/", 1)[0]
    return first if "." in first or ":" in first or first == "localhost" else "docker.io"


def dockerfile_env(name: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'ENV {name}="{escaped}"'


def scrub(text: str, secrets: Sequence[SecretValue]) -> str:
    for secret in secrets:
        if secret.plaintext:
            text = text.replace(secret.plaintext, "***")
    return text


def tree_key(root: Path) -> str:
    parts = []
    for path in sorted(root.rglob("*")):
        rel, mode = path.relative_to(root).as_posix(), path.lstat().st_mode
        body = os.readlink(path) if path.is_symlink() else (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "")  # fmt: skip
        parts.append(f"{rel}\0{mode:o}\0{body}")
    return digest("\n".join(parts))


def absolute(ctr: Ctr, path: str) -> str:
    return path if path.startswith("/") else f"{(ctr.workdir or '/').rstrip('/')}/{path}"


def host_path(path: str, what: str) -> Path:
    if not path.startswith("/"):
        raise EngineError(f"{what}({path!r}): give an absolute path (the stand-in cannot see "
                          "the client's working directory)")
    return Path(path)


# -- the executor: evaluates recorded chains on Docker -------------------------------------


@dataclass(slots=True)
class _Once:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False
    value: Any = None
    error: BaseException | None = None


class DockerExecutor(Executor):
    """The fake engine's executor, plus: refuse unsupported fields, evaluate leaves on Docker."""

    def __init__(self, schema: Any, workdir: Path, images: Mapping[str, str] | None = None,
                 ) -> None:
        super().__init__(schema)
        self.workdir = workdir
        self.images = dict(images or {})  # a declared image name → the rig's local image
        self.commands: list[tuple[str, ...]] = []  # every docker argv run, in order
        self.outputs: list[str] = []  # every exec's stdout and stderr, and service logs
        self._record_lock = threading.Lock()
        self.instance = token_hex(4)
        self.injected: list[ExecFailure] = []
        self.session = 0
        self._memo: dict[str, _Once] = {}
        self._memo_lock = threading.Lock()
        self._names = itertools.count(1)
        self.volumes: dict[str, str] = {}
        self.made_images: list[str] = []
        self.published: list[str] = []
        self.closed = False
        self._active = 0  # steps being evaluated: stop waits for them before cleaning up
        self._idle = threading.Condition()
        self.steps: dict[str, Callable[[Call, Any], Any]] = {
            "Query.container": lambda c, p: Ctr(),
            "Query.host": lambda c, p: HOST,
            "Query.cacheVolume": lambda c, p: CacheKey(str(c.args["key"])),
            "Query.setSecret": lambda c, p: SecretValue(str(c.args["name"]),
                                                        str(c.args["plaintext"])),
            "Host.directory": lambda c, p: self._host_directory(c.args),
            "Host.file": lambda c, p: self._host_file(str(c.args["path"])),
            "Directory.dockerBuild": self._docker_build,
            "Directory.file": lambda c, p: self._inside(p, str(c.args["path"]), False),
            "Directory.directory": lambda c, p: self._inside(p, str(c.args["path"]), True),
            "Container.from": lambda c, p: self._from(p, str(c.args["address"])),
            "Container.withDirectory": lambda c, p: self._copy_in(p, c),
            "Container.withFile": lambda c, p: self._copy_in(p, c),
            "Container.withWorkdir": lambda c, p: replace(p, workdir=absolute(p, c.args["path"])),
            "Container.withEnvVariable": lambda c, p: self._with_env(p, c.args),
            "Container.withMountedCache": lambda c, p: replace(p, caches=(*p.caches, (
                absolute(p, c.args["path"]), self.value_of(c.args["cache"]).key))),
            "Container.withExec": self._with_exec,
            "Container.withSecretVariable": lambda c, p: self._with_secret(p, c.args),
            "Container.withRegistryAuth": lambda c, p: replace(p, auth=(*p.auth, (
                str(c.args["address"]), str(c.args["username"]),
                self.value_of(c.args["secret"])))),
            "Container.withExposedPort": self._with_port,
            "Container.asService": self._as_service,
            "Container.withServiceBinding": lambda c, p: replace(p, bindings=(*p.bindings, (
                str(c.args["alias"]), self.value_of(c.args["service"])))),
            "Container.directory": lambda c, p: self._copy_out(p, str(c.args["path"]), True),
            "Container.file": lambda c, p: self._copy_out(p, str(c.args["path"]), False),
        }  # fmt: skip

    # -- refusing what it does not execute -------------------------------------------------

    def _resolve(self, source: Any, info: GraphQLResolveInfo[Any], /, **raw: Any) -> Any:
        if isinstance(source, Obj):
            sent = {a.name.value for a in info.field_nodes[0].arguments or ()}
            check_supported(info.parent_type.name, info.field_name,
                            info.parent_type.fields[info.field_name], sent, raw)
        return super()._resolve(source, info, **raw)

    # -- evaluation, memoised --------------------------------------------------------------

    def new_session(self) -> None:
        """A new SDK session: host folders are read again; content-keyed results stay."""
        with self._memo_lock:
            self.session += 1
            self._memo = {k: v for k, v in self._memo.items() if not k.startswith("obj:")}

    def once(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._memo_lock:
            entry = self._memo.setdefault(key, _Once())
        with entry.lock:
            if not entry.done:
                try:
                    entry.value = compute()
                except (GraphQLError, ExecFailed) as error:
                    entry.error = error
                entry.done = True
        if entry.error is not None:
            raise entry.error
        return entry.value

    def value_of(self, obj: Obj) -> Any:
        """What the chain that built obj evaluates to (a Ctr, Snapshot, SecretValue, ...)."""
        if obj.last is None:
            return None
        call = obj.last
        return self.once(f"obj:{self.session}:{self.id_for(obj)}", lambda: self._step(call))

    def _step(self, call: Call) -> Any:
        with self._idle:
            if self.closed:
                raise EngineError("the engine has stopped")
            self._active += 1
        try:
            return self.steps[call.key](call, self.value_of(call.parent))
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def container(self, call: Call) -> Ctr:
        value = self.value_of(call.parent)
        assert isinstance(value, Ctr)
        return value

    # -- steps -----------------------------------------------------------------------------

    def _host_directory(self, args: Mapping[str, Any]) -> Snapshot:
        root = host_path(str(args["path"]), "host.directory")
        if not root.is_dir():
            raise EngineError(f"host.directory({str(root)!r}): no such directory")
        patterns = [exclude_regex(p) for p in args.get("exclude") or []]
        staging = Path(tempfile.mkdtemp(dir=self.workdir))
        specs: list[tuple[str, GitIgnoreSpec]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel = Path(dirpath).relative_to(root).as_posix()
            base = "" if rel == "." else f"{rel}/"
            if args.get("gitignore") and ".gitignore" in filenames:
                lines = (Path(dirpath) / ".gitignore").read_text().splitlines()
                specs.append((base, GitIgnoreSpec.from_lines(lines)))

            def kept(name: str, is_dir: bool, base: str = base) -> bool:
                path = base + name
                if any(p.fullmatch(path) for p in patterns):
                    return False
                return not any(path.startswith(b) and s.match_file(
                    path[len(b):] + ("/" if is_dir else "")) for b, s in specs)

            real = [d for d in dirnames if kept(d, True)]
            dirnames[:] = [d for d in real if not os.path.islink(Path(dirpath, d))]
            (staging / base).mkdir(parents=True, exist_ok=True)
            for name in [*filenames, *(d for d in real if d not in dirnames)]:
                if kept(name, False):
                    shutil.copy2(Path(dirpath, name), staging / base / name, follow_symlinks=False)
        return self._store(staging)

    def _host_file(self, path: str) -> Snapshot:
        source = host_path(path, "host.file")
        if not source.is_file():
            raise EngineError(f"host.file({path!r}): no such file")
        staging = Path(tempfile.mkdtemp(dir=self.workdir))
        shutil.copy2(source, staging / source.name)
        return self._store(staging, source.name)

    def _inside(self, parent: Snapshot, path: str, want_dir: bool) -> Snapshot:
        source = parent.path / path.strip("/")
        if source.is_dir() != want_dir or not source.exists():
            kind = "directory" if want_dir else "file"
            raise EngineError(f"Directory.{kind}({path!r}): no such {kind}")
        staging = Path(tempfile.mkdtemp(dir=self.workdir))
        if want_dir:
            shutil.copytree(source, staging, symlinks=True, dirs_exist_ok=True)
            return self._store(staging)
        shutil.copy2(source, staging / source.name)
        return self._store(staging, source.name)

    def _store(self, staging: Path, file_name: str | None = None) -> Snapshot:
        key = tree_key(staging)
        final = self.workdir / "snapshots" / key
        final.parent.mkdir(exist_ok=True)
        with self._memo_lock:
            if final.exists():
                shutil.rmtree(staging)
            else:
                staging.rename(final)
        return Snapshot(final / file_name if file_name else final, key)

    def _docker_build(self, call: Call, context: Snapshot) -> Ctr:
        dockerfile = str(call.args.get("dockerfile") or "Dockerfile")
        build_args = [(str(a["name"]), str(a["value"])) for a in call.args.get("buildArgs") or []]
        target = str(call.args.get("target") or "")
        key = digest(repr(("build", context.key, dockerfile, build_args, target)))

        def build() -> Ctr:
            iidfile = context.path.parent / f"{key}.iid"
            argv = ["build", "--network", "host", "--iidfile", str(iidfile),
                    "--tag", f"{BUILD_REPOSITORY}:{key[:16]}",
                    "-f", str(context.path / dockerfile)]
            for name, value in build_args:
                argv += ["--build-arg", f"{name}={value}"]
            argv += ["--target", target] if target else []
            self.docker([*argv, str(context.path)], env={"DOCKER_BUILDKIT": "0"},
                        timeout=EXEC_TIMEOUT, what=f"dockerBuild({dockerfile})")
            return Ctr(image=iidfile.read_text().strip())

        return self.once(key, build)  # type: ignore[no-any-return]

    def _from(self, parent: Ctr, address: str) -> Ctr:
        image = self.image_id(self.images.get(address, address))
        if image is None and LOOPBACK_REGISTRY.match(address):
            with self.docker_config(parent.auth) as env:
                self.docker(["pull", address], env=env, timeout=600, what=f"from({address!r})")
            image = self.image_id(address)
        if image is None:
            raise EngineError(
                f"from({address!r}): the image is not on the rig and cannot be pulled here "
                "(only images in the rig's dockerd or a loopback registry can be used; "
                "tests/rig/pipeline_images.py provides the public Python images)"
            )
        return Ctr(image=image, auth=parent.auth)

    def _with_env(self, ctr: Ctr, args: Mapping[str, Any]) -> Ctr:
        return ctr.with_env(str(args["name"]), str(args["value"]))

    def _with_secret(self, ctr: Ctr, args: Mapping[str, Any]) -> Ctr:
        name = str(args["name"])
        if not ENV_NAME.fullmatch(name):
            raise EngineError(f"withSecretVariable({name!r}): not a shell variable name")
        secret = self.value_of(args["secret"])
        return replace(ctr, secrets=(*((n, s) for n, s in ctr.secrets if n != name),
                                     (name, secret)))

    def _with_port(self, call: Call, ctr: Ctr) -> Ctr:
        if call.args.get("protocol", "TCP") != "TCP":
            raise EngineError("withExposedPort: only TCP ports are supported")
        return replace(ctr, ports=(*ctr.ports, int(call.args["port"])))

    def _as_service(self, call: Call, ctr: Ctr) -> Svc:
        config = self.config(self.need_image(ctr, "asService"))
        args = [str(a) for a in call.args.get("args") or []] or list(config.get("Cmd") or [])
        if call.args.get("useEntrypoint"):
            args = [*(config.get("Entrypoint") or []), *args]
        if not args:
            raise EngineError("asService: the container has no default command; give args")
        if ctr.bindings:
            raise EngineError("asService: services with bindings are not supported")
        if ctr.secrets and config.get("User") not in ("", "root", "0", "0:0", None):
            raise EngineError("withSecretVariable: the stand-in hands secrets to root services "
                              "only")
        return Svc(ctr, tuple(args))

    def _with_exec(self, call: Call, ctr: Ctr) -> Ctr:
        argv = tuple(str(a) for a in call.args["args"])
        image = self.need_image(ctr, "withExec")
        if not argv:
            raise EngineError("withExec(args: []): give the command to run")
        if call.args.get("useEntrypoint"):
            argv = (*(self.config(image).get("Entrypoint") or []), *argv)
        redirect = str(call.args.get("redirectStdout") or "")
        key = digest(repr(("exec", ctr.key, argv, redirect)))
        done: Ctr = self._injected(ctr, argv) or self.once(
            key, lambda: self._run_exec(ctr, image, argv, redirect))
        assert done.last is not None
        expect, code = str(call.args.get("expect") or "SUCCESS"), done.last.exit_code
        if (expect == "SUCCESS" and code != 0) or (expect == "FAILURE" and code == 0):
            raise ExecFailed(done.last)
        return done

    def _injected(self, ctr: Ctr, argv: tuple[str, ...]) -> Ctr | None:
        """An injected result (never cached): the image stays as it was."""
        for failure in self.injected:
            if failure.match(list(argv)):
                result = ExecResult(argv, failure.exit_code, failure.stdout, failure.stderr)
                return replace(ctr, last=result)
        return None

    def _run_exec(self, ctr: Ctr, image: str, argv: tuple[str, ...], redirect: str) -> Ctr:
        if ctr.secrets and self.config(image).get("User") not in ("", "root", "0", "0:0", None):
            raise EngineError("withSecretVariable: the stand-in hands secrets to root execs only")
        name = self.name("exec")
        command = exec_argv(argv, [n for n, _ in ctr.secrets], redirect)
        with self.secret_mount(ctr.secrets) as mount, self.services(ctr.bindings) as network:
            self.docker(["create", "--name", name, *network, *self.run_flags(ctr), *mount,
                         "--entrypoint", "", image, *command], what=f"withExec({list(argv)})")
            try:
                self.record(["start", "--attach", name])
                ran = subprocess.run(["docker", "start", "--attach", name], capture_output=True,
                                     timeout=EXEC_TIMEOUT, check=False)
                state = json.loads(self.docker(["inspect", "--format", "{{json .State}}", name],
                                               what="withExec").stdout)
                committed = self.commit(name, image)
            finally:
                self.docker(["rm", "--force", name], what="withExec cleanup")
        secrets = [s for _, s in ctr.secrets]
        stderr = ran.stderr.decode(errors="replace") + (state.get("Error") or "")
        result = ExecResult(argv, int(state["ExitCode"]),
                            scrub(ran.stdout.decode(errors="replace"), secrets),
                            scrub(stderr, secrets))
        self.record_output(result.stdout, result.stderr)
        return replace(ctr, image=committed, last=result)

    def _copy_in(self, ctr: Ctr, call: Call) -> Ctr:
        image = self.need_image(ctr, call.field)
        source = self.value_of(call.args["source"])
        dest = absolute(ctr, str(call.args["path"]))
        mode = call.args.get("permissions")
        key = digest(repr(("copy", image, dest, source.key, mode)))

        def build() -> Ctr:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                if source.path.is_dir():
                    instruction = ["ctx/", dest.rstrip("/") + "/"]
                    tar.add(source.path, arcname="ctx", filter=_zero_mtime)
                else:
                    instruction = ["ctx/file", dest]
                    info = tar.gettarinfo(source.path, arcname="ctx/file")
                    info.mode = int(mode) if mode is not None else info.mode
                    info.mtime = 0
                    with source.path.open("rb") as handle:
                        tar.addfile(info, handle)
                text = f"FROM {image}\nCOPY {json.dumps(instruction)}\n".encode()
                info = tarfile.TarInfo("Dockerfile")
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text))
            return replace(ctr, image=self.build_from_tar(buffer.getvalue(), call.field))

        return self.once(key, build)  # type: ignore[no-any-return]

    def _copy_out(self, ctr: Ctr, path: str, want_dir: bool) -> Snapshot:
        image = self.need_image(ctr, "directory" if want_dir else "file")
        source = absolute(ctr, path)
        name = self.name("copy")
        self.docker(["create", "--name", name, "--entrypoint", "", image, "placeholder"],
                    what="copy out")
        try:
            copied = subprocess.run(["docker", "cp", f"{name}:{source}", "-"],
                                    capture_output=True, timeout=600, check=False)
        finally:
            self.docker(["rm", "--force", name], what="copy out cleanup")
        if copied.returncode != 0:
            raise EngineError(f"{path!r} in the container: no such file or directory")
        staging = Path(tempfile.mkdtemp(dir=self.workdir))
        with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as tar:
            members = tar.getmembers()
            if members and members[0].isdir() != want_dir:
                shutil.rmtree(staging)
                kind = "a directory" if want_dir else "a file"
                raise EngineError(f"{path!r} in the container is not {kind}")
            tar.extractall(staging, filter="tar")
        top = staging / members[0].name
        if not want_dir:
            return self._store(staging, top.name)
        inner = Path(tempfile.mkdtemp(dir=self.workdir))
        for child in top.iterdir():
            child.rename(inner / child.name)
        shutil.rmtree(staging)
        return self._store(inner)

    # -- Docker ----------------------------------------------------------------------------

    def docker(self, args: Sequence[str], *, what: str, env: Mapping[str, str] | None = None,
               timeout: float = 300.0, stdin: bytes | None = None,
               ) -> subprocess.CompletedProcess[bytes]:
        full_env = {**os.environ, **(env or {})}
        self.record(args)
        result = subprocess.run(["docker", *args], input=stdin, capture_output=True,
                                env=full_env, timeout=timeout, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise EngineError(f"{what}: `docker {args[0]}` exited {result.returncode}:\n"
                              f"{output[-3000:]}")
        return result

    def record(self, args: Sequence[str]) -> None:
        """Keep a docker command line, for tests that check what reached the command lines."""
        with self._record_lock:
            self.commands.append(tuple(args))

    def record_output(self, *texts: str) -> None:
        with self._record_lock:
            self.outputs.extend(texts)

    def name(self, kind: str) -> str:
        return f"{PREFIX}-{self.instance}-{kind}-{next(self._names)}"

    def image_id(self, ref: str) -> str | None:
        found = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                               capture_output=True, text=True, timeout=60, check=False)
        return found.stdout.strip() if found.returncode == 0 else None

    def config(self, image: str) -> dict[str, Any]:
        def inspect() -> dict[str, Any]:
            out = self.docker(["image", "inspect", "--format", "{{json .Config}}", image],
                              what="image config").stdout
            return dict(json.loads(out) or {})

        return self.once(f"config:{image}", inspect)  # type: ignore[no-any-return]

    def need_image(self, ctr: Ctr, what: str) -> str:
        if ctr.image is None:
            raise EngineError(f"{what}: the container has no image yet; call `from` first")
        return ctr.image

    def run_flags(self, ctr: Ctr) -> list[str]:
        flags = [f"--env={name}={value}" for name, value in ctr.env]
        flags += [f"--workdir={ctr.workdir}"] if ctr.workdir else []
        for path, key in ctr.caches:
            flags += ["--mount", f"type=volume,src={self.volume(key)},dst={path},volume-nocopy"]
        return flags

    def volume(self, key: str) -> str:
        def create() -> str:
            name = f"{PREFIX}-{self.instance}-{re.sub(r'[^A-Za-z0-9_.-]', '-', key)[:40]}"
            name += f"-{digest(key)[:8]}"
            self.docker(["volume", "create", name], what=f"cacheVolume({key!r})")
            self.volumes[key] = name
            return name

        return self.once(f"volume:{key}", create)  # type: ignore[no-any-return]

    def commit(self, container: str, image: str) -> str:
        """The container's filesystem as an image, with the image's own CMD and ENTRYPOINT."""
        config = self.config(image)
        changes = []
        for instruction, key in (("CMD", "Cmd"), ("ENTRYPOINT", "Entrypoint")):
            changes += ["--change", f"{instruction} {json.dumps(config.get(key) or [])}"]
        out = self.docker(["commit", *changes, container], what="withExec commit").stdout
        committed = out.decode().strip()
        self.made_images.append(committed)
        return committed

    def build_from_tar(self, context: bytes, what: str) -> str:
        with tempfile.NamedTemporaryFile(dir=self.workdir, suffix=".iid") as iid:
            self.docker(["build", "--network", "host", "--iidfile", iid.name, "-"],
                        env={"DOCKER_BUILDKIT": "0"}, stdin=context, timeout=600, what=what)
            image = Path(iid.name).read_text().strip()
        self.made_images.append(image)
        return image

    @contextlib.contextmanager
    def secret_mount(self, secrets: Sequence[tuple[str, SecretValue]]) -> Iterator[list[str]]:
        """A private folder of 0600 files, one per secret variable, mounted read-only."""
        if not secrets:
            yield []
            return
        folder = Path(tempfile.mkdtemp(dir=self.workdir, prefix="secrets-"))
        try:
            for name, secret in secrets:
                descriptor = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(secret.plaintext)
            yield ["--mount", f"type=bind,src={folder},dst={SECRETS_MOUNT},readonly"]
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def docker_config(self, auth: Sequence[tuple[str, str, SecretValue]]) -> Iterator[
        dict[str, str]
    ]:
        """DOCKER_CONFIG with the registry logins, in a private folder for one command."""
        if not auth:
            yield {}
            return

        folder = Path(tempfile.mkdtemp(dir=self.workdir, prefix="docker-config-"))
        try:
            auths = {registry_host(address): {"auth": base64.b64encode(
                f"{user}:{secret.plaintext}".encode()).decode()} for address, user, secret in auth}
            descriptor = os.open(folder / "config.json", os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                json.dump({"auths": auths}, handle)
            yield {"DOCKER_CONFIG": str(folder)}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextlib.contextmanager
    def services(self, bindings: Sequence[tuple[str, Svc]]) -> Iterator[list[str]]:
        """Start the bound services; yield the network flags of an exec that reaches them."""
        if not bindings:
            yield ["--network", "host"]
            return
        started: list[str] = []
        try:
            with contextlib.ExitStack() as mounts:
                for _, service in bindings:
                    mount = mounts.enter_context(self.secret_mount(service.ctr.secrets))
                    started.append(self.start_service(service, started[0] if started else None,
                                                      [alias for alias, _ in bindings], mount))
                yield ["--network", f"container:{started[0]}"]
        finally:
            for name in started:
                subprocess.run(["docker", "rm", "--force", name], capture_output=True,
                               timeout=60, check=False)

    def start_service(self, service: Svc, first: str | None, aliases: list[str],
                      secret_mount: list[str]) -> str:
        name = self.name("service")
        if first is None:
            network = ["--network", "none", *(f"--add-host={a}:127.0.0.1" for a in aliases)]
        else:
            network = ["--network", f"container:{first}"]
        image = self.need_image(service.ctr, "asService")
        self.docker(["run", "--detach", "--name", name, *network, *self.run_flags(service.ctr),
                     *secret_mount, "--entrypoint", "", image, *service_argv(service)],
                    what=f"service {list(service.args)}")
        self.wait_listening(name, service)
        return name

    def wait_listening(self, name: str, service: Svc) -> None:
        """Wait until the service listens on its exposed ports, as Dagger's health check."""
        deadline = time.monotonic() + SERVICE_TIMEOUT
        while True:
            state = json.loads(self.docker(["inspect", "--format", "{{json .State}}", name],
                                           what="service").stdout)
            if not state.get("Running"):
                logs = self.docker(["logs", "--tail", "30", name], what="service logs")
                text = scrub((logs.stdout + logs.stderr).decode(errors="replace"),
                             [secret for _, secret in service.ctr.secrets])
                self.record_output(text)
                raise EngineError(f"service {list(service.args)} exited with code "
                                  f"{state.get('ExitCode')} before listening:\n{text}")
            try:
                tables = "".join(Path(f"/proc/{state['Pid']}/net/{t}").read_text()
                                 for t in ("tcp", "tcp6"))
            except OSError:  # it exited since the inspect: the next round says how
                tables = ""
            if tables and set(service.ctr.ports) <= listening_ports(tables):
                return
            if time.monotonic() > deadline:
                raise EngineError(f"service {list(service.args)} did not listen on "
                                  f"{list(service.ctr.ports)} within {SERVICE_TIMEOUT:.0f} s")
            time.sleep(0.1)

    # -- leaves ----------------------------------------------------------------------------

    def leaves(self) -> dict[str, Callable[[Call], Any]]:
        def last(call: Call) -> ExecResult:
            result = self.container(call).last
            if result is None:
                raise EngineError(f"{call.field}: no command has been executed in the container")
            return result

        leaves: dict[str, Callable[[Call], Any]] = {
            "Container.exitCode": lambda call: last(call).exit_code,
            "Container.stdout": lambda call: last(call).stdout,
            "Container.stderr": lambda call: last(call).stderr,
            "Container.sync": self._sync,
            "Container.publish": self._publish,
            "Container.label": self._label,
            "Directory.export": self._export,
            "File.export": self._export,
            "File.contents": lambda call: self.value_of(call.parent).path.read_text(
                errors="replace"),
        }
        return {key: _exec_errors_as_engine_does(leaf) for key, leaf in leaves.items()}

    def _sync(self, call: Call) -> str:
        self.container(call)  # evaluated: an exec failure surfaces here
        return self.id_for(call.parent)

    def _label(self, call: Call) -> str | None:
        """A label of the container's image, as its config has it (set by LABEL or a base)."""
        image = self.need_image(self.container(call), "label")
        labels = self.config(image).get("Labels") or {}
        value = labels.get(str(call.args["name"]))
        return None if value is None else str(value)

    def _publish(self, call: Call) -> str:
        ctr = self.container(call)
        address = str(call.args["address"])
        image = self._final_image(ctr)
        self.docker(["tag", image, address], what=f"publish({address!r})")
        self.published.append(address)
        with self.docker_config(ctr.auth) as env:
            pushed = self.docker(["push", address], env=env, timeout=900,
                                 what=f"publish({address!r})")
        found = PUSHED_DIGEST.search(pushed.stdout.decode(errors="replace"))
        if found is None:
            raise EngineError(f"publish({address!r}): docker push printed no digest")
        return f"{address}@{found.group(1)}"

    def _final_image(self, ctr: Ctr) -> str:
        """ctr's image with the config Dagger keeps beside it (env, workdir, exposed ports)."""
        image = self.need_image(ctr, "publish")
        lines = [dockerfile_env(name, value) for name, value in ctr.env]
        lines += [f"WORKDIR {json.dumps(ctr.workdir)}"] if ctr.workdir else []
        lines += [f"EXPOSE {port}/tcp" for port in ctr.ports]
        if not lines:
            return image
        text = "\n".join([f"FROM {image}", *lines, ""]).encode()
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        key = digest(repr(("final", ctr.key)))
        built: str = self.once(key, lambda: self.build_from_tar(buffer.getvalue(), "publish"))
        return built

    def _export(self, call: Call) -> str:
        snapshot: Snapshot = self.value_of(call.parent)
        dest = host_path(str(call.args["path"]), f"{call.type_name}.export")
        if snapshot.path.is_dir():
            shutil.copytree(snapshot.path, dest, symlinks=True, dirs_exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(snapshot.path, dest)
        return str(dest)

    # -- cleanup ---------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove every container, volume, exec image and published tag this engine made,
        once the steps still running for a client that went away have ended (up to 5 min)."""
        with self._idle:
            self.closed = True
            self._idle.wait_for(lambda: self._active == 0, timeout=300)
        listed = subprocess.run(
            ["docker", "ps", "--all", "--quiet", "--filter", f"name=^/{PREFIX}-{self.instance}-"],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout.split()
        for command, items in ((["rm", "--force"], listed),
                               (["volume", "rm", "--force"], list(self.volumes.values())),
                               (["rmi"], self.published), (["rmi"], self.made_images[::-1])):
            if items:
                subprocess.run(["docker", *command, *items], capture_output=True, timeout=300,
                               check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _exec_errors_as_engine_does(leaf: Callable[[Call], Any]) -> Callable[[Call], Any]:
    """An exec refused by its `expect` reaches the SDK as EXEC_ERROR (dagger.ExecError)."""

    def resolve(call: Call) -> Any:
        try:
            return leaf(call)
        except ExecFailed as failed:
            r = failed.result
            failure = ExecFailure(lambda _: True, r.exit_code, r.stdout, r.stderr)
            raise exec_error(list(r.argv), failure) from None

    return resolve


def _zero_mtime(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    return info


def _default(field_: GraphQLField, name: str) -> Any:
    node = field_.args[name].ast_node
    if node is None or node.default_value is None:
        return None
    value = value_from_ast(node.default_value, field_.args[name].type)
    return None if value is Undefined else value


def check_supported(type_name: str, name: str, field_: GraphQLField, sent: set[str],
                    values: Mapping[str, Any]) -> None:
    """Refuse a field the stand-in does not execute, or an argument it would ignore."""
    if name == "id" or (type_name == "Query" and (
            name == "node" or name in {f"load{t}FromID" for t in LOADABLE})):
        return
    key = f"{type_name}.{name}"
    allowed = SUPPORTED.get(key)
    if allowed is None:
        raise EngineError(f"{key} is not supported: the stand-in executes only what the "
                          "pipeline uses (see tests/pipeline/docker_engine.py)")
    for arg in sorted(sent - allowed):
        if values.get(arg) not in (_default(field_, arg), None, "", False, []):
            raise EngineError(f"{key}({arg}:) with a non-default value is not supported")


class DockerEngine(FakeEngine):
    """`FakeEngine`'s session API, executing on Docker; see the module docstring."""

    def __init__(self, schema_path: Path | None = None, *, token: str | None = None,
                 images: Mapping[str, str] | None = None) -> None:
        """`images` maps image names a pipeline asks for (e.g. postgres:16) to local images."""
        super().__init__(schema_path, token=token)
        workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
        self.docker = DockerExecutor(self.schema, workdir, images)
        self.docker.responders.update(self._executor.responders)
        self._executor = self.docker
        for key, responder in self.docker.leaves().items():
            self.respond(key, responder)

    def handle(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if "__schema" in str(body.get("query") or ""):  # the SDK's first query of a session
            self.docker.new_session()
        return super().handle(body)

    def fail_exec(self, match: Callable[[list[str]], bool], *, exit_code: int = 1,
                  stdout: str = "", stderr: str = "") -> None:
        """Matching execs "exit" with this result instead of running (expect still applies)."""
        self.docker.injected.append(ExecFailure(match, exit_code, stdout, stderr))

    def start(self) -> DockerEngine:
        super().start()
        assert self._server is not None
        report = self._server.handle_error

        def quiet(request: Any, address: Any) -> None:
            """A client that went away mid-query (a cancelled stage) is no engine error."""
            if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
                report(request, address)

        self._server.handle_error = quiet  # type: ignore[method-assign,assignment]
        return self

    def stop(self) -> None:
        super().stop()
        self.docker.cleanup()
