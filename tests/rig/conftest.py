"""The rig's own smoke test uses the same fixtures as tests/integration (one plugin)."""

from __future__ import annotations

import pytest

RIG_PLUGINS = ("tests.rig.fixtures", "tests.rig.fleet", "tests.rig.postgres")


def pytest_configure(config: pytest.Config) -> None:
    for plugin in RIG_PLUGINS:
        if config.pluginmanager.get_plugin(plugin) is None:
            config.pluginmanager.import_plugin(plugin)
