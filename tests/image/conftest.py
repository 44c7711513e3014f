"""Image tests use the loopback rig's engine: its fixtures come from tests.rig.fixtures."""

from __future__ import annotations

import pytest

RIG_PLUGIN = "tests.rig.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.get_plugin(RIG_PLUGIN) is None:
        config.pluginmanager.import_plugin(RIG_PLUGIN)
