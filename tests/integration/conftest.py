"""Integration tests run against the loopback rig: its fixtures come from tests.rig.fixtures.

Session fixtures: dockerd, registry, registry_address, base_image, build_app_image, ssh_host,
rig_dir; per test: app_path. They are registered once, as a plugin, so that this folder and
tests/rig share one set of servers.
"""

from __future__ import annotations

import pytest

RIG_PLUGIN = "tests.rig.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.get_plugin(RIG_PLUGIN) is None:
        config.pluginmanager.import_plugin(RIG_PLUGIN)
