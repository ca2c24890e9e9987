"""The OpenAI routes' multipart forms: a form too large or too fragmented to be a client's is a
fast 400/413 naming ``body``, an error names a bounded number of fields, and no form (however
its names, filenames or headers are spelled) is answered with a 5xx."""

from __future__ import annotations

import base64
import json
import time

import images_edits
import images_generations
import images_variations
import pytest
from harness import LambdaContext, api_event, call
from imaging import png_bytes
from urllib3 import encode_multipart_formdata

from core.multipart import MAX_PARTS, parse_form

# What "fast" means: the 75,000-field form took 18.8 s through the email parser.
FAST_SECONDS = 1.0
IMAGE = png_bytes(512, 512)


def form_event(path: str, fields, *, content_type: str | None = None, body: bytes | None = None) -> dict:
    if body is None:
        body, content_type = encode_multipart_formdata(fields)
    event = api_event(path, raw=base64.b64encode(body).decode("ascii"))
    event["headers"]["Content-Type"] = content_type
    event["isBase64Encoded"] = True
    return event


def timed(handler, event) -> tuple[int, dict, str, float]:
    started = time.perf_counter()
    response = handler(event, LambdaContext())
    elapsed = time.perf_counter() - started
    return response["statusCode"], json.loads(response["body"]), response["body"], elapsed


def _raw_form(*parts: bytes, boundary: bytes = b"b0und") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + boundary + b"--\r\n"


def _field(disposition: bytes, value: bytes = b"x", extra: bytes = b"") -> bytes:
    return b"Content-Disposition: form-data; " + disposition + b"\r\n" + extra + b"\r\n" + value


_IMAGE_PART = _field(b'name="image"; filename="i.png"', IMAGE, b"Content-Type: image/png\r\n")
_PROMPT = _field(b'name="prompt"')
_FORM = "multipart/form-data; boundary=b0und"


def test_a_form_of_75000_unknown_fields_is_refused_fast_naming_the_body(aws):
    unknown = [_field(b'name="f%d"' % index, b"v") for index in range(75_000)]
    body = _raw_form(_IMAGE_PART, _PROMPT, *unknown)
    assert len(body) > 4_000_000
    event = form_event("/v1/images/edits", None, body=body, content_type=_FORM)

    status, result, raw, elapsed = timed(images_edits.handler, event)

    assert status == 400, result
    assert result["error"]["param"] == "body" and f"at most {MAX_PARTS}" in result["error"]["message"]
    assert elapsed < FAST_SECONDS, f"{elapsed:.2f} s"
    assert len(raw) < 1_000  # not 1.7 MB naming every field
    assert aws.bedrock.calls == []


def test_one_part_over_the_limit_is_refused_and_the_limit_itself_is_parsed(aws):
    base = [("image", ("image.png", IMAGE, "image/png")), ("prompt", "x")]
    over = base + [(f"unknown_{index}", "v") for index in range(MAX_PARTS - 1)]
    at_limit = over[:-1]

    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", over))
    assert status == 400 and result["error"]["param"] == "body"

    status, result, _ = call(images_edits.handler, form_event("/v1/images/edits", at_limit))
    # Parsed: the answer is about the fields, naming ten of them and counting the rest.
    assert status == 400 and result["error"]["param"] == "unknown_0"
    message = result["error"]["message"]
    assert message.count("unknown field") == 10 and message.endswith(
        f"; body: and {MAX_PARTS - 12} more fields with errors"
    )


def test_the_largest_form_openais_sdk_sends_is_within_the_part_limit():
    # 16 images (the documented maximum) and every other parameter of openai-python's edit().
    other = [
        "prompt",
        "mask",
        "background",
        "complexity",
        "frame_count",
        "frame_duration_ms",
        "input_fidelity",
        "markup",
        "model",
        "n",
        "output_compression",
        "output_format",
        "partial_images",
        "quality",
        "response_format",
        "safety_identifier",
        "size",
        "stream",
        "svg[model]",
        "svg[reasoning][effort]",
        "user",
    ]
    fields = [("image[]", ("image.png", IMAGE, "image/png"))] * 16 + [(name, "x") for name in other]
    body, content_type = encode_multipart_formdata(fields)

    assert len(parse_form(body, content_type)) == len(fields) <= MAX_PARTS


def test_a_json_body_of_many_unknown_parameters_names_ten_of_them(aws):
    body = {"prompt": "a fox", **{f"unknown_{index}": 1 for index in range(500)}}

    status, result, _ = call(images_generations.handler, api_event("/v1/images/generations", body))

    assert status == 400
    message = result["error"]["message"]
    assert message.count("unknown field") == 10 and message.endswith("; body: and 490 more fields with errors")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (_raw_form(_IMAGE_PART, _PROMPT, _field(b'name="\xed\xa0\x80"')), _FORM),  # a UTF-8-encoded lone surrogate
        (_raw_form(_IMAGE_PART, _PROMPT, _field(b'name="a\x00b"')), _FORM),
        (_raw_form(_IMAGE_PART, _PROMPT, _field(b"name*=utf-8''%ED%A0%80")), _FORM),
        (_raw_form(_IMAGE_PART, _PROMPT)[:-12], _FORM),  # no closing boundary
        (_raw_form(_IMAGE_PART, _PROMPT), "multipart/form-data; boundary=b\u00f6und"),
        (_raw_form(_IMAGE_PART, _PROMPT), "multipart/form-data; boundary=\ud800"),
        (_raw_form(_IMAGE_PART, _PROMPT), "multipart/form-data"),
        # 4 MB of folded header lines and a million parameters: minutes for the email parser.
        (_raw_form(_IMAGE_PART, _field(b'name="prompt"', b"x", b"X-Fold: a\r\n" + b" x\r\n" * 1_000_000)), _FORM),
        (_raw_form(_IMAGE_PART, _field(b'name="prompt"' + b"; x=y" * 1_000_000)), _FORM),
        (_raw_form(_IMAGE_PART, _field(b'name="prompt"', b"x", b"Content-Transfer-Encoding: base64\r\n")), _FORM),
    ],
    ids=[
        "surrogate-name",
        "nul-name",
        "rfc2231-name",
        "unterminated",
        "non-ascii-boundary",
        "surrogate-boundary",
        "no-boundary",
        "folded-headers",
        "million-params",
        "transfer-encoding",
    ],
)
def test_a_malformed_form_is_a_fast_400_naming_the_body(aws, body, content_type):
    status, result, _, elapsed = timed(
        images_edits.handler, form_event("/v1/images/edits", None, body=body, content_type=content_type)
    )

    assert status == 400, result
    assert result["error"]["param"] == "body"
    assert elapsed < FAST_SECONDS, f"{elapsed:.2f} s"
    assert aws.bedrock.calls == []


@pytest.mark.parametrize(
    "filename",
    [b"\xed\xa0\x80.png", b"a\x00b.png", b"\xff\xfe.png", b"%ED%A0%80.png"],
    ids=["surrogate", "nul", "not-utf8", "percent"],
)
@pytest.mark.parametrize("handler", [images_edits, images_variations], ids=["edits", "variations"])
def test_any_filename_is_only_a_filename(aws, handler, filename):
    image = _field(b'name="image"; filename="' + filename + b'"', IMAGE, b"Content-Type: image/png\r\n")
    edits = handler is images_edits
    parts = (image, _PROMPT) if edits else (image,)
    path = "/v1/images/edits" if edits else "/v1/images/variations"

    status, result, _ = call(handler.handler, form_event(path, None, body=_raw_form(*parts), content_type=_FORM))

    assert status == 200, result


def test_a_form_event_that_is_not_base64_but_text_with_a_lone_surrogate_is_a_400(aws):
    """API Gateway passes a form base64-encoded; a caller invoking the function itself may not."""
    text = _raw_form(_IMAGE_PART, _PROMPT).decode("latin-1").replace('filename="i.png"', 'filename="\ud800.png"')
    event = api_event("/v1/images/edits", raw=text)
    event["headers"]["Content-Type"] = _FORM

    status, result, _ = call(images_edits.handler, event)

    assert status == 400 and result["error"]["param"] == "body"


def test_a_form_event_that_is_not_valid_base64_is_a_400(aws):
    event = form_event("/v1/images/edits", None, body=b"", content_type=_FORM)
    event["body"] = "not*base64"

    status, result, _ = call(images_edits.handler, event)

    assert status == 400 and result["error"]["param"] == "body"


def test_a_form_over_lambdas_payload_limit_is_a_413_naming_the_body(aws):
    body = _raw_form(_field(b'name="image"; filename="i.png"', b"\0" * (6 * 1024 * 1024 + 1)), _PROMPT)

    status, result, _, elapsed = timed(
        images_edits.handler, form_event("/v1/images/edits", None, body=body, content_type=_FORM)
    )

    assert status == 413 and result["error"]["param"] == "body"
    assert elapsed < FAST_SECONDS


def test_forms_as_clients_write_them_still_parse():
    # Line feeds without carriage returns, a quoted boundary, padding after a delimiter, a
    # preamble and an epilogue, an escaped quote in a name, an empty value.
    body = (
        b"preamble\r\n--b\nContent-Disposition: form-data; name=a\n\nv1\n--b  \r\n"
        b'Content-Disposition: form-data; name="q\\"uote"\r\n\r\n\r\n--b--\r\nepilogue'
    )

    parts = parse_form(body, 'multipart/form-data; boundary="b"')

    assert [(part.name, part.data) for part in parts] == [("a", b"v1"), ('q"uote', b"")]
