"""Whatever reaches the function, it answers in its own error shape and never with a 5xx: random
bytes, random JSON (deep nesting, huge integers, lone surrogates) and a valid request broken at
any one of its fields. Every 4xx names a field (``body`` when the whole body is the problem),
and nothing invalid reaches the Vertex stand-in."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imaging import load_golden, png_b64
from strategies import json_values

# Derandomized: CI sees the same examples every run; no example database is written.
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BACKENDS = ["gemini-3.1-flash-image", "imagen-3.0-capability-001"]

lone_surrogates = st.builds(
    lambda before, surrogate, after: f"{before}{surrogate}{after}",
    st.text(max_size=5),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.text(max_size=5),
)
huge_integers = st.sampled_from([-(2**31) - 1, -1, 2**31, 2**32, 2**63, 10**30, 10**40, 10**400]) | st.integers()
deep = st.integers(min_value=1, max_value=300).flatmap(
    lambda depth: st.sampled_from([[], {}, "x", 1]).map(lambda leaf: _nest(leaf, depth))
)
hostile = st.one_of(json_values, huge_integers, lone_surrogates, deep, st.floats(), st.just(1e999))
documents = st.recursive(
    st.none() | st.booleans() | huge_integers | st.floats() | st.text(max_size=20) | lone_surrogates,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12) | lone_surrogates,
                                                                     children, max_size=4),
    max_leaves=25,
) | deep  # fmt: skip


def _nest(leaf: Any, depth: int) -> Any:
    for level in range(depth):
        leaf = [leaf] if level % 2 else {"a": leaf}
    return leaf


def _valid_bodies() -> list[dict]:
    subject = load_golden("imagen-subject-example.json")["body"]
    subject["parameters"] = {"sampleCount": 1, "seed": 7, "negativePrompt": "blur", "language": "en"}
    raw = {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
           "referenceImage": {"bytesBase64Encoded": png_b64(64, 64)}}  # fmt: skip
    mask = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2,
            "referenceImage": {"bytesBase64Encoded": png_b64(64, 64, (255, 255, 255))},
            "maskImageConfig": {"maskMode": "MASK_MODE_USER_PROVIDED", "dilation": 0.1}}  # fmt: skip
    style = {"referenceType": "REFERENCE_TYPE_STYLE", "referenceId": 3,
             "referenceImage": {"bytesBase64Encoded": png_b64(64, 64)},
             "styleImageConfig": {"styleDescription": "watercolour"}}  # fmt: skip
    control = {"referenceType": "REFERENCE_TYPE_CONTROL", "referenceId": 4,
               "referenceImage": {"bytesBase64Encoded": png_b64(64, 64)},
               "controlImageConfig": {"controlType": "CONTROL_TYPE_CANNY"}}  # fmt: skip
    edit = {"instances": [{"prompt": "a red door in [1] like [3] along [4]",
                           "referenceImages": [raw, mask, style, control]}],
            "parameters": {"sampleCount": 1}}  # fmt: skip
    return [subject, edit]


VALID = _valid_bodies()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found += _paths(item, (*prefix, key))
    return found


def _at(body: Any, path: tuple) -> Any:
    for key in path:
        body = body[key]
    return body


PATHS = [(index, path) for index, body in enumerate(VALID) for path in _paths(body) if path]
# The leaves that hold a number or a text: each gets values out of Vertex's range, or not Unicode.
NUMBERS = [(index, path) for index, path in PATHS if type(_at(VALID[index], path)) in (int, float)]
TEXTS = [(index, path) for index, path in PATHS if isinstance(_at(VALID[index], path), str)]
out_of_range = st.sampled_from([-1, -(2**31) - 1, 2**31, 2**32, 2**63, 10**30, 10**40, 10**400, 1e300])


@st.composite
def broken_requests(draw) -> Any:
    """A valid body broken at one field: a value out of range, a text that is not Unicode, a
    value of another type, the field removed, or an unknown field next to it."""
    action = draw(st.sampled_from(["out-of-range", "not-unicode", "wrong-type", "delete", "unknown"]))
    index, path = draw(st.sampled_from({"out-of-range": NUMBERS, "not-unicode": TEXTS}.get(action, PATHS)))
    body = copy.deepcopy(VALID[index])
    parent = _at(body, path[:-1])
    if action == "out-of-range":
        parent[path[-1]] = draw(out_of_range)
    elif action == "not-unicode":
        parent[path[-1]] = draw(lone_surrogates)
    elif action == "wrong-type":
        original = type(parent[path[-1]])
        parent[path[-1]] = draw(hostile.filter(lambda value: type(value) is not original))
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8) | lone_surrogates)] = draw(hostile)
    return body


def answer_for(body: dict) -> tuple[int, dict, dict]:
    """A strict stand-in: what Vertex's JSON-to-proto layer refuses (an integer beyond int32, a
    string that is not Unicode) is its 400 INVALID_ARGUMENT; anything else gets one image, in the
    called endpoint's shape. A 4xx after such a call means invalid input got through."""
    if _vertex_refuses(body):
        return 400, {"error": {"code": 400, "message": "Invalid value", "status": "INVALID_ARGUMENT"}}, {}
    image = png_b64(8, 8)
    if "contents" in body:
        parts = [{"inlineData": {"mimeType": "image/png", "data": image}}]
        return 200, {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}, {}
    return 200, {"predictions": [{"bytesBase64Encoded": image, "mimeType": "image/png"}]}, {}


def _vertex_refuses(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not -(2**31) <= value < 2**31
    if isinstance(value, str):
        return any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return any(_vertex_refuses(key) or _vertex_refuses(item) for key, item in items)


@pytest.fixture(params=BACKENDS)
def function(request, google, client, monkeypatch):
    monkeypatch.setenv("VERTEX_MODEL_ID", request.param)
    if request.param.startswith("gemini-"):
        monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    google.default = answer_for
    return client, google


def check(function, raw: bytes) -> None:
    client, google = function
    calls, tokens = len(google.predictions), google.tokens_issued

    response = client.post("/", data=raw, content_type="application/json")

    status = response.status_code
    assert status < 500, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    payload = json.loads(response.get_data())  # strictly JSON, whatever the input held
    if status == 200:
        assert payload["images"]
        return
    error = payload["error"]
    assert set(payload) == {"error"} and isinstance(error["code"], str) and isinstance(error["message"], str)
    assert error["details"], error
    assert all(isinstance(detail["field"], str) and detail["field"] for detail in error["details"]), error
    assert (len(google.predictions), google.tokens_issued) == (calls, tokens), "invalid input reached Vertex"


@SETTINGS
@given(raw=st.binary(max_size=2_000))
def test_random_bytes(function, raw):
    check(function, raw)


@SETTINGS
@given(document=documents)
def test_random_json_documents(function, document):
    check(function, json.dumps(document).encode())


@SETTINGS
@given(body=broken_requests())
def test_a_valid_request_broken_at_any_field(function, body):
    check(function, json.dumps(body).encode())
