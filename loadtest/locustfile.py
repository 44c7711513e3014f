"""The load profile: what one simulated user of the service does (Locust; own process only)."""

from __future__ import annotations

import json

from locust import HttpUser, between, task

HEALTH_WEIGHT = 3  # monitors, load balancers and the deployer poll /health most
VERSION_WEIGHT = 1  # clients and dashboards read /version now and then


def reports_ok(body: str) -> bool:
    """A /health body that says the service is healthy: JSON with "status": "ok"."""
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("status") == "ok"


class ServiceUser(HttpUser):
    """One user: 3 /health for each /version, 0.1-0.5 s of think time between requests."""

    wait_time = between(0.1, 0.5)

    @task(HEALTH_WEIGHT)
    def health(self) -> None:
        with self.client.get("/health", catch_response=True) as response:
            if response.ok and not reports_ok(response.text):
                response.failure('/health answered without "status": "ok"')

    @task(VERSION_WEIGHT)
    def version(self) -> None:
        self.client.get("/version")
