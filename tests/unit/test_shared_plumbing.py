"""What the Lambda functions and the Cloud Function share: JSON bodies, redaction, log lines."""

from __future__ import annotations

import logging

import pytest

from imagegen.body import parse_json
from imagegen.errors import InvalidRequestError, redact
from imagegen.logs import get_logger


@pytest.mark.parametrize(
    "raw",
    ["{", "[" * 100_000, '{"a": ' * 5_000 + "1" + "}" * 5_000, b"\xff\xfe", '{"a": NaN}', '{"a": Infinity}'],
)
def test_every_malformed_body_is_a_400_naming_body(raw):
    with pytest.raises(InvalidRequestError) as raised:
        parse_json(raw)

    assert raised.value.details[0]["field"] == "body"


@pytest.mark.parametrize(
    ("message", "kept", "removed"),
    [
        (
            "User: arn:aws:sts::123456789012:assumed-role/Role/fn is not authorized",
            "is not authorized",
            ["arn:aws", "123456789012", "assumed-role"],
        ),
        ("profile arn:aws-us-gov:bedrock:us-gov-west-1:210987654321:x denied", "denied", ["210987654321"]),
        ("caller fn@my-project.iam.gserviceaccount.com lacks a role", "lacks a role", ["my-project"]),
        ("resource projects/my-project/locations/us-central1", "locations/us-central1", ["my-project"]),
        ("seed 4294967295 and width 1024 are fine", "seed 4294967295 and width 1024 are fine", []),
    ],
)
def test_redaction_removes_the_deployments_identifiers_and_keeps_the_rest(message, kept, removed):
    redacted = redact(message)

    assert kept in redacted
    assert not any(part in redacted for part in removed), redacted


def test_log_lines_carry_control_characters_escaped(caplog):
    log = get_logger()
    caplog.set_level(logging.INFO, logger="imagegen")

    log.info("GET %s -> %d", "/v1/jobs/x\nCRITICAL forged\r\x00\u2028", 404)

    [record] = caplog.records
    assert record.getMessage() == "GET /v1/jobs/x\\nCRITICAL forged\\r\\x00\\u2028 -> 404"
    assert get_logger() is log and sorted(type(f).__name__ for f in log.filters) == [
        "ContextFields",
        "EscapeControlCharacters",
    ], "installed once"
