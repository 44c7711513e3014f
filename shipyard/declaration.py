"""The service declaration (`shipyard.toml`): what the service is, read by the pipeline, the
deployer, doctor and the load gate. Pure: a typed model, its defaults (the demo app's), and
errors that name the file and the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
    model_validator,
)

from shipyard.errors import DeclarationError

FILE_NAME = "shipyard.toml"
# The demo app's values, the declaration's defaults: every tool takes them from here.
DEFAULT_NAME = "api"
DEFAULT_PORT = 8000
DEFAULT_HEALTH_PATH = "/health"
# RFC 1123 host name label: what a Dagger service alias and a compose service name must be.
HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Port = Annotated[int, Field(ge=1, le=65535)]
StatusCode = Annotated[int, Field(ge=100, le=599)]


class Part(BaseModel):
    """A table of the declaration: unknown keys and wrong types are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def url_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"{value!r} must start with / (e.g. /{value.lstrip('/')})")
    if any(char.isspace() for char in value):
        raise ValueError(f"{value!r} must not contain spaces")
    return value


def env_names(values: dict[str, str]) -> dict[str, str]:
    for name in values:
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name (A-Z, 0-9, _)")
    return values


def ok_status() -> JsonValue:
    return {"status": "ok"}


class Build(Part):
    """How the image is built: `docker build -f DOCKERFILE [--target T] CONTEXT`."""

    context: str = "."
    dockerfile: str = "Dockerfile"  # relative to the repository root
    target: str | None = None
    args: dict[str, str] = Field(default_factory=dict)


class Health(Part):
    """What a healthy answer is: GET `path` on the container port answers one of `status`,
    and its JSON body matches `expect` (a table: these keys with these values; any other
    value: the whole body equals it, e.g. `true`; an empty table: any body)."""

    path: str = DEFAULT_HEALTH_PATH
    status: list[StatusCode] = Field(default_factory=lambda: [200], min_length=1)
    expect: JsonValue = Field(default_factory=ok_status)

    _path = field_validator("path")(url_path)


class Identity(Part):
    """How a release proves it is the new one: the commit in a JSON field of the health
    answer, or the image's OCI revision label compared with the running container's image."""

    source: Literal["health-json", "revision-label"] = "health-json"
    field: str = "commit"  # the health answer's key that holds the commit (health-json)


class TestingService(Part):
    """A service the tests need (e.g. Postgres), bound to the test container as `alias`."""

    alias: str
    image: str
    port: Port
    env: dict[str, str] = Field(default_factory=dict)
    # Names of variables given to the service and the tests as secrets: the value comes from
    # the pipeline's environment when set there, else a random one is made for the run.
    secrets: list[str] = Field(default_factory=list)

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        if not HOSTNAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid host name: use a-z, 0-9 and -, at most 63 "
                "characters, not starting or ending with - (e.g. db)"
            )
        return value

    _env = field_validator("env")(env_names)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, values: list[str]) -> list[str]:
        env_names(dict.fromkeys(values, ""))
        return values


DEFAULT_TEST_COMMANDS = (
    ("ruff", "check", "."),
    ("mypy",),
    ("pytest", "-m", "not rig and not dagger", "-p", "no:cacheprovider"),
)


class Testing(Part):
    """Where and how the tests run: in the Dockerfile's `target` stage, or (none given) on
    the pipeline's Python base image with the project and its locked dependencies."""

    target: str | None = None
    commands: list[list[str]] = Field(
        default_factory=lambda: [list(command) for command in DEFAULT_TEST_COMMANDS]
    )
    workdir: str = "/src"
    env: dict[str, str] = Field(default_factory=dict)
    services: list[TestingService] = Field(default_factory=list)

    _env = field_validator("env")(env_names)

    @field_validator("commands")
    @classmethod
    def _commands(cls, values: list[list[str]]) -> list[list[str]]:
        if any(not command for command in values):
            raise ValueError("each command is a non-empty list of words, e.g. [\"pytest\"]")
        return values

    @model_validator(mode="after")
    def _services(self) -> Testing:
        aliases = [service.alias for service in self.services]
        for alias in aliases:
            if aliases.count(alias) > 1:
                raise ValueError(f"services: the alias {alias!r} is declared twice; give "
                                 "each service its own alias")  # fmt: skip
        for service in self.services:
            for name in service.secrets:
                if name in self.env:
                    raise ValueError(f"env.{name}: {name} is also a secret of the service "
                                     f"{service.alias!r}; a secret comes from the pipeline's "
                                     "environment (or is made for the run): remove it from "
                                     "test.env")  # fmt: skip
        return self


class Locks(Part):
    """The lock files the scans audit (paths relative to the repository root)."""

    requirements: list[str] = Field(default_factory=lambda: ["app/requirements.txt"])
    uv: list[str] = Field(default_factory=list)
    poetry: list[str] = Field(default_factory=list)


class Scan(Part):
    """What the code scanner (Bandit) reads: folders relative to the repository root."""

    code: list[str] = Field(default_factory=lambda: ["app", "ci", "deploy"], min_length=1)


class Check(Part):
    """One request a release must answer as expected before users reach it."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str
    status: list[StatusCode] = Field(default_factory=lambda: [200], min_length=1)
    expect: JsonValue | None = None  # as in [health]; None: the body is not read as JSON
    contains: str | None = None  # text the body must contain

    _path = field_validator("path")(url_path)


class Smoke(Part):
    """Checks run against a new release before it serves (and after a staging deploy)."""

    checks: list[Check] = Field(default_factory=list)
    # A command (e.g. a pytest suite) given the release's base URL in SMOKE_BASE_URL.
    command: list[str] | None = None


class Load(Part):
    """What the load gate requests: each path with its weight."""

    paths: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {DEFAULT_HEALTH_PATH: 3, "/version": 1}
    )

    @field_validator("paths")
    @classmethod
    def _paths(cls, values: dict[str, int]) -> dict[str, int]:
        for path in values:
            url_path(path)
        return values


class Declaration(Part):
    """The whole declaration; every key has the demo app's default."""

    name: str = DEFAULT_NAME  # the compose service that runs it
    port: Port = DEFAULT_PORT  # the port the container listens on
    build: Build = Field(default_factory=Build)
    health: Health = Field(default_factory=Health)
    identity: Identity = Field(default_factory=Identity)
    test: Testing = Field(default_factory=Testing)
    locks: Locks = Field(default_factory=Locks)
    scan: Scan = Field(default_factory=Scan)
    smoke: Smoke = Field(default_factory=Smoke)
    load: Load = Field(default_factory=Load)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not HOSTNAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a compose service name: use a-z, 0-9 and -")
        return value


def dockerfile_in_context(build: Build) -> str:
    """The Dockerfile's path relative to the build context, as Dagger's `dockerBuild` takes it
    (the declaration gives it relative to the repository root); the pipeline's build and test
    stages both build from it."""
    context, dockerfile = PurePosixPath(build.context), PurePosixPath(build.dockerfile)
    try:
        return dockerfile.relative_to(context).as_posix()
    except ValueError:
        raise DeclarationError(
            "shipyard.toml", "build.dockerfile",
            f"{build.dockerfile!r} is outside build.context {build.context!r}: the pipeline "
            "builds with the context's files only, so move the Dockerfile into it (the path "
            "stays relative to the repository root, e.g. "
            f"{(context / dockerfile.name).as_posix()!r})",
        ) from None



def parse_declaration(text: str, source: str = FILE_NAME) -> Declaration:
    """The declaration in `text` (TOML); DeclarationError naming `source` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DeclarationError(source, "", f"is not valid TOML: {error}") from error
    try:
        return Declaration.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise DeclarationError(source, key_path(first["loc"]), problem(first)) from error


def key_path(location: tuple[int | str, ...]) -> str:
    """('test', 'services', 0, 'alias') → `test.services[0].alias`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def problem(error: Any) -> str:
    kind, message = str(error["type"]), str(error["msg"])
    if kind == "extra_forbidden":
        return "is not a key of the declaration (see docs/service.md for the keys)"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    return f"{message[0].lower()}{message[1:]} (got {error.get('input')!r})"


def find_declaration(start: Path) -> Path | None:
    """`shipyard.toml` in `start` or the nearest folder above it, stopping at the repository's
    root (the folder holding `.git`); None when there is none."""
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
        if (folder / ".git").exists():
            return None
    return None


def read_declaration(path: Path | None) -> Declaration:
    """The declaration in `path` (its errors name that path); the defaults for None. What the
    deployer reads: it checks no build or lock files, which a deploy machine need not have."""
    if path is None:
        return Declaration()
    return parse_declaration(path.read_text(), str(path))


def load_declaration(root: Path, name: str = FILE_NAME) -> Declaration:
    """`root/shipyard.toml` checked against the files it names; the defaults without one."""
    path = root / name
    declaration = parse_declaration(path.read_text(), name) if path.exists() else Declaration()
    check_files(declaration, root, name)
    return declaration


def check_files(declaration: Declaration, root: Path, source: str = FILE_NAME) -> None:
    """The Dockerfile, the build context and every lock file named must exist."""
    named = [("build.context", declaration.build.context),
             ("build.dockerfile", declaration.build.dockerfile)]  # fmt: skip
    for kind in ("requirements", "uv", "poetry"):
        for index, lock in enumerate(getattr(declaration.locks, kind)):
            named.append((f"locks.{kind}[{index}]", lock))
    named += [(f"scan.code[{index}]", folder) for index, folder in enumerate(declaration.scan.code)]
    for key, relative in named:
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise DeclarationError(source, key, f"{relative!r} must be a path inside the "
                                   "repository, relative to its root")  # fmt: skip
        if not (root / relative).exists():
            raise DeclarationError(source, key, f"{relative!r} does not exist in {root}: "
                                   "fix the path, or add the file")  # fmt: skip
