"""Whatever reaches any route's handler (random bytes, random JSON, lone surrogates, huge
numbers, forms that are not forms), the answer is never a 5xx, always JSON, and every 4xx names
a field; and a request's Python allocations stay bounded."""

from __future__ import annotations

import base64
import importlib
import json
import tracemalloc

from harness import LambdaContext, api_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import payloads

from core.routes import ROUTES

# A request body of at most Lambda's 6 MB cannot justify more than this in Python objects.
PEAK_BYTES = 64 * 1024 * 1024

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
hostile_values = st.one_of(
    surrogates,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20).map(lambda text: text + "\x00"),
)
json_bodies = st.one_of(
    payloads,
    st.dictionaries(st.text(max_size=12) | surrogates, hostile_values | payloads, max_size=6),
).map(json.dumps)
form_types = st.sampled_from(
    [
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "multipart/form-data; boundary=" + "b" * 300,
        "application/json",
        "text/plain",
    ]
)


@st.composite
def events(draw):
    route = draw(st.sampled_from(ROUTES))
    path = route.path.replace("{id}", draw(st.text(max_size=40) | st.just("0" * 32)))
    event = api_event(route.path, method=route.method)
    event["path"] = path
    event["pathParameters"] = {"id": path.rsplit("/", 1)[-1]} if "{id}" in route.path else None
    kind = draw(st.sampled_from(["json", "bytes", "form"]))
    if kind == "json":
        event["body"] = draw(json_bodies)
    elif kind == "bytes":
        event["body"] = base64.b64encode(draw(st.binary(max_size=400))).decode()
        event["isBase64Encoded"] = True
    else:
        parts = draw(st.lists(st.tuples(st.text(max_size=10) | surrogates, st.binary(max_size=60)), max_size=5))
        boundary = "x"
        chunks = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode("utf-8", "surrogatepass")
            + value
            + b"\r\n"
            for name, value in parts
        ]
        event["body"] = base64.b64encode(b"".join(chunks) + f"--{boundary}--\r\n".encode()).decode()
        event["isBase64Encoded"] = True
        event["headers"]["Content-Type"] = draw(form_types)
    return route, event


def _names_a_field(route, body: dict) -> bool:
    error = body["error"]
    if route.kind == "openai":  # OpenAI's error shape: the parameter is `param`
        return bool(error.get("param")) or error.get("code") in {"invalid_api_key"}
    return bool(error.get("details")) and all(detail.get("field") for detail in error["details"])


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(drawn=events())
def test_any_input_to_any_route_is_answered_without_a_5xx_and_names_its_field(aws, drawn):
    route, event = drawn
    handler = importlib.import_module(route.module).handler

    tracemalloc.start()
    try:
        response = handler(event, LambdaContext())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    status = response["statusCode"]
    assert status < 500, (route.path, response["body"][:500])
    assert "Traceback" not in response["body"]
    if status >= 400:
        # Errors are JSON on every route, the playground page's included.
        body = json.loads(response["body"])
        assert _names_a_field(route, body), (route.path, body)
    assert peak < PEAK_BYTES, (route.path, peak)
    assert aws.bedrock.calls == [] or status == 200
