"""A healthy answer, judged once for every tool: `[health]`'s status codes and expect (the
body matching itself is tabled in tests/unit/deploy/test_declared_service.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import JsonValue

from shipyard.declaration import Health
from shipyard.health import body_mismatch, judge_answer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_every_json_value_matches_itself_after_a_round_trip(value: JsonValue) -> None:
    assert body_mismatch(value, json.loads(json.dumps(value))) is None


@given(st.dictionaries(st.text(), json_values, max_size=4),
       st.dictionaries(st.text(), json_values, max_size=4))
def test_a_table_matches_any_body_that_holds_it(expect: dict[str, JsonValue],
                                                 extra: dict[str, JsonValue]) -> None:
    assert body_mismatch(expect, {**extra, **expect}) is None


TEMPLATE = Health(path="/api/v1/utils/health-check/", expect=True)
DEMO = Health()  # /health, 200, {"status": "ok"}
ANSWERS: list[tuple[Health, int, str, str | None]] = [
    (TEMPLATE, 200, "true", None),
    (TEMPLATE, 200, "false", "/api/v1/utils/health-check/ answered false, not true"),
    (TEMPLATE, 503, "true", "/api/v1/utils/health-check/ answered HTTP 503, not 200"),
    (TEMPLATE, 200, "<html>", "/api/v1/utils/health-check/ did not answer JSON: '<html>'"),
    (DEMO, 200, '{"status": "ok", "commit": "abc"}', None),
    (DEMO, 200, '{"status": "starting"}', '/health answered "status": "starting", not "ok"'),
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
