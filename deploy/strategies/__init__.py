"""How a release replaces the running one: one Strategy protocol (base.py), one module per
strategy; `strategy_named` builds the one deploy/choice.py picked (the swarm target:
always swarm.py, Swarm's rolling update)."""

from __future__ import annotations

from deploy.host.session import HostSession
from deploy.strategies.base import Strategy
from deploy.strategies.bluegreen import BlueGreen
from deploy.strategies.canary import Canary
from deploy.strategies.recreate import Recreate
from deploy.strategies.swarm import Swarm


def strategy_named(host: HostSession, name: str) -> Strategy:
    """The swarm target's own, else `canary`, `blue-green`, or recreate."""
    if host.target.kind == "swarm":  # <ENV>_TARGET=swarm: Swarm's rolling update
        return Swarm(host)
    if name == "canary":
        return Canary(host)
    if name == "blue-green":
        return BlueGreen(host)
    return Recreate(host)
