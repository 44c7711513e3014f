"""How a release replaces the running one: one Strategy protocol (base.py), one module per
strategy; `strategy_named` builds the one deploy/choice.py picked."""

from __future__ import annotations

from deploy.host.session import HostSession
from deploy.strategies.base import Strategy
from deploy.strategies.bluegreen import BlueGreen
from deploy.strategies.canary import Canary
from deploy.strategies.recreate import Recreate


def strategy_named(host: HostSession, name: str) -> Strategy:
    """`canary`, `blue-green`, or else recreate."""
    if name == "canary":
        return Canary(host)
    if name == "blue-green":
        return BlueGreen(host)
    return Recreate(host)
