"""What a healthy answer is, judged once for every tool (the pipeline's smoke stage, the
deployer, the load gate): `[health]`'s status codes and `expect`. Pure."""

from __future__ import annotations

import json
from typing import Any

from pydantic import JsonValue

from shipyard.declaration import Health

SHOWN = 200  # characters of an answer quoted in a problem


def matches(expect: JsonValue, body: JsonValue) -> str | None:
    """What is wrong with `body` (a decoded JSON answer) against `expect`; None: nothing.

    A table (dict) asks for those keys with those values, other keys allowed (an empty table
    accepts anything); any other value asks for the whole body to equal it. Equality is JSON's:
    `true` is not `1`, `1` is `1.0`.
    """
    if expect == {}:
        return None
    if isinstance(expect, dict):
        if not isinstance(body, dict):
            return f"answered {shown(body)}, not a JSON object with {shown(expect)}"
        for key, wanted in expect.items():
            if key not in body:
                return f"has no {json.dumps(key)} key (expected {shown(expect)})"
            if not same(wanted, body[key]):
                return f"has {json.dumps(key)}: {shown(body[key])}, not {shown(wanted)}"
        return None
    if not same(expect, body):
        return f"answered {shown(body)}, not {shown(expect)}"
    return None


def same(a: Any, b: Any) -> bool:
    """JSON equality: booleans are never numbers, and objects and arrays compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def judge_answer(health: Health, status: int, text: str) -> str | None:
    """What is wrong with an answer to `health.path`: its status, its JSON, its content."""
    if status not in health.status:
        allowed = " or ".join(str(code) for code in health.status)
        return f"{health.path} answered HTTP {status}, not {allowed}: {clip(text)!r}"
    if health.expect == {}:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return f"{health.path} did not answer JSON: {clip(text)!r}"
    problem = matches(health.expect, body)
    return None if problem is None else f"{health.path} {problem}"


def shown(value: Any) -> str:
    return clip(json.dumps(value, separators=(", ", ": ")))


def clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= SHOWN else f"{text[:SHOWN]}…"
