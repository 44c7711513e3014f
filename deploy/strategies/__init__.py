"""How a release replaces the running one: one Strategy protocol (base.py), one module per
strategy (swarm: the swarm target); `strategy_for` picks the one the settings name."""

from __future__ import annotations

from deploy.host.session import HostSession
from deploy.strategies.base import Strategy
from deploy.strategies.bluegreen import BlueGreen
from deploy.strategies.canary import Canary
from deploy.strategies.recreate import Recreate
from deploy.strategies.swarm import Swarm


def strategy_for(host: HostSession) -> Strategy:
    if host.target.kind == "swarm":  # <ENV>_TARGET=swarm: Swarm's rolling update
        return Swarm(host)
    if host.target.release.strategy == "canary":
        return Canary(host)
    if host.target.release.strategy == "blue-green":
        return BlueGreen(host)
    return Recreate(host)
