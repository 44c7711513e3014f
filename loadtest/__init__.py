"""The load-test gate: a Locust profile run in its own process, judged by k6-style thresholds."""
