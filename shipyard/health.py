"""Pure: does a service's answer match what its declaration expects (health and checks)?"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import JsonValue

from shipyard.declaration import Check, Health


def body_mismatch(expect: JsonValue, body: JsonValue) -> str | None:
    """What is wrong with `body` (parsed JSON) against `expect`; None when it matches.

    A table expects those keys with those values (recursively; other keys may be there too);
    an empty table accepts any answer; any other value must equal the whole answer (`true`)."""
    if isinstance(expect, dict):
        if not expect:
            return None
        if not isinstance(body, dict):
            return f"answered {shown(body)}, not a JSON object with {shown(expect)}"
        for key, wanted in expect.items():
            if key not in body:
                return f"answered {shown(body)}, without {json.dumps(key)}"
            inner = body_mismatch(wanted, body[key])
            if inner is not None:
                return f"{json.dumps(key)}: {inner}" if isinstance(wanted, dict) else (
                    f"answered {json.dumps(key)}: {shown(body[key])}, not {shown(wanted)}")
        return None
    if type(body) is not type(expect) or body != expect:  # 1 is not true, 1.0 is not 1
        return f"answered {shown(body)}, not {shown(expect)}"
    return None


def status_mismatch(status: int, accepted: Sequence[int]) -> str | None:
    """`HTTP 503` when the status is not one of `accepted`; None when it is."""
    return None if status in accepted else f"HTTP {status}"


def shown(value: JsonValue, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_problem(
    where: str, accepted: Sequence[int], status: int, text: str, *, expect: JsonValue = None,
    contains: str | None = None,
) -> str | None:
    """What is wrong with one answer (`where` names the request): its status, the text it
    must contain, then its JSON body against `expect` (None: the body is not read as JSON);
    None when it passes."""
    wrong_status = status_mismatch(status, accepted)
    if wrong_status is not None:
        allowed = " or ".join(str(code) for code in accepted)
        return f"{where} answered {wrong_status}, not {allowed}: {clip(text)!r}"
    if contains is not None and contains not in text:
        return f"{where} answered without {contains!r}: {clip(text)!r}"
    if expect is None:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return f"{where} did not answer JSON: {clip(text)!r}"
    mismatch = body_mismatch(expect, body)
    return None if mismatch is None else f"{where} {mismatch}"


def judge_answer(health: Health, status: int, text: str) -> str | None:
    """What is wrong with an answer to `health.path` (its status, then its JSON body against
    `health.expect`); None when it is healthy. An empty `expect` table reads no body."""
    expect = None if health.expect == {} else health.expect
    return answer_problem(health.path, health.status, status, text, expect=expect)


def clip(text: str, limit: int = 200) -> str:
    """A text as a problem quotes it: stripped, at most `limit` characters."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_problem(check: Check, status: int, text: str) -> str | None:
    """What is wrong with the answer to one declared check (`[[smoke.checks]]`): its status,
    the text it must contain, then its JSON against `expect`; None when it passes."""
    return answer_problem(f"{check.method} {check.path}", check.status, status, text,
                          expect=check.expect, contains=check.contains)  # fmt: skip
