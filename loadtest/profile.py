"""Pure: what the load gate requests (the declaration's `load.paths`, each with its weight) and
what counts as a failed answer (the declared health contract on the health path)."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.declaration import Declaration, Health
from shipyard.health import judge_answer

DEFAULT = Declaration()


@dataclass(frozen=True, slots=True)
class Profile:
    """The paths one simulated user requests (weights), and the health contract."""

    paths: tuple[tuple[str, int], ...] = tuple(DEFAULT.load.paths.items())
    health: Health = DEFAULT.health

    @classmethod
    def declared(cls, declaration: Declaration) -> Profile:
        return cls(tuple(declaration.load.paths.items()), declaration.health)

    @property
    def health_path(self) -> str:
        return self.health.path

    def problem(self, path: str, status: int, body: str) -> str | None:
        """Why an answer counts as failed; None when it does not. The health path must keep
        its contract under load (as smoke judges it); any other path fails on a 4xx or 5xx."""
        if path != self.health.path:
            return f"HTTP {status}" if status >= 400 else None
        return judge_answer(self.health, status, body)
