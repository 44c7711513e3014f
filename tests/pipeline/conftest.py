"""Fixtures for pipeline tests: a fake Dagger engine session validated against the real schema,
and the Docker-backed stand-in engine on the loopback rig (tests marked `rig`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.pipeline.docker_engine import DockerEngine
from tests.pipeline.fake_engine import FakeEngine
from tests.pipeline.fake_schema import SCHEMA_ENV, default_schema_path

E = TypeVar("E", bound=FakeEngine)
RIG_PLUGINS = ("tests.rig.fixtures", "tests.rig.pipeline_images", "tests.rig.postgres",
               "tests.rig.proxy")


def pytest_configure(config: pytest.Config) -> None:
    """Tests that need a real registry or dockerd (marked `rig`) share the rig's servers."""
    for plugin in RIG_PLUGINS:
        if config.pluginmanager.get_plugin(plugin) is None:
            config.pluginmanager.import_plugin(plugin)


@pytest.fixture(scope="session")
def dagger_schema_path() -> Path:
    path = default_schema_path()
    if not path.is_file():
        pytest.skip(f"Dagger schema not found at {path}; set ${SCHEMA_ENV} to its path")
    return path


def forget_shared_session() -> None:
    """The SDK's global connection is a singleton that keeps a session whose connect failed
    (it is meant for one connection per process); start each test from a clean one."""
    from dagger.client._session import SharedConnection

    shared = SharedConnection()  # the singleton itself
    shared._session = None
    shared._params = None


@pytest.fixture
def fake_engine(dagger_schema_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEngine]:
    """A started fake engine whose session the SDK joins; fails if any query was invalid."""
    yield from joined(FakeEngine(dagger_schema_path), monkeypatch)


def joined(engine: E, monkeypatch: pytest.MonkeyPatch) -> Iterator[E]:
    """Start engine, point the SDK at it, stop it after; fail if any query was invalid."""
    forget_shared_session()
    with engine:
        for name, value in engine.env.items():
            monkeypatch.setenv(name, value)
        yield engine
    invalid = "\n\n".join(f"{q.query}\n-> {'; '.join(q.errors)}" for q in engine.invalid_queries)
    assert not engine.invalid_queries, f"queries invalid against the Dagger schema:\n{invalid}"


@pytest.fixture
def docker_engine(
    dagger_schema_path: Path, pipeline_images: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> Iterator[DockerEngine]:
    """The Docker-backed stand-in engine whose session the SDK joins (the rig's dockerd)."""
    yield from joined(DockerEngine(dagger_schema_path), monkeypatch)
