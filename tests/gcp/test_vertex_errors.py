"""What Vertex answers in error reaches the caller in our words: the status it answered, Google's
canonical code and a request id, never its body (an HTML page from a proxy, or a message naming
the deployment). The body goes to the log, truncated, under the same request id.

Google APIs answer errors as ``{"error": {"code", "message", "status"}}`` with a canonical
``status`` such as INVALID_ARGUMENT (https://cloud.google.com/apis/design/errors).
"""

from __future__ import annotations

import json
import re

import pytest
from imaging import load_golden, png_b64

BACKENDS = ["imagen-3.0-capability-001", "gemini-3.1-flash-image"]
REQUEST_ID = re.compile(r"request id ([0-9a-f]{32})")
SECRET = "AIzaSyA-very-secret-key-0123456789"


@pytest.fixture(params=BACKENDS, autouse=True)
def backend(request, google, monkeypatch) -> str:
    monkeypatch.setenv("VERTEX_MODEL_ID", request.param)
    if request.param.startswith("gemini-"):
        monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    return request.param


@pytest.fixture(autouse=True)
def logs(caplog):
    caplog.set_level("INFO", logger="imagegen")
    return caplog


def body() -> dict:
    request = load_golden("imagen-subject-example.json")["body"]
    request["parameters"] = {"sampleCount": 1}
    return request


def google_error(status: int, code: str, message: str) -> tuple[int, dict, dict]:
    return status, {"error": {"code": status, "message": message, "status": code}}, {}


def post(client) -> tuple[int, dict, dict]:
    response = client.post("/", data=json.dumps(body()), content_type="application/json")
    return response.status_code, response.get_json(), dict(response.headers)


def request_id_of(result: dict) -> str:
    match = REQUEST_ID.search(result["error"]["message"])
    assert match, result
    return match[1]


def test_vertex_invalid_argument_is_a_400_for_the_caller_in_our_words(client, google, logs):
    raw = "Provided image is not valid. Image bytes could not be decoded for projects/my-secret-project."
    google.answers.append(google_error(400, "INVALID_ARGUMENT", raw))

    status, result, _ = post(client)

    assert status == 400 and result["error"]["code"] == "invalid_request", result
    message = result["error"]["message"]
    assert "400" in message and "INVALID_ARGUMENT" in message
    assert result["error"]["details"] == [{"field": "body", "message": result["error"]["details"][0]["message"]}]
    assert "Provided image" not in json.dumps(result) and "my-secret-project" not in json.dumps(result)
    request_id = request_id_of(result)
    [line] = [record for record in logs.records if raw in record.getMessage()]
    assert getattr(line, "requestId", None) == request_id, "the log line carries the id the caller was given"
    assert len(google.predictions) == 1, "a 400 is not retried"


def test_another_400_of_vertex_is_the_deployments_problem_502(client, google):
    google.answers.append(google_error(400, "FAILED_PRECONDITION", "Billing is disabled for project 123456789012"))

    status, result, _ = post(client)

    assert status == 502 and result["error"]["code"] == "upstream_error"
    assert "FAILED_PRECONDITION" in result["error"]["message"] and "Billing" not in result["error"]["message"]


def test_an_html_error_page_never_reaches_the_caller_and_is_logged_truncated(client, google, logs):
    page = (
        b"<!DOCTYPE html><html><head><title>Error 500 (Server Error)!!1</title></head><body>"
        b"<p>That's an error. <script>var internal='10.0.0.12'</script></p>" + b"<p>padding</p>" * 2_000 + b"THE END"
    )
    google.default = lambda _: (500, page, {"Content-Type": "text/html; charset=UTF-8"})

    status, result, _ = post(client)

    assert status == 502 and result["error"]["code"] == "upstream_error"
    text = json.dumps(result)
    assert "<" not in text and "html" not in text.lower() and "10.0.0.12" not in text
    assert "500" in result["error"]["message"]
    request_id_of(result)
    logged = [record.getMessage() for record in logs.records if "Error 500 (Server Error)" in record.getMessage()]
    assert logged and "10.0.0.12" in logged[0]
    assert "THE END" not in logged[0] and len(logged[0]) < 5_000, "the body is logged truncated"


def test_a_secret_in_vertexs_message_stays_in_the_log(client, google, logs):
    raw = f"Internal error for key {SECRET} in projects/my-secret-project, account 123456789012."
    google.default = lambda _: google_error(500, "INTERNAL", raw)

    status, result, _ = post(client)

    assert status == 502
    text = json.dumps(result)
    assert SECRET not in text and "my-secret-project" not in text and "Internal error for key" not in text
    assert "INTERNAL" in result["error"]["message"]
    assert SECRET in logs.text


def test_control_characters_in_vertexs_body_are_escaped_in_the_log(client, google, logs):
    google.default = lambda _: google_error(500, "INTERNAL", "boom\nFAKE LOG LINE level=ERROR")

    post(client)

    assert "boom\\nFAKE LOG LINE" in logs.text and "boom\nFAKE" not in logs.text


def test_a_code_that_is_not_googles_is_not_passed_on(client, google):
    google.default = lambda _: google_error(500, "<b>owned</b> " * 10, "x")

    status, result, _ = post(client)

    assert status == 502 and "owned" not in json.dumps(result)


def test_throttling_names_the_status_not_vertexs_text(client, google, monkeypatch):
    import vertex

    monkeypatch.setattr(vertex, "BACKOFF_FACTOR", 0)  # the retries at once: their waits are not the point here
    google.default = lambda _: google_error(429, "RESOURCE_EXHAUSTED", f"Quota exceeded for {SECRET}")

    status, result, headers = post(client)

    assert status == 429 and result["error"]["code"] == "throttled"
    assert "RESOURCE_EXHAUSTED" in result["error"]["message"] and SECRET not in json.dumps(result)
    assert int(headers["Retry-After"]) > 0


def test_a_blocked_prompt_is_422_with_the_models_reason_and_googles_support_code(client, google, backend):
    raw = (
        "Image generation failed with the following error: The prompt could not be submitted. This prompt "
        "contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. "
        "If you think this was an error, send feedback. Support codes: 42876398"
    )
    google.answers.append(google_error(400, "INVALID_ARGUMENT", raw))

    status, result, _ = post(client)

    assert status == 422 and result["error"]["code"] == "content_filtered", result
    message = result["error"]["message"]
    assert "Responsible AI" in message and "42876398" in message and backend in message
    assert "Try rephrasing" in message, "the model's reason, as the contract's content_filtered passes it on"


def test_a_blocked_prompt_whose_reason_is_not_plain_text_is_422_in_our_words(client, google, backend):
    google.answers.append(
        google_error(
            400,
            "INVALID_ARGUMENT",
            "<html><body>blocked: violates Responsible AI; Support codes: 42876398</body></html>",
        )
    )

    status, result, _ = post(client)

    assert status == 422 and "<" not in result["error"]["message"]
    assert "Responsible AI" in result["error"]["message"] and "42876398" in result["error"]["message"]
    request_id_of(result)


def test_each_of_several_gemini_calls_logs_under_the_request_id(client, google, backend, logs):
    if not backend.startswith("gemini-"):
        pytest.skip("one call per request on Imagen")
    image = {"inlineData": {"mimeType": "image/png", "data": png_b64(8, 8)}}
    ok = (200, {"candidates": [{"content": {"role": "model", "parts": [image]}, "finishReason": "STOP"}]}, {})
    google.answers += [ok, google_error(500, "INTERNAL", "second call failed")]
    request = body()
    request["parameters"]["sampleCount"] = 2

    response = client.post("/", data=json.dumps(request), content_type="application/json")

    result = response.get_json()
    assert response.status_code == 502, result
    [line] = [record for record in logs.records if "second call failed" in record.getMessage()]
    assert getattr(line, "requestId", None) == request_id_of(result), "worker threads log in the request's context"


@pytest.mark.parametrize("retry_after", ["\u00b2", "9" * 5_000, "-1", "1.5", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_a_retry_after_that_is_not_a_small_number_of_seconds_is_ours(client, google, monkeypatch, retry_after):
    """Vertex's Retry-After becomes our header: only plain ASCII seconds are taken ("²" is a digit to str.isdigit)."""
    import vertex

    monkeypatch.setattr(vertex, "BACKOFF_FACTOR", 0)
    google.default = lambda _: (
        429,
        {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}},
        {"Retry-After": retry_after},
    )

    status, _, headers = post(client)

    assert status == 429 and headers["Retry-After"] == str(vertex.RETRY_AFTER_SECONDS)
