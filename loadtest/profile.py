"""Pure: what the load gate requests (the declaration's `load.paths`, each with its weight) and
what counts as a failed answer (the declared health contract on the health path)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import JsonValue

from shipyard.declaration import Declaration
from shipyard.health import body_mismatch, status_mismatch

DEFAULT = Declaration()


@dataclass(frozen=True, slots=True)
class Profile:
    """The paths one simulated user requests (weights), and the health contract."""

    paths: tuple[tuple[str, int], ...] = tuple(DEFAULT.load.paths.items())
    health_path: str = DEFAULT.health.path
    statuses: tuple[int, ...] = tuple(DEFAULT.health.status)
    expect: JsonValue = field(default_factory=lambda: DEFAULT.health.expect, hash=False)

    @classmethod
    def declared(cls, declaration: Declaration) -> Profile:
        return cls(tuple(declaration.load.paths.items()), declaration.health.path,
                   tuple(declaration.health.status), declaration.health.expect)  # fmt: skip

    def problem(self, path: str, status: int, body: str) -> str | None:
        """Why an answer counts as failed; None when it does not. The health path must keep
        its contract under load; any other path fails on a 4xx or 5xx."""
        if path != self.health_path:
            return f"HTTP {status}" if status >= 400 else None
        wrong = status_mismatch(status, self.statuses)
        if wrong is not None:
            return f"{path}: {wrong}"
        try:
            document = json.loads(body)
        except ValueError:
            return f"{path} answered without JSON"
        wrong = body_mismatch(self.expect, document)
        return None if wrong is None else f"{path} {wrong}"
