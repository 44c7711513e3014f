"""Run the rig benchmarks and print their figures: `python benchmarks/run.py [-k NAME]`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(pytest.main([
        str(ROOT / "benchmarks" / "rig_benchmarks.py"),
        str(ROOT / "benchmarks" / "bluegreen_benchmarks.py"),
        str(ROOT / "benchmarks" / "pipeline_benchmarks.py"),
        str(ROOT / "benchmarks" / "canary_benchmarks.py"),
        str(ROOT / "benchmarks" / "fleet_benchmarks.py"),
        str(ROOT / "benchmarks" / "prechecks_benchmarks.py"),
        str(ROOT / "benchmarks" / "swarm_benchmarks.py"),
        str(ROOT / "benchmarks" / "supply_benchmarks.py"),
        str(ROOT / "benchmarks" / "first_deploy_benchmarks.py"),
        str(ROOT / "benchmarks" / "watch_benchmarks.py"), "-s", "-q",
        "-p", "tests.rig.fixtures", "-p", "tests.rig.proxy", "-p", "tests.rig.pipeline_images",
        "-p", "tests.rig.fleet", "-p", "tests.rig.postgres", "-p", "tests.rig.swarm",
        "-p", "no:cacheprovider", "-o", "addopts=", *sys.argv[1:],
    ]))  # fmt: skip
