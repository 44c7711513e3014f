"""What the fake Dagger engine records: calls, the objects they build, and queries it rejected."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any


@dataclasses.dataclass(eq=False, slots=True)
class Obj:
    """An engine object: its GraphQL type and the chain of calls from the root that built it."""

    type_name: str
    calls: tuple[Call, ...]

    @property
    def last(self) -> Call | None:
        """The call that produced this object (None for the root `Query`)."""
        return self.calls[-1] if self.calls else None

    def find(self, field: str) -> Call | None:
        """The last call named `field` (or `Type.field`) in this object's chain."""
        found = [c for c in self.calls if c.matches(field)]
        return found[-1] if found else None

    def find_all(self, field: str) -> list[Call]:
        return [c for c in self.calls if c.matches(field)]

    def path(self) -> str:
        return ".".join(c.field for c in self.calls) or "<root>"

    def __repr__(self) -> str:
        return f"Obj({self.type_name}: {self.path()})"


@dataclasses.dataclass(eq=False, slots=True)
class Call:
    """One field resolved by the engine.

    `args` holds only the arguments the client sent, coerced to Python values (input objects
    are dicts, enums their names); every `ID` argument is replaced by the `Obj` it names.
    `started`/`ended` are `time.monotonic()` seconds (equal for object fields, which are lazy);
    `query_index` indexes `FakeEngine.queries`.
    """

    type_name: str
    field: str
    args: Mapping[str, Any]
    parent: Obj
    leaf: bool
    query_index: int
    started: float
    ended: float

    @property
    def chain(self) -> tuple[Call, ...]:
        """Every call from the root to this one, `loadXFromID`/`node(id:)` expanded."""
        return (*self.parent.calls, self)

    @property
    def key(self) -> str:
        return f"{self.type_name}.{self.field}"

    def matches(self, field: str) -> bool:
        return field in (self.field, self.key)

    def find(self, field: str) -> Call | None:
        """The last call named `field` in this call's chain (itself included)."""
        found = [c for c in self.chain if c.matches(field)]
        return found[-1] if found else None

    def find_all(self, field: str) -> list[Call]:
        return [c for c in self.chain if c.matches(field)]

    def path(self) -> str:
        return ".".join(c.field for c in self.chain)

    def overlaps(self, other: Call) -> bool:
        """Whether the two calls were being served at the same time."""
        return self.started < other.ended and other.started < self.ended

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"Call({self.key}({args}) via {self.path()})"


@dataclasses.dataclass(frozen=True, slots=True)
class InvalidQuery:
    """A query document that failed to parse or to validate against the schema."""

    query: str
    errors: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ExecFailure:
    """An injected failure for `withExec` calls whose args satisfy `match`."""

    match: Callable[[list[str]], bool]
    exit_code: int = 1
    stdout: str = ""
    stderr: str = ""


def objects_in(value: Any) -> Iterator[Obj]:
    """Every `Obj` inside an argument value (lists and input objects included)."""
    if isinstance(value, Obj):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from objects_in(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from objects_in(item)


def deep_calls(calls: tuple[Call, ...]) -> Iterator[Call]:
    """The calls of a chain and, depth first, of every object passed to them as arguments."""
    seen: set[int] = set()

    def walk(chain: tuple[Call, ...]) -> Iterator[Call]:
        for call in chain:
            if id(call) in seen:
                continue
            seen.add(id(call))
            for obj in objects_in(dict(call.args)):
                yield from walk(obj.calls)
            yield call

    yield from walk(calls)
