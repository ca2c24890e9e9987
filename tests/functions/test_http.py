"""What every API answer shares: CORS, absolute URLs, the internal-error body, safe log lines."""

from __future__ import annotations

import importlib
import logging

import pytest
from harness import api_event, call, job_event

from core.http import base_url

text_to_image = importlib.import_module("text_to_image").handler
jobs_handler = importlib.import_module("jobs").handler
APP = "https://app.example.com"


def from_origin(event: dict, origin: str) -> dict:
    event["headers"] = {**event["headers"], "Origin": origin}
    return event


def test_no_cors_headers_unless_origins_are_configured(aws):
    _, _, headers = call(text_to_image, from_origin(api_event("/v1/text-to-image", {"prompt": "x"}), APP))

    assert not any(name.startswith("Access-Control-") for name in headers)


@pytest.mark.parametrize("configured", [APP, f"{APP},https://admin.example.com"])
def test_an_allowed_origin_gets_cors_headers_on_answers_and_errors(aws, monkeypatch, configured):
    monkeypatch.setenv("IMAGEGEN_CORS_ORIGINS", configured)
    aws.reconfigure()

    status, _, headers = call(text_to_image, from_origin(api_event("/v1/text-to-image", {"prompt": "x"}), APP))
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == APP and headers["Vary"] == "Origin"
    assert "Location" in headers["Access-Control-Expose-Headers"]

    status, _, headers = call(text_to_image, from_origin(api_event("/v1/text-to-image", {"prompt": ""}), APP))
    assert status == 400 and headers["Access-Control-Allow-Origin"] == APP

    _, _, headers = call(
        text_to_image, from_origin(api_event("/v1/text-to-image", {"prompt": "x"}), "https://evil.example")
    )
    assert "Access-Control-Allow-Origin" not in headers


def test_any_origin_when_configured_with_a_star(aws, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_CORS_ORIGINS", "*")
    aws.reconfigure()

    _, _, headers = call(jobs_handler, from_origin(job_event("0" * 32), "https://anywhere.example"))

    assert headers["Access-Control-Allow-Origin"] == "*" and "Vary" not in headers


@pytest.mark.parametrize(
    ("domain", "full_path", "expected"),
    [
        ("abc.execute-api.us-west-2.amazonaws.com", "/prod/v1/text-to-image", "https://abc.execute-api.us-west-2.amazonaws.com/prod"),
        ("images.example.com", "/api/v1/text-to-image", "https://images.example.com/api"),  # custom domain, base path
        ("images.example.com", "/v1/text-to-image", "https://images.example.com"),  # custom domain at the root
    ],
)  # fmt: skip
def test_the_base_url_is_where_the_caller_reached_the_api(domain, full_path, expected):
    event = api_event("/v1/text-to-image")
    event["requestContext"] |= {"domainName": domain, "path": full_path}

    assert base_url(event) == expected


def test_an_unexpected_fault_is_500_internal_naming_the_request_only(aws, monkeypatch):
    from core import api

    def broken(*args, **kwargs):
        raise KeyError("secret internals")

    monkeypatch.setattr(api.jobs, "prepare", broken)

    status, body, _ = call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x"}))

    assert status == 500
    assert body == {
        "error": {"code": "internal", "message": "internal error; request id 8f5e2a1c-0000-4000-8000-000000000000"}
    }


def test_a_forged_line_in_a_path_or_field_is_logged_escaped(aws, caplog):
    caplog.set_level(logging.INFO, logger="imagegen")
    event = job_event("x\nINFO fake line\x00")
    event["path"] = "/v1/jobs/x\nINFO fake line\x00"

    call(jobs_handler, event)
    call(text_to_image, api_event("/v1/text-to-image", {"prompt": "x", "conditionImage": "s3://a/b\nc"}))

    for record in caplog.records:
        line = record.getMessage()
        assert "\n" not in line and "\x00" not in line, line
    assert any("x\\nINFO fake line\\x00" in record.getMessage() for record in caplog.records)
