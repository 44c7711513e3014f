"""A healthy answer, judged once for every tool: `[health]`'s expect and status codes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from shipyard.declaration import Health
from shipyard.health import judge_answer, matches

MATCHES: list[tuple[JsonValue, JsonValue, str | None]] = [
    # expect, body, problem (None: it matches)
    ({"status": "ok"}, {"status": "ok", "commit": "abc"}, None),  # other keys allowed
    ({"status": "ok"}, {"status": "fail"}, '"status": "fail", not "ok"'),
    ({"status": "ok"}, {"commit": "abc"}, 'no "status" key'),
    ({"status": "ok"}, True, 'answered true, not a JSON object with {"status": "ok"}'),
    ({"status": "ok"}, ["status", "ok"], "not a JSON object"),
    ({"db": {"up": True}}, {"db": {"up": True, "ms": 3}}, '"db": {"up": true, "ms": 3}'),
    ({"db": {"up": True}}, {"db": {"up": True}}, None),  # a value compares whole
    ({}, {"anything": 1}, None),
    ({}, None, None),
    ({}, "text", None),  # an empty table accepts any body
    (True, True, None),
    (True, False, "answered false, not true"),
    (True, 1, "answered 1, not true"),  # JSON: true is not 1
    (1, True, "answered true, not 1"),
    (1, 1.0, None),  # JSON numbers: 1 is 1.0
    ("ok", "ok", None),
    ("ok", "OK", 'answered "OK", not "ok"'),
    (None, None, None),
    (None, {}, "answered {}, not null"),
    ([1, 2], [1, 2], None),
    ([1, 2], [2, 1], "answered [2, 1], not [1, 2]"),
    ({"n": 0}, {"n": False}, '"n": false, not 0'),
]


@pytest.mark.parametrize(("expect", "body", "problem"), MATCHES)
def test_matches(expect: JsonValue, body: JsonValue, problem: str | None) -> None:
    found = matches(expect, body)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_every_json_value_matches_itself_after_a_round_trip(value: JsonValue) -> None:
    assert matches(value, json.loads(json.dumps(value))) is None


@given(st.dictionaries(st.text(), json_values, max_size=4),
       st.dictionaries(st.text(), json_values, max_size=4))
def test_a_table_matches_any_body_that_holds_it(expect: dict[str, JsonValue],
                                                 extra: dict[str, JsonValue]) -> None:
    assert matches(expect, {**extra, **expect}) is None


TEMPLATE = Health(path="/api/v1/utils/health-check/", expect=True)
DEMO = Health()  # /health, 200, {"status": "ok"}
ANSWERS: list[tuple[Health, int, str, str | None]] = [
    (TEMPLATE, 200, "true", None),
    (TEMPLATE, 200, "false", "/api/v1/utils/health-check/ answered false, not true"),
    (TEMPLATE, 503, "true", "/api/v1/utils/health-check/ answered HTTP 503, not 200"),
    (TEMPLATE, 200, "<html>", "/api/v1/utils/health-check/ did not answer JSON: '<html>'"),
    (DEMO, 200, '{"status": "ok", "commit": "abc"}', None),
    (DEMO, 200, '{"status": "starting"}', '/health has "status": "starting", not "ok"'),
    (Health(status=[200, 204], expect={}), 204, "", None),  # any body, even none
    (Health(status=[200, 204], expect={}), 500, "", "answered HTTP 500, not 200 or 204"),
]


@pytest.mark.parametrize(("health", "status", "text", "problem"), ANSWERS)
def test_judge_answer(health: Health, status: int, text: str, problem: str | None) -> None:
    found = judge_answer(health, status, text)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_a_long_answer_is_clipped_in_the_problem() -> None:
    found = judge_answer(TEMPLATE, 200, json.dumps("x" * 5000))
    assert found is not None
    assert len(found) < 400
