"""Fixtures for pipeline tests: a fake Dagger engine session validated against the real schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.fake_engine import FakeEngine
from tests.pipeline.fake_schema import SCHEMA_ENV, default_schema_path


@pytest.fixture(scope="session")
def dagger_schema_path() -> Path:
    path = default_schema_path()
    if not path.is_file():
        pytest.skip(f"Dagger schema not found at {path}; set ${SCHEMA_ENV} to its path")
    return path


@pytest.fixture
def fake_engine(dagger_schema_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEngine]:
    """A started fake engine whose session the SDK joins; fails if any query was invalid."""
    with FakeEngine(dagger_schema_path) as engine:
        for name, value in engine.env.items():
            monkeypatch.setenv(name, value)
        yield engine
    invalid = "\n\n".join(f"{q.query}\n-> {'; '.join(q.errors)}" for q in engine.invalid_queries)
    assert not engine.invalid_queries, f"queries invalid against the Dagger schema:\n{invalid}"
