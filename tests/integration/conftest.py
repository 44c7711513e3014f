"""Integration tests run against the loopback rig: its fixtures come from tests.rig.fixtures.

Session fixtures: dockerd, registry, registry_address, base_image, build_app_image, ssh_host,
rig_dir, proxy_image, lab_image (tests.rig.proxy), fleet_hosts (tests.rig.fleet), swarm_engine
(tests.rig.swarm); per test:
app_path, fleet_apps, swarm_app. They are
registered once, as plugins, so that this folder and tests/rig share one set of servers.
"""

from __future__ import annotations

import pytest

RIG_PLUGINS = ("tests.rig.fixtures", "tests.rig.proxy", "tests.rig.fleet", "tests.rig.swarm")


def pytest_configure(config: pytest.Config) -> None:
    for plugin in RIG_PLUGINS:
        if config.pluginmanager.get_plugin(plugin) is None:
            config.pluginmanager.import_plugin(plugin)
