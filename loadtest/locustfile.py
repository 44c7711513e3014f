"""The load profile as a Locust user: each declared path as a task with its weight (Locust
gevent-patches the process that imports it: own process only)."""

from __future__ import annotations

from collections.abc import Callable

from locust import HttpUser, between

from loadtest.profile import Profile

THINK_TIME = between(0.1, 0.5)  # seconds between one user's requests


def visit(path: str, profile: Profile) -> Callable[[HttpUser], None]:
    """One task: GET `path`; an answer the profile refuses is a failure."""

    def task(user: HttpUser) -> None:
        with user.client.get(path, catch_response=True) as response:
            problem = profile.problem(path, response.status_code, response.text)
            if problem is not None:
                response.failure(problem)
            else:
                response.success()

    task.__name__ = f"get {path}"
    return task


def user_class(profile: Profile) -> type[HttpUser]:
    """A Locust user that requests the profile's paths in proportion to their weights."""
    tasks = {visit(path, profile): weight for path, weight in profile.paths}
    return type("ServiceUser", (HttpUser,), {"wait_time": THINK_TIME, "tasks": tasks})
